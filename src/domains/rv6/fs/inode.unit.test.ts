// Unit tests of the inode layer (inode.ts) in plain Node: the real Inodes over the real Log and
// Cache on an in-memory disk (testdisk.ts), no kernel. What is checked, on exact disk bytes (decoded
// with src/lib/xv6fs) and exact errnos and messages:
//   - the table: get/dup/put/drop and their reference counts, numbers out of range;
//   - load (xv6's ilock): the fields read once, every kind of corrupt inode refused;
//   - alloc until the table is full (and the u16 limit of a directory entry), update;
//   - block allocation: first free data block, metadata never believed free, blocks zeroed,
//     a second bitmap block, ENOSPC undone whole;
//   - bmap across the direct/indirect boundary (blocks 11, 12, 267) and past MAXFILE (EFBIG),
//     holes, corrupt indirect entries;
//   - readi/writei at block boundaries, at 0, at the end and past it, the largest file and a byte
//     more, each block's part handed to the mover;
//   - truncation freeing every block (bitmap checked), in several transactions when the bitmap
//     blocks it touches do not fit one, each consistent on disk after a power cut anywhere;
//   - unlinked inodes freed at their last reference (reap), undone transactions (forget), orphans;
//   - a model-based property (fast-check): random writes, reads and truncations of three files
//     against a model of their contents, then a power cut at a random device command keeping a
//     random part of the unflushed writes: the recovered disk is fsck-clean and holds exactly the
//     files after the transactions of the groups whose header reached the disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindHeap } from '../../../idl/generated/structs.ts';
import { TYPES } from '../../../idl/generated/types.ts';
import type { Domain } from '../../../kernel/domain.ts';
import { ExchangeHeap } from '../../../kernel/heap.ts';
import { heapFor } from '../../../kernel/services/heap.ts';
import fc from 'fast-check';
import { Errno } from '../../../lib/rv6/abi.ts';
import {
  BPB, BSIZE, DINODE_SIZE, MAXFILE, NDIRECT, T_DEVICE, T_DIR, T_FILE, T_FREE, bblock, bitOf, decodeDinode,
  decodeLogHeader, emptyDinode, encodeDinode, encodeSuperblock, iblock, inodeOffset, mkfsLayout, superblockOf,
  type Dinode, type Superblock,
} from '../../../lib/xv6fs/format.ts';
import { readData, readInode, readSuperblock } from '../../../lib/xv6fs/image.ts';
import { fsck } from '../../../tools/fs/fsck.ts';
import { mkfs } from '../../../tools/fs/mkfs.ts';
import { MAXBYTES, type Inode } from './inode.ts';
import { COMMIT_MS, FsError } from './param.ts';
import { Bench, Disk, type Mounted } from './testdisk.ts';

const DOM = 1;
const heap = new ExchangeHeap(32 << 20, TYPES);
const cap = heapFor(heap, { id: DOM, name: 'fs', alive: true, salvages: false } as Domain);
bindHeap(cap);
const bench = new Bench(cap, () => { heap.reclaim(DOM); });

const E = new Uint8Array(0);
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
// xv6's default geometry: inodes 32..44 (200), bitmap 45, data 46..1999; the root directory in
// block 46; files a, b, c are inodes 2, 3, 4, empty; the first free block is 47.
const IMAGE = mkfs({ files: [{ name: 'a', data: E }, { name: 'b', data: E }, { name: 'c', data: E }] });
const SB = readSuperblock((b) => IMAGE.subarray(b * BSIZE, (b + 1) * BSIZE));
const FIRST_FREE = 47;

const mount = (d: Disk | Uint8Array = IMAGE, o: Parameters<Bench['mount']>[1] = {}): Mounted => bench.mount(d instanceof Disk ? d : new Disk(d), o);
const pattern = (seed: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed * 131 + i * 7 + (i >> 10)) & 0xff);

function throwsFs(fn: () => unknown, errno: number, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FsError, `expected an FsError, got ${String(e)}`);
    assert.equal(e.errno, errno);
    assert.equal(e.message, message);
    return true;
  });
}

/** Inode `inum` as the disk holds it durably. */
function dinode(d: Disk, inum: number, sb: Superblock = SB): Dinode {
  return decodeDinode(d.durableBlock(iblock(inum, sb)), inodeOffset(inum));
}

/** Whether the durable bitmap marks block `b` used. */
function used(d: Disk, b: number, sb: Superblock = SB): boolean {
  const { byte, mask } = bitOf(b);
  return (d.durableBlock(bblock(b, sb))[byte]! & mask) !== 0;
}

/** Block `b` durable bytes at `off`, as u32s. */
function u32s(d: Disk, b: number, n: number, off = 0): number[] {
  const blk = d.durableBlock(b);
  const v = new DataView(blk.buffer, blk.byteOffset);
  return Array.from({ length: n }, (_, i) => v.getUint32(off + i * 4, true));
}

/** Writes inode `inum` into the image on `d` (before anything ran on it). */
function pokeInode(d: Disk, inum: number, fields: Partial<Dinode>, sb: Superblock = SB): void {
  const raw = new Uint8Array(DINODE_SIZE);
  encodeDinode({ ...emptyDinode(), ...fields }, raw);
  d.poke(iblock(inum, sb), inodeOffset(inum), raw);
}

/** Marks blocks used in the bitmap on `d` (before anything ran on it). */
function pokeUsed(d: Disk, blocks: readonly number[], sb: Superblock = SB): void {
  for (const b of blocks) {
    const { byte, mask } = bitOf(b);
    const cur = d.durableBlock(bblock(b, sb))[byte]!;
    d.poke(bblock(b, sb), byte, Uint8Array.of(cur | mask));
  }
}

/** The log headers of the commits on `d`'s trace (header writes with n > 0), in order. */
function headers(d: Disk, logstart = 2): { n: number; blocks: number[] }[] {
  const off = (logstart % 4) * BSIZE;
  return d.trace.flatMap((c) => (c.op === 'write' && c.lba === Math.floor(logstart / 4) ? [decodeLogHeader(c.data.subarray(off, off + BSIZE))] : []))
    .filter((h) => h.n > 0);
}

const addrs = (direct: number[], ind = 0): number[] => [...direct, ...new Array<number>(NDIRECT - direct.length).fill(0), ind];

/** Appends `bytes` to `ip` from `from`, seven blocks per transaction (a transaction's most: the
 *  inode, the bitmap, the indirect block and seven data blocks). */
function fill(m: Mounted, ip: Inode, bytes: Uint8Array, from = 0): void {
  const step = 7 * BSIZE;
  for (let off = from; off < bytes.length; off += step) {
    m.tx(() => { m.inodes.load(ip); m.write(ip, off, bytes.subarray(off, Math.min(bytes.length, off + step))); });
  }
}

// ---- the table -----------------------------------------------------------------------------------

test('get, dup, put and drop count references; an inode is forgotten when its last one goes', () => {
  const m = mount();
  const ip = m.inodes.get(2);
  assert.deepEqual({ ...ip }, { inum: 2, ref: 1, valid: false, unlinked: false, type: T_FREE, major: 0, minor: 0, nlink: 0, size: 0, addrs: [] });
  assert.equal(m.inodes.get(2), ip);
  assert.equal(ip.ref, 2);
  assert.equal(m.inodes.referenced(2), ip);
  assert.equal(m.inodes.referenced(3), null, 'never referenced');
  assert.equal(m.inodes.dup(ip), ip);
  assert.equal(ip.ref, 3);
  m.inodes.put(ip);
  m.inodes.put(ip);
  assert.equal(ip.ref, 1);
  assert.equal(m.inodes.referenced(2), ip);
  m.inodes.put(ip);
  assert.equal(ip.ref, 0);
  assert.equal(m.inodes.referenced(2), null);
  assert.throws(() => m.inodes.put(ip), (e: unknown) => e instanceof Error && !(e instanceof FsError) && e.message === 'fs: put of inode 2, which has no reference');
  const again = m.inodes.get(2);
  assert.notEqual(again, ip, 'a new table entry');
  assert.equal(again.ref, 1);
  const jp = m.inodes.get(3);
  m.inodes.dup(jp);
  m.inodes.drop(jp);
  assert.equal(jp.ref, 1);
  assert.equal(m.inodes.referenced(3), jp);
  m.inodes.drop(jp);
  assert.equal(jp.ref, 0);
  assert.equal(m.inodes.referenced(3), null);
  m.inodes.drop(jp); // (nothing left to drop)
  assert.equal(jp.ref, 0);
  assert.notEqual(m.inodes.get(3), jp);
});

test('get: an inode number outside 1..ninodes-1 is EIO (a corrupt directory entry)', () => {
  const m = mount();
  for (const inum of [0, 200, 201, -1, 1.5, Number.NaN, 2 ** 32]) {
    throwsFs(() => m.inodes.get(inum), Errno.EIO, `a directory entry names inode ${inum}, outside 1..199`);
  }
  assert.equal(m.inodes.get(1).inum, 1);
  assert.equal(m.inodes.get(199).inum, 199);
});

// ---- loading -------------------------------------------------------------------------------------

test('load reads the disk inode once (the stat fields), and again only once it is invalidated', () => {
  const d = new Disk(mkfs({ files: [{ name: 'hello', data: enc('hello') }] }));
  pokeInode(d, 3, { type: T_DEVICE, major: 1, minor: 2, nlink: 3 });
  const m = mount(d);
  const root = m.inodes.get(1);
  m.inodes.load(root);
  assert.deepEqual({ ...root }, { inum: 1, ref: 1, valid: true, unlinked: false, type: T_DIR, major: 0, minor: 0, nlink: 1, size: BSIZE, addrs: addrs([46]) });
  const f = m.inodes.get(2);
  m.inodes.load(f);
  assert.deepEqual([f.type, f.major, f.minor, f.nlink, f.size, f.addrs], [T_FILE, 0, 0, 1, 5, addrs([47])]);
  const dev = m.inodes.get(3);
  m.inodes.load(dev);
  assert.deepEqual([dev.type, dev.major, dev.minor, dev.nlink, dev.size], [T_DEVICE, 1, 2, 3, 0]);
  const raw = Uint8Array.of(99, 0, 0, 0);
  m.cache.write(iblock(2, SB), inodeOffset(2) + 8, raw); // (behind the log's back)
  m.inodes.load(f);
  assert.equal(f.size, 5, 'loaded already: not read again');
  f.valid = false;
  m.inodes.load(f);
  assert.equal(f.size, 99);
});

test('load refuses a corrupt inode with the reason (EIO), and leaves it unloaded', () => {
  const cases: [Partial<Dinode>, string][] = [
    [{ type: 4, nlink: 1 }, 'type 4'],
    [{ type: -1, nlink: 1 }, 'type -1'],
    [{ type: 9, nlink: -1 }, 'type 9'],
    [{ type: T_FILE, nlink: -1 }, 'nlink -1, major 0, minor 0'],
    [{ type: T_DEVICE, nlink: 1, major: -2 }, 'nlink 1, major -2, minor 0'],
    [{ type: T_DEVICE, nlink: 1, minor: -3 }, 'nlink 1, major 0, minor -3'],
    [{ type: T_FILE, nlink: 1, size: MAXBYTES + 1 }, `size ${MAXBYTES + 1}, over the largest file (${MAXBYTES})`],
    [{ type: T_FILE, nlink: 1, size: 0xffffffff }, `size 4294967295, over the largest file (${MAXBYTES})`],
    [{ type: T_DIR, nlink: 1, size: 17 }, 'a directory of 17 bytes, not a whole number of entries'],
    [{ type: T_DIR, nlink: 1, size: 8 }, 'a directory of 8 bytes, not a whole number of entries'],
    [{ type: T_FILE, nlink: 1, size: 10, addrs: addrs([0, 0, 0, 45]) }, 'block 45 is not a data block (46..1999)'],
    [{ type: T_FILE, nlink: 1, size: 10, addrs: addrs([], 2000) }, 'block 2000 is not a data block (46..1999)'],
    [{ type: T_FILE, nlink: 1, size: 10, addrs: addrs([1]) }, 'block 1 is not a data block (46..1999)'],
    [{ type: T_FILE, nlink: 1, size: 10, addrs: addrs([0, 2001, 45]) }, 'block 2001 is not a data block (46..1999)'],
  ];
  for (const [fields, why] of cases) {
    const d = new Disk(IMAGE);
    pokeInode(d, 5, fields);
    const m = mount(d);
    const ip = m.inodes.get(5);
    throwsFs(() => m.inodes.load(ip), Errno.EIO, `inode 5 is corrupt: ${why}`);
    assert.equal(ip.valid, false);
    assert.equal(ip.type, T_FREE);
  }
  const m = mount();
  throwsFs(() => m.inodes.load(m.inodes.get(5)), Errno.EIO, 'inode 5 is free, yet a directory entry names it');
  // the edges that are fine
  const fine: Partial<Dinode>[] = [
    { type: T_FILE, nlink: 1, size: MAXBYTES, addrs: addrs([46], 1999) },
    { type: T_DIR, nlink: 0, size: 32 },
    { type: T_FILE, nlink: 0x7fff, size: 17 },
    { type: T_DEVICE, nlink: 1, major: 0x7fff, minor: 0x7fff },
  ];
  for (const f of fine) {
    const d = new Disk(IMAGE);
    pokeInode(d, 5, f);
    const mm = mount(d);
    const ip = mm.inodes.get(5);
    mm.inodes.load(ip);
    assert.deepEqual([ip.type, ip.nlink, ip.size, ip.major, ip.minor], [f.type, f.nlink, f.size ?? 0, f.major ?? 0, f.minor ?? 0]);
  }
});

// ---- allocating inodes ---------------------------------------------------------------------------

test('alloc: the first free inode from 1, zeroed but for its type, written through the log', () => {
  const m = mount();
  const ip = m.tx(() => m.inodes.alloc(T_FILE));
  assert.deepEqual({ ...ip }, { inum: 5, ref: 1, valid: true, unlinked: false, type: T_FILE, major: 0, minor: 0, nlink: 0, size: 0, addrs: addrs([]) });
  assert.equal(m.disk.trace.length, 0, 'not written before the commit');
  m.log.sync();
  const raw = m.disk.durableBlock(iblock(5, SB)).subarray(inodeOffset(5), inodeOffset(5) + DINODE_SIZE);
  assert.deepEqual([...raw], [T_FILE, ...new Array<number>(DINODE_SIZE - 1).fill(0)]);
  assert.deepEqual(m.disk.durableBlock(iblock(4, SB)).subarray(0, 5 * DINODE_SIZE), IMAGE.subarray(32 * BSIZE, 32 * BSIZE + 5 * DINODE_SIZE), 'its neighbours are untouched');
  // an inode in the table is taken, whatever the disk says (a corrupt entry named it)
  const named = m.inodes.get(6);
  assert.equal(m.tx(() => m.inodes.alloc(T_DIR)).inum, 7);
  assert.equal(dinode(m.disk, 6).type, T_FREE);
  m.inodes.put(named);
  assert.equal(m.tx(() => m.inodes.alloc(T_DEVICE)).inum, 6);
});

test('alloc: a free inode is one whose type is 0 (both bytes), wherever it is', () => {
  const d = new Disk(IMAGE);
  pokeInode(d, 3, {}); // free
  pokeInode(d, 5, { type: 0x100, nlink: 1 }); // corrupt, but not free
  const m = mount(d);
  assert.equal(m.tx(() => m.inodes.alloc(T_FILE)).inum, 3);
  assert.equal(m.tx(() => m.inodes.alloc(T_FILE)).inum, 6);
});

test('alloc until the inode table is full: every inode from 5 to 199 in order, then ENOSPC, undone', () => {
  const m = mount();
  const got: number[] = [];
  for (let i = 0; i < 195; i += 5) {
    m.tx(() => { for (let j = 0; j < 5; j++) got.push(m.inodes.alloc(j % 2 === 0 ? T_FILE : T_DIR).inum); });
  }
  assert.deepEqual(got, Array.from({ length: 195 }, (_, i) => 5 + i));
  m.log.sync();
  const before = m.disk.trace.length;
  throwsFs(() => m.tx(() => m.inodes.alloc(T_FILE)), Errno.ENOSPC, 'no free inode (of 199)');
  m.log.sync();
  assert.equal(m.disk.trace.length, before + 1, 'nothing to commit: sync only flushed');
  assert.equal(dinode(m.disk, 16).type, T_DIR, 'inode 16: the first of block 33');
  assert.equal(dinode(m.disk, 199).type, T_FILE);
  assert.equal(dinode(m.disk, 16).nlink, 0);
  // one freed (on disk) comes back
  m.tx(() => {
    const ip = m.inodes.referenced(120)!; // (alloc's reference)
    m.inodes.markUnlinked(ip);
    m.inodes.put(ip);
  });
  assert.equal(m.inodes.referenced(120), null);
  assert.equal(m.tx(() => m.inodes.alloc(T_FILE)).inum, 120);
});

test('alloc: at most 65535 inodes, all a directory entry can name, whatever the superblock says', () => {
  const sb = superblockOf(mkfsLayout(4200, 65540, 30));
  const img = new Uint8Array(4200 * BSIZE);
  encodeSuperblock(sb, img.subarray(BSIZE, 2 * BSIZE));
  for (let inum = 1; inum < 65536; inum++) img[iblock(inum, sb) * BSIZE + inodeOffset(inum)] = T_FILE;
  const m = mount(img);
  throwsFs(() => m.tx(() => m.inodes.alloc(T_FILE)), Errno.ENOSPC, 'no free inode (of 65535)');
});

test('update writes exactly the inode\'s 64 bytes', () => {
  const m = mount();
  const ip = m.inodes.get(3);
  m.inodes.load(ip);
  Object.assign(ip, { nlink: 5, size: 1234, major: 7, minor: 8, type: T_DEVICE });
  ip.addrs[0] = 100;
  ip.addrs[NDIRECT] = 0xfffffffe;
  m.tx(() => m.inodes.update(ip));
  m.log.sync();
  const want = new Uint8Array(DINODE_SIZE);
  encodeDinode(ip, want);
  const blk = m.disk.durableBlock(iblock(3, SB));
  assert.deepEqual(blk.subarray(inodeOffset(3), inodeOffset(3) + DINODE_SIZE), want);
  const orig = IMAGE.subarray(32 * BSIZE, 33 * BSIZE);
  assert.deepEqual(blk.subarray(0, inodeOffset(3)), orig.subarray(0, inodeOffset(3)));
  assert.deepEqual(blk.subarray(inodeOffset(4)), orig.subarray(inodeOffset(4)));
});

// ---- allocating blocks -----------------------------------------------------------------------------

test('a block is allocated first free among the data blocks (a bitmap calling metadata free is not believed), and zeroed', () => {
  const d = new Disk(IMAGE);
  d.poke(SB.bmapstart, 0, Uint8Array.of(0, 0, 0, 0, 0, 0b01000000)); // blocks 0..45 "free"; 46 (the root's) used
  d.poke(48, 0, new Uint8Array(BSIZE).fill(0xee)); // garbage in a free block
  const m = mount(d);
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  m.tx(() => m.write(ip, 0, pattern(1, BSIZE + 3)));
  assert.deepEqual(ip.addrs, addrs([FIRST_FREE, 48]));
  m.log.sync();
  assert.deepEqual([...m.disk.durableBlock(SB.bmapstart).subarray(0, 7)], [0, 0, 0, 0, 0, 0b11000000, 0b00000001], 'the metadata bits are left as they were');
  const b48 = new Uint8Array(BSIZE);
  b48.set(pattern(1, BSIZE + 3).subarray(BSIZE));
  assert.deepEqual(m.disk.durableBlock(48), b48, 'zeroed before use');
  assert.deepEqual(dinode(m.disk, 2), { type: T_FILE, major: 0, minor: 0, nlink: 1, size: BSIZE + 3, addrs: addrs([47, 48]) });
});

test('allocation skips used bits one by one and whole used bytes, up to the last block of a partial byte', () => {
  const d = new Disk(IMAGE);
  d.poke(SB.bmapstart, 5, Uint8Array.of(0xff, 0xff, 0b11110111, 0xff)); // 47..63 used but for 59
  const m = mount(d);
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  m.tx(() => m.write(ip, 0, pattern(2, 3 * BSIZE)));
  assert.deepEqual(ip.addrs.slice(0, 3), [59, 72, 73]);
});

test('allocation goes on in the second bitmap block, from its first block', () => {
  const img = mkfs({ size: 9000, files: [{ name: 'a', data: E }] }); // bitmap blocks 45, 46; data from 47
  const sb = readSuperblock((b) => img.subarray(b * BSIZE, (b + 1) * BSIZE));
  const d = new Disk(img);
  d.poke(sb.bmapstart, 0, new Uint8Array(BSIZE).fill(0xff)); // blocks 0..8191 used
  const m = mount(d);
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  m.tx(() => m.write(ip, 0, pattern(3, 2 * BSIZE)));
  assert.deepEqual(ip.addrs.slice(0, 2), [BPB, BPB + 1]);
  m.log.sync();
  assert.deepEqual([...m.disk.durableBlock(sb.bmapstart + 1).subarray(0, 2)], [0b11, 0]);
  assert.ok(used(m.disk, BPB + 1, sb) && !used(m.disk, BPB + 2, sb));
});

test('no free data block is ENOSPC, and the write is undone whole (bits past the last block are not blocks)', () => {
  const img = mkfs({ size: 61, files: [{ name: 'a', data: E }] }); // data 46..60; 47..60 free
  const m = mount(img);
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  const data = pattern(4, 13 * BSIZE);
  fill(m, ip, data); // 13 blocks and the indirect block: 47..60
  assert.deepEqual(ip.addrs, addrs([47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58], 59));
  m.log.sync();
  const bitmap = m.disk.durableBlock(SB.bmapstart);
  assert.deepEqual([...bitmap.subarray(5, 9)], [0xff, 0xff, 0b00011111, 0], 'blocks 40..60');
  throwsFs(() => m.tx(() => { m.inodes.load(ip); m.write(ip, 13 * BSIZE - 10, pattern(5, 20)); }), Errno.ENOSPC, 'no free data block');
  m.inodes.load(ip);
  assert.equal(ip.size, 13 * BSIZE);
  assert.deepEqual(m.read(ip, 0, 14 * BSIZE), data, 'the part that fitted was undone too');
  m.log.sync();
  assert.deepEqual(m.disk.durableBlock(SB.bmapstart), bitmap);
  assert.deepEqual(dinode(m.disk, 2).size, 13 * BSIZE);
  assert.equal(fsck(m.disk.durableImage()).ok, true);
});

// ---- the block map ----------------------------------------------------------------------------------

test('bmap: 12 direct blocks, then the indirect block (allocated first) and its entries, up to block 267', () => {
  const m = mount();
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  fill(m, ip, pattern(6, 13 * BSIZE));
  assert.deepEqual(ip.addrs, addrs([47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58], 59));
  m.log.sync();
  assert.deepEqual(u32s(m.disk, 59, 3), [60, 0, 0]);
  assert.equal(m.inodes.bmap(ip, 11, false), 58);
  assert.equal(m.inodes.bmap(ip, 12, false), 60);
  assert.equal(m.inodes.bmap(ip, 13, false), 0, 'a hole: not allocated');
  assert.equal(m.inodes.bmap(ip, MAXFILE - 1, false), 0);
  throwsFs(() => m.inodes.bmap(ip, MAXFILE, false), Errno.EFBIG, `block ${MAXFILE} is past the largest file`);
  throwsFs(() => m.inodes.bmap(ip, MAXFILE + 5, true), Errno.EFBIG, `block ${MAXFILE + 5} is past the largest file`);
  assert.equal(m.tx(() => m.inodes.bmap(ip, MAXFILE - 1, true)), 61);
  assert.equal(m.tx(() => m.inodes.bmap(ip, 13, true)), 62);
  assert.equal(m.tx(() => m.inodes.bmap(ip, 13, true)), 62, 'allocated once');
  m.log.sync();
  assert.deepEqual(u32s(m.disk, 59, 2), [60, 62]);
  assert.deepEqual(u32s(m.disk, 59, 1, (MAXFILE - 1 - NDIRECT) * 4), [61]);
  assert.ok(used(m.disk, 62) && !used(m.disk, 63));
  // with no indirect block, a block past the direct ones is a hole, and nothing is allocated
  const jp = m.inodes.get(3);
  m.inodes.load(jp);
  assert.equal(m.inodes.bmap(jp, NDIRECT, false), 0);
  assert.equal(m.inodes.bmap(jp, 0, false), 0);
  assert.deepEqual(jp.addrs, addrs([]));
  assert.equal(m.tx(() => m.inodes.bmap(jp, 11, true)), 63);
  assert.deepEqual(jp.addrs, addrs([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 63]));
});

test('bmap: an indirect entry outside the data blocks is EIO; the first data block is fine', () => {
  for (const [entry, ok] of [[45, false], [2000, false], [0xffffffff, false], [46, true], [1999, true]] as const) {
    const d = new Disk(IMAGE);
    pokeInode(d, 2, { type: T_FILE, nlink: 1, size: 14 * BSIZE, addrs: addrs([], 100) });
    d.poke(100, 4, Uint8Array.from(new Uint8Array(new Uint32Array([entry]).buffer)));
    const m = mount(d);
    const ip = m.inodes.get(2);
    m.inodes.load(ip);
    if (ok) assert.equal(m.inodes.bmap(ip, NDIRECT + 1, false), entry);
    else throwsFs(() => m.inodes.bmap(ip, NDIRECT + 1, false), Errno.EIO, `inode 2: its indirect block 100 names block ${entry}, not a data block`);
    assert.equal(m.inodes.bmap(ip, NDIRECT, false), 0);
  }
});

// ---- reading and writing ------------------------------------------------------------------------

test('writei and readi hand each block\'s part to the mover: block, offset in it, bytes done, length', () => {
  const m = mount();
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  const w: number[][] = [];
  const data = pattern(7, 2100);
  m.tx(() => m.write(ip, 0, data.subarray(0, 1000)));
  const n = m.tx(() => m.inodes.writei(ip, 1000, 2100, (b, boff, done, len) => {
    w.push([b, boff, done, len]);
    m.log.write(b, boff, data, done, len);
  }));
  assert.equal(n, 2100);
  assert.deepEqual(w, [[47, 1000, 0, 24], [48, 0, 24, 1024], [49, 0, 1048, 1024], [50, 0, 2072, 28]]);
  assert.equal(ip.size, 3100);
  const r: number[][] = [];
  const got = m.inodes.readi(ip, 1020, 3000, (b, boff, done, len) => { r.push([b, boff, done, len]); });
  assert.equal(got, 2080);
  assert.deepEqual(r, [[47, 1020, 0, 4], [48, 0, 4, 1024], [49, 0, 1028, 1024], [50, 0, 2052, 28]]);
  assert.deepEqual(m.read(ip, 1000, 5000), data);
  m.log.sync();
  assert.deepEqual(dinode(m.disk, 2).size, 3100);
  assert.deepEqual(m.disk.durableBlock(50).subarray(0, 30), Uint8Array.of(...data.subarray(2072), 0, 0));
});

test('readi: short at the end, nothing at or past it or for n <= 0; writei: EINVAL past the end, appends at it', () => {
  const m = mount(mkfs({ files: [{ name: 'hello', data: enc('hello') }] }));
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
  assert.equal(dec(m.read(ip, 0, 100)), 'hello');
  assert.equal(dec(m.read(ip, 4, 100)), 'o');
  assert.equal(dec(m.read(ip, 1, 3)), 'ell');
  let calls = 0;
  for (const [off, n] of [[5, 1], [6, 1], [1 << 20, 1], [0, 0], [0, -1]]) {
    assert.equal(m.inodes.readi(ip, off!, n!, () => { calls++; }), 0, `readi at ${off}, ${n}`);
  }
  assert.equal(calls, 0);
  throwsFs(() => m.tx(() => m.write(ip, 6, enc('!'))), Errno.EINVAL, 'writing at 6, past the end of a 5-byte file');
  assert.equal(m.tx(() => m.write(ip, 5, enc('!'))), 1);
  assert.equal(m.tx(() => m.write(ip, 1, enc('EL'))), 2);
  assert.equal(m.tx(() => m.write(ip, 6, E)), 0);
  assert.equal(dec(m.read(ip, 0, 100)), 'hELlo!');
  assert.equal(ip.size, 6);
  m.log.sync();
  assert.equal(new TextDecoder().decode(readData(m.disk.reader(true), SB, dinode(m.disk, 2))), 'hELlo!');
});

test('the largest file: 268 blocks written and read back across the indirect boundary; a byte more is EFBIG', () => {
  const m = mount();
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  const data = pattern(8, MAXBYTES);
  fill(m, ip, data);
  assert.equal(ip.size, MAXBYTES);
  assert.deepEqual(m.read(ip, 0, MAXBYTES + 10), data);
  assert.deepEqual(m.read(ip, 11 * BSIZE - 7, 20), data.subarray(11 * BSIZE - 7, 11 * BSIZE + 13));
  assert.deepEqual(m.read(ip, MAXBYTES - 3, 10), data.subarray(MAXBYTES - 3));
  assert.equal(m.tx(() => m.write(ip, MAXBYTES - 1, Uint8Array.of(0xab))), 1);
  throwsFs(() => m.tx(() => m.write(ip, MAXBYTES, Uint8Array.of(1))), Errno.EFBIG, `writing 1 bytes at ${MAXBYTES}: over the largest file (${MAXBYTES} bytes)`);
  throwsFs(() => m.tx(() => m.write(ip, MAXBYTES - 1, Uint8Array.of(1, 2))), Errno.EFBIG, `writing 2 bytes at ${MAXBYTES - 1}: over the largest file (${MAXBYTES} bytes)`);
  const jp = m.inodes.get(3);
  m.inodes.load(jp);
  throwsFs(() => m.tx(() => m.inodes.writei(jp, 0, MAXBYTES + 1, () => { throw new Error('not reached'); })), Errno.EFBIG, `writing ${MAXBYTES + 1} bytes at 0: over the largest file (${MAXBYTES} bytes)`);
  throwsFs(() => m.tx(() => m.inodes.writei(jp, 1, MAXBYTES, () => { throw new Error('not reached'); })), Errno.EINVAL, 'writing at 1, past the end of a 0-byte file');
  m.log.sync();
  const d = dinode(m.disk, 2);
  assert.equal(d.size, MAXBYTES);
  const ondisk = readData(m.disk.reader(true), SB, d);
  assert.equal(ondisk[MAXBYTES - 1], 0xab);
  ondisk[MAXBYTES - 1] = data[MAXBYTES - 1]!;
  assert.deepEqual(ondisk, data);
  for (let b = FIRST_FREE; b < FIRST_FREE + MAXFILE + 1; b++) assert.ok(used(m.disk, b), `block ${b} used`);
  assert.ok(!used(m.disk, FIRST_FREE + MAXFILE + 1));
  assert.equal(fsck(m.disk.durableImage()).ok, true);
});

test('writeBytes writes a byte array through the log (directory entries are written so)', () => {
  const m = mount();
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  const data = pattern(14, 1500);
  m.tx(() => m.inodes.writeBytes(ip, 0, data));
  m.tx(() => m.inodes.writeBytes(ip, 1500, Uint8Array.of(1, 2, 3)));
  m.tx(() => m.inodes.writeBytes(ip, 2, Uint8Array.of(9)));
  const want = Uint8Array.of(...data, 1, 2, 3);
  want[2] = 9;
  assert.deepEqual(m.read(ip, 0, 5000), want);
  m.log.sync();
  assert.deepEqual(readData(m.disk.reader(true), SB, dinode(m.disk, 2)), want);
});

test('readi of a hole: block 0 to the mover (zeros), nothing allocated', () => {
  const d = new Disk(IMAGE);
  pokeInode(d, 2, { type: T_FILE, nlink: 1, size: 14 * BSIZE, addrs: addrs([FIRST_FREE]) });
  pokeUsed(d, [FIRST_FREE]);
  d.poke(FIRST_FREE, 0, new Uint8Array(BSIZE).fill(5));
  const m = mount(d);
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  const blocks: number[] = [];
  assert.equal(m.inodes.readi(ip, BSIZE - 2, 3 * BSIZE, (b) => { blocks.push(b); }), 3 * BSIZE);
  assert.deepEqual(blocks, [FIRST_FREE, 0, 0, 0]);
  const got = m.read(ip, 0, 14 * BSIZE);
  assert.deepEqual(got.subarray(0, BSIZE), new Uint8Array(BSIZE).fill(5));
  assert.deepEqual(got.subarray(BSIZE), new Uint8Array(13 * BSIZE));
  assert.deepEqual(ip.addrs, addrs([FIRST_FREE]));
  assert.equal(m.disk.trace.length, 0);
});

// ---- truncation --------------------------------------------------------------------------------

test('truncate frees every data block and the indirect block, clears the entries, and zeroes the inode', () => {
  const m = mount();
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  fill(m, ip, pattern(9, 20 * BSIZE - 5)); // 47..58 direct, 59 indirect, 60..67
  m.log.sync();
  assert.deepEqual(u32s(m.disk, 59, 9), [60, 61, 62, 63, 64, 65, 66, 67, 0]);
  m.tx(() => m.inodes.truncate(ip));
  assert.deepEqual([ip.size, ip.addrs], [0, addrs([])]);
  m.log.sync();
  assert.deepEqual(dinode(m.disk, 2), { type: T_FILE, major: 0, minor: 0, nlink: 1, size: 0, addrs: addrs([]) });
  assert.deepEqual([...m.disk.durableBlock(SB.bmapstart).subarray(5, 10)], [0x7f, 0, 0, 0, 0], 'only the root\'s block is left, of the data blocks');
  assert.deepEqual(u32s(m.disk, 59, 9), [0, 0, 0, 0, 0, 0, 0, 0, 0], 'the entries were cleared before the indirect block was freed');
  assert.deepEqual(m.read(ip, 0, 10), E);
  // and the space is used again, from the start
  m.tx(() => m.write(ip, 0, Uint8Array.of(1)));
  assert.deepEqual(ip.addrs, addrs([FIRST_FREE]));
  assert.equal(fsck(m.disk.durableImage()).ok, true);
});

test('truncating the largest file is one transaction with xv6\'s geometry; an empty file is just written back', () => {
  const m = mount();
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  fill(m, ip, pattern(10, MAXBYTES));
  m.log.sync();
  let splits = 0;
  const split = m.log.split.bind(m.log);
  m.log.split = () => { splits++; split(); };
  m.tx(() => m.inodes.truncate(ip));
  assert.equal(splits, 0);
  m.log.sync();
  for (let b = FIRST_FREE; b < FIRST_FREE + MAXFILE + 1; b++) assert.ok(!used(m.disk, b), `block ${b} free`);
  assert.deepEqual(dinode(m.disk, 2).addrs, addrs([]));
  const jp = m.inodes.get(3);
  m.inodes.load(jp);
  m.tx(() => m.inodes.truncate(jp));
  m.log.sync();
  assert.deepEqual(headers(m.disk).at(-1), { n: 1, blocks: [iblock(3, SB)] }, 'only the inode was written');
  assert.equal(fsck(m.disk.durableImage()).ok, true);
});

test('truncate of a corrupt file is EIO and undone: a block the bitmap calls free, a block that is not data, a wild entry', () => {
  const base = (): Disk => {
    const d = new Disk(IMAGE);
    pokeInode(d, 2, { type: T_FILE, nlink: 1, size: 14 * BSIZE, addrs: addrs([100, 101, 102], 103) });
    d.poke(103, 0, Uint8Array.of(104, 0, 0, 0, 105, 0, 0, 0));
    pokeUsed(d, [100, 102, 103, 104, 105]); // not 101
    return d;
  };
  const m = mount(base());
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  throwsFs(() => m.tx(() => m.inodes.truncate(ip)), Errno.EIO, 'freeing block 101, which the bitmap says is free');
  assert.equal(ip.valid, false);
  m.inodes.load(ip);
  assert.deepEqual([ip.size, ip.addrs], [14 * BSIZE, addrs([100, 101, 102], 103)]);
  m.log.sync();
  assert.ok(used(m.disk, 104) && used(m.disk, 105) && used(m.disk, 102), 'nothing freed');
  assert.deepEqual(u32s(m.disk, 103, 2), [104, 105]);

  const m2 = mount(base());
  const jp = m2.inodes.get(2);
  m2.inodes.load(jp);
  jp.addrs[2] = 5; // (in memory only)
  throwsFs(() => m2.tx(() => m2.inodes.truncate(jp)), Errno.EIO, 'freeing block 5, which is not a data block');

  const d3 = base();
  d3.poke(103, 8, Uint8Array.of(40, 0, 0, 0));
  const m3 = mount(d3);
  const kp = m3.inodes.get(2);
  m3.inodes.load(kp);
  throwsFs(() => m3.tx(() => m3.inodes.truncate(kp)), Errno.EIO, 'inode 2: its indirect block 103 names block 40, not a data block');
});

// 64 Ki blocks: bitmap blocks 45..53 (8 used), data from 54; a 14-block log (capacity 13), so that
// each part of a truncation is committed before the next begins. Inode 2 is a file whose blocks
// are spread over the bitmap blocks; B(r, x) is block x of the region of bitmap block r.
const SPREAD = mkfs({ size: 8 * BPB, nlog: 14, files: [{ name: 'a', data: E }] });
const SPREAD_SB = readSuperblock((b) => SPREAD.subarray(b * BSIZE, (b + 1) * BSIZE));
const B = (r: number, x: number): number => BPB * r + x;

interface Spread { blocks: number[]; ind: number; size: number }
/** Layout A: 30 blocks, file block j in region j % 8, the indirect block in region 7. */
const LAYOUT_A: Spread = { blocks: Array.from({ length: 30 }, (_, j) => B(j % 8, 100 + j)), ind: B(7, 5000), size: 30 * BSIZE - 100 };

/** A disk with inode 2 holding `f` (0 in `f.blocks`: a hole); the bitmap marks `marked`. */
function spread(f: Spread, marked: readonly number[] = [...f.blocks.filter((b) => b !== 0), f.ind]): Disk {
  const d = new Disk(SPREAD);
  const direct = f.blocks.slice(0, NDIRECT);
  pokeInode(d, 2, { type: T_FILE, nlink: 1, size: f.size, addrs: [...direct, ...new Array<number>(NDIRECT - direct.length).fill(0), f.ind] }, SPREAD_SB);
  d.poke(f.ind, 0, Uint8Array.from(new Uint8Array(new Uint32Array(f.blocks.slice(NDIRECT)).buffer)));
  pokeUsed(d, marked, SPREAD_SB);
  return d;
}

/** Counts the log's splits on `m`. */
function countSplits(m: Mounted): () => number {
  let splits = 0;
  const split = m.log.split.bind(m.log);
  m.log.split = () => { splits++; split(); };
  return () => splits;
}

/**
 * Truncates the file `f` (inode 2 on spread(f)); checks the disk after a power cut after every
 * device command (keeping none or all of the unflushed writes): the file holds its first blocks,
 * each marked used, and no other (the freed ones free), its size ends where they do. Returns the
 * splits and the states seen ("j/i/size": blocks left, whether the indirect block is, the size).
 */
function truncateSpread(f: Spread): { splits: number; states: string[] } {
  const sb = SPREAD_SB;
  const NB = f.blocks.length;
  const d = spread(f);
  const m = mount(d);
  assert.equal(m.log.capacity, 13);
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  const splits = countSplits(m);
  m.tx(() => m.inodes.truncate(ip));
  m.log.sync();
  assert.equal(headers(d).length, splits() + 1, 'each part committed on its own');
  for (const b of [...f.blocks.filter((x) => x !== 0), f.ind]) assert.ok(!used(d, b, sb), `block ${b} freed`);
  assert.deepEqual(dinode(d, 2, sb), { type: T_FILE, major: 0, minor: 0, nlink: 1, size: 0, addrs: addrs([]) });
  const states = new Set<string>();
  for (let k = 0; k <= d.trace.length; k++) {
    for (const keep of [() => false, () => true]) {
      const c = d.crash(k, keep);
      bench.mount(c);
      const di = dinode(c, 2, sb);
      const hasInd = di.addrs[NDIRECT] !== 0;
      const entries = hasInd ? u32s(c, f.ind, NB - NDIRECT) : new Array<number>(NB - NDIRECT).fill(0);
      const now = [...di.addrs.slice(0, NDIRECT), ...entries];
      let j = NB;
      while (j > 0 && now[j - 1] === 0) j--;
      const at = `cut after ${k}`;
      assert.deepEqual(now, [...f.blocks.slice(0, j), ...new Array<number>(NB - j).fill(0)], `${at}: the first blocks of the file`);
      if (hasInd) assert.equal(di.addrs[NDIRECT], f.ind, at);
      if (j > NDIRECT) assert.ok(hasInd, at);
      f.blocks.forEach((b, i) => { if (b !== 0) assert.equal(used(c, b, sb), i < j, `${at}: block ${b} (file block ${i})`); });
      assert.equal(used(c, f.ind, sb), hasInd, `${at}: the indirect block`);
      assert.equal(decodeLogHeader(c.durableBlock(sb.logstart)).n, 0);
      states.add(`${j}/${hasInd ? 'i' : '-'}/${di.size}`);
    }
  }
  return { splits: splits(), states: [...states].sort((a, b) => parseInt(b, 10) - parseInt(a, 10)) };
}

test('a truncation spanning more bitmap blocks than a transaction holds: several transactions, each consistent after a power cut', () => {
  // each part frees blocks from the end while its transaction has room for a new bitmap block
  // (the bitmap, indirect and inode blocks may each be new: touched + 3 <= MAXOPBLOCKS)
  assert.deepEqual(truncateSpread(LAYOUT_A), { splits: 4, states: [`30/i/${LAYOUT_A.size}`, `23/i/${23 * BSIZE}`, `16/i/${16 * BSIZE}`, `9/-/${9 * BSIZE}`, `1/-/${BSIZE}`, '0/-/0'] });
});

test('a truncation part that has no room left to free the indirect block stops before it', () => {
  // 12 direct blocks in regions j % 8; 7 entries in regions 0..6; the indirect block in region 7:
  // the first part frees the entries (8 blocks touched) and stops, the indirect block still in the inode
  const f: Spread = { blocks: [...Array.from({ length: NDIRECT }, (_, j) => B(j % 8, 100 + j)), ...Array.from({ length: 7 }, (_, i) => B(i, 200 + i))], ind: B(7, 5000), size: 19 * BSIZE - 100 };
  assert.deepEqual(truncateSpread(f), { splits: 2, states: [`19/i/${f.size}`, `12/i/${12 * BSIZE}`, `4/-/${4 * BSIZE}`, '0/-/0'] });
});

test('a truncation part that stops just after freeing the indirect block leaves the size at the direct blocks', () => {
  // entry 0 a hole, entries 1..6 in regions 0..5, the indirect block in region 6, the direct blocks
  // in region 7: the first part frees the entries (size 13 blocks), then the indirect block (size 12
  // blocks), and stops before the first direct block
  const f: Spread = { blocks: [...Array.from({ length: NDIRECT }, (_, j) => B(7, 100 + j)), 0, ...Array.from({ length: 6 }, (_, i) => B(i, 200 + i))], ind: B(6, 5000), size: 19 * BSIZE - 100 };
  assert.deepEqual(truncateSpread(f), { splits: 1, states: [`19/i/${f.size}`, `12/-/${12 * BSIZE}`, '0/-/0'] });
});

test('freeing an unlinked inode whose last part fails: the parts done stand, and so does its mark', () => {
  const d = spread(LAYOUT_A, [...LAYOUT_A.blocks.slice(1), LAYOUT_A.ind]); // file block 0 is free in the bitmap
  const m = mount(d);
  const splits = countSplits(m);
  const ip = m.inodes.get(2);
  throwsFs(() => m.tx(() => {
    m.inodes.load(ip);
    m.inodes.markUnlinked(ip);
    m.inodes.put(ip);
  }), Errno.EIO, `freeing block ${LAYOUT_A.blocks[0]}, which the bitmap says is free`);
  assert.equal(splits(), 4);
  assert.equal(ip.unlinked, true, 'its mark was settled with the first part');
  assert.equal(ip.valid, false);
  m.log.sync();
  const di = dinode(d, 2, SPREAD_SB);
  assert.deepEqual([di.type, di.nlink, di.size, di.addrs], [T_FILE, 1, BSIZE, addrs([LAYOUT_A.blocks[0]!])]);
  for (const b of [...LAYOUT_A.blocks.slice(1), LAYOUT_A.ind]) assert.ok(!used(d, b, SPREAD_SB), `block ${b} freed`);
});

// ---- unlinked inodes, undone transactions, orphans ---------------------------------------------------

test('an unlinked inode is freed (truncated, all zero on disk) when its last reference goes, at the end of the transaction', () => {
  const d = new Disk(IMAGE);
  pokeInode(d, 2, { type: T_DEVICE, major: 3, minor: 4, nlink: 1 });
  const m = mount(d);
  const jp = m.inodes.get(3);
  m.inodes.load(jp);
  fill(m, jp, pattern(11, 14 * BSIZE)); // 47..58, 59 indirect, 60, 61
  const two = m.inodes.get(3);
  m.tx(() => {
    m.inodes.markUnlinked(jp);
    m.inodes.put(two);
  });
  m.log.sync();
  assert.equal(dinode(m.disk, 3).type, T_FILE, 'still referenced: not freed');
  m.tx(() => {
    m.inodes.put(jp);
    assert.equal(m.inodes.referenced(3), null, 'doomed: no longer referenced');
    assert.equal(dinode(m.disk, 3).type, T_FILE, 'freed only when the transaction ends');
  });
  m.log.sync();
  const raw = m.disk.durableBlock(iblock(3, SB)).subarray(inodeOffset(3), inodeOffset(3) + DINODE_SIZE);
  assert.deepEqual(raw, new Uint8Array(DINODE_SIZE));
  for (let b = FIRST_FREE; b <= 61; b++) assert.ok(!used(m.disk, b), `block ${b}`);
  assert.notEqual(m.inodes.get(3), jp);
  // a device: nothing to truncate; type, major, minor and nlink go to 0
  m.tx(() => {
    const dev = m.inodes.get(2);
    m.inodes.load(dev);
    m.inodes.markUnlinked(dev);
    m.inodes.put(dev);
  });
  m.log.sync();
  assert.deepEqual(m.disk.durableBlock(iblock(2, SB)).subarray(inodeOffset(2), inodeOffset(2) + DINODE_SIZE), new Uint8Array(DINODE_SIZE));
  assert.deepEqual(fsck(m.disk.durableImage()).errors, [
    "directory /: entry 'a' refers to inode 2, which is free",
    "directory /: entry 'b' refers to inode 3, which is free",
  ], 'nothing else: the blocks are free in the bitmap too');
});

test('a doomed inode referenced again before the transaction ends is not freed; dropping a reference frees nothing', () => {
  const m = mount();
  m.tx(() => {
    const ip = m.inodes.get(2);
    m.inodes.load(ip);
    m.inodes.markUnlinked(ip);
    m.inodes.put(ip);
    const again = m.inodes.get(2);
    assert.equal(again, ip, 'the doomed inode is still in the table');
    assert.equal(again.unlinked, true);
  });
  m.log.sync();
  assert.equal(dinode(m.disk, 2).type, T_FILE);
  const ip = m.inodes.referenced(2)!;
  assert.equal(ip.ref, 1);
  m.tx(() => m.inodes.put(ip)); // doomed again: its mark stands
  m.log.sync();
  assert.equal(dinode(m.disk, 2).type, T_FREE);
  const jp = m.inodes.get(3);
  m.inodes.load(jp);
  m.tx(() => m.inodes.markUnlinked(jp));
  m.tx(() => m.inodes.drop(jp));
  m.log.sync();
  assert.equal(dinode(m.disk, 3).type, T_FILE, 'left for reclaimOrphans');
  assert.equal(m.inodes.referenced(3), null);
});

test('an undone transaction takes back its marks, frees nothing, and makes every inode reload', () => {
  const m = mount();
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  m.tx(() => m.write(ip, 0, pattern(12, 100)));
  const kept = m.inodes.get(4);
  m.inodes.load(kept);
  m.tx(() => m.inodes.markUnlinked(kept)); // (this mark stands: its transaction ended)
  const held = m.inodes.get(3);
  m.inodes.load(held);
  let doomed: Inode | null = null;
  assert.throws(() => m.tx(() => {
    m.write(ip, 100, pattern(13, 3000)); // blocks 48..50
    m.write(kept, 0, pattern(14, 10)); // block 51
    m.inodes.markUnlinked(held);
    const extra = m.inodes.get(3);
    m.inodes.markUnlinked(extra);
    m.inodes.put(extra); // (held keeps it referenced)
    doomed = m.inodes.get(5);
    m.inodes.markUnlinked(doomed);
    m.inodes.put(doomed); // doomed
    const back = m.inodes.get(6);
    m.inodes.markUnlinked(back);
    m.inodes.put(back); // doomed...
    assert.equal(m.inodes.get(6), back); // ...and referenced again
    throw new FsError(Errno.EIO, 'boom');
  }), { message: 'boom' });
  assert.deepEqual([ip.valid, kept.valid, held.valid], [false, false, false], 'every inode reloads');
  assert.equal(kept.unlinked, true, 'a mark of an ended transaction stands');
  assert.equal(held.unlinked, false, 'a mark of the undone one does not');
  assert.equal(m.inodes.referenced(5), null);
  assert.notEqual(m.inodes.get(5), doomed, 'an unreferenced doomed entry left the table');
  const back = m.inodes.referenced(6);
  assert.ok(back !== null && back.ref === 1 && !back.unlinked, 'a referenced one stayed, unmarked');
  m.inodes.load(ip);
  assert.deepEqual([ip.size, ip.addrs], [100, addrs([FIRST_FREE])]);
  m.tx(() => { m.inodes.put(held); m.inodes.put(kept); }); // kept is freed: reloaded first (its block 51 was undone)
  m.log.sync();
  assert.deepEqual([2, 3, 4].map((i) => dinode(m.disk, i).type), [T_FILE, T_FILE, T_FREE]);
  assert.ok(used(m.disk, FIRST_FREE));
  for (let b = FIRST_FREE + 1; b < FIRST_FREE + 6; b++) assert.ok(!used(m.disk, b), `block ${b}`);
  assert.deepEqual(fsck(m.disk.durableImage()).errors, ["directory /: entry 'c' refers to inode 4, which is free"], 'and nothing else');
});

test('truncating a file of holes only: its size goes to 0 all the same', () => {
  const d = new Disk(IMAGE);
  pokeInode(d, 2, { type: T_FILE, nlink: 1, size: 3 * BSIZE + 7 });
  const m = mount(d);
  const ip = m.inodes.get(2);
  m.inodes.load(ip);
  m.tx(() => m.inodes.truncate(ip));
  assert.equal(ip.size, 0);
  m.log.sync();
  assert.equal(dinode(m.disk, 2).size, 0);
});

test('orphans: every inode in use with no link, corrupt ones left alone', () => {
  const d = new Disk(IMAGE);
  pokeInode(d, 0, { type: T_FILE, nlink: 0 }); // (inode 0 is never used)
  pokeInode(d, 3, { type: T_FILE, nlink: 0 });
  pokeInode(d, 15, { type: T_DIR, nlink: 0, size: 32, addrs: addrs([FIRST_FREE]) });
  pokeInode(d, 16, { type: T_DEVICE, nlink: 0, major: 1 });
  pokeInode(d, 20, { type: 9, nlink: 0 });
  pokeInode(d, 21, { type: T_FILE, nlink: 0, addrs: addrs([5]) });
  pokeInode(d, 22, { type: T_DIR, nlink: 0, size: 3 });
  pokeInode(d, 23, { type: T_FREE, nlink: 0, size: 9 });
  pokeInode(d, 24, { type: T_FILE, nlink: 2 });
  pokeInode(d, 199, { type: T_FILE, nlink: 0 });
  const m = mount(d);
  assert.deepEqual(m.inodes.orphans(), [3, 15, 16, 199]);
});

// ---- a model of three files, with power cuts -------------------------------------------------------

type Op =
  | { k: 'write'; f: number; at: 'end' | 'in' | 'past'; frac: number; len: number; seed: number }
  | { k: 'trunc'; f: number }
  | { k: 'read'; f: number; frac: number; len: number }
  | { k: 'sync' }
  | { k: 'tick' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('write' as const), f: fc.nat(2), at: fc.constantFrom('end' as const, 'end' as const, 'end' as const, 'in' as const, 'in' as const, 'past' as const), frac: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.nat(5 * BSIZE), seed: fc.nat(255) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('trunc' as const), f: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('read' as const), f: fc.nat(2), frac: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.nat(6 * BSIZE) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'tick' as const }) },
);

// 80 blocks: data 46..79, the root's 46; 33 free, so that ENOSPC comes up
const SMALL = mkfs({ size: 80, files: [{ name: 'a', data: E }, { name: 'b', data: E }, { name: 'c', data: E }] });
const SMALL_FREE = 80 - 47;
const blocksOf = (size: number): number => Math.ceil(size / BSIZE) + (size > NDIRECT * BSIZE ? 1 : 0);

test('model: random writes, reads and truncations of three files, then a power cut anywhere: all or nothing per group', () => {
  let cuts = 0;
  let enospc = 0;
  let indirect = 0;
  fc.assert(fc.property(fc.array(opArb, { minLength: 20, maxLength: 50 }), fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.nat()), { minLength: 1, maxLength: 3 }), (ops, cutsAt) => {
    const m = mount(SMALL);
    const d = m.disk;
    const files = [2, 3, 4].map((inum) => m.inodes.get(inum));
    let model: Uint8Array[] = [E, E, E];
    const states: Uint8Array[][] = [model];
    const txAt: number[] = [];
    d.onCommand = () => { txAt.push(states.length - 1); };
    for (const op of ops) {
      if (op.k === 'sync') { m.log.sync(); continue; }
      if (op.k === 'tick') { m.time.advance(COMMIT_MS); continue; }
      const ip = files[op.f]!;
      m.inodes.load(ip);
      const cur = model[op.f]!;
      assert.equal(ip.size, cur.length);
      if (op.k === 'read') {
        const off = Math.floor(op.frac * (cur.length + 2));
        assert.deepEqual(m.read(ip, off, op.len), cur.subarray(Math.min(off, cur.length), Math.min(cur.length, off + op.len)));
        continue;
      }
      if (op.k === 'trunc') {
        m.tx(() => m.inodes.truncate(ip));
        model = model.map((c, i) => (i === op.f ? E : c));
        states.push(model);
        continue;
      }
      const off = op.at === 'end' ? cur.length : op.at === 'past' ? cur.length + 1 : Math.floor(op.frac * cur.length);
      const bytes = pattern(op.seed, op.len);
      const end = Math.max(cur.length, off + op.len);
      const need = op.len === 0 ? 0 : blocksOf(end) - blocksOf(cur.length);
      const free = SMALL_FREE - model.reduce((s, c) => s + blocksOf(c.length), 0);
      if (off > cur.length) {
        throwsFs(() => m.tx(() => m.write(ip, off, bytes)), Errno.EINVAL, `writing at ${off}, past the end of a ${cur.length}-byte file`);
      } else if (need > free) {
        throwsFs(() => m.tx(() => m.write(ip, off, bytes)), Errno.ENOSPC, 'no free data block');
        enospc++;
      } else {
        assert.equal(m.tx(() => m.write(ip, off, bytes)), op.len);
        const next = new Uint8Array(end);
        next.set(cur);
        next.set(bytes, off);
        model = model.map((c, i) => (i === op.f ? next : c));
        states.push(model);
        if (end > NDIRECT * BSIZE) indirect++;
      }
    }
    d.onCommand = null;
    // every file as the model has it, in memory
    files.forEach((ip, i) => { m.inodes.load(ip); assert.deepEqual(m.read(ip, 0, MAXBYTES), model[i]); });
    const commitsAt = d.trace.flatMap((c, i) => (c.op === 'write' && c.lba === 0 && decodeLogHeader(c.data.subarray(2 * BSIZE, 3 * BSIZE)).n > 0 ? [i] : []));
    for (const [where, bits] of cutsAt) {
      const k = Math.min(d.trace.length, Math.floor(where * (d.trace.length + 1)));
      const firstOpen = k - d.openWrites(k);
      const keep = (i: number): boolean => ((bits >> (i % 30)) & 1) === 1;
      let last = -1;
      for (const i of commitsAt) if (i < firstOpen || (i < k && keep(i - firstOpen))) last = i;
      const want = states[last < 0 ? 0 : txAt[last]!]!;
      const c = d.crash(k, keep);
      const r = bench.mount(c);
      assert.deepEqual(decodeLogHeader(c.durableBlock(2)).n, 0);
      const read = c.reader(true);
      const image = c.durableImage();
      const report = fsck(image);
      assert.deepEqual(report.errors, [], `cut after ${k} of ${d.trace.length}`);
      [2, 3, 4].forEach((inum, i) => assert.deepEqual(readData(read, r.sb, readInode(read, r.sb, inum)), want[i], `cut after ${k}: file ${i}`));
      cuts++;
    }
  }), { seed: 20240611, numRuns: 100 });
  assert.ok(cuts >= 100);
  assert.ok(enospc > 0, 'ENOSPC came up');
  assert.ok(indirect > 0, 'files grew past their direct blocks');
});

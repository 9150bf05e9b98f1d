// The xv6 on-disk format (src/lib/xv6fs), mkfs and fsck (src/tools/fs) and their verbs.
//   - the codecs round-trip and put every field where xv6's structs have it;
//   - mkfs writes the same bytes as xv6-riscv's own mkfs (SHA-256 of images it made), a root
//     directory, files that read back, an exact bitmap; its refusals are clear;
//   - fsck passes what mkfs makes, finds each class of corruption it claims to (one test each,
//     the corruption made precisely), and never throws or runs long on random or hostile images;
//   - `frond mkfs` and `frond fsck`, run as a user runs them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  BPB, BSIZE, DINODE_SIZE, DIRENT_SIZE, DIRSIZ, FSMAGIC, IPB, LOG_HEADER_MAX, MAXFILE, NDIRECT, NINDIRECT, ROOTINO,
  T_DEVICE, T_DIR, T_FILE, bblock, bitOf, decodeDinode, decodeDirent, decodeLogHeader, decodeName, decodeSuperblock,
  encodeDinode, encodeDirent, encodeLogHeader, encodeSuperblock, encodeUtf8, iblock, inodeOffset, layoutOf, mkfsLayout,
  superblockOf, validateSuperblock, type Dinode, type Superblock,
} from '../src/lib/xv6fs/format.ts';
import { FsFormatError, imageReader, readDir, readFile, readInode, readSuperblock } from '../src/lib/xv6fs/image.ts';
import { MKFS_LIMITS, MkfsError, mkfs, type MkfsFile } from '../src/tools/fs/mkfs.ts';
import { MAX_ERRORS, fsck, type FsckResult } from '../src/tools/fs/fsck.ts';
import { ROOT } from './helpers.ts';

// ---- helpers -----------------------------------------------------------------------------------

/** `n` pseudo-random bytes from `seed` (xorshift32; the same generator made the reference images). */
function pattern(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = Math.imul(seed, 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const blk = (img: Uint8Array, b: number): Uint8Array => img.subarray(b * BSIZE, (b + 1) * BSIZE);
const sbOf = (img: Uint8Array): Superblock => decodeSuperblock(blk(img, 1));
const getInode = (img: Uint8Array, inum: number): Dinode => decodeDinode(blk(img, iblock(inum, sbOf(img))), inodeOffset(inum));
function putInode(img: Uint8Array, inum: number, d: Dinode): void {
  encodeDinode(d, blk(img, iblock(inum, sbOf(img))), inodeOffset(inum));
}
function editInode(img: Uint8Array, inum: number, edit: (d: Dinode) => void): void {
  const d = getInode(img, inum);
  edit(d);
  putInode(img, inum, d);
}
function isMarked(img: Uint8Array, b: number): boolean {
  const { byte, mask } = bitOf(b);
  return (blk(img, bblock(b, sbOf(img)))[byte]! & mask) !== 0;
}
function setBit(img: Uint8Array, b: number, on: boolean): void {
  const { byte, mask } = bitOf(b);
  const bm = blk(img, bblock(b, sbOf(img)));
  bm[byte] = on ? bm[byte]! | mask : bm[byte]! & ~mask;
}

/** The byte offset in `img` of the entry called `name` in directory `dir` (its first block only). */
function entryAt(img: Uint8Array, dir: number, name: string): number {
  const b = getInode(img, dir).addrs[0]!;
  for (let off = 0; off < BSIZE; off += DIRENT_SIZE) {
    const e = decodeDirent(blk(img, b), off);
    if (e.inum !== 0 && e.name === name) return b * BSIZE + off;
  }
  throw new Error(`no entry ${name} in inode ${dir}`);
}
function setEntry(img: Uint8Array, at: number, inum: number, name: string): void {
  encodeDirent({ inum, name }, img.subarray(at, at + DIRENT_SIZE));
}
/** Adds an entry in the first free slot of `dir`'s first block (growing its size to cover it). */
function addEntry(img: Uint8Array, dir: number, name: string, inum: number): void {
  const d = getInode(img, dir);
  for (let off = 0; off < BSIZE; off += DIRENT_SIZE) {
    if (decodeDirent(blk(img, d.addrs[0]!), off).inum !== 0) continue;
    setEntry(img, d.addrs[0]! * BSIZE + off, inum, name);
    d.size = Math.max(d.size, off + DIRENT_SIZE);
    putInode(img, dir, d);
    return;
  }
  throw new Error('directory block full');
}
function freeInode(img: Uint8Array): number {
  for (let i = 1; i < sbOf(img).ninodes; i++) if (getInode(img, i).type === 0) return i;
  throw new Error('no free inode');
}
function freeBlock(img: Uint8Array): number {
  const l = layoutOf(sbOf(img));
  for (let b = l.datastart; b < l.size; b++) if (!isMarked(img, b)) return b;
  throw new Error('no free block');
}
/** Makes directory `name` in `parent` as xv6's mkdir does (nlink 1; the parent's nlink + 1). */
function mkdir(img: Uint8Array, parent: number, name: string): number {
  const inum = freeInode(img);
  const b = freeBlock(img);
  setBit(img, b, true);
  setEntry(img, b * BSIZE, inum, '.');
  setEntry(img, b * BSIZE + DIRENT_SIZE, parent, '..');
  const d = decodeDinode(new Uint8Array(DINODE_SIZE));
  Object.assign(d, { type: T_DIR, nlink: 1, size: 2 * DIRENT_SIZE });
  d.addrs[0] = b;
  putInode(img, inum, d);
  addEntry(img, parent, name, inum);
  editInode(img, parent, (p) => { p.nlink++; });
  return inum;
}

/** A small image: README (inode 2, block 47), big (inode 3: blocks 48..59, indirect 60, 61..68),
 *  small (inode 4, block 69); the root directory is block 46. */
function base(): Uint8Array {
  return mkfs({ files: [{ name: 'README', data: text('hello\n') }, { name: 'big', data: pattern(1, 20 * BSIZE) }, { name: 'small', data: pattern(2, 100) }] });
}

/** fsck finds a problem matching each of `want` (and nothing throws). */
function expectProblems(img: Uint8Array, ...want: RegExp[]): FsckResult {
  const r = fsck(img);
  assert.equal(r.ok, false, 'fsck must find a problem');
  for (const re of want) assert.ok(r.errors.some((e) => re.test(e)), `no problem matches ${re}:\n${r.errors.join('\n')}`);
  return r;
}

function expectClean(img: Uint8Array): FsckResult {
  const r = fsck(img);
  assert.deepEqual(r.errors, [], 'fsck must find nothing wrong');
  assert.equal(r.ok, true);
  return r;
}

// ---- the format --------------------------------------------------------------------------------

test('constants are xv6-riscv\'s (kernel/fs.h, param.h, stat.h)', () => {
  assert.deepEqual([BSIZE, FSMAGIC, NDIRECT, NINDIRECT, MAXFILE, MAXFILE * BSIZE], [1024, 0x10203040, 12, 256, 268, 274432]);
  assert.deepEqual([DINODE_SIZE, IPB, BPB, DIRSIZ, DIRENT_SIZE, ROOTINO], [64, 16, 8192, 14, 16, 1]);
  assert.deepEqual([T_DIR, T_FILE, T_DEVICE], [1, 2, 3]);
});

test('mkfs\'s default layout is xv6\'s: 0 boot, 1 super, 2-31 log, 32-44 inodes, 45 bitmap, 46-1999 data', () => {
  const l = mkfsLayout();
  assert.deepEqual(l, { size: 2000, ninodes: 200, nlog: 30, logstart: 2, inodestart: 32, ninodeblocks: 13, bmapstart: 45,
    nbitmap: 1, datastart: 46, nblocks: 1954 });
  assert.deepEqual(sbOf(mkfs()), { magic: FSMAGIC, size: 2000, nblocks: 1954, ninodes: 200, nlog: 30, logstart: 2, inodestart: 32, bmapstart: 45 });
  assert.equal(iblock(0, l), 32);
  assert.equal(iblock(17, l), 33);
  assert.equal(inodeOffset(17), 64);
  assert.equal(bblock(8191, l), 45);
  assert.equal(bblock(8192, l), 46);
  assert.deepEqual(bitOf(11), { byte: 1, mask: 8 });
});

test('the structs are laid out as xv6\'s: little-endian, every field at its offset', () => {
  const sb = new Uint8Array(BSIZE);
  encodeSuperblock({ magic: FSMAGIC, size: 1, nblocks: 2, ninodes: 3, nlog: 4, logstart: 5, inodestart: 6, bmapstart: 0x01020304 }, sb);
  assert.deepEqual([...sb.subarray(0, 32)], [0x40, 0x30, 0x20, 0x10, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 4, 3, 2, 1]);
  const ino = new Uint8Array(2 * DINODE_SIZE);
  const d = decodeDinode(new Uint8Array(DINODE_SIZE));
  Object.assign(d, { type: T_FILE, major: -1, minor: 0x0102, nlink: 3, size: 0x0a0b0c0d });
  d.addrs[0] = 0x11223344;
  d.addrs[NDIRECT] = 7;
  encodeDinode(d, ino, DINODE_SIZE);
  assert.deepEqual([...ino.subarray(64, 80)], [2, 0, 0xff, 0xff, 2, 1, 3, 0, 0x0d, 0x0c, 0x0b, 0x0a, 0x44, 0x33, 0x22, 0x11]);
  assert.deepEqual([...ino.subarray(124, 128)], [7, 0, 0, 0], 'addrs[12] is the last 4 bytes');
  assert.ok(ino.subarray(0, 64).every((x) => x === 0), 'the inode before is untouched');
  const de = new Uint8Array(2 * DIRENT_SIZE).fill(0xee);
  encodeDirent({ inum: 0x1234, name: 'ab' }, de, DIRENT_SIZE);
  assert.deepEqual([...de.subarray(16)], [0x34, 0x12, 0x61, 0x62, ...new Array(12).fill(0)]);
  encodeDirent({ inum: 1, name: 'exactly14chars' }, de);
  assert.deepEqual(decodeDirent(de), { inum: 1, name: 'exactly14chars' }, 'a 14-byte name has no NUL');
  encodeDirent({ inum: 1, name: 'longer-than-fourteen' }, de);
  assert.equal(decodeDirent(de).name, 'longer-than-fo', 'cut to 14 bytes as xv6\'s strncpy does');
  const lh = new Uint8Array(BSIZE);
  encodeLogHeader({ n: 2, blocks: [46, 0x7fffffff] }, lh);
  assert.deepEqual([...lh.subarray(0, 12)], [2, 0, 0, 0, 46, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]);
});

test('superblock, inode, directory entry and log header round-trip (property)', () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const i16 = fc.integer({ min: -0x8000, max: 0x7fff });
  const block = new Uint8Array(BSIZE);
  fc.assert(fc.property(fc.tuple(u32, u32, u32, u32, u32, u32, u32, u32), (v) => {
    const sb = Object.fromEntries(['magic', 'size', 'nblocks', 'ninodes', 'nlog', 'logstart', 'inodestart', 'bmapstart'].map((k, i) => [k, v[i]])) as unknown as Superblock;
    encodeSuperblock(sb, block);
    assert.deepEqual(decodeSuperblock(block), sb);
  }));
  fc.assert(fc.property(i16, i16, i16, i16, u32, fc.array(u32, { minLength: NDIRECT + 1, maxLength: NDIRECT + 1 }), fc.nat(IPB - 1),
    (type, major, minor, nlink, size, addrs, slot) => {
      const d = { type, major, minor, nlink, size, addrs };
      encodeDinode(d, block, slot * DINODE_SIZE);
      assert.deepEqual(decodeDinode(block, slot * DINODE_SIZE), d);
    }));
  const name = fc.string({ unit: 'binary', maxLength: DIRSIZ })
    .filter((s) => !s.includes('\0') && !/\p{Cs}/u.test(s) && encodeUtf8(s).length <= DIRSIZ);
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), name, fc.nat(BSIZE / DIRENT_SIZE - 1), (inum, n, slot) => {
    encodeDirent({ inum, name: n }, block, slot * DIRENT_SIZE);
    assert.deepEqual(decodeDirent(block, slot * DIRENT_SIZE), { inum, name: n });
  }));
  fc.assert(fc.property(fc.array(fc.integer({ min: -0x80000000, max: 0x7fffffff }), { maxLength: LOG_HEADER_MAX }), (blocks) => {
    encodeLogHeader({ n: blocks.length, blocks }, block);
    assert.deepEqual(decodeLogHeader(block), { n: blocks.length, blocks });
  }));
});

test('names are UTF-8 exactly as a host\'s TextEncoder/TextDecoder have it, malformed bytes included (property)', () => {
  const dec = new TextDecoder('utf-8', { ignoreBOM: true });
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => assert.deepEqual(encodeUtf8(s), new TextEncoder().encode(s))));
  fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 3 }).map((s) => s + '\ud800'), (s) => assert.deepEqual(encodeUtf8(s), new TextEncoder().encode(s))));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 20 }), (b) => assert.equal(decodeName(b), dec.decode(b))));
  const edgy = fc.constantFrom(0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff);
  fc.assert(fc.property(fc.array(edgy, { maxLength: 14 }), (a) => assert.equal(decodeName(Uint8Array.from(a)), dec.decode(Uint8Array.from(a)))), { numRuns: 2000 });
});

test('validateSuperblock: xv6\'s layouts pass; each way a superblock can be wrong is one clear line', () => {
  fc.assert(fc.property(fc.integer({ min: 50, max: 1 << 20 }), fc.integer({ min: 2, max: 1 << 16 }), fc.integer({ min: 2, max: 300 }), (size, ninodes, nlog) => {
    const l = mkfsLayout(size, ninodes, nlog);
    fc.pre(l.nblocks >= 1);
    assert.equal(validateSuperblock(superblockOf(l)), null);
    assert.deepEqual(layoutOf(superblockOf(l)), l);
  }));
  const good = superblockOf(mkfsLayout());
  const bad = (edit: Partial<Superblock>, re: RegExp) => assert.match(validateSuperblock({ ...good, ...edit }) ?? 'accepted', re);
  bad({ magic: 0x10203041 }, /^bad magic number 0x10203041 in the superblock \(an xv6 file system has 0x10203040\)$/);
  bad({ logstart: 1 }, /^the log starts at block 1, over the boot block or the superblock/);
  bad({ nlog: 1 }, /^the log has 1 block\(s\); it needs a header block and at least one slot$/);
  bad({ nlog: 31 }, /^the inode blocks \(from block 32\) overlap the log \(blocks 2\.\.32\)$/);
  bad({ ninodes: 1 }, /inode 0 is never used/);
  bad({ ninodes: 209 }, /^the bitmap \(from block 45\) overlaps the inode blocks: 209 inodes need blocks 32\.\.45$/);
  bad({ nblocks: 2000 }, /no room for metadata/);
  bad({ nblocks: 1955 }, /^the data blocks \(from block 45 = size 2000 - nblocks 1955\) overlap the bitmap: 2000 blocks need bitmap blocks 45\.\.45$/);
  bad({ size: 9000, nblocks: 8954 }, /overlap the bitmap: 9000 blocks need bitmap blocks 45\.\.46/);
});

// ---- mkfs --------------------------------------------------------------------------------------

/** Inputs for which xv6-riscv's own mkfs (mkfs/mkfs.c at commit f5b93ef, built with gcc; for `big`
 *  with FSSIZE 20000, NINODES 1000 and LOGSIZE 50) made images with these SHA-256 sums, from the
 *  same files (made by pattern()) named in the same order on its command line. */
const XV6_IMAGES: { name: string; opts: { size?: number; ninodes?: number; nlog?: number }; files: MkfsFile[]; sha256: string }[] = [
  {
    name: 'defaults: text, empty, 13-block and largest files, a 14-byte name and a longer one',
    opts: {},
    files: [
      { name: 'README', data: text('Frond on xv6\n') }, { name: 'cat', data: pattern(1, 20000) },
      { name: 'largest', data: pattern(2, MAXFILE * BSIZE) }, { name: 'empty', data: new Uint8Array(0) },
      { name: 'thirteen', data: pattern(3, 13 * BSIZE) }, { name: 'fourteen-chars', data: pattern(4, 100) },
      { name: 'a-name-longer-than-14', data: pattern(5, 10) },
    ],
    sha256: '425f645931dbd63e4fa592184f2859c187cf1ba3f0f05f624ef93b54bc3547cd',
  },
  {
    name: '62 files: the root directory exactly fills its block (size rounded to 2048, a hole)',
    opts: {},
    files: Array.from({ length: 62 }, (_, i) => ({ name: `f${String(i).padStart(2, '0')}`, data: pattern(10 + i, 100 * i) })),
    sha256: 'a18db40d9affcc7a4b7a7a09b38384035551ab709e40924f1aec4c60631da070',
  },
  {
    name: '20000 blocks, 1000 inodes, a 50-block log: three bitmap blocks',
    opts: { size: 20000, ninodes: 1000, nlog: 50 },
    files: [{ name: 'a', data: pattern(6, MAXFILE * BSIZE) }, { name: 'b', data: pattern(7, 5000) },
      ...Array.from({ length: 100 }, (_, i) => ({ name: `n${i}`, data: pattern(100 + i, 3000 + i) }))],
    sha256: 'b72fa877955de44ea3db06d994aa062219273c56bd6c5fe8cddea3237b65279e',
  },
];

for (const c of XV6_IMAGES) {
  test(`mkfs makes the same bytes as xv6's mkfs: ${c.name}`, () => {
    const img = mkfs({ ...c.opts, files: c.files });
    assert.equal(sha256(img), c.sha256);
    expectClean(img);
  });
}

test('mkfs: the root directory holds ".", ".." and the files in order, each reading back; nlink 1 everywhere', () => {
  const { files } = XV6_IMAGES[0]!;
  const img = mkfs({ files });
  const read = imageReader(img);
  const sb = readSuperblock(read);
  const root = readInode(read, sb, ROOTINO);
  assert.deepEqual({ type: root.type, nlink: root.nlink, size: root.size }, { type: T_DIR, nlink: 1, size: BSIZE });
  assert.equal(root.addrs[0], 46, 'the root directory has the first data block');
  const names = files.map((f) => new TextDecoder().decode(encodeUtf8(f.name).subarray(0, DIRSIZ)));
  assert.deepEqual(readDir(read, sb, root), [
    { off: 0, inum: 1, name: '.' }, { off: 16, inum: 1, name: '..' },
    ...names.map((name, i) => ({ off: 32 + 16 * i, inum: 2 + i, name })),
  ]);
  files.forEach((f, i) => {
    assert.deepEqual(readFile(img, `/${f.name}`), f.data, f.name);
    const d = readInode(read, sb, 2 + i);
    assert.deepEqual({ type: d.type, nlink: d.nlink, size: d.size, major: d.major }, { type: T_FILE, nlink: 1, size: f.data.length, major: 0 });
  });
  assert.throws(() => readFile(img, 'nothing'), (e) => e instanceof FsFormatError && e.message === '/nothing: no such file or directory');
  assert.throws(() => readFile(img, 'README/x'), /\/README is not a directory/);
});

test('mkfs: blocks are handed out in xv6\'s order (a file\'s indirect block just before its 13th block)', () => {
  const img = base();
  const big = getInode(img, 3);
  assert.deepEqual(big.addrs, [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60]);
  const ind = new DataView(blk(img, 60).buffer, 60 * BSIZE, BSIZE);
  assert.deepEqual(Array.from({ length: 9 }, (_, i) => ind.getUint32(i * 4, true)), [61, 62, 63, 64, 65, 66, 67, 68, 0]);
  assert.equal(getInode(img, 4).addrs[0], 69);
  assert.equal(getInode(img, 2).addrs[0], 47);
});

test('mkfs: the bitmap marks exactly the blocks in use, metadata included, and nothing past them', () => {
  const img = base();
  const used = 70; // 46 metadata + root + README + big (20 + indirect) + small
  const marked = Array.from({ length: 2000 }, (_, b) => isMarked(img, b));
  assert.deepEqual(marked.map((m, b) => m === b < used).indexOf(false), -1);
  assert.ok(blk(img, 45).subarray(2000 / 8).every((x) => x === 0), 'no bits past the image');
  const r = expectClean(img);
  assert.deepEqual([r.stats.blocksUsed, r.stats.blocksMarked, r.stats.inodesUsed, r.stats.files, r.stats.dirs], [24, 24, 4, 3, 1]);
  assert.ok(blk(img, 0).every((x) => x === 0), 'the boot block is zero');
  assert.ok(blk(img, 1).subarray(32).every((x) => x === 0), 'the superblock is zero after its fields');
  assert.ok(img.subarray(2 * BSIZE, 32 * BSIZE).every((x) => x === 0), 'the log is empty');
});

test('mkfs refuses what xv6 cannot hold, with a clear message', () => {
  const refuse = (opts: Parameters<typeof mkfs>[0], re: RegExp) =>
    assert.throws(() => mkfs(opts), (e) => e instanceof MkfsError && re.test(e.message), re.source);
  refuse({ files: [{ name: 'huge', data: new Uint8Array(MAXFILE * BSIZE + 1) }] },
    /^file 'huge' is 274433 bytes; an xv6 file holds at most 274432 bytes \(268 blocks of 1024\)$/);
  refuse({ files: [{ name: 'a', data: new Uint8Array(0) }, { name: 'a', data: new Uint8Array(0) }] }, /^two files are named 'a'$/);
  refuse({ files: [{ name: 'same-first-14-a', data: new Uint8Array(0) }, { name: 'same-first-14-b', data: new Uint8Array(0) }] },
    /^files 'same-first-14-a' and 'same-first-14-b' have the same name in xv6, which keeps the first 14 bytes of a name$/);
  refuse({ files: [{ name: '', data: new Uint8Array(0) }] }, /^file name '' is empty$/);
  refuse({ files: [{ name: '..', data: new Uint8Array(0) }] }, /is reserved/);
  refuse({ files: [{ name: 'a/b', data: new Uint8Array(0) }] }, /contains '\/'/);
  refuse({ files: [{ name: 'a\0b', data: new Uint8Array(0) }] }, /contains a NUL byte/);
  refuse({ ninodes: 3, files: [{ name: 'a', data: new Uint8Array(0) }, { name: 'b', data: new Uint8Array(0) }] },
    /^2 files need 4 inodes \(inode 0 is unused, 1 is the root directory\) but the image has 3$/);
  refuse({ size: 60, files: [{ name: 'a', data: new Uint8Array(20 * BSIZE) }] },
    /^the image is full: its 14 data blocks ran out while adding file 'a'; make the image larger$/);
  refuse({ size: 46 }, /^a 46-block image has no room for data: boot block, superblock, 30 log, 13 inode and 1 bitmap blocks take 46 blocks$/);
  refuse({ size: 1.5 }, /^size must be a whole number of blocks from 1 to 2097152, not 1.5$/);
  refuse({ ninodes: 1 << 17 }, /^ninodes must be .* from 2 to 65536/);
  refuse({ nlog: 10 }, /^nlog must be a whole number of log blocks from 11 to 256, not 10$/);
  assert.deepEqual(MKFS_LIMITS.nlog, { min: 11, max: 256 });
  // The smallest image with room: one data block, the root directory's.
  expectClean(mkfs({ size: 47 }));
  expectClean(mkfs({ size: 20, ninodes: 2, nlog: 11 }));
});

test('mkfs + fsck + readFile on random file sets and geometries (property)', () => {
  const file = fc.record({ name: fc.stringMatching(/^[a-z0-9._-]{1,20}$/).filter((n) => n !== '.' && n !== '..'), size: fc.nat(MAXFILE * BSIZE), seed: fc.nat() });
  fc.assert(fc.property(fc.uniqueArray(file, { maxLength: 8, selector: (f) => f.name.slice(0, DIRSIZ) }), fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 11, max: 64 }), (specs, extra, nlog) => {
      const files = specs.map((s) => ({ name: s.name, data: pattern(s.seed, s.size) }));
      const img = mkfs({ size: 2400 + extra * 4000, ninodes: 16 + extra * 100, nlog, files });
      expectClean(img);
      for (const f of files) assert.deepEqual(readFile(img, f.name), f.data);
    }), { numRuns: 30 });
});

// ---- fsck: each class of problem ---------------------------------------------------------------

test('fsck: an image too short for a superblock, or not whole blocks', () => {
  assert.deepEqual(fsck(new Uint8Array(100)).errors, ['the image is 100 bytes: too short to hold a superblock (block 1, bytes 1024..2047)']);
  const img = base();
  const ragged = new Uint8Array(img.length + 10);
  ragged.set(img);
  assert.deepEqual(fsck(ragged).errors, [`the image is ${img.length + 10} bytes, not a whole number of 1024-byte blocks`]);
});

test('fsck: a bad superblock stops the check with one line', () => {
  const img = base();
  img[BSIZE] = 0x41;
  assert.deepEqual(fsck(img).errors, ['bad magic number 0x10203041 in the superblock (an xv6 file system has 0x10203040)']);
  const img2 = base();
  encodeSuperblock({ ...sbOf(img2), inodestart: 20 }, blk(img2, 1));
  assert.deepEqual(fsck(img2).errors, ['the inode blocks (from block 20) overlap the log (blocks 2..31)']);
});

test('fsck: a truncated image', () => {
  const img = base();
  const r = expectProblems(img.subarray(0, 60 * BSIZE), /^the image has 60 blocks but the superblock says 2000: it is truncated$/,
    /^inode 3: block 60 \(its indirect block\) is past the end of the truncated image$/);
  assert.ok(!r.errors.some((e) => /marked in use/.test(e)), 'blocks past the end are not checked against the bitmap');
  expectProblems(img.subarray(0, 40 * BSIZE), /truncated/, /^the metadata \(blocks 0\.\.45\) is not all in the image: nothing more can be checked$/);
});

test('fsck: the log header (n out of range, blocks out of range or twice); a committed log is replayed', () => {
  const logHeader = (img: Uint8Array, n: number, blocks: number[]) => {
    const v = new DataView(img.buffer, 2 * BSIZE, BSIZE);
    v.setInt32(0, n, true);
    blocks.forEach((b, i) => v.setInt32(4 + 4 * i, b, true));
  };
  let img = base();
  logHeader(img, 30, []);
  expectProblems(img, /^the log header \(block 2\) says 30 blocks are committed, but the log holds at most 29; the log was not replayed$/);
  img = base();
  logHeader(img, -1, []);
  expectProblems(img, /says -1 blocks/);
  img = base();
  logHeader(img, 3, [1, 2000, 47]);
  expectProblems(img, /^the log header's entry 0 names block 1, outside the inode, bitmap and data blocks \(32\.\.1999\)$/, /entry 1 names block 2000/,
    /^the log was not replayed: its header is damaged$/);
  img = base();
  logHeader(img, 2, [47, 47]);
  expectProblems(img, /^the log header names block 47 twice$/);
  // A committed transaction: slot 0 holds a new inode block making README's nlink 2. Home is unchanged.
  img = base();
  const inodes = blk(img, 32).slice();
  const d = decodeDinode(inodes, inodeOffset(2));
  d.nlink = 2;
  encodeDinode(d, inodes, inodeOffset(2));
  blk(img, 3).set(inodes);
  logHeader(img, 1, [32]);
  const before = img.slice();
  const r = expectProblems(img, /^inode 2 \(\/README\): nlink is 2, but 1 directory entries refer to it$/);
  assert.equal(r.stats.logReplayed, 1);
  assert.deepEqual(img, before, 'fsck changes nothing');
  // The same transaction restoring what a crash left half-written is clean.
  editInode(img, 2, (x) => { x.nlink = 5; });
  encodeDinode({ ...d, nlink: 1 }, blk(img, 3), inodeOffset(2));
  assert.equal(expectClean(img).stats.logReplayed, 1);
});

test('fsck: inode 0 in use, an unknown type, a size over MAXFILE, a directory size not whole entries', () => {
  let img = base();
  editInode(img, 0, (d) => { d.type = T_FILE; });
  expectProblems(img, /^inode 0 is in use \(type 2\); xv6 never uses inode 0$/);
  img = base();
  editInode(img, 4, (d) => { d.type = 7; });
  expectProblems(img, /^inode 4 has unknown type 7 \(1 directory, 2 file, 3 device; 0 free\)$/);
  img = base();
  editInode(img, 2, (d) => { d.size = MAXFILE * BSIZE + 1; });
  expectProblems(img, /^inode 2: size 274433 is over the largest file \(274432 bytes\)$/);
  img = base();
  editInode(img, 1, (d) => { d.size = 1000; });
  expectProblems(img, /^inode 1: a directory's size must be a multiple of 16 \(one entry\), not 1000$/);
});

test('fsck: block numbers outside the data blocks, directly and through the indirect block', () => {
  let img = base();
  editInode(img, 2, (d) => { d.addrs[1] = 45; });
  expectProblems(img, /^inode 2: block 45 \(addrs\[1\]\) is outside the data blocks \(46\.\.1999\)$/);
  img = base();
  new DataView(img.buffer, 60 * BSIZE).setUint32(4 * 7, 0xffffffff, true);
  expectProblems(img, /^inode 3: block 4294967295 \(entry 7 of indirect block 60\) is outside the data blocks/,
    /^block 68: marked in use in the bitmap, but nothing refers to it$/);
});

test('fsck: a block used twice (two files, or one file twice)', () => {
  let img = base();
  editInode(img, 4, (d) => { d.addrs[0] = 47; });
  expectProblems(img, /^block 47 is used twice: by inode 2 and by inode 4 \(addrs\[0\]\)$/, /^block 69: marked in use in the bitmap, but nothing refers to it$/);
  img = base();
  editInode(img, 3, (d) => { d.addrs[5] = 48; });
  expectProblems(img, /^inode 3 refers to block 48 twice \(the second time as addrs\[5\]\)$/);
});

test('fsck: the bitmap (a block in use marked free, a free block marked used, metadata marked free)', () => {
  let img = base();
  setBit(img, 47, false);
  expectProblems(img, /^block 47: in use \(by inode 2\) but free in the bitmap$/);
  img = base();
  for (const b of [100, 101, 102]) setBit(img, b, true);
  assert.deepEqual(fsck(img).errors, ['blocks 100..102 (3): marked in use in the bitmap, but nothing refers to them']);
  img = base();
  setBit(img, 0, false);
  setBit(img, 33, false);
  expectProblems(img, /^block 0: metadata, but free in the bitmap$/, /^block 33: metadata/);
});

test('fsck: directory entries naming a free inode, or one past the last', () => {
  let img = base();
  addEntry(img, ROOTINO, 'ghost', 9);
  assert.deepEqual(fsck(img).errors, ["directory /: entry 'ghost' refers to inode 9, which is free"]);
  img = base();
  addEntry(img, ROOTINO, 'far', 500);
  expectProblems(img, /^directory \/: entry 'far' refers to inode 500, past the last inode \(199\)$/);
});

test('fsck: link counts against directory entries (files and directories)', () => {
  let img = base();
  editInode(img, 4, (d) => { d.nlink = 2; });
  assert.deepEqual(fsck(img).errors, ['inode 4 (/small): nlink is 2, but 1 directory entries refer to it']);
  img = base();
  addEntry(img, ROOTINO, 'README-too', 2); // a hard link, but nlink not raised
  assert.deepEqual(fsck(img).errors, ['inode 2 (/README): nlink is 1, but 2 directory entries refer to it']);
  editInode(img, 2, (d) => { d.nlink = 2; });
  expectClean(img);
  img = base();
  const a = mkdir(img, ROOTINO, 'a');
  mkdir(img, a, 'b');
  expectClean(img); // xv6's counts: / has 2 (its "..", a's ".."), a has 2 (its entry, b's "..")
  assert.deepEqual([getInode(img, ROOTINO).nlink, getInode(img, a).nlink], [2, 2]);
  editInode(img, a, (d) => { d.nlink = 1; });
  assert.deepEqual(fsck(img).errors, ['directory /a: nlink is 1, but 2 directory entries refer to it']);
});

test('fsck: "." and ".." of the root and of a subdirectory', () => {
  let img = base();
  setEntry(img, entryAt(img, ROOTINO, '..'), 2, '..');
  expectProblems(img, /^directory \/: '\.\.' refers to inode 2, not to the root itself$/);
  img = base();
  setEntry(img, entryAt(img, ROOTINO, '.'), 0, '');
  expectProblems(img, /^directory \/: the entry at offset 0 must be '\.', but it is free$/);
  img = base();
  const a = mkdir(img, ROOTINO, 'a');
  const b = mkdir(img, a, 'b');
  setEntry(img, entryAt(img, b, '..'), ROOTINO, '..');
  expectProblems(img, /^directory \/a\/b: '\.\.' refers to inode 1, not to its parent, inode 5$/);
  img = base();
  const c = mkdir(img, ROOTINO, 'c');
  setEntry(img, entryAt(img, c, '.'), 4, '.');
  expectProblems(img, /^directory \/c: '\.' refers to inode 4, not to the directory itself$/);
  img = base();
  const d = mkdir(img, ROOTINO, 'd');
  setEntry(img, entryAt(img, d, '.'), d, 'x');
  expectProblems(img, /^directory \/d: the entry at offset 0 must be '\.', but it is 'x'$/);
});

test('fsck: directory loops, a directory with two names, unreachable inodes and directories', () => {
  let img = base();
  const a = mkdir(img, ROOTINO, 'a');
  const b = mkdir(img, a, 'b');
  addEntry(img, b, 'up', a);
  expectProblems(img, /^directory loop: entry 'up' in directory \/a\/b leads back to directory \/a$/);
  img = base();
  addEntry(img, ROOTINO, 'self', ROOTINO);
  expectProblems(img, /^directory loop: entry 'self' in directory \/ leads back to directory \/$/);
  img = base();
  const x = mkdir(img, ROOTINO, 'x');
  const y = mkdir(img, x, 'y');
  addEntry(img, ROOTINO, 'alias', y);
  expectProblems(img, /^directory \/x\/y is also named 'alias' in directory \/; a directory may have only one name$/);
  // Unreachable: a file whose entry was zeroed, and two directories that name only each other.
  img = base();
  setEntry(img, entryAt(img, ROOTINO, 'small'), 0, '');
  assert.deepEqual(fsck(img).errors, ['inode 4 (file, nlink 1) is in use but no directory reachable from / refers to it']);
  img = base();
  const p = mkdir(img, ROOTINO, 'p');
  const q = mkdir(img, p, 'q');
  addEntry(img, q, 'p', p);
  setEntry(img, entryAt(img, ROOTINO, 'p'), 0, '');
  expectProblems(img, new RegExp(`^inode ${p} \\(directory, nlink 2\\) is in use but no directory reachable from / refers to it$`),
    new RegExp(`^inode ${q} \\(directory`));
});

test('fsck: names that are empty, hold a "/", appear twice, or are extra "." entries', () => {
  const img = base();
  addEntry(img, ROOTINO, '', 2);
  addEntry(img, ROOTINO, 'a/b', 2);
  addEntry(img, ROOTINO, 'small', 4);
  addEntry(img, ROOTINO, '.', 1);
  editInode(img, 2, (d) => { d.nlink = 3; });
  editInode(img, 4, (d) => { d.nlink = 2; });
  expectProblems(img, /^directory \/: the entry at offset \d+ \(inode 2\) has an empty name$/, /^directory \/: entry 'a\/b' has a '\/' in its name$/,
    /^directory \/: two entries are named 'small'$/, /^directory \/: another '\.' entry at offset \d+$/);
});

test('fsck: a root inode that is free or not a directory', () => {
  let img = base();
  editInode(img, ROOTINO, (d) => { d.type = T_FILE; });
  expectProblems(img, /^the root inode \(1\) is a file, not a directory$/);
  img = base();
  editInode(img, ROOTINO, (d) => { Object.assign(d, { type: 0, nlink: 0 }); });
  expectProblems(img, /^the root directory \(inode 1\) is free$/);
});

test('fsck: holes and a block past a file\'s size are xv6 states, not problems; devices are fine', () => {
  const img = base();
  editInode(img, 3, (d) => { d.addrs[2] = 0; });
  setBit(img, 50, false);
  editInode(img, 2, (d) => { d.size = 0; });
  const dev = freeInode(img);
  putInode(img, dev, { type: T_DEVICE, major: 1, minor: 0, nlink: 1, size: 0, addrs: new Array(NDIRECT + 1).fill(0) });
  addEntry(img, ROOTINO, 'console', dev);
  assert.equal(expectClean(img).stats.devices, 1);
  assert.deepEqual(readFile(img, 'big').subarray(2 * BSIZE, 3 * BSIZE), new Uint8Array(BSIZE), 'a hole reads as zeros');
});

test('fsck lists at most MAX_ERRORS problems, then how many more', () => {
  const img = base();
  for (let b = 100; b < 2000; b += 2) setBit(img, b, true);
  const r = fsck(img);
  assert.equal(r.errors.length, MAX_ERRORS + 1);
  assert.equal(r.problems, 950);
  assert.equal(r.errors.at(-1), `... and ${950 - MAX_ERRORS} more problem(s)`);
});

// ---- fsck on hostile images --------------------------------------------------------------------

/** fsck's answer is well formed, it did not throw, and it came quickly. */
function fsckBounded(img: Uint8Array, ms = 3000): FsckResult {
  const t = performance.now();
  const r = fsck(img);
  const took = performance.now() - t;
  assert.ok(took < ms, `fsck took ${took.toFixed(0)} ms`);
  assert.ok(Array.isArray(r.errors) && r.errors.every((e) => typeof e === 'string' && e.length > 0 && !e.includes('\n')));
  assert.ok(r.errors.length <= MAX_ERRORS + 1);
  assert.equal(r.ok, r.errors.length === 0);
  assert.ok(!r.errors.some((e) => e.startsWith('fsck stopped')), r.errors.join('\n'));
  return r;
}

test('fsck never throws on random corruption of a valid image: flipped bytes, wild words, truncation (property)', () => {
  const valid = mkfs({ files: XV6_IMAGES[0]!.files.slice(0, 3) });
  const target = fc.integer({ min: 0, max: 120 }); // metadata, the root directory, file and indirect blocks
  const wild = fc.oneof(fc.constantFrom(0, 1, 2, 31, 32, 45, 46, 199, 200, 1999, 2000, 0x7fffffff, 0x80000000, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));
  const change = fc.oneof(
    fc.record({ b: target, off: fc.nat(BSIZE - 1), byte: fc.nat(255) }).map((c) => (img: Uint8Array) => { img[c.b * BSIZE + c.off] = c.byte; }),
    fc.record({ b: target, at: fc.nat(BSIZE / 4 - 1), v: wild }).map((c) => (img: Uint8Array) => { new DataView(img.buffer).setUint32(c.b * BSIZE + c.at * 4, c.v, true); }),
    fc.record({ b: target, at: fc.nat(BSIZE / 2 - 1), v: fc.nat(0xffff) }).map((c) => (img: Uint8Array) => { new DataView(img.buffer).setUint16(c.b * BSIZE + c.at * 2, c.v, true); }),
  );
  const truncation = fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: fc.nat(valid.length), weight: 1 });
  fc.assert(fc.property(fc.array(change, { minLength: 1, maxLength: 30 }), truncation, (changes, cut) => {
    const img = valid.slice();
    for (const c of changes) c(img);
    fsckBounded(cut === null ? img : img.subarray(0, cut));
  }), { numRuns: 300 });
});

test('fsck is bounded on hostile images: random inodes and directories over a valid superblock (property)', () => {
  // Every inode random (mostly allocated, block numbers anywhere), every data block full of entries
  // naming random inodes, "." and ".." included: loops, shared blocks, and wild sizes everywhere.
  fc.assert(fc.property(fc.nat(), fc.constantFrom(2000, 6000), (seed, size) => {
    const ninodes = size === 2000 ? 200 : 4000;
    const img = mkfs({ size, ninodes });
    const l = layoutOf(sbOf(img));
    let x = seed | 1;
    const next = (n: number) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
    for (let i = 1; i < ninodes; i++) {
      const addrs = Array.from({ length: NDIRECT + 1 }, () => (next(3) === 0 ? 0 : next(size + 50)));
      putInode(img, i, { type: next(4), major: 0, minor: 0, nlink: next(4), size: next(MAXFILE * BSIZE + 100), addrs });
    }
    const names = ['.', '..', 'a', 'b', 'c', '', 'x/y'];
    for (let b = l.datastart; b < size; b++) {
      for (let off = 0; off < BSIZE; off += DIRENT_SIZE) encodeDirent({ inum: next(ninodes + 5), name: names[next(names.length)]! }, blk(img, b), off);
    }
    for (let b = 0; b < size; b++) setBit(img, b, next(2) === 0);
    const res = fsckBounded(img);
    assert.equal(res.ok, false);
  }), { numRuns: 12 });
});

test('fsck is bounded when the superblock claims 4 billion blocks, or an inode table over the whole image', () => {
  const img = base();
  const bitmap = Math.ceil(0xffffffff / BPB);
  encodeSuperblock({ ...sbOf(img), size: 0xffffffff, nblocks: 0xffffffff - 45 - bitmap }, blk(img, 1));
  assert.deepEqual(fsckBounded(img, 1000).errors, ['the image has 2000 blocks but the superblock says 4294967295: it is truncated',
    `the metadata (blocks 0..${45 + bitmap - 1}) is not all in the image: nothing more can be checked`]);
  // Inode blocks 32..1899: the old bitmap, directory and file data read as 29,888 inodes.
  const img2 = base();
  encodeSuperblock({ ...sbOf(img2), ninodes: (1900 - 32) * IPB, bmapstart: 1900, nblocks: 99 }, blk(img2, 1));
  assert.equal(fsckBounded(img2, 2000).ok, false);
});

// ---- the verbs ---------------------------------------------------------------------------------

const frond = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/frond.mjs'), ...args], { encoding: 'utf8', cwd: ROOT });

test('frond mkfs puts host files in / by base name; frond fsck reports clean (0) or each problem (1)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'frond-xv6fs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const img = join(dir, 'fs.img');
  writeFileSync(join(dir, 'README'), 'hello from the host\n');
  writeFileSync(join(dir, 'a-rather-long-file-name'), pattern(9, 30000));
  const m = frond('mkfs', img, join(dir, 'README'), join(dir, 'a-rather-long-file-name'), '--size', '3000', '--inodes=64', '--log', '40');
  assert.equal(m.status, 0, m.stderr);
  assert.equal(m.stderr, '');
  assert.equal(m.stdout, `${img}: 3000 blocks of 1024 bytes: boot 0, superblock 1, log 2..41, inodes 42..46 (64 inodes), bitmap 47, data 48..2999\n` +
    '  2 files in /; 3 of 63 inodes and 33 of 2952 data blocks in use\n' +
    "  note: 'a-rather-long-file-name' is named 'a-rather-long-' in the image (xv6 keeps the first 14 bytes of a name)\n");
  const bytes = new Uint8Array(readFileSync(img));
  assert.deepEqual(sbOf(bytes), { magic: FSMAGIC, size: 3000, nblocks: 2952, ninodes: 64, nlog: 40, logstart: 2, inodestart: 42, bmapstart: 47 });
  assert.equal(new TextDecoder().decode(readFile(bytes, 'README')), 'hello from the host\n');
  assert.deepEqual(readFile(bytes, 'a-rather-long-file-name'), pattern(9, 30000));

  const clean = frond('fsck', img);
  assert.equal(clean.status, 0, clean.stdout + clean.stderr);
  assert.equal(clean.stdout, `${img}: xv6 file system, 3000 blocks (48 metadata, 2952 data), 64 inodes, log of 40 blocks\n` +
    '  3 inodes in use: 1 directory, 2 files, 0 devices; 33 of 2952 data blocks in use\n  log: empty\n' + `${img}: clean\n`);

  setBit(bytes, 2000, true);
  editInode(bytes, 2, (d) => { d.nlink = 3; });
  writeFileSync(img, bytes);
  const bad = frond('fsck', img);
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, '');
  assert.match(bad.stdout, /^ {2}inode 2 \(\/README\): nlink is 3, but 1 directory entries refer to it$/m);
  assert.match(bad.stdout, /^ {2}block 2000: marked in use in the bitmap, but nothing refers to it$/m);
  assert.match(bad.stdout, new RegExp(`^${img.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 2 problems found\n$`, 'm'));

  const garbage = join(dir, 'garbage');
  writeFileSync(garbage, 'not an image');
  const g = frond('fsck', garbage);
  assert.equal(g.status, 1);
  assert.match(g.stdout, /too short to hold a superblock/);

  // Every argument is checked before the image is written: a bad one leaves it as it was.
  const before = readFileSync(img);
  const big = join(dir, 'big');
  writeFileSync(big, new Uint8Array(MAXFILE * BSIZE + 1));
  for (const [args, want] of [
    [[join(dir, 'README'), big], /^frond mkfs: .*big: 274433 bytes; an xv6 file holds at most 274432 bytes \(268 blocks of 1024\)$/],
    [[join(dir, 'README'), join(dir, 'README')], /^frond mkfs: two files are named 'README'$/],
    [[join(dir, 'nonexistent')], /^frond mkfs: .*nonexistent: no such file or directory$/],
    [['--size', '46'], /^frond mkfs: a 46-block image has no room for data/],
  ] as [string[], RegExp][]) {
    const r = frond('mkfs', img, ...args);
    assert.equal(r.status, 1, args.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr.trimEnd(), want);
    assert.deepEqual(readFileSync(img), before, 'the image is untouched');
  }
  const dflt = frond('mkfs', join(dir, 'default.img'));
  assert.equal(dflt.status, 0, dflt.stderr);
  assert.equal(sha256(readFileSync(join(dir, 'default.img'))), sha256(mkfs()), 'with no options: xv6\'s defaults');
});

// The rv6 file-system domain (src/domains/rv6/fs) over the NVMe driver behind its shadow, on images
// made by mkfs and checked by fsck after every test:
//   - xv6's calls: create, write, read, link, unlink, mkdir, mknod, chdir; 14-byte names; a file of
//     MAXFILE blocks and EFBIG past it; O_TRUNC; an unlinked file freed at its last reference;
//   - ENOSPC for blocks and for inodes, leaving nothing half-done;
//   - the log: recovery of a committed group at init, the group commit's timer, power cuts at
//     random points (the disk is then a consistent prefix of the calls);
//   - a bad image: a bad superblock or log header refused at init; a corrupt inode, a directory
//     loop and wild entries failing only the calls that touch them;
//   - hostile arguments, and a driver crashing under a workload (invisible to the fs).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { boot, tick } from './helpers.ts';
import { BLOCK_BUDGET_MS, startBlock, type BlockOptions, type BlockPath } from '../src/boot/block.ts';
import { IoBuf, bindHeap } from '../src/idl/generated/structs.ts';
import type { Fs, FsNode } from '../src/idl/rv6.ts';
import type { Domain } from '../src/kernel/domain.ts';
import { Errno, IO_MAX, O, T } from '../src/lib/rv6/abi.ts';
import { COMMIT_MS } from '../src/domains/rv6/fs/param.ts';
import {
  BPB, BSIZE, DIRENT_SIZE, MAXFILE, NDIRECT, bblock, bitOf, decodeDinode, decodeLogHeader, decodeSuperblock,
  encodeDinode, encodeDirent, encodeLogHeader, iblock, inodeOffset, type Superblock,
} from '../src/lib/xv6fs/format.ts';
import { readFile } from '../src/lib/xv6fs/image.ts';
import { mkfs, type MkfsFile } from '../src/tools/fs/mkfs.ts';
import { fsck } from '../src/tools/fs/fsck.ts';

const b = await boot(['src/domains/drivers/nvme', 'src/domains/shadows/bdev', 'src/domains/rv6/fs']);
bindHeap(b.k.heapCap());

// ---- set-up ------------------------------------------------------------------------------------

interface Mounted {
  fs: Fs;
  domain: Domain;
  p: BlockPath;
  /** the device's durable storage now (a copy) */
  disk(): Uint8Array;
  /** syncs, then checks the durable image with fsck */
  check(): void;
}

const paths: BlockPath[] = [];
after(async () => { for (const p of paths) await p.stop(); });

let devices = 0;
/** A device holding `image` (and nothing past it), with the fs domain over it. */
async function mount(image: Uint8Array, config: Record<string, number> = {}): Promise<Mounted> {
  const p = await device(image);
  const { fs, domain } = startFs(p, config);
  return mounted(p, fs, domain);
}

async function device(image: Uint8Array, o: Partial<BlockOptions> = {}): Promise<BlockPath> {
  const n = devices++;
  const p = await startBlock(b.k, { blocks: Math.ceil(image.length / 4096), shadow: true, device: `fs${n}`, irq: 40 + n, ...o });
  paths.push(p);
  p.dev.storage.set(image);
  return p;
}

function startFs(p: BlockPath, config: Record<string, number> = {}): { fs: Fs; domain: Domain } {
  const r = b.k.create<Fs>('fs', { bdev: p.bdev }, { budgetMs: BLOCK_BUDGET_MS, config });
  return { fs: r.api, domain: r.domain };
}

function mounted(p: BlockPath, fs: Fs, domain: Domain): Mounted {
  const disk = (): Uint8Array => p.dev.storage.slice();
  return {
    fs, domain, p, disk,
    check() {
      assert.equal(call(fs.sync()), 0, 'sync');
      const r = fsck(disk());
      assert.deepEqual(r.errors, [], 'fsck finds nothing wrong');
      assert.equal(domain.alive, true, 'the fs domain is alive');
    },
  };
}

async function unmount(m: Mounted): Promise<void> {
  if (m.domain.alive) b.k.kill(m.domain, 'shutdown');
  await m.p.stop();
  paths.splice(paths.indexOf(m.p), 1);
}

function call<T>(r: { ok: true; value: T } | { ok: false; error: { message: string } }): T {
  if (!r.ok) assert.fail(`the call failed: ${r.error.message}`);
  return r.value;
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** `n` pseudo-random bytes from `seed`. */
function pattern(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = Math.imul(seed + 1, 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

// ---- calls, as the core domain makes them ---------------------------------------------------------

/** open; the node (err set on failure). */
function open(fs: Fs, path: string, flags = 0, cwd = 0): FsNode {
  return call(fs.open(cwd, path, flags));
}

/** Opens (must succeed) and returns the inode number. */
function openOk(fs: Fs, path: string, flags = 0, cwd = 0): number {
  const n = open(fs, path, flags, cwd);
  assert.equal(n.err, 0, `open ${path}: ${n.err}`);
  return n.inum;
}

function write(fs: Fs, inum: number, off: number, data: Uint8Array, n = data.length): number {
  const buf = IoBuf.alloc();
  IoBuf.writeData(buf, 0, data.subarray(0, Math.min(data.length, IO_MAX)));
  IoBuf.setN(buf, n);
  const back = call(fs.write(inum, off, buf));
  const got = IoBuf.n(back);
  IoBuf.free(back);
  return got;
}

/** read; the bytes, or the negative errno. */
function read(fs: Fs, inum: number, off: number, n: number): Uint8Array | number {
  const back = call(fs.read(inum, off, IoBuf.alloc(), n));
  const got = IoBuf.n(back);
  const out = got >= 0 ? new Uint8Array(got) : null;
  if (out) IoBuf.readData(back, 0, out, 0, got);
  IoBuf.free(back);
  return out ?? got;
}

/** A whole file's contents through the fs, read IO_MAX at a time. */
function readAll(fs: Fs, inum: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let off = 0; ; ) {
    const r = read(fs, inum, off, IO_MAX);
    assert.ok(r instanceof Uint8Array, `read at ${off}: ${r as number}`);
    if (r.length === 0) break;
    parts.push(r);
    off += r.length;
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Writes `data` from offset 0, IO_MAX at a time. */
function writeAll(fs: Fs, inum: number, data: Uint8Array): void {
  for (let off = 0; off < data.length; off += IO_MAX) {
    const piece = data.subarray(off, off + IO_MAX);
    assert.equal(write(fs, inum, off, piece), piece.length, `write at ${off}`);
  }
}

/** Creates `path` holding `data`, and gives back the reference. */
function createFile(fs: Fs, path: string, data: Uint8Array, cwd = 0): void {
  const inum = openOk(fs, path, O.CREATE | O.RDWR, cwd);
  writeAll(fs, inum, data);
  assert.equal(call(fs.put(inum)), 0);
}

function slurp(fs: Fs, path: string, cwd = 0): string {
  const inum = openOk(fs, path, 0, cwd);
  const s = dec(readAll(fs, inum));
  call(fs.put(inum));
  return s;
}

// ---- images ------------------------------------------------------------------------------------

function superblock(image: Uint8Array): Superblock {
  return decodeSuperblock(image.subarray(BSIZE, 2 * BSIZE));
}

function blockOf(image: Uint8Array, bn: number): Uint8Array {
  return image.subarray(bn * BSIZE, (bn + 1) * BSIZE);
}

function inodeAt(image: Uint8Array, inum: number): { block: Uint8Array; off: number } {
  return { block: blockOf(image, iblock(inum, superblock(image))), off: inodeOffset(inum) };
}

const README: MkfsFile = { name: 'README', data: enc('xv6 is a re-implementation of Unix V6.\n') };

// ---- tests -------------------------------------------------------------------------------------

test('the calls of xv6: create, write, read, mkdir, chdir, link, unlink, mknod, 14-byte names', async () => {
  const m = await mount(mkfs({ files: [README] }));
  const { fs } = m;
  assert.equal(slurp(fs, '/README'), dec(README.data), 'a file mkfs made reads back');

  const root = call(fs.chdir(0, '/'));
  assert.equal(root.err, 0);
  assert.equal(root.inum, 1);
  assert.equal(root.type, T.DIR);

  assert.equal(call(fs.mkdir(0, '/d')), 0);
  assert.equal(call(fs.mkdir(root.inum, 'd')), -Errno.EEXIST);
  assert.equal(call(fs.mkdir(0, '/d/e')), 0);
  const d = call(fs.chdir(0, '/d'));
  assert.equal(d.err, 0);
  assert.equal(d.nlink, 2, 'a directory with one subdirectory has nlink 2 (xv6)');
  createFile(fs, 'f', enc('hello, '), d.inum);
  const f = openOk(fs, 'e/../f', O.RDWR, d.inum);
  assert.equal(write(fs, f, 7, enc('world')), 5);
  assert.equal(dec(readAll(fs, f)), 'hello, world');
  assert.equal(call(fs.stat(f)).size, 12);
  assert.equal(call(fs.put(f)), 0);

  // 14-byte names work; 15 bytes are refused, not cut
  const fourteen = 'abcdefghijklmn';
  createFile(fs, `/d/${fourteen}`, enc('14'));
  assert.equal(slurp(fs, `/d/${fourteen}`), '14');
  assert.equal(open(fs, `/d/${fourteen}o`).err, -Errno.ENAMETOOLONG);
  assert.equal(open(fs, `/d/${fourteen}o`, O.CREATE).err, -Errno.ENAMETOOLONG);

  // link and unlink
  assert.equal(call(fs.link(0, '/d/f', '/g')), 0);
  assert.equal(call(fs.stat(openOk(fs, '/g'))).nlink, 2);
  assert.equal(call(fs.link(0, '/d/f', '/g')), -Errno.EEXIST);
  assert.equal(call(fs.link(0, '/d', '/d2')), -Errno.EPERM, 'a directory cannot be linked');
  assert.equal(call(fs.link(0, '/nothing', '/x')), -Errno.ENOENT);
  assert.equal(call(fs.unlink(0, '/d/f')), 0);
  assert.equal(slurp(fs, '/g'), 'hello, world');
  assert.equal(open(fs, '/d/f').err, -Errno.ENOENT);
  assert.equal(call(fs.unlink(0, '/d')), -Errno.ENOTEMPTY);
  assert.equal(call(fs.unlink(0, '/d/.')), -Errno.EINVAL);
  assert.equal(call(fs.unlink(0, '/d/..')), -Errno.EINVAL);
  assert.equal(call(fs.unlink(0, '/')), -Errno.EBUSY);
  assert.equal(call(fs.unlink(0, '/d/e')), 0);
  assert.equal(call(fs.stat(d.inum)).nlink, 1, "the parent lost the removed directory's '..'");

  // devices, and what may not be opened how
  assert.equal(call(fs.mknod(0, '/console', 1, 0)), 0);
  const c = open(fs, '/console', O.RDWR);
  assert.deepEqual([c.err, c.type, c.major, c.minor], [0, T.DEVICE, 1, 0]);
  assert.equal(open(fs, '/console', O.CREATE).err, 0, 'O_CREATE opens an existing device');
  assert.equal(call(fs.mknod(0, '/console', 1, 0)), -Errno.EEXIST);
  assert.equal(open(fs, '/d', O.WRONLY).err, -Errno.EISDIR);
  assert.equal(open(fs, '/d', O.CREATE).err, -Errno.EISDIR);
  assert.equal(open(fs, '/d').err, 0, 'a directory opens for reading');
  assert.equal(open(fs, '/README/x').err, -Errno.ENOTDIR);
  assert.equal(call(fs.chdir(0, '/README')).err, -Errno.ENOTDIR);
  const wd = write(fs, d.inum, 0, enc('x'));
  assert.equal(wd, -Errno.EISDIR);

  // a directory read as a file: its entries ("." first)
  const ents = read(fs, d.inum, 0, 2 * DIRENT_SIZE);
  assert.ok(ents instanceof Uint8Array);
  assert.deepEqual([ents[0] | (ents[1] << 8), ents[2]], [d.inum, 0x2e]);

  m.check();
  // what xv6's tools see on the disk
  const img = m.disk();
  assert.equal(dec(readFile(img, '/g')), 'hello, world');
  assert.equal(dec(readFile(img, `/d/${fourteen}`)), '14');
  await unmount(m);
});

test('a file of MAXFILE blocks, EFBIG past it, O_TRUNC, and all-or-nothing writes', async () => {
  const m = await mount(mkfs());
  const { fs } = m;
  const big = pattern(7, MAXFILE * BSIZE);
  const inum = openOk(fs, '/big', O.CREATE | O.RDWR);
  writeAll(fs, inum, big);
  assert.equal(call(fs.stat(inum)).size, MAXFILE * BSIZE);
  assert.equal(write(fs, inum, MAXFILE * BSIZE, enc('x')), -Errno.EFBIG);
  assert.equal(write(fs, inum, MAXFILE * BSIZE - 2, enc('xyz')), -Errno.EFBIG, 'a write crossing the limit is refused whole');
  assert.equal(call(fs.stat(inum)).size, MAXFILE * BSIZE);
  assert.deepEqual(readAll(fs, inum), big);
  const mid = read(fs, inum, 5000, 100000);
  assert.deepEqual(mid, big.subarray(5000, 5000 + IO_MAX), 'a read moves at most IO_MAX bytes');
  assert.equal(write(fs, inum, MAXFILE * BSIZE + 10, enc('x')), -Errno.EINVAL, 'past the end');
  m.check();
  assert.deepEqual(readFile(m.disk(), '/big'), big);

  const t = openOk(fs, '/big', O.WRONLY | O.TRUNC);
  assert.equal(t, inum);
  assert.equal(call(fs.stat(inum)).size, 0);
  assert.equal(read(fs, inum, 0, 10) instanceof Uint8Array && (read(fs, inum, 0, 10) as Uint8Array).length, 0);
  writeAll(fs, inum, enc('small'));
  call(fs.put(inum));
  call(fs.put(t));
  m.check();
  assert.equal(fsck(m.disk()).stats.blocksUsed, 2, 'the root directory and one data block: the rest was freed');
  await unmount(m);
});

test('an unlinked file lives until its last reference goes, then it is freed', async () => {
  const m = await mount(mkfs());
  const { fs } = m;
  createFile(fs, '/tmp', pattern(1, 20 * BSIZE));
  const a = openOk(fs, '/tmp');
  assert.equal(call(fs.dup(a)), 0);
  assert.equal(call(fs.unlink(0, '/tmp')), 0);
  assert.equal(open(fs, '/tmp').err, -Errno.ENOENT);
  assert.equal(call(fs.stat(a)).nlink, 0);
  assert.deepEqual(readAll(fs, a), pattern(1, 20 * BSIZE), 'still readable through the reference');
  assert.equal(write(fs, a, 0, enc('still writable')), 14);
  assert.equal(call(fs.put(a)), 0);
  assert.equal(call(fs.stat(a)).err, 0, 'one reference left');
  assert.equal(call(fs.put(a)), 0);
  assert.equal(call(fs.stat(a)).err, -Errno.EBADF, 'no reference left');
  m.check();
  const s = fsck(m.disk()).stats;
  assert.deepEqual([s.inodesUsed, s.blocksUsed], [1, 1], 'only the root is left');

  // an unlinked directory that is someone's working directory: nothing can be created in it
  assert.equal(call(fs.mkdir(0, '/w')), 0);
  const w = call(fs.chdir(0, '/w'));
  assert.equal(call(fs.unlink(0, '/w')), 0);
  assert.equal(open(fs, 'x', O.CREATE, w.inum).err, -Errno.ENOENT);
  assert.equal(call(fs.put(w.inum)), 0);
  m.check();
  await unmount(m);
});

test('ENOSPC for blocks and for inodes undoes the whole call; the space comes back', async () => {
  const m = await mount(mkfs({ size: 200, ninodes: 24 }));
  const { fs } = m;
  const before = fsck(m.disk()).stats;
  // fill the disk with one file, 4 KiB at a time: the last write fails whole
  const f = openOk(fs, '/fill', O.CREATE | O.RDWR);
  let off = 0;
  for (let r = 0; (r = write(fs, f, off, pattern(off, IO_MAX))) > 0;) off += r;
  assert.equal(write(fs, f, off, pattern(off, IO_MAX)), -Errno.ENOSPC);
  assert.equal(call(fs.stat(f)).size, off, 'the failed write left the size alone');
  m.check();
  const mid = fsck(m.disk()).stats;
  assert.ok(mid.blocksMarked >= mid.nblocks - 3, `the disk is nearly full (${mid.blocksMarked} of ${mid.nblocks})`);
  // one-byte writes fill the last free blocks, and fail cleanly once none is left
  let r = 0;
  for (; (r = write(fs, f, off, enc('x'))) === 1; off++);
  assert.equal(r, -Errno.ENOSPC);
  assert.equal(call(fs.stat(f)).size, off);
  assert.equal(call(fs.mkdir(0, '/nospace')), -Errno.ENOSPC, 'a directory needs a block');
  assert.equal(open(fs, '/nospace').err, -Errno.ENOENT, 'and was not half made');
  call(fs.put(openOk(fs, '/empty', O.CREATE)));
  call(fs.put(f));
  m.check();
  const full = fsck(m.disk()).stats;
  assert.equal(full.blocksMarked, full.nblocks, 'every data block in use');

  // out of inodes: empty files until none is left
  assert.equal(call(fs.unlink(0, '/fill')), 0);
  assert.equal(call(fs.unlink(0, '/empty')), 0);
  let made = 0;
  for (; ; made++) {
    const n = open(fs, `/f${made}`, O.CREATE);
    if (n.err !== 0) { assert.equal(n.err, -Errno.ENOSPC); break; }
    call(fs.put(n.inum));
  }
  assert.equal(made, 24 - 2, 'every inode but 0 and the root');
  m.check();
  for (let i = 0; i < made; i++) assert.equal(call(fs.unlink(0, `/f${i}`)), 0);
  m.check();
  const end = fsck(m.disk()).stats;
  assert.deepEqual([end.inodesUsed, end.blocksUsed], [before.inodesUsed, before.blocksUsed], 'all back');
  await unmount(m);
});

test('init installs a committed group left in the log, and frees orphaned inodes', async () => {
  const img = mkfs({ files: [README, { name: 'orphan', data: pattern(3, 3 * BSIZE) }] });
  const sb = superblock(img);
  // A crash while "orphan" was open after its unlink: its inode in use with nlink 0, and no name.
  const orphan = inodeAt(img, 3);
  encodeDinode({ ...decodeDinode(orphan.block, orphan.off), nlink: 0 }, orphan.block, orphan.off);
  const root = inodeAt(img, 1);
  blockOf(img, decodeDinode(root.block, root.off).addrs[0]).fill(0, 3 * DIRENT_SIZE, 4 * DIRENT_SIZE);
  // A committed transaction never installed: README's first block, and its inode (size 5).
  const readme = inodeAt(img, 2);
  const d = decodeDinode(readme.block, readme.off);
  const newData = new Uint8Array(BSIZE);
  newData.set(enc('Frond'));
  blockOf(img, sb.logstart + 1).set(newData);
  const inodeBlock = blockOf(img, iblock(2, sb)).slice();
  encodeDinode({ ...d, size: 5 }, inodeBlock, inodeOffset(2));
  blockOf(img, sb.logstart + 2).set(inodeBlock);
  encodeLogHeader({ n: 2, blocks: [d.addrs[0], iblock(2, sb)] }, blockOf(img, sb.logstart));
  assert.equal(dec(readFile(img, '/README')).slice(0, 5), 'xv6 i', 'not installed yet');

  const m = await mount(img);
  assert.equal(slurp(m.fs, '/README'), 'Frond');
  assert.ok(b.logs.some((l) => l.includes('recovered 2 logged blocks, freed 1 orphaned inodes')), 'init says what it did');
  m.check();
  const disk = m.disk();
  assert.equal(decodeLogHeader(blockOf(disk, sb.logstart)).n, 0, 'the log is empty');
  assert.equal(fsck(disk).stats.inodesUsed, 2);
  await unmount(m);
});

test('init refuses a bad superblock and a corrupt log header with a clear message', async () => {
  const cases: [string, (img: Uint8Array) => void, RegExp][] = [
    ['bad magic', (img) => { img[BSIZE] ^= 1; }, /fs: bad superblock: bad magic number/],
    ['larger than the device', (img) => { new DataView(img.buffer).setUint32(BSIZE + 4, 100000, true); }, /fs: bad superblock:.*(device|data blocks)/],
    ['log header n too large', (img) => { new DataView(img.buffer).setInt32(2 * BSIZE, 500, true); }, /fs: corrupt log header.*refusing/],
    ['log header n negative', (img) => { new DataView(img.buffer).setInt32(2 * BSIZE, -1, true); }, /fs: corrupt log header/],
    ['log home block out of range', (img) => { encodeLogHeader({ n: 1, blocks: [1] }, blockOf(img, 2)); }, /fs: corrupt log header.*home block 1/],
  ];
  for (const [what, spoil, message] of cases) {
    const img = mkfs({ files: [README] });
    spoil(img);
    const p = await device(img);
    assert.throws(() => startFs(p), message, what);
    await p.stop();
    paths.splice(paths.indexOf(p), 1);
  }
});

test('a corrupt inode, a directory loop and wild entries fail only the calls that touch them', async () => {
  const img = mkfs({ files: [README, { name: 'bad', data: enc('x') }, { name: 'wide', data: enc('y') }, { name: 'ind', data: pattern(2, 14 * BSIZE) }] });
  const sb = superblock(img);
  const bad = inodeAt(img, 3);
  new DataView(bad.block.buffer, bad.block.byteOffset).setInt16(bad.off, 9, true); // type 9
  const wide = inodeAt(img, 4);
  new DataView(wide.block.buffer, wide.block.byteOffset).setUint32(wide.off + 12, sb.size + 5, true); // addrs[0] off the disk
  const ind = inodeAt(img, 5);
  const indBlock = decodeDinode(ind.block, ind.off).addrs[NDIRECT];
  new DataView(img.buffer).setUint32(indBlock * BSIZE + 4, 7, true); // file block 13 -> the log
  const m = await mount(img);
  const { fs } = m;
  assert.equal(open(fs, '/bad').err, -Errno.EIO);
  assert.equal(open(fs, '/wide').err, -Errno.EIO);
  assert.equal(call(fs.unlink(0, '/bad')), -Errno.EIO);
  const i = openOk(fs, '/ind');
  assert.deepEqual(read(fs, i, 12 * BSIZE, 100), pattern(2, 14 * BSIZE).subarray(12 * BSIZE, 12 * BSIZE + 100), 'block 12 is fine');
  assert.equal(read(fs, i, 13 * BSIZE, 100), -Errno.EIO, 'block 13 is not');
  assert.equal(write(fs, i, 13 * BSIZE, enc('z')), -Errno.EIO);
  assert.equal(open(fs, '/ind', O.TRUNC | O.WRONLY).err, -Errno.EIO, 'truncation stops at the bad entry, undone');
  assert.equal(call(fs.stat(i)).size, 14 * BSIZE);
  assert.equal(slurp(fs, '/README'), dec(README.data), 'the rest works');

  // a directory with an entry naming itself, one naming the root, and wild ones
  assert.equal(call(fs.mkdir(0, '/a')), 0);
  assert.equal(call(fs.mkdir(0, '/a/b')), 0);
  assert.equal(call(fs.sync()), 0);
  await unmount(m);
  const img2 = m.disk();
  const aInum = 6;
  const a = decodeDinode(inodeAt(img2, aInum).block, inodeAt(img2, aInum).off);
  assert.equal(a.type, T.DIR);
  const dirBlock = blockOf(img2, a.addrs[0]);
  const entries: [string, number][] = [['self', aInum], ['up', 1], ['wild', 60000], ['free', 150]];
  entries.forEach(([name, inum], k) => encodeDirent({ inum, name }, dirBlock, (3 + k) * DIRENT_SIZE));
  new DataView(img2.buffer).setUint32(iblock(aInum, sb) * BSIZE + inodeOffset(aInum) + 8, 7 * DIRENT_SIZE, true);
  const m2 = await mount(img2);
  const fs2 = m2.fs;
  const loop = `/a/${'self/'.repeat(24)}b`;
  assert.equal(open(fs2, loop).err, 0, 'a loop is walked as far as the path goes');
  assert.equal(open(fs2, `/a/${'up/a/'.repeat(20)}`).err, 0);
  assert.equal(open(fs2, '/a/wild').err, -Errno.EIO, 'an entry naming an inode out of range');
  assert.equal(open(fs2, '/a/free').err, -Errno.EIO, 'an entry naming a free inode');
  assert.equal(call(fs2.unlink(0, '/a/self')), -Errno.ENOTEMPTY);
  assert.equal(call(fs2.unlink(0, '/a/wild')), -Errno.EIO);
  assert.equal(open(fs2, '/a/b').err, 0, 'the rest of the directory works');
  assert.equal(domainAlive(m2), true);
  await unmount(m2);
});

function domainAlive(m: Mounted): boolean {
  return m.domain.alive;
}

test('hostile arguments are errors, never crashes', async () => {
  const m = await mount(mkfs({ files: [README] }));
  const { fs } = m;
  for (const inum of [0, 1, 2, 50, 199, 200, 2 ** 32 - 1]) {
    assert.equal(call(fs.stat(inum)).err, -Errno.EBADF, `stat ${inum}`);
    assert.equal(call(fs.put(inum)), -Errno.EBADF, `put ${inum}`);
    assert.equal(call(fs.dup(inum)), -Errno.EBADF, `dup ${inum}`);
    assert.equal(read(fs, inum, 0, 10), -Errno.EBADF, `read ${inum}`);
    assert.equal(write(fs, inum, 0, enc('x')), -Errno.EBADF, `write ${inum}`);
    assert.equal(open(fs, 'README', 0, inum).err, -Errno.EBADF, `a relative path from ${inum}`);
  }
  assert.equal(open(fs, '/README', 0, 2 ** 32 - 1).err, 0, 'an absolute path ignores cwd');
  const r = openOk(fs, '/README');
  assert.deepEqual(read(fs, r, 0, 2 ** 32 - 1), README.data, 'a huge count reads what there is');
  assert.deepEqual(read(fs, r, 2 ** 32 - 1, 10), new Uint8Array(0), 'past the end: nothing');
  assert.equal(write(fs, r, 0, enc('x'), IO_MAX + 1), -Errno.EINVAL);
  assert.equal(write(fs, r, 0, enc('x'), -5), -Errno.EINVAL);
  assert.equal(write(fs, r, 2 ** 32 - 1, enc('x')), -Errno.EINVAL);
  assert.equal(open(fs, '/README', 0x1000).err, -Errno.EINVAL, 'unknown open flags');
  assert.equal(open(fs, '').err, -Errno.ENOENT);
  assert.equal(open(fs, `/${'a'.repeat(199)}`).err, -Errno.ENAMETOOLONG, 'a path of 200 bytes');
  assert.equal(open(fs, '/'.repeat(10_000_000)).err, -Errno.ENAMETOOLONG, 'a path of 10 MB');
  assert.equal(open(fs, `/${'ü'.repeat(64)}`).err, -Errno.ENAMETOOLONG, '128 characters, 129 bytes');
  assert.equal(open(fs, 'a\0b', O.CREATE).err, -Errno.EINVAL);
  assert.equal(call(fs.mknod(0, '/dev', 40000, 0)), -Errno.EINVAL);
  assert.equal(call(fs.mkdir(0, '/')), -Errno.EEXIST);
  // lone surrogates: the name is their UTF-8 as TextEncoder makes it (U+FFFD)
  const lone = open(fs, '/\ud800x\udfff', O.CREATE);
  assert.equal(lone.err, 0);
  assert.equal(open(fs, '/\ufffdx\ufffd').inum, lone.inum);
  assert.equal(call(fs.link(0, '/\udc00', '/y')), -Errno.ENOENT);
  // the proxy refuses what is not the IDL's type; the fs never sees it
  const bad = (fs as unknown as { stat(x: unknown): { ok: boolean } }).stat(-1);
  assert.equal(bad.ok, false);
  call(fs.put(lone.inum));
  call(fs.put(r));
  m.check();
  await unmount(m);
});

test('a change is durable within COMMIT_MS without sync (group commit)', async () => {
  const m = await mount(mkfs());
  const { fs } = m;
  createFile(fs, '/soon', enc('durable soon'));
  assert.throws(() => readFile(m.disk(), '/soon'), /no such file/, 'not on the disk at once');
  const t0 = Date.now();
  while (Date.now() - t0 < 2000) {
    await tick(10);
    try { if (dec(readFile(m.disk(), '/soon')) === 'durable soon') break; } catch { /* not yet */ }
  }
  assert.equal(dec(readFile(m.disk(), '/soon')), 'durable soon');
  assert.ok(Date.now() - t0 < 500, `committed by the timer in ${Date.now() - t0} ms`);
  m.check();
  await unmount(m);
});

test('a driver crashing under a workload is invisible to the fs', async () => {
  const m = await mount(mkfs({ files: [README] }));
  const { fs, p } = m;
  const model = new Map<string, Uint8Array>();
  const crashes = b.k.stats().crashes;
  let injected = 0;
  for (let i = 0; i < 60; i++) {
    if (i % 3 === 0 && p.inject(i % 2 === 0 ? 'in-call' : 'now')) injected++;
    const name = `/f${i % 17}`;
    const data = pattern(i, 1 + ((i * 2347) % (3 * IO_MAX)));
    if (i % 5 === 4 && model.has(name)) {
      assert.equal(call(fs.unlink(0, name)), 0);
      model.delete(name);
    } else {
      const inum = openOk(fs, name, O.CREATE | O.TRUNC | O.RDWR);
      writeAll(fs, inum, data);
      call(fs.put(inum));
      model.set(name, data);
    }
    if (i % 10 === 9) assert.equal(call(fs.sync()), 0);
  }
  assert.ok(injected >= 15, `${injected} crashes injected`);
  assert.ok(b.k.stats().crashes - crashes >= 15, `the driver crashed ${b.k.stats().crashes - crashes} times`);
  for (const [name, data] of model) assert.deepEqual(readAll(fs, openOk(fs, name)), data, name);
  m.check();
  for (const [name, data] of model) assert.deepEqual(readFile(m.disk(), name), data, `${name} on disk`);
  await unmount(m);
});

/** The state of files /w0 .. /w6 as a string: each name and a hash of its contents. */
function stateKey(files: ReadonlyMap<string, Uint8Array>): string {
  return [...files.keys()].sort().map((n) => `${n}:${hash(files.get(n)!)}`).join(' ');
}

function hash(data: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const x of data) h = Math.imul(h ^ x, 16777619) >>> 0;
  return `${data.length}.${h.toString(16)}`;
}

test('after a power cut at any point, the disk is consistent and holds a prefix of the calls, all those synced', async () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    // power goes at a random I/O command (inside a commit, often), keeping a random part of what
    // the device had not flushed
    const p = await device(mkfs({ files: [README] }), { powerCut: { afterCommands: { seed, max: 300 }, keep: { seed } } });
    const model = new Map<string, Uint8Array>();
    /** the state after each call that returned success, in order */
    const states = [stateKey(model)];
    let synced = 0;
    let started: ReturnType<typeof startFs> | null = null;
    try {
      started = startFs(p);
    } catch (e) {
      assert.match(String(e), /fs: cannot .*: reading device block/, 'power went during init');
    }
    const { fs, domain } = started ?? { fs: null as unknown as Fs, domain: null };
    for (let i = 0; domain !== null && i < 60; i++) {
      if (i % 10 === 9) await tick(COMMIT_MS + 5); // the timer commits
      const name = `/w${i % 7}`;
      if (i % 4 === 3) {
        if (call(fs.unlink(0, name)) === 0) model.delete(name);
        states.push(stateKey(model));
      } else {
        const n = open(fs, name, O.CREATE | O.RDWR);
        if (n.err !== 0) continue;
        if (!model.has(name)) {
          model.set(name, new Uint8Array(0));
          states.push(stateKey(model));
        }
        const data = pattern(i, 1 + ((i * 997) % IO_MAX));
        if (write(fs, n.inum, 0, data) === data.length) {
          const old = model.get(name)!;
          const now = old.length > data.length ? old.slice() : new Uint8Array(data.length);
          now.set(data);
          model.set(name, now);
          states.push(stateKey(model));
        }
        call(fs.put(n.inum));
      }
      if (i % 11 === 10 && call(fs.sync()) === 0) synced = states.length - 1;
    }
    assert.equal(domain?.alive ?? true, true, 'the fs is alive after its device died');
    const disk = p.dev.storage.slice();
    if (domain !== null) b.k.kill(domain, 'shutdown');
    await p.stop();
    paths.splice(paths.indexOf(p), 1);
    // the disk as the next boot finds it: recovered by init, then checked
    const m = await mount(disk);
    m.check();
    const found = new Map<string, Uint8Array>();
    for (let k = 0; k < 7; k++) {
      const n = open(m.fs, `/w${k}`);
      if (n.err === 0) found.set(`/w${k}`, readAll(m.fs, n.inum));
    }
    const at = states.lastIndexOf(stateKey(found));
    assert.ok(at >= synced, `seed ${seed}: the disk holds the state after call ${at} of ${states.length - 1}; the last sync was after ${synced}`);
    await unmount(m);
  }
});

test('freeing a file spread over many bitmap blocks takes several transactions, each consistent', async () => {
  // An image of 8 bitmap blocks' worth, with files whose 12 direct blocks lie in all 8 regions.
  const size = 8 * BPB;
  const img = mkfs({ size, files: [{ name: 'spread', data: enc('s') }, { name: 'trunc', data: enc('t') }] });
  const sb = superblock(img);
  const datastart = sb.size - sb.nblocks;
  const setBit = (bn: number): void => { img[bblock(bn, sb) * BSIZE + bitOf(bn).byte] |= bitOf(bn).mask; };
  for (const [inum, shift] of [[2, 100], [3, 200]]) {
    const at = inodeAt(img, inum);
    const d = decodeDinode(at.block, at.off);
    for (let i = 1; i < NDIRECT; i++) {
      const bn = Math.max(datastart + 10, Math.min(size - 1, (i % 8) * BPB + shift + i));
      d.addrs[i] = bn;
      setBit(bn);
      blockOf(img, bn).fill(i);
    }
    d.size = NDIRECT * BSIZE;
    encodeDinode(d, at.block, at.off);
  }
  assert.deepEqual(fsck(img).errors, []);
  const m = await mount(img);
  const { fs } = m;
  assert.equal(call(fs.unlink(0, '/spread')), 0);
  const t = openOk(fs, '/trunc', O.TRUNC | O.RDWR);
  assert.equal(call(fs.stat(t)).size, 0);
  call(fs.put(t));
  m.check();
  assert.equal(fsck(m.disk()).stats.blocksUsed, 1 + 0, 'only the root directory block is left');
  await unmount(m);
});

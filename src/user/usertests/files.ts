// Tests of files, one process at a time: truncation, unlink while open, reads and writes of every
// size up to the largest file, descriptors that share an offset (dup) or always write at the end
// (O_APPEND), stat and device nodes, a directory of many entries. Ported from xv6-riscv's
// user/usertests.c where xv6 has the test (same name); each uses file names of its own and
// removes them.
import { CONSOLE, Errno, IO_MAX, O, O_APPEND, T, type U } from '../../lib/ulib/ulib.ts';
import { BSIZE, DIRENT_SIZE, MAXFILE, MAXOPBLOCKS } from '../../lib/xv6fs/format.ts';
import { SELF } from './kids.ts';
import { bytes, eq, err, fail, fill, note, ok, readCount, readFile, rm, rmrf, show, writeFile } from './lib.ts';

/** O_TRUNC empties a file under descriptors already open on it; their offsets stay. */
export async function truncate1(u: U): Promise<void> {
  const f = 'truncfile1';
  await rm(u, f);
  const fd1 = ok('create', await u.open(f, O.CREATE | O.WRONLY | O.TRUNC));
  eq('write abcd', await u.write(fd1, 'abcd'), 4);
  await u.close(fd1);
  const fd2 = ok('open', await u.open(f, O.RDONLY));
  eq('read fd2', await readCount(u, fd2, 32), 4);
  const fd1b = ok('open O_TRUNC', await u.open(f, O.WRONLY | O.TRUNC));
  const fd3 = ok('open', await u.open(f, O.RDONLY));
  eq('read fd3 after O_TRUNC', await readCount(u, fd3, 32), 0);
  eq('read fd2 after O_TRUNC', await readCount(u, fd2, 32), 0);
  eq('write abcdef', await u.write(fd1b, 'abcdef'), 6);
  eq('read fd3 after write', await readCount(u, fd3, 32), 6);
  eq('read fd2 (offset 4) after write', await readCount(u, fd2, 32), 2);
  ok('unlink', await u.unlink(f));
  for (const fd of [fd1b, fd2, fd3]) await u.close(fd);
}

/**
 * A write through a descriptor whose offset is now past the end of the truncated file: xv6 refuses
 * it (an error); POSIX makes a hole of zeros. Either is right; anything else is not.
 */
export async function truncate2(u: U): Promise<void> {
  const f = 'truncfile2';
  await rm(u, f);
  const fd1 = ok('create', await u.open(f, O.CREATE | O.TRUNC | O.WRONLY));
  eq('write abcd', await u.write(fd1, 'abcd'), 4);
  const fd2 = ok('open O_TRUNC', await u.open(f, O.TRUNC | O.WRONLY));
  const n = await u.write(fd1, 'x');
  await u.close(fd1);
  await u.close(fd2);
  await note(u, n < 0 ? `a write past the end: ${show(n)} (as xv6)` : 'a write past the end: a hole of zeros (as POSIX)');
  if (n >= 0) {
    eq('write past the end', n, 1);
    const b = await readFile(u, f);
    eq('file after a write past the end', Array.from(b).join(','), '0,0,0,0,120');
  }
  ok('unlink', await u.unlink(f));
}

export async function opentest(u: U): Promise<void> {
  await u.close(ok(`open ${SELF}`, await u.open(SELF, O.RDONLY)));
  err('open doesnotexist', await u.open('doesnotexist', O.RDONLY), Errno.ENOENT);
}

/** 100 × (10 a's, 10 b's) written, then read back in one call. */
export async function writetest(u: U): Promise<void> {
  const f = 'small';
  const fd = ok('create small', await u.open(f, O.CREATE | O.RDWR));
  for (let i = 0; i < 100; i++) {
    eq(`write aa ${i}`, await u.write(fd, 'aaaaaaaaaa'), 10);
    eq(`write bb ${i}`, await u.write(fd, 'bbbbbbbbbb'), 10);
  }
  await u.close(fd);
  const rd = ok('open small', await u.open(f, O.RDONLY));
  const b = bytes('read small', await u.read(rd, 2000));
  await u.close(rd);
  eq('bytes read', b.length, 2000);
  for (let i = 0; i < 2000; i++) if (b[i] !== (i % 20 < 10 ? 0x61 : 0x62)) fail(`byte ${i} is ${b[i]}`);
  ok('unlink small', await u.unlink(f));
}

/** A file of MAXFILE blocks, each holding its number; one block more does not fit. */
export async function writebig(u: U): Promise<void> {
  const f = 'writebig';
  await rm(u, f);
  const fd = ok('create', await u.open(f, O.CREATE | O.RDWR));
  const buf = new Uint8Array(BSIZE);
  const num = new DataView(buf.buffer);
  for (let i = 0; i < MAXFILE; i++) {
    num.setInt32(0, i, true);
    eq(`write block ${i}`, await u.write(fd, buf), BSIZE);
  }
  const beyond = await u.write(fd, buf);
  if (beyond === BSIZE) fail(`a write beyond MAXFILE (${MAXFILE}) blocks succeeded`);
  if (beyond < 0 && beyond !== -Errno.EFBIG) fail(`write beyond MAXFILE: got ${show(beyond)}, expected -EFBIG or a short count`);
  await note(u, `a write beyond MAXFILE blocks: ${show(beyond)}`);
  eq('size', (await u.fstat(fd)).size, MAXFILE * BSIZE);
  await u.close(fd);
  const rd = ok('open', await u.open(f, O.RDONLY));
  let n = 0;
  for (;;) {
    const b = bytes(`read block ${n}`, await u.read(rd, BSIZE));
    if (b.length === 0) break;
    eq(`read block ${n}`, b.length, BSIZE);
    eq(`content of block ${n}`, new DataView(b.buffer, b.byteOffset).getInt32(0, true), n);
    n++;
  }
  await u.close(rd);
  eq('blocks read', n, MAXFILE);
  ok('unlink', await u.unlink(f));
}

/** Many creates, then as many unlinks. */
export async function createtest(u: U): Promise<void> {
  const names = Array.from({ length: 52 }, (_, i) => `ct${i}`);
  await rm(u, ...names);
  for (const name of names) await u.close(ok(`create ${name}`, await u.open(name, O.CREATE | O.RDWR)));
  for (const name of names) ok(`unlink ${name}`, await u.unlink(name));
}

/** An unlinked file stays readable and writable through a descriptor open on it. */
export async function unlinkread(u: U): Promise<void> {
  const f = 'unlinkread';
  await writeFile(u, f, 'hello');
  const fd = ok('open', await u.open(f, O.RDWR));
  ok('unlink', await u.unlink(f));
  err('open after unlink', await u.open(f, O.RDONLY), Errno.ENOENT);
  const fd1 = ok('create again', await u.open(f, O.CREATE | O.RDWR));
  eq('write yyy', await u.write(fd1, 'yyy'), 3);
  await u.close(fd1);
  const b = bytes('read unlinked file', await u.read(fd, 8192));
  eq('read unlinked file', b.length, 5);
  eq('first byte', b[0]!, 0x68);
  eq('write unlinked file', await u.write(fd, fill(10, 0x7a)), 10);
  eq('nlink of unlinked file', (await u.fstat(fd)).nlink, 0);
  await u.close(fd);
  eq('new file', (await readFile(u, f)).length, 3);
  ok('unlink', await u.unlink(f));
}

/** Writes bigger than one log transaction can hold (xv6: ≥ MAXOPBLOCKS blocks). */
export async function bigwrite(u: U): Promise<void> {
  const f = 'bigwrite';
  await rm(u, f);
  const buf = fill((MAXOPBLOCKS + 2) * BSIZE, 0x62);
  for (let sz = 499; sz < buf.length; sz += 471) {
    const fd = ok('create', await u.open(f, O.CREATE | O.RDWR));
    for (let i = 0; i < 2; i++) eq(`write(${sz})`, await u.write(fd, buf.subarray(0, sz)), sz);
    await u.close(fd);
    eq(`size after 2 × ${sz}`, (await u.stat(f)).size, 2 * sz);
    ok('unlink', await u.unlink(f));
  }
}

/** 20 writes of 600 bytes, read back 300 at a time. */
export async function bigfile(u: U): Promise<void> {
  const f = 'bigfile.dat';
  const N = 20;
  const SZ = 600;
  await rm(u, f);
  const fd = ok('create', await u.open(f, O.CREATE | O.RDWR));
  for (let i = 0; i < N; i++) eq(`write ${i}`, await u.write(fd, fill(SZ, i)), SZ);
  await u.close(fd);
  const rd = ok('open', await u.open(f, O.RDONLY));
  let total = 0;
  for (let i = 0; ; i++) {
    const b = bytes('read', await u.read(rd, SZ / 2));
    if (b.length === 0) break;
    eq('read count', b.length, SZ / 2);
    if (b[0] !== i >> 1 || b[SZ / 2 - 1] !== i >> 1) fail(`read ${i}: wrong data ${b[0]}`);
    total += b.length;
  }
  await u.close(rd);
  eq('total', total, N * SZ);
  ok('unlink', await u.unlink(f));
}

/** A descriptor and its dup share one offset; dup and open take the lowest free descriptor. */
export async function duptest(u: U): Promise<void> {
  const f = 'dupfile';
  await rm(u, f);
  const fd = ok('create', await u.open(f, O.CREATE | O.RDWR));
  const d = ok('dup', await u.dup(fd));
  eq('dup takes the lowest free descriptor', d, fd + 1);
  eq('write ab', await u.write(fd, 'ab'), 2);
  eq('write cd through the dup', await u.write(d, 'cd'), 2);
  ok('close', await u.close(fd));
  eq('write ef after closing the original', await u.write(d, 'ef'), 2);
  eq('lowest free descriptor', ok('open', await u.open(f, O.RDONLY)), fd);
  const d2 = ok('dup', await u.dup(fd));
  eq('read 2', await readStr(u, fd, 2), 'ab');
  eq('read 2 through the dup', await readStr(u, d2, 2), 'cd');
  eq('read 2', await readStr(u, fd, 2), 'ef');
  for (const x of [fd, d, d2]) ok('close', await u.close(x));
  err('close twice', await u.close(d), Errno.EBADF);
  ok('unlink', await u.unlink(f));
}

async function readStr(u: U, fd: number, n: number): Promise<string> {
  return String.fromCharCode(...bytes(`read(${fd})`, await u.read(fd, n)));
}

/** O_APPEND writes at the end whatever another descriptor wrote; a plain one writes at its offset. */
export async function appendtest(u: U): Promise<void> {
  const f = 'appendfile';
  await rm(u, f);
  const a = ok('create O_APPEND', await u.open(f, O.CREATE | O.WRONLY | O_APPEND));
  eq('append aa', await u.write(a, 'aa'), 2);
  const p = ok('open', await u.open(f, O.WRONLY));
  eq('write XY at 0', await u.write(p, 'XY'), 2);
  eq('append bb', await u.write(a, 'bb'), 2);
  eq('write z at 2', await u.write(p, 'z'), 1);
  eq('append cc', await u.write(a, 'cc'), 2);
  await u.close(a);
  await u.close(p);
  eq('contents', String.fromCharCode(...await readFile(u, f)), 'XYzbcc');
  ok('unlink', await u.unlink(f));
}

/** fstat and stat: type, size and links of a file and a directory; device nodes. */
export async function stattest(u: U): Promise<void> {
  const f = 'statfile';
  const dev = 'statdev';
  await rm(u, f, dev);
  await writeFile(u, f, fill(IO_MAX + 5, 1));
  const st = await u.stat(f);
  eq('stat err', st.err, 0);
  eq('type', st.type, T.FILE);
  eq('size', st.size, IO_MAX + 5);
  eq('nlink', st.nlink, 1);
  const root = await u.stat('/');
  eq('type of /', root.type, T.DIR);
  eq('inode of /', root.ino, 1);
  eq('/.. is /', (await u.stat('/..')).ino, 1);
  ok('mknod', await u.mknod(dev, CONSOLE, 0));
  eq('type of a console device', (await u.stat(dev)).type, T.DEVICE);
  err('mknod over an existing name', await u.mknod(dev, CONSOLE, 0), Errno.EEXIST);
  ok('unlink', await u.unlink(dev));
  ok('mknod', await u.mknod(dev, 9, 7));
  err('open of a device with no driver', await u.open(dev, O.RDONLY), Errno.ENODEV);
  await rm(u, f, dev);
  eq('stat of a removed file', (await u.stat(f)).err, -Errno.ENOENT);
}

/** A directory big enough to need more blocks (xv6: 500 links to one file). */
export async function bigdir(u: U): Promise<void> {
  const d = 'bigdir.d';
  const N = 500;
  const names = Array.from({ length: N }, (_, i) => `${d}/x${i}`);
  await rmrf(u, d);
  ok('mkdir', await u.mkdir(d));
  await writeFile(u, `${d}/bd`, '');
  for (const name of names) ok(`link ${name}`, await u.link(`${d}/bd`, name));
  eq('nlink', (await u.stat(`${d}/bd`)).nlink, N + 1);
  const size = (await u.stat(d)).size;
  if (size < (N + 3) * DIRENT_SIZE) fail(`directory size ${size} is too small for ${N + 3} entries`);
  ok('unlink bd', await u.unlink(`${d}/bd`));
  for (const name of names) ok(`unlink ${name}`, await u.unlink(name));
  ok('unlink dir', await u.unlink(d));
}

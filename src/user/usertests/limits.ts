// Tests of the edges: bad arguments to system calls (descriptors, paths, programs, pids), and
// running out of descriptors, processes, inodes and disk blocks. What must hold at each edge: the
// call fails with the right negative errno, nothing is half done, and once what was used is given
// back everything works again. xv6 has outofinodes and diskfull (slow tests); the rest are
// Frond's (xv6 can only check that a bad argument gives -1).
import { Errno, IO_MAX, MAXPATH, NOFILE, O, type U } from '../../lib/ulib/ulib.ts';
import { NPROC } from '../../lib/rv6/abi.ts';
import { BSIZE, MAXFILE } from '../../lib/xv6fs/format.ts';
import { gate, kid, reapAll, SELF, trySpawn, waitFor } from './kids.ts';
import { eq, err, fail, fill, note, ok, readFile, rm, rmrf, show, writeFile } from './lib.ts';

/** Descriptors that are not open: -1, 99, NOFILE and an unused one; and ends used the wrong way. */
export async function badfd(u: U): Promise<void> {
  for (const fd of [-1, 99, NOFILE, NOFILE - 1]) {
    const r = await u.read(fd, 1);
    err(`read(${fd})`, typeof r === 'number' ? r : r.length, Errno.EBADF);
    err(`write(${fd})`, await u.write(fd, 'x'), Errno.EBADF);
    err(`close(${fd})`, await u.close(fd), Errno.EBADF);
    err(`dup(${fd})`, await u.dup(fd), Errno.EBADF);
    err(`fstat(${fd})`, (await u.fstat(fd)).err, Errno.EBADF);
    err(`spawn with descriptor ${fd}`, await trySpawn(u, SELF, ['usertests', '--child', 'exit', '0'], [fd, 1, 2]));
  }
  const f = 'badfd.f';
  await writeFile(u, f, 'data');
  const rd = ok('open O_RDONLY', await u.open(f, O.RDONLY));
  err('write to an O_RDONLY descriptor', await u.write(rd, 'x'), Errno.EBADF);
  await u.close(rd);
  const wr = ok('open O_WRONLY', await u.open(f, O.WRONLY));
  const r = await u.read(wr, 1);
  err('read of an O_WRONLY descriptor', typeof r === 'number' ? r : r.length, Errno.EBADF);
  await u.close(wr);
  eq('file after the refused write', String.fromCharCode(...await readFile(u, f)), 'data');
  ok('unlink', await u.unlink(f));
  eq('wait after refused spawns', (await u.wait()).pid, -Errno.ECHILD);
}

/** A path of MAXPATH bytes works, one byte more is ENAMETOOLONG in every call that takes one; and
 *  the errors of names that exist, or do not, or are not directories. */
export async function badpath(u: U): Promise<void> {
  const pad = (MAXPATH - 10) >> 1;
  const name = 'p'.repeat(MAXPATH - 2 * pad);
  const max = './'.repeat(pad) + name;
  const long = `/${max}`;
  await rm(u, name);
  eq('length', max.length, MAXPATH);
  await u.close(ok(`create a path of ${MAXPATH} bytes`, await u.open(max, O.CREATE | O.RDWR)));
  ok(`unlink a path of ${MAXPATH} bytes`, await u.unlink(max));
  const calls: [string, () => Promise<number>][] = [
    ['open', () => u.open(long, O.CREATE | O.RDWR)],
    ['mkdir', () => u.mkdir(long)],
    ['mknod', () => u.mknod(long, 9, 0)],
    ['unlink', () => u.unlink(long)],
    ['chdir', () => u.chdir(long)],
    ['link from', () => u.link(long, 'badpath.x')],
    ['link to', () => u.link(SELF, long)],
    ['spawn', () => trySpawn(u, long, ['x'])],
  ];
  for (const [what, call] of calls) err(`${what} with a path of ${MAXPATH + 1} bytes`, await call(), Errno.ENAMETOOLONG);
  err(`${name} after refused calls`, (await u.stat(name)).err, Errno.ENOENT);
  err('mkdir /', await u.mkdir('/'), Errno.EEXIST);
  err(`mkdir ${SELF}`, await u.mkdir(SELF), Errno.EEXIST);
  err('unlink /', await u.unlink('/'));
  err('unlink a missing file', await u.unlink('badpath.none'), Errno.ENOENT);
  err('open a missing file', await u.open('badpath.none', O.RDONLY), Errno.ENOENT);
  err('create in a missing directory', await u.open('badpath.none/x', O.CREATE | O.RDWR), Errno.ENOENT);
  err('chdir into a file', await u.chdir(SELF), Errno.ENOTDIR);
  err('open / for writing', await u.open('/', O.WRONLY), Errno.EISDIR);
}

/** Files that are not programs: ENOEXEC, with why() saying why; no child is made. */
export async function badspawn(u: U): Promise<void> {
  const f = 'badspawn.f';
  const cases: [string, Uint8Array | string][] = [['a text file', 'echo hello\n'], ['an empty file', ''], ['a tampered copy of usertests', await tampered(u)]];
  for (const [what, data] of cases) {
    await writeFile(u, f, data);
    err(`spawn of ${what}`, await trySpawn(u, f, [f]), Errno.ENOEXEC);
    const why = await u.why();
    if (why.trim() === '') fail(`why() is empty after the spawn of ${what}`);
    await note(u, `spawn of ${what}: ${why}`);
  }
  ok('unlink', await u.unlink(f));
  err('spawn of a missing file', await trySpawn(u, 'badspawn.none', ['x']), Errno.ENOENT);
  err('spawn of a directory', await trySpawn(u, '/', ['x']));
  eq('wait after refused spawns', (await u.wait()).pid, -Errno.ECHILD);
  const pid = await kid(u, 'exit', [0]);
  eq('why() after a spawn that worked', await u.why(), '');
  eq('status', await waitFor(u, pid), 0);
}

/** A copy of our own bundle with one byte of its code changed: the signature no longer holds. */
async function tampered(u: U): Promise<Uint8Array> {
  const b = await readFile(u, SELF);
  const needle = Array.from('a child crashing on purpose', (c) => c.charCodeAt(0));
  let at = -1;
  for (let i = 0; at < 0 && i + needle.length <= b.length; i++) if (needle.every((c, k) => b[i + k] === c)) at = i;
  b[at >= 0 ? at : b.length >> 1] ^= 0x20;
  return b;
}

/** kill and fg of pids that are not there, or not our children. */
export async function badpid(u: U): Promise<void> {
  const pid = await kid(u, 'exit', [0]);
  eq('status', await waitFor(u, pid), 0);
  for (const p of [pid, 0x7fffffff]) {
    err(`kill(${p})`, await u.kill(p), Errno.ESRCH);
    err(`fg(${p})`, await u.fg(p));
  }
  err('fg of ourselves', await u.fg(await u.getpid()));
}

/** NOFILE descriptors at most: then open, dup and pipe are EMFILE, and a failed pipe keeps none. */
export async function nofile(u: U): Promise<void> {
  let used = 0;
  for (let fd = 0; fd < 3; fd++) if ((await u.fstat(fd)).err === 0) used++;
  const fds: number[] = [];
  for (;;) {
    const fd = await u.open(SELF, O.RDONLY);
    if (fd < 0) {
      err('open with every descriptor in use', fd, Errno.EMFILE);
      break;
    }
    fds.push(fd);
    if (fds.length > NOFILE) fail(`more than NOFILE (${NOFILE}) descriptors open`);
  }
  eq('descriptors', used + fds.length, NOFILE);
  err('dup with every descriptor in use', await u.dup(fds[0]!), Errno.EMFILE);
  err('pipe with every descriptor in use', await pipeResult(u), Errno.EMFILE);
  ok('close', await u.close(fds.pop()!));
  err('pipe with one descriptor free', await pipeResult(u), Errno.EMFILE);
  fds.push(ok('open after a failed pipe', await u.open(SELF, O.RDONLY)));
  for (const fd of fds) ok(`close(${fd})`, await u.close(fd));
}

async function pipeResult(u: U): Promise<number> {
  const p = await u.pipe();
  return typeof p === 'number' ? p : p[0];
}

/** Children until the process table is full: spawn then fails cleanly; once they exit, it works. */
export async function proctable(u: U): Promise<void> {
  const g = await gate(u);
  let n = 0;
  for (;;) {
    const pid = await trySpawn(u, SELF, ['usertests', '--child', 'block'], [g.fd, 1, 2]);
    if (pid < 0) {
      if (!show(pid).startsWith('-E')) fail(`spawn with a full process table: ${pid}`);
      await note(u, `${n} children, then spawn: ${show(pid)} (${await u.why()})`);
      break;
    }
    if (++n > NPROC) fail(`more than NPROC (${NPROC}) processes`);
  }
  if (n === 0) fail('no spawn at all');
  await g.open();
  await reapAll(u, n, 'proctable');
  const pid = await kid(u, 'exit', [0]);
  eq('status of a child after the table emptied', await waitFor(u, pid), 0);
}

/** Files until there is no inode left (ENOSPC), then all removed: creating works again. */
export async function outofinodes(u: U): Promise<void> {
  const top = 'outofinodes.d';
  await rmrf(u, top);
  ok('mkdir', await u.mkdir(top));
  const PER_DIR = 500;
  let last = 0;
  let n = 0;
  let path = '';
  for (; ; n++) {
    const dir = `${top}/${Math.floor(n / PER_DIR)}`;
    path = n % PER_DIR === 0 ? dir : `${dir}/${n % PER_DIR}`;
    last = n % PER_DIR === 0 ? await u.mkdir(path) : await u.open(path, O.CREATE | O.RDWR);
    if (last < 0) break;
    if (n % PER_DIR !== 0) await u.close(last);
    if (n > 1 << 20) fail('a million files and no end of inodes');
  }
  await note(u, `${n} files and directories in ${top}, then ${show(last)}`);
  err(`create ${path} with no inode left`, last, Errno.ENOSPC);
  err(`${path}, which could not be made`, (await u.stat(path)).err, Errno.ENOENT);
  err('mkdir with no inode left', await u.mkdir(`${top}/more`), Errno.ENOSPC);
  await rmrf(u, top);
  err(`${top} after clean-up`, (await u.stat(top)).err, Errno.ENOENT);
  await afterwards(u, 'outofinodes.x');
}

/**
 * Files of MAXFILE blocks until the disk is full (ENOSPC or a short write; a write is all or
 * nothing), then small files and a directory there is no block for; all removed, a file of
 * several blocks can be written again.
 */
export async function diskfull(u: U): Promise<void> {
  const top = 'diskfull.d';
  await rmrf(u, top);
  ok('mkdir', await u.mkdir(top));
  let full = false;
  let bytes = 0;
  let files = 0;
  while (!full) {
    const fd = await u.open(`${top}/big${files}`, O.CREATE | O.RDWR);
    if (fd < 0) {
      err('create on a full disk', fd, Errno.ENOSPC);
      break;
    }
    full = await fillFile(u, fd, `${top}/big${files}`);
    bytes += (await u.fstat(fd)).size;
    files++;
    await u.close(fd);
  }
  await note(u, `${files} files, ${bytes} bytes, then the disk was full`);
  for (let i = 0; i < 128; i++) {
    const fd = await u.open(`${top}/z${i}`, O.CREATE | O.RDWR);
    if (fd < 0) {
      err('create on a full disk', fd, Errno.ENOSPC);
      err(`${top}/z${i}, which could not be made`, (await u.stat(`${top}/z${i}`)).err, Errno.ENOENT);
      break;
    }
    err('write on a full disk', await u.write(fd, 'x'), Errno.ENOSPC);
    await u.close(fd);
  }
  err('mkdir on a full disk', await u.mkdir(`${top}/dir`), Errno.ENOSPC);
  await rmrf(u, top);
  await afterwards(u, 'diskfull.x');
}

/** Writes `fd` up to MAXFILE blocks, IO_MAX bytes a call and then, when that no longer fits, a
 *  block a call; true if the disk filled first. What was written must all be there. */
async function fillFile(u: U, fd: number, name: string): Promise<boolean> {
  const buf = fill(IO_MAX, 0x64);
  let chunk = IO_MAX;
  let size = 0;
  while (size < MAXFILE * BSIZE) {
    const len = Math.min(chunk, MAXFILE * BSIZE - size);
    const n = await u.write(fd, buf.subarray(0, len));
    if (n < 0) err(`write to ${name} on a full disk`, n, Errno.ENOSPC);
    if (n > 0) size += n;
    if (n === len) continue;
    eq(`size of ${name} after a failed write`, (await u.fstat(fd)).size, size);
    if (chunk === BSIZE) return true;
    chunk = BSIZE;
  }
  return false;
}

/** After running out and cleaning up: a new file of several blocks works. */
async function afterwards(u: U, f: string): Promise<void> {
  const data = fill(10 * BSIZE, 0x61);
  await writeFile(u, f, data);
  eq('size of a new file', (await readFile(u, f)).length, data.length);
  ok('unlink', await u.unlink(f));
}

// Tests of directories and names: mkdir/chdir/unlink, path walking with "." and "..", links,
// 14-byte names (xv6's DIRSIZ; a longer name is ENAMETOOLONG in Frond, where xv6 cuts it), and a
// working directory that is removed under a process (iput, exitiput, openiput). Ported from
// xv6-riscv's user/usertests.c (same names). The runner puts every test back in "/" afterwards.
import { Errno, O, T, type U } from '../../lib/ulib/ulib.ts';
import type { Role } from './children.ts';
import { kid, SELF, waitFor } from './kids.ts';
import { dirNames, eq, err, fail, ok, readFile, rm, rmrf, writeFile } from './lib.ts';

export async function dirtest(u: U): Promise<void> {
  await rmrf(u, 'dir0');
  ok('mkdir dir0', await u.mkdir('dir0'));
  const st = await u.stat('dir0');
  eq('type', st.type, T.DIR);
  eq('dir0/.. is /', (await u.stat('dir0/..')).ino, (await u.stat('/')).ino);
  eq('dir0/. is dir0', (await u.stat('dir0/.')).ino, st.ino);
  ok('chdir dir0', await u.chdir('dir0'));
  ok('chdir ..', await u.chdir('..'));
  ok('unlink dir0', await u.unlink('dir0'));
  err('chdir to the removed dir0', await u.chdir('dir0'), Errno.ENOENT);
}

/** chdir into a directory, remove it from inside, leave it. */
export async function iput(u: U): Promise<void> {
  await rmrf(u, 'iputdir');
  ok('mkdir iputdir', await u.mkdir('iputdir'));
  ok('chdir iputdir', await u.chdir('iputdir'));
  ok('unlink ../iputdir', await u.unlink('../iputdir'));
  ok('chdir /', await u.chdir('/'));
  err('stat iputdir', (await u.stat('iputdir')).err, Errno.ENOENT);
}

/** A child removes its own working directory and exits (xv6: exit's iput of the cwd). */
export async function exitiput(u: U): Promise<void> {
  const d = 'exitiputdir';
  await rmrf(u, d);
  const pid = await kid(u, 'exitiput', [d]);
  eq('status', await waitFor(u, pid), 0);
  err(`stat ${d}`, (await u.stat(d)).err, Errno.ENOENT);
}

/** A child fails to open a directory for writing while its parent removes that directory. */
export async function openiput(u: U): Promise<void> {
  const d = 'oidir';
  await rmrf(u, d);
  ok('mkdir', await u.mkdir(d));
  const pid = await kid(u, 'openiput', [d]);
  await u.sleep(1);
  ok('unlink', await u.unlink(d));
  eq('status', await waitFor(u, pid), 0);
}

export const roles: Readonly<Record<string, Role>> = {
  exitiput: async (u, [d = '']) => {
    ok('mkdir', await u.mkdir(d));
    ok('chdir', await u.chdir(d));
    ok('unlink', await u.unlink(`../${d}`));
    return 0;
  },
  openiput: async (u, [d = '']) => {
    const fd = await u.open(d, O.RDWR);
    if (fd >= 0) fail('open of a directory for writing succeeded');
    return 0;
  },
};

export async function linktest(u: U): Promise<void> {
  await rm(u, 'lf1', 'lf2');
  await writeFile(u, 'lf1', 'hello');
  ok('link lf1 lf2', await u.link('lf1', 'lf2'));
  eq('nlink after link', (await u.stat('lf1')).nlink, 2);
  eq('same inode', (await u.stat('lf1')).ino, (await u.stat('lf2')).ino);
  ok('unlink lf1', await u.unlink('lf1'));
  err('open lf1 after unlink', await u.open('lf1', O.RDONLY), Errno.ENOENT);
  eq('nlink after unlink', (await u.stat('lf2')).nlink, 1);
  eq('read lf2', (await readFile(u, 'lf2')).length, 5);
  err('link lf2 lf2', await u.link('lf2', 'lf2'), Errno.EEXIST);
  ok('unlink lf2', await u.unlink('lf2'));
  err('link of a missing file', await u.link('lf2', 'lf1'), Errno.ENOENT);
  err('link of a directory', await u.link('.', 'lf1'));
  err('lf1 after link of a directory', (await u.stat('lf1')).err, Errno.ENOENT);
}

/** Directories within directories, and every way a path through them can be wrong. */
export async function subdir(u: U): Promise<void> {
  await rmrf(u, 'dd');
  ok('mkdir dd', await u.mkdir('dd'));
  await writeFile(u, 'dd/ff', 'ff');
  err('unlink of a non-empty dd', await u.unlink('dd'), Errno.ENOTEMPTY);
  ok('mkdir /dd/dd', await u.mkdir('/dd/dd'));
  await writeFile(u, 'dd/dd/ff', 'FF');
  const b = await readFile(u, 'dd/dd/../ff');
  eq('dd/dd/../ff', String.fromCharCode(...b), 'ff');
  ok('link dd/dd/ff dd/dd/ffff', await u.link('dd/dd/ff', 'dd/dd/ffff'));
  ok('unlink dd/dd/ff', await u.unlink('dd/dd/ff'));
  err('open unlinked dd/dd/ff', await u.open('dd/dd/ff', O.RDONLY), Errno.ENOENT);
  for (const p of ['dd', 'dd/../../dd', 'dd/../../../dd', './..']) ok(`chdir ${p}`, await u.chdir(p));
  eq('dd/dd/ffff', (await readFile(u, 'dd/dd/ffff')).length, 2);
  await subdirRefusals(u);
  ok('unlink dd/dd/ffff', await u.unlink('dd/dd/ffff'));
  ok('unlink dd/ff', await u.unlink('dd/ff'));
  err('unlink non-empty dd', await u.unlink('dd'), Errno.ENOTEMPTY);
  ok('unlink dd/dd', await u.unlink('dd/dd'));
  ok('unlink dd', await u.unlink('dd'));
}

/** What subdir's tree must refuse (dd/ff is a file, dd/xx does not exist). */
async function subdirRefusals(u: U): Promise<void> {
  const refused: [string, () => Promise<number>, number?][] = [
    ['open unlinked dd/dd/ff', () => u.open('dd/dd/ff', O.RDONLY), Errno.ENOENT],
    ['create dd/ff/ff', () => u.open('dd/ff/ff', O.CREATE | O.RDWR), Errno.ENOTDIR],
    ['create dd/xx/ff', () => u.open('dd/xx/ff', O.CREATE | O.RDWR), Errno.ENOENT],
    ['create dd', () => u.open('dd', O.CREATE), Errno.EISDIR],
    ['open dd O_RDWR', () => u.open('dd', O.RDWR), Errno.EISDIR],
    ['open dd O_WRONLY', () => u.open('dd', O.WRONLY), Errno.EISDIR],
    ['link dd/ff/ff dd/dd/xx', () => u.link('dd/ff/ff', 'dd/dd/xx'), Errno.ENOTDIR],
    ['link dd/xx/ff dd/dd/xx', () => u.link('dd/xx/ff', 'dd/dd/xx'), Errno.ENOENT],
    ['link dd/ff dd/dd/ffff', () => u.link('dd/ff', 'dd/dd/ffff'), Errno.EEXIST],
    ['mkdir dd/ff/ff', () => u.mkdir('dd/ff/ff'), Errno.ENOTDIR],
    ['mkdir dd/xx/ff', () => u.mkdir('dd/xx/ff'), Errno.ENOENT],
    ['mkdir dd/dd/ffff', () => u.mkdir('dd/dd/ffff'), Errno.EEXIST],
    ['unlink dd/xx/ff', () => u.unlink('dd/xx/ff'), Errno.ENOENT],
    ['unlink dd/ff/ff', () => u.unlink('dd/ff/ff'), Errno.ENOTDIR],
    ['chdir dd/ff', () => u.chdir('dd/ff'), Errno.ENOTDIR],
    ['chdir dd/xx', () => u.chdir('dd/xx'), Errno.ENOENT],
  ];
  for (const [what, call, errno] of refused) err(what, await call(), errno);
}

/** Names of exactly DIRSIZ (14) bytes work and are stored without a terminator; 15 are refused. */
export async function fourteen(u: U): Promise<void> {
  const n14 = '12345678901234';
  const n15 = '123456789012345';
  await rmrf(u, n14);
  ok(`mkdir ${n14}`, await u.mkdir(n14));
  err(`mkdir ${n14}/${n15}`, await u.mkdir(`${n14}/${n15}`), Errno.ENAMETOOLONG);
  ok(`mkdir ${n14}/${n14}`, await u.mkdir(`${n14}/${n14}`));
  await u.close(ok('create 14/14/14', await u.open(`${n14}/${n14}/${n14}`, O.CREATE)));
  err('open 15/14/14', await u.open(`${n15}/${n14}/${n14}`, O.RDONLY), Errno.ENAMETOOLONG);
  err('create 14/14/15', await u.open(`${n14}/${n14}/${n15}`, O.CREATE), Errno.ENAMETOOLONG);
  await u.close(ok('open 14/14/14', await u.open(`${n14}/${n14}/${n14}`, O.RDONLY)));
  err(`mkdir ${n14}/${n14} again`, await u.mkdir(`${n14}/${n14}`), Errno.EEXIST);
  eq('names in 14/14', (await dirNames(u, `${n14}/${n14}`)).join(' '), `. .. ${n14}`);
  ok('unlink 14/14/14', await u.unlink(`${n14}/${n14}/${n14}`));
  ok('unlink 14/14', await u.unlink(`${n14}/${n14}`));
  ok('unlink 14', await u.unlink(n14));
}

/** "." and ".." cannot be removed, from inside the directory or through a path. */
export async function rmdot(u: U): Promise<void> {
  await rmrf(u, 'dots');
  ok('mkdir dots', await u.mkdir('dots'));
  ok('chdir dots', await u.chdir('dots'));
  err('unlink .', await u.unlink('.'));
  err('unlink ..', await u.unlink('..'));
  ok('chdir /', await u.chdir('/'));
  err('unlink dots/.', await u.unlink('dots/.'));
  err('unlink dots/..', await u.unlink('dots/..'));
  ok('unlink dots', await u.unlink('dots'));
}

/** A file used as a directory, and a directory used as a file. */
export async function dirfile(u: U): Promise<void> {
  const f = 'dirfile';
  await rm(u, f);
  await u.close(ok('create dirfile', await u.open(f, O.CREATE)));
  err('chdir dirfile', await u.chdir(f), Errno.ENOTDIR);
  err('open dirfile/xx', await u.open(`${f}/xx`, O.RDONLY), Errno.ENOTDIR);
  err('create dirfile/xx', await u.open(`${f}/xx`, O.CREATE), Errno.ENOTDIR);
  err('mkdir dirfile/xx', await u.mkdir(`${f}/xx`), Errno.ENOTDIR);
  err('unlink dirfile/xx', await u.unlink(`${f}/xx`), Errno.ENOTDIR);
  err('link to dirfile/xx', await u.link(SELF, `${f}/xx`), Errno.ENOTDIR);
  ok('unlink dirfile', await u.unlink(f));
  err('open . for writing', await u.open('.', O.RDWR), Errno.EISDIR);
  const fd = ok('open .', await u.open('.', O.RDONLY));
  err('write to .', await u.write(fd, 'x'));
  await u.close(fd);
}

/**
 * Deeply nested directories, each entered, with empty names refused in each (xv6: that namei
 * gives back every inode it takes: NINODE + 1 levels).
 */
export async function iref(u: U): Promise<void> {
  const depth = 51;
  await rmrf(u, 'irefd');
  for (let i = 0; i < depth; i++) {
    ok(`mkdir irefd (depth ${i})`, await u.mkdir('irefd'));
    ok(`chdir irefd (depth ${i})`, await u.chdir('irefd'));
    err('mkdir ""', await u.mkdir(''));
    err('link to ""', await u.link(SELF, ''));
    err('create ""', await u.open('', O.CREATE));
    await u.close(ok('create xx', await u.open('xx', O.CREATE)));
    ok('unlink xx', await u.unlink('xx'));
  }
  for (let i = 0; i < depth; i++) {
    ok('chdir ..', await u.chdir('..'));
    ok(`unlink irefd (depth ${depth - 1 - i})`, await u.unlink('irefd'));
  }
}

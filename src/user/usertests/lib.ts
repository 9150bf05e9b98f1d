// What every test uses: failing with a reason, checking a system call's result against what it
// should be, and small whole-file helpers.
//
// A test is an async function of U that returns when it passed and throws Failed (fail, ok, err,
// eq) with a one-line reason when it did not; any other exception also fails it. Results are
// shown as xv6 would not: a negative errno by its name ("-ENOENT"), so a reason says what came
// back and what should have.
import { decodeUtf8, encodeUtf8, Errno, O, T, type U } from '../../lib/ulib/ulib.ts';
import { DIRENT_SIZE } from '../../lib/xv6fs/format.ts';

/** A test's failure: its message is the reason printed after "FAILED: ". */
export class Failed extends Error {}

export function fail(reason: string): never {
  throw new Failed(reason);
}

const names: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Errno).map(([k, v]) => [v, k]));

/** "3" for a result, "-ENOENT" for an error */
export function show(r: number): string {
  if (r >= 0) return String(r);
  return Object.hasOwn(names, -r) ? `-${names[-r]}` : String(r);
}

/** A call that must succeed: its result, or the test fails. */
export function ok(what: string, r: number): number {
  if (r < 0) fail(`${what}: ${show(r)}`);
  return r;
}

/** A call that must fail, with `errno` if given. */
export function err(what: string, r: number, errno?: number): void {
  if (r >= 0) fail(`${what} returned ${r}, expected ${errno === undefined ? 'an error' : show(-errno)}`);
  if (errno !== undefined && r !== -errno) fail(`${what}: got ${show(r)}, expected ${show(-errno)}`);
}

/** Two values that must be equal. */
export function eq(what: string, got: number | string, want: number | string): void {
  if (got !== want) fail(`${what}: got ${typeof got === 'number' ? show(got) : JSON.stringify(got)}, expected ${typeof want === 'number' ? show(want) : JSON.stringify(want)}`);
}

/** A pipe that must be made: [read end, write end]. */
export async function mkpipe(u: U): Promise<[number, number]> {
  const p = await u.pipe();
  if (typeof p === 'number') fail(`pipe: ${show(p)}`);
  return p;
}

/** A read that must return bytes (or end of file). */
export function bytes(what: string, r: Uint8Array | number): Uint8Array {
  if (typeof r === 'number') fail(`${what}: ${show(r)}`);
  return r;
}

/** Creates (or truncates) `path` holding `data`. */
export async function writeFile(u: U, path: string, data: Uint8Array | string): Promise<void> {
  const fd = ok(`create ${path}`, await u.open(path, O.CREATE | O.TRUNC | O.WRONLY));
  const len = typeof data === 'string' ? encodeUtf8(data).length : data.length;
  const n = await u.write(fd, data);
  await u.close(fd);
  eq(`write ${path}`, n, len);
}

/** The whole of `path`. */
export async function readFile(u: U, path: string): Promise<Uint8Array> {
  const fd = ok(`open ${path}`, await u.open(path, O.RDONLY));
  const r = await u.readAll(fd);
  await u.close(fd);
  return bytes(`read ${path}`, r);
}

/** Unlinks each path, whether or not it exists (a test's clean-up before and after). */
export async function rm(u: U, ...paths: string[]): Promise<void> {
  for (const p of paths) await u.unlink(p);
}

/** `n` bytes of `byte` */
export function fill(n: number, byte: number): Uint8Array {
  return new Uint8Array(n).fill(byte);
}

/** A read that must succeed: the number of bytes it returned. */
export async function readCount(u: U, fd: number, n: number, what = `read(${fd})`): Promise<number> {
  return bytes(what, await u.read(fd, n)).length;
}

/** The names in directory `path` (xv6 dirents: a 2-byte inode number, then a 14-byte name). */
export async function dirNames(u: U, path: string): Promise<string[]> {
  const b = await readFile(u, path);
  const names: string[] = [];
  for (let at = 0; at + DIRENT_SIZE <= b.length; at += DIRENT_SIZE) {
    if (b[at]! === 0 && b[at + 1]! === 0) continue;
    const name = b.subarray(at + 2, at + DIRENT_SIZE);
    const end = name.indexOf(0);
    names.push(decodeUtf8(end < 0 ? name : name.subarray(0, end)));
  }
  return names;
}

/** Removes `path` and, if it is a directory, everything in it (what a failed run left behind). */
export async function rmrf(u: U, path: string): Promise<void> {
  const st = await u.stat(path);
  if (st.err < 0) return;
  if (st.type === T.DIR) {
    for (const name of await dirNames(u, path)) if (name !== '.' && name !== '..') await rmrf(u, `${path}/${name}`);
  }
  await u.unlink(path);
}

let verbose = false;

/** Turns notes on (usertests -v). */
export function setVerbose(on: boolean): void {
  verbose = on;
}

/** A detail worth seeing with -v, printed indented under the test's name (how far a test got
 *  before the disk was full, what why() said). */
export async function note(u: U, text: string): Promise<void> {
  if (verbose) await u.printf('  %s\n', text);
}

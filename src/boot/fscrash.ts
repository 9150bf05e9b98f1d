// Crash-safety checking of rv6's file system, the way CrashMonkey (OSDI 2018) checks Linux file
// systems: run a workload against the fs domain on the NVMe-like disk, cut the device's power after
// a chosen number of I/O commands (every flush boundary, every command, or random points) keeping
// a random subset of the writes not yet flushed, boot a fresh fs domain on what survived (its log
// recovery runs), and check that
//   1. fsck finds the image consistent, with an empty log, and
//   2. the durability rule of the fs domain holds (its header): the tree on disk is exactly the
//      tree after some prefix of the workload's changing calls, a prefix that includes every call
//      before the last sync() that returned.
// The workload calls the Fs interface directly (the kernel holds the fs proxy), so each of its
// calls is one transaction, and the model (`Model`) is updated after each call that returned.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Fs, FsNode, IoBuf as IoBufT } from '../idl/rv6.ts';
import type { RRef } from '../idl/lib/types.ts';
import { IoBuf, bindHeap } from '../idl/generated/structs.ts';
import { Kernel } from '../kernel/kernel.ts';
import { NodeHost } from '../machine/node/host.ts';
import { seededRandom, type Keep } from '../machine/node/nvme.ts';
import { O, ROOTINO, T } from '../lib/rv6/abi.ts';
import { BSIZE } from '../lib/xv6fs/format.ts';
import { imageReader, readDir, readInode, readSuperblock, readData } from '../lib/xv6fs/image.ts';
import { fsck } from '../tools/fs/fsck.ts';
import { mkfs } from '../tools/fs/mkfs.ts';
import { powerOff, startBlock } from './block.ts';

// ---- the workload ---------------------------------------------------------------------------

export type Op =
  | { k: 'create'; path: string }
  | { k: 'write'; path: string; off: number; len: number; fill: number }
  | { k: 'trunc'; path: string }
  | { k: 'unlink'; path: string }
  | { k: 'mkdir'; path: string }
  | { k: 'link'; path: string; to: string }
  | { k: 'sync' }
  | { k: 'pause'; ms: number };

const NAMES = ['a', 'b', 'c', 'd', 'long-name-14ch'];
const DIRS = ['', 'x/', 'x/y/'];

/** A seeded random workload of `n` operations on a small tree (names collide on purpose). */
export function workload(seed: number, n: number): Op[] {
  const r = seededRandom(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const path = (): string => `/${pick(DIRS)}${pick(NAMES)}`;
  const ops: Op[] = [{ k: 'mkdir', path: '/x' }, { k: 'mkdir', path: '/x/y' }];
  while (ops.length < n) {
    const x = r();
    if (x < 0.2) ops.push({ k: 'create', path: path() });
    else if (x < 0.6) ops.push({ k: 'write', path: path(), off: Math.floor(r() * 16) * 700, len: 1 + Math.floor(r() * 4096), fill: 1 + Math.floor(r() * 250) });
    else if (x < 0.68) ops.push({ k: 'trunc', path: path() });
    else if (x < 0.8) ops.push({ k: 'unlink', path: path() });
    else if (x < 0.85) ops.push({ k: 'mkdir', path: `/${pick(DIRS)}dir${Math.floor(r() * 3)}` });
    else if (x < 0.93) ops.push({ k: 'link', path: path(), to: path() });
    else if (x < 0.97) ops.push({ k: 'sync' });
    else ops.push({ k: 'pause', ms: 40 }); // (the fs domain's commit timer fires)
  }
  return ops;
}

// ---- the model ------------------------------------------------------------------------------

interface MInode { type: number; data: Uint8Array; nlink: number }

/** What the tree should be: paths to inodes (hard links share one). */
export class Model {
  private readonly names = new Map<string, number>([['/', 0]]);
  private readonly inodes = new Map<number, MInode>([[0, { type: T.DIR, data: new Uint8Array(0), nlink: 1 }]]);
  private next = 1;

  private parent(path: string): string {
    const i = path.lastIndexOf('/');
    return i === 0 ? '/' : path.slice(0, i);
  }

  has(path: string): boolean { return this.names.has(path); }
  typeOf(path: string): number | undefined { const i = this.names.get(path); return i === undefined ? undefined : this.inodes.get(i)!.type; }

  add(path: string, type: number): void {
    const ino = this.next++;
    this.inodes.set(ino, { type, data: new Uint8Array(0), nlink: 1 });
    this.names.set(path, ino);
  }

  write(path: string, off: number, bytes: Uint8Array): void {
    const n = this.inodes.get(this.names.get(path)!)!;
    if (off + bytes.length > n.data.length) {
      const grown = new Uint8Array(off + bytes.length);
      grown.set(n.data);
      n.data = grown;
    }
    n.data.set(bytes, off);
  }

  trunc(path: string): void { this.inodes.get(this.names.get(path)!)!.data = new Uint8Array(0); }

  link(path: string, to: string): void {
    const ino = this.names.get(path)!;
    this.names.set(to, ino);
    this.inodes.get(ino)!.nlink++;
  }

  unlink(path: string): void {
    const ino = this.names.get(path)!;
    this.names.delete(path);
    const n = this.inodes.get(ino)!;
    if (--n.nlink === 0) this.inodes.delete(ino);
  }

  isEmptyDir(path: string): boolean {
    for (const p of this.names.keys()) if (p !== path && p.startsWith(`${path}/`)) return false;
    return true;
  }

  parentIsDir(path: string): boolean { return this.typeOf(this.parent(path)) === T.DIR; }

  /** One line per path, sorted: type, size, link count and a checksum of the contents. */
  canonical(): string {
    return [...this.names].filter(([p]) => p !== '/').sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([p, ino]) => { const n = this.inodes.get(ino)!; return line(p, n.type, n.data, n.type === T.DIR ? 0 : n.nlink); }).join('\n');
  }
}

function checksum(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193) >>> 0;
  return h;
}

function line(path: string, type: number, data: Uint8Array, nlink: number): string {
  return type === T.DIR ? `d ${path}` : `${type === T.FILE ? 'f' : 'n'} ${path} ${data.length} ${nlink} ${checksum(data).toString(16)}`;
}

/** The tree of an image, in Model.canonical's form (throws on a malformed image). */
export function treeOf(image: Uint8Array): string {
  const read = imageReader(image);
  const sb = readSuperblock(read);
  const out: string[] = [];
  const walk = (inum: number, path: string, depth: number): void => {
    if (depth > 16) throw new Error(`directory nesting past 16 at ${path}`);
    for (const e of readDir(read, sb, readInode(read, sb, inum))) {
      if (e.name === '.' || e.name === '..') continue;
      const p = `${path === '/' ? '' : path}/${e.name}`;
      const d = readInode(read, sb, e.inum);
      if (d.type === T.DIR) { out.push(line(p, T.DIR, new Uint8Array(0), 0)); walk(e.inum, p, depth + 1); }
      else out.push(line(p, d.type, readData(read, sb, d), d.nlink));
    }
  };
  walk(ROOTINO, '/', 0);
  return out.sort((a, b) => (a.split(' ')[1]! < b.split(' ')[1]! ? -1 : 1)).join('\n');
}

// ---- running it -----------------------------------------------------------------------------

export interface Machine {
  k: Kernel;
  /** null if power was lost before the fs domain could start */
  fs: Fs | null;
  stop(): Promise<Uint8Array>;
  /** whether the device has lost power */
  cut(): boolean;
  /** I/O commands completed so far */
  commands(): number;
}

/** A kernel, the disk holding `image` and the fs domain on it; `cut` cuts power after that many
 *  I/O commands, keeping `keep` of the unflushed writes. */
export async function machine(bundles: readonly (string | Uint8Array)[], trust: string[], image: Uint8Array, dir: string, cut?: { after: number; keep: Keep }): Promise<Machine> {
  const k = new Kernel(new NodeHost(), { trust, log: () => {} });
  for (const b of bundles) k.load(b);
  bindHeap(k.heapCap());
  const file = join(dir, `disk-${Math.random().toString(36).slice(2)}.img`);
  writeFileSync(file, image);
  const p = await startBlock(k, { blocks: Math.ceil(image.length / 4096), image: file, ...(cut ? { powerCut: { afterCommands: cut.after, keep: cut.keep } } : {}) });
  const stop = async (): Promise<Uint8Array> => {
    await powerOff(k, p);
    const out = new Uint8Array(readFileSync(file));
    rmSync(file, { force: true });
    return out;
  };
  const lost = (): boolean => p.dev.powerReport() !== null;
  try {
    const fs = k.create<Fs>('fs', { bdev: p.bdev }, { budgetMs: 5000 }).api;
    return { k, fs, stop, cut: lost, commands: () => p.dev.completed() };
  } catch (e) {
    // (power lost while the fs domain was starting: it could not read its disk)
    if (lost()) return { k, fs: null, stop, cut: lost, commands: () => p.dev.completed() };
    await stop();
    throw e;
  }
}

/** Runs `ops` against `m`, updating `model` after each changing call that returned; returns the
 *  canonical tree after each (index 0: before any), and the index of the last sync that returned. */
export async function run(m: Machine, ops: readonly Op[], model: Model): Promise<{ states: string[]; synced: number }> {
  const states = [model.canonical()];
  let synced = 0;
  if (m.fs === null) return { states, synced };
  const fs = m.fs;
  const changed = (): void => { states.push(model.canonical()); };
  let buf: RRef<IoBufT> | null = IoBuf.alloc();
  const node = (r: ReturnType<Fs['open']>): FsNode | null => (r.ok && r.value.err >= 0 ? r.value : null);
  for (const op of ops) {
    if (m.cut()) break;
    switch (op.k) {
      case 'create': {
        const existed = model.has(op.path);
        const n = node(fs.open(ROOTINO, op.path, O.CREATE | O.RDWR));
        if (n) { fs.put(n.inum); if (!existed) { model.add(op.path, T.FILE); changed(); } }
        break;
      }
      case 'write': case 'trunc': {
        const existed = model.has(op.path);
        const n = node(fs.open(ROOTINO, op.path, op.k === 'trunc' ? O.RDWR | O.TRUNC : O.RDWR | O.CREATE));
        if (!n) break;
        if (!existed) { model.add(op.path, T.FILE); changed(); }
        if (op.k === 'trunc') { model.trunc(op.path); changed(); fs.put(n.inum); break; }
        const bytes = new Uint8Array(op.len).fill(op.fill);
        IoBuf.setN(buf!, op.len);
        IoBuf.writeData(buf!, 0, bytes);
        const r = fs.write(n.inum, op.off, buf!);
        if (r.ok) {
          buf = r.value;
          if (IoBuf.n(buf) === op.len) { model.write(op.path, op.off, bytes); changed(); }
        } else buf = IoBuf.alloc();
        fs.put(n.inum);
        break;
      }
      case 'unlink': {
        const r = fs.unlink(ROOTINO, op.path);
        if (r.ok && r.value === 0) {
          model.unlink(op.path);
          changed();
        }
        break;
      }
      case 'mkdir': {
        const r = fs.mkdir(ROOTINO, op.path);
        if (r.ok && r.value === 0) { model.add(op.path, T.DIR); changed(); }
        break;
      }
      case 'link': {
        const r = fs.link(ROOTINO, op.path, op.to);
        if (r.ok && r.value === 0) { model.link(op.path, op.to); changed(); }
        break;
      }
      case 'pause':
        await new Promise((r) => setTimeout(r, op.ms));
        break;
      case 'sync': {
        const r = fs.sync();
        if (r.ok && r.value === 0 && !m.cut()) synced = states.length - 1;
        break;
      }
    }
  }
  if (buf !== null) IoBuf.free(buf);
  return { states, synced };
}

export interface CutResult {
  after: number;
  keep: Keep;
  ok: boolean;
  /** what was wrong, one line each */
  problems: string[];
  /** the prefix of changing calls the disk holds, or -1 */
  prefix: number;
  synced: number;
  calls: number;
}

/** Checks a disk after recovery against the states the workload went through (see the header):
 *  what is wrong, and which prefix of the calls it holds (-1: none allowed). */
export function judge(image: Uint8Array, states: readonly string[], synced: number): { problems: string[]; prefix: number } {
  const problems: string[] = [];
  const f = fsck(image);
  if (!f.ok) problems.push(...f.errors.map((e) => `fsck: ${e}`));
  if (f.stats.logReplayed !== 0) problems.push(`the log still held ${f.stats.logReplayed} blocks after recovery`);
  let prefix = -1;
  try {
    const tree = treeOf(image);
    for (let i = states.length - 1; i >= synced; i--) if (states[i] === tree) { prefix = i; break; }
    if (prefix < 0) {
      const earlier = states.slice(0, synced).lastIndexOf(tree);
      problems.push(earlier >= 0
        ? `the disk holds the tree after call ${earlier}, but call ${synced} had been synced`
        : 'the disk holds a tree that is no prefix of the calls');
    }
  } catch (e) {
    problems.push(`the tree cannot be read: ${(e as Error).message}`);
  }
  return { problems, prefix };
}

/** One cut: the workload until power is lost after `after` commands, then a reboot and checks. */
export async function cutOnce(bundles: readonly (string | Uint8Array)[], trust: string[], base: Uint8Array, ops: readonly Op[], after: number, keep: Keep, dir: string): Promise<CutResult> {
  const m = await machine(bundles, trust, base, dir, { after, keep });
  const { states, synced } = await run(m, ops, new Model());
  const survived = await m.stop();
  const problems: string[] = [];
  // boot again: the fs domain's init recovers the log; then sync and stop
  const m2 = await machine(bundles, trust, survived, dir).catch((e: Error) => { problems.push(`reboot failed: ${e.message}`); return null; });
  let image = survived;
  if (m2 && m2.fs === null) problems.push('the fs domain did not start on the second boot');
  if (m2 && m2.fs) {
    const s = m2.fs.sync();
    if (!s.ok || s.value !== 0) problems.push(`sync after recovery failed: ${s.ok ? s.value : s.error.message}`);
    image = await m2.stop();
  }
  const j = judge(image, states, synced);
  problems.push(...j.problems);
  const prefix = j.prefix;
  return { after, keep, ok: problems.length === 0, problems, prefix, synced, calls: states.length - 1 };
}

/** How many I/O commands the whole workload takes without a cut. */
export async function commandsOf(bundles: readonly (string | Uint8Array)[], trust: string[], base: Uint8Array, ops: readonly Op[], dir: string): Promise<number> {
  // (a cut past the end never happens; the device then reports how many commands ran in total)
  const m = await machine(bundles, trust, base, dir, { after: 1 << 30, keep: 'none' });
  await run(m, ops, new Model());
  if (!m.fs) throw new Error('the fs domain did not start');
  const s = m.fs.sync();
  if (!s.ok) throw new Error(`sync failed: ${s.error.message}`);
  const n = m.commands();
  await m.stop();
  return n;
}

/** A fresh base image for the workloads: a small xv6 disk. */
export function baseImage(): Uint8Array {
  return mkfs({ size: 1024, ninodes: 64 });
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'frond-fscrash-'));
}

export { BSIZE };

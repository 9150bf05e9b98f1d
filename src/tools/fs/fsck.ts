// fsck: checks an xv6 file-system image and says, one readable line per problem, what is wrong.
// Pure: the `frond fsck` verb (src/cli/fsck.ts) reads the file and prints the report.
//
// The checks, in order (each later one trusts only what the earlier ones accepted):
//   1. the image: long enough for a superblock, a whole number of blocks;
//   2. the superblock (format.ts validateSuperblock); the image holds all `size` blocks (a shorter
//      one is reported and checked as far as it goes; one missing metadata blocks stops here);
//   3. the log header: n within the log, each home block inside the inode/bitmap/data blocks, none
//      twice. A committed transaction (n > 0) is replayed over a private overlay, as xv6 does at
//      boot, and the rest is checked as xv6 would see the disk; the image itself is never changed;
//   4. every inode: inode 0 unused; a known type; size at most MAXFILE blocks; a directory's size a
//      whole number of entries; every block it refers to (direct, indirect, and those the indirect
//      block lists) inside the data blocks and referred to by nobody else;
//   5. the directory tree, walked breadth-first from the root: "." first (the directory itself),
//      ".." second (its parent; the root's is itself); every other entry named, unique in its
//      directory, and referring to an allocated inode. A directory's one name is the entry in the
//      directory its ".." names (failing that, the first entry found); any other entry naming it
//      is a loop (if it names an ancestor) or a second name (xv6 allows one per directory);
//   6. every allocated inode reachable from the root, and its nlink equal to the entries referring
//      to it ("." not counted, ".." counted: xv6's rule, under which a new directory has nlink 1
//      and adds 1 to its parent's);
//   7. the bitmap against what is in use: metadata and referenced blocks marked, nothing else.
// Holes (block 0 inside a file's size) are allowed, as in xv6, which reads them as zeros; so is a
// block referred to past a file's size (xv6 can leave one after a failed write).
//
// Invariants: fsck never throws and never changes `image`; its work is linear in the image's size
// (each block is read as directory data by at most one inode, the loops are bounded by the inode
// and block counts, which the image's length bounds) and its output is at most MAX_ERRORS lines.
import {
  BSIZE, DIRENT_SIZE, LOG_HEADER_MAX, MAXFILE, NDIRECT, NINDIRECT, ROOTINO, T_DEVICE, T_DIR, T_FILE,
  T_FREE, SUPERBLOCK_SIZE, bblock, bitOf, decodeDinode, decodeDirent, decodeLogHeader, decodeSuperblock, iblock,
  inodeOffset, layoutOf, validateSuperblock, type Dinode, type Layout, type Superblock,
} from '../../lib/xv6fs/format.ts';

export interface FsckStats {
  /** blocks, as the superblock says (0 if it could not be read) */
  size: number;
  ninodes: number;
  nlog: number;
  /** the first data block, and the number of data blocks */
  datastart: number;
  nblocks: number;
  /** allocated inodes, and of them directories, files and devices */
  inodesUsed: number;
  dirs: number;
  files: number;
  devices: number;
  /** data blocks referred to by inodes (indirect blocks included), and data blocks the bitmap marks used */
  blocksUsed: number;
  blocksMarked: number;
  /** blocks of a committed transaction in the log, replayed (in memory) before the checks; 0 if the log is empty */
  logReplayed: number;
}

export interface FsckResult {
  /** no problem found */
  ok: boolean;
  /** one readable line per problem (at most MAX_ERRORS, then a line saying how many more there were) */
  errors: string[];
  /** how many problems were found (listed or not) */
  problems: number;
  stats: FsckStats;
}

/** At most this many problems are listed; the rest are counted. */
export const MAX_ERRORS = 200;
/** Path names in messages keep at most this many trailing elements. */
const MAX_PATH_ELEMENTS = 8;

/** Checks `image` (never throws; never changes it). */
export function fsck(image: Uint8Array): FsckResult {
  const c = newCheck(image);
  try {
    if (checkImage(c)) {
      checkLog(c);
      scanInodes(c);
      walkTree(c);
      checkLinks(c);
      checkBitmap(c);
    }
  } catch (e) {
    // Not expected: every read is bounds-checked. Said as a problem rather than thrown.
    problem(c, () => `fsck stopped: internal error (${e instanceof Error ? e.message : String(e)})`);
  }
  return result(c);
}

// ---- the state of one check --------------------------------------------------------------------

interface Check {
  image: Uint8Array;
  /** whole blocks in the image */
  imageBlocks: number;
  sb: Superblock;
  l: Layout;
  /** blocks replayed from the log: read instead of the image's */
  overlay: Map<number, Uint8Array>;
  errors: string[];
  /** problems beyond MAX_ERRORS */
  more: number;
  stats: FsckStats;
  /** per inode: type (T_FREE if free), nlink, entries referring to it, parent directory (0: not reached) */
  type: Int16Array;
  nlink: Int16Array;
  refs: Int32Array;
  parent: Int32Array;
  /** the name by which each reached inode was reached (for path names in messages) */
  names: Map<number, string>;
  /** per block below min(size, imageBlocks): the inode referring to it (0: none) */
  owner: Int32Array;
}

function newCheck(image: Uint8Array): Check {
  const stats: FsckStats = { size: 0, ninodes: 0, nlog: 0, datastart: 0, nblocks: 0, inodesUsed: 0, dirs: 0, files: 0,
    devices: 0, blocksUsed: 0, blocksMarked: 0, logReplayed: 0 };
  const none = new Int16Array(0);
  const sb = decodeSuperblock(new Uint8Array(SUPERBLOCK_SIZE)); // all zero until checkImage reads the real one
  return { image, imageBlocks: Math.floor(image.length / BSIZE), sb, l: layoutOf(sb),
    overlay: new Map(), errors: [], more: 0, stats, type: none, nlink: none, refs: new Int32Array(0),
    parent: new Int32Array(0), names: new Map(), owner: new Int32Array(0) };
}

/** Records a problem; its message is built only if it will be listed. */
function problem(c: Check, message: () => string): void {
  if (c.errors.length < MAX_ERRORS) c.errors.push(message());
  else c.more++;
}

function result(c: Check): FsckResult {
  const errors = c.more > 0 ? [...c.errors, `... and ${c.more} more problem(s)`] : c.errors;
  return { ok: errors.length === 0, errors, problems: c.errors.length + c.more, stats: c.stats };
}

/** Block `b` as xv6 would read it (after log replay); the caller checked b < imageBlocks. */
function readBlock(c: Check, b: number): Uint8Array {
  return c.overlay.get(b) ?? c.image.subarray(b * BSIZE, (b + 1) * BSIZE);
}

function u32At(block: Uint8Array, off: number): number {
  return new DataView(block.buffer, block.byteOffset + off, 4).getUint32(0, true);
}

// ---- 1, 2: the image and the superblock --------------------------------------------------------

/** False if nothing more can be checked. */
function checkImage(c: Check): boolean {
  const len = c.image.length;
  if (len < 2 * BSIZE) {
    problem(c, () => `the image is ${len} bytes: too short to hold a superblock (block 1, bytes ${BSIZE}..${2 * BSIZE - 1})`);
    return false;
  }
  if (len % BSIZE !== 0) problem(c, () => `the image is ${len} bytes, not a whole number of ${BSIZE}-byte blocks`);
  const sb = decodeSuperblock(c.image.subarray(BSIZE, 2 * BSIZE));
  const why = validateSuperblock(sb);
  if (why !== null) { problem(c, () => why); return false; }
  c.sb = sb;
  c.l = layoutOf(sb);
  Object.assign(c.stats, { size: sb.size, ninodes: sb.ninodes, nlog: sb.nlog, datastart: c.l.datastart, nblocks: sb.nblocks });
  if (c.imageBlocks < sb.size) {
    problem(c, () => `the image has ${c.imageBlocks} blocks but the superblock says ${sb.size}: it is truncated`);
    if (c.imageBlocks < c.l.datastart) {
      problem(c, () => `the metadata (blocks 0..${c.l.datastart - 1}) is not all in the image: nothing more can be checked`);
      return false;
    }
  }
  allocateTables(c);
  return true;
}

function allocateTables(c: Check): void {
  const n = c.sb.ninodes;
  c.type = new Int16Array(n);
  c.nlink = new Int16Array(n);
  c.refs = new Int32Array(n);
  c.parent = new Int32Array(n);
  c.owner = new Int32Array(Math.min(c.sb.size, c.imageBlocks));
}

// ---- 3: the log --------------------------------------------------------------------------------

function checkLog(c: Check): void {
  const { logstart, nlog, inodestart, size } = c.sb;
  const h = decodeLogHeader(readBlock(c, logstart));
  const cap = Math.min(nlog - 1, LOG_HEADER_MAX);
  if (h.n < 0 || h.n > cap) {
    problem(c, () => `the log header (block ${logstart}) says ${h.n} blocks are committed, but the log holds at most ${cap}; the log was not replayed`);
    return;
  }
  const seen = new Set<number>();
  let bad = false;
  h.blocks.forEach((b, i) => {
    if (b < inodestart || b >= size) problem(c, () => `the log header's entry ${i} names block ${b}, outside the inode, bitmap and data blocks (${inodestart}..${size - 1})`);
    else if (b >= c.imageBlocks) problem(c, () => `the log header's entry ${i} names block ${b}, past the end of the truncated image`);
    else if (seen.has(b)) problem(c, () => `the log header names block ${b} twice`);
    else { seen.add(b); return; }
    bad = true;
  });
  if (bad) { problem(c, () => 'the log was not replayed: its header is damaged'); return; }
  h.blocks.forEach((b, i) => c.overlay.set(b, readBlock(c, logstart + 1 + i)));
  c.stats.logReplayed = h.n;
}

// ---- 4: inodes and the blocks they refer to ----------------------------------------------------

const TYPE_NAMES: Record<number, string> = { [T_DIR]: 'directory', [T_FILE]: 'file', [T_DEVICE]: 'device' };

/** A type an allocated inode may have (an inode of another type is reported once, then ignored). */
function known(type: number): boolean {
  return type === T_DIR || type === T_FILE || type === T_DEVICE;
}

function readInode(c: Check, inum: number): Dinode {
  return decodeDinode(readBlock(c, iblock(inum, c.sb)), inodeOffset(inum));
}

function scanInodes(c: Check): void {
  const inode0 = readInode(c, 0);
  if (inode0.type !== T_FREE) problem(c, () => `inode 0 is in use (type ${inode0.type}); xv6 never uses inode 0`);
  for (let inum = 1; inum < c.sb.ninodes; inum++) {
    const d = readInode(c, inum);
    if (d.type === T_FREE) continue;
    c.type[inum] = d.type;
    c.nlink[inum] = d.nlink;
    if (!known(d.type)) {
      problem(c, () => `inode ${inum} has unknown type ${d.type} (1 directory, 2 file, 3 device; 0 free)`);
      continue;
    }
    countInode(c, d.type);
    checkSize(c, inum, d);
    claimBlocks(c, inum, d);
  }
  c.stats.blocksUsed = c.owner.reduce((n, o, b) => n + (o !== 0 && b >= c.l.datastart ? 1 : 0), 0);
}

function countInode(c: Check, type: number): void {
  c.stats.inodesUsed++;
  if (type === T_DIR) c.stats.dirs++;
  else if (type === T_FILE) c.stats.files++;
  else c.stats.devices++;
}

function checkSize(c: Check, inum: number, d: Dinode): void {
  if (d.size > MAXFILE * BSIZE) problem(c, () => `inode ${inum}: size ${d.size} is over the largest file (${MAXFILE * BSIZE} bytes)`);
  if (d.type === T_DIR && d.size % DIRENT_SIZE !== 0) {
    problem(c, () => `inode ${inum}: a directory's size must be a multiple of ${DIRENT_SIZE} (one entry), not ${d.size}`);
  }
}

/** Claims every block `d` refers to for `inum`. */
function claimBlocks(c: Check, inum: number, d: Dinode): void {
  for (let i = 0; i < NDIRECT; i++) {
    if (d.addrs[i] !== 0) claim(c, inum, d.addrs[i]!, `addrs[${i}]`);
  }
  const ind = d.addrs[NDIRECT]!;
  if (ind === 0 || !claim(c, inum, ind, 'its indirect block')) return;
  const block = readBlock(c, ind);
  for (let i = 0; i < NINDIRECT; i++) {
    const b = u32At(block, i * 4);
    if (b !== 0) claim(c, inum, b, `entry ${i} of indirect block ${ind}`);
  }
}

/** Records that `inum` refers to block `b` (`where`: how, for messages); false if it may not. */
function claim(c: Check, inum: number, b: number, where: string): boolean {
  const { datastart } = c.l;
  const size = c.sb.size;
  if (b < datastart || b >= size) {
    problem(c, () => `inode ${inum}: block ${b} (${where}) is outside the data blocks (${datastart}..${size - 1})`);
    return false;
  }
  if (b >= c.imageBlocks) {
    problem(c, () => `inode ${inum}: block ${b} (${where}) is past the end of the truncated image`);
    return false;
  }
  const other = c.owner[b]!;
  if (other !== 0) {
    problem(c, () => other === inum ? `inode ${inum} refers to block ${b} twice (the second time as ${where})`
      : `block ${b} is used twice: by inode ${other} and by inode ${inum} (${where})`);
    return false;
  }
  c.owner[b] = inum;
  return true;
}

// ---- 5: the directory tree ---------------------------------------------------------------------

interface Entry { off: number; inum: number; name: string }

/** The entries of directory `dir` (free ones left out), from the blocks `dir` owns alone. */
function dirEntries(c: Check, dir: number): Entry[] {
  const d = readInode(c, dir);
  const end = Math.min(d.size, MAXFILE * BSIZE);
  const out: Entry[] = [];
  for (let fbn = 0; fbn * BSIZE < end; fbn++) {
    const b = ownBlock(c, dir, d, fbn);
    if (b === 0) continue;
    const block = readBlock(c, b);
    for (let off = 0; off + DIRENT_SIZE <= BSIZE && fbn * BSIZE + off + DIRENT_SIZE <= end; off += DIRENT_SIZE) {
      const e = decodeDirent(block, off);
      if (e.inum !== 0) out.push({ off: fbn * BSIZE + off, ...e });
    }
  }
  return out;
}

/** The block holding block `fbn` of `dir`, if `dir` owns it (checked in claimBlocks); else 0. */
function ownBlock(c: Check, dir: number, d: Dinode, fbn: number): number {
  let b: number;
  if (fbn < NDIRECT) b = d.addrs[fbn]!;
  else {
    const ind = d.addrs[NDIRECT]!;
    if (!owns(c, dir, ind)) return 0;
    b = u32At(readBlock(c, ind), (fbn - NDIRECT) * 4);
  }
  return owns(c, dir, b) ? b : 0;
}

function owns(c: Check, inum: number, b: number): boolean {
  return b !== 0 && b < c.owner.length && c.owner[b] === inum;
}

function walkTree(c: Check): void {
  if (c.type[ROOTINO] !== T_DIR) {
    const type = c.type[ROOTINO]!;
    problem(c, () => type === T_FREE ? `the root directory (inode ${ROOTINO}) is free`
      : `the root inode (${ROOTINO}) is ${known(type) ? `a ${TYPE_NAMES[type]}` : `of unknown type ${type}`}, not a directory`);
    return;
  }
  const w: Walk = { queue: [ROOTINO], pending: new Map() };
  c.parent[ROOTINO] = ROOTINO;
  for (let i = 0; ; i++) {
    if (i === w.queue.length) {
      // Directories named only by entries their ".." disowns: each takes its first name.
      const first = w.pending.entries().next();
      if (first.done) break;
      w.pending.delete(first.value[0]);
      adopt(c, w, first.value[0], first.value[1]);
    }
    checkDir(c, w.queue[i]!, w);
  }
}

/** The walk's state: directories reached and not yet checked (with the ones checked before them),
 *  and directories named so far only by an entry in a directory their ".." does not name. */
interface Walk {
  queue: number[];
  pending: Map<number, { dir: number; name: string }>;
}

/** Checks directory `dir`'s entries, counts its references and queues the directories it reaches. */
function checkDir(c: Check, dir: number, w: Walk): void {
  const entries = dirEntries(c, dir);
  checkDots(c, dir, entries);
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.inum >= c.sb.ninodes) {
      problem(c, () => `${where(c, dir)}: entry ${show(e.name)} refers to inode ${e.inum}, past the last inode (${c.sb.ninodes - 1})`);
      continue;
    }
    if (c.type[e.inum] === T_FREE) {
      problem(c, () => `${where(c, dir)}: entry ${show(e.name)} refers to inode ${e.inum}, which is free`);
      continue;
    }
    if (e.name !== '.') c.refs[e.inum]!++;
    if (isDot(e)) continue;
    checkName(c, dir, e, seen);
    reach(c, w, dir, e);
  }
}

/** "." (offset 0) and ".." (offset 16) are in place, and point where they must. */
function checkDots(c: Check, dir: number, entries: Entry[]): void {
  const want: [number, string, number][] = [[0, '.', dir], [DIRENT_SIZE, '..', c.parent[dir]!]];
  for (const [off, name, inum] of want) {
    const e = entries.find((x) => x.off === off);
    if (e === undefined || e.name !== name) {
      problem(c, () => `${where(c, dir)}: the entry at offset ${off} must be '${name}', but it is ${e === undefined ? 'free' : show(e.name)}`);
    } else if (e.inum !== inum) {
      const what = name === '.' ? 'the directory itself' : dir === ROOTINO ? 'the root itself' : `its parent, inode ${inum}`;
      problem(c, () => `${where(c, dir)}: '${name}' refers to inode ${e.inum}, not to ${what}`);
    }
  }
  for (const e of entries) {
    if (isDot(e) && e.off > DIRENT_SIZE) problem(c, () => `${where(c, dir)}: another '${e.name}' entry at offset ${e.off}`);
  }
}

function isDot(e: Entry): boolean {
  return e.name === '.' || e.name === '..';
}

function checkName(c: Check, dir: number, e: Entry, seen: Set<string>): void {
  if (e.name === '') problem(c, () => `${where(c, dir)}: the entry at offset ${e.off} (inode ${e.inum}) has an empty name`);
  else if (e.name.includes('/')) problem(c, () => `${where(c, dir)}: entry ${show(e.name)} has a '/' in its name`);
  if (seen.has(e.name)) problem(c, () => `${where(c, dir)}: two entries are named ${show(e.name)}`);
  seen.add(e.name);
}

/** Marks the inode entry `e` of `dir` names as reached. A directory's name is the entry in the
 *  directory its ".." names (else its first); any other entry naming it is a loop (if it is an
 *  ancestor of `dir`) or a second name. */
function reach(c: Check, w: Walk, dir: number, e: Entry): void {
  const t = e.inum;
  const reached = c.parent[t] !== 0;
  if (c.type[t] !== T_DIR) {
    if (!reached) adopt(c, w, t, { dir, name: e.name }); // a file's other names are hard links: fine
    return;
  }
  if (reached) {
    problem(c, () => isAncestor(c, t, dir) ? `directory loop: entry ${show(e.name)} in ${where(c, dir)} leads back to ${where(c, t)}`
      : `${where(c, t)} is also named ${show(e.name)} in ${where(c, dir)}; a directory may have only one name`);
    return;
  }
  const first = w.pending.get(t);
  if (dotdot(c, t) === dir) {
    adopt(c, w, t, { dir, name: e.name });
    if (first === undefined) return;
    w.pending.delete(t);
    problem(c, () => `${where(c, t)} is also named ${show(first.name)} in ${where(c, first.dir)}; a directory may have only one name`);
  } else if (first === undefined) {
    w.pending.set(t, { dir, name: e.name });
  } else {
    problem(c, () => `inode ${t} (a directory) is named both ${show(first.name)} in ${where(c, first.dir)} and ${show(e.name)} in ${where(c, dir)}; a directory may have only one name`);
  }
}

/** Records that `inum` is reached as `name` in `dir` (and queues it if it is a directory). */
function adopt(c: Check, w: Walk, inum: number, at: { dir: number; name: string }): void {
  c.parent[inum] = at.dir;
  c.names.set(inum, at.name);
  if (c.type[inum] === T_DIR) w.queue.push(inum);
}

/** What the ".." entry of directory `dir` names (0 if it has none where xv6 puts it). */
function dotdot(c: Check, dir: number): number {
  const d = readInode(c, dir);
  const b = d.addrs[0]!;
  if (d.size < 2 * DIRENT_SIZE || !owns(c, dir, b)) return 0;
  const e = decodeDirent(readBlock(c, b), DIRENT_SIZE);
  return e.name === '..' ? e.inum : 0;
}

/** Whether `a` is `d` or one of its ancestors (on the tree walkTree built). */
function isAncestor(c: Check, a: number, d: number): boolean {
  for (let x = d, steps = 0; steps <= c.sb.ninodes; steps++) {
    if (x === a) return true;
    if (x === ROOTINO || x === 0) return false;
    x = c.parent[x]!;
  }
  return false;
}

/** "directory /a/b" or "inode 7 (/a/b/c)": how messages name an inode the walk reached. */
function where(c: Check, inum: number): string {
  return c.type[inum] === T_DIR ? `directory ${pathOf(c, inum)}` : `inode ${inum} (${pathOf(c, inum)})`;
}

/** The path by which the walk reached `inum` (its last MAX_PATH_ELEMENTS elements). */
function pathOf(c: Check, inum: number): string {
  const parts: string[] = [];
  let x = inum;
  while (x !== ROOTINO && x !== 0 && parts.length < MAX_PATH_ELEMENTS) {
    parts.unshift(show(c.names.get(x) ?? '?', false));
    x = c.parent[x]!;
  }
  if (x === ROOTINO) return `/${parts.join('/')}`;
  return `.../${parts.join('/')}`;
}

/** A name as messages show it: control characters and quotes escaped, quoted unless `quote` is false. */
function show(name: string, quote = true): string {
  const s = name.replace(/[\u0000-\u001f\u007f-\u009f'\\]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return quote ? `'${s}'` : s;
}

// ---- 6: reachability and link counts -----------------------------------------------------------

function checkLinks(c: Check): void {
  if (c.type[ROOTINO] !== T_DIR) return; // no tree was walked: walkTree said why
  for (let inum = 1; inum < c.sb.ninodes; inum++) {
    const type = c.type[inum]!;
    if (!known(type)) continue;
    if (c.parent[inum] === 0) {
      problem(c, () => `inode ${inum} (${TYPE_NAMES[type]}, nlink ${c.nlink[inum]}) is in use but no directory reachable from / refers to it`);
    } else if (c.nlink[inum] !== c.refs[inum]) {
      problem(c, () => `${where(c, inum)}: nlink is ${c.nlink[inum]}, but ${c.refs[inum]} directory entries refer to it`);
    }
  }
}

// ---- 7: the bitmap -----------------------------------------------------------------------------

type BitState = 'ok' | 'metadata free' | 'used free' | 'marked unused';

function checkBitmap(c: Check): void {
  let run: { state: BitState; from: number } = { state: 'ok', from: 0 };
  const end = c.owner.length;
  for (let b = 0; b <= end; b++) {
    const state = b === end ? 'ok' : bitState(c, b);
    if (state === run.state) continue;
    if (run.state !== 'ok') reportRun(c, run.state, run.from, b - 1);
    run = { state, from: b };
  }
}

/** Whether block `b`'s bit agrees with its use (counting the data blocks marked used). */
function bitState(c: Check, b: number): BitState {
  const { byte, mask } = bitOf(b);
  const marked = (readBlock(c, bblock(b, c.sb))[byte]! & mask) !== 0;
  if (b < c.l.datastart) return marked ? 'ok' : 'metadata free';
  if (marked) c.stats.blocksMarked++;
  const used = c.owner[b] !== 0;
  return used === marked ? 'ok' : used ? 'used free' : 'marked unused';
}

function reportRun(c: Check, state: BitState, from: number, to: number): void {
  const blocks = from === to ? `block ${from}` : `blocks ${from}..${to} (${to - from + 1})`;
  const owner = c.owner[from]!;
  const text = state === 'metadata free' ? `${blocks}: metadata, but free in the bitmap`
    : state === 'used free' ? `${blocks}: in use (${from === to ? '' : 'the first '}by inode ${owner}) but free in the bitmap`
      : `${blocks}: marked in use in the bitmap, but nothing refers to ${from === to ? 'it' : 'them'}`;
  problem(c, () => text);
}

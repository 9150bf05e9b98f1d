// mkfs: builds an xv6 file-system image in memory, the way xv6-riscv's mkfs/mkfs.c does, so that
// the same inputs give the same bytes (test/xv6fs.test.ts compares with images made by xv6's own
// mkfs). Pure: the `frond mkfs` verb (src/cli/mkfs.ts) reads the host files and writes the image.
//
// What it writes, in xv6's order (format.ts has the layout):
//   1. every block zero, then the superblock (block 1) for mkfsLayout(size, ninodes, nlog);
//   2. the root directory: inode 1, with "." and ".." (both inode 1);
//   3. each file in the order given: the next inode (2, 3, ...), its entry appended to the root
//      directory, then its data; data blocks are handed out one after another from the first data
//      block, a file's indirect block just before its 13th data block;
//   4. the root directory's size rounded up as xv6 rounds it: (size/BSIZE + 1) * BSIZE — so a
//      root directory that exactly fills its blocks gets one more block's worth of size with no
//      block behind it (a hole; xv6 reads it as free entries);
//   5. the bitmap: every block below the next free one marked used (the metadata included).
// Every inode mkfs writes has nlink 1, major and minor 0; the root directory's nlink is 1 too.
//
// Differences from xv6's mkfs, none of which changes the bytes for inputs xv6's accepts:
//   - size, inode count and log size are parameters (xv6: FSSIZE, NINODES, LOGSIZE at compile time);
//     an image needing more than one bitmap block gets them all marked (xv6 asserts one);
//   - files come as names and bytes: no "user/" or "_" prefix is stripped;
//   - what xv6 would assert or silently get wrong is an MkfsError: a name that is empty, ".", "..",
//     holds '/' or NUL, or clashes with another once cut to DIRSIZ bytes; a file over MAXFILE
//     blocks; more files than inodes; an image too small for its files.
import {
  BSIZE, DIRENT_SIZE, DIRSIZ, FSSIZE, LOG_HEADER_MAX, MAXFILE, MAXOPBLOCKS, NDIRECT, NINODES, NLOG, ROOTINO,
  T_DIR, T_FILE, bblock, bitOf, decodeDinode, emptyDinode, encodeDinode, encodeDirent,
  encodeSuperblock, iblock, inodeOffset, mkfsLayout, nameBytes, superblockOf, type Dinode, type Layout,
} from '../../lib/xv6fs/format.ts';

export interface MkfsFile {
  /** the name in the root directory (cut to DIRSIZ bytes of UTF-8, as xv6 does) */
  name: string;
  data: Uint8Array;
}

export interface MkfsOptions {
  /** blocks in the image (default 2000) */
  size?: number;
  /** inodes (default 200) */
  ninodes?: number;
  /** log blocks, the header included (default 30) */
  nlog?: number;
  /** put in the root directory, in this order */
  files?: readonly MkfsFile[];
}

/** Inputs mkfs cannot make an image from: the message says which and why. */
export class MkfsError extends Error {
  override name = 'MkfsError';
}

/** The ranges mkfs accepts. The image is built in memory, hence the size limit (2 GiB); a
 *  directory entry holds a 16-bit inode number; the log holds at least one system call's blocks
 *  and at most what its header block can name. */
export const MKFS_LIMITS = {
  size: { min: 1, max: 1 << 21 },
  ninodes: { min: 2, max: 1 << 16 },
  nlog: { min: MAXOPBLOCKS + 1, max: LOG_HEADER_MAX + 1 },
} as const;

/** An xv6 image holding `files` in its root directory. */
export function mkfs(opts: MkfsOptions = {}): Uint8Array {
  const l = checkedLayout(opts.size ?? FSSIZE, opts.ninodes ?? NINODES, opts.nlog ?? NLOG);
  const files = opts.files ?? [];
  checkFiles(files, l);
  const disk = newDisk(l);
  const root = ialloc(disk, T_DIR);
  appendDirent(disk, root, '.', root);
  appendDirent(disk, root, '..', root);
  for (const f of files) {
    const inum = ialloc(disk, T_FILE);
    appendDirent(disk, root, f.name, inum);
    iappend(disk, inum, f.data, `file '${f.name}'`);
  }
  roundDirSize(disk, root);
  markUsed(disk, disk.freeblock);
  return disk.image;
}

// ---- checking the inputs -----------------------------------------------------------------------

function checkedLayout(size: number, ninodes: number, nlog: number): Layout {
  inRange('size', size, MKFS_LIMITS.size, 'blocks');
  inRange('ninodes', ninodes, MKFS_LIMITS.ninodes, 'inodes');
  inRange('nlog', nlog, MKFS_LIMITS.nlog, 'log blocks');
  const l = mkfsLayout(size, ninodes, nlog);
  if (l.nblocks < 1) {
    throw new MkfsError(`a ${size}-block image has no room for data: boot block, superblock, ${nlog} log, ` +
      `${l.ninodeblocks} inode and ${l.nbitmap} bitmap blocks take ${l.datastart} blocks`);
  }
  return l;
}

function inRange(what: string, n: number, r: { min: number; max: number }, unit: string): void {
  if (!Number.isInteger(n) || n < r.min || n > r.max) throw new MkfsError(`${what} must be a whole number of ${unit} from ${r.min} to ${r.max}, not ${n}`);
}

/** Every problem with the files' names and sizes, before anything is written. */
function checkFiles(files: readonly MkfsFile[], l: Layout): void {
  if (files.length + 2 > l.ninodes) {
    throw new MkfsError(`${files.length} files need ${files.length + 2} inodes (inode 0 is unused, 1 is the root directory) but the image has ${l.ninodes}`);
  }
  const seen = new Map<string, string>();
  for (const f of files) {
    const why = nameProblem(f.name);
    if (why !== null) throw new MkfsError(`file name '${f.name}' ${why}`);
    const key = nameBytes(f.name).join(',');
    const other = seen.get(key);
    if (other !== undefined) {
      throw new MkfsError(other === f.name ? `two files are named '${f.name}'`
        : `files '${other}' and '${f.name}' have the same name in xv6, which keeps the first ${DIRSIZ} bytes of a name`);
    }
    seen.set(key, f.name);
    if (f.data.length > MAXFILE * BSIZE) {
      throw new MkfsError(`file '${f.name}' is ${f.data.length} bytes; an xv6 file holds at most ${MAXFILE * BSIZE} bytes (${MAXFILE} blocks of ${BSIZE})`);
    }
  }
}

/** Why `name` cannot be a name in a directory, or null. */
function nameProblem(name: string): string | null {
  if (name === '') return 'is empty';
  if (name === '.' || name === '..') return 'is reserved for the directory entries xv6 makes itself';
  if (name.includes('/')) return "contains '/': files go in the root directory";
  if (name.includes('\0')) return 'contains a NUL byte, which ends a name in xv6';
  return null;
}

// ---- the image being built (mkfs.c's wsect/rinode/winode/ialloc/iappend/balloc) -----------------

interface Disk {
  image: Uint8Array;
  layout: Layout;
  /** the next block to hand out */
  freeblock: number;
  /** the next inode to hand out */
  freeinode: number;
}

function newDisk(l: Layout): Disk {
  const disk = { image: new Uint8Array(l.size * BSIZE), layout: l, freeblock: l.datastart, freeinode: ROOTINO };
  encodeSuperblock(superblockOf(l), block(disk, 1));
  return disk;
}

function block(disk: Disk, b: number): Uint8Array {
  return disk.image.subarray(b * BSIZE, (b + 1) * BSIZE);
}

function rinode(disk: Disk, inum: number): Dinode {
  return decodeDinode(block(disk, iblock(inum, disk.layout)), inodeOffset(inum));
}

function winode(disk: Disk, inum: number, d: Dinode): void {
  encodeDinode(d, block(disk, iblock(inum, disk.layout)), inodeOffset(inum));
}

/** The next inode, of `type`, with nlink 1 and size 0. */
function ialloc(disk: Disk, type: number): number {
  const inum = disk.freeinode++;
  winode(disk, inum, { ...emptyDinode(), type, nlink: 1 });
  return inum;
}

/** The next data block (zero: the image starts zeroed). */
function balloc(disk: Disk, what: string): number {
  if (disk.freeblock >= disk.layout.size) {
    throw new MkfsError(`the image is full: its ${disk.layout.nblocks} data blocks ran out while adding ${what}; make the image larger`);
  }
  return disk.freeblock++;
}

/** Appends `data` to inode `inum`, allocating blocks as it goes; `what` names it in errors. */
function iappend(disk: Disk, inum: number, data: Uint8Array, what: string): void {
  const d = rinode(disk, inum);
  let off = d.size;
  for (let p = 0; p < data.length;) {
    const fbn = Math.floor(off / BSIZE);
    if (fbn >= MAXFILE) throw new MkfsError(`${what} would be over the largest xv6 file (${MAXFILE} blocks)`);
    const b = blockFor(disk, d, fbn, what);
    const n = Math.min(data.length - p, (fbn + 1) * BSIZE - off);
    block(disk, b).set(data.subarray(p, p + n), off - fbn * BSIZE);
    p += n;
    off += n;
  }
  d.size = off;
  winode(disk, inum, d);
}

/** The block holding block `fbn` of `d`, allocated (with the indirect block) if it has none. */
function blockFor(disk: Disk, d: Dinode, fbn: number, what: string): number {
  if (fbn < NDIRECT) {
    if (d.addrs[fbn] === 0) d.addrs[fbn] = balloc(disk, what);
    return d.addrs[fbn]!;
  }
  if (d.addrs[NDIRECT] === 0) d.addrs[NDIRECT] = balloc(disk, what);
  const ind = block(disk, d.addrs[NDIRECT]!);
  const v = new DataView(ind.buffer, ind.byteOffset, BSIZE);
  const at = (fbn - NDIRECT) * 4;
  if (v.getUint32(at, true) === 0) v.setUint32(at, balloc(disk, what), true);
  return v.getUint32(at, true);
}

function appendDirent(disk: Disk, dir: number, name: string, inum: number): void {
  const de = new Uint8Array(DIRENT_SIZE);
  encodeDirent({ inum, name }, de);
  iappend(disk, dir, de, 'the root directory');
}

/** xv6's "fix size of root inode dir": up to the next whole block, one more if already whole. */
function roundDirSize(disk: Disk, inum: number): void {
  const d = rinode(disk, inum);
  d.size = (Math.floor(d.size / BSIZE) + 1) * BSIZE;
  winode(disk, inum, d);
}

/** Marks blocks 0 .. used-1 in use in the bitmap. */
function markUsed(disk: Disk, used: number): void {
  for (let b = 0; b < used; b++) {
    const { byte, mask } = bitOf(b);
    block(disk, bblock(b, disk.layout))[byte] |= mask;
  }
}

// The on-disk format of xv6-riscv's file system, shared by the rv6 file-system domain and the tools
// (mkfs, fsck). Everything here is byte-compatible with xv6 (kernel/fs.h, kernel/log.c,
// mkfs/mkfs.c): an image made by xv6's mkfs reads here, and one written here mounts in xv6.
// Runtime-neutral (src/lib is checked and metered into every domain that imports it): plain
// DataView/Uint8Array, no host APIs.
//
// Layout of an image of `size` blocks of BSIZE bytes (numbers for xv6's defaults, 2000 blocks,
// 200 inodes, 30 log blocks):
//
//   block 0        1            2 ..... 31        32 ..... 44       45        46 ..... 1999
//        [ boot | superblock | log: header, slots | inode blocks | bitmap | data blocks       ]
//                              logstart           inodestart       bmapstart datastart
//
// Invariants of a valid image (validateSuperblock checks the ones the superblock decides):
//   - little-endian everywhere; block 0 is unused; the superblock is block 1;
//   - the regions come in this order and do not overlap: log (nlog blocks: one header block, then
//     nlog-1 slots), inodes (enough blocks for ninodes), bitmap (enough bits for every block),
//     data (nblocks = size - datastart);
//   - inode 0 is never used; the root directory is inode ROOTINO (1);
//   - a bitmap bit is 1 for every block in use, metadata blocks (0 .. datastart-1) included;
//   - block number 0 in an inode or indirect block means "no block" (a hole).
// xv6's mkfs computes the layout with mkfsLayout's formulas; the kernel reads it from the
// superblock (layoutOf), so other layouts that keep the invariants are valid too.

import { decodeUtf8, encodeUtf8 } from '../utf8.ts';

export { encodeUtf8 };

// ---- constants (kernel/fs.h, kernel/param.h, kernel/stat.h, mkfs/mkfs.c) ---------------------

/** Block size in bytes. */
export const BSIZE = 1024;
/** The superblock's magic number. */
export const FSMAGIC = 0x10203040;
/** The root directory's inode number. */
export const ROOTINO = 1;
/** Direct block numbers in an inode. */
export const NDIRECT = 12;
/** Block numbers in the single indirect block. */
export const NINDIRECT = BSIZE / 4;
/** Largest file, in blocks (268); in bytes MAXFILE * BSIZE = 274,432. */
export const MAXFILE = NDIRECT + NINDIRECT;
/** Bytes of an on-disk inode (struct dinode). */
export const DINODE_SIZE = 64;
/** Inodes per block. */
export const IPB = BSIZE / DINODE_SIZE;
/** Bitmap bits per block. */
export const BPB = BSIZE * 8;
/** Bytes of a name in a directory entry (not NUL-terminated when it is this long). */
export const DIRSIZ = 14;
/** Bytes of a directory entry (struct dirent). */
export const DIRENT_SIZE = 2 + DIRSIZ;
/** Bytes of the superblock's fields (the rest of block 1 is zero). */
export const SUPERBLOCK_SIZE = 32;

/** Inode types (kernel/stat.h); 0 is a free inode. */
export const T_FREE = 0;
export const T_DIR = 1;
export const T_FILE = 2;
export const T_DEVICE = 3;
/** The console's major device number (xv6's init mknods /console with it). */
export const CONSOLE_MAJOR = 1;
/** Major device numbers are below this (kernel/param.h NDEV). */
export const NDEV = 10;

/** Most blocks one system call may write (kernel/param.h). */
export const MAXOPBLOCKS = 10;
/** xv6's LOGSIZE: the most blocks a transaction may log (begin_op's bound), and mkfs's nlog. */
export const LOGSIZE = MAXOPBLOCKS * 3;
/** How many block numbers fit in the log header block after its count. */
export const LOG_HEADER_MAX = BSIZE / 4 - 1;

/** xv6's mkfs defaults: blocks in the image, inodes, log blocks (header included). */
export const FSSIZE = 2000;
export const NINODES = 200;
export const NLOG = LOGSIZE;

// ---- superblock --------------------------------------------------------------------------------

/** struct superblock: eight little-endian u32, in this order. */
export interface Superblock {
  magic: number;
  /** blocks in the image */
  size: number;
  /** data blocks */
  nblocks: number;
  ninodes: number;
  /** log blocks, the header included */
  nlog: number;
  logstart: number;
  inodestart: number;
  bmapstart: number;
}

const SB_FIELDS = ['magic', 'size', 'nblocks', 'ninodes', 'nlog', 'logstart', 'inodestart', 'bmapstart'] as const;

/** The superblock in the first SUPERBLOCK_SIZE bytes of `block` (no checks: see validateSuperblock). */
export function decodeSuperblock(block: Uint8Array): Superblock {
  const v = view(block);
  const sb = {} as Superblock;
  SB_FIELDS.forEach((f, i) => { sb[f] = v.getUint32(i * 4, true); });
  return sb;
}

/** Writes `sb` into the first SUPERBLOCK_SIZE bytes of `block` (the caller zeroes the rest). */
export function encodeSuperblock(sb: Superblock, block: Uint8Array): void {
  const v = view(block);
  SB_FIELDS.forEach((f, i) => { v.setUint32(i * 4, sb[f] >>> 0, true); });
}

/** Why `sb` cannot describe an xv6 file system (one line), or null if it can. */
export function validateSuperblock(sb: Superblock): string | null {
  if (sb.magic !== FSMAGIC) return `bad magic number ${hex(sb.magic)} in the superblock (an xv6 file system has ${hex(FSMAGIC)})`;
  if (sb.logstart < 2) return `the log starts at block ${sb.logstart}, over the boot block or the superblock (it must start at block 2 or later)`;
  if (sb.nlog < 2) return `the log has ${sb.nlog} block(s); it needs a header block and at least one slot`;
  if (sb.inodestart < sb.logstart + sb.nlog) {
    return `the inode blocks (from block ${sb.inodestart}) overlap the log (blocks ${sb.logstart}..${sb.logstart + sb.nlog - 1})`;
  }
  if (sb.ninodes < 2) return `the superblock has ${sb.ninodes} inode(s); inode 0 is never used and the root is inode ${ROOTINO}`;
  const inodeEnd = sb.inodestart + Math.ceil(sb.ninodes / IPB);
  if (sb.bmapstart < inodeEnd) {
    return `the bitmap (from block ${sb.bmapstart}) overlaps the inode blocks: ${sb.ninodes} inodes need blocks ${sb.inodestart}..${inodeEnd - 1}`;
  }
  if (sb.nblocks >= sb.size) return `the superblock has ${sb.nblocks} data blocks in an image of ${sb.size} blocks: no room for metadata`;
  const datastart = sb.size - sb.nblocks;
  const bitmapEnd = sb.bmapstart + Math.ceil(sb.size / BPB);
  if (datastart < bitmapEnd) {
    return `the data blocks (from block ${datastart} = size ${sb.size} - nblocks ${sb.nblocks}) overlap the bitmap: ` +
      `${sb.size} blocks need bitmap blocks ${sb.bmapstart}..${bitmapEnd - 1}`;
  }
  if (sb.nblocks < 1) return 'the superblock has no data blocks (nblocks 0): the root directory needs one';
  return null;
}

// ---- layout ------------------------------------------------------------------------------------

/** Where each region of an image is (block numbers), and how big. */
export interface Layout {
  size: number;
  ninodes: number;
  nlog: number;
  logstart: number;
  inodestart: number;
  ninodeblocks: number;
  bmapstart: number;
  nbitmap: number;
  /** the first data block: boot + superblock + log + inodes + bitmap blocks come before it */
  datastart: number;
  /** data blocks: size - datastart */
  nblocks: number;
}

/** The layout xv6's mkfs gives an image of `size` blocks with `ninodes` inodes and `nlog` log
 *  blocks (its formulas, including the extra bitmap and inode block they round up to). */
export function mkfsLayout(size = FSSIZE, ninodes = NINODES, nlog = NLOG): Layout {
  const nbitmap = Math.floor(size / BPB) + 1;
  const ninodeblocks = Math.floor(ninodes / IPB) + 1;
  const logstart = 2;
  const inodestart = logstart + nlog;
  const bmapstart = inodestart + ninodeblocks;
  const datastart = bmapstart + nbitmap;
  return { size, ninodes, nlog, logstart, inodestart, ninodeblocks, bmapstart, nbitmap, datastart, nblocks: size - datastart };
}

/** The layout a superblock describes (meaningful once validateSuperblock accepted it). */
export function layoutOf(sb: Superblock): Layout {
  const datastart = sb.size - sb.nblocks;
  return {
    size: sb.size, ninodes: sb.ninodes, nlog: sb.nlog, logstart: sb.logstart,
    inodestart: sb.inodestart, ninodeblocks: sb.bmapstart - sb.inodestart,
    bmapstart: sb.bmapstart, nbitmap: datastart - sb.bmapstart, datastart, nblocks: sb.nblocks,
  };
}

/** The superblock that describes `l`. */
export function superblockOf(l: Layout): Superblock {
  return {
    magic: FSMAGIC, size: l.size, nblocks: l.nblocks, ninodes: l.ninodes, nlog: l.nlog,
    logstart: l.logstart, inodestart: l.inodestart, bmapstart: l.bmapstart,
  };
}

/** The block holding inode `inum` (xv6's IBLOCK); its offset there is inodeOffset(inum). */
export function iblock(inum: number, sb: Pick<Superblock, 'inodestart'>): number {
  return Math.floor(inum / IPB) + sb.inodestart;
}

/** The byte offset of inode `inum` in its block. */
export function inodeOffset(inum: number): number {
  return (inum % IPB) * DINODE_SIZE;
}

/** The bitmap block holding block `b`'s bit (xv6's BBLOCK); see bitOf for where in it. */
export function bblock(b: number, sb: Pick<Superblock, 'bmapstart'>): number {
  return Math.floor(b / BPB) + sb.bmapstart;
}

/** Where block `b`'s bit is in its bitmap block: the byte, and the mask (least significant bit first). */
export function bitOf(b: number): { byte: number; mask: number } {
  const bi = b % BPB;
  return { byte: bi >> 3, mask: 1 << (bi & 7) };
}

// ---- inodes ------------------------------------------------------------------------------------

/** struct dinode: i16 type, major, minor, nlink; u32 size; u32 addrs[NDIRECT+1] (64 bytes). */
export interface Dinode {
  type: number;
  major: number;
  minor: number;
  nlink: number;
  /** bytes */
  size: number;
  /** NDIRECT direct block numbers, then the indirect block's; 0 = none */
  addrs: number[];
}

/** A free inode (all zero). */
export function emptyDinode(): Dinode {
  return { type: T_FREE, major: 0, minor: 0, nlink: 0, size: 0, addrs: new Array<number>(NDIRECT + 1).fill(0) };
}

/** The inode at byte `off` of `buf` (an inode block). */
export function decodeDinode(buf: Uint8Array, off = 0): Dinode {
  const v = view(buf, off, DINODE_SIZE);
  const addrs: number[] = [];
  for (let i = 0; i <= NDIRECT; i++) addrs.push(v.getUint32(12 + i * 4, true));
  return { type: v.getInt16(0, true), major: v.getInt16(2, true), minor: v.getInt16(4, true),
    nlink: v.getInt16(6, true), size: v.getUint32(8, true), addrs };
}

/** Writes `d` at byte `off` of `buf` (missing addrs are written as 0). */
export function encodeDinode(d: Dinode, buf: Uint8Array, off = 0): void {
  const v = view(buf, off, DINODE_SIZE);
  v.setInt16(0, d.type, true);
  v.setInt16(2, d.major, true);
  v.setInt16(4, d.minor, true);
  v.setInt16(6, d.nlink, true);
  v.setUint32(8, d.size >>> 0, true);
  for (let i = 0; i <= NDIRECT; i++) v.setUint32(12 + i * 4, (d.addrs[i] ?? 0) >>> 0, true);
}

// ---- directory entries -------------------------------------------------------------------------

/** struct dirent: u16 inum, then the name in DIRSIZ bytes, zero-padded. inum 0 = a free slot. */
export interface Dirent {
  inum: number;
  name: string;
}

/** The entry at byte `off` of `buf`; the name ends at its first NUL (or after DIRSIZ bytes). */
export function decodeDirent(buf: Uint8Array, off = 0): Dirent {
  const inum = view(buf, off, DIRENT_SIZE).getUint16(0, true);
  const raw = buf.subarray(off + 2, off + DIRENT_SIZE);
  const nul = raw.indexOf(0);
  return { inum, name: decodeName(nul < 0 ? raw : raw.subarray(0, nul)) };
}

/** Writes `e` at byte `off` of `buf`; the name is stored as nameBytes(e.name), zero-padded. */
export function encodeDirent(e: Dirent, buf: Uint8Array, off = 0): void {
  view(buf, off, DIRENT_SIZE).setUint16(0, e.inum, true);
  buf.fill(0, off + 2, off + DIRENT_SIZE);
  buf.set(nameBytes(e.name), off + 2);
}

/** The bytes a directory entry holds for `name`: its UTF-8, cut to DIRSIZ bytes as xv6 cuts names
 *  (so a long name is found by its full name, and two names equal in their first 14 bytes clash). */
export function nameBytes(name: string): Uint8Array {
  return encodeUtf8(name).subarray(0, DIRSIZ);
}

/** A name from directory-entry bytes: UTF-8, decoded as the WHATWG Encoding standard (and so a
 *  host's TextDecoder) does, each malformed sequence read as U+FFFD. */
export function decodeName(bytes: Uint8Array): string {
  return decodeUtf8(bytes);
}

// ---- the log header ----------------------------------------------------------------------------

/** The log's header block (at logstart): i32 n, then i32 block[n], the home block of each slot
 *  (slot i is block logstart + 1 + i). n > 0 on disk means a committed transaction not yet
 *  installed; recovery copies each slot home and writes n = 0. */
export interface LogHeader {
  n: number;
  blocks: number[];
}

/** The header in `block`. `n` is as stored (possibly wild); `blocks` holds the first n entries,
 *  at most LOG_HEADER_MAX of them. */
export function decodeLogHeader(block: Uint8Array): LogHeader {
  const v = view(block, 0, BSIZE);
  const n = v.getInt32(0, true);
  const blocks: number[] = [];
  for (let i = 0; i < Math.min(Math.max(n, 0), LOG_HEADER_MAX); i++) blocks.push(v.getInt32(4 + i * 4, true));
  return { n, blocks };
}

/** Writes `h` (n and its first n block numbers, at most LOG_HEADER_MAX) into `block`. */
export function encodeLogHeader(h: LogHeader, block: Uint8Array): void {
  if (h.n < 0 || h.n > LOG_HEADER_MAX || h.blocks.length < h.n) throw new RangeError(`log header: n ${h.n} with ${h.blocks.length} block numbers`);
  const v = view(block, 0, BSIZE);
  v.setInt32(0, h.n, true);
  for (let i = 0; i < h.n; i++) v.setInt32(4 + i * 4, h.blocks[i]!, true);
}

// ---- helpers -----------------------------------------------------------------------------------

function view(buf: Uint8Array, off = 0, len = buf.length - off): DataView {
  return new DataView(buf.buffer, buf.byteOffset + off, len);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

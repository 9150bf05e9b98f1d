// Inodes and block allocation (xv6 kernel/fs.c, the inode layer): the in-memory inode table,
// allocating and freeing inodes and data blocks, a file's block map, and reading and writing a
// file's bytes. Below it the log (log.ts) and the cache (bio.ts); above it directories (dir.ts).
//
// The table holds an Inode for every inode someone references: the caller of the Fs methods (open,
// chdir, dup give it a reference; put takes one back) and the running call itself (get, put). An
// inode's fields are loaded from disk on first use (load) and checked then: a type 0..3, a size
// of at most MAXFILE blocks (a whole number of entries for a directory), non-negative counts, and
// every block number 0 or a data block; an indirect block's entries are checked as they are used.
// A corrupt inode is an FsError(EIO) for the calls that touch it and for no others.
//
// Freeing (xv6's iput): an inode whose last link was removed here (unlink) is freed when its last
// reference goes. put() only queues it; reap(), at the end of the transaction that dropped the
// reference, truncates it and marks it free, so an undone transaction never half-frees anything.
// Truncation frees blocks from the last one down and, when a transaction is about to hold
// MAXOPBLOCKS blocks (a file spread over many bitmap blocks), ends it and goes on in the next:
// after each transaction the inode's size and block list end where the freed blocks begin, so a
// crash in between leaves a shorter file (or, when freeing an unlinked inode, an inode with no
// name and nlink 0, which init frees: reclaimOrphans), never a block both free and in use. With
// xv6's default geometry (one bitmap block) every truncation is one transaction.
//
// Block allocation is xv6's: first free bit in the bitmap, among the data blocks only (a bitmap
// that calls a metadata block free is not believed); a new block is zeroed in the transaction.
// Inode allocation takes the first free inode from 1. Running out of either is ENOSPC; the
// transaction is then undone whole.
import { Errno } from '../../../lib/rv6/abi.ts';
import {
  BPB, BSIZE, DINODE_SIZE, DIRENT_SIZE, IPB, MAXFILE, MAXOPBLOCKS, NDIRECT, NINDIRECT, T_DEVICE, T_DIR, T_FREE,
  bblock, bitOf, decodeDinode, encodeDinode, iblock, inodeOffset, type Dinode, type Superblock,
} from '../../../lib/xv6fs/format.ts';
import type { Cache } from './bio.ts';
import type { Log } from './log.ts';
import { FsError } from './param.ts';

/** An in-memory inode: the disk inode's fields (Dinode) once loaded, and the table's own. */
export interface Inode extends Dinode {
  readonly inum: number;
  /** references: the caller's and the running call's */
  ref: number;
  /** the Dinode fields hold the disk inode: false until loaded, and after an undone transaction */
  valid: boolean;
  /** its last link was removed here: freed when the last reference goes */
  unlinked: boolean;
}

/** Where a file's byte goes: block `b` (0 for a hole when reading) at `boff`, `m` bytes, the
 *  `done`th byte of the transfer first. */
export type Mover = (b: number, boff: number, done: number, m: number) => void;

/** Largest file in bytes. */
export const MAXBYTES = MAXFILE * BSIZE;
/** The largest value of an i16 field (nlink, major, minor). */
export const I16_MAX = 0x7fff;
/** A directory entry holds a u16 inode number. */
const DIRENT_INUM_LIMIT = 0x10000;

export class Inodes {
  private readonly table = new Map<number, Inode>();
  /** unreferenced inodes to free when the transaction ends */
  private readonly doomed: Inode[] = [];
  /** inodes marked unlinked by the open transaction (unmarked if it is undone) */
  private marked: Inode[] = [];
  private readonly datastart: number;

  constructor(private readonly cache: Cache, private readonly log: Log, private readonly sb: Superblock) {
    this.datastart = sb.size - sb.nblocks;
  }

  // ---- the table: references ---------------------------------------------------------------

  /** A reference to inode `inum` (xv6's iget; not loaded). A number out of range is EIO: only a
   *  corrupt directory entry can name one (callers' numbers go through referenced()). */
  get(inum: number): Inode {
    if (!(Number.isInteger(inum) && inum >= 1 && inum < this.sb.ninodes)) {
      throw new FsError(Errno.EIO, `a directory entry names inode ${inum}, outside 1..${this.sb.ninodes - 1}`);
    }
    let ip = this.table.get(inum);
    if (ip === undefined) {
      ip = { inum, ref: 0, valid: false, unlinked: false, type: T_FREE, major: 0, minor: 0, nlink: 0, size: 0, addrs: [] };
      this.table.set(inum, ip);
    }
    ip.ref++;
    return ip;
  }

  /** The inode `inum` if something references it, else null (a caller's number, unchecked). */
  referenced(inum: number): Inode | null {
    const ip = this.table.get(inum);
    return ip !== undefined && ip.ref > 0 ? ip : null;
  }

  dup(ip: Inode): Inode {
    ip.ref++;
    return ip;
  }

  /** Drops a reference (xv6's iput); an unlinked inode's last one dooms it (freed by reap). */
  put(ip: Inode): void {
    if (ip.ref <= 0) throw new Error(`fs: put of inode ${ip.inum}, which has no reference`);
    if (--ip.ref > 0) return;
    if (ip.unlinked) this.doomed.push(ip);
    else this.table.delete(ip.inum);
  }

  /** Drops a reference without freeing anything: an unlinked inode stays on disk for
   *  reclaimOrphans (when the transaction that would free it could not begin). */
  drop(ip: Inode): void {
    if (ip.ref > 0 && --ip.ref === 0) this.table.delete(ip.inum);
  }

  /** Marks `ip`'s last link gone: it is freed when its last reference goes. */
  markUnlinked(ip: Inode): void {
    ip.unlinked = true;
    this.marked.push(ip);
  }

  /** Frees the doomed inodes; called before the transaction ends (may split it). */
  reap(): void {
    for (let ip = this.doomed.pop(); ip !== undefined; ip = this.doomed.pop()) {
      if (ip.ref > 0) continue; // referenced again meanwhile
      this.free(ip);
      this.table.delete(ip.inum);
    }
  }

  /** The transaction ended: its marks stand. */
  settle(): void {
    this.marked = [];
  }

  /** The transaction was undone (log.ts abort): what memory holds of inodes is reloaded from the
   *  restored blocks, marks are taken back, and nothing doomed is freed. */
  forget(): void {
    for (const ip of this.marked) ip.unlinked = false;
    this.marked = [];
    for (const ip of this.table.values()) ip.valid = false;
    for (let ip = this.doomed.pop(); ip !== undefined; ip = this.doomed.pop()) {
      if (ip.ref === 0) this.table.delete(ip.inum);
    }
  }

  // ---- the disk inode -----------------------------------------------------------------------

  /** Reads `ip`'s fields from disk if they are not in memory, and checks them (xv6's ilock). */
  load(ip: Inode): void {
    if (ip.valid) return;
    const raw = new Uint8Array(DINODE_SIZE);
    this.cache.read(iblock(ip.inum, this.sb), inodeOffset(ip.inum), raw);
    const d = decodeDinode(raw);
    const why = this.problem(d);
    if (why !== null) throw new FsError(Errno.EIO, `inode ${ip.inum} is corrupt: ${why}`);
    if (d.type === T_FREE) throw new FsError(Errno.EIO, `inode ${ip.inum} is free, yet a directory entry names it`);
    setFields(ip, d);
  }

  /** Why disk inode `d` cannot be right, or null. */
  private problem(d: Dinode): string | null {
    if (d.type < T_FREE || d.type > T_DEVICE) return `type ${d.type}`;
    if (d.nlink < 0 || d.major < 0 || d.minor < 0) return `nlink ${d.nlink}, major ${d.major}, minor ${d.minor}`;
    if (d.size > MAXBYTES) return `size ${d.size}, over the largest file (${MAXBYTES})`;
    if (d.type === T_DIR && d.size % DIRENT_SIZE !== 0) return `a directory of ${d.size} bytes, not a whole number of entries`;
    const bad = d.addrs.find((a) => a !== 0 && !this.isData(a));
    if (bad !== undefined) return `block ${bad} is not a data block (${this.datastart}..${this.sb.size - 1})`;
    return null;
  }

  private isData(b: number): boolean {
    return b >= this.datastart && b < this.sb.size;
  }

  /** Writes `ip`'s fields to its disk inode (xv6's iupdate). */
  update(ip: Inode): void {
    const raw = new Uint8Array(DINODE_SIZE);
    encodeDinode(ip, raw);
    this.log.write(iblock(ip.inum, this.sb), inodeOffset(ip.inum), raw);
  }

  /** A new inode of `type`, zeroed otherwise (xv6's ialloc); ENOSPC if there is none free. */
  alloc(type: number): Inode {
    const limit = Math.min(this.sb.ninodes, DIRENT_INUM_LIMIT);
    const block = new Uint8Array(BSIZE);
    for (let first = 1; first < limit; first = blockEnd(first, limit)) {
      this.cache.read(iblock(first, this.sb), 0, block);
      for (let inum = first; inum < blockEnd(first, limit); inum++) {
        const off = inodeOffset(inum);
        if ((block[off] | block[off + 1]) !== 0 || this.table.has(inum)) continue;
        const ip = this.get(inum);
        setFields(ip, { type, major: 0, minor: 0, nlink: 0, size: 0, addrs: new Array<number>(NDIRECT + 1).fill(0) });
        this.update(ip);
        return ip;
      }
    }
    throw new FsError(Errno.ENOSPC, `no free inode (of ${limit - 1})`);
  }

  /** Truncates `ip` and marks it free (xv6's itrunc + type 0 in iput). */
  private free(ip: Inode): void {
    this.load(ip);
    this.truncate(ip);
    ip.type = T_FREE;
    ip.major = ip.minor = ip.nlink = 0;
    this.update(ip);
  }

  // ---- blocks -------------------------------------------------------------------------------

  /** A free data block, marked used and zeroed (xv6's balloc); ENOSPC if there is none. */
  private balloc(): number {
    const bits = new Uint8Array(BSIZE);
    for (let base = 0; base < this.sb.size; base += BPB) {
      const bb = bblock(base, this.sb);
      this.cache.read(bb, 0, bits);
      const end = Math.min(base + BPB, this.sb.size);
      for (let b = Math.max(base, this.datastart); b < end; b++) {
        const { byte, mask } = bitOf(b);
        if (bits[byte] === 0xff) { b |= 7; continue; } // (a whole byte in use)
        if ((bits[byte] & mask) !== 0) continue;
        bits[byte] |= mask;
        this.log.write(bb, byte, bits, byte, 1);
        this.log.zero(b);
        return b;
      }
    }
    throw new FsError(Errno.ENOSPC, 'no free data block');
  }

  /** Marks data block `b` free (xv6's bfree); a block already free means a corrupt file system. */
  private bfree(b: number): void {
    if (!this.isData(b)) throw new FsError(Errno.EIO, `freeing block ${b}, which is not a data block`);
    const bb = bblock(b, this.sb);
    const { byte, mask } = bitOf(b);
    const one = new Uint8Array(1);
    this.cache.read(bb, byte, one);
    if ((one[0] & mask) === 0) throw new FsError(Errno.EIO, `freeing block ${b}, which the bitmap says is free`);
    one[0] &= ~mask;
    this.log.write(bb, byte, one);
  }

  /** The disk block holding block `bn` of `ip`; with `alloc`, allocated if missing, else 0 for a
   *  hole (xv6's bmap). The caller writes `ip` (update) if it allocated. */
  bmap(ip: Inode, bn: number, alloc: boolean): number {
    if (bn < NDIRECT) {
      if (ip.addrs[bn] === 0 && alloc) ip.addrs[bn] = this.balloc();
      return ip.addrs[bn];
    }
    const i = bn - NDIRECT;
    if (i >= NINDIRECT) throw new FsError(Errno.EFBIG, `block ${bn} is past the largest file`);
    if (ip.addrs[NDIRECT] === 0) {
      if (!alloc) return 0;
      ip.addrs[NDIRECT] = this.balloc();
    }
    const ind = ip.addrs[NDIRECT];
    let a = this.entry(ip, ind, i);
    if (a === 0 && alloc) {
      a = this.balloc();
      this.log.setU32(ind, i * 4, a);
    }
    return a;
  }

  /** Entry `i` of indirect block `ind`, checked. */
  private entry(ip: Inode, ind: number, i: number): number {
    const a = this.cache.u32(ind, i * 4);
    if (a !== 0 && !this.isData(a)) throw new FsError(Errno.EIO, `inode ${ip.inum}: its indirect block ${ind} names block ${a}, not a data block`);
    return a;
  }

  // ---- truncation ---------------------------------------------------------------------------

  /** Frees every block of `ip` and makes its size 0, in as many transactions as it takes (see the
   *  header). */
  truncate(ip: Inode): void {
    while (!this.shrink(ip)) {
      this.settle();
      this.log.split();
    }
  }

  /** Frees `ip`'s blocks, last first, while the transaction has room; true once none is left. */
  private shrink(ip: Inode): boolean {
    const ind = ip.addrs[NDIRECT];
    if (ind !== 0) {
      for (let i = NINDIRECT - 1; i >= 0; i--) {
        const a = this.entry(ip, ind, i);
        if (a === 0) continue;
        if (!this.room()) return this.pause(ip);
        this.bfree(a);
        this.log.setU32(ind, i * 4, 0);
        ip.size = Math.min(ip.size, (NDIRECT + i) * BSIZE);
      }
      if (!this.room()) return this.pause(ip);
      this.bfree(ind);
      ip.addrs[NDIRECT] = 0;
      ip.size = Math.min(ip.size, NDIRECT * BSIZE);
    }
    for (let i = NDIRECT - 1; i >= 0; i--) {
      if (ip.addrs[i] === 0) continue;
      if (!this.room()) return this.pause(ip);
      this.bfree(ip.addrs[i]);
      ip.addrs[i] = 0;
      ip.size = Math.min(ip.size, i * BSIZE);
    }
    ip.size = 0;
    this.update(ip);
    return true;
  }

  /** Room in this transaction to free one more block: its bitmap block, the indirect block and
   *  the inode's block may each be new to it. */
  private room(): boolean {
    return this.log.touched() + 3 <= MAXOPBLOCKS;
  }

  private pause(ip: Inode): false {
    this.update(ip);
    return false;
  }

  // ---- file data ----------------------------------------------------------------------------

  /** Moves up to `n` bytes at `off` out of `ip` (xv6's readi): `out` gets each block's part (block
   *  0 for a hole, which reads as zeros). Returns the count (0 at or past the end). */
  readi(ip: Inode, off: number, n: number, out: Mover): number {
    if (off >= ip.size || n <= 0) return 0;
    const total = Math.min(n, ip.size - off);
    for (let done = 0; done < total;) {
      const at = off + done;
      const m = Math.min(total - done, BSIZE - (at % BSIZE));
      out(this.bmap(ip, Math.floor(at / BSIZE), false), at % BSIZE, done, m);
      done += m;
    }
    return total;
  }

  /** Moves `n` bytes into `ip` at `off` (xv6's writei), allocating blocks: `into` fills each
   *  block's part (through the log). EINVAL past the end, EFBIG past the largest file. */
  writei(ip: Inode, off: number, n: number, into: Mover): number {
    if (off > ip.size) throw new FsError(Errno.EINVAL, `writing at ${off}, past the end of a ${ip.size}-byte file`);
    if (off + n > MAXBYTES) throw new FsError(Errno.EFBIG, `writing ${n} bytes at ${off}: over the largest file (${MAXBYTES} bytes)`);
    for (let done = 0; done < n;) {
      const at = off + done;
      const m = Math.min(n - done, BSIZE - (at % BSIZE));
      into(this.bmap(ip, Math.floor(at / BSIZE), true), at % BSIZE, done, m);
      done += m;
    }
    ip.size = Math.max(ip.size, off + n);
    this.update(ip);
    return n;
  }

  /** Writes the bytes of `src` into `ip` at `off` (directory entries). */
  writeBytes(ip: Inode, off: number, src: Uint8Array): void {
    this.writei(ip, off, src.length, (b, boff, done, m) => this.log.write(b, boff, src, done, m));
  }

  // ---- orphans ------------------------------------------------------------------------------

  /** Inodes in use with no link (a crash while they were open, or during their freeing): to be
   *  freed at init, when nothing can reference them. Corrupt inodes are left alone. */
  orphans(): number[] {
    const found: number[] = [];
    const block = new Uint8Array(BSIZE);
    for (let first = 1; first < this.sb.ninodes; first = blockEnd(first, this.sb.ninodes)) {
      this.cache.read(iblock(first, this.sb), 0, block);
      for (let inum = first; inum < blockEnd(first, this.sb.ninodes); inum++) {
        const d = decodeDinode(block, inodeOffset(inum));
        if (d.type !== T_FREE && d.nlink === 0 && this.problem(d) === null) found.push(inum);
      }
    }
    return found;
  }
}

/** Copies disk inode `d` into `ip`, which then holds it. */
function setFields(ip: Inode, d: Dinode): void {
  ip.type = d.type;
  ip.major = d.major;
  ip.minor = d.minor;
  ip.nlink = d.nlink;
  ip.size = d.size;
  ip.addrs = d.addrs;
  ip.valid = true;
}

/** The first inode after `inum`'s inode block, or `limit`. */
function blockEnd(inum: number, limit: number): number {
  return Math.min(limit, (Math.floor(inum / IPB) + 1) * IPB);
}

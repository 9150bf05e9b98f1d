// The log (xv6 kernel/log.c): crash-safe, all-or-nothing changes to the file system's blocks.
//
// On disk, byte-compatible with xv6: a header block at sb.logstart (i32 n, then i32 block[n]),
// then the slots: slot i (block logstart + 1 + i) holds the new contents of home block block[i].
// n > 0 on disk means a committed group not yet installed; recovery (at init) copies each slot
// home and writes n = 0. A header we did not write is checked before anything is replayed:
// n in range, every home block in the inode, bitmap or data blocks, none twice.
//
// Transactions. Every Fs call that changes the disk is one transaction (or several, for a
// truncation too big for one: inode.ts): begin, changes, end. A block is changed only through the
// writers here (write, setU32, zero, copyIn), which first `touch` it: the block joins the group
// (and its page is pinned in the cache) and, the first time this transaction touches it, a private
// copy of its contents is saved. abort() puts the saved contents back and takes out of the group
// the blocks this transaction added: a call that fails (an FsError anywhere) leaves no trace, in
// memory or on disk. A transaction may add at most MAXOPBLOCKS blocks to the group.
//
// Group commit. The Fs methods are synchronous, so calls never interleave and a transaction is
// never open between calls. Transactions accumulate in one group, committed between calls:
//   (a) when a transaction begins and the group plus MAXOPBLOCKS would not fit in the log;
//   (b) on sync();
//   (c) by a timer, COMMIT_MS after the first change of the group was logged.
// Commit: copy each block to its slot and write the slot pages; flush; write the header (the
// commit point); flush; write the home pages; flush; write n = 0; flush. Every block in the group
// is committed together, so writing a home block's whole 4 KiB page never writes a change that is
// not committed. A commit that fails keeps the group, unchanged, and is tried again before any
// further change (every changing call fails with EIO meanwhile); redoing it is harmless.
//
// Log pages. The header's page and the pages of the usable slots are cached for good. A slot is
// usable only if its page holds no block past the log (an inode block there would be written with
// the slot, before its commit): `capacity` counts them, at most LOG_HEADER_MAX.
import type { Sys } from '../../../idl/lib/sys.ts';
import { Errno } from '../../../lib/rv6/abi.ts';
import {
  BSIZE, LOG_HEADER_MAX, MAXOPBLOCKS, decodeLogHeader, encodeLogHeader, type Superblock,
} from '../../../lib/xv6fs/format.ts';
import { PER_PAGE, pageOf, type Cache } from './bio.ts';
import { COMMIT_MS, FsError, RETRY_MS } from './param.ts';

/** The most slots usable in a log of this superblock (see the header: pages shared with inodes). */
export function logCapacity(sb: Superblock): number {
  const end = sb.logstart + sb.nlog;
  let n = 0;
  while (n < sb.nlog - 1 && n < LOG_HEADER_MAX && (pageOf(sb.logstart + 1 + n) + 1) * PER_PAGE <= end) n++;
  return n;
}

export class Log {
  /** home blocks of the group, in the order first logged: slot i holds group[i] */
  private readonly group: number[] = [];
  private readonly inGroup = new Set<number>();
  /** contents before this transaction of each block it touched */
  private saved = new Map<number, Uint8Array>();
  /** blocks this transaction added to the group (the group's tail) */
  private added = 0;
  private open = false;
  /** the last commit failed: the group is committed again before anything changes */
  private failed = false;
  private timer = 0;
  readonly capacity: number;

  constructor(private readonly sys: Sys, private readonly cache: Cache, private readonly sb: Superblock) {
    this.capacity = logCapacity(sb);
    if (this.capacity < MAXOPBLOCKS) {
      throw new Error(`fs: bad superblock: the log (${sb.nlog} blocks from block ${sb.logstart}) has room for ${this.capacity} blocks; a system call needs ${MAXOPBLOCKS}`);
    }
    for (let p = pageOf(sb.logstart); p <= pageOf(this.slot(this.capacity - 1)); p++) cache.pin(p * PER_PAGE);
  }

  private slot(i: number): number {
    return this.sb.logstart + 1 + i;
  }

  // ---- recovery ----------------------------------------------------------------------------

  /** Installs a committed group left in the log (init); returns how many blocks it had. */
  recover(): number {
    const head = new Uint8Array(BSIZE);
    this.cache.read(this.sb.logstart, 0, head);
    const h = decodeLogHeader(head);
    const why = this.headerProblem(h.n, h.blocks);
    if (why !== null) throw new Error(`fs: corrupt log header at block ${this.sb.logstart}: ${why}; refusing to replay it`);
    if (h.n === 0) return 0;
    for (const b of h.blocks) this.cache.pin(b);
    try {
      h.blocks.forEach((b, i) => this.cache.copyBlock(b, this.slot(i)));
      this.cache.writePages(pagesOf(h.blocks));
      this.cache.flush();
      this.writeHead([]);
    } finally {
      for (const b of h.blocks) this.cache.unpin(b);
    }
    return h.n;
  }

  private headerProblem(n: number, blocks: readonly number[]): string | null {
    if (n < 0 || n > LOG_HEADER_MAX || n > this.sb.nlog - 1) return `it names ${n} blocks; the log has ${this.sb.nlog - 1} slots`;
    const seen = new Set<number>();
    for (const b of blocks) {
      if (b < this.sb.inodestart || b >= this.sb.size) return `home block ${b} is outside the inode, bitmap and data blocks (${this.sb.inodestart}..${this.sb.size - 1})`;
      if (seen.has(b)) return `home block ${b} appears twice`;
      seen.add(b);
    }
    return null;
  }

  // ---- transactions ------------------------------------------------------------------------

  /** Starts a transaction: commits first if a transaction's worth might not fit (or the last commit failed). */
  begin(): void {
    if (this.open) throw new Error('fs: a transaction began inside another');
    if (this.cache.broken) throw new FsError(Errno.EIO, 'the file system lost cached blocks with a driver; restart it');
    if (this.failed || this.group.length + MAXOPBLOCKS > this.capacity) this.commit();
    this.open = true;
  }

  /** Ends the transaction: its changes are in the group, to be committed within COMMIT_MS. */
  end(): void {
    this.close();
    if (this.group.length > 0 && this.timer === 0) this.timer = this.sys.timers.after(COMMIT_MS, () => this.onTimer());
  }

  /** Undoes every change of the transaction, and ends it. */
  abort(): void {
    for (const [b, before] of this.saved) this.cache.write(b, 0, before);
    for (let i = 0; i < this.added; i++) {
      const b = this.group.pop()!;
      this.inGroup.delete(b);
      this.cache.unpin(b);
    }
    this.close();
  }

  /** Ends the transaction and begins the next (a truncation in several). */
  split(): void {
    this.end();
    this.begin();
  }

  /** Blocks this transaction has touched. */
  touched(): number {
    return this.saved.size;
  }

  private close(): void {
    this.open = false;
    this.saved = new Map();
    this.added = 0;
  }

  /** Makes block `b` part of the transaction, before it changes. */
  private touch(b: number): void {
    if (!this.open) throw new Error(`fs: block ${b} changed outside a transaction`);
    if (this.saved.has(b)) return;
    if (b < this.sb.inodestart || b >= this.sb.size) throw new FsError(Errno.EIO, `block ${b} is not an inode, bitmap or data block`);
    const fresh = !this.inGroup.has(b);
    if (fresh && (this.added >= MAXOPBLOCKS || this.group.length >= this.capacity)) {
      throw new FsError(Errno.EIO, `a transaction would log more than ${MAXOPBLOCKS} blocks`);
    }
    const before = new Uint8Array(BSIZE);
    this.cache.read(b, 0, before);
    this.saved.set(b, before);
    if (!fresh) return;
    this.cache.pin(b);
    this.group.push(b);
    this.inGroup.add(b);
    this.added++;
  }

  // ---- the writers: every change to a block goes through one of these -----------------------

  write(b: number, off: number, src: Uint8Array, srcOff = 0, len = src.length - srcOff): void {
    this.touch(b);
    this.cache.write(b, off, src, srcOff, len);
  }

  setU32(b: number, off: number, v: number): void {
    this.touch(b);
    this.cache.setU32(b, off, v);
  }

  zero(b: number): void {
    this.touch(b);
    this.cache.fill(b, 0, 0, BSIZE);
  }

  /** Copies `len` bytes of heap object `src` at `srcOff` into block `b` at `off`. */
  copyIn(b: number, off: number, src: number, srcOff: number, len: number): void {
    this.touch(b);
    this.cache.copyIn(b, off, src, srcOff, len);
  }

  // ---- commit ------------------------------------------------------------------------------

  /** Commits the group (see the header); false if it was empty. FsError(EIO) if the device
   *  failed: the group is kept, and the timer tries again in RETRY_MS. */
  commit(): boolean {
    if (this.open) throw new Error('fs: commit inside a transaction');
    if (this.timer !== 0) this.sys.timers.cancel(this.timer);
    this.timer = 0;
    if (this.group.length === 0) return false;
    try {
      this.install();
    } catch (e) {
      if (e instanceof FsError && !this.cache.broken) this.timer = this.sys.timers.after(RETRY_MS, () => this.onTimer());
      throw e;
    }
    return true;
  }

  private install(): void {
    this.failed = true;
    this.group.forEach((b, i) => this.cache.copyBlock(this.slot(i), b));
    this.cache.writePages(pagesOf(this.group.map((_b, i) => this.slot(i))));
    this.cache.flush();
    this.writeHead(this.group); // the commit point
    this.cache.writePages(pagesOf(this.group));
    this.cache.flush();
    this.writeHead([]);
    for (const b of this.group) this.cache.unpin(b);
    this.group.length = 0;
    this.inGroup.clear();
    this.failed = false;
  }

  /** Writes the header naming `blocks` (n = their count), and flushes. */
  private writeHead(blocks: readonly number[]): void {
    const head = new Uint8Array(BSIZE);
    encodeLogHeader({ n: blocks.length, blocks: [...blocks] }, head);
    this.cache.write(this.sb.logstart, 0, head);
    this.cache.writePages([pageOf(this.sb.logstart)]);
    this.cache.flush();
  }

  /** Commits and flushes: every call that has returned is durable. */
  sync(): void {
    if (this.cache.broken) throw new FsError(Errno.EIO, 'the file system lost cached blocks with a driver; restart it');
    if (!this.commit()) this.cache.flush();
  }

  private onTimer(): void {
    this.timer = 0;
    if (this.open || this.group.length === 0 || this.cache.broken) return;
    try {
      this.commit();
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      this.sys.log(`fs: commit failed (tried again in ${RETRY_MS} ms): ${e.message}`);
    }
  }
}

/** The distinct device pages of `blocks`, ascending. */
function pagesOf(blocks: readonly number[]): number[] {
  return [...new Set(blocks.map(pageOf))].sort((a, b) => a - b);
}

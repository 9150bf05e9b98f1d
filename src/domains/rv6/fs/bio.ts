// The buffer cache (xv6 kernel/bio.c): the lowest layer of the file system. It holds device pages
// and is the only code that talks to the block device.
//
// Blocks and pages. xv6 blocks are BSIZE (1024) bytes; the device moves 4096-byte pages, so xv6
// block b lives in device page b >> 2, at byte (b & 3) * BSIZE. Each cached page is an exchange-
// heap object (Bytes<4096>) that travels to the device and back attached to a BlockReq, so a block
// moves device -> cache with no copy. Callers name xv6 blocks; they read through small private
// copies (read, u32), move file data straight between a page and another heap object (copyIn,
// copyOut), and change blocks only through the log (log.ts), which calls the raw writers here.
//
// Invariants:
//   - at most `limit` pages are cached, least recently used first out; a pinned page is never
//     evicted. The log pins the page of every block in the uncommitted transaction group (so the
//     only copy of a change never leaves memory) and its own pages for good;
//   - nothing writes a page to the device but writePages, and only the log calls it (commit,
//     recovery): home pages are written only once their blocks are committed;
//   - a failed read or write is an FsError(EIO), never a crash. A page handed to the driver that
//     does not come back (the driver died holding it, with no shadow to bring it back) loses data
//     the cache may have held alone: the cache is then `broken` and every later call fails.
import type { BDev, Block, BlockBatch, BlockReq as BlockReqT } from '../../../idl/block.ts';
import type { Sys } from '../../../idl/lib/sys.ts';
import type { RRef } from '../../../idl/lib/types.ts';
import { BlockReq, Bytes4096, DequeBlockReq32 } from '../../../idl/generated/structs.ts';
import { BLOCK_BYTES, BlockOp, BlockStatus } from '../../../lib/block.ts';
import { Errno } from '../../../lib/rv6/abi.ts';
import { BSIZE } from '../../../lib/xv6fs/format.ts';
import { FsError, IO_TIMEOUT_MS } from './param.ts';

type Req = RRef<BlockReqT>;
type Batch = RRef<BlockBatch>;

/** xv6 blocks per device page. */
export const PER_PAGE = BLOCK_BYTES / BSIZE;

/** The device page holding xv6 block `b`. */
export function pageOf(b: number): number {
  return Math.floor(b / PER_PAGE);
}

interface Page {
  readonly lba: number;
  /** the page's data; while a write carries it, it is in the request, not here */
  h: RRef<Block>;
  /** reasons not to evict it (log.ts): blocks of the transaction group, or a log page */
  pins: number;
}

/** Spare requests kept for the next I/O. */
const SPARE_REQS = DequeBlockReq32.capacity;

export class Cache {
  private readonly pages = new Map<number, Page>();
  private mru = -1;
  private readonly spare: Req[] = [];
  private deque: Batch | null = null;
  /** xv6 blocks the file system has (the superblock's size, once known) */
  private blocks: number;
  /** a page was lost with the driver: nothing cached can be trusted */
  broken = false;

  constructor(private readonly sys: Sys, private readonly bdev: BDev, private limit: number, devicePages: number) {
    this.blocks = devicePages * PER_PAGE;
  }

  /** Makes room for at least `pages` pages (the most the log may pin at once, and some). */
  reserve(pages: number): void {
    this.limit = Math.max(this.limit, pages);
  }

  /** From now on only blocks below `n` (the superblock's size) exist. */
  setSize(n: number): void {
    this.blocks = n;
  }

  // ---- reading and writing cached blocks ---------------------------------------------------

  /** Copies `len` bytes at `off` of block `b` into `dst`. */
  read(b: number, off: number, dst: Uint8Array, dstOff = 0, len = dst.length - dstOff): void {
    Bytes4096.read(this.page(b).h, inPage(b, off), dst, dstOff, len);
  }

  /** The little-endian u32 at `off` of block `b`. */
  u32(b: number, off: number): number {
    return this.sys.heap.u32(this.page(b).h, inPage(b, off));
  }

  /** Raw writers, for the log only (log.ts): they do not log the change. */
  write(b: number, off: number, src: Uint8Array, srcOff = 0, len = src.length - srcOff): void {
    Bytes4096.write(this.page(b).h, inPage(b, off), src, srcOff, len);
  }

  setU32(b: number, off: number, v: number): void {
    this.sys.heap.setU32(this.page(b).h, inPage(b, off), v >>> 0);
  }

  fill(b: number, off: number, byte: number, len: number): void {
    this.sys.heap.fill(this.page(b).h, inPage(b, off), byte, len);
  }

  /** Copies `len` bytes from heap object `src` (at `srcOff`) into block `b` at `off`. */
  copyIn(b: number, off: number, src: number, srcOff: number, len: number): void {
    this.sys.heap.copy(this.page(b).h, inPage(b, off), src, srcOff, len);
  }

  /** Copies `len` bytes of block `b` at `off` into heap object `dst` at `dstOff`. */
  copyOut(b: number, off: number, dst: number, dstOff: number, len: number): void {
    this.sys.heap.copy(dst, dstOff, this.page(b).h, inPage(b, off), len);
  }

  /** Copies block `src` over block `dst`, both cached (the log's slots and home blocks). */
  copyBlock(dst: number, src: number): void {
    this.pin(src);
    try {
      const to = this.page(dst);
      this.sys.heap.copy(to.h, inPage(dst, 0), this.page(src).h, inPage(src, 0), BSIZE);
    } finally {
      this.unpin(src);
    }
  }

  // ---- pinning -----------------------------------------------------------------------------

  /** Keeps the page of block `b` cached until as many unpin calls. */
  pin(b: number): void {
    this.page(b).pins++;
  }

  unpin(b: number): void {
    const p = this.pages.get(pageOf(b));
    if (p !== undefined && p.pins > 0) p.pins--;
  }

  // ---- the device --------------------------------------------------------------------------

  /** The cached page of block `b`, read from the device if it is not cached. */
  private page(b: number): Page {
    if (!(Number.isInteger(b) && b >= 0 && b < this.blocks)) throw new FsError(Errno.EIO, `block ${b} is outside the file system (${this.blocks} blocks)`);
    const lba = pageOf(b);
    const p = this.pages.get(lba);
    if (p === undefined) return this.load(lba);
    if (lba !== this.mru) {
      this.pages.delete(lba);
      this.pages.set(lba, p);
      this.mru = lba;
    }
    return p;
  }

  /** Reads device page `lba` into a new cached page (no copy: the device writes it). */
  private load(lba: number): Page {
    this.evict();
    let h: RRef<Block> | null = this.allocPage();
    const req = this.request(lba, BlockOp.READ, h);
    const r = this.bdev.read(req);
    if (!r.ok) throw new FsError(Errno.EIO, `reading device block ${lba}: ${r.error.message}`);
    h = BlockReq.takeData(r.value);
    const status = BlockReq.status(r.value);
    this.giveBack(r.value);
    if (h === null) throw new FsError(Errno.EIO, `reading device block ${lba}: the driver kept the page`);
    if (status !== BlockStatus.OK) {
      Bytes4096.free(h);
      throw new FsError(Errno.EIO, `reading device block ${lba}: status ${status}`);
    }
    const p: Page = { lba, h, pins: 0 };
    this.pages.set(lba, p);
    this.mru = lba;
    return p;
  }

  /** Drops the least recently used unpinned page if the cache is full. */
  private evict(): void {
    if (this.pages.size < this.limit) return;
    for (const [lba, p] of this.pages) {
      if (p.pins > 0) continue;
      this.pages.delete(lba);
      Bytes4096.free(p.h);
      return;
    }
    // Every page pinned: the cache grows past its limit (log.ts bounds the pins, so this is rare).
  }

  private allocPage(): RRef<Block> {
    try {
      return Bytes4096.alloc();
    } catch (e) {
      throw new FsError(Errno.EIO, `no exchange-heap memory for a cache page: ${(e as Error).message}`);
    }
  }

  /** A request for `op` on page `lba`, carrying `data`. */
  private request(lba: number, op: number, data: RRef<Block>): Req {
    let r = this.spare.pop();
    if (r === undefined) {
      try {
        r = BlockReq.alloc();
      } catch (e) {
        throw new FsError(Errno.EIO, `no exchange-heap memory for a block request: ${(e as Error).message}`);
      }
    }
    BlockReq.setLba(r, lba);
    BlockReq.setOp(r, op);
    BlockReq.setStatus(r, BlockStatus.PENDING);
    BlockReq.putData(r, data);
    return r;
  }

  private giveBack(r: Req): void {
    if (this.spare.length < SPARE_REQS) this.spare.push(r);
    else BlockReq.free(r);
  }

  /**
   * Writes the cached pages `lbas` (distinct) to the device, batched (submitAndPoll), and returns
   * once every one has completed. Throws FsError(EIO) if one failed; the pages stay cached.
   */
  writePages(lbas: readonly number[]): void {
    const out: Page[] = [];
    for (const lba of lbas) {
      const p = this.pages.get(lba);
      if (p === undefined) throw new Error(`fs: page ${lba} to write is not cached`);
      out.push(p);
    }
    /** indices in `out` of the pages the driver holds */
    const away = new Set<number>();
    let batch = this.deque ?? DequeBlockReq32.alloc();
    this.deque = null;
    let next = 0;
    let failed = '';
    let progress = this.sys.clock.now();
    while (next < out.length || away.size > 0) {
      for (; next < out.length && DequeBlockReq32.count(batch) < DequeBlockReq32.capacity; next++) {
        const r = this.request(out[next].lba, BlockOp.WRITE, out[next].h);
        BlockReq.setTag(r, next);
        DequeBlockReq32.push(batch, r);
        away.add(next);
      }
      const res = this.bdev.submitAndPoll(batch);
      if (!res.ok) return this.lose(out, away, `writing: ${res.error.message}`);
      batch = res.value;
      const before = away.size;
      for (let r = DequeBlockReq32.pop(batch); r !== null; r = DequeBlockReq32.pop(batch)) {
        const why = this.completed(r, out, away);
        if (why !== '') failed ||= why;
      }
      const now = this.sys.clock.now();
      if (away.size < before) progress = now;
      else if (now - progress > IO_TIMEOUT_MS) {
        this.deque = batch;
        return this.lose(out, away, `the device completed none of ${away.size} writes in ${IO_TIMEOUT_MS} ms`);
      }
    }
    this.deque = batch;
    if (failed !== '') throw new FsError(Errno.EIO, failed);
  }

  /** Takes back the page of a completed write; why it failed, or ''. A request that is not one
   *  of ours, or comes back without its page, leaves the page away (lost, once the time is up). */
  private completed(r: Req, out: readonly Page[], away: Set<number>): string {
    const i = BlockReq.tag(r);
    const h = BlockReq.takeData(r);
    const status = BlockReq.status(r);
    const lba = BlockReq.lba(r);
    this.giveBack(r);
    if (!away.has(i) || h === null || out[i].lba !== lba) {
      if (h !== null) Bytes4096.free(h);
      return `the driver returned a write of device block ${lba} that is not ours`;
    }
    away.delete(i);
    out[i].h = h;
    return status === BlockStatus.OK ? '' : `writing device block ${lba}: status ${status}`;
  }

  /** Pages handed to the driver did not come back: forget them, and fail from now on. */
  private lose(out: readonly Page[], away: ReadonlySet<number>, why: string): never {
    for (const i of away) this.pages.delete(out[i].lba);
    this.mru = -1;
    this.broken = true;
    throw new FsError(Errno.EIO, `${why}; ${away.size} cached pages were lost with the driver`);
  }

  /** Makes every completed write durable (the device's FLUSH). */
  flush(): void {
    const r = this.bdev.flush();
    if (!r.ok) throw new FsError(Errno.EIO, `flush: ${r.error.message}`);
    if (r.value !== BlockStatus.OK) throw new FsError(Errno.EIO, `flush: status ${r.value}`);
  }
}

/** The byte offset in its page of byte `off` of block `b`. */
function inPage(b: number, off: number): number {
  return (b % PER_PAGE) * BSIZE + off;
}

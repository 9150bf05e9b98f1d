// A test bench for the fs domain's lower layers (bio.ts, log.ts, inode.ts) in plain Node: the unit
// tests log.unit.test.ts and inode.unit.test.ts run the real Cache, Log and Inodes over it, with no
// kernel and no compartment. Not part of the domain: nothing index.ts imports imports it, so the
// build never bundles it (the build bundles what the entry reaches).
//
//   Disk    a BDev over an in-memory image, with a disk's volatile write cache: a write that
//           completes is visible to reads at once but durable only at the next FLUSH. Every write
//           and flush is on its `trace`; crash(k, keep) is the disk a power cut after the first k
//           of them leaves: every write before the last flush among them, and of the writes after
//           it, those `keep` picks (CrashMonkey's model). `fault` makes a command fail.
//   FakeTime  sys.clock and sys.timers: nothing fires until the test advances the clock.
//   Mounted   the layers over a Disk, put together as the fs domain's init does (index.ts:
//             superblock, Cache, Log, recovery, Inodes), with transactions run as index.ts runs
//             them (transaction(): undone whole on an FsError).
//   Bench     mounts Disks on one exchange heap.
//
// The exchange heap: the Cache keeps its pages as Bytes<4096> objects, through the generated
// accessors (bound to a heap capability with bindHeap) and sys.heap. The test file makes the heap
// (src/kernel/heap.ts) and hands the Bench its capability and a `reset` that frees every object
// of the bench's domain: mounting resets, so a Bench has one live mount at a time.
import type { BDev, BDevInfo, BlockBatch, BlockReq as BlockReqT } from '../../../idl/block.ts';
import type { HeapCap, Sys, Timers } from '../../../idl/lib/sys.ts';
import type { RRef, RpcResult } from '../../../idl/lib/types.ts';
import { BlockReq, Bytes4096, DequeBlockReq32 } from '../../../idl/generated/structs.ts';
import { BLOCK_BYTES, BlockOp, BlockStatus } from '../../../lib/block.ts';
import { fail, ok } from '../../../lib/result.ts';
import {
  BSIZE, SUPERBLOCK_SIZE, decodeSuperblock, validateSuperblock, type Superblock,
} from '../../../lib/xv6fs/format.ts';
import type { ReadBlock } from '../../../lib/xv6fs/image.ts';
import { Cache, PER_PAGE } from './bio.ts';
import { Inodes, type Inode } from './inode.ts';
import { Log } from './log.ts';
import { FsError, NBUF } from './param.ts';

/** A command the disk completed: a page written (its bytes) or a flush. */
export type Cmd = { readonly op: 'write'; readonly lba: number; readonly data: Uint8Array } | { readonly op: 'flush' };

/** What a fault does to a command: a status other than OK, or the call itself failing (an RPC
 *  error, as if the driver had died). undefined: the command runs. */
export type Fault = (op: 'read' | 'write' | 'flush', lba: number) => number | 'rpc' | undefined;

/** An xv6 image on a disk of 4 KiB pages, with a volatile write cache (see the header). */
export class Disk implements BDev {
  /** every write and flush completed, in order */
  readonly trace: Cmd[] = [];
  /** pages read from the device, in order */
  readonly reads: number[] = [];
  fault: Fault | null = null;
  /** called after each command on the trace (its index) */
  onCommand: ((i: number) => void) | null = null;
  readonly pages: number;
  /** durable pages that differ from `base` */
  private readonly durable: Map<number, Uint8Array>;
  /** completed writes since the last flush, oldest first */
  private pendingWrites: { lba: number; data: Uint8Array }[] = [];
  /** what reads see: the durable pages with the pending writes over them */
  private readonly now: Map<number, Uint8Array>;
  /** the durable pages this disk started with (crash copies start from them) */
  private readonly initial: Map<number, Uint8Array>;

  private readonly base: Uint8Array;

  /** `image` (zero-padded to whole pages) is never written: crash copies share it. */
  constructor(image: Uint8Array, durable: ReadonlyMap<number, Uint8Array> = new Map()) {
    if (image.length % BLOCK_BYTES === 0) this.base = image;
    else {
      this.base = new Uint8Array(Math.ceil(image.length / BLOCK_BYTES) * BLOCK_BYTES);
      this.base.set(image);
    }
    this.pages = this.base.length / BLOCK_BYTES;
    this.durable = new Map(durable);
    this.now = new Map(durable);
    this.initial = new Map(durable);
  }

  // ---- the device ---------------------------------------------------------------------------

  info(): RpcResult<BDevInfo> {
    return ok({ blocks: this.pages, blockSize: BLOCK_BYTES, depth: DequeBlockReq32.capacity });
  }

  read(req: RRef<BlockReqT>): RpcResult<RRef<BlockReqT>> {
    const lba = BlockReq.lba(req);
    const f = this.fault?.('read', lba);
    if (f === 'rpc') return fail('crashed', 'disk', `read of page ${lba}: the driver crashed`);
    if (f !== undefined) {
      BlockReq.setStatus(req, f);
      return ok(req);
    }
    const data = BlockReq.takeData(req);
    if (data === null) {
      BlockReq.setStatus(req, BlockStatus.NO_BLOCK);
      return ok(req);
    }
    Bytes4096.write(data, 0, this.page(lba));
    BlockReq.putData(req, data);
    BlockReq.setStatus(req, BlockStatus.OK);
    this.reads.push(lba);
    return ok(req);
  }

  write(req: RRef<BlockReqT>): RpcResult<RRef<BlockReqT>> {
    const f = this.fault?.('write', BlockReq.lba(req));
    if (f === 'rpc') return fail('crashed', 'disk', 'write: the driver crashed');
    BlockReq.setStatus(req, f ?? this.writeOne(req));
    return ok(req);
  }

  flush(): RpcResult<number> {
    const f = this.fault?.('flush', 0);
    if (f === 'rpc') return fail('crashed', 'disk', 'flush: the driver crashed');
    if (f !== undefined) return ok(f);
    for (const w of this.pendingWrites) this.durable.set(w.lba, w.data);
    this.pendingWrites = [];
    this.record({ op: 'flush' });
    return ok(BlockStatus.OK);
  }

  submitAndPoll(batch: RRef<BlockBatch>): RpcResult<RRef<BlockBatch>> {
    const reqs: RRef<BlockReqT>[] = [];
    for (let r = DequeBlockReq32.pop(batch); r !== null; r = DequeBlockReq32.pop(batch)) reqs.push(r);
    for (const r of reqs) {
      const f = this.fault?.('write', BlockReq.lba(r));
      if (f === 'rpc') return fail('crashed', 'disk', 'submitAndPoll: the driver crashed');
      BlockReq.setStatus(r, f ?? (BlockReq.op(r) === BlockOp.WRITE ? this.writeOne(r) : BlockStatus.BAD_OP));
      DequeBlockReq32.push(batch, r);
    }
    return ok(batch);
  }

  pending(): RpcResult<number> {
    return ok(0);
  }

  wait(): Promise<RpcResult<number>> {
    return Promise.resolve(ok(0));
  }

  private writeOne(req: RRef<BlockReqT>): number {
    const lba = BlockReq.lba(req);
    if (lba >= this.pages) return 0x80; // (NVMe: LBA out of range)
    const data = BlockReq.takeData(req);
    if (data === null) return BlockStatus.NO_BLOCK;
    const copy = new Uint8Array(BLOCK_BYTES);
    Bytes4096.read(data, 0, copy);
    BlockReq.putData(req, data);
    this.pendingWrites.push({ lba, data: copy });
    this.now.set(lba, copy);
    this.record({ op: 'write', lba, data: copy });
    return BlockStatus.OK;
  }

  private record(c: Cmd): void {
    this.trace.push(c);
    this.onCommand?.(this.trace.length - 1);
  }

  // ---- the test's view ------------------------------------------------------------------------

  /** Page `lba` as reads see it now (a view: do not change it). */
  private page(lba: number): Uint8Array {
    return this.now.get(lba) ?? this.base.subarray(lba * BLOCK_BYTES, (lba + 1) * BLOCK_BYTES);
  }

  /** xv6 block `b` as reads see it now (durable or not), a copy. */
  block(b: number): Uint8Array {
    const off = (b % PER_PAGE) * BSIZE;
    return this.page(Math.floor(b / PER_PAGE)).slice(off, off + BSIZE);
  }

  /** xv6 block `b` as a power cut now would leave it (only what was flushed), a copy. */
  durableBlock(b: number): Uint8Array {
    const lba = Math.floor(b / PER_PAGE);
    const off = (b % PER_PAGE) * BSIZE;
    const p = this.durable.get(lba) ?? this.base.subarray(lba * BLOCK_BYTES, (lba + 1) * BLOCK_BYTES);
    return p.slice(off, off + BSIZE);
  }

  /** A ReadBlock (lib/xv6fs/image.ts) over what reads see now, or over the durable pages. */
  reader(durable = false): ReadBlock {
    return (b) => {
      if (!Number.isInteger(b) || b < 0 || b >= this.pages * PER_PAGE) throw new Error(`disk: no block ${b}`);
      return durable ? this.durableBlock(b) : this.block(b);
    };
  }

  /** The whole durable image, a copy. */
  durableImage(): Uint8Array {
    const out = this.base.slice();
    for (const [lba, p] of this.durable) out.set(p, lba * BLOCK_BYTES);
    return out;
  }

  /** Writes not yet flushed. */
  unflushed(): number {
    return this.pendingWrites.length;
  }

  /**
   * The disk a power cut after the first `k` commands of the trace leaves: each write before the
   * last flush among them, and of the writes after it the ones `keep` picks (by their index among
   * those writes), in order. A new Disk, with an empty trace.
   */
  crash(k: number, keep: (i: number) => boolean = () => false): Disk {
    if (!(Number.isInteger(k) && k >= 0 && k <= this.trace.length)) throw new RangeError(`crash after ${k} of ${this.trace.length} commands`);
    const pages = new Map(this.initial);
    let open: { lba: number; data: Uint8Array }[] = [];
    for (let i = 0; i < k; i++) {
      const c = this.trace[i]!;
      if (c.op === 'flush') {
        for (const w of open) pages.set(w.lba, w.data);
        open = [];
      } else open.push(c);
    }
    open.forEach((w, i) => { if (keep(i)) pages.set(w.lba, w.data); });
    return new Disk(this.base, pages);
  }

  /** Writes after the last flush among the first `k` commands (what crash(k, keep) chooses from). */
  openWrites(k: number): number {
    let n = 0;
    for (let i = 0; i < k; i++) n = this.trace[i]!.op === 'flush' ? 0 : n + 1;
    return n;
  }

  /** Changes block `b` behind the file system's back, durably, before anything ran on the disk
   *  (a test's corruption of the image). */
  poke(b: number, off: number, bytes: Uint8Array): void {
    if (this.trace.length > 0) throw new Error('disk: poke after the file system wrote');
    const lba = Math.floor(b / PER_PAGE);
    const p = this.page(lba).slice();
    p.set(bytes, (b % PER_PAGE) * BSIZE + off);
    this.durable.set(lba, p);
    this.now.set(lba, p);
    this.initial.set(lba, p);
  }
}

// ---- fake time ----------------------------------------------------------------------------------

/** sys.clock and sys.timers on a clock that moves only when the test says so. */
export class FakeTime implements Timers {
  private t = 0;
  private seq = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();
  readonly clock = { now: (): number => this.t };

  after(ms: number, fn: () => void): number {
    const id = ++this.seq;
    this.due.set(id, { at: this.t + ms, fn });
    return id;
  }

  every(): number {
    throw new Error('FakeTime: every() is not used by the fs');
  }

  cancel(id: number): boolean {
    return this.due.delete(id);
  }

  sleep(): Promise<void> {
    throw new Error('FakeTime: sleep() is not used by the fs');
  }

  /** Timers pending: their deadlines (absolute), soonest first. */
  deadlines(): number[] {
    return [...this.due.values()].map((d) => d.at).sort((a, b) => a - b);
  }

  /** Moves time on by `ms`, firing every timer due by then, in deadline order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.due) if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.due.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
  }

  get now(): number {
    return this.t;
  }
}

// ---- mounting -----------------------------------------------------------------------------------

export interface MountOptions {
  /** cache pages (the Cache's limit before the log's reserve; default NBUF) */
  cachePages?: number;
  /** grow the limit for the log's pins as index.ts does (default true) */
  reserve?: boolean;
}

/** The fs domain's lower layers over a Disk, as index.ts's init assembles them. */
export class Mounted {
  readonly time = new FakeTime();
  readonly logged: string[] = [];
  readonly sys: Sys;
  readonly cache: Cache;
  readonly sb: Superblock;
  readonly log: Log;
  readonly inodes: Inodes;
  /** blocks recovery installed */
  readonly replayed: number;

  constructor(readonly disk: Disk, heap: HeapCap, o: MountOptions = {}) {
    this.sys = {
      self: { id: 1, name: 'fs' },
      log: (...parts) => { this.logged.push(parts.join(' ')); },
      clock: this.time.clock,
      timers: this.time,
      threads: { spawn: () => { throw new Error('no threads'); }, list: () => [] },
      heap,
    };
    this.cache = new Cache(this.sys, disk, o.cachePages ?? NBUF, disk.pages);
    const raw = new Uint8Array(SUPERBLOCK_SIZE);
    this.cache.read(1, 0, raw);
    this.sb = decodeSuperblock(raw);
    const why = validateSuperblock(this.sb);
    if (why !== null) throw new Error(`bench: bad superblock: ${why}`);
    this.cache.setSize(this.sb.size);
    this.log = new Log(this.sys, this.cache, this.sb);
    if (o.reserve ?? true) this.cache.reserve(Math.ceil(this.sb.nlog / PER_PAGE) + 1 + this.log.capacity + 16);
    this.replayed = this.log.recover();
    this.inodes = new Inodes(this.cache, this.log, this.sb);
  }

  /** Runs `body` as one transaction, as index.ts does: all of it, or (an FsError) none of it. */
  tx<T>(body: () => T): T {
    this.log.begin();
    try {
      const r = body();
      this.inodes.reap();
      this.log.end();
      this.inodes.settle();
      return r;
    } catch (e) {
      if (e instanceof FsError) {
        this.log.abort();
        this.inodes.forget();
      }
      throw e;
    }
  }

  /** writei of `bytes` at `off` through the log (as writeBytes does), in the open transaction. */
  write(ip: Inode, off: number, bytes: Uint8Array): number {
    return this.inodes.writei(ip, off, bytes.length, (b, boff, done, m) => this.log.write(b, boff, bytes, done, m));
  }

  /** readi of up to `n` bytes at `off`: the bytes read (holes as zeros). */
  read(ip: Inode, off: number, n: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, n));
    const got = this.inodes.readi(ip, off, n, (b, boff, done, m) => {
      if (b === 0) out.fill(0, done, done + m);
      else this.cache.read(b, boff, out, done, m);
    });
    return out.slice(0, got);
  }
}

/** Mounts disks on one heap capability (see the header): one live mount at a time. */
export class Bench {
  constructor(readonly heap: HeapCap, private readonly reset: () => void) {}


  /** Frees everything the last mount held in the heap, and mounts `disk`. */
  mount(disk: Disk, o: MountOptions = {}): Mounted {
    this.reset();
    return new Mounted(disk, this.heap, o);
  }
}

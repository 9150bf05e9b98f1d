// The block-path integrity check: random reads and writes of whole blocks, each carrying a checksum
// of what it should hold, through a BDev (normally the shadow), while the driver may be crashed
// under it; then every block is read back and, for a disk image, the image file itself is checked
// against the model. Used by `frond blkcheck`, the tests and `npm run soak:blk`.
//
// The model. Block b holds version v[b] (0: never written, all zeros); the data of (b, v) is a
// pseudo-random stream seeded by both, with b and v in its first 8 bytes, so a block from another
// place or time never passes for the right one. A block is never in two requests at once (`busy`),
// so each read has exactly one right answer: the version of the last write that completed.
//
// What counts: an operation the caller sees fail (an RpcError, or a request whose status is not OK)
// is `failed`; a read whose data is not the model's is `corrupt`; blocks wrong in the final read-back
// or in the image are `bad`. A run is clean when all three are zero.
import { readSync, openSync, closeSync } from 'node:fs';
import type { BDev, BlockBatch, BlockReq as BlockReqT } from '../idl/block.ts';
import type { HeapCap } from '../idl/lib/sys.ts';
import type { RRef } from '../idl/lib/types.ts';
import { BlockReq, Bytes4096, DequeBlockReq32, bindHeap } from '../idl/generated/structs.ts';
import { BLOCK_BYTES, BlockOp, BlockStatus } from '../lib/block.ts';

type Req = RRef<BlockReqT>;
type Batch = RRef<BlockBatch>;

export interface CheckOptions {
  /** blocks of the disk the check uses (from 0) */
  blocks: number;
  /** how long to run the random phase, ms */
  ms: number;
  /** requests per submitAndPoll (1..32); 0 for synchronous read/write calls */
  batch: number;
  seed?: number;
  /** share of writes among operations (default 0.5) */
  writes?: number;
  /** called between rounds, about every `everyMs` (e.g. to inject a crash) */
  tick?: () => void;
  /** yield to the event loop this often (ms; default 2), so timers run */
  yieldMs?: number;
}

export interface CheckReport {
  ops: number;
  reads: number;
  writes: number;
  failed: number;
  corrupt: number;
  /** blocks wrong in the final read-back through the BDev */
  bad: number;
  /** the first few problems, described */
  problems: string[];
  ms: number;
}

/** Fills `out` with the data of block `b` at version `v` (zeros for version 0). */
export function blockData(b: number, v: number, out: Uint8Array): Uint8Array {
  if (v === 0) return out.fill(0);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let x = (Math.imul(b + 1, 0x9e3779b1) ^ Math.imul(v, 0x85ebca6b)) >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    dv.setUint32(i, x >>> 0, true);
  }
  dv.setUint32(0, b, true);
  dv.setUint32(4, v, true);
  return out;
}

/** A small seeded PRNG (xorshift32). */
function rng(seed: number): () => number {
  let x = (seed >>> 0) || 0x2545f491;
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const sleep0 = (): Promise<void> => new Promise((r) => setImmediate(r));

export class BlockCheck {
  readonly versions: Uint32Array;
  private readonly busy: Uint8Array;
  private readonly report: CheckReport = { ops: 0, reads: 0, writes: 0, failed: 0, corrupt: 0, bad: 0, problems: [], ms: 0 };
  private readonly want = new Uint8Array(BLOCK_BYTES);
  private readonly got = new Uint8Array(BLOCK_BYTES);
  /** per request handed out: the version it writes (or reads), by tag */
  private readonly expect = new Map<number, { lba: number; op: number; version: number }>();
  private nextTag = 1;
  private readonly free: Req[] = [];

  /** `heap` is the caller's exchange-heap capability (Kernel.heapCap for host code). */
  constructor(private readonly bdev: BDev, heap: HeapCap, readonly blocks: number) {
    bindHeap(heap);
    this.versions = new Uint32Array(blocks);
    this.busy = new Uint8Array(blocks);
  }

  private problem(s: string): void {
    if (this.report.problems.length < 16) this.report.problems.push(s);
  }

  private req(): Req {
    const r = this.free.pop();
    if (r !== undefined) return r;
    const q = BlockReq.alloc();
    BlockReq.putData(q, Bytes4096.alloc());
    return q;
  }

  /** Prepares request `r` to read or write block `lba`; marks the block busy. */
  private prepare(r: Req, lba: number, write: boolean): void {
    const version = write ? this.versions[lba] + 1 : this.versions[lba];
    const tag = this.nextTag++;
    BlockReq.setLba(r, lba);
    BlockReq.setOp(r, write ? BlockOp.WRITE : BlockOp.READ);
    BlockReq.setTag(r, tag);
    BlockReq.setStatus(r, BlockStatus.PENDING);
    const data = BlockReq.takeData(r)!;
    if (write) Bytes4096.write(data, 0, blockData(lba, version, this.want));
    else Bytes4096.fill(data, 0xee); // (a read that did not happen shows)
    BlockReq.putData(r, data);
    this.expect.set(tag, { lba, op: write ? BlockOp.WRITE : BlockOp.READ, version });
    this.busy[lba] = 1;
  }

  /** Checks a completed request against the model and returns it to the pool. */
  private completed(r: Req): void {
    const tag = BlockReq.tag(r);
    const e = this.expect.get(tag);
    if (e === undefined) { this.problem(`a request with unknown tag ${tag} came back`); this.report.failed++; return; }
    this.expect.delete(tag);
    this.busy[e.lba] = 0;
    this.report.ops++;
    const status = BlockReq.status(r);
    if (status !== BlockStatus.OK) {
      this.report.failed++;
      this.problem(`${e.op === BlockOp.WRITE ? 'write' : 'read'} of block ${e.lba} failed with status ${status}`);
    } else if (e.op === BlockOp.WRITE) {
      this.report.writes++;
      this.versions[e.lba] = e.version;
    } else {
      this.report.reads++;
      if (!this.matches(r, e.lba, e.version)) {
        this.report.corrupt++;
        this.problem(`read of block ${e.lba} returned ${this.describe()} instead of version ${e.version}`);
      }
    }
    this.free.push(r);
  }

  private matches(r: Req, lba: number, version: number): boolean {
    const data = BlockReq.takeData(r)!;
    Bytes4096.read(data, 0, this.got);
    BlockReq.putData(r, data);
    blockData(lba, version, this.want);
    for (let i = 0; i < BLOCK_BYTES; i++) if (this.got[i] !== this.want[i]) return false;
    return true;
  }

  private describe(): string {
    const dv = new DataView(this.got.buffer);
    return `data of block ${dv.getUint32(0, true)} version ${dv.getUint32(4, true)}`;
  }

  private pickBlock(random: () => number): number {
    for (let tries = 0; tries < 64; tries++) {
      const b = Math.floor(random() * this.blocks);
      if (this.busy[b] === 0) return b;
    }
    return -1;
  }

  /** The random phase: runs for o.ms, keeping up to a deque's worth of requests in flight. */
  async run(o: CheckOptions): Promise<CheckReport> {
    const random = rng(o.seed ?? 1);
    const writeShare = o.writes ?? 0.5;
    const t0 = performance.now();
    let lastYield = t0;
    let deque: Batch = DequeBlockReq32.alloc();
    while (performance.now() - t0 < o.ms) {
      if (o.batch === 0) {
        const b = this.pickBlock(random);
        const r = this.req();
        const write = random() < writeShare;
        this.prepare(r, b, write);
        const res = write ? this.bdev.write(r) : this.bdev.read(r);
        if (!res.ok) { this.report.failed++; this.problem(`${write ? 'write' : 'read'}: ${res.error.kind}: ${res.error.message}`); this.busy[b] = 0; continue; }
        this.completed(res.value);
      } else {
        for (let n = 0; n < o.batch; n++) {
          const b = this.pickBlock(random);
          if (b < 0) break;
          const r = this.req();
          this.prepare(r, b, random() < writeShare);
          DequeBlockReq32.push(deque, r);
        }
        deque = this.submit(deque);
      }
      const now = performance.now();
      if (now - lastYield >= (o.yieldMs ?? 2)) {
        o.tick?.();
        await sleep0();
        lastYield = performance.now();
      }
    }
    await this.drain(deque);
    this.report.ms = performance.now() - t0;
    return this.report;
  }

  private submit(deque: Batch): Batch {
    const res = this.bdev.submitAndPoll(deque);
    if (!res.ok) {
      this.report.failed++;
      this.problem(`submitAndPoll: ${res.error.kind}: ${res.error.message}`);
      return DequeBlockReq32.alloc();
    }
    for (let r = DequeBlockReq32.pop(res.value); r !== null; r = DequeBlockReq32.pop(res.value)) this.completed(r);
    return res.value;
  }

  /** Polls until every request handed out has come back. */
  private async drain(deque: Batch): Promise<void> {
    const t0 = performance.now();
    while (this.expect.size > 0) {
      deque = this.submit(deque);
      if (performance.now() - t0 > 10_000) {
        this.report.failed += this.expect.size;
        this.problem(`${this.expect.size} requests never came back`);
        this.expect.clear();
        break;
      }
      await sleep0();
    }
    DequeBlockReq32.free(deque);
  }

  /** Flushes, then reads every block back through the BDev and compares it with the model. */
  verifyAll(): number {
    const f = this.bdev.flush();
    if (!f.ok || f.value !== BlockStatus.OK) { this.report.failed++; this.problem(`flush failed: ${f.ok ? `status ${f.value}` : f.error.message}`); }
    let r = this.req();
    for (let b = 0; b < this.blocks; b++) {
      BlockReq.setLba(r, b);
      const res = this.bdev.read(r);
      if (!res.ok) { this.report.bad++; this.problem(`final read of block ${b}: ${res.error.message}`); r = this.req(); continue; }
      r = res.value;
      if (BlockReq.status(r) !== BlockStatus.OK) { this.report.bad++; this.problem(`final read of block ${b} failed with status ${BlockReq.status(r)}`); continue; }
      if (!this.matches(r, b, this.versions[b])) { this.report.bad++; this.problem(`block ${b} holds ${this.describe()}, not version ${this.versions[b]}`); }
    }
    this.free.push(r);
    return this.report.bad;
  }

  /** Compares the image file (after the device has stopped) with the model; returns bad blocks. */
  verifyImage(path: string): number {
    const fd = openSync(path, 'r');
    let bad = 0;
    try {
      for (let b = 0; b < this.blocks; b++) {
        const n = readSync(fd, this.got, 0, BLOCK_BYTES, b * BLOCK_BYTES);
        blockData(b, this.versions[b], this.want);
        let same = n === BLOCK_BYTES;
        for (let i = 0; same && i < BLOCK_BYTES; i++) if (this.got[i] !== this.want[i]) same = false;
        if (!same) { bad++; this.problem(`image block ${b} holds ${this.describe()}, not version ${this.versions[b]}`); }
      }
    } finally {
      closeSync(fd);
    }
    this.report.bad += bad;
    return bad;
  }

  /** Frees every request the check holds. */
  dispose(): void {
    for (const r of this.free) BlockReq.free(r);
    this.free.length = 0;
  }

  get result(): CheckReport {
    return this.report;
  }
}

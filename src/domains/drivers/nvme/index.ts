// The NVMe block driver: a domain that drives the NVMe-like device (machine/common/nvme.ts) and
// exports BDev (idl/block.ts), after RedLeaf's NVMe driver.
//
// Data path. A request's block never moves through the driver's memory: the driver maps the
// request's `data` child for the device (sys.devices map: the kernel pins the request and writes
// an IOMMU entry), puts the I/O address in a submission entry, and unmaps when the completion
// arrives. One I/O queue pair; commands are enqueued and the doorbell rung once per call.
//
// State, per command id (cid, an index below the queue depth): the request it carries and its
// mapping. Requests the device queue cannot take yet wait in `backlog`, completed ones in `done`,
// both first-in first-out; so every request a caller handed over is in exactly one of: backlog,
// in flight (by cid), done. A caller gets completed requests back from submitAndPoll (as many as
// its deque holds) or from read/write (their own request).
//
// Errors. A device error is the request's status (BlockReq.status), never a crash. The driver
// crashes (throws) only when it cannot go on: the device stopped answering or lost power, or its
// queue could not be created. Then the kernel resets the device before reclaiming anything it
// mapped, and a shadow (domains/shadows/bdev) gets its requests back and re-submits them.
//
// Interrupts. The queue is polled (interrupts masked) while calls come in; wait() unmasks them and
// resolves at the next interrupt, which the device coalesces (config: coalesce, coalesceUs).
import type { BDev, BDevInfo, BlockBatch, BlockReq as BlockReqT } from '../../../idl/block.ts';
import type { Config, DeviceCap, Sys } from '../../../idl/lib/sys.ts';
import type { RpcResult, RRef } from '../../../idl/lib/types.ts';
import { BlockReq, DequeBlockReq32 } from '../../../idl/generated/structs.ts';
import { BLOCK_BYTES, BlockOp, BlockStatus } from '../../../lib/block.ts';
import { ok } from '../../../lib/result.ts';
import {
  DeviceStatus, Opcode, QueuePair, Reg, Status, createQueueCommand, deleteQueueCommand, type Command, type Completion,
} from '../../../machine/common/nvme.ts';

type Req = RRef<BlockReqT>;

/** How long a synchronous command may take before the device is taken for lost (ms): below the
 *  block path's CPU budget (src/boot/block.ts), since the driver spins while it waits. */
const DEVICE_TIMEOUT_MS = 400;
/** Polls of the queue between looks at the clock while spinning. */
const SPINS_PER_CLOCK = 256;
/** The device's access to a request's block: it writes it for a READ, reads it for a WRITE. */
const DEVICE_READS = 1;
const DEVICE_WRITES = 2;

interface DriverConfig {
  device: string;
  queue: number;
  coalesce: number;
  coalesceUs: number;
}

function readConfig(config: Config): DriverConfig {
  const c = (typeof config === 'object' && config !== null && !Array.isArray(config) ? config : {}) as Record<string, Config>;
  const num = (k: string, dflt: number): number => (typeof c[k] === 'number' ? c[k] as number : dflt);
  return {
    device: typeof c.device === 'string' ? c.device : 'nvme0',
    queue: num('queue', 1),
    coalesce: num('coalesce', 8),
    coalesceUs: num('coalesceUs', 100),
  };
}

/** A FIFO of requests (an array with a moving head, compacted when half is dead). */
class Fifo {
  private items: Req[] = [];
  private head = 0;
  get length(): number { return this.items.length - this.head; }
  push(r: Req): void { this.items.push(r); }
  shift(): Req {
    const r = this.items[this.head++];
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return r;
  }
}

export function init(sys: Sys, _imports: Readonly<Record<string, unknown>>, config: Config): BDev {
  const cfg = readConfig(config);
  if (!sys.devices) throw new Error('nvme: no device was granted to this driver');
  const dev: DeviceCap = sys.devices.open(cfg.device);
  const A = dev.atomics;
  const regs = new DataView(dev.memory);
  const words = new Int32Array(dev.memory);
  const status = (): number => A.load(words, Reg.STATUS >>> 2);
  if (status() !== DeviceStatus.READY) throw new Error(`nvme: ${cfg.device} is not ready (status ${status()})`);
  const blockSize = regs.getUint32(Reg.BLOCK_SIZE, true);
  const blocks = regs.getUint32(Reg.BLOCKS_HI, true) * 2 ** 32 + regs.getUint32(Reg.BLOCKS_LO, true);
  if (blockSize !== BLOCK_BYTES) throw new Error(`nvme: ${cfg.device} has ${blockSize}-byte blocks; BDev moves ${BLOCK_BYTES}-byte blocks`);

  // ---- the device's queues ------------------------------------------------------------------

  /** Waits (polling) for the completion of command `cid` on `q`; throws if the device is lost. */
  function spinFor(q: QueuePair, onOther: (c: Completion) => void, cid: number): Completion {
    const start = sys.clock.now();
    for (let i = 1; ; i++) {
      const c = q.poll();
      if (c !== null) {
        if (c.cid === cid) return c;
        onOther(c);
        continue;
      }
      if (i % SPINS_PER_CLOCK === 0) {
        const s = status();
        if (s !== DeviceStatus.READY) throw new Error(`nvme: ${cfg.device} stopped (status ${s})`);
        if (sys.clock.now() - start > DEVICE_TIMEOUT_MS) throw new Error(`nvme: ${cfg.device} did not answer in ${DEVICE_TIMEOUT_MS} ms`);
      }
    }
  }

  const admin = new QueuePair(dev.memory, 0, A);
  admin.mask(true); // (polled: its completions must not end a wait() for I/O)
  let adminCid = 0;
  function adminCommand(c: Command): number {
    if (admin.submit(c) !== Status.SUCCESS) throw new Error('nvme: the admin queue is full');
    return spinFor(admin, () => {}, c.cid).status;
  }
  let created = adminCommand(createQueueCommand(adminCid++, cfg.queue, cfg.coalesce, cfg.coalesceUs));
  if (created === Status.INVALID_FIELD) {
    // Left by a driver that died without the kernel resetting the device: start it afresh.
    adminCommand(deleteQueueCommand(adminCid++, cfg.queue));
    created = adminCommand(createQueueCommand(adminCid++, cfg.queue, cfg.coalesce, cfg.coalesceUs));
  }
  if (created !== Status.SUCCESS) throw new Error(`nvme: cannot create I/O queue ${cfg.queue} (status ${created})`);
  const io = new QueuePair(dev.memory, cfg.queue, A);
  io.mask(true);
  const depth = io.entries - 1;

  // ---- requests -----------------------------------------------------------------------------

  const reqOf: Req[] = new Array<Req>(depth).fill(0 as Req);
  const iovaOf: number[] = new Array<number>(depth).fill(0);
  const freeCids: number[] = [];
  for (let c = depth - 1; c >= 0; c--) freeCids.push(c);
  const backlog = new Fifo();
  const done = new Fifo();
  /** the request a synchronous call waits for (it skips `done`), and its completion status */
  let awaited = 0 as Req;
  let awaitedStatus = -1;
  const cmd: Command = { opcode: 0, cid: 0, lba: 0, count: 1, bufIova: 0, bufLength: BLOCK_BYTES };

  function finish(r: Req, s: number): void {
    BlockReq.setStatus(r, s);
    if (r === awaited) awaitedStatus = s;
    else done.push(r);
  }

  /** Puts request `r` on the device queue (which has room), or completes it at once with an error. */
  function start(r: Req): void {
    const op = BlockReq.op(r);
    if (op !== BlockOp.READ && op !== BlockOp.WRITE && op !== BlockOp.FLUSH) return finish(r, BlockStatus.BAD_OP);
    BlockReq.setStatus(r, BlockStatus.PENDING);
    let iova = 0;
    if (op !== BlockOp.FLUSH) {
      try {
        iova = dev.map(r, 0, op === BlockOp.READ ? DEVICE_WRITES : DEVICE_READS);
      } catch {
        return finish(r, BlockStatus.NO_MAPPING);
      }
      if (iova === 0) return finish(r, BlockStatus.NO_BLOCK);
    }
    const cid = freeCids.pop()!;
    reqOf[cid] = r;
    iovaOf[cid] = iova;
    cmd.opcode = op === BlockOp.READ ? Opcode.READ : op === BlockOp.WRITE ? Opcode.WRITE : Opcode.FLUSH;
    cmd.cid = cid;
    cmd.lba = BlockReq.lba(r);
    cmd.count = op === BlockOp.FLUSH ? 0 : 1;
    cmd.bufIova = iova;
    cmd.bufLength = op === BlockOp.FLUSH ? 0 : BLOCK_BYTES;
    io.enqueue(cmd);
  }

  /** Moves waiting requests onto the device queue while it has room, and rings once. */
  function pump(): void {
    while (backlog.length > 0 && freeCids.length > 0) start(backlog.shift());
    io.ring();
  }

  function complete(c: Completion): void {
    const r = reqOf[c.cid];
    if (r === 0 || c.cid >= depth) throw new Error(`nvme: completion for unknown command ${c.cid}`);
    if (iovaOf[c.cid] !== 0) dev.unmap(iovaOf[c.cid]);
    reqOf[c.cid] = 0 as Req;
    iovaOf[c.cid] = 0;
    freeCids.push(c.cid);
    finish(r, c.status === Status.SUCCESS ? BlockStatus.OK : c.status);
  }

  /** Takes every completion the device has posted, then refills the queue. */
  function reap(): void {
    for (let c = io.poll(); c !== null; c = io.poll()) complete(c);
    if (status() !== DeviceStatus.READY && freeCids.length < depth) {
      throw new Error(`nvme: ${cfg.device} stopped with ${depth - freeCids.length} commands in flight (status ${status()})`);
    }
    pump();
  }

  function submit(r: Req): void {
    if (backlog.length === 0 && freeCids.length > 0) start(r);
    else backlog.push(r);
  }

  /** One request, synchronously: returns it once it has completed. */
  function sync(r: Req, op: number): RpcResult<Req> {
    BlockReq.setOp(r, op);
    awaited = r;
    awaitedStatus = -1;
    submit(r);
    pump();
    const t0 = sys.clock.now();
    for (let i = 1; awaitedStatus < 0; i++) {
      const c = io.poll();
      if (c !== null) { complete(c); pump(); continue; }
      if (i % SPINS_PER_CLOCK === 0) {
        if (status() !== DeviceStatus.READY) throw new Error(`nvme: ${cfg.device} stopped (status ${status()})`);
        if (sys.clock.now() - t0 > DEVICE_TIMEOUT_MS) throw new Error(`nvme: ${cfg.device} did not answer in ${DEVICE_TIMEOUT_MS} ms`);
      }
    }
    awaited = 0 as Req;
    return ok(r);
  }

  // ---- interrupts -------------------------------------------------------------------------

  let waiters: ((r: RpcResult<number>) => void)[] = [];
  dev.onInterrupt(() => {
    if (waiters.length === 0) return;
    io.mask(true);
    reap();
    const w = waiters;
    waiters = [];
    for (const resolve of w) resolve(ok(done.length));
  });

  const info: BDevInfo = Object.freeze({ blocks: Math.min(blocks, 0xffffffff), blockSize, depth });

  return {
    info: () => ok(info),
    read: (r) => sync(r, BlockOp.READ),
    write: (r) => sync(r, BlockOp.WRITE),
    flush: () => {
      const r = BlockReq.alloc();
      try {
        BlockReq.setOp(r, BlockOp.FLUSH);
        const res = sync(r, BlockOp.FLUSH);
        return ok(res.ok ? BlockReq.status(r) : BlockStatus.DEVICE_LOST);
      } finally {
        BlockReq.free(r);
      }
    },
    submitAndPoll: (batch: RRef<BlockBatch>) => {
      for (let n = DequeBlockReq32.count(batch); n > 0; n--) submit(DequeBlockReq32.pop(batch)!);
      reap();
      while (done.length > 0 && DequeBlockReq32.count(batch) < DequeBlockReq32.capacity) DequeBlockReq32.push(batch, done.shift());
      return ok(batch);
    },
    pending: () => ok(backlog.length + (depth - freeCids.length) + done.length),
    wait: () => {
      reap();
      if (done.length > 0 || (backlog.length === 0 && freeCids.length === depth)) return Promise.resolve(ok(done.length));
      // Unmask and sleep: a completion posted between the reap above and the unmask raises the
      // interrupt once the device sees the unmask (machine/common/nvme.ts), so none is waited for
      // forever.
      io.mask(false);
      return new Promise((resolve) => { waiters.push(resolve); });
    },
  };
}

// The NVMe driver domain (src/domains/drivers/nvme) through its BDev interface, as the kernel calls
// it: what info() says, which status each request comes back with, the order requests complete in,
// what pending() and wait() report, when the driver refuses to start and when it gives up (crashes),
// and that it leaves no DMA mapping behind. Exact values and messages; nothing of its internals.
//
// Most tests drive the device model (machine/node/nvme.ts) on its own thread. A few need a device
// that does what that model never does (answers an admin command with INTERNAL_ERROR, never
// answers, posts a completion for a command it was not given): for these the test plays the
// device, writing its queue memory as a device would (`fake`), or poking a completion into the
// model's ring while it is idle.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { boot } from './helpers.ts';
import { BlockReq, Bytes4096, DequeBlockReq32, bindHeap } from '../src/idl/generated/structs.ts';
import type { BDev, BlockReq as BlockReqT } from '../src/idl/block.ts';
import type { RRef, RpcResult } from '../src/idl/lib/types.ts';
import type { Domain } from '../src/kernel/domain.ts';
import { BlockOp, BlockStatus } from '../src/lib/block.ts';
import {
  Cqe, DeviceStatus, Reg, Status, cqeOffset, identifyCommand, queueBytes, statusWord, writeCqeBody, writeIdentify,
} from '../src/machine/common/nvme.ts';
import { IOMMU_ENTRY_WORDS, IommuWord, iommuBytes } from '../src/machine/common/iommu.ts';
import { startNvme, type NvmeDevice, type PowerCut } from '../src/machine/node/nvme.ts';

type Req = RRef<BlockReqT>;
type Batch = ReturnType<typeof DequeBlockReq32.alloc>;

const b = await boot(['src/domains/drivers/nvme']);
bindHeap(b.k.heapCap());

/** The driver's CPU budget: well above its 400 ms device timeout, so a timeout is the driver's. */
const BUDGET_MS = 5000;

const drivers: Domain[] = [];
const devices: { stop(): Promise<void> }[] = [];
after(async () => {
  for (const d of drivers) if (d.alive) b.k.kill(d, 'shutdown');
  for (const dev of devices) await dev.stop();
});

/** Waits (letting the event loop turn) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (const t0 = Date.now(); !cond();) {
    if (Date.now() - t0 > 30_000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Whether `p` is settled once the promise jobs queued now have run (before the event loop turns). */
async function settledAtOnce(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(() => { settled = true; });
  await new Promise((r) => setImmediate(r));
  return settled;
}

// ---- devices, drivers, requests -------------------------------------------------------------

interface DevOptions {
  blocks?: number;
  blockSize?: number;
  queueEntries?: number;
  maxQueues?: number;
  iommuEntries?: number;
  latencyUs?: number;
  image?: string;
  powerCut?: PowerCut;
}

let irq = 20;
/** A device model attached to the kernel as `name`, READY. */
async function device(name: string, o: DevOptions = {}): Promise<NvmeDevice> {
  const dev = startNvme({
    blocks: o.blocks ?? 64,
    blockSize: o.blockSize ?? 4096,
    dma: b.k.heap.buffer,
    iommu: new SharedArrayBuffer(iommuBytes(o.iommuEntries ?? 64)),
    queueEntries: o.queueEntries ?? 256,
    ...(o.maxQueues !== undefined ? { maxQueues: o.maxQueues } : {}),
    ...(o.latencyUs !== undefined ? { latencyUs: o.latencyUs } : {}),
    ...(o.image !== undefined ? { image: o.image } : {}),
    ...(o.powerCut !== undefined ? { powerCut: o.powerCut } : {}),
  });
  devices.push(dev);
  await until(() => dev.status() === DeviceStatus.READY || dev.error !== null, `${name} to come up`);
  b.k.attachDevice(name, dev, { irq: irq++ });
  return dev;
}

/** Starts the driver for device `name` (granted that device only). */
function driver(name: string, config?: unknown): { domain: Domain; bdev: BDev } {
  const opts = { devices: [name], budgetMs: BUDGET_MS, ...(config !== undefined ? { config } : {}) };
  const { domain, api } = b.k.create<BDev>('nvme', {}, opts);
  drivers.push(domain);
  return { domain, bdev: api };
}

/** A device and its driver. */
async function rig(name: string, o: DevOptions = {}): Promise<{ dev: NvmeDevice; domain: Domain; bdev: BDev }> {
  const dev = await device(name, o);
  return { dev, ...driver(name, { device: name }) };
}

/** The driver's start fails with `message` (what the driver threw). */
function refused(name: string, config: unknown, message: string, devices = [name]): void {
  assert.throws(() => b.k.create('nvme', {}, { devices, budgetMs: BUDGET_MS, config }),
    { name: 'DomainStartError', message: `domain nvme failed to start: Error: ${message}` });
}

/** The call crashed the driver with `message`, which is what the kernel's crash report says. */
function crashed(r: RpcResult<unknown>, method: string, d: Domain, message: string): void {
  assert.deepEqual(r, { ok: false, error: { kind: 'crashed', domain: 'nvme', message: `BDev.${method}: domain nvme crashed: Error: ${message}` } });
  assert.equal(d.alive, false);
  assert.equal(b.k.crashes[b.k.crashes.length - 1]!.error.message, `Error: ${message}`);
}

function req(lba: number, op: number, o: { fill?: number; tag?: number; data?: boolean } = {}): Req {
  const r = BlockReq.alloc();
  if (o.data ?? true) {
    const d = Bytes4096.alloc();
    if (o.fill !== undefined) Bytes4096.fill(d, o.fill);
    BlockReq.putData(r, d);
  }
  BlockReq.setLba(r, lba);
  BlockReq.setOp(r, op);
  if (o.tag !== undefined) BlockReq.setTag(r, o.tag);
  return r;
}

/** The request's block, or null if it has none. */
function bytes(r: Req): Uint8Array | null {
  const d = BlockReq.takeData(r);
  if (d === null) return null;
  const out = new Uint8Array(4096);
  Bytes4096.read(d, 0, out);
  BlockReq.putData(r, d);
  return out;
}

/** Whether every byte of the request's block is `v`. */
function filled(r: Req, v: number): boolean {
  const x = bytes(r);
  return x !== null && x.every((y) => y === v);
}

function deque(reqs: Req[] = []): Batch {
  const q = DequeBlockReq32.alloc();
  for (const r of reqs) assert.equal(DequeBlockReq32.push(q, r), true);
  return q;
}

function popAll(q: Batch): Req[] {
  const out: Req[] = [];
  for (let r = DequeBlockReq32.pop(q); r !== null; r = DequeBlockReq32.pop(q)) out.push(r as Req);
  return out;
}

function ok<T>(r: RpcResult<T>): T {
  if (!r.ok) assert.fail(`the call failed: ${JSON.stringify(r)}`);
  return r.value;
}

/** Polls (submitAndPoll with `q`, emptied) until `n` requests have come back; returns them in order and the deque. */
async function collect(bdev: BDev, n: number, q: Batch = deque()): Promise<{ got: Req[]; q: Batch }> {
  const got: Req[] = [];
  got.push(...popAll(q));
  for (const t0 = Date.now(); got.length < n;) {
    if (Date.now() - t0 > 30_000) assert.fail(`${got.length} of ${n} requests came back`);
    q = ok(bdev.submitAndPoll(q));
    const more = popAll(q);
    got.push(...more);
    if (more.length === 0) await new Promise((r) => setTimeout(r, 1));
  }
  assert.equal(got.length, n, 'no more came back than were handed over');
  return { got, q };
}

function free(...rs: Req[]): void {
  for (const r of rs) BlockReq.free(r);
}

const tags = (rs: Req[]): number[] => rs.map((r) => BlockReq.tag(r));
const statuses = (rs: Req[]): number[] => rs.map((r) => BlockReq.status(r));

/** IOMMU entries of the device that map something now. */
function mapped(dev: { iommu: SharedArrayBuffer }): number {
  const t = new Int32Array(dev.iommu);
  let n = 0;
  for (let w = IommuWord.IOVA; w < t.length; w += IOMMU_ENTRY_WORDS) if (Atomics.load(t, w) !== 0) n++;
  return n;
}

/** Completions the device posted on its I/O queues 1, 2 and 3, once they add up to `n`. (The device
 *  counts a completion just after posting it: a driver may have taken it before it is counted.) */
async function perQueue(dev: NvmeDevice, n: number): Promise<number[]> {
  const counts = (): number[] => [1, 2, 3].map((q) => dev.queue(q).events());
  await until(() => counts().reduce((x, y) => x + y) >= n, `${n} completions`);
  return counts();
}

/** The block at `lba` of the device's durable storage. */
function stored(dev: NvmeDevice, lba: number): Uint8Array {
  return dev.storage.subarray(lba * 4096, (lba + 1) * 4096);
}

/** Writes block `lba` full of `v` through the driver. */
function put(bdev: BDev, lba: number, v: number): void {
  const w = ok(bdev.write(req(lba, BlockOp.WRITE, { fill: v })));
  assert.equal(BlockReq.status(w), BlockStatus.OK);
  free(w);
}

/** Posts a completion on queue q of a device's queue memory, as the device would (body, then the status word). */
function postCompletion(memory: SharedArrayBuffer, entries: number, q: number, slot: number, cid: number, status: number, phase = 1): void {
  const o = cqeOffset(entries, q, slot);
  writeCqeBody(new DataView(memory), o, cid, 0, 0);
  Atomics.store(new Int32Array(memory), (o + Cqe.STATUS) >>> 2, statusWord(status, phase));
}

/**
 * A device the test plays: queue memory with its identify words and READY, whose admin queue holds
 * the given completions (cid, status) already, and which answers nothing else. Its reset does nothing.
 */
function fake(name: string, admin: [number, number][], o: { blocks?: number } = {}): { memory: SharedArrayBuffer; iommu: SharedArrayBuffer } {
  const entries = 8;
  const maxQueues = 4;
  const memory = new SharedArrayBuffer(queueBytes(entries, maxQueues));
  writeIdentify(new DataView(memory), entries, 4096, o.blocks ?? 64, maxQueues);
  const words = new Int32Array(memory);
  Atomics.store(words, Reg.SLEEPING >>> 2, 1); // (idle: the driver's submissions ring DOORBELL)
  Atomics.store(words, Reg.STATUS >>> 2, DeviceStatus.READY);
  admin.forEach(([cid, status], slot) => postCompletion(memory, entries, 0, slot, cid, status));
  const dev = { memory, iommu: new SharedArrayBuffer(iommuBytes(16)), reset: () => true, onInterrupt: () => {} };
  b.k.attachDevice(name, dev, { irq: irq++ });
  return dev;
}

// ---- start -------------------------------------------------------------------------------

test('info: the device\'s blocks, its block size and the queue depth (entries - 1); by default device nvme0, I/O queue 1, interrupts masked', async () => {
  const dev = await device('nvme0', { blocks: 100, queueEntries: 16 });
  // No config, an empty one, and one whose values have the wrong types: all the defaults.
  for (const config of [undefined, {}, { device: 7, queue: '2', coalesce: '3', coalesceUs: null }, 'nvme9', ['nvme9']]) {
    const { domain, bdev } = driver('nvme0', config);
    assert.deepEqual({ ...ok(bdev.info()) }, { blocks: 100, blockSize: 4096, depth: 15 });
    put(bdev, 99, 0x42);
    const r = ok(bdev.read(req(99, BlockOp.READ)));
    assert.ok(filled(r, 0x42));
    free(r);
    assert.deepEqual(await perQueue(dev, 2), [2, 0, 0], 'both commands went to I/O queue 1');
    assert.equal(dev.queue(1).irqs(), 0, 'a driver that is not waiting polls: its queue raises no interrupt');
    b.k.kill(domain); // (the kernel resets the device: the next driver starts afresh)
  }
});

test('config: the device, the I/O queue and the interrupt coalescing come from the config', async () => {
  const dev = await device('nvme-cfg', { maxQueues: 4 });
  const { domain, bdev } = driver('nvme-cfg', { device: 'nvme-cfg', queue: 3, coalesce: 2, coalesceUs: 1_000_000 });
  put(bdev, 1, 1);
  assert.deepEqual(await perQueue(dev, 1), [0, 0, 1], 'the write went to queue 3');
  b.k.kill(domain);
  // Values the device refuses (a queue it does not have, a threshold of 0, a coalescing time over 1 s).
  refused('nvme-cfg', { device: 'nvme-cfg', queue: 4 }, 'nvme: cannot create I/O queue 4 (status 5)');
  refused('nvme-cfg', { device: 'nvme-cfg', coalesce: 0 }, 'nvme: cannot create I/O queue 1 (status 5)');
  refused('nvme-cfg', { device: 'nvme-cfg', coalesceUs: 1_000_001 }, 'nvme: cannot create I/O queue 1 (status 5)');
  assert.throws(() => b.k.create('nvme', {}, { devices: ['nvme-cfg'], config: { device: 'nvme-other' } }),
    { message: 'domain nvme failed to start: Error: devices: "nvme-other" is not a device domain nvme was granted' });
  const again = driver('nvme-cfg', { device: 'nvme-cfg', queue: 2, coalesce: 1, coalesceUs: 1_000_000 });
  put(again.bdev, 2, 2);
  assert.deepEqual(await perQueue(dev, 1), [0, 1, 0], 'the write went to queue 2');
});

test('start: no device granted, a device not ready, or blocks other than 4096 bytes: the driver refuses to start', async () => {
  assert.throws(() => b.k.create('nvme', {}, { config: { device: 'nvme-none' } }),
    { name: 'DomainStartError', message: 'domain nvme failed to start: Error: nvme: no device was granted to this driver' });
  const off = await device('nvme-off');
  await off.stop();
  refused('nvme-off', { device: 'nvme-off' }, 'nvme: nvme-off is not ready (status 3)');
  const dark = await device('nvme-dark');
  dark.cutPower();
  await until(() => dark.status() === DeviceStatus.POWER_LOST, 'the power cut');
  refused('nvme-dark', { device: 'nvme-dark' }, 'nvme: nvme-dark is not ready (status 4)');
  await device('nvme-512', { blockSize: 512 });
  refused('nvme-512', { device: 'nvme-512' }, 'nvme: nvme-512 has 512-byte blocks; BDev moves 4096-byte blocks');
});

test('start: a queue left by a driver that died without a reset (CREATE answers INVALID_FIELD) is deleted and created again', async () => {
  const dev = await device('nvme-left', { queueEntries: 4 });
  // The host creates queue 1 itself, then brings the admin ring round twice (8 commands on 4
  // entries), so that the driver finds the device's admin queue where a new driver starts.
  assert.equal(dev.createIoQueue(1), Status.SUCCESS);
  for (let i = 0; i < 7; i++) assert.equal(dev.admin(identifyCommand(100 + i)).status, Status.SUCCESS);
  const { bdev } = driver('nvme-left', { device: 'nvme-left' });
  assert.equal(ok(bdev.info()).depth, 3);
  put(bdev, 3, 0x33);
  const r = ok(bdev.read(req(3, BlockOp.READ)));
  assert.equal(BlockReq.status(r), BlockStatus.OK);
  assert.ok(filled(r, 0x33));
  free(r);
});

test('start: an admin completion for another command is passed over; a CREATE failing otherwise is fatal; so is a device that does not answer, or stops', async () => {
  // cid 7 (not the driver's) first, with an error; then the driver's CREATE (cid 0), done.
  fake('fake-other', [[7, Status.INTERNAL_ERROR], [0, Status.SUCCESS]], { blocks: 2 ** 32 + 5 });
  const { bdev } = driver('fake-other', { device: 'fake-other' });
  assert.deepEqual({ ...ok(bdev.info()) }, { blocks: 0xffffffff, blockSize: 4096, depth: 7 }, 'more blocks than a u32 holds: the most it holds');
  // The queue exists already, and the device cannot delete or make it (the INVALID_FIELD path, fully).
  fake('fake-invalid', [[0, Status.INVALID_FIELD], [1, Status.INVALID_FIELD], [2, Status.INVALID_FIELD]]);
  refused('fake-invalid', { device: 'fake-invalid' }, 'nvme: cannot create I/O queue 1 (status 5)');
  fake('fake-delete', [[0, Status.INVALID_FIELD], [1, Status.SUCCESS], [2, Status.SUCCESS]]);
  assert.equal(ok(driver('fake-delete', { device: 'fake-delete' }).bdev.info()).depth, 7);
  fake('fake-fail', [[0, Status.INTERNAL_ERROR]]);
  refused('fake-fail', { device: 'fake-fail' }, 'nvme: cannot create I/O queue 1 (status 6)');
  fake('fake-mute', []);
  refused('fake-mute', { device: 'fake-mute' }, 'nvme: fake-mute did not answer in 400 ms');
  // A device that goes from READY to STOPPED once the driver rings (a thread of its own does it).
  const flip = fake('fake-flip', []);
  const w = new Worker(`
    const { parentPort, workerData: { memory, doorbell, status } } = require('node:worker_threads');
    const words = new Int32Array(memory);
    parentPort.postMessage('watching');
    for (const t0 = Date.now(); Atomics.load(words, doorbell) === 0 && Date.now() - t0 < 60000;) { /* spins: no wake-up to wait for */ }
    Atomics.store(words, status, 3);
  `, { eval: true, workerData: { memory: flip.memory, doorbell: Reg.DOORBELL >>> 2, status: Reg.STATUS >>> 2 } });
  try {
    await new Promise((r) => w.once('message', r));
    refused('fake-flip', { device: 'fake-flip' }, 'nvme: fake-flip stopped (status 3)');
  } finally {
    await w.terminate();
  }
});

// ---- read, write, flush -----------------------------------------------------------------

test('read and write: a block round trips; the call sets the op; the tag comes back; device errors and a missing block are statuses', async () => {
  const before = b.k.heap.stats().objects;
  const { dev, domain, bdev } = await rig('nvme-rw');
  const w = ok(bdev.write(req(5, BlockOp.READ, { fill: 0x5a, tag: 77 })));
  assert.deepEqual([BlockReq.status(w), BlockReq.op(w), BlockReq.lba(w), BlockReq.tag(w)], [BlockStatus.OK, BlockOp.WRITE, 5, 77]);
  assert.equal(mapped(dev), 0, 'the block is unmapped once the write completed');
  assert.ok(stored(dev, 5).every((x) => x === 0), 'not durable before a flush');
  const r = ok(bdev.read(req(5, BlockOp.WRITE, { fill: 0, tag: 78 })));
  assert.deepEqual([BlockReq.status(r), BlockReq.op(r), BlockReq.lba(r), BlockReq.tag(r)], [BlockStatus.OK, BlockOp.READ, 5, 78]);
  assert.ok(filled(r, 0x5a), 'the block read is the block written');
  assert.ok(filled(w, 0x5a), 'a write leaves its block as it was');
  assert.deepEqual(ok(bdev.flush()), BlockStatus.OK);
  assert.ok(stored(dev, 5).every((x) => x === 0x5a), 'durable after the flush');
  assert.ok(stored(dev, 4).every((x) => x === 0) && stored(dev, 6).every((x) => x === 0), 'and nowhere else');

  const far = [
    ok(bdev.read(req(64, BlockOp.READ))), ok(bdev.write(req(64, BlockOp.WRITE, { fill: 1 }))), ok(bdev.read(req(0xffffffff, BlockOp.READ))),
  ];
  assert.deepEqual(statuses(far), [Status.LBA_OUT_OF_RANGE, Status.LBA_OUT_OF_RANGE, Status.LBA_OUT_OF_RANGE]);
  const none = [ok(bdev.read(req(1, BlockOp.READ, { data: false }))), ok(bdev.write(req(1, BlockOp.WRITE, { data: false })))];
  assert.deepEqual(statuses(none), [BlockStatus.NO_BLOCK, BlockStatus.NO_BLOCK]);
  assert.deepEqual(none.map(bytes), [null, null]);
  assert.equal(ok(bdev.pending()), 0);
  assert.equal(domain.alive, true, 'no error crashed the driver');
  assert.equal(mapped(dev), 0);
  free(w, r, ...far, ...none);
  assert.equal(b.k.heap.stats().objects, before, 'every request came back, none left pinned; flush frees what it allocates');
  assert.deepEqual(b.k.heap.audit(), []);
});

test('flush: returns the device\'s status (a disk image that cannot be written: MEDIA_ERROR), and leaks nothing', async () => {
  const { domain, bdev } = await rig('nvme-full', { image: '/dev/full' });
  put(bdev, 2, 0x22);
  const before = b.k.heap.stats().objects;
  for (let i = 0; i < 20; i++) assert.equal(ok(bdev.flush()), Status.MEDIA_ERROR);
  assert.equal(b.k.heap.stats().objects, before, 'flush frees the request it makes');
  const r = ok(bdev.read(req(2, BlockOp.READ)));
  assert.equal(BlockReq.status(r), BlockStatus.OK);
  assert.ok(filled(r, 0x22), 'the block is still in the write cache');
  free(r);
  assert.equal(domain.alive, true);
});

// ---- submitAndPoll, pending -------------------------------------------------------------

test('submitAndPoll: each request comes back with its status, those the driver refuses first, then the device\'s in order', async () => {
  const { dev, bdev } = await rig('nvme-batch');
  put(bdev, 9, 0x99);
  const batch = deque([
    req(1, 9, { tag: 1 }), // not an op
    req(1, BlockOp.READ, { tag: 2, data: false }),
    req(64, BlockOp.READ, { tag: 3 }),
    req(0, BlockOp.FLUSH, { tag: 4, data: false }),
    req(0, BlockOp.FLUSH, { tag: 5, fill: 0x77 }), // (a flush's block is not touched)
    req(9, BlockOp.WRITE, { tag: 6, fill: 0x66 }),
    req(9, BlockOp.READ, { tag: 7, fill: 0 }),
    req(1, 0, { tag: 8 }), // not an op either
  ]);
  const first = ok(bdev.submitAndPoll(batch));
  const n0 = DequeBlockReq32.count(first);
  assert.ok(n0 >= 3);
  assert.equal(ok(bdev.pending()), 8 - n0);
  const { got, q } = await collect(bdev, 8, first);
  assert.deepEqual(tags(got), [1, 2, 8, 3, 4, 5, 6, 7]);
  assert.deepEqual(statuses(got), [
    BlockStatus.BAD_OP, BlockStatus.NO_BLOCK, BlockStatus.BAD_OP, Status.LBA_OUT_OF_RANGE, BlockStatus.OK, BlockStatus.OK, BlockStatus.OK, BlockStatus.OK,
  ]);
  assert.equal(bytes(got[4]), null);
  assert.ok(filled(got[5], 0x77), 'a flush request\'s block is left alone');
  assert.ok(filled(got[7], 0x66), 'the read submitted after the write reads what it wrote');
  assert.equal(ok(bdev.pending()), 0);
  assert.equal(mapped(dev), 0);
  free(...got);
  DequeBlockReq32.free(q);
  // An empty batch only polls.
  const empty = ok(bdev.submitAndPoll(deque()));
  assert.equal(DequeBlockReq32.count(empty), 0);
  DequeBlockReq32.free(empty);
});

test('submitAndPoll: a request whose block cannot be mapped (the IOMMU table is full) comes back NO_MAPPING; mappings end at completion', async () => {
  const { dev, bdev } = await rig('nvme-iommu', { iommuEntries: 2 });
  for (let round = 0; round < 3; round++) {
    const { got, q } = await collect(bdev, 3, ok(bdev.submitAndPoll(deque([0, 1, 2].map((i) => req(i, BlockOp.READ, { tag: i }))))));
    assert.deepEqual(tags(got), [2, 0, 1], 'the refused one first: it completed at once');
    assert.deepEqual(statuses(got), [BlockStatus.NO_MAPPING, BlockStatus.OK, BlockStatus.OK]);
    assert.equal(mapped(dev), 0);
    free(...got);
    DequeBlockReq32.free(q);
  }
  const one = await rig('nvme-iommu1', { iommuEntries: 1 });
  for (let i = 0; i < 4; i++) {
    const r = ok(one.bdev.read(req(i, BlockOp.READ)));
    assert.equal(BlockReq.status(r), BlockStatus.OK, 'each read finds the one entry free again');
    assert.equal(mapped(one.dev), 0);
    free(r);
  }
});

test('backlog: requests beyond the queue depth wait in the driver and complete in order; pending() counts waiting, in flight and done', async () => {
  const { dev, bdev } = await rig('nvme-deep', { queueEntries: 4, latencyUs: 2000 });
  assert.equal(ok(bdev.info()).depth, 3);
  put(bdev, 7, 0x11);
  const back = ok(bdev.submitAndPoll(deque(Array.from({ length: 10 }, (_, i) => req(7, BlockOp.READ, { tag: i })))));
  const got = popAll(back);
  assert.equal(ok(bdev.pending()), 10 - got.length);
  const w = ok(await bdev.wait());
  assert.ok(w >= 1, `wait() resolved with ${w}`);
  assert.equal(ok(bdev.pending()), 10 - got.length, 'done but not returned still counts');
  assert.ok(mapped(dev) <= 3, 'only what the device holds is mapped');
  // A synchronous write queued behind them: it waits its turn, and they read what was there before.
  const wr = ok(bdev.write(req(7, BlockOp.WRITE, { fill: 0x22, tag: 99 })));
  assert.deepEqual([BlockReq.status(wr), BlockReq.tag(wr)], [BlockStatus.OK, 99]);
  assert.equal(ok(bdev.pending()), 10 - got.length, 'the others are done, not returned');
  assert.equal(mapped(dev), 0, 'every one is unmapped once completed, returned or not');
  const rest = await collect(bdev, 10 - got.length, back);
  got.push(...rest.got);
  assert.deepEqual(tags(got), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(statuses(got), got.map(() => BlockStatus.OK));
  assert.deepEqual(got.map((r) => bytes(r)![0]), got.map(() => 0x11), 'the reads handed over before the write read the block before it');
  const later = ok(bdev.read(req(7, BlockOp.READ)));
  assert.ok(filled(later, 0x22), 'a read after the write reads what it wrote');
  assert.equal(ok(bdev.pending()), 0);
  free(...got, wr, later);
  DequeBlockReq32.free(rest.q);
});

test('submitAndPoll: completions beyond the deque\'s 32 come with the next call, oldest first', async () => {
  const { dev, bdev } = await rig('nvme-many', { latencyUs: 1000 });
  let exercised = 0;
  for (let attempt = 0; attempt < 5 && exercised === 0; attempt++) {
    const got: Req[] = [];
    let q = ok(bdev.submitAndPoll(deque(Array.from({ length: 32 }, (_, i) => req(i, BlockOp.READ, { tag: i })))));
    got.push(...popAll(q));
    for (let i = 32; i < 64; i++) DequeBlockReq32.push(q, req(i % 64, BlockOp.READ, { tag: i }));
    q = ok(bdev.submitAndPoll(q));
    got.push(...popAll(q));
    await until(() => dev.queue(1).events() >= 64 * (attempt + 1), 'the device to complete all 64');
    const left = 64 - got.length;
    assert.equal(ok(bdev.pending()), left);
    q = ok(bdev.submitAndPoll(q));
    const n = DequeBlockReq32.count(q);
    assert.equal(n, Math.min(32, left), 'as many as the deque holds');
    assert.equal(ok(bdev.pending()), left - n);
    assert.equal(mapped(dev), 0, 'the ones still held are unmapped already');
    got.push(...popAll(q));
    q = ok(bdev.submitAndPoll(q));
    assert.equal(DequeBlockReq32.count(q), left - n, 'the rest with the next call');
    got.push(...popAll(q));
    assert.deepEqual(tags(got), Array.from({ length: 64 }, (_, i) => i));
    assert.ok(got.every((r) => BlockReq.status(r) === BlockStatus.OK));
    assert.equal(ok(bdev.pending()), 0);
    if (left > 32) exercised++;
    free(...got);
    DequeBlockReq32.free(q);
  }
  assert.equal(exercised, 1, 'some round had more than 32 done at once');
});

test('order: thousands of requests through a queue of depth 3 come back in the order they were handed over', async () => {
  const { bdev } = await rig('nvme-fifo', { queueEntries: 4 });
  for (let lba = 0; lba < 64; lba++) put(bdev, lba, lba);
  const total = 3000;
  let q = deque();
  let sent = 0;
  let next = 0;
  let idle = 0;
  while (next < total) {
    for (let i = 0; i < 32 && sent < total; i++, sent++) DequeBlockReq32.push(q, req(sent % 64, BlockOp.READ, { tag: sent }));
    q = ok(bdev.submitAndPoll(q));
    const got = popAll(q);
    for (const r of got) {
      assert.equal(BlockReq.tag(r), next, 'in order');
      assert.equal(BlockReq.status(r), BlockStatus.OK);
      const d = BlockReq.takeData(r)!;
      assert.equal(Bytes4096.byte(d, 4095), next % 64, 'with its own block');
      BlockReq.putData(r, d);
      free(r);
      next++;
    }
    assert.equal(ok(bdev.pending()), sent - next);
    if (got.length === 0 && ++idle % 64 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  DequeBlockReq32.free(q);
});

// ---- wait, interrupts ---------------------------------------------------------------------

test('wait(): at once with 0 when nothing is pending, at once with the count when some are done; else at the next interrupt, which resolves every waiter', async () => {
  const { dev, bdev } = await rig('nvme-wait', { latencyUs: 20_000 });
  const irqs = (): number => dev.queue(1).irqs();
  const idle = bdev.wait();
  assert.equal(await settledAtOnce(idle), true);
  assert.deepEqual(await idle, { ok: true, value: 0 });

  let q = ok(bdev.submitAndPoll(deque([req(1, BlockOp.READ, { tag: 1 }), req(2, BlockOp.READ, { tag: 2 })])));
  assert.equal(DequeBlockReq32.count(q), 0);
  await until(() => dev.queue(1).events() >= 2, 'the two reads');
  const two = bdev.wait();
  assert.equal(await settledAtOnce(two), true, 'done already: no interrupt to wait for');
  assert.deepEqual(await two, { ok: true, value: 2 });
  assert.equal(ok(bdev.pending()), 2);
  assert.equal(irqs(), 0, 'completions while polling raise no interrupt');
  q = ok(bdev.submitAndPoll(q));
  free(...popAll(q));

  // Twice: a read in flight, two waiters; they wait for the interrupt, and both get the count.
  let byInterrupt = 0;
  for (let round = 0; round < 20 && byInterrupt < 2; round++) {
    const seen = irqs();
    q = ok(bdev.submitAndPoll(deque([req(3, BlockOp.READ, { tag: 3 })])));
    assert.equal(DequeBlockReq32.count(q), 0);
    const w1 = bdev.wait();
    const w2 = bdev.wait();
    const early = await settledAtOnce(w1);
    const [r1, r2] = await Promise.all([w1, w2]);
    assert.deepEqual([r1, r2], [{ ok: true, value: 1 }, { ok: true, value: 1 }]);
    if (!early) {
      byInterrupt++;
      assert.equal(irqs(), seen + 1, 'one interrupt ended both waits');
    }
    const back = await collect(bdev, 1, q);
    free(...back.got);
    DequeBlockReq32.free(back.q);
  }
  assert.equal(byInterrupt, 2, 'two waits ended by an interrupt');
  // Polling again: interrupts are masked once more. (The last read comes well after the first
  // ones' coalescing time: had they been signalled, the device would have raised the interrupt by then.)
  const seen = irqs();
  for (let i = 0; i < 3; i++) free(ok(bdev.read(req(i, BlockOp.READ))));
  await new Promise((r) => setTimeout(r, 2));
  free(ok(bdev.read(req(4, BlockOp.READ))));
  assert.equal(irqs(), seen, 'no interrupt for completions after a wait has ended');
});

test('wait() right after the driver started, with a read in flight, resolves once the read is done (the admin queue raises no interrupt)', async () => {
  const { dev, bdev } = await rig('nvme-fresh', { latencyUs: 50_000 });
  const seen = dev.interrupts();
  const q = ok(bdev.submitAndPoll(deque([req(1, BlockOp.READ, { tag: 1 })])));
  assert.equal(DequeBlockReq32.count(q), 0);
  assert.deepEqual(await bdev.wait(), { ok: true, value: 1 }, 'wait() ended with the read done');
  assert.equal(dev.interrupts(), seen + 1, 'by the read\'s interrupt');
  const { got } = await collect(bdev, 1, q);
  free(...got);
});

// ---- the device fails -------------------------------------------------------------------

test('device lost: a call that needs the device crashes the driver with its message; calls that do not still answer', async () => {
  const { dev, domain, bdev } = await rig('nvme-lost');
  put(bdev, 1, 1);
  dev.cutPower();
  await until(() => dev.status() === DeviceStatus.POWER_LOST, 'the power cut');
  assert.equal(ok(bdev.pending()), 0);
  const w = bdev.wait();
  assert.equal(await settledAtOnce(w), true);
  assert.deepEqual(await w, { ok: true, value: 0 });
  let q = ok(bdev.submitAndPoll(deque([req(1, 9, { tag: 1 }), req(1, BlockOp.READ, { tag: 2, data: false })])));
  const refusedNow = popAll(q);
  assert.deepEqual(statuses(refusedNow), [BlockStatus.BAD_OP, BlockStatus.NO_BLOCK], 'refused without the device');
  free(...refusedNow);
  q = ok(bdev.submitAndPoll(q));
  assert.equal(DequeBlockReq32.count(q), 0);
  DequeBlockReq32.push(q, req(1, BlockOp.READ));
  crashed(bdev.submitAndPoll(q), 'submitAndPoll', domain, 'nvme: nvme-lost stopped with 1 commands in flight (status 4)');
  assert.equal(mapped(dev), 0, 'the kernel took the mapping back');
  assert.deepEqual(b.k.heap.audit(), []);

  const s = await rig('nvme-lost-read');
  s.dev.cutPower();
  await until(() => s.dev.status() === DeviceStatus.POWER_LOST, 'the power cut');
  crashed(s.bdev.read(req(1, BlockOp.READ)), 'read', s.domain, 'nvme: nvme-lost-read stopped (status 4)');
  const f = await rig('nvme-lost-flush');
  f.dev.cutPower();
  await until(() => f.dev.status() === DeviceStatus.POWER_LOST, 'the power cut');
  crashed(f.bdev.flush(), 'flush', f.domain, 'nvme: nvme-lost-flush stopped (status 4)');
});

test('device lost with commands in flight: the completions posted before are taken, and the count of the rest is in the message', async () => {
  const { dev, domain, bdev } = await rig('nvme-cut', { latencyUs: 100_000, powerCut: { afterCommands: 2 } });
  const q = ok(bdev.submitAndPoll(deque(Array.from({ length: 5 }, (_, i) => req(i, BlockOp.READ, { tag: i })))));
  assert.equal(DequeBlockReq32.count(q), 0);
  await until(() => dev.status() === DeviceStatus.POWER_LOST, 'the power cut');
  crashed(bdev.submitAndPoll(q), 'submitAndPoll', domain, 'nvme: nvme-cut stopped with 3 commands in flight (status 4)');
});

test('a device that stops answering: the driver gives up after 400 ms', async () => {
  // (The test plays a device that creates the queue and then takes commands without ever completing them.)
  const dev = fake('fake-hang', [[0, Status.SUCCESS]]);
  const { domain, bdev } = driver('fake-hang', { device: 'fake-hang' });
  crashed(bdev.write(req(1, BlockOp.WRITE, { fill: 1 })), 'write', domain, 'nvme: fake-hang did not answer in 400 ms');
  assert.equal(mapped(dev), 0, 'the kernel took the mapping back');
  const again = driver('fake-hang', { device: 'fake-hang' }).bdev; // (the fake's admin queue answers its CREATE again)
  crashed(again.flush(), 'flush', drivers[drivers.length - 1]!, 'nvme: fake-hang did not answer in 400 ms');
});

test('a completion for a command the driver did not give crashes it', async () => {
  for (const cid of [5, 255, 0xffff]) {
    const name = `nvme-stray-${cid}`;
    const { dev, domain, bdev } = await rig(name);
    put(bdev, 1, 1); // (the device posted in slot 0 of queue 1; the driver looks at slot 1 next)
    postCompletion(dev.memory, 256, 1, 1, cid, Status.SUCCESS);
    crashed(bdev.submitAndPoll(deque()), 'submitAndPoll', domain, `nvme: completion for unknown command ${cid}`);
  }
});

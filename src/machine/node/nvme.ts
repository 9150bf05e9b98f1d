// The NVMe-like block device model on Node: a worker thread that plays the controller, over the
// queue layout of machine/common/nvme.ts. Memory-backed: durable storage is a SharedArrayBuffer
// (`storage`, so tests can see what is durable); writes go to a volatile write cache in the
// worker's own memory and reach storage only on FLUSH (or when the cache is full, as a real
// device may write back early; durability is promised only after FLUSH).
//
// Data path: no postMessage. The driver writes submission entries and stores the SQ tail doorbell
// (Atomics.store + notify); the device spins a bounded while idle, then sleeps in Atomics.wait on
// the doorbell; it executes commands in order, copies data to and from the DMA SharedArrayBuffer,
// and posts completions with the phase bit, which the driver polls with Atomics.load.
//
// Invariants:
//   - the worker never throws out of its loop because of a command: every bad command (unknown
//     opcode, zero count, LBA range past the end, a buffer outside the DMA area or too small for
//     the transfer) completes with an error status; an unexpected exception while executing one
//     completes it with INTERNAL_ERROR;
//   - a doorbell outside [0, entries) sets STATUS to FATAL and the device stops taking commands;
//   - the worker is not unref'd: a running device keeps the process alive, like an open server;
//     stop() terminates it and resolves once the thread has exited, leaving no thread behind.
//
// The worker's code is built from the common file's own functions (their source text) plus its
// constants as JSON, so the layout has one definition. Functions shipped this way (SHIPPED below)
// may use only each other and the constants in CONSTANTS.
import { Worker } from 'node:worker_threads';
import {
  BLOCK_SIZES, CONTROL_BYTES, CQE_BYTES, Cqe, DeviceStatus, Opcode, QueuePair, Reg, SQE_BYTES, Sqe, Status,
  checkEntries, cqeOffset, queueBytes, readSqe, sqeOffset, statusWord, word, writeCqeBody, writeIdentify,
  type Command, type Completion,
} from '../common/nvme.ts';

/** Idle polls of the doorbell before the device sleeps on it (bounded: two spinning threads on a
 *  2-core host collapse when anything else wants a core). */
export const DEFAULT_IDLE_SPIN = 2000;
/** Blocks the write cache holds before it writes back on its own. */
export const DEFAULT_CACHE_BLOCKS = 1024;

export interface NvmeOptions {
  blocks: number;
  /** 512 or 4096 */
  blockSize: number;
  /** the DMA area: every data buffer is an offset and length into it */
  dma: SharedArrayBuffer;
  /** entries per queue (the submission and completion queues have the same size) */
  queueEntries: number;
  idleSpin?: number;
  cacheBlocks?: number;
}

export interface NvmeDevice {
  /** the queue memory (control region, submission queue, completion queue) */
  readonly memory: SharedArrayBuffer;
  /** the durable storage, blocks * blockSize bytes: what survives a power loss */
  readonly storage: Uint8Array;
  readonly dma: SharedArrayBuffer;
  readonly blocks: number;
  readonly blockSize: number;
  /** the driver's side of the queue pair */
  readonly queue: QueuePair;
  /** writes a submission entry and rings the doorbell: SUCCESS, or QUEUE_FULL */
  submit(c: Command): number;
  /** the next completion, or null if none is posted yet (never blocks) */
  poll(): Completion | null;
  /** DeviceStatus */
  status(): number;
  /** the worker's error, if it died of one */
  readonly error: Error | null;
  /** terminates the worker; resolves once its thread has exited */
  stop(): Promise<void>;
}

const CONSTANTS = { BLOCK_SIZES, CONTROL_BYTES, CQE_BYTES, Cqe, DeviceStatus, Opcode, Reg, SQE_BYTES, Sqe, Status };
const SHIPPED = [sqeOffset, cqeOffset, word, readSqe, statusWord, writeCqeBody];

/** The controller loop. Runs in the worker, after the shipped constants and functions. */
const DEVICE_LOOP = `
const { workerData: d } = require('node:worker_threads');
const words = new Int32Array(d.memory);
const view = new DataView(d.memory);
const dma = new Uint8Array(d.dma);
const storage = new Uint8Array(d.storage);
const N = d.entries, B = d.blockSize, BLOCKS = d.blocks;
const cache = new Map();
let sqHead = 0, cqTail = 0, phase = 1;

const load = (reg) => Atomics.load(words, word(reg));
function setStatus(s) { Atomics.store(words, word(Reg.STATUS), s); Atomics.notify(words, word(Reg.STATUS)); }
const badIndex = (i) => !(i >= 0 && i < N);

function check(c) {
  if (c.opcode === Opcode.FLUSH) return Status.SUCCESS;
  if (c.opcode !== Opcode.READ && c.opcode !== Opcode.WRITE) return Status.INVALID_OPCODE;
  if (c.count === 0) return Status.INVALID_FIELD;
  if (c.lba >= BLOCKS || c.count > BLOCKS - c.lba) return Status.LBA_OUT_OF_RANGE;
  if (c.bufOffset + c.bufLength > dma.length || c.bufLength < c.count * B) return Status.BAD_BUFFER;
  return Status.SUCCESS;
}

function flush() {
  for (const [lba, data] of cache) storage.set(data, lba * B);
  cache.clear();
}

function read(c) {
  for (let i = 0; i < c.count; i++) {
    const lba = c.lba + i, at = c.bufOffset + i * B;
    const cached = cache.get(lba);
    if (cached) dma.set(cached, at);
    else dma.set(storage.subarray(lba * B, (lba + 1) * B), at);
  }
}

function write(c) {
  for (let i = 0; i < c.count; i++) {
    const lba = c.lba + i;
    if (!cache.has(lba) && cache.size >= d.cacheBlocks) flush();
    cache.set(lba, dma.slice(c.bufOffset + i * B, c.bufOffset + (i + 1) * B));
  }
}

function execute(c) {
  try {
    const s = check(c);
    if (s !== Status.SUCCESS || c.opcode === Opcode.FLUSH) {
      if (s === Status.SUCCESS) flush();
      return s;
    }
    if (c.opcode === Opcode.READ) read(c); else write(c);
    return Status.SUCCESS;
  } catch {
    return Status.INTERNAL_ERROR;
  }
}

/** Waits for a free completion slot; false if the driver's CQ head doorbell is out of range. */
function room() {
  for (;;) {
    const head = load(Reg.CQ_HEAD);
    if (badIndex(head)) return false;
    if ((cqTail + 1) % N !== head) return true;
    Atomics.wait(words, word(Reg.CQ_HEAD), head);
  }
}

function post(c, status) {
  if (!room()) return false;
  const result = status === Status.SUCCESS && c.opcode !== Opcode.FLUSH ? c.count * B : 0;
  writeCqeBody(view, N, cqTail, c.cid, result, sqHead);
  Atomics.store(words, word(cqeOffset(N, cqTail) + Cqe.STATUS), statusWord(status, phase));
  cqTail = (cqTail + 1) % N;
  if (cqTail === 0) phase ^= 1;
  Atomics.add(words, word(Reg.EVENTS), 1);
  Atomics.notify(words, word(Reg.EVENTS));
  return true;
}

/** Returns the SQ tail once it differs from sqHead: a bounded spin, then sleep on the doorbell. */
function nextTail() {
  for (let i = 0; i < d.idleSpin; i++) {
    const t = load(Reg.SQ_TAIL);
    if (t !== sqHead) return t;
  }
  for (;;) {
    Atomics.wait(words, word(Reg.SQ_TAIL), sqHead);
    const t = load(Reg.SQ_TAIL);
    if (t !== sqHead) return t;
  }
}

function run() {
  setStatus(DeviceStatus.READY);
  for (;;) {
    const tail = nextTail();
    if (badIndex(tail)) return;
    while (sqHead !== tail) {
      const c = readSqe(view, sqHead);
      sqHead = (sqHead + 1) % N;
      Atomics.store(words, word(Reg.SQ_HEAD), sqHead);
      if (!post(c, execute(c))) return;
    }
  }
}

run();
setStatus(DeviceStatus.FATAL);
// Stopped taking commands: park until stop() terminates the thread.
for (;;) Atomics.wait(words, word(Reg.STATUS), DeviceStatus.FATAL);
`;

function deviceSource(): string {
  const consts = Object.entries(CONSTANTS).map(([k, v]) => `const ${k} = ${JSON.stringify(v)};`);
  return [...consts, ...SHIPPED.map(String), DEVICE_LOOP].join('\n');
}

function checkOptions(o: NvmeOptions): void {
  if (!Number.isSafeInteger(o.blocks) || o.blocks <= 0) throw new RangeError(`nvme: blocks must be a positive integer, got ${o.blocks}`);
  if (!BLOCK_SIZES.includes(o.blockSize)) throw new RangeError(`nvme: blockSize must be one of ${BLOCK_SIZES.join(', ')}, got ${o.blockSize}`);
  if (!(o.dma instanceof SharedArrayBuffer)) throw new TypeError('nvme: dma must be a SharedArrayBuffer');
  checkEntries(o.queueEntries);
}

/** Starts a device on a worker thread of its own. */
export function startNvme(o: NvmeOptions): NvmeDevice {
  checkOptions(o);
  const memory = new SharedArrayBuffer(queueBytes(o.queueEntries));
  writeIdentify(new DataView(memory), o.queueEntries, o.blockSize, o.blocks);
  const storage = new SharedArrayBuffer(o.blocks * o.blockSize);
  const queue = new QueuePair(memory);
  const worker = new Worker(deviceSource(), {
    eval: true,
    // Plain JS that needs no loader: inheriting the parent's flags would load tsx into the thread
    // for nothing, and --input-type=module would make this CommonJS source fail as a module.
    execArgv: [],
    workerData: {
      memory, dma: o.dma, storage, entries: o.queueEntries, blockSize: o.blockSize, blocks: o.blocks,
      idleSpin: o.idleSpin ?? DEFAULT_IDLE_SPIN, cacheBlocks: o.cacheBlocks ?? DEFAULT_CACHE_BLOCKS,
    },
  });
  let error: Error | null = null;
  let exited = false;
  const exit = new Promise<void>((resolve) => worker.once('exit', () => { exited = true; resolve(); }));
  worker.on('error', (e) => {
    error = e instanceof Error ? e : new Error(String(e));
    Atomics.store(new Int32Array(memory), word(Reg.STATUS), DeviceStatus.FATAL);
  });
  return {
    memory, storage: new Uint8Array(storage), dma: o.dma, blocks: o.blocks, blockSize: o.blockSize, queue,
    submit: (c) => queue.submit(c),
    poll: () => queue.poll(),
    status: () => queue.deviceStatus(),
    get error() { return error; },
    stop: async () => {
      if (!exited) await worker.terminate();
      await exit;
      Atomics.store(new Int32Array(memory), word(Reg.STATUS), DeviceStatus.STOPPED);
    },
  };
}

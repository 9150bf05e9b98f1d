// The NVMe-like block device model on Node: a worker thread that plays the controller, over the
// queue layout of machine/common/nvme.ts. Durable storage is either memory, a SharedArrayBuffer
// (`storage`, so tests can see what is durable), or a disk-image file (`image`), read and written
// with fs.readSync / fs.writeSync on the worker. Writes go to a volatile write cache in the
// worker's own memory and reach storage only on FLUSH (or when the cache is full, as a real device
// may write back early; durability is promised only after FLUSH).
//
// Data path: no postMessage. The driver writes submission entries and stores the SQ tail doorbell
// (Atomics.store + notify); the device spins a bounded while idle, then sleeps in Atomics.wait on
// the doorbell; it executes commands in order, copies data to and from the DMA SharedArrayBuffer,
// and posts completions with the phase bit, which the driver polls with Atomics.load.
//
// Power loss (for crash tests): `powerCut` cuts power once a given number of commands has completed
// (or a seeded random number of them), and cutPower() cuts it on demand through the POWER_CUT
// control word. The device then applies the chosen subset of its unflushed cached blocks (`keep`:
// none, all, or a seeded random subset) to durable storage, drops the rest, writes the report
// (powerReport()) and sets POWER_LOST.
//
// Invariants:
//   - the worker never throws out of its loop because of a command: every bad command (unknown
//     opcode, zero count, LBA range past the end, a buffer outside the DMA area or too small for
//     the transfer) completes with an error status; an I/O error on the image (or a short
//     transfer) completes it with MEDIA_ERROR and the device keeps running; any other exception
//     while executing one completes it with INTERNAL_ERROR. A failed command may have done part of
//     its work (as on real NVMe); a failed FLUSH keeps the blocks it did not write in the cache;
//   - a doorbell outside [0, entries) sets STATUS to FATAL and the device stops taking commands;
//   - a power cut is acted on only between commands, never inside one: with afterCommands N,
//     exactly N completions are posted and no command after them is executed. After the cut,
//     storage = what was durable before it + exactly the blocks powerReport().applied lists (each
//     block's newest cached data, written whole);
//   - the worker is not unref'd: a running device keeps the process alive, like an open server;
//     stop() terminates it and resolves once the thread has exited (closing the image), leaving
//     no thread behind.
//
// The worker's code is built from the common file's own functions (their source text) plus its
// constants as JSON, so the layout has one definition. Functions shipped this way (SHIPPED below)
// may use only each other and the constants in CONSTANTS.
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';
import {
  BLOCK_SIZES, CONTROL_BYTES, CQE_BYTES, Cqe, DeviceStatus, Opcode, QueuePair, Reg, SQE_BYTES, Sqe, Status,
  checkEntries, cqeOffset, queueBytes, readSqe, sqeOffset, statusWord, word, writeCqeBody, writeIdentify,
  type Command, type Completion,
} from '../common/nvme.ts';
import { startThread, threadSource } from './thread.ts';

/** Idle polls of the doorbell before the device sleeps on it (bounded: two spinning threads on a
 *  2-core host collapse when anything else wants a core). */
export const DEFAULT_IDLE_SPIN = 2000;
/** Blocks the write cache holds before it writes back on its own. */
export const DEFAULT_CACHE_BLOCKS = 1024;
/** Longest sleep before the device looks at POWER_CUT again (it cannot wait on two words). */
const WAKE_MS = 20;

/** Which unflushed cached blocks reach storage at a power cut: none, all, or a seeded random subset. */
export type Keep = 'none' | 'all' | { seed: number };

export interface PowerCut {
  /** cut once this many commands have completed, or a seeded random count in [0, max] */
  afterCommands?: number | { seed: number; max: number };
  /** default 'none' */
  keep?: Keep;
}

/** What the device did at its power cut. */
export interface PowerReport {
  /** completions posted before the cut */
  completed: number;
  /** unflushed blocks written to storage at the cut, in cache order */
  applied: number[];
  /** unflushed blocks lost */
  dropped: number[];
}

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
  /** a disk-image file as durable storage (created, or extended to blocks * blockSize if a
   *  shorter regular file); without it storage is memory */
  image?: string;
  powerCut?: PowerCut;
}

export interface NvmeDevice {
  /** the queue memory (control region, submission queue, completion queue) */
  readonly memory: SharedArrayBuffer;
  /** the durable storage, blocks * blockSize bytes: what survives a power loss. With an image,
   *  a copy read from the file on each access */
  readonly storage: Uint8Array;
  readonly dma: SharedArrayBuffer;
  readonly blocks: number;
  readonly blockSize: number;
  /** the driver's side of the queue pair */
  readonly queue: QueuePair;
  /** the command count at which power will be cut (powerCut.afterCommands, resolved), or null */
  readonly cutAfter: number | null;
  /** writes a submission entry and rings the doorbell: SUCCESS, or QUEUE_FULL */
  submit(c: Command): number;
  /** the next completion, or null if none is posted yet (never blocks) */
  poll(): Completion | null;
  /** DeviceStatus */
  status(): number;
  /** asks the device to lose power before its next command (it acts within about WAKE_MS) */
  cutPower(): void;
  /** the report of the power cut once the device has lost power (also after stop()), else null */
  powerReport(): PowerReport | null;
  /** the worker's error, if it died of one */
  readonly error: Error | null;
  /** terminates the worker; resolves once its thread has exited */
  stop(): Promise<void>;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence of numbers in [0, 1).
 *  Shipped to the worker as source text: no named inner functions (the loader may wrap those in a
 *  helper the worker lacks). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The power report region: Int32 words CUT (1 once written, stored last), COMPLETED, APPLIED and
// DROPPED counts, then the applied LBAs followed by the dropped ones as Float64 (at most cacheBlocks).
const Report = { CUT: 0, COMPLETED: 1, APPLIED: 2, DROPPED: 3, LBAS: 16 } as const;

const CONSTANTS = { BLOCK_SIZES, CONTROL_BYTES, CQE_BYTES, Cqe, DeviceStatus, Opcode, Reg, Report, SQE_BYTES, Sqe, Status, WAKE_MS };
const SHIPPED = [sqeOffset, cqeOffset, word, readSqe, statusWord, writeCqeBody, seededRandom];

/** The controller loop. Runs in the worker, after the shipped constants and functions. */
const DEVICE_LOOP = `
const { workerData: d } = require('node:worker_threads');
const fs = require('node:fs');
const words = new Int32Array(d.memory);
const view = new DataView(d.memory);
const dma = new Uint8Array(d.dma);
const storage = d.storage ? new Uint8Array(d.storage) : null;
const N = d.entries, B = d.blockSize, BLOCKS = d.blocks;
const cache = new Map();
const CUT = Symbol('power cut');
class MediaError extends Error {}
let sqHead = 0, cqTail = 0, phase = 1, completed = 0;

const load = (reg) => Atomics.load(words, word(reg));
function setStatus(s) { Atomics.store(words, word(Reg.STATUS), s); Atomics.notify(words, word(Reg.STATUS)); }
const badIndex = (i) => !(i >= 0 && i < N);

/** Throws CUT if power is to go now: asked through POWER_CUT, or the chosen command count reached. */
function checkPower() {
  if (load(Reg.POWER_CUT) !== 0 || completed === d.cutAfter) throw CUT;
}

/** One whole-block image transfer; any error or short count is a MediaError. */
function imageIo(transfer) {
  let n;
  try { n = transfer(); } catch (e) { throw new MediaError(String(e && e.code)); }
  if (n !== B) throw new MediaError('short transfer');
}

function loadBlock(lba, at) {
  if (storage) dma.set(storage.subarray(lba * B, (lba + 1) * B), at);
  else imageIo(() => fs.readSync(d.fd, dma, at, B, lba * B));
}

function storeBlock(lba, data) {
  if (storage) storage.set(data, lba * B);
  else imageIo(() => fs.writeSync(d.fd, data, 0, B, lba * B));
}

function syncImage() {
  if (!d.regular) return;
  try { fs.fdatasyncSync(d.fd); } catch (e) { throw new MediaError(String(e && e.code)); }
}

function check(c) {
  if (c.opcode === Opcode.FLUSH) return Status.SUCCESS;
  if (c.opcode !== Opcode.READ && c.opcode !== Opcode.WRITE) return Status.INVALID_OPCODE;
  if (c.count === 0) return Status.INVALID_FIELD;
  if (c.lba >= BLOCKS || c.count > BLOCKS - c.lba) return Status.LBA_OUT_OF_RANGE;
  if (c.bufOffset + c.bufLength > dma.length || c.bufLength < c.count * B) return Status.BAD_BUFFER;
  return Status.SUCCESS;
}

/** Writes the cache back; a block leaves the cache only once written. */
function flush() {
  for (const [lba, data] of cache) {
    storeBlock(lba, data);
    cache.delete(lba);
  }
  syncImage();
}

function read(c) {
  for (let i = 0; i < c.count; i++) {
    const lba = c.lba + i, at = c.bufOffset + i * B;
    const cached = cache.get(lba);
    if (cached) dma.set(cached, at);
    else loadBlock(lba, at);
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
    if (s !== Status.SUCCESS) return s;
    if (c.opcode === Opcode.FLUSH) flush();
    else if (c.opcode === Opcode.READ) read(c);
    else write(c);
    return Status.SUCCESS;
  } catch (e) {
    return e instanceof MediaError ? Status.MEDIA_ERROR : Status.INTERNAL_ERROR;
  }
}

/** Waits for a free completion slot; false if the driver's CQ head doorbell is out of range. */
function room() {
  for (;;) {
    checkPower();
    const head = load(Reg.CQ_HEAD);
    if (badIndex(head)) return false;
    if ((cqTail + 1) % N !== head) return true;
    Atomics.wait(words, word(Reg.CQ_HEAD), head, WAKE_MS);
  }
}

function post(c, status) {
  if (!room()) return false;
  const result = status === Status.SUCCESS && c.opcode !== Opcode.FLUSH ? c.count * B : 0;
  writeCqeBody(view, N, cqTail, c.cid, result, sqHead);
  Atomics.store(words, word(cqeOffset(N, cqTail) + Cqe.STATUS), statusWord(status, phase));
  cqTail = (cqTail + 1) % N;
  if (cqTail === 0) phase ^= 1;
  completed++;
  Atomics.add(words, word(Reg.EVENTS), 1);
  Atomics.notify(words, word(Reg.EVENTS));
  return true;
}

/** Returns the SQ tail once it differs from sqHead: a bounded spin, then sleep on the doorbell. */
function nextTail() {
  for (let i = 0; i < d.idleSpin; i++) {
    checkPower();
    const t = load(Reg.SQ_TAIL);
    if (t !== sqHead) return t;
  }
  for (;;) {
    checkPower();
    const t = load(Reg.SQ_TAIL);
    if (t !== sqHead) return t;
    Atomics.wait(words, word(Reg.SQ_TAIL), sqHead, WAKE_MS);
  }
}

/** Serves commands until a doorbell goes out of range (returns) or power is cut (throws CUT). */
function serve() {
  for (;;) {
    const tail = nextTail();
    if (badIndex(tail)) return;
    while (sqHead !== tail) {
      checkPower();
      const c = readSqe(view, sqHead);
      sqHead = (sqHead + 1) % N;
      Atomics.store(words, word(Reg.SQ_HEAD), sqHead);
      if (!post(c, execute(c))) return;
    }
  }
}

/** Which cached blocks survive the cut: a predicate called once per block, in cache order. */
function keeper() {
  if (d.keep === 'all') return () => true;
  if (d.keep === 'none') return () => false;
  const random = seededRandom(d.keep.seed);
  return () => random() < 0.5;
}

function writeReport(applied, dropped) {
  const r = new Int32Array(d.report);
  new Float64Array(d.report, Report.LBAS).set([...applied, ...dropped]);
  r[Report.COMPLETED] = completed;
  r[Report.APPLIED] = applied.length;
  r[Report.DROPPED] = dropped.length;
  Atomics.store(r, Report.CUT, 1);
}

/** The cut: the chosen cached blocks reach storage whole (a failed write counts as dropped), the rest are lost. */
function losePower() {
  const applied = [], dropped = [], keep = keeper();
  for (const [lba, data] of cache) {
    let ok = keep();
    if (ok) { try { storeBlock(lba, data); } catch { ok = false; } }
    (ok ? applied : dropped).push(lba);
  }
  cache.clear();
  writeReport(applied, dropped);
  setStatus(DeviceStatus.POWER_LOST);
}

function run() {
  setStatus(DeviceStatus.READY);
  try {
    serve();
    setStatus(DeviceStatus.FATAL);
  } catch (e) {
    if (e !== CUT) throw e;
    losePower();
  }
}

run();
// Stopped taking commands: park until stop() terminates the thread.
for (;;) Atomics.wait(words, word(Reg.STATUS), load(Reg.STATUS));
`;



const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

function checkPowerCut(p: PowerCut): void {
  const a = p.afterCommands;
  if (a !== undefined && !isCount(a) && !(typeof a === 'object' && Number.isInteger(a.seed) && isCount(a.max))) {
    throw new RangeError('nvme: powerCut.afterCommands must be a count or { seed, max } with integers');
  }
  const k = p.keep;
  if (k !== undefined && k !== 'none' && k !== 'all' && !(typeof k === 'object' && Number.isInteger(k.seed))) {
    throw new RangeError("nvme: powerCut.keep must be 'none', 'all' or { seed } with an integer seed");
  }
}

function checkOptions(o: NvmeOptions): void {
  if (!Number.isSafeInteger(o.blocks) || o.blocks <= 0) throw new RangeError(`nvme: blocks must be a positive integer, got ${o.blocks}`);
  if (!BLOCK_SIZES.includes(o.blockSize)) throw new RangeError(`nvme: blockSize must be one of ${BLOCK_SIZES.join(', ')}, got ${o.blockSize}`);
  if (!(o.dma instanceof SharedArrayBuffer)) throw new TypeError('nvme: dma must be a SharedArrayBuffer');
  checkEntries(o.queueEntries);
  if (o.powerCut) checkPowerCut(o.powerCut);
}

/** The command count of a power cut: the given one, or a seeded random one in [0, max]. */
function resolveCutAfter(p: PowerCut | undefined): number | null {
  const a = p?.afterCommands;
  if (a === undefined) return null;
  if (typeof a === 'number') return a;
  return Math.floor(seededRandom(a.seed)() * (a.max + 1));
}

/** Opens (creating if missing) a disk image; a regular file shorter than `bytes` is extended. */
function openImage(path: string, bytes: number): { fd: number; regular: boolean } {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    const st = fstatSync(fd);
    if (st.isFile() && st.size < bytes) ftruncateSync(fd, bytes);
    return { fd, regular: st.isFile() };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** The first `bytes` of an image (zeros past its end). */
function readImage(path: string, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const fd = openSync(path, 'r');
  try {
    for (let at = 0; at < bytes;) {
      const n = readSync(fd, out, at, bytes - at, at);
      if (n === 0) break;
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

function readReport(report: SharedArrayBuffer): PowerReport | null {
  const r = new Int32Array(report);
  if (Atomics.load(r, Report.CUT) !== 1) return null;
  const lbas = Array.from(new Float64Array(report, Report.LBAS, r[Report.APPLIED] + r[Report.DROPPED]));
  return { completed: r[Report.COMPLETED], applied: lbas.slice(0, r[Report.APPLIED]), dropped: lbas.slice(r[Report.APPLIED]) };
}

/** Starts a device on a worker thread of its own. */
export function startNvme(o: NvmeOptions): NvmeDevice {
  checkOptions(o);
  const memory = new SharedArrayBuffer(queueBytes(o.queueEntries));
  writeIdentify(new DataView(memory), o.queueEntries, o.blockSize, o.blocks);
  const words = new Int32Array(memory);
  const bytes = o.blocks * o.blockSize;
  const image = o.image === undefined ? null : openImage(o.image, bytes);
  const storage = image ? null : new SharedArrayBuffer(bytes);
  const cacheBlocks = o.cacheBlocks ?? DEFAULT_CACHE_BLOCKS;
  const report = new SharedArrayBuffer(Report.LBAS + 8 * cacheBlocks);
  const cutAfter = resolveCutAfter(o.powerCut);
  const queue = new QueuePair(memory);
  const thread = startThread(threadSource(CONSTANTS, SHIPPED, DEVICE_LOOP), {
    memory, dma: o.dma, storage, fd: image?.fd, regular: image?.regular, report, cutAfter,
    keep: o.powerCut?.keep ?? 'none', entries: o.queueEntries, blockSize: o.blockSize, blocks: o.blocks,
    idleSpin: o.idleSpin ?? DEFAULT_IDLE_SPIN, cacheBlocks,
  }, () => Atomics.store(words, word(Reg.STATUS), DeviceStatus.FATAL));
  const memStorage = storage ? new Uint8Array(storage) : null;
  return {
    memory, dma: o.dma, blocks: o.blocks, blockSize: o.blockSize, queue, cutAfter,
    get storage() { return memStorage ?? readImage(o.image as string, bytes); },
    submit: (c) => queue.submit(c),
    poll: () => queue.poll(),
    status: () => queue.deviceStatus(),
    cutPower: () => {
      Atomics.store(words, word(Reg.POWER_CUT), 1);
      Atomics.notify(words, word(Reg.SQ_TAIL));
      Atomics.notify(words, word(Reg.CQ_HEAD));
    },
    powerReport: () => readReport(report),
    get error() { return thread.error; },
    stop: async () => {
      await thread.stop();
      if (image && image.fd >= 0) { closeSync(image.fd); image.fd = -1; }
      Atomics.store(words, word(Reg.STATUS), DeviceStatus.STOPPED);
    },
  };
}

// The NVMe-like block device model on Node: a worker thread that plays the controller, over the
// queue layout of machine/common/nvme.ts, reaching the DMA area only through the IOMMU table of
// machine/common/iommu.ts. Durable storage is either memory, a SharedArrayBuffer (`storage`, so
// tests can see what is durable), or a disk-image file (`image`), read and written with
// fs.readSync / fs.writeSync on the worker. Writes go to a volatile write cache in the worker's own
// memory and reach storage only on FLUSH (or when the cache is full, as a real device may write
// back early; durability is promised only after FLUSH). A full cache is written back before a
// WRITE's transfer begins, never inside it (a WRITE larger than the cache moves in several
// transfers), so an unmap waits at most for one copy, never for a write-back.
//
// Two buffers (common/nvme.ts): the control words (`control`: CC, POWER_CUT, STATUS, RESETS,
// INTR), which this host and the device alone touch, and the queue memory (`memory`), which the
// kernel hands to the driver. The device reads the queue memory only as commands and hints it
// checks, and rewrites its mirror there (STATUS and the identify words) at start, at each reset and
// at each status change; the host's reset, power cut, status and interrupt waits use the control
// words alone, and ring DOORBELL only to wake the device.
//
// Queues: queue 0 is the admin queue (CREATE_IO_QUEUE, DELETE_IO_QUEUE, IDENTIFY); I/O queues
// 1 .. maxQueues - 1 exist once created. The device serves the queues round robin, at most
// ARBITRATION_BURST commands from one queue before it moves to the next, one command at a time,
// each queue's commands in order. It fetches a queue's next command only when that queue's
// completion ring has a free slot, so a driver that does not poll one queue holds back only that
// queue. Deleting a queue drops its pending commands (never executed, never completed).
//
// Data path: no postMessage. The driver writes submission entries and stores the SQ tail; the
// device spins a bounded while when idle, then sleeps in Atomics.wait on the one DOORBELL word
// (the SLEEPING protocol of common/nvme.ts), at most WAKE_MS or until the next interrupt deadline.
// For each READ or WRITE it translates the buffer's iova (iommuBegin: READ needs DEVICE_WRITES,
// WRITE needs DEVICE_READS), moves the data, and ends the transfer (iommuEnd); a refused iova
// completes with BAD_BUFFER without touching memory.
//
// Interrupts: completions posted on an unmasked queue are signalled by raising an interrupt
// (IRQS[q] += 1 in the queue memory, Control.INTR += 1, notify INTR) once `threshold` of them are
// waiting, or once the oldest has waited the queue's coalescing time, whichever comes first; the
// admin queue has threshold 1.
// Completions posted while a queue is masked are not signalled then (its driver polls); once it is
// unmasked, one interrupt is raised for them if the driver has not consumed them all (unmasked()).
// The idle device sleeps no longer than the earliest deadline, so time-limited interrupts come on
// time.
// On the host, onInterrupt() watches INTR with Atomics.waitAsync (no thread, no timer).
//
// Controller reset (CC.EN 1 -> 0, reset()): acted on between commands, never inside one; the
// device drops every pending command, deletes the I/O queues, zeroes the queue words and rings,
// keeps its write cache and storage, sets STOPPED and bumps RESETS; CC.EN 0 -> 1 zeroes them again
// and makes it READY with a fresh admin queue. A reset also takes a device out of FATAL. Whether
// a disable is still pending (after a reset that timed out) is the host's Controller's own state.
//
// Power loss (for crash tests): `powerCut` cuts power once a given number of I/O commands has
// completed (or a seeded random number of them), and cutPower() cuts it on demand through the
// POWER_CUT control word (which no driver can reach). The device then applies the chosen subset
// of its unflushed cached blocks (`keep`: none, all, or a seeded random subset) to durable
// storage, drops the rest, writes the report (powerReport()) and sets POWER_LOST, for good.
//
// Invariants:
//   - the worker never throws out of its loop because of a command: every bad command (unknown
//     or misplaced opcode, zero count, LBA range past the end, an iova the IOMMU refuses, a buffer
//     too small for the transfer or outside the DMA area, a bad qid) completes with an error
//     status; an I/O error on the image (or a short transfer) completes it with MEDIA_ERROR and
//     the device keeps running; any other exception while executing one completes it with
//     INTERNAL_ERROR. A failed command may have done part of its work (as on real NVMe); a failed
//     FLUSH keeps the blocks it did not write in the cache;
//   - the device touches the DMA area only between iommuBegin and iommuEnd of the command's iova,
//     and does nothing in between but move the command's blocks (from the cache or the medium for
//     a READ, into the cache for a WRITE): never a write-back or a sync;
//   - nothing written into the queue memory makes reset() fail or wait longer than the command
//     in progress: the device acts on CC at every command boundary and while idle;
//   - a doorbell outside [0, entries), or an SQ_TAIL on a queue that does not exist, sets STATUS to
//     FATAL and the device takes no commands until a reset;
//   - a reset or power cut is acted on only between commands: with afterCommands N, exactly N I/O
//     completions are posted and no command after them is executed. After a cut, storage = what
//     was durable before it + exactly the blocks powerReport().applied lists (each block's newest
//     cached data, written whole). After reset() returns true, no command submitted before it
//     is executed (nor completed);
//   - the worker is not unref'd: a running device keeps the process alive, like an open server;
//     stop() ends the onInterrupt loops, terminates the worker and resolves once the thread has
//     exited (closing the image), leaving no thread behind, and clears the IOMMU's BUSY words (a
//     dead device is in no transfer), as does the death of the worker by an error.
//
// The worker's code is built from the common files' own functions (their source text) plus their
// constants as JSON, so the layout has one definition. Functions shipped this way (SHIPPED below)
// may use only each other and the constants in CONSTANTS.
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';
import { Access, BUSY_IN_TRANSFER, BUSY_WAITED, IOMMU_ENTRY_WORDS, IommuWord, iommuBegin, iommuEnd, iommuEntries } from '../common/iommu.ts';
import {
  ARBITRATION_BURST, AdminOpcode, BLOCK_SIZES, CC_EN, CONTROL_BYTES, CQE_BYTES, Control, Cqe, DEFAULT_QUEUES, DeviceStatus,
  HEADER_BYTES, MAX_COALESCE_US, Opcode, QUEUE_REGS_BYTES, QueuePair, QueueReg, RINGS_OFFSET, Reg, SQE_BYTES, Sleeping, Sqe,
  Status, checkEntries, checkMaxQueues, cqeOffset, createQueueCommand, deleteQueueCommand, queueBytes, queueReg, readSqe,
  sqeOffset, statusWord, word, writeCqeBody, writeIdentify, type Command, type Completion,
} from '../common/nvme.ts';
import { watchWord } from './interrupts.ts';
import { startThread, threadSource } from './thread.ts';

/** Idle polls of the doorbell before the device sleeps on it (bounded: two spinning threads on a
 *  2-core host collapse when anything else wants a core). */
export const DEFAULT_IDLE_SPIN = 2000;
/** Blocks the write cache holds before it writes back on its own. */
export const DEFAULT_CACHE_BLOCKS = 1024;
/** Longest sleep before the device looks at POWER_CUT and CC again (should a doorbell be missed). */
const WAKE_MS = 20;

/** Which unflushed cached blocks reach storage at a power cut: none, all, or a seeded random subset. */
export type Keep = 'none' | 'all' | { seed: number };

export interface PowerCut {
  /** cut once this many I/O commands have completed, or a seeded random count in [0, max] */
  afterCommands?: number | { seed: number; max: number };
  /** default 'none' */
  keep?: Keep;
}

/** What the device did at its power cut. */
export interface PowerReport {
  /** I/O completions posted before the cut */
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
  /** the DMA area (the exchange heap's arena): reached only through `iommu` */
  dma: SharedArrayBuffer;
  /** the IOMMU table (iommuBytes(n)), filled by the kernel's IommuMapper */
  iommu: SharedArrayBuffer;
  /** entries per ring (every queue's submission and completion rings have this size) */
  queueEntries: number;
  /** queues, the admin queue included: default DEFAULT_QUEUES, at most MAX_QUEUES */
  maxQueues?: number;
  idleSpin?: number;
  cacheBlocks?: number;
  /** media latency: each READ or WRITE takes at least this long (µs) before its transfer, as a
   *  slower disk would (default 0); for experiments and tests that need commands in flight */
  latencyUs?: number;
  /** a disk-image file as durable storage (created, or extended to blocks * blockSize if a
   *  shorter regular file); without it storage is memory */
  image?: string;
  powerCut?: PowerCut;
}

export interface NvmeDevice {
  /** the queue memory (doorbell, status and identify mirror, queue words, rings): the driver's */
  readonly memory: SharedArrayBuffer;
  /** the control words (CC, POWER_CUT, STATUS, RESETS, INTR): this host's and the device's only */
  readonly control: SharedArrayBuffer;
  /** the durable storage, blocks * blockSize bytes: what survives a power loss. With an image,
   *  a copy read from the file on each access */
  readonly storage: Uint8Array;
  readonly dma: SharedArrayBuffer;
  readonly iommu: SharedArrayBuffer;
  readonly blocks: number;
  readonly blockSize: number;
  readonly entries: number;
  readonly maxQueues: number;
  /** the I/O command count at which power will be cut (powerCut.afterCommands, resolved), or null */
  readonly cutAfter: number | null;
  /** the host's own driver side of queue q (one object per queue; reset by reset() and deleteIoQueue) */
  queue(q: number): QueuePair;
  /** submits an admin command on queue 0 and waits (synchronously) for its completion */
  admin(c: Command, timeoutMs?: number): Completion;
  /** CREATE_IO_QUEUE, synchronously: the completion status */
  createIoQueue(q: number, threshold?: number, timeUs?: number): number;
  /** DELETE_IO_QUEUE, synchronously: the completion status */
  deleteIoQueue(q: number): number;
  /**
   * Controller reset, synchronously (the kernel's crash path): disables the device, waits until it
   * has dropped every pending command, re-enables it and waits until it is READY. true if the
   * device did all that within `timeoutMs`; then it performs no DMA for any command submitted
   * before. The I/O queues are gone (create them again); the write cache and storage are kept.
   * Uses the control words only: nothing written into `memory` changes how it goes.
   */
  reset(timeoutMs?: number): boolean;
  /** resets the device has finished */
  resets(): number;
  /** I/O commands completed since power-on (what PowerCut.afterCommands counts) */
  completed(): number;
  /** interrupts raised so far, on every queue (the INTR word) */
  interrupts(): number;
  /** calls `fn` on this thread after interrupts (once per observed change of INTR: coalesced),
   *  until the returned function or stop() is called */
  onInterrupt(fn: () => void): () => void;
  /** DeviceStatus (Control.STATUS, not the driver's mirror) */
  status(): number;
  /** asks the device to lose power before its next command (it acts within about WAKE_MS) */
  cutPower(): void;
  /** the report of the power cut once the device has lost power (also after stop()), else null */
  powerReport(): PowerReport | null;
  /** the worker's error, if it died of one */
  readonly error: Error | null;
  /** ends the interrupt loops, terminates the worker; resolves once its thread has exited */
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

const CONSTANTS = {
  Access, AdminOpcode, BUSY_IN_TRANSFER, BUSY_WAITED, ARBITRATION_BURST, CC_EN, CQE_BYTES, Control, Cqe, DeviceStatus, HEADER_BYTES,
  IOMMU_ENTRY_WORDS, IommuWord, MAX_COALESCE_US, Opcode, QUEUE_REGS_BYTES, QueueReg, Reg, Report, RINGS_OFFSET, SQE_BYTES, Sleeping,
  Sqe, Status, WAKE_MS,
};
const SHIPPED = { queueReg, sqeOffset, cqeOffset, word, readSqe, statusWord, writeCqeBody, writeIdentify, iommuBegin, iommuEnd, seededRandom };

/** The controller. Runs in the worker, after the shipped constants and functions. */
const DEVICE_LOOP = `
const { workerData: d } = require('node:worker_threads');
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');
const ctl = new Int32Array(d.control);
const words = new Int32Array(d.memory);
const view = new DataView(d.memory);
const memBytes = new Uint8Array(d.memory);
const table = new Int32Array(d.iommu);
const dma = new Uint8Array(d.dma);
const storage = d.storage ? new Uint8Array(d.storage) : null;
const N = d.entries, B = d.blockSize, BLOCKS = d.blocks, Q = d.maxQueues;
// The control words (read and written here and by the host only) and the queue memory's header
// words (the driver's too: read only as hints, never trusted).
const CC = word(Control.CC), POWER_CUT = word(Control.POWER_CUT), STATUS = word(Control.STATUS);
const RESETS = word(Control.RESETS), INTR = word(Control.INTR), COMPLETED = word(Control.COMPLETED);
const DOORBELL = word(Reg.DOORBELL), SLEEPING = word(Reg.SLEEPING), MIRROR = word(Reg.STATUS);
const CUT = Symbol('power cut'), DISABLED = Symbol('CC.EN cleared'), FATAL = Symbol('fatal');
class MediaError extends Error {}

// Each queue's words, and the device's state of each queue.
const wordsOf = (r) => Int32Array.from({ length: Q }, (_, q) => word(queueReg(q, r)));
const SQ_TAIL = wordsOf(QueueReg.SQ_TAIL), CQ_HEAD = wordsOf(QueueReg.CQ_HEAD), INT_MASK = wordsOf(QueueReg.INT_MASK);
const SQ_HEAD = wordsOf(QueueReg.SQ_HEAD), EVENTS = wordsOf(QueueReg.EVENTS), IRQS = wordsOf(QueueReg.IRQS);
const live = new Uint8Array(Q), sqHead = new Int32Array(Q), cqTail = new Int32Array(Q), phase = new Uint8Array(Q);
const threshold = new Int32Array(Q), limitMs = new Float64Array(Q), unsignalled = new Int32Array(Q);
/** 1 while q has a completion posted masked and not signalled (see unmasked) */
const postedMasked = new Uint8Array(Q);
const due = new Float64Array(Q).fill(Infinity);
let nextDue = Infinity;

const cache = new Map(), spare = [];
const cmd = { opcode: 0, cid: 0, lba: 0, count: 0, bufIova: 0, bufLength: 0 };
let completed = 0, result = 0;

const load = (w) => Atomics.load(words, w);
const control = (w) => Atomics.load(ctl, w);
const next = (i) => (i + 1 === N ? 0 : i + 1);
const badIndex = (i) => !(i >= 0 && i < N);

/** Rewrites the driver's mirror (the identify words, then STATUS), then sets STATUS: a host that
 *  sees the new STATUS finds the mirror up to date. */
function setStatus(s) {
  writeIdentify(view, N, B, BLOCKS, Q);
  Atomics.store(words, MIRROR, s);
  Atomics.store(ctl, STATUS, s);
  Atomics.notify(ctl, STATUS);
}

/** Between commands: throws CUT if power is to go now, DISABLED if CC.EN is clear. */
function boundary() {
  if (control(POWER_CUT) !== 0 || completed === d.cutAfter) throw CUT;
  if ((control(CC) & CC_EN) === 0) throw DISABLED;
}

// ---- storage and the write cache

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

/** Writes the cache back; a block leaves the cache only once written. */
function writeBack() {
  for (const [lba, data] of cache) {
    storeBlock(lba, data);
    cache.delete(lba);
    spare.push(data);
  }
}

/** FLUSH: writes the cache back and makes the image durable (fdatasync). */
function flush() {
  writeBack();
  syncImage();
}

/** Copies blocks [lba, lba + n) into the DMA area at \`at\`: the newest data, cached or durable. */
function read(lba, n, at) {
  for (let i = 0; i < n; i++) {
    const cached = cache.get(lba + i);
    if (cached) dma.set(cached, at + i * B);
    else loadBlock(lba + i, at + i * B);
  }
}

/** Copies blocks [lba, lba + n) from the DMA area at \`at\` into the cache, which has room for them
 *  (makeRoom: this never writes back). An overwritten block keeps its place. */
function write(lba, n, at) {
  for (let i = 0; i < n; i++) {
    let block = cache.get(lba + i);
    if (block === undefined) {
      block = spare.pop() || new Uint8Array(B);
      cache.set(lba + i, block);
    }
    block.set(dma.subarray(at + i * B, at + (i + 1) * B));
  }
}

/** Writes the cache back if it has no room for blocks [lba, lba + n), n <= cacheBlocks. Called
 *  before a transfer, never inside one: an unmap never waits for a write-back. */
function makeRoom(lba, n) {
  let missing = 0;
  for (let i = 0; i < n; i++) if (!cache.has(lba + i)) missing++;
  if (cache.size + missing > d.cacheBlocks) writeBack(); // (durable only at FLUSH: no fdatasync here)
}

// ---- commands

/** Moves blocks [first, first + n) of READ or WRITE c, inside one transfer through its buffer
 *  (iommuBegin .. iommuEnd): false if the IOMMU refuses it or it would pass the DMA area's end. */
function transfer(c, first, n, reading) {
  const at = iommuBegin(table, c.bufIova, c.bufLength, reading ? Access.DEVICE_WRITES : Access.DEVICE_READS);
  if (at < 0) return false;
  try {
    if (at + c.count * B > dma.length) return false;
    if (reading) read(c.lba + first, n, at + first * B);
    else write(c.lba + first, n, at + first * B);
  } finally {
    iommuEnd(table, c.bufIova);
  }
  return true;
}

/** READ, WRITE or FLUSH; the data moves only inside transfers. A WRITE moves at most cacheBlocks
 *  blocks per transfer, after making room for them. */
function io(c) {
  if (c.opcode === Opcode.FLUSH) { flush(); return Status.SUCCESS; }
  if (c.opcode !== Opcode.READ && c.opcode !== Opcode.WRITE) return Status.INVALID_OPCODE;
  if (c.count === 0) return Status.INVALID_FIELD;
  if (c.lba >= BLOCKS || c.count > BLOCKS - c.lba) return Status.LBA_OUT_OF_RANGE;
  const bytes = c.count * B, reading = c.opcode === Opcode.READ;
  if (c.bufLength < bytes) return Status.BAD_BUFFER;
  if (d.latencyUs > 0) {
    const until = performance.now() + d.latencyUs / 1000;
    while (performance.now() < until) { /* the medium is busy */ }
  }
  if (reading) {
    if (!transfer(c, 0, c.count, true)) return Status.BAD_BUFFER;
  } else {
    for (let first = 0; first < c.count; first += d.cacheBlocks) {
      const n = Math.min(c.count - first, d.cacheBlocks);
      makeRoom(c.lba + first, n);
      if (!transfer(c, first, n, false)) return Status.BAD_BUFFER;
    }
  }
  result = bytes;
  return Status.SUCCESS;
}

/** Makes queue q live and empty, with its coalescing settings. */
function openQueue(q, thr, ms) {
  live[q] = 1; sqHead[q] = 0; cqTail[q] = 0; phase[q] = 1;
  threshold[q] = thr; limitMs[q] = ms; unsignalled[q] = 0; due[q] = Infinity; postedMasked[q] = 0;
}

/** Deletes queue q: its pending commands are dropped; its words and rings are zeroed. */
function closeQueue(q) {
  live[q] = 0; unsignalled[q] = 0; due[q] = Infinity; postedMasked[q] = 0;
  for (const w of [SQ_TAIL, CQ_HEAD, INT_MASK, SQ_HEAD, EVENTS, IRQS]) Atomics.store(words, w[q], 0);
  memBytes.fill(0, sqeOffset(N, q, 0), cqeOffset(N, q, N));
}

function createQueue(c) {
  const qid = c.lba % 4294967296, timeUs = Math.floor(c.lba / 4294967296);
  if (!(qid >= 1 && qid < Q) || live[qid] || c.count < 1 || timeUs > MAX_COALESCE_US) return Status.INVALID_FIELD;
  openQueue(qid, c.count, timeUs / 1000);
  return Status.SUCCESS;
}

function deleteQueue(c) {
  if (!(c.lba >= 1 && c.lba < Q) || !live[c.lba]) return Status.INVALID_FIELD;
  closeQueue(c.lba);
  return Status.SUCCESS;
}

function admin(c) {
  if (c.opcode === AdminOpcode.IDENTIFY) { result = B; return Status.SUCCESS; }
  if (c.opcode === AdminOpcode.CREATE_IO_QUEUE) return createQueue(c);
  if (c.opcode === AdminOpcode.DELETE_IO_QUEUE) return deleteQueue(c);
  return Status.INVALID_OPCODE;
}

function execute(q, c) {
  result = 0;
  try {
    return q === 0 ? admin(c) : io(c);
  } catch (e) {
    result = 0;
    return e instanceof MediaError ? Status.MEDIA_ERROR : Status.INTERNAL_ERROR;
  }
}

// ---- completions and interrupts

function raise(q) {
  unsignalled[q] = 0;
  due[q] = Infinity;
  Atomics.add(words, IRQS[q], 1);
  Atomics.add(ctl, INTR, 1);
  Atomics.notify(ctl, INTR);
}

/** A completion was posted on q: raise its interrupt now, or arm its deadline (or, masked, note it). */
function signal(q) {
  if (load(INT_MASK[q]) !== 0) { postedMasked[q] = 1; return; }
  postedMasked[q] = 0; // (this completion's interrupt, now or at its deadline, wakes the driver for those too)
  const n = ++unsignalled[q];
  if (n >= threshold[q] || limitMs[q] === 0) raise(q);
  else if (n === 1) {
    due[q] = performance.now() + limitMs[q];
    if (due[q] < nextDue) nextDue = due[q];
  }
}

/** For each queue unmasked since a completion was posted on it masked (and none since unmasked,
 *  whose own interrupt wakes the driver for it too): raises its interrupt if the driver has not
 *  consumed every completion (CQ_HEAD short of the tail). True if it raised one. */
function unmasked() {
  let raised = false;
  for (let q = 0; q < Q; q++) {
    if (postedMasked[q] === 0 || load(INT_MASK[q]) !== 0) continue;
    postedMasked[q] = 0;
    if (load(CQ_HEAD[q]) !== cqTail[q]) { raise(q); raised = true; }
  }
  return raised;
}

/** Raises the interrupts whose deadline has passed (dropping those of queues masked since). */
function fireDue() {
  if (nextDue === Infinity) return;
  const now = performance.now();
  if (now < nextDue) return;
  nextDue = Infinity;
  for (let q = 0; q < Q; q++) {
    if (due[q] <= now) {
      if (load(INT_MASK[q]) === 0) raise(q);
      else { unsignalled[q] = 0; due[q] = Infinity; }
    } else if (due[q] < nextDue) nextDue = due[q];
  }
}

function post(q, cid, status) {
  const o = cqeOffset(N, q, cqTail[q]);
  writeCqeBody(view, o, cid, result, sqHead[q]);
  Atomics.store(words, word(o + Cqe.STATUS), statusWord(status, phase[q]));
  cqTail[q] = next(cqTail[q]);
  if (cqTail[q] === 0) phase[q] ^= 1;
  if (q !== 0) Atomics.store(ctl, COMPLETED, ++completed);
  Atomics.add(words, EVENTS[q], 1);
  signal(q);
}

// ---- serving the queues

/** Whether q's completion ring has a free slot (FATAL if its CQ_HEAD is out of range). */
function room(q) {
  const head = load(CQ_HEAD[q]);
  if (badIndex(head)) throw FATAL;
  return next(cqTail[q]) !== head;
}

/** Serves up to ARBITRATION_BURST of q's commands: how many it did. */
function serveQueue(q) {
  const tail = load(SQ_TAIL[q]);
  if (badIndex(tail)) throw FATAL;
  let n = 0;
  while (sqHead[q] !== tail && n < ARBITRATION_BURST) {
    boundary();
    if (!room(q)) break;
    readSqe(view, sqeOffset(N, q, sqHead[q]), cmd);
    sqHead[q] = next(sqHead[q]);
    Atomics.store(words, SQ_HEAD[q], sqHead[q]);
    post(q, cmd.cid, execute(q, cmd));
    n++;
  }
  return n;
}

/** One look at every queue: 1 if some command can be served, 2 if some waits only for a
 *  completion slot, else 0. An SQ_TAIL on a queue that does not exist is FATAL. */
function scan() {
  let s = 0;
  for (let q = 0; q < Q; q++) {
    const tail = load(SQ_TAIL[q]);
    if (!live[q]) { if (tail !== 0) throw FATAL; continue; }
    if (tail === sqHead[q]) continue;
    const head = load(CQ_HEAD[q]);
    if (badIndex(tail) || badIndex(head) || next(cqTail[q]) !== head) return 1;
    s = 2;
  }
  return s;
}

/** Idle: returns once something may have changed (the SLEEPING protocol of common/nvme.ts). */
function idle() {
  Atomics.store(words, SLEEPING, Sleeping.IDLE);
  try {
    const seen = load(DOORBELL);
    if (unmasked()) return; // (after SLEEPING: an unmask the driver made without ringing is seen here)
    let s = scan();
    if (s === 2) { Atomics.store(words, SLEEPING, Sleeping.CQ_WAIT); s = scan(); }
    if (s === 1) return;
    for (let i = 0; i < d.idleSpin; i++) {
      if (load(DOORBELL) !== seen) return;
      if ((i & 255) === 255) { boundary(); fireDue(); }
    }
    for (;;) {
      boundary();
      fireDue();
      const ms = nextDue === Infinity ? WAKE_MS : Math.min(WAKE_MS, Math.max(0, nextDue - performance.now()));
      if (Atomics.wait(words, DOORBELL, seen, ms) !== 'timed-out') return;
    }
  } finally {
    Atomics.store(words, SLEEPING, Sleeping.BUSY);
  }
}

/** Serves until CC.EN is cleared (throws DISABLED), a driver bug (FATAL) or a power cut (CUT). */
function serve() {
  for (;;) {
    let worked = 0;
    for (let q = 0; q < Q; q++) if (live[q]) worked += serveQueue(q);
    fireDue();
    unmasked();
    if (worked === 0) idle();
  }
}

// ---- enable, reset, power

/** Waits until CC.EN is \`en\` (or power is cut). */
function awaitEnable(en) {
  for (;;) {
    const seen = load(DOORBELL);
    if (control(POWER_CUT) !== 0 || completed === d.cutAfter) throw CUT;
    if ((control(CC) & CC_EN) === en) return;
    Atomics.wait(words, DOORBELL, seen, WAKE_MS);
  }
}

/** READY with a fresh admin queue. After a reset, whatever was written to the queues while the
 *  device was disabled is dropped; at power-on, commands already submitted are kept. */
function enable(afterReset) {
  if (afterReset) for (let q = 0; q < Q; q++) closeQueue(q);
  openQueue(0, 1, 0);
  setStatus(DeviceStatus.READY);
}

/** The reset: every pending command dropped, every queue deleted and zeroed; the cache kept. */
function disable() {
  for (let q = 0; q < Q; q++) closeQueue(q);
  nextDue = Infinity;
  setStatus(DeviceStatus.STOPPED);
  Atomics.add(ctl, RESETS, 1);
  Atomics.notify(ctl, RESETS);
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
  try {
    let powerOn = (control(CC) & CC_EN) !== 0;
    // Disabled before the thread came up (a reset() that early): drop whatever is queued, and say so.
    if (!powerOn) disable();
    for (;;) {
      awaitEnable(CC_EN);
      enable(!powerOn);
      powerOn = false;
      try {
        serve();
      } catch (e) {
        if (e === FATAL) { setStatus(DeviceStatus.FATAL); awaitEnable(0); }
        else if (e !== DISABLED) throw e;
      }
      disable();
    }
  } catch (e) {
    if (e !== CUT) throw e;
    losePower();
  }
}

run();
// Power is gone: park until stop() terminates the thread.
for (;;) Atomics.wait(ctl, STATUS, DeviceStatus.POWER_LOST);
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
  iommuEntries(o.iommu);
  checkEntries(o.queueEntries);
  checkMaxQueues(o.maxQueues ?? DEFAULT_QUEUES);
  if (o.powerCut) checkPowerCut(o.powerCut);
  if (o.latencyUs !== undefined && !(Number.isFinite(o.latencyUs) && o.latencyUs >= 0 && o.latencyUs <= 1e6)) {
    throw new RangeError(`nvme: latencyUs must be in [0, 1e6], got ${o.latencyUs}`);
  }
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

/** A dead device is in no transfer: clears every BUSY word of its IOMMU table (and wakes an unmap). */
function clearBusy(iommu: SharedArrayBuffer): void {
  const t = new Int32Array(iommu);
  for (let w = IommuWord.BUSY; w < t.length; w += IOMMU_ENTRY_WORDS) {
    if (Atomics.exchange(t, w, 0) !== 0) Atomics.notify(t, w);
  }
}


/** The host's side of the device: the control words (CC, POWER_CUT, STATUS, RESETS, INTR) with
 *  their synchronous waits, and DOORBELL to wake the device. It reads nothing else of the queue
 *  memory, so a driver's writes there cannot steer it. */
class Controller {
  /** the control words */
  readonly words: Int32Array;
  private readonly memory: Int32Array;
  /** RESETS before the disable a reset asked for, until the device has done it; else null. Kept
   *  here, not in words the device or a driver can write. */
  private disabling: number | null = null;

  constructor(control: SharedArrayBuffer, memory: SharedArrayBuffer, private readonly dead: () => boolean) {
    this.words = new Int32Array(control);
    this.memory = new Int32Array(memory);
  }

  load(reg: number): number {
    return Atomics.load(this.words, word(reg));
  }

  /** Writes CC and rings DOORBELL (the device notices within a command). */
  setEnabled(on: boolean): void {
    Atomics.store(this.words, word(Control.CC), on ? CC_EN : 0);
    this.ring();
  }

  /** Cuts the device's power (it acts before its next command). */
  cutPower(): void {
    Atomics.store(this.words, word(Control.POWER_CUT), 1);
    this.ring();
  }

  /** STATUS, and its mirror, written by the host (the device's thread is gone). */
  setStatus(s: number): void {
    Atomics.store(this.words, word(Control.STATUS), s);
    Atomics.store(this.memory, word(Reg.STATUS), s);
  }

  ring(): void {
    Atomics.add(this.memory, word(Reg.DOORBELL), 1);
    Atomics.notify(this.memory, word(Reg.DOORBELL));
  }

  /** Waits (Atomics.wait, this thread) while `reg` holds `value`; false if the device died, lost power or time ran out. */
  awaitChange(reg: number, value: number, deadline: number): boolean {
    while (this.load(reg) === value) {
      const left = deadline - Date.now();
      if (left <= 0 || this.dead() || this.load(Control.STATUS) === DeviceStatus.POWER_LOST) return false;
      Atomics.wait(this.words, word(reg), value, Math.min(left, WAKE_MS));
    }
    return true;
  }

  /** The reset handshake of NvmeDevice.reset: disable, wait for RESETS to move, enable, wait for READY. */
  reset(timeoutMs: number): boolean {
    const deadline = Date.now() + timeoutMs;
    if (this.dead() || this.load(Control.STATUS) === DeviceStatus.POWER_LOST) return false;
    // A disable asked by an earlier reset that timed out is still pending: wait for that one.
    if (this.disabling === null) {
      this.disabling = this.load(Control.RESETS);
      this.setEnabled(false);
    }
    if (!this.awaitChange(Control.RESETS, this.disabling, deadline)) return false;
    this.disabling = null;
    this.setEnabled(true);
    for (let s = this.load(Control.STATUS); s !== DeviceStatus.READY; s = this.load(Control.STATUS)) {
      if (s === DeviceStatus.FATAL || !this.awaitChange(Control.STATUS, s, deadline)) return false;
    }
    return true;
  }
}

/** Starts a device on a worker thread of its own, enabled (READY) with its admin queue. */
export function startNvme(o: NvmeOptions): NvmeDevice {
  checkOptions(o);
  const maxQueues = o.maxQueues ?? DEFAULT_QUEUES;
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const memory = new SharedArrayBuffer(queueBytes(o.queueEntries, maxQueues));
  writeIdentify(new DataView(memory), o.queueEntries, o.blockSize, o.blocks, maxQueues);
  const ctlWords = new Int32Array(control);
  Atomics.store(ctlWords, word(Control.CC), CC_EN);
  const bytes = o.blocks * o.blockSize;
  const image = o.image === undefined ? null : openImage(o.image, bytes);
  const storage = image ? null : new SharedArrayBuffer(bytes);
  const cacheBlocks = o.cacheBlocks ?? DEFAULT_CACHE_BLOCKS;
  const report = new SharedArrayBuffer(Report.LBAS + 8 * cacheBlocks);
  const cutAfter = resolveCutAfter(o.powerCut);
  let exited = false;
  const ctl = new Controller(control, memory, () => exited || thread.error !== null);
  const thread = startThread(threadSource(CONSTANTS, SHIPPED, DEVICE_LOOP), {
    control, memory, iommu: o.iommu, dma: o.dma, storage, fd: image?.fd, regular: image?.regular, report, cutAfter,
    keep: o.powerCut?.keep ?? 'none', entries: o.queueEntries, blockSize: o.blockSize, blocks: o.blocks, maxQueues,
    idleSpin: o.idleSpin ?? DEFAULT_IDLE_SPIN, cacheBlocks, latencyUs: o.latencyUs ?? 0,
  }, () => {
    ctl.setStatus(DeviceStatus.FATAL);
    clearBusy(o.iommu);
  });
  void thread.exited.then(() => { exited = true; });
  const memStorage = storage ? new Uint8Array(storage) : null;
  const pairs: (QueuePair | undefined)[] = [];
  const identify = { entries: o.queueEntries, maxQueues };
  const queue = (q: number): QueuePair => (pairs[q] ??= new QueuePair(memory, q, Atomics, identify));
  const loops = new Set<() => void>();
  let cid = 0;

  const admin = (c: Command, timeoutMs = 1000): Completion => awaitAdmin(ctl, queue(0), c, timeoutMs);
  const adminOnQueue = (c: Command, q: number): number => {
    const s = admin(c).status;
    if (s === Status.SUCCESS) pairs[q]?.reset();
    return s;
  };

  return {
    memory, control, dma: o.dma, iommu: o.iommu, blocks: o.blocks, blockSize: o.blockSize, entries: o.queueEntries, maxQueues, cutAfter,
    get storage() { return memStorage ?? readImage(o.image as string, bytes); },
    queue,
    admin,
    createIoQueue: (q, threshold = 1, timeUs = 0) => adminOnQueue(createQueueCommand(cid++ & 0xffff, q, threshold, timeUs), q),
    deleteIoQueue: (q) => adminOnQueue(deleteQueueCommand(cid++ & 0xffff, q), q),
    reset: (timeoutMs = 1000) => {
      const ok = ctl.reset(timeoutMs);
      if (ok) for (const p of pairs) p?.reset();
      return ok;
    },
    resets: () => ctl.load(Control.RESETS),
    completed: () => ctl.load(Control.COMPLETED),
    interrupts: () => ctl.load(Control.INTR),
    onInterrupt: (fn) => watchWord(ctlWords, word(Control.INTR), fn, loops),
    status: () => ctl.load(Control.STATUS),
    cutPower: () => ctl.cutPower(),
    powerReport: () => readReport(report),
    get error() { return thread.error; },
    stop: async () => {
      for (const end of [...loops]) end();
      await thread.stop();
      if (image && image.fd >= 0) { closeSync(image.fd); image.fd = -1; }
      ctl.setStatus(DeviceStatus.STOPPED);
      clearBusy(o.iommu);
    },
  };
}

/** Submits admin command `c` and waits for its completion: a short spin, then sleeps on INTR in 1 ms slices. */
function awaitAdmin(ctl: Controller, pair: QueuePair, c: Command, timeoutMs: number): Completion {
  if (pair.submit(c) !== Status.SUCCESS) throw new Error('nvme: the admin queue is full');
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    const intr = ctl.load(Control.INTR);
    const done = pair.poll();
    if (done) return done;
    if (Date.now() > deadline) throw new Error(`nvme: no admin completion within ${timeoutMs} ms (device status ${ctl.load(Control.STATUS)})`);
    if (i >= 1000) Atomics.wait(ctl.words, word(Control.INTR), intr, 1);
  }
}

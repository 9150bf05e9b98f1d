// The NVMe-like block device's registers and queues: the layout shared by the device model
// (machine/node/nvme.ts) and its drivers. Runtime-neutral: plain constants and small functions
// over a DataView (and, for the words two threads race on, an Int32Array over the same buffer,
// used only through Atomics).
//
// Nothing here names the Atomics global: a driver domain's compartment has none (and the domain
// build refuses the name), so QueuePair takes the atomic operations as a parameter (QueueAtomics:
// the kernel's AtomicOps of machine/common/device.ts, or Atomics itself in host code).
//
// Two SharedArrayBuffers (32-bit little-endian words; each 64-byte line is written by one side
// only, so the two threads do not share written lines):
//
//   the control words, CONTROL_BYTES (Control): the host's and the device's only, never handed to
//   a driver, so nothing a driver writes can change how a reset or a power cut goes:
//     CC          controller configuration, bit 0 EN (enable)      written by the host
//     POWER_CUT   nonzero: cut the device's power (a test's switch)  written by the host
//     STATUS      DeviceStatus (OFF, READY, FATAL, STOPPED, POWER_LOST), authoritative
//                                                                  written by the device
//     RESETS      +1 each time the device has finished a reset (CC.EN 1 -> 0)
//     INTR        +1 and notify for every interrupt the device raises, on any queue (the host
//                 waits on it)
//
//   the queue memory, queueBytes(entries, maxQueues): the driver's, to read and write as it likes.
//   The device never trusts it: every word it reads here is checked before use, and a bad one is
//   at worst the driver's own loss (BAD_BUFFER, INVALID_FIELD, FATAL until a reset).
//   header, HEADER_BYTES (Reg):
//     DOORBELL    +1 and notify: the one word an idle device sleeps on. Rung by the driver after an
//                 SQ_TAIL store when SLEEPING is not BUSY, after a CQ_HEAD store when it is
//                 CQ_WAIT; and by the host after every CC or POWER_CUT change
//     STATUS      a mirror of Control.STATUS, for the driver      written by the device
//     SLEEPING    Sleeping: BUSY, IDLE, or CQ_WAIT (idle until a completion slot frees)
//     ENTRIES, BLOCK_SIZE, BLOCKS_LO, BLOCKS_HI, MAX_QUEUES  identify data   written by the device
//   The device (re)writes the mirror (identify words, then STATUS) at start, at every reset and
//   whenever its status changes; it never reads it, so a driver that scribbles over it fools
//   only itself. The host's own QueuePairs take the identify data from the host, not the mirror.
//   per queue q in [0, MAX_QUEUES), QUEUE_REGS_BYTES each (QueueReg):
//     SQ_TAIL, CQ_HEAD  doorbells                                  written by the driver
//     INT_MASK          nonzero: no interrupts for q (polling)       written by the driver
//     SQ_HEAD           how far the device has fetched q's commands  written by the device
//     EVENTS            completions posted on q                      written by the device
//     IRQS              interrupts raised for q                      written by the device
//   rings, from RINGS_OFFSET: for each q in [0, maxQueues), a submission ring of `entries` SQEs
//     (written by the driver) then a completion ring of `entries` CQEs (written by the device).
//
// Queue 0 is the admin queue: CREATE_IO_QUEUE, DELETE_IO_QUEUE, IDENTIFY. Queues 1 to maxQueues - 1
// are I/O queues (READ, WRITE, FLUSH), each usable once created. An opcode on the wrong kind of
// queue completes with INVALID_OPCODE.
//
// Submission entry (SQE_BYTES): u16 opcode, u16 command id, u32 COUNT, u32 LBA_LO, u32 LBA_HI,
// u32 BUF_IOVA (an iova of the IOMMU, machine/common/iommu.ts: never a raw DMA-area offset),
// u32 BUF_LENGTH, 8 bytes reserved. Admin commands reuse the fields: CREATE_IO_QUEUE has the qid in
// LBA_LO, the coalescing threshold (completions per interrupt, >= 1) in COUNT and the coalescing
// time (microseconds, <= MAX_COALESCE_US; 0 = interrupt at once) in LBA_HI; DELETE_IO_QUEUE the qid
// in LBA_LO; IDENTIFY none (its result is the block size).
// Completion entry (CQE_BYTES): u32 result (bytes moved, or the admin result), u32 SQ head after
// this command, u16 command id, u16 reserved, u32 status word = status << 1 | phase (NVMe's DW3).
//
// Invariants:
//   - each ring has `entries` slots; head == tail is empty, so at most entries - 1 commands are
//     outstanding on a queue (the driver keeps to that; QUEUE_FULL otherwise);
//   - publication order: the driver writes entries with plain stores, then stores SQ_TAIL
//     (Atomics.store), then rings DOORBELL if the device is idle; the device writes a completion's
//     other fields first and its status word last, with Atomics.store. Readers Atomics.load the
//     tail / status word first;
//   - no lost wake-up (a doorbell costs an add and a notify only while the device is idle): the
//     device stores SLEEPING (IDLE, or CQ_WAIT if a queue waits for a completion slot), loads
//     DOORBELL, looks at every queue's SQ_TAIL and CQ_HEAD once more, and then sleeps only while
//     DOORBELL still holds what it loaded. A driver stores SQ_TAIL (CQ_HEAD) and then loads
//     SLEEPING. With sequentially consistent atomics, either the driver's load comes before the
//     device's store of SLEEPING, and then the device's last look sees the driver's store; or the
//     driver sees SLEEPING set and adds to DOORBELL, and then the device either loaded DOORBELL
//     after the add (and its last look, later still, sees the store) or it will find DOORBELL
//     changed (Atomics.wait returns at once) or is woken by the notify;
//   - phase: completion slots start zeroed; the device posts with phase 1 on its first pass through
//     a ring and flips the phase each time its tail wraps; the driver expects 1 first and flips its
//     expectation each time its head wraps. A slot is new exactly when its phase is the expected one;
//   - the device posts on q only while q's completion ring has a free slot (it does not fetch q's
//     next command until it has one), and completes each queue's commands in submission order;
//   - interrupts: for a queue not masked, the device raises one (IRQS[q] += 1, Control.INTR += 1,
//     notify INTR) once the completions it posted since the last one reach the queue's threshold, or once
//     the oldest of them has waited the queue's coalescing time; the admin queue's threshold is 1.
//     Completions posted while the queue is masked are not signalled then; once the queue is
//     unmasked, the device raises one interrupt for them if the driver has not consumed them all
//     (CQ_HEAD short of the tail), as NVMe asserts a masked vector's pending interrupt on unmask.
//     So a driver that unmasks and sleeps never waits for a completion posted just before. The
//     unmask is seen by the SLEEPING protocol above: the driver stores INT_MASK and then loads
//     SLEEPING (ringing DOORBELL if set); the device stores SLEEPING and then looks at INT_MASK;
//   - a doorbell outside [0, entries), or an SQ_TAIL of a queue that does not exist, is a driver
//     bug: the device sets FATAL and stops taking commands until a controller reset;
//   - controller reset (CC.EN 1 -> 0): at the next command boundary the device drops every pending
//     command (never executed, never completed), deletes the I/O queues, zeroes the per-queue words
//     and the rings, keeps its write cache, sets STOPPED and adds 1 to RESETS. CC.EN 0 -> 1: the
//     same zeroing again (whatever was written meanwhile is dropped), then READY with a fresh admin
//     queue (phase 1, heads 0). Drivers start over with fresh QueuePairs (reset()). The reset reads
//     and writes only the control words (and rings DOORBELL, which only wakes the device), so it
//     goes the same whatever the queue memory holds;
//   - power loss: the device checks POWER_CUT between commands and while it waits; once it acts on
//     it, it sets POWER_LOST and never posts another completion, so commands in flight then never
//     complete. Its volatile write cache is gone; durable storage holds what was flushed, plus
//     possibly some unflushed blocks, each whole or not at all.

/** I/O command opcodes (I/O queues only). */
export const Opcode = { READ: 1, WRITE: 2, FLUSH: 3 } as const;

/** Admin command opcodes (the admin queue, queue 0, only). */
export const AdminOpcode = { DELETE_IO_QUEUE: 16, CREATE_IO_QUEUE: 17, IDENTIFY: 18 } as const;

/** Completion status codes (0 is success). QUEUE_FULL is reported by the driver side, never posted. */
export const Status = {
  SUCCESS: 0,
  INVALID_OPCODE: 1,
  LBA_OUT_OF_RANGE: 2,
  /** the buffer's iova is not mapped (or stale), too short, or not mapped for this direction */
  BAD_BUFFER: 3,
  QUEUE_FULL: 4,
  INVALID_FIELD: 5,
  INTERNAL_ERROR: 6,
  /** the backing medium failed the transfer (an I/O error on a disk image) */
  MEDIA_ERROR: 7,
} as const;

/** The device status word. */
export const DeviceStatus = { OFF: 0, READY: 1, FATAL: 2, STOPPED: 3, POWER_LOST: 4 } as const;

/** The SLEEPING word: what an idle device waits for. */
export const Sleeping = {
  /** serving commands: it will look at every queue again before it sleeps */
  BUSY: 0,
  /** idle: waiting for a doorbell (SQ_TAIL stores ring DOORBELL) */
  IDLE: 1,
  /** idle, and some queue has commands but no free completion slot: CQ_HEAD stores ring DOORBELL too */
  CQ_WAIT: 2,
} as const;

/** CC bits. */
export const CC_EN = 1;

/** Byte offsets of the control words, in the control buffer (the host's and the device's only). */
export const Control = {
  CC: 0,
  POWER_CUT: 4,
  STATUS: 64,
  RESETS: 68,
  INTR: 72,
  /** I/O commands completed since power-on (what PowerCut.afterCommands counts) */
  COMPLETED: 76,
} as const;

/** Byte offsets of the header words of the queue memory (the driver's): DOORBELL, SLEEPING and the mirror. */
export const Reg = {
  DOORBELL: 0,
  /** the mirror of Control.STATUS */
  STATUS: 64,
  SLEEPING: 68,
  ENTRIES: 128,
  BLOCK_SIZE: 132,
  BLOCKS_LO: 136,
  BLOCKS_HI: 140,
  MAX_QUEUES: 144,
} as const;

/** Byte offsets of a queue's words inside its QUEUE_REGS_BYTES (see queueReg). */
export const QueueReg = { SQ_TAIL: 0, CQ_HEAD: 4, INT_MASK: 8, SQ_HEAD: 64, EVENTS: 68, IRQS: 72 } as const;

/** Bytes of the control buffer. */
export const CONTROL_BYTES = 128;
/** Bytes of the queue memory's header (Reg), before the per-queue words. */
export const HEADER_BYTES = 192;
export const QUEUE_REGS_BYTES = 128;
/** Queues the layout has room for (queue 0, the admin queue, included). */
export const MAX_QUEUES = 64;
export const DEFAULT_QUEUES = 4;
export const RINGS_OFFSET = HEADER_BYTES + MAX_QUEUES * QUEUE_REGS_BYTES;
export const SQE_BYTES = 32;
export const CQE_BYTES = 16;
export const MIN_ENTRIES = 2;
export const MAX_ENTRIES = 65536;
export const BLOCK_SIZES: readonly number[] = [512, 4096];
/** Longest interrupt coalescing time a queue may ask for, in microseconds. */
export const MAX_COALESCE_US = 1_000_000;
/** Commands the device takes from one queue before it moves on to the next (round robin). */
export const ARBITRATION_BURST = 8;

/** Byte offsets of the fields inside a submission entry. */
export const Sqe = { OPCODE: 0, CID: 2, COUNT: 4, LBA_LO: 8, LBA_HI: 12, BUF_IOVA: 16, BUF_LENGTH: 20 } as const;
/** Byte offsets of the fields inside a completion entry. */
export const Cqe = { RESULT: 0, SQ_HEAD: 4, CID: 8, STATUS: 12 } as const;

export interface Command {
  opcode: number;
  cid: number;
  /** first block (a Number below 2^53); admin commands: LBA_HI * 2^32 + LBA_LO */
  lba: number;
  count: number;
  /** the buffer's iova (IommuMapper.map), 0 when the command moves no data */
  bufIova: number;
  bufLength: number;
}

export interface Completion {
  cid: number;
  status: number;
  result: number;
  sqHead: number;
}

/** Bytes of queue memory for `maxQueues` queues of `entries` entries. */
export function queueBytes(entries: number, maxQueues: number): number {
  return RINGS_OFFSET + maxQueues * entries * (SQE_BYTES + CQE_BYTES);
}

/** Byte offset of word `r` (QueueReg) of queue q. */
export function queueReg(q: number, r: number): number {
  return HEADER_BYTES + q * QUEUE_REGS_BYTES + r;
}

/** Byte offset of slot i of queue q's submission ring. */
export function sqeOffset(entries: number, q: number, i: number): number {
  return RINGS_OFFSET + q * entries * (SQE_BYTES + CQE_BYTES) + i * SQE_BYTES;
}

/** Byte offset of slot i of queue q's completion ring. */
export function cqeOffset(entries: number, q: number, i: number): number {
  return RINGS_OFFSET + q * entries * (SQE_BYTES + CQE_BYTES) + entries * SQE_BYTES + i * CQE_BYTES;
}

/** Index of a byte offset's 32-bit word, for Atomics on an Int32Array over the queue memory or the control words. */
export function word(byteOffset: number): number {
  return byteOffset >>> 2;
}

export function checkEntries(entries: number): void {
  if (!Number.isInteger(entries) || entries < MIN_ENTRIES || entries > MAX_ENTRIES) {
    throw new RangeError(`nvme: queue entries must be an integer in [${MIN_ENTRIES}, ${MAX_ENTRIES}], got ${entries}`);
  }
}

export function checkMaxQueues(maxQueues: number): void {
  if (!Number.isInteger(maxQueues) || maxQueues < 2 || maxQueues > MAX_QUEUES) {
    throw new RangeError(`nvme: maxQueues (the admin queue included) must be an integer in [2, ${MAX_QUEUES}], got ${maxQueues}`);
  }
}

/** Writes the identify words of the mirror (the host before the device starts; the device at each status change). */
export function writeIdentify(v: DataView, entries: number, blockSize: number, blocks: number, maxQueues: number): void {
  v.setUint32(Reg.ENTRIES, entries, true);
  v.setUint32(Reg.BLOCK_SIZE, blockSize, true);
  v.setUint32(Reg.BLOCKS_LO, blocks >>> 0, true);
  v.setUint32(Reg.BLOCKS_HI, Math.floor(blocks / 2 ** 32), true);
  v.setUint32(Reg.MAX_QUEUES, maxQueues, true);
}

/** Writes command `c` into the submission slot at byte offset `o` (sqeOffset). */
export function writeSqe(v: DataView, o: number, c: Command): void {
  v.setUint16(o + Sqe.OPCODE, c.opcode, true);
  v.setUint16(o + Sqe.CID, c.cid, true);
  v.setUint32(o + Sqe.COUNT, c.count, true);
  v.setUint32(o + Sqe.LBA_LO, c.lba >>> 0, true);
  v.setUint32(o + Sqe.LBA_HI, Math.floor(c.lba / 2 ** 32), true);
  v.setUint32(o + Sqe.BUF_IOVA, c.bufIova, true);
  v.setUint32(o + Sqe.BUF_LENGTH, c.bufLength, true);
}

/** Reads the submission slot at byte offset `o` into `c` (reused by the device: no allocation per command). */
export function readSqe(v: DataView, o: number, c: Command): Command {
  c.opcode = v.getUint16(o + Sqe.OPCODE, true);
  c.cid = v.getUint16(o + Sqe.CID, true);
  c.count = v.getUint32(o + Sqe.COUNT, true);
  c.lba = v.getUint32(o + Sqe.LBA_HI, true) * 2 ** 32 + v.getUint32(o + Sqe.LBA_LO, true);
  c.bufIova = v.getUint32(o + Sqe.BUF_IOVA, true);
  c.bufLength = v.getUint32(o + Sqe.BUF_LENGTH, true);
  return c;
}

/** The status word of a completion: status code above the phase bit. */
export function statusWord(status: number, phase: number): number {
  return ((status & 0x7fff) << 1) | (phase & 1);
}

/** Writes a completion's fields, at byte offset `o` (cqeOffset), except the status word (which the writer publishes last, atomically). */
export function writeCqeBody(v: DataView, o: number, cid: number, result: number, sqHead: number): void {
  v.setUint32(o + Cqe.RESULT, result, true);
  v.setUint32(o + Cqe.SQ_HEAD, sqHead, true);
  v.setUint16(o + Cqe.CID, cid, true);
}

/** Reads the completion at byte offset `o` whose status word `sw` the reader already loaded atomically. */
export function readCqe(v: DataView, o: number, sw: number): Completion {
  return {
    cid: v.getUint16(o + Cqe.CID, true),
    status: sw >>> 1,
    result: v.getUint32(o + Cqe.RESULT, true),
    sqHead: v.getUint32(o + Cqe.SQ_HEAD, true),
  };
}

/** CREATE_IO_QUEUE for queue `qid`: an interrupt per `threshold` completions, or `timeUs` after the oldest unsignalled one. */
export function createQueueCommand(cid: number, qid: number, threshold: number, timeUs: number): Command {
  return { opcode: AdminOpcode.CREATE_IO_QUEUE, cid, lba: timeUs * 2 ** 32 + qid, count: threshold, bufIova: 0, bufLength: 0 };
}

/** DELETE_IO_QUEUE for queue `qid` (its pending commands are dropped, never completed). */
export function deleteQueueCommand(cid: number, qid: number): Command {
  return { opcode: AdminOpcode.DELETE_IO_QUEUE, cid, lba: qid, count: 0, bufIova: 0, bufLength: 0 };
}

export function identifyCommand(cid: number): Command {
  return { opcode: AdminOpcode.IDENTIFY, cid, lba: 0, count: 0, bufIova: 0, bufLength: 0 };
}

/** The atomic operations a QueuePair uses: Atomics itself, or the kernel's AtomicOps for a driver domain. */
export interface QueueAtomics {
  load(a: Int32Array, i: number): number;
  store(a: Int32Array, i: number, v: number): number;
  add(a: Int32Array, i: number, v: number): number;
  notify(a: Int32Array, i: number, count?: number): number;
}

/**
 * The driver's side of queue pair q: its SQ tail, CQ head and expected phase, and how many
 * commands are outstanding. It writes only q's submission ring, q's driver words and DOORBELL,
 * and reads completions by phase bit with Atomics.load; it never blocks. submit() rings the
 * doorbell at once; enqueue() then ring() make a batch cost one doorbell.
 */
export class QueuePair {
  readonly q: number;
  readonly entries: number;
  private readonly view: DataView;
  private readonly words: Int32Array;
  private readonly atomics: QueueAtomics;
  private readonly sqTailWord: number;
  private readonly cqHeadWord: number;
  private sqTail = 0;
  private rung = 0;
  private cqHead = 0;
  private phase = 1;
  private outstanding = 0;

  /**
   * Queue q over `memory`. Its ring size and queue count come from `identify` if given (the host,
   * which configured the device and trusts no word a driver can write), else from the mirror's
   * identify words (a driver).
   */
  constructor(memory: SharedArrayBuffer, q: number, atomics: QueueAtomics, identify?: { entries: number; maxQueues: number }) {
    this.atomics = atomics;
    this.view = new DataView(memory);
    this.words = new Int32Array(memory);
    this.entries = identify ? identify.entries : this.view.getUint32(Reg.ENTRIES, true);
    checkEntries(this.entries);
    const maxQueues = identify ? identify.maxQueues : this.view.getUint32(Reg.MAX_QUEUES, true);
    checkMaxQueues(maxQueues);
    if (!Number.isInteger(q) || q < 0 || q >= maxQueues) throw new RangeError(`nvme: no queue ${q} (the device has ${maxQueues})`);
    if (memory.byteLength < queueBytes(this.entries, maxQueues)) throw new RangeError('nvme: queue memory is too small for its queues');
    this.q = q;
    this.sqTailWord = word(queueReg(q, QueueReg.SQ_TAIL));
    this.cqHeadWord = word(queueReg(q, QueueReg.CQ_HEAD));
  }

  /** Commands submitted and not yet completed. */
  get inFlight(): number {
    return this.outstanding;
  }

  /** Writes `c` into the next submission slot and rings the doorbell: SUCCESS, or QUEUE_FULL (nothing written). */
  submit(c: Command): number {
    const s = this.enqueue(c);
    if (s === Status.SUCCESS) this.ring();
    return s;
  }

  /** Writes `c` into the next submission slot without telling the device (see ring): SUCCESS, or QUEUE_FULL. */
  enqueue(c: Command): number {
    if (this.outstanding >= this.entries - 1) return Status.QUEUE_FULL;
    writeSqe(this.view, sqeOffset(this.entries, this.q, this.sqTail), c);
    this.sqTail = this.sqTail + 1 === this.entries ? 0 : this.sqTail + 1;
    this.outstanding++;
    return Status.SUCCESS;
  }

  /** Hands every enqueued command to the device: one SQ_TAIL store and one doorbell. */
  ring(): void {
    if (this.rung === this.sqTail) return;
    this.rung = this.sqTail;
    this.atomics.store(this.words, this.sqTailWord, this.sqTail);
    this.wakeIdle();
  }

  /** The next completion if the device has posted one (and frees its slot), else null. */
  poll(): Completion | null {
    const o = cqeOffset(this.entries, this.q, this.cqHead);
    const sw = this.atomics.load(this.words, word(o + Cqe.STATUS));
    if ((sw & 1) !== this.phase) return null;
    const c = readCqe(this.view, o, sw);
    this.cqHead = this.cqHead + 1 === this.entries ? 0 : this.cqHead + 1;
    if (this.cqHead === 0) this.phase ^= 1;
    this.outstanding--;
    this.atomics.store(this.words, this.cqHeadWord, this.cqHead);
    if (this.atomics.load(this.words, word(Reg.SLEEPING)) === Sleeping.CQ_WAIT) this.wake();
    return c;
  }

  /** After a store the device must see: rings DOORBELL if the device is not busy (it then looks
   *  again; the SLEEPING protocol). */
  private wakeIdle(): void {
    if (this.atomics.load(this.words, word(Reg.SLEEPING)) !== Sleeping.BUSY) this.wake();
  }

  /** Rings DOORBELL for an idle device. */
  private wake(): void {
    this.atomics.add(this.words, word(Reg.DOORBELL), 1);
    this.atomics.notify(this.words, word(Reg.DOORBELL));
  }

  /** Masks (true: polling, no interrupts) or unmasks q's interrupts. A completion posted while
   *  masked raises the interrupt once q is unmasked, unless the driver has consumed it by then. */
  mask(on: boolean): void {
    this.atomics.store(this.words, word(queueReg(this.q, QueueReg.INT_MASK)), on ? 1 : 0);
    if (!on) this.wakeIdle();
  }

  /** Interrupts the device has raised for q. */
  irqs(): number {
    return this.atomics.load(this.words, word(queueReg(this.q, QueueReg.IRQS)));
  }

  /** Completions the device has posted on q. */
  events(): number {
    return this.atomics.load(this.words, word(queueReg(this.q, QueueReg.EVENTS)));
  }

  /** The device status (DeviceStatus), as the mirror in the queue memory shows it. */
  deviceStatus(): number {
    return this.atomics.load(this.words, word(Reg.STATUS));
  }

  /** Forgets every command: for after a controller reset or the queue's deletion (the device zeroed its side). */
  reset(): void {
    this.sqTail = 0;
    this.rung = 0;
    this.cqHead = 0;
    this.phase = 1;
    this.outstanding = 0;
  }
}

// The NVMe-like block device's registers and queues: the layout shared by the device model
// (machine/node/nvme.ts) and the drivers that will run in domains. Runtime-neutral: plain
// constants and small functions over a DataView (and, for the words two threads race on, an
// Int32Array over the same buffer, used only through Atomics).
//
// One SharedArrayBuffer, the "queue memory", holds, in this order:
//
//   control region, CONTROL_BYTES, 32-bit little-endian words:
//     SQ_TAIL     doorbell: the driver's submission-queue tail        written by the driver only
//     CQ_HEAD     doorbell: the driver's completion-queue head        written by the driver only
//     STATUS      DeviceStatus (OFF, READY, FATAL, STOPPED, POWER_LOST) written by the device only
//     EVENTS      "interrupt" counter, +1 per posted completion       written by the device only
//     SQ_HEAD     how far the device has consumed the submission queue written by the device only
//     ENTRIES, BLOCK_SIZE, BLOCKS_LO, BLOCKS_HI  identify data, set before the device starts
//     POWER_CUT   nonzero: cut the device's power (a test's switch)   written by the host only
//   submission queue: `entries` entries of SQE_BYTES                 written by the driver only
//   completion queue: `entries` entries of CQE_BYTES                 written by the device only
//
// Submission entry (SQE_BYTES): u16 opcode, u16 command id, u32 block count, u32 LBA low,
// u32 LBA high, u32 buffer offset, u32 buffer length (both into the separate DMA buffer: the
// exchange heap's arena later), 8 bytes reserved.
// Completion entry (CQE_BYTES): u32 result (bytes moved), u32 SQ head after this command, u16
// command id, u16 reserved, u32 status word = status << 1 | phase (as NVMe's DW3).
//
// Invariants:
//   - the queues are rings of `entries` slots; a ring with head == tail is empty, so at most
//     entries - 1 commands are outstanding (the driver keeps to that; QUEUE_FULL otherwise);
//   - publication order: the driver writes an entry with plain stores and then stores SQ_TAIL with
//     Atomics.store (and notifies it, in case the device sleeps on it); the device writes a
//     completion's other fields first and its status word last, with Atomics.store. Readers use
//     Atomics.load on the doorbell / status word before reading the rest, so they see whole entries;
//   - phase: completion slots start zeroed (phase 0); the device posts with phase 1 on its first
//     pass through the ring and flips the phase each time its tail wraps; the driver expects phase
//     1 first and flips its expectation each time its head wraps. A slot is new exactly when its
//     phase equals the expected one;
//   - the device posts a completion only while the completion ring has a free slot (tail + 1 !=
//     CQ_HEAD), and completes commands in the order they were submitted;
//   - a doorbell holding an index outside [0, entries) is a driver bug: the device sets FATAL and
//     stops processing (real NVMe's controller fatal status);
//   - power loss: the device checks POWER_CUT between commands (and while it waits); once it acts
//     on it, it sets POWER_LOST and never posts another completion, so commands in flight then
//     never complete. Its volatile write cache is gone; durable storage holds what was flushed,
//     plus possibly some of the unflushed blocks, each whole or not at all.

/** Command opcodes. */
export const Opcode = { READ: 1, WRITE: 2, FLUSH: 3 } as const;

/** Completion status codes (0 is success). QUEUE_FULL is reported by the driver side, never posted. */
export const Status = {
  SUCCESS: 0,
  INVALID_OPCODE: 1,
  LBA_OUT_OF_RANGE: 2,
  BAD_BUFFER: 3,
  QUEUE_FULL: 4,
  INVALID_FIELD: 5,
  INTERNAL_ERROR: 6,
  /** the backing medium failed the transfer (an I/O error on a disk image) */
  MEDIA_ERROR: 7,
} as const;

/** The device status word. */
export const DeviceStatus = { OFF: 0, READY: 1, FATAL: 2, STOPPED: 3, POWER_LOST: 4 } as const;

/** Byte offsets of the control words. */
export const Reg = {
  SQ_TAIL: 0,
  CQ_HEAD: 4,
  STATUS: 8,
  EVENTS: 12,
  SQ_HEAD: 16,
  ENTRIES: 20,
  BLOCK_SIZE: 24,
  BLOCKS_LO: 28,
  BLOCKS_HI: 32,
  POWER_CUT: 36,
} as const;

export const CONTROL_BYTES = 64;
export const SQE_BYTES = 32;
export const CQE_BYTES = 16;
export const MIN_ENTRIES = 2;
export const MAX_ENTRIES = 65536;
export const BLOCK_SIZES: readonly number[] = [512, 4096];

/** Byte offsets of the fields inside a submission entry. */
export const Sqe = { OPCODE: 0, CID: 2, COUNT: 4, LBA_LO: 8, LBA_HI: 12, BUF_OFFSET: 16, BUF_LENGTH: 20 } as const;
/** Byte offsets of the fields inside a completion entry. */
export const Cqe = { RESULT: 0, SQ_HEAD: 4, CID: 8, STATUS: 12 } as const;

export interface Command {
  opcode: number;
  cid: number;
  /** first block; a Number below 2^53 */
  lba: number;
  count: number;
  bufOffset: number;
  bufLength: number;
}

export interface Completion {
  cid: number;
  status: number;
  result: number;
  sqHead: number;
}

/** Bytes of queue memory for `entries` entries per queue. */
export function queueBytes(entries: number): number {
  return CONTROL_BYTES + entries * (SQE_BYTES + CQE_BYTES);
}

export function sqeOffset(i: number): number {
  return CONTROL_BYTES + i * SQE_BYTES;
}

export function cqeOffset(entries: number, i: number): number {
  return CONTROL_BYTES + entries * SQE_BYTES + i * CQE_BYTES;
}

/** Index of a byte offset's 32-bit word, for Atomics on an Int32Array over the queue memory. */
export function word(byteOffset: number): number {
  return byteOffset >>> 2;
}

export function checkEntries(entries: number): void {
  if (!Number.isInteger(entries) || entries < MIN_ENTRIES || entries > MAX_ENTRIES) {
    throw new RangeError(`nvme: queue entries must be an integer in [${MIN_ENTRIES}, ${MAX_ENTRIES}], got ${entries}`);
  }
}

/** Writes the identify words (before the device starts). */
export function writeIdentify(v: DataView, entries: number, blockSize: number, blocks: number): void {
  v.setUint32(Reg.ENTRIES, entries, true);
  v.setUint32(Reg.BLOCK_SIZE, blockSize, true);
  v.setUint32(Reg.BLOCKS_LO, blocks >>> 0, true);
  v.setUint32(Reg.BLOCKS_HI, Math.floor(blocks / 2 ** 32), true);
}

export function writeSqe(v: DataView, i: number, c: Command): void {
  const o = sqeOffset(i);
  v.setUint16(o + Sqe.OPCODE, c.opcode, true);
  v.setUint16(o + Sqe.CID, c.cid, true);
  v.setUint32(o + Sqe.COUNT, c.count, true);
  v.setUint32(o + Sqe.LBA_LO, c.lba >>> 0, true);
  v.setUint32(o + Sqe.LBA_HI, Math.floor(c.lba / 2 ** 32), true);
  v.setUint32(o + Sqe.BUF_OFFSET, c.bufOffset, true);
  v.setUint32(o + Sqe.BUF_LENGTH, c.bufLength, true);
}

export function readSqe(v: DataView, i: number): Command {
  const o = sqeOffset(i);
  return {
    opcode: v.getUint16(o + Sqe.OPCODE, true),
    cid: v.getUint16(o + Sqe.CID, true),
    count: v.getUint32(o + Sqe.COUNT, true),
    lba: v.getUint32(o + Sqe.LBA_HI, true) * 2 ** 32 + v.getUint32(o + Sqe.LBA_LO, true),
    bufOffset: v.getUint32(o + Sqe.BUF_OFFSET, true),
    bufLength: v.getUint32(o + Sqe.BUF_LENGTH, true),
  };
}

/** The status word of a completion: status code above the phase bit. */
export function statusWord(status: number, phase: number): number {
  return ((status & 0x7fff) << 1) | (phase & 1);
}

/** Writes a completion's fields except the status word (which the writer publishes last, atomically). */
export function writeCqeBody(v: DataView, entries: number, i: number, cid: number, result: number, sqHead: number): void {
  const o = cqeOffset(entries, i);
  v.setUint32(o + Cqe.RESULT, result, true);
  v.setUint32(o + Cqe.SQ_HEAD, sqHead, true);
  v.setUint16(o + Cqe.CID, cid, true);
}

/** Reads a completion whose status word `sw` the reader already loaded atomically. */
export function readCqe(v: DataView, entries: number, i: number, sw: number): Completion {
  const o = cqeOffset(entries, i);
  return {
    cid: v.getUint16(o + Cqe.CID, true),
    status: sw >>> 1,
    result: v.getUint32(o + Cqe.RESULT, true),
    sqHead: v.getUint32(o + Cqe.SQ_HEAD, true),
  };
}

/**
 * The driver's side of one queue pair: its SQ tail, CQ head and expected phase, and how many
 * commands are outstanding. It writes only the submission queue and the two doorbells, and reads
 * completions by phase bit with Atomics.load; it never blocks.
 */
export class QueuePair {
  readonly entries: number;
  private readonly view: DataView;
  private readonly words: Int32Array;
  private sqTail = 0;
  private cqHead = 0;
  private phase = 1;
  private outstanding = 0;

  constructor(memory: SharedArrayBuffer) {
    this.view = new DataView(memory);
    this.words = new Int32Array(memory);
    this.entries = this.view.getUint32(Reg.ENTRIES, true);
    checkEntries(this.entries);
    if (memory.byteLength < queueBytes(this.entries)) throw new RangeError('nvme: queue memory is too small for its entries');
  }

  /** Commands submitted and not yet completed. */
  get inFlight(): number {
    return this.outstanding;
  }

  /** Writes `c` into the next submission slot and rings the doorbell: SUCCESS, or QUEUE_FULL (nothing written). */
  submit(c: Command): number {
    if (this.outstanding >= this.entries - 1) return Status.QUEUE_FULL;
    writeSqe(this.view, this.sqTail, c);
    this.sqTail = (this.sqTail + 1) % this.entries;
    this.outstanding++;
    Atomics.store(this.words, word(Reg.SQ_TAIL), this.sqTail);
    Atomics.notify(this.words, word(Reg.SQ_TAIL));
    return Status.SUCCESS;
  }

  /** The next completion if the device has posted one (and frees its slot), else null. */
  poll(): Completion | null {
    const sw = Atomics.load(this.words, word(cqeOffset(this.entries, this.cqHead) + Cqe.STATUS));
    if ((sw & 1) !== this.phase) return null;
    const c = readCqe(this.view, this.entries, this.cqHead, sw);
    this.cqHead = (this.cqHead + 1) % this.entries;
    if (this.cqHead === 0) this.phase ^= 1;
    this.outstanding--;
    Atomics.store(this.words, word(Reg.CQ_HEAD), this.cqHead);
    Atomics.notify(this.words, word(Reg.CQ_HEAD));
    return c;
  }

  /** The device status word (DeviceStatus). */
  deviceStatus(): number {
    return Atomics.load(this.words, word(Reg.STATUS));
  }

  /** The event ("interrupt") counter. */
  events(): number {
    return Atomics.load(this.words, word(Reg.EVENTS));
  }
}

// The UART-like console device's registers and rings: the layout shared by the device model
// (machine/node/console.ts) and the drivers that will run in domains (rv6's console first).
// Runtime-neutral: plain constants and small functions over a Uint8Array and an Int32Array over
// the same SharedArrayBuffer (the words two threads race on are used only through Atomics).
// Nothing here names the Atomics global: a driver domain's compartment has none (and the domain
// build refuses the name), so ConsolePort and writeIdentify take the atomic operations as a
// parameter (ConsoleAtomics: the kernel's AtomicOps, or Atomics itself in host code).
//
// One SharedArrayBuffer, the "console memory", holds, in this order:
//
//   control region, CONTROL_BYTES, 32-bit little-endian words:
//     RX_HEAD    how far the driver has read the receive ring          written by the driver only
//     RX_TAIL    how far the device has filled the receive ring        written by the device only
//     TX_HEAD    how far the device has consumed the transmit ring     written by the device only
//     TX_TAIL    how far the driver has filled the transmit ring       written by the driver only
//     STATUS     StatusBit flags (READY, EOF, STOPPED, RAW)            written by the device only
//     RX_EVENTS  "interrupt" counter: +1 each time input arrives (or EOF is set)   device only
//     TX_EVENTS  +1 each time the device frees transmit-ring room      written by the device only
//     RX_SIZE, TX_SIZE   ring sizes in bytes, set before the device starts
//   receive ring: RX_SIZE bytes                                        written by the device only
//   transmit ring: TX_SIZE bytes                                       written by the driver only
//
// Invariants:
//   - each ring is `size` bytes with indices in [0, size); head == tail is empty, so a ring holds
//     at most size - 1 bytes. The writer of a ring owns its tail, the reader its head;
//   - publication order: a writer copies bytes with plain stores, then stores its tail with
//     Atomics.store and notifies the tail word; a reader Atomics.loads the tail before reading the
//     bytes, then stores its head with Atomics.store and notifies the head word (a writer waiting
//     for room sleeps on it). So the reader sees whole bytes and the writer never overwrites
//     unread ones;
//   - no byte is lost or reordered: the device writes input to the receive ring only while it has
//     room and keeps the rest (and stops reading its source) until the driver frees some; it takes
//     transmit bytes from the ring only as fast as its sink accepts them, so a driver that prints
//     faster than the sink sees the ring full (write() returns less than asked) and retries;
//   - EOF is set only once every byte of input has been put in the receive ring: a driver that
//     sees EOF and then an empty ring has read all the input (eof() checks both in that order);
//   - RX_EVENTS is bumped (Atomics.add, then notify on it) after RX_TAIL or STATUS is published,
//     so a driver that waits on RX_EVENTS and then reads finds what woke it.

/** STATUS flags. */
export const StatusBit = {
  READY: 1,
  EOF: 2,
  STOPPED: 4,
  /** the input is a terminal in raw mode: it does not echo or edit, so the driver echoes */
  RAW: 8,
} as const;

/** Byte offsets of the control words. */
export const Reg = {
  RX_HEAD: 0,
  RX_TAIL: 4,
  TX_HEAD: 8,
  TX_TAIL: 12,
  STATUS: 16,
  RX_EVENTS: 20,
  TX_EVENTS: 24,
  RX_SIZE: 28,
  TX_SIZE: 32,
} as const;

export const CONTROL_BYTES = 64;
export const MIN_RING = 2;
export const MAX_RING = 1 << 24;

/** Index of a byte offset's 32-bit word, for Atomics on an Int32Array over the console memory. */
export function word(byteOffset: number): number {
  return byteOffset >>> 2;
}

export function checkRing(name: string, size: number): void {
  if (!Number.isInteger(size) || size < MIN_RING || size > MAX_RING) {
    throw new RangeError(`console: ${name} must be an integer in [${MIN_RING}, ${MAX_RING}], got ${size}`);
  }
}

/** Bytes of console memory for the given ring sizes. */
export function consoleBytes(rxSize: number, txSize: number): number {
  return CONTROL_BYTES + rxSize + txSize;
}

export function rxOffset(): number {
  return CONTROL_BYTES;
}

export function txOffset(rxSize: number): number {
  return CONTROL_BYTES + rxSize;
}

/** Bytes in a ring of `size` between head and tail. */
export function ringCount(head: number, tail: number, size: number): number {
  return (tail - head + size) % size;
}

/** Bytes that can still be written into a ring of `size`. */
export function ringFree(head: number, tail: number, size: number): number {
  return size - 1 - ringCount(head, tail, size);
}

/** Copies up to ringFree bytes of `src` into the ring at `base` from `tail`; returns how many. */
export function ringPut(mem: Uint8Array, base: number, size: number, head: number, tail: number, src: Uint8Array): number {
  const n = Math.min(src.length, ringFree(head, tail, size));
  const first = Math.min(n, size - tail);
  mem.set(src.subarray(0, first), base + tail);
  if (n > first) mem.set(src.subarray(first, n), base);
  return n;
}

/** Copies up to ringCount bytes from the ring at `base`, from `head`, into `dst`; returns how many. */
export function ringGet(mem: Uint8Array, base: number, size: number, head: number, tail: number, dst: Uint8Array): number {
  const n = Math.min(dst.length, ringCount(head, tail, size));
  const first = Math.min(n, size - head);
  dst.set(mem.subarray(base + head, base + head + first), 0);
  if (n > first) dst.set(mem.subarray(base, base + n - first), first);
  return n;
}

/** The atomic operations the console's code uses: Atomics itself, or the kernel's AtomicOps. */
export interface ConsoleAtomics {
  load(a: Int32Array, i: number): number;
  store(a: Int32Array, i: number, v: number): number;
  notify(a: Int32Array, i: number, count?: number): number;
}

/** Writes the ring sizes (before the device starts). */
export function writeIdentify(A: ConsoleAtomics, words: Int32Array, rxSize: number, txSize: number): void {
  A.store(words, word(Reg.RX_SIZE), rxSize);
  A.store(words, word(Reg.TX_SIZE), txSize);
}

/**
 * The driver's side of the console: reads the receive ring and fills the transmit ring. It never
 * blocks; a driver that wants to sleep waits on RX_EVENTS (input) or TX_HEAD (room) itself.
 */
export class ConsolePort {
  readonly rxSize: number;
  readonly txSize: number;
  readonly words: Int32Array;
  private readonly mem: Uint8Array;

  constructor(memory: SharedArrayBuffer, private readonly A: ConsoleAtomics) {
    this.words = new Int32Array(memory);
    this.mem = new Uint8Array(memory);
    this.rxSize = A.load(this.words, word(Reg.RX_SIZE));
    this.txSize = A.load(this.words, word(Reg.TX_SIZE));
    checkRing('rxSize', this.rxSize);
    checkRing('txSize', this.txSize);
    if (memory.byteLength < consoleBytes(this.rxSize, this.txSize)) throw new RangeError('console: memory is too small for its rings');
  }

  private load(reg: number): number {
    return this.A.load(this.words, word(reg));
  }

  /** Input bytes waiting in the receive ring. */
  readable(): number {
    return ringCount(this.load(Reg.RX_HEAD), this.load(Reg.RX_TAIL), this.rxSize);
  }

  /** Free bytes in the transmit ring. */
  writable(): number {
    return ringFree(this.load(Reg.TX_HEAD), this.load(Reg.TX_TAIL), this.txSize);
  }

  /** Moves up to dst.length input bytes into `dst` and frees their room; returns how many (0: none yet). */
  read(dst: Uint8Array): number {
    const head = this.load(Reg.RX_HEAD);
    const n = ringGet(this.mem, rxOffset(), this.rxSize, head, this.load(Reg.RX_TAIL), dst);
    if (n > 0) {
      this.A.store(this.words, word(Reg.RX_HEAD), (head + n) % this.rxSize);
      this.A.notify(this.words, word(Reg.RX_HEAD));
    }
    return n;
  }

  /** Puts as many bytes of `src` as fit into the transmit ring; returns how many (the caller retries the rest). */
  write(src: Uint8Array): number {
    const tail = this.load(Reg.TX_TAIL);
    const n = ringPut(this.mem, txOffset(this.rxSize), this.txSize, this.load(Reg.TX_HEAD), tail, src);
    if (n > 0) {
      this.A.store(this.words, word(Reg.TX_TAIL), (tail + n) % this.txSize);
      this.A.notify(this.words, word(Reg.TX_TAIL));
    }
    return n;
  }

  /** The STATUS flags. */
  status(): number {
    return this.load(Reg.STATUS);
  }

  /** Whether all input has been read: EOF is set and the receive ring is empty (checked in that order). */
  eof(): boolean {
    return (this.status() & StatusBit.EOF) !== 0 && this.readable() === 0;
  }

  /** The receive "interrupt" counter. */
  rxEvents(): number {
    return this.load(Reg.RX_EVENTS);
  }

  /** The transmit-room event counter. */
  txEvents(): number {
    return this.load(Reg.TX_EVENTS);
  }
}

// The UART-like console device model on Node, over the layout of machine/common/console.ts. It runs
// on the host's thread, event-driven: its source and sink are Node streams (the host's stdin and
// stdout by default, any Readable / Writable for tests), which live on this thread's event loop.
// It waits for the driver with Atomics.waitAsync on the ring words, so it costs nothing while idle
// and never polls; a driver on another thread wakes it with its Atomics.notify, one on this thread
// with the same notify once it yields to the event loop.
//
// Receive: bytes from the input stream go into the receive ring as they arrive. On a TTY the
// terminal is put in raw mode (every keystroke at once, no echo, no line editing, ^C and ^D
// delivered as bytes) and its previous mode is restored by stop(); otherwise (a pipe, a file) input
// comes as the host delivers it, typically line by line, and the end of input sets EOF. What does
// not fit stays here, and the stream is paused, until the driver frees room (the device sleeps on
// RX_HEAD): nothing is dropped.
// Transmit: the device takes what the driver put in the transmit ring, frees the room, and writes
// it to the output stream; when the stream asks for back-pressure (write() returns false) it takes
// nothing more until 'drain', so the ring fills and the driver waits: nothing is dropped. In raw
// mode a TTY no longer turns "\n" into "\r\n", so the device does it (crlf, on by default then).
//
// Data path: no postMessage; stream callbacks and Atomics only.
//
// As a kernel Device (machine/common/device.ts; Kernel.attachDevice): onInterrupt(fn) watches
// RX_EVENTS and TX_EVENTS with Atomics.waitAsync and calls fn once per change seen of either: the
// receive interrupt (input arrived, or EOF) and the transmit one (ring room freed), as a UART
// raises both (xv6 uartintr). reset() does nothing and returns true: the device has no commands in
// flight and does no DMA, and the rings' positions live in the console memory, so a new driver
// continues from them (input its predecessor had not taken from the receive ring is still there;
// output it had put in the transmit ring is still sent).
//
// Invariants:
//   - receive-ring bytes are exactly the input's bytes, in order; EOF is set only after the last of
//     them is in the ring (see the common file);
//   - transmit bytes reach the output in the order the driver wrote them, each once;
//   - stop() removes its listeners from the input, pauses it, restores the terminal mode, writes
//     what the driver had put in the transmit ring before the call, ends the onInterrupt loops and
//     sets STOPPED. A running
//     console keeps the process alive only as long as its input stream does (a pending
//     Atomics.waitAsync does not keep Node alive).
import type { Readable, Writable } from 'node:stream';
import type { Device } from '../common/device.ts';
import { changed, watchWord } from './interrupts.ts';
import {
  ConsolePort, Reg, StatusBit, checkRing, consoleBytes, ringCount, ringGet, ringPut, rxOffset, txOffset, word, writeIdentify,
} from '../common/console.ts';

export const DEFAULT_RX_SIZE = 4096;
export const DEFAULT_TX_SIZE = 4096;

export interface ConsoleOptions {
  /** default process.stdin */
  input?: Readable;
  /** default process.stdout */
  output?: Writable;
  /** receive ring bytes (holds one less) */
  rxSize?: number;
  /** transmit ring bytes (holds one less) */
  txSize?: number;
  /** put a TTY input in raw mode; default: whether the input is a TTY with setRawMode */
  raw?: boolean;
  /** write "\n" as "\r\n"; default: raw mode was set and the output is a TTY */
  crlf?: boolean;
}

export interface ConsoleDevice extends Device {
  /** the console memory (control words, receive ring, transmit ring) */
  readonly memory: SharedArrayBuffer;
  /** the driver's side */
  readonly port: ConsolePort;
  /** whether the input was put in raw mode */
  readonly raw: boolean;
  /** the first error of the input or output stream, if any (input errors also set EOF) */
  readonly error: Error | null;
  /** calls `fn` at each receive or transmit event (see the header); returns what ends the loop */
  onInterrupt(fn: () => void): () => void;
  /** nothing to reset: true (see the header) */
  reset(timeoutMs?: number): boolean;
  /** stops the device (see the invariants); resolves once pending transmit bytes are written */
  stop(): Promise<void>;
}

interface TtyLike { isTTY?: boolean; isRaw?: boolean; setRawMode?(mode: boolean): unknown }

function toCrlf(b: Uint8Array): Uint8Array {
  let lf = 0;
  for (const c of b) if (c === 10) lf++;
  if (lf === 0) return b;
  const out = new Uint8Array(b.length + lf);
  let j = 0;
  for (const c of b) {
    if (c === 10) out[j++] = 13;
    out[j++] = c;
  }
  return out;
}

/** Starts a console on this thread's event loop. */
export function startConsole(o: ConsoleOptions = {}): ConsoleDevice {
  const input = o.input ?? process.stdin;
  const output = o.output ?? process.stdout;
  const rxSize = o.rxSize ?? DEFAULT_RX_SIZE;
  const txSize = o.txSize ?? DEFAULT_TX_SIZE;
  checkRing('rxSize', rxSize);
  checkRing('txSize', txSize);
  const memory = new SharedArrayBuffer(consoleBytes(rxSize, txSize));
  const words = new Int32Array(memory);
  const mem = new Uint8Array(memory);
  writeIdentify(Atomics, words, rxSize, txSize);
  const port = new ConsolePort(memory, Atomics);
  const load = (reg: number): number => Atomics.load(words, word(reg));
  let error: Error | null = null;
  let stopped = false;
  const fail = (e: unknown): void => { error ??= e instanceof Error ? e : new Error(String(e)); };

  const tty = input as Readable & TtyLike;
  const canRaw = typeof tty.setRawMode === 'function';
  const raw = (o.raw ?? tty.isTTY === true) && canRaw;
  const wasRaw = tty.isRaw === true;
  if (raw) tty.setRawMode?.(true);
  const crlf = o.crlf ?? (raw && (output as Writable & TtyLike).isTTY === true);

  // ---- receive: input stream -> receive ring
  const pending: Uint8Array[] = [];
  let rxTail = 0;
  let ended = false;
  let eofSet = false;
  let paused = false;
  let waitingForRoom = false;

  function raiseRx(): void {
    Atomics.add(words, word(Reg.RX_EVENTS), 1);
    Atomics.notify(words, word(Reg.RX_EVENTS));
  }

  function deliver(): void {
    if (stopped) return;
    let moved = false;
    while (pending.length > 0) {
      const n = ringPut(mem, rxOffset(), rxSize, load(Reg.RX_HEAD), rxTail, pending[0]);
      if (n === 0) break;
      rxTail = (rxTail + n) % rxSize;
      moved = true;
      if (n === pending[0].length) pending.shift();
      else pending[0] = pending[0].subarray(n);
    }
    if (moved) {
      Atomics.store(words, word(Reg.RX_TAIL), rxTail);
      Atomics.notify(words, word(Reg.RX_TAIL));
    }
    if (pending.length > 0) {
      if (!paused) { paused = true; input.pause(); }
      waitForRoom();
    } else if (ended && !eofSet) {
      eofSet = true;
      Atomics.or(words, word(Reg.STATUS), StatusBit.EOF);
      Atomics.notify(words, word(Reg.STATUS));
      moved = true;
    } else if (paused && !ended) {
      paused = false;
      input.resume();
    }
    if (moved) raiseRx();
  }

  function waitForRoom(): void {
    if (waitingForRoom) return;
    waitingForRoom = true;
    void changed(words, word(Reg.RX_HEAD), load(Reg.RX_HEAD)).then(() => {
      waitingForRoom = false;
      deliver();
    });
  }

  const onData = (chunk: Uint8Array | string): void => {
    pending.push(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk);
    deliver();
  };
  const onEnd = (): void => { ended = true; deliver(); };
  const onError = (e: unknown): void => { fail(e); onEnd(); };
  input.on('data', onData);
  input.on('end', onEnd);
  input.on('error', onError);

  // ---- transmit: transmit ring -> output stream
  const drained = (): Promise<void> => new Promise((resolve) => {
    const done = (): void => {
      output.off('drain', done); output.off('close', done); output.off('error', done);
      resolve();
    };
    output.on('drain', done); output.on('close', done); output.on('error', done);
  });
  const onOutputError = (e: unknown): void => fail(e);
  output.on('error', onOutputError);

  async function transmit(): Promise<void> {
    let head = 0;
    for (;;) {
      const tail = load(Reg.TX_TAIL);
      if (tail !== head) {
        const chunk = new Uint8Array(ringCount(head, tail, txSize));
        ringGet(mem, txOffset(rxSize), txSize, head, tail, chunk);
        head = tail;
        Atomics.store(words, word(Reg.TX_HEAD), head);
        Atomics.notify(words, word(Reg.TX_HEAD));
        Atomics.add(words, word(Reg.TX_EVENTS), 1);
        Atomics.notify(words, word(Reg.TX_EVENTS));
        if (!output.write(crlf ? toCrlf(chunk) : chunk)) await drained();
        continue;
      }
      if (stopped) return;
      await changed(words, word(Reg.TX_TAIL), tail);
    }
  }
  const transmitting = transmit().catch(fail);

  Atomics.or(words, word(Reg.STATUS), StatusBit.READY | (raw ? StatusBit.RAW : 0));
  Atomics.notify(words, word(Reg.STATUS));

  // ---- interrupts: RX_EVENTS and TX_EVENTS -> fn
  const loops = new Set<() => void>();
  function onInterrupt(fn: () => void): () => void {
    const ends = [watchWord(words, word(Reg.RX_EVENTS), fn, loops), watchWord(words, word(Reg.TX_EVENTS), fn, loops)];
    return () => { for (const end of ends) end(); };
  }

  return {
    memory, port, raw,
    get error() { return error; },
    onInterrupt,
    reset: () => true,
    stop: async () => {
      if (!stopped) {
        stopped = true;
        for (const end of [...loops]) end();
        input.off('data', onData);
        input.off('end', onEnd);
        input.off('error', onError);
        input.pause();
        if (raw) tty.setRawMode?.(wasRaw);
        Atomics.notify(words, word(Reg.RX_HEAD));
        Atomics.notify(words, word(Reg.TX_TAIL));
      }
      await transmitting;
      output.off('error', onOutputError);
      Atomics.or(words, word(Reg.STATUS), StatusBit.STOPPED);
      Atomics.notify(words, word(Reg.STATUS));
    },
  };
}

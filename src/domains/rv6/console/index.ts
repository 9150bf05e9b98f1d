// rv6's console domain: drives the console device (machine/common/console.ts) and exports Console
// (idl/console.ts), after xv6's kernel/console.c (RedLeaf splits rv6 into core, fs, console and
// pipes domains; this is the console).
//
// Input: xv6's line discipline (consoleintr). Bytes are taken from the device's receive ring one
// at a time, and only while a read is waiting and no delivered line is left to serve it, so input
// nobody asked for stays in the ring: a driver started after this one died (the kernel's reset of
// the console keeps the ring positions) continues exactly where this one stopped taking bytes.
// Editing: "\r" reads as "\n"; backspace or DEL erases the last character (a whole UTF-8
// sequence); ^U erases the line; ^D ends the line without a newline, and at an empty line is end
// of file; "\n" ends the line, and so does an edit buffer full (INPUT_BUF bytes, as xv6, never
// splitting a character). Echo, when the device says its input is a terminal in raw mode
// (StatusBit.RAW: the terminal then echoes nothing itself): each byte taken is echoed, an erased
// character is wiped with "\b \b" (one column per character), ^U wipes the line, ^D echoes
// nothing. Otherwise (a pipe, a file) nothing is echoed. On a terminal, bytes are also taken as
// they are typed (up to TYPEAHEAD_MAX of lines nobody has read yet), so that echo and ^C (the
// line is discarded, "^C" echoed, intr() waiters woken: the core kills the foreground job) happen
// at once, as in xv6; typed-ahead lines then die with the domain if it crashes. The up and down
// arrows recall the last HISTORY lines typed (the line being edited is replaced, on screen too):
// the shell's history, kept where the line editor is, as a terminal driver with readline would.
//
// State: `edit` (the line being typed, bytes), `lines` (delivered lines, bytes, FIFO; an empty one
// is a ^D at an empty line: end of file), `readers` (pending reads, FIFO). Every byte taken from
// the ring is in exactly one of: edit, lines, or a read's result. Lines are decoded from UTF-8
// whole, so how the input was chunked never matters. Once the device reports the end of its input
// and the ring is empty, the edit buffer is delivered and every later read returns "".
//
// Output: write() queues the text's UTF-8 in `out` and moves as much as fits into the transmit
// ring; the rest moves at the device's next transmit interrupt (ring room freed). Nothing spins:
// both directions wait for the device's interrupts (sys.devices onInterrupt).
import type { Console } from '../../../idl/console.ts';
import type { Config, Sys } from '../../../idl/lib/sys.ts';
import type { RpcResult } from '../../../idl/lib/types.ts';
import { ok } from '../../../lib/result.ts';
import { decodeUtf8, encodeUtf8, incompleteTail, utf8Boundary } from '../../../lib/utf8.ts';
import { ConsolePort, StatusBit } from '../../../machine/common/console.ts';

/** The edit buffer's size (xv6 kernel/console.c INPUT_BUF). */
export const INPUT_BUF = 128;
/** Output queued in the domain beyond which write() takes nothing (returns 0). */
export const OUTPUT_MAX = 1 << 20;
/** On a terminal, typed lines nobody has asked for yet that the domain takes in (and echoes). */
export const TYPEAHEAD_MAX = 1 << 16;

const BS = 0x08;
const DEL = 0x7f;
const NL = 0x0a;
const CR = 0x0d;
const CTRL_C = 0x03;
const CTRL_D = 0x04;
const CTRL_U = 0x15;
const ESC = 0x1b;
/** Lines the up arrow can recall. */
export const HISTORY = 64;

interface Reader { readonly max: number; readonly resolve: (r: RpcResult<string>) => void }

function deviceName(config: Config): string {
  const c = typeof config === 'object' && config !== null && !Array.isArray(config) ? config as Record<string, Config> : {};
  return typeof c.device === 'string' ? c.device : 'console0';
}

function isContinuation(b: number): boolean {
  return (b & 0xc0) === 0x80;
}

/** Bytes of the first character of `line` (at least 1). */
function firstChar(line: Uint8Array): number {
  let n = 1;
  while (n < line.length && n < 4 && isContinuation(line[n]!)) n++;
  return n;
}

export function init(sys: Sys, _imports: Readonly<Record<string, unknown>>, config: Config): Console {
  if (!sys.devices) throw new Error('console: no device was granted to this driver');
  const dev = sys.devices.open(deviceName(config));
  const port = new ConsolePort(dev.memory, dev.atomics);
  if ((port.status() & StatusBit.READY) === 0) throw new Error(`console: ${dev.name} is not ready (status ${port.status()})`);

  // ---- input -------------------------------------------------------------------------------

  let edit: number[] = [];
  const lines: Uint8Array[] = [];
  const readers: Reader[] = [];
  let ended = false;
  /** bytes in `lines` */
  let buffered = 0;
  let interrupts = 0;
  const intrWaiters: ((r: RpcResult<number>) => void)[] = [];
  const one = new Uint8Array(1);
  const echo = (port.status() & StatusBit.RAW) !== 0;
  const WIPE = encodeUtf8('\b \b');

  function deliver(): void {
    if (echo) remember(edit);
    lines.push(Uint8Array.from(edit));
    buffered += edit.length;
    edit = [];
  }

  /** Erases the last character of the edit buffer (all of its bytes), and wipes it on screen. */
  function erase(): void {
    if (edit.length === 0) return;
    while (edit.length > 0 && isContinuation(edit[edit.length - 1]!)) edit.pop();
    edit.pop();
    if (echo) emit(WIPE);
  }

  /** One input byte through the line discipline (consoleintr). */
  function interpret(c: number): void {
    if (echo && escape(c)) return;
    if (c === CR) c = NL;
    if (c === CTRL_C && echo) {
      edit = [];
      emit(encodeUtf8('^C\n'));
      interrupts++;
      for (const w of intrWaiters.splice(0)) w(ok(interrupts));
      return;
    }
    if (c === CTRL_U) { while (edit.length > 0) erase(); return; }
    if (c === BS || c === DEL) { erase(); return; }
    if (c === CTRL_D) { deliver(); return; }
    if (c === 0) return;
    edit.push(c);
    if (echo) { one[0] = c; emit(Uint8Array.from(one)); }
    if (c === NL) deliver();
    else if (edit.length >= INPUT_BUF && (incompleteTail(edit) === 0 || edit.length >= INPUT_BUF + 3)) deliver();
    // (a character begun at the last byte of a full buffer is completed first: a line never ends
    // inside one; INPUT_BUF + 3 bytes hold it whole)
  }

  // ---- history (a terminal's up and down arrows: ESC [ A, ESC [ B) ------------------------

  const history: number[][] = [];
  let recalled = 0; // the history entry the edit buffer came from (history.length: none)
  let esc = 0;      // bytes of an escape sequence seen: 1 after ESC, 2 after ESC [

  /** Keeps a delivered line (without its newline) for the arrows. */
  function remember(line: readonly number[]): void {
    const text = line[line.length - 1] === NL ? line.slice(0, -1) : [...line];
    const last = history[history.length - 1];
    if (text.length > 0 && !(last && last.length === text.length && last.every((b, i) => b === text[i]))) history.push(text);
    if (history.length > HISTORY) history.shift();
    recalled = history.length;
  }

  /** Replaces the edit buffer by history entry `i` (or an empty line past the last), on screen too. */
  function recall(i: number): void {
    while (edit.length > 0) erase();
    recalled = i;
    const line = history[i] ?? [];
    edit = [...line];
    if (line.length > 0) emit(Uint8Array.from(line));
  }

  /** Consumes a byte of an escape sequence; true if it was one. Arrows up and down recall history;
   *  other sequences (left, right, function keys) are dropped whole. */
  function escape(c: number): boolean {
    if (esc === 0) {
      if (c !== ESC) return false;
      esc = 1;
      return true;
    }
    if (esc === 1) {
      esc = c === 0x5b || c === 0x4f ? 2 : 0; // '[' or 'O' (application mode)
      return true;
    }
    if (c >= 0x40 && c <= 0x7e) { // the final byte
      esc = 0;
      if (c === 0x41 && recalled > 0) recall(recalled - 1);
      else if (c === 0x42 && recalled < history.length) recall(recalled + 1);
    }
    return true;
  }

  /** Gives the first waiting reader up to its `max` bytes of the first line. */
  function serve(): void {
    const r = readers.shift()!;
    const line = lines[0]!;
    if (line.length === 0) { lines.shift(); r.resolve(ok('')); return; }
    const n = Math.max(utf8Boundary(line, r.max), firstChar(line));
    if (n >= line.length) lines.shift();
    else lines[0] = line.subarray(n);
    buffered -= n;
    r.resolve(ok(decodeUtf8(line.subarray(0, n))));
  }

  /** Serves the waiting readers, taking bytes from the ring only while one needs them, or, on a
   *  terminal, as they are typed (xv6's consoleintr: echo and ^C at once), up to TYPEAHEAD_MAX. */
  function pump(): void {
    for (;;) {
      if (readers.length > 0 && lines.length > 0) serve();
      else if (readers.length > 0 && ended) readers.shift()!.resolve(ok(''));
      else if (ended || (readers.length === 0 && !(echo && buffered < TYPEAHEAD_MAX))) return;
      else if (port.read(one) === 1) interpret(one[0]!);
      else if (port.eof()) {
        if (edit.length > 0) deliver();
        ended = true;
      } else return; // the next receive interrupt calls pump again
    }
  }

  // ---- output ------------------------------------------------------------------------------

  const out: Uint8Array[] = [];
  let queued = 0;

  /** Queues `bytes` for the transmit ring, and moves what fits. */
  function emit(bytes: Uint8Array): void {
    out.push(bytes);
    queued += bytes.length;
    flush();
  }

  /** Moves queued output into the transmit ring while it has room. */
  function flush(): void {
    while (out.length > 0) {
      const n = port.write(out[0]!);
      if (n === 0) return; // the next transmit interrupt calls flush again
      queued -= n;
      if (n === out[0]!.length) out.shift();
      else out[0] = out[0]!.subarray(n);
    }
  }

  dev.onInterrupt(() => {
    flush();
    pump();
  });

  return {
    write(text: string): RpcResult<number> {
      flush();
      if (queued > OUTPUT_MAX) return ok(0);
      const bytes = encodeUtf8(String(text));
      emit(bytes);
      return ok(bytes.length);
    },
    intr(): Promise<RpcResult<number>> {
      return new Promise((resolve) => { intrWaiters.push(resolve); });
    },
    read(max: number): Promise<RpcResult<string>> {
      return new Promise((resolve) => {
        readers.push({ max: Number(max) >>> 0, resolve });
        pump();
      });
    },
  };
}

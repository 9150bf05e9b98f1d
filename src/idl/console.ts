// The console (rv6's console domain, src/domains/rv6/console): text in and out of the machine's
// console device, with xv6's line discipline on input (kernel/console.c).
import type { Interface, RpcResult, u32 } from './lib/types.ts';

export interface Console extends Interface {
  /**
   * Sends `text` (as UTF-8) to the console; returns the bytes taken, all of them unless the
   * console's own output queue is already over its limit (then 0: try again later). Bytes that do
   * not fit in the device's transmit ring yet wait in the domain, in order, until it has room.
   */
  write(text: string): RpcResult<u32>;
  /**
   * The next input, cooked: at most `max` bytes (never a split character, at least one character)
   * of the next line, its "\n" included; the rest of a longer line comes with the next reads. A
   * line ends at "\n", at ^D, or when the edit buffer is full. "" is end of input: ^D at an empty
   * line, or the device's input ended. Reads are served in the order they were made.
   */
  read(max: u32): Promise<RpcResult<string>>;
  /**
   * Resolves at the next ^C typed on a terminal (the device in raw mode), with the number typed
   * since boot: rv6's core then kills the foreground job. The line being edited is discarded and
   * "^C" echoed. On a pipe, a ^C byte is ordinary input.
   */
  intr(): Promise<RpcResult<u32>>;
}

// The console as files see it: reads from every process are served one at a time, in order, by
// one console read in flight (so a line typed for a reader that was killed in the meantime goes to
// the next reader, not nowhere), and writes carry a character split across two writes over to the
// second. ^C (Console.intr) kills the foreground job.
import type { Console } from '../../../idl/console.ts';
import { decodeUtf8, encodeUtf8, incompleteTail, utf8Boundary } from '../../../lib/utf8.ts';

interface Waiting { readonly max: number; readonly gone: () => boolean; readonly resolve: (s: Uint8Array | null) => void }

export class Tty {
  private readonly queue: Waiting[] = [];
  private reading = false;
  /** input taken for a reader that was gone by the time it came */
  private spare: Uint8Array | null = null;

  constructor(private readonly console: Console, private readonly log: (s: string) => void) {}

  /** The next input, at most `max` bytes (empty: end of input); null if `gone()` first. */
  read(max: number, gone: () => boolean): Promise<Uint8Array | null> {
    return new Promise((resolve) => {
      this.queue.push({ max, gone, resolve });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      while (this.queue.length > 0) {
        const w = this.queue[0]!;
        if (w.gone()) { this.queue.shift(); w.resolve(null); continue; }
        let bytes = this.spare;
        this.spare = null;
        if (bytes === null) {
          const r = await this.console.read(w.max);
          bytes = r.ok ? encodeUtf8(r.value) : new Uint8Array(0);
          if (!r.ok) this.log(`console: ${r.error.message}`);
        }
        const head = this.queue.shift()!;
        if (head.gone()) {
          head.resolve(null);
          if (bytes.length > 0) this.spare = bytes;
          continue;
        }
        if (bytes.length > head.max) {
          const n = Math.max(1, utf8Boundary(bytes, head.max));
          this.spare = bytes.subarray(n);
          bytes = bytes.subarray(0, n);
        }
        head.resolve(bytes);
      }
    } finally {
      this.reading = false;
    }
  }

  /** Writes bytes; `tail` is the carried-over start of a split character (returned updated). */
  async write(bytes: Uint8Array, tail: Uint8Array | null): Promise<Uint8Array | null> {
    let all = bytes;
    if (tail) {
      all = new Uint8Array(tail.length + bytes.length);
      all.set(tail);
      all.set(bytes, tail.length);
    }
    const cut = all.length - incompleteTail(all);
    const text = decodeUtf8(all.subarray(0, cut));
    while (text.length > 0) {
      const r = this.console.write(text);
      if (!r.ok) { this.log(`console: ${r.error.message}`); break; }
      if (r.value > 0) break;
      await new Promise<void>((resolve) => { this.later(resolve); }); // its queue is full: wait
    }
    return cut < all.length ? all.slice(cut) : null;
  }

  /** set by the core: run `fn` a little later */
  later: (fn: () => void) => void = (fn) => fn();
}

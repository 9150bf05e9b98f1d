// Pipes (xv6 kernel/pipe.c): a ring of PIPESIZE bytes in the core domain's memory, a read end and
// a write end. A read waits while the pipe is empty and the write end is open, then takes what
// there is (at most what was asked); at end of file (empty, write end closed) it returns nothing.
// A write waits while the pipe is full and the read end is open; with the read end closed it fails
// (EPIPE). Waiters are woken on every change and re-check (xv6's sleep/wakeup on the pipe); a
// waiter whose process was killed gives up (its result goes nowhere).

export const PIPESIZE = 4096;

export class Pipe {
  private readonly ring = new Uint8Array(PIPESIZE);
  private nread = 0;    // bytes read, ever
  private nwrite = 0;   // bytes written, ever
  readOpen = true;
  writeOpen = true;
  private waiters: (() => void)[] = [];

  /** Resolves at the next change of the pipe (bytes in or out, an end closed). */
  private changed(): Promise<void> {
    return new Promise((resolve) => { this.waiters.push(resolve); });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Up to `max` bytes; empty at end of file; null if `gone()` (the reader was killed). */
  async read(max: number, gone: () => boolean): Promise<Uint8Array | null> {
    while (this.nread === this.nwrite && this.writeOpen) {
      if (gone()) return null;
      await this.changed();
    }
    if (gone()) return null;
    const n = Math.min(max, this.nwrite - this.nread);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.ring[(this.nread + i) % PIPESIZE]!;
    this.nread += n;
    this.wake();
    return out;
  }

  /** Writes all of `src`, waiting for room; the bytes written, or -1 if the read end is closed
   *  (or the writer was killed) before all of it went in. */
  async write(src: Uint8Array, gone: () => boolean): Promise<number> {
    let i = 0;
    while (i < src.length) {
      if (!this.readOpen || gone()) return i > 0 ? i : -1;
      if (this.nwrite - this.nread === PIPESIZE) {
        await this.changed();
        continue;
      }
      while (i < src.length && this.nwrite - this.nread < PIPESIZE) this.ring[this.nwrite++ % PIPESIZE] = src[i++]!;
      this.wake();
    }
    return i;
  }

  close(writeEnd: boolean): void {
    if (writeEnd) this.writeOpen = false;
    else this.readOpen = false;
    this.wake();
  }
}

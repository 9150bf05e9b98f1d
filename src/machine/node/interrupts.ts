// How a device model's interrupts reach the host: a loop on the main thread that waits for an
// interrupt word (a counter the device thread bumps and notifies) to change, with
// Atomics.waitAsync, which needs no thread or timer and keeps no process alive. Shared by the
// device models (nvme.ts, console.ts).

type WaitAsync = (a: Int32Array, i: number, v: number) => { async: false; value: string } | { async: true; value: Promise<string> };

/** Atomics.waitAsync (ES2024; Node 20 has it, the ES2022 lib types do not). */
export const waitAsync: WaitAsync = (a, i, v) => (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync(a, i, v);

/** Resolves once words[i] may differ from v (at once if it already does). */
export function changed(words: Int32Array, i: number, v: number): Promise<unknown> {
  const r = waitAsync(words, i, v);
  return r.async ? r.value : Promise.resolve();
}

/**
 * An interrupt loop: calls `fn` once per change seen of words[i] (changes that come faster than
 * the loop turns are seen as one, as coalesced interrupts are). Returns what ends it; the end is
 * also put in `loops` (the device's stop() calls every one) and taken out when it runs. A throw
 * from `fn` is reported like a throwing event listener's, and the loop goes on.
 */
export function watchWord(words: Int32Array, i: number, fn: () => void, loops: Set<() => void>): () => void {
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    loops.delete(end);
    Atomics.notify(words, i); // wakes the pending waitAsync (others waiting on it see a spurious wake-up)
  };
  loops.add(end);
  void (async () => {
    let seen = Atomics.load(words, i);
    while (!ended) {
      await changed(words, i, seen);
      const now = Atomics.load(words, i);
      if (ended || now === seen) continue;
      seen = now;
      try {
        fn();
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
  })();
  return end;
}

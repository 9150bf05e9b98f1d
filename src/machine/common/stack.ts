// How much of the engine's stack is left, found by pushing frames: the only measure JavaScript has.
// Kernel and host code can be called at any depth, down to the engine's stack limit (a domain may
// recurse there and call in at every depth on the way back up). Code that must not stop half way
// (the kernel's clean-up; the runtime's own queues, which are not safe to cut short: host.ts)
// first asks for a margin, and otherwise refuses or is put off, having changed nothing. Probing
// costs a few microseconds per thousand frames.

function probe(n: number): number {
  return n === 0 ? 0 : 1 + probe(n - 1);
}

/** Whether `frames` more (small) frames fit on the engine's stack now. */
export function stackFor(frames: number): boolean {
  try {
    return probe(frames) === frames;
  } catch {
    return false;
  }
}

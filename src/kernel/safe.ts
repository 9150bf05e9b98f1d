// Small tools for kernel code that handles values a domain made, and that may run with little of
// the engine's stack left.
//
// `show` names a value for an error message without running any of its code: `String(v)` or a
// template string would call a domain object's toString, valueOf or Symbol.toPrimitive (and a
// Proxy's traps), which could throw, loop, or run as whichever domain is current.
//
// `hasStack` tells whether a good margin of the engine's stack is left. Kernel paths that must not
// stop half way (the crash path, kernel.ts reap) run only when it is; otherwise they are put off
// to the event loop, where the stack is empty. Probing costs a few microseconds, so it is done on
// rare paths only.

/** A short description of `v` that runs none of its code. */
export function show(v: unknown): string {
  switch (typeof v) {
    case 'number': case 'boolean': case 'undefined': return String(v);
    case 'bigint': return `${String(v)}n`;
    case 'string': return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'symbol': return 'a symbol';
    case 'function': return 'a function';
    default: return v === null ? 'null' : 'an object';
  }
}

/** Frames the probe must be able to push: far more than any kernel path needs (a crash's
 *  clean-up and report, host logging included, stay well within a few hundred). */
const PROBE_FRAMES = 1000;

function probe(n: number): number {
  return n === 0 ? 0 : 1 + probe(n - 1);
}

/** Whether PROBE_FRAMES more frames fit on the engine's stack now. */
export function hasStack(): boolean {
  try {
    return probe(PROBE_FRAMES) === PROBE_FRAMES;
  } catch {
    return false;
  }
}

// What the kernel needs from the machine it runs on. The kernel is runtime-neutral: the Node back
// end (machine/node/host.ts) and, later, a browser back end implement this. It is shared by
// kernel/ and machine/*, so it lives in machine/common.

/**
 * Digests and signatures for verified loading (kernel/verify.ts). Both work on bytes, never on
 * strings: the kernel decides how text becomes bytes (UTF-8, refusing strings that have no UTF-8
 * encoding), so what is hashed or verified is exactly what it will evaluate.
 */
export interface HostCrypto {
  /** SHA-256 of `data`, lower-case hex; throws a TypeError if `data` is not a Uint8Array */
  sha256(data: Uint8Array): string;
  /** whether `signature` (base64) is a valid Ed25519 signature of `message` by `publicKey` (the
   *  raw 32-byte key, base64); false for any malformed input */
  verify(publicKey: string, message: Uint8Array, signature: string): boolean;
}

/**
 * The machine's preemption timer, the software analogue of a timer interrupt line: a 4-byte word of
 * shared memory that a timer running outside the kernel's thread sets to nonzero periodically
 * (every millisecond on Node), however long this thread is busy. Domain code polls it at every safe point (function entry, loop
 * back-edge: tools/domainc/meter.ts) and, when it is set, calls the kernel's tick, which acknowledges
 * it. Tickless when idle: an interrupt nobody acknowledged within a period means no domain code is
 * running, and the timer stops until the next acknowledgement.
 */
export interface PreemptTimer {
  /** the interrupt-pending word (any nonzero value means pending), at byte offset 0 */
  readonly pending: DataView;
  /** clears the word and restarts the timer if it had stopped */
  acknowledge(): void;
}

/**
 * The kernel calls a host at any depth, down to the engine's stack limit. So each method does all
 * it says, or throws having changed nothing (a RangeError where there is too little stack left).
 */
export interface Host {
  /** milliseconds, monotonic, sub-millisecond resolution */
  now(): number;
  /** the preemption timer, started on first use and shared by every kernel of the process */
  preemptTimer(): PreemptTimer;
  readonly crypto: HostCrypto;
  setTimer(ms: number, fn: () => void): unknown;
  clearTimer(t: unknown): void;
  /** runs `fn` once the event loop has turned (after it polled for I/O): how the kernel tells turns
   *  apart, and where it puts off the callbacks of a domain that used its share of this one */
  nextTurn(fn: () => void): void;
  /** A doorbell for `fn`, made once: each ring has `fn` called from the event loop soon after.
   *  Ringing works at any depth, the engine's stack limit included, where setting a timer may be
   *  refused: it is how the kernel puts off work that needs a stack. It keeps no process alive. */
  doorbell(fn: () => void): () => void;
  /** one line of kernel log output */
  write(line: string): void;
  /** true for a Proxy exotic object (so the kernel can describe values without running traps) */
  isProxy(v: unknown): boolean;
  /** true for a genuine Error object */
  isError(v: unknown): boolean;
  /** true for a genuine promise (not a Proxy of one, not a thenable) */
  isPromise(v: unknown): boolean;
  /** starts reporting uncaught exceptions, unhandled rejections and promise jobs */
  attach(hooks: HostHooks): void;
  detach(): void;
  /**
   * Mutation testing only (npm run mutate; empty otherwise): globals every domain's compartment
   * gets as getters, so that mutated domain code reaches the mutation tool's namespace. A getter's
   * value is not hardened with the global object (the tool switches mutants through it).
   */
  mutationGlobals?(): Readonly<Record<string, () => unknown>>;
}

export interface HostHooks {
  /** An exception nobody caught, or a rejection nobody handled: true if it was a domain's (the
   *  kernel dealt with it). Anything else is the host program's own error, and the host treats it
   *  as the runtime does without a kernel (on Node: its other listeners, or print and exit 1). */
  uncaught(kind: 'exception' | 'rejection', reason: unknown, promise: object | null): boolean;
  /** a promise was created (so the kernel can note which domain made it) */
  promiseInit(promise: object): void;
  /** a job of `promise` (a reaction or a thenable's resolution) is about to run / has run */
  promiseBefore(promise: object): void;
  promiseAfter(promise: object): void;
}

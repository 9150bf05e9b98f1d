// The kernel's host on Node.js: clock, timers, the preemption timer thread, log output, and the
// process-wide hooks that report uncaught exceptions and unhandled rejections (installed after SES
// lockdown, which installs its own) and promise creation (v8 promise hooks, to attribute
// rejections to domains).
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { inspect, types } from 'node:util';
import { promiseHooks } from 'node:v8';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { Host, HostCrypto, HostHooks, PreemptTimer } from '../common/host.ts';
import { stackFor } from '../common/stack.ts';

/** How often the preemption timer fires: a domain over budget is stopped within about this. */
export const PREEMPT_PERIOD_MS = 1;

/**
 * The timer thread: sleeps `periodMs` on a futex that nobody wakes, then raises the word. If the
 * word is still raised from last time, no domain code ran to take it (the thread is idle, or busy
 * outside domains): it parks on the word until a tick clears it, so an idle process costs nothing.
 */
const TIMER_THREAD = `
const { workerData } = require('node:worker_threads');
const pending = new Int32Array(workerData.buffer, 0, 1);
const idle = new Int32Array(workerData.buffer, 4, 1);
for (;;) {
  Atomics.wait(idle, 0, 0, workerData.periodMs);
  if (Atomics.compareExchange(pending, 0, 0, 1) !== 0) Atomics.wait(pending, 0, 1);
}
`;

let timer: PreemptTimer | null = null;

/**
 * The process's preemption timer: one worker thread (unref'd, so it never keeps the process
 * alive) that raises a shared word every PREEMPT_PERIOD_MS. It must be a thread, not a setTimeout:
 * a domain spinning in a loop never lets this thread's event loop run. One per process, because
 * tests and benchmarks boot many kernels and a thread costs milliseconds to start.
 */
export function nodePreemptTimer(): PreemptTimer {
  if (timer === null) {
    const buffer = new SharedArrayBuffer(8);
    // execArgv: []: an eval'd worker inherits the parent's flags, and under --input-type=module its
    // CommonJS source would not run, leaving domains unpreempted.
    const worker = new Worker(TIMER_THREAD, { eval: true, execArgv: [], workerData: { buffer, periodMs: PREEMPT_PERIOD_MS }, stdout: false, stderr: false });
    worker.unref();
    const word = new Int32Array(buffer, 0, 1);
    timer = {
      pending: new DataView(buffer, 0, 4),
      acknowledge: () => {
        Atomics.store(word, 0, 0);
        Atomics.notify(word, 0);
      },
    };
  }
  return timer;
}

/** node:crypto behind the kernel's HostCrypto: bytes in, never strings (no encoding is chosen here). */
export class NodeCrypto implements HostCrypto {
  private readonly keys = new Map<string, KeyObject | null>();

  sha256(data: Uint8Array): string {
    if (!(data instanceof Uint8Array)) throw new TypeError('NodeCrypto.sha256 takes bytes (a Uint8Array)');
    return createHash('sha256').update(data).digest('hex');
  }

  verify(publicKey: string, message: Uint8Array, signature: string): boolean {
    const key = this.key(publicKey);
    if (!key || !(message instanceof Uint8Array) || typeof signature !== 'string') return false;
    try {
      return verify(null, message, key, Buffer.from(signature, 'base64'));
    } catch {
      return false;
    }
  }

  private key(publicKey: string): KeyObject | null {
    let k = this.keys.get(publicKey);
    if (k === undefined) {
      k = null;
      const raw = Buffer.from(String(publicKey), 'base64');
      if (raw.length === 32) {
        try {
          k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
        } catch { /* not a key */ }
      }
      this.keys.set(publicKey, k);
    }
    return k;
  }
}

/** What Node does with an error nobody handles: print it with its stack, exit with status 1. (The
 *  host program's own error, so reading its `stack` runs nothing of a domain's; util.inspect would
 *  print {} for an Error once SES has tamed the Error constructors.) */
function hostError(what: string, e: unknown): never {
  const stack = e instanceof Error && typeof e.stack === 'string' ? e.stack : inspect(e);
  process.stderr.write(`${what} ${stack}\n`);
  process.exit(1);
}

/**
 * Node's timer and immediate queues, and its streams, are not safe to cut short: a RangeError part
 * way into setTimeout or clearTimeout (at the engine's stack limit) can leave a list of timers out
 * of the queue, so that no later timer fires, or a reference that keeps the process from ever
 * exiting. A domain recursing to the limit and setting a timer at each depth on the way back up
 * did both (test/host-stack.test.ts). So the host enters them only with a margin of stack, and
 * otherwise throws before it has touched anything, as the Host contract asks. The margin:
 * setTimeout needed up to about 450 frames of the probe on Node 20 with an async hook installed.
 */
const HOST_FRAMES = 600;

function room(what: string): void {
  if (!stackFor(HOST_FRAMES)) throw new RangeError(`host.${what}: too little stack left to enter Node's queues safely (called at the engine's stack limit)`);
}

export class NodeHost implements Host {
  private off: (() => void) | null = null;
  private readonly bells: MessagePort[] = [];
  private readonly t0 = performance.now();
  readonly crypto: HostCrypto = new NodeCrypto();

  constructor(private readonly sink: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {}

  now(): number { return performance.now() - this.t0; }
  preemptTimer(): PreemptTimer { return nodePreemptTimer(); }
  setTimer(ms: number, fn: () => void): unknown { room('setTimer'); return setTimeout(fn, ms); }
  clearTimer(t: unknown): void { room('clearTimer'); clearTimeout(t as NodeJS.Timeout); }
  nextTurn(fn: () => void): void { room('nextTurn'); setImmediate(fn); }
  // (a ring is one native call, a message posted on a channel made here and now: it runs nothing
  // of Node's queues in JavaScript, so no depth cuts it short half way)
  doorbell(fn: () => void): () => void {
    const { port1, port2 } = new MessageChannel();
    port2.on('message', () => fn());
    port2.unref();
    this.bells.push(port1, port2);
    return () => port1.postMessage(null);
  }
  write(line: string): void { room('write'); this.sink(line); }
  isProxy(v: unknown): boolean { return types.isProxy(v); }
  isError(v: unknown): boolean { return types.isNativeError(v); }
  isPromise(v: unknown): boolean { return types.isPromise(v); }

  attach(hooks: HostHooks): void {
    this.off?.();
    // While attached the kernel owns these process-wide events, as an OS owns its traps. What is
    // not a domain's is the host program's own error: it goes to the listeners that were there
    // before (a test runner's, the program's own), or, with none, ends the process as Node would.
    const saved = {
      unhandledRejection: process.listeners('unhandledRejection') as ((...a: unknown[]) => void)[],
      uncaughtException: process.listeners('uncaughtException') as ((...a: unknown[]) => void)[],
    };
    const onRejection = (reason: unknown, p: Promise<unknown>): void => {
      if (hooks.uncaught('rejection', reason, p)) return;
      if (saved.unhandledRejection.length > 0) for (const l of saved.unhandledRejection) l(reason, p);
      else hostError('Uncaught (in promise)', reason);
    };
    const onException = (e: unknown, origin: unknown): void => {
      if (hooks.uncaught('exception', e, null)) return;
      if (saved.uncaughtException.length > 0) for (const l of saved.uncaughtException) l(e, origin);
      else hostError('Uncaught', e);
    };
    process.removeAllListeners('unhandledRejection');
    process.removeAllListeners('uncaughtException');
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    const stopHooks = promiseHooks.createHook({
      init: (p) => hooks.promiseInit(p),
      before: (p) => hooks.promiseBefore(p),
      after: (p) => hooks.promiseAfter(p),
    });
    this.off = () => {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
      for (const l of saved.unhandledRejection) process.on('unhandledRejection', l as never);
      for (const l of saved.uncaughtException) process.on('uncaughtException', l as never);
      stopHooks();
    };
  }

  /**
   * Under `npm run mutate` (FROND_MUTATION=1): StrykerJS's namespace, through a getter. The mutant
   * to switch on comes in the environment, which mutated host code reads itself; domain code cannot
   * reach `process`, so the getter copies it into the namespace first. A process a test starts (a
   * `frond` command) has no mutated host code, so no namespace yet: it gets an empty one, or the
   * mutated domain code, which adds it to its global when missing, could not start in a hardened
   * compartment.
   */
  mutationGlobals(): Readonly<Record<string, () => unknown>> {
    const g = globalThis as { __stryker__?: { activeMutant?: unknown } };
    if (process.env.FROND_MUTATION !== '1') return {};
    g.__stryker__ ??= {};
    return {
      __stryker__: () => {
        const ns = g.__stryker__;
        const active = process.env.__STRYKER_ACTIVE_MUTANT__;
        if (ns !== undefined && ns.activeMutant === undefined && active) ns.activeMutant = active;
        return ns;
      },
    };
  }

  /** Stops reporting, and takes the doorbells down (a ring after this does nothing). */
  detach(): void {
    this.off?.();
    this.off = null;
    for (const p of this.bells.splice(0)) p.close();
  }
}

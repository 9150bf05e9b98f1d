// The periodic timer device model on Node, over the layout of machine/common/timer.ts: a worker
// thread that sleeps in Atomics.wait on the PERIOD_US word with a timeout up to the next deadline,
// then raises the ticks due (TICKS and PENDING += n, notify PENDING).
//
// Why a thread and not host timers (setInterval): the timer is an interrupt source, and the thread
// that would have to run a setInterval callback is the one running the kernel and its domains; a
// domain in a long loop (or a driver spinning on a ring) would hold every tick back, which is
// exactly when a tick is needed. A sleeping thread costs nothing between ticks (a futex wait, no
// polling), Atomics.wait takes fractional-millisecond timeouts (setInterval rounds to whole
// milliseconds and drifts, each callback scheduled from the last one's lateness), and waiting on
// the period word itself lets a period change wake the thread at once. Deadlines are fixed
// (start + k * period on the monotonic clock), so ticks do not drift; ticks missed while the thread
// was not scheduled are raised together.
//
// Data path: no postMessage. The worker is not unref'd: a running timer keeps the process alive,
// like a setInterval would; stop() terminates it and resolves once the thread has exited, leaving
// no thread or timer behind, and sets STATUS to STOPPED.
//
// The worker's code is built from the common file's own functions (their source text) plus its
// constants as JSON, so the layout has one definition.
import { DeviceStatus, MAX_PERIOD_US, MIN_PERIOD_US, Reg, TIMER_BYTES, TimerPort, checkPeriod, effectivePeriod, word } from '../common/timer.ts';
import { startThread, threadSource } from './thread.ts';

export interface TimerOptions {
  /** microseconds; 0 starts paused */
  periodUs: number;
}

export interface TimerDevice {
  /** the timer's registers (TIMER_BYTES) */
  readonly memory: SharedArrayBuffer;
  /** the driver's side: period, ticks, pending, acknowledge */
  readonly port: TimerPort;
  setPeriod(us: number): void;
  ticks(): number;
  /** ticks since the last acknowledgement, and clears them */
  acknowledge(): number;
  /** DeviceStatus */
  status(): number;
  /** the worker's error, if it died of one */
  readonly error: Error | null;
  /** resolves once the thread is running (STATUS is RUNNING) */
  readonly ready: Promise<void>;
  /** terminates the worker; resolves once its thread has exited */
  stop(): Promise<void>;
}

const CONSTANTS = { DeviceStatus, Reg, MIN_PERIOD_US, MAX_PERIOD_US };
const SHIPPED = { word, effectivePeriod };

const TIMER_LOOP = `
const { workerData: d, parentPort } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const words = new Int32Array(d.memory, 0, 4);
const P = word(Reg.PERIOD_US);
let period = -1, start = 0, k = 0;
Atomics.store(words, word(Reg.STATUS), DeviceStatus.RUNNING);
Atomics.notify(words, word(Reg.STATUS));
parentPort.postMessage('ready');
for (;;) {
  const stored = Atomics.load(words, P);
  const p = effectivePeriod(stored);
  if (p !== period) { period = p; start = performance.now(); k = 0; }
  if (period === 0) { Atomics.wait(words, P, stored); continue; }
  const due = Math.floor((performance.now() - start) * 1000 / period);
  if (due > k) {
    const n = due - k;
    k = due;
    Atomics.add(words, word(Reg.TICKS), n);
    Atomics.add(words, word(Reg.PENDING), n);
    Atomics.notify(words, word(Reg.PENDING));
  }
  const next = start + (k + 1) * period / 1000;
  Atomics.wait(words, P, stored, Math.max(0, next - performance.now()));
}
`;


/** Starts a timer on a worker thread of its own. */
export function startTimer(o: TimerOptions): TimerDevice {
  checkPeriod(o.periodUs);
  const memory = new SharedArrayBuffer(TIMER_BYTES);
  const port = new TimerPort(memory);
  port.setPeriod(o.periodUs);
  const thread = startThread(threadSource(CONSTANTS, SHIPPED, TIMER_LOOP), { memory });
  const ready = new Promise<void>((resolve) => {
    thread.worker.once('message', () => resolve());
    void thread.exited.then(() => resolve());
  });
  return {
    memory, port, ready,
    setPeriod: (us) => port.setPeriod(us),
    ticks: () => port.ticks(),
    acknowledge: () => port.acknowledge(),
    status: () => port.status(),
    get error() { return thread.error; },
    stop: async () => {
      await thread.stop();
      Atomics.store(port.words, word(Reg.STATUS), DeviceStatus.STOPPED);
      Atomics.notify(port.words, word(Reg.PENDING));
    },
  };
}

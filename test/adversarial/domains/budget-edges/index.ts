// Test domain (budget-edges): the edges of the CPU budget's accounting (src/kernel/budget.ts), for
// test/adversarial/budget-edges.test.ts. One behaviour per `what` of run(); `config` (an object)
// says what init does:
//   device     the name of a device granted to it: opened at init; its memory is where the domain
//              leaves what the test reads (stores into shared memory need no kernel service, so
//              they show what a dead domain's code still did)
//   initSpin   ms to spin in init (a kernel entry: one stretch, keyed by its activation number)
//   calls      (privileged) `calls` calls of `callSpin` ms into a child, at the end of init
//   job        'now': a promise job right after init, in the same turn; 'sleep': one after a
//              sleep of `sleepMs` from the end of init; it spins `jobSpin` ms, then logs "job done"
// Its import `callee` (optional) is another instance of this domain.
import type { Probe } from '../../../../src/idl/demo.ts';
import type { Config, DeviceCap, Sys } from '../../../../src/idl/lib/sys.ts';
import { ok } from '../../../../src/lib/result.ts';

const NAME = 'hostile-budget-edges';

export function init(sys: Sys, imports: { callee?: Probe }, config: Config): Probe {
  const cfg = (config !== null && typeof config === 'object' && !Array.isArray(config) ? config : {}) as Record<string, Config>;
  const spin = (ms: number): void => {
    const t = sys.clock.now();
    while (sys.clock.now() - t < ms) { /* busy */ }
  };
  let cap: DeviceCap | null = null;
  // Slots of the device's memory: 0 catch after a budget stop, 1 finally after a budget stop,
  // 2 catch after a kill, 3 interrupts handled, 4 catch of an ordinary error (the channel works).
  let mem: Int32Array<ArrayBufferLike> = new Int32Array(0);
  if (typeof cfg.device === 'string') {
    cap = sys.devices!.open(cfg.device);
    mem = new Int32Array(cap.memory);
  }
  if (typeof cfg.initSpin === 'number') spin(cfg.initSpin);
  const job = (): void => {
    spin(Number(cfg.jobSpin));
    sys.log('job done');
  };
  if (typeof cfg.calls === 'number') {
    // `calls` calls of `callSpin` ms each into a child (made here: this domain needs no import
    // made before it), each well within the child's budget, together well over this domain's:
    // its stretch runs over, but the calls are made by built-ins, with no check of this domain's
    // own in between or after, so init never ticks again and ends alive, its stretch over budget.
    const r = sys.domains!.create<Probe>(NAME, {}, null);
    if (!r.ok) throw new Error(r.error.message);
    const call = r.value.run.bind(r.value, 'spin', Number(cfg.callSpin));
    new Array<number>(cfg.calls).fill(0).forEach(call);
  }
  // (after the calls, and still no check: kernel functions and built-ins only)
  if (cfg.job === 'now') void Promise.resolve().then(job);
  if (cfg.job === 'sleep') void sys.timers.sleep(Number(cfg.sleepMs)).then(job);

  return {
    run(what, arg) {
      switch (what) {
        case 'catch-error': {
          // An ordinary error: its catch block runs (the test's channel works).
          try {
            if (arg >= 0) throw new Error('ordinary');
          } catch {
            mem[4] = 1;
          }
          return ok(mem[4]);
        }
        case 'catch-spin': {
          // Spins until the budget stops it, and catches the abort: the catch must not run on.
          try {
            for (;;) { /* spin */ }
          } catch {
            mem[0] = 1;
          }
          return ok(-1);
        }
        case 'finally-spin': {
          try {
            for (;;) { /* spin */ }
          } finally {
            mem[1] = 1;
          }
        }
        case 'catch-killed': {
          // Killed while inside this call (the test's log hook kills it on this line).
          try {
            sys.log('kill me');
            for (;;) mem[5]++; // (counts the turns of the loop it makes before the abort)
          } catch {
            mem[2] = 1;
          }
          return ok(-1);
        }
        case 'on-int': {
          cap!.onInterrupt(() => { mem[3]++; });
          return ok(0);
        }
        case 'spin':
          spin(arg);
          return ok(arg);
        case 'spin-forever':
          for (;;) { /* spin */ }
        case 'call-spin': {
          // `arg` short calls into the callee (10 ms each): how many answered.
          let answered = 0;
          for (let i = 0; i < arg; i++) if (imports.callee!.run('spin', 10).ok) answered++;
          return ok(answered);
        }
        case 'call-forever': {
          // The callee spins until its own budget stops it; then this domain goes on for `arg` ms.
          const r = imports.callee!.run('spin-forever', 0);
          spin(arg);
          return ok(r.ok ? 1 : 0);
        }
        default:
          return ok(-1);
      }
    },
    runAsync: async (_what, arg) => ok(arg),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

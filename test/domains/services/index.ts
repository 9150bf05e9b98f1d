// A test domain for the kernel services as a domain sees them (test/services.test.ts). Each
// run(what, arg) does one thing through `sys` (or the `console` global) and, where there is more to
// tell than a number, logs `what = outcome`: `ok <value>` or `<error name>: <message>`, the test
// reading it from the kernel log. `what` is an operation and, for some, a value's name from
// `values` (hostile or boundary arguments) or a device's name: 'after max', 'open svc-dma'.
import type { Probe } from '../../../src/idl/demo.ts';
import type { DeviceCap, Sys } from '../../../src/idl/lib/sys.ts';
import { ok } from '../../../src/lib/result.ts';

export function init(sys: Sys): Probe {
  const H = sys.heap;
  let valueOfs = 0;
  let hooks = 0;
  let fired = 0;
  let irqs = 0;
  const ticks: number[] = [];
  const pages: number[] = [];
  let cap: DeviceCap | null = null;
  let child: unknown = null;
  const noop = (): void => undefined;
  /** arguments by name: delays and lines at and past their bounds, and values of the wrong type */
  const values: Record<string, unknown> = {
    zero: 0, max: 2 ** 31 - 1, over: 2 ** 31, neg: -1, nan: NaN, str: '5', frac: 1.5, big: 3n, u32: 2 ** 32 - 1, huge: 2 ** 32,
    obj: { valueOf() { valueOfs++; return 3; } },
  };
  const said = (what: string, v: string): void => { sys.log(`${what} = ${v}`); };
  const outcome = (what: string, f: () => unknown): number => {
    try {
      said(what, `ok ${String(f())}`);
      return 1;
    } catch (e) {
      said(what, `${(e as Error).name}: ${(e as Error).message}`);
      return 0;
    }
  };
  const spin = (ms: number): void => { const t0 = sys.clock.now(); while (sys.clock.now() - t0 < ms) { /* burn CPU */ } };
  const mem = (): Int32Array => new Int32Array(cap!.memory);

  const cases: Record<string, (what: string, v: unknown, arg: number) => number> = {
    // timers
    'after': (w, v) => outcome(w, () => sys.timers.cancel(sys.timers.after(v as number, noop))),
    'every': (w, v) => outcome(w, () => sys.timers.cancel(sys.timers.every(v as number, noop))),
    'sleep': (w, v) => outcome(w, () => { void sys.timers.sleep(v as number); return 'sleeping'; }),
    'after-fn': (w) => outcome(w, () => sys.timers.after(0, 5 as never)),
    'every-fn': (w) => outcome(w, () => sys.timers.every(0, 5 as never)),
    'fire-after': (_w, _v, ms) => sys.timers.after(ms, () => { fired++; }),
    'fired': () => fired,
    'tick-every': (_w, _v, ms) => sys.timers.every(ms, () => { ticks.push(sys.clock.now()); }),
    'ticks': () => ticks.length,
    'cancel': (_w, _v, id) => (sys.timers.cancel(id) ? 1 : 0),
    'long-timer': () => sys.timers.after(600_000, noop),
    'every-throw': (_w, _v, ms) => sys.timers.every(ms, () => { throw new Error('every callback threw'); }),
    'after-reject': () => sys.timers.after(0, async () => { await null; throw new Error('callback promise rejected'); }),
    'after-thenable': () => sys.timers.after(0, () => ({ then() { hooks++; } })),
    'after-own-constructor': () => sys.timers.after(0, () => {
      const p = Promise.resolve(1);
      Object.defineProperty(p, 'constructor', { get() { hooks++; return Promise; } });
      return p;
    }),
    'hooks': () => hooks,
    // threads
    'spawn-name': (w) => outcome(w, () => sys.threads.spawn(5 as never, async () => undefined)),
    'spawn-body': (w) => outcome(w, () => sys.threads.spawn('x', 5 as never)),
    'spawn-sleep': (_w, _v, ms) => sys.threads.spawn(`sleeper ${ms}`, async () => { await sys.timers.sleep(ms); }),
    'spawn-quick': () => sys.threads.spawn('quick', async () => undefined),
    'spawn-sync': () => sys.threads.spawn('sync', (() => 5) as never),
    'spawn-throw': () => sys.threads.spawn('boom', () => { throw new Error('thread body threw'); }),
    'spawn-reject': () => sys.threads.spawn('doomed', async () => { await sys.timers.sleep(1); throw new Error('thread rejected'); }),
    'threads': (w) => outcome(w, () => sys.threads.list().join(',')),
    // the exchange heap: every accessor, at values that only an exact round trip keeps
    'heap': (w) => outcome(w, () => {
      const a = H.alloc(1);
      const c = H.alloc(1);
      H.setI8(a, 0, -128); H.setI16(a, 2, -32768); H.setI32(a, 4, -2147483648); H.setF64(a, 8, -1.5e-300);
      H.setU64(a, 16, 2n ** 64n - 1n); H.setI64(a, 24, -(2n ** 63n)); H.setU8(a, 32, 0xab);
      H.copy(c, 100, a, 0, 33);
      const out = [H.size(a), H.i8(a, 0), H.i16(a, 2), H.i32(a, 4), H.f64(a, 8), H.u64(a, 16), H.i64(a, 24), H.u8(a, 32),
        H.i8(c, 100), H.i16(c, 102), H.i32(c, 104), H.f64(c, 108), H.u64(c, 116), H.i64(c, 124), H.u8(c, 132), H.u8(c, 133)];
      H.free(a); H.free(c);
      return out.join(' ');
    }),
    // the log
    'console': () => {
      console.log('a', 1); console.info('b', true); console.debug('c'); console.warn('d'); console.error('e'); sys.log();
      return 1;
    },
    'self': (w) => outcome(w, () => `${sys.self.name} ${sys.self.id}`),
    // interrupts (privileged)
    'irq': (w, v) => outcome(w, () => sys.irq!.register(v as number, () => { irqs++; })),
    'irq-at': (w, _v, line) => outcome(w, () => sys.irq!.register(line, () => { irqs++; })),
    'irq-fn': (w, _v, line) => outcome(w, () => sys.irq!.register(line, 5 as never)),
    'irq-throw': (w, _v, line) => outcome(w, () => sys.irq!.register(line, () => { throw new Error('irq handler threw'); })),
    'unirq': (_w, _v, line) => (sys.irq!.unregister(line) ? 1 : 0),
    'irqs': () => irqs,
    'valueofs': () => valueOfs,
    // domains (privileged)
    'create-bad': (w) => outcome(w, () => sys.domains!.create(5 as never)),
    'child': () => { const r = sys.domains!.create('counter'); child = r.ok ? r.value : null; return r.ok ? 1 : 0; },
    'kill-child': (w) => {
      const reasons: Record<string, unknown[]> = { none: [], num: [7], long: ['r'.repeat(300)], why: ['why'] };
      return outcome(w, () => sys.domains!.kill(child, ...(reasons[w.split(' ')[1]] as [string])));
    },
    // devices
    'open': (w) => outcome(w, () => { cap = sys.devices!.open(w.split(' ')[1]); return cap.name; }),
    'open-num': (w) => outcome(w, () => sys.devices!.open(5 as never)),
    'devices': (w) => outcome(w, () => sys.devices!.list().join(',')),
    'map': (w, _v, access) => outcome(w, () => { const p = H.alloc(1); pages.push(p); return cap!.map(p, -1, access || 3); }),
    'unmap': (w, _v, iova) => outcome(w, () => cap!.unmap(iova)),
    'unmap-raw': (_w, _v, iova) => (cap!.unmap(iova) ? 1 : 0),
    'unmap-str': (w) => outcome(w, () => cap!.unmap('1' as never)),
    'free-pages': (w) => outcome(w, () => { for (const p of pages.splice(0)) H.free(p); return 'freed'; }),
    'on-int-fn': (w) => outcome(w, () => cap!.onInterrupt(5 as never)),
    // the handler counts into the device's memory, which the test reads (even once this domain is dead)
    'on-int': (w) => outcome(w, () => cap!.onInterrupt(() => { mem()[0]++; })),
    'on-int-throw': (w) => outcome(w, () => cap!.onInterrupt(() => { throw new Error('device handler threw'); })),
    // the CPU budget
    'spin': (_w, _v, ms) => { spin(ms); return ms; },
    'ok': (_w, _v, n) => n,
  };

  return {
    run(what, arg) {
      const [op, name] = what.split(' ');
      const f = cases[op];
      if (!f) throw new Error(`services: no case ${op}`);
      return ok(f(what, name === undefined ? undefined : values[name], arg));
    },
    runAsync: async (what, arg) => ok(arg),
    keep: () => ok(undefined), hold: () => ok(undefined), page: () => ok(null), ring: (r) => ok(r),
  };
}

// Hostile domain (kernel-attacks): attacks on the kernel's own bookkeeping, one per `what`: forged
// evidence for blame (stack text naming another domain), promises whose species hooks run code,
// re-entry that would restart the CPU clock, many short timers, callees that spin on an innocent
// caller's behalf, every kernel path at the engine's stack limit, and evaluators reached without
// naming them. Built unchecked; test/adversarial/kernel-attacks.test.ts checks each is contained.
import type { Counter, Listener, Probe } from '../../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../../src/idl/lib/sys.ts';
import type { RpcResult } from '../../../../src/idl/lib/types.ts';
import { ok } from '../../../../src/lib/result.ts';
import { Packet } from '../../../../src/idl/generated/structs.ts';

// Exponential recursion that keeps the engine's stack at its limit, catching every RangeError:
// through a getter run by a built-in, and through class field initializers.
const viaGetter = {
  get g(): number {
    try { JSON.stringify(viaGetter); } catch { /* out of stack: go on */ }
    try { JSON.stringify(viaGetter); } catch { /* out of stack: go on */ }
    return 0;
  },
};
class Deep {
  x = ((): number => {
    try { new Deep(); } catch { /* out of stack: go on */ }
    try { new Deep(); } catch { /* out of stack: go on */ }
    return 0;
  })();
}

export function init(sys: Sys, imports: { counter?: Counter }, config: Config): Probe {
  const spin = (ms: number): void => {
    const t = sys.clock.now();
    while (sys.clock.now() - t < ms) { /* busy */ }
  };
  const counter = (): Counter => imports.counter!;
  let spins = 0;
  const listener: Listener = {
    event(v) {
      spins++;
      if (v === 0) for (;;) { /* spin on behalf of the caller */ }
      spin(30);
      counter().notify(v); // re-entered through the counter, 30 ms at each level
      return ok(undefined);
    },
  };

  const impl: Probe = {
    run(what, arg): RpcResult<number> {
      switch (what) {
        case 'forge-stack': {
          // An unhandled rejection whose stack text names domain `arg` (the counter).
          const e = new Error('not mine');
          Object.defineProperty(e, 'stack', { value: `Error: not mine\n    at f (frond-domain://counter/${arg}:1:1)` });
          void Promise.reject(e);
          return ok(1);
        }
        case 'forge-frames': {
          // A thrown Error whose stack text is made to break the crash report's source-map
          // lookups: line 0, column 0, huge numbers, a huge line, a hundred thousand frames.
          const me = `frond-domain://hostile-kernel-attacks/${sys.self.id}`;
          const frames = [`${me}:0:1`, `${me}:1:0`, `${me}:99999999999:99999999999`, `${me}:1:1${'9'.repeat(400)}`, 'x'.repeat(1 << 20)];
          for (let i = 0; i < 100_000; i++) frames.push(`${me}:${i}:${i}`);
          const e = new Error('forged frames');
          Object.defineProperty(e, 'stack', { value: `Error: forged frames\n${frames.map((f) => `    at f (${f})`).join('\n')}` });
          Packet.alloc(); // something to reclaim
          throw e;
        }
        case 'spin-at-stack-limit-getter':
          return ok(JSON.stringify(viaGetter).length);
        case 'spin-at-stack-limit-field':
          return ok(new Deep().x);
        case 'reenter-thread': {
          // Each nested entry (a thread started from inside the last) runs 30 ms: under budget each.
          const nest = (n: number): void => {
            spin(30);
            if (n > 0) sys.threads.spawn('nest', async () => { nest(n - 1); });
          };
          nest(20);
          return ok(0);
        }
        case 'reenter-callback': {
          counter().subscribe(listener);
          counter().notify(1);
          return ok(spins);
        }
        case 'subscribe': {
          counter().subscribe(listener);
          return ok(0);
        }
        case 'many-timers': {
          for (let i = 0; i < arg; i++) sys.timers.after(0, () => { spin(20); sys.log('timer done'); });
          return ok(arg);
        }
        case 'stack-limit': {
          // Recurse until the engine's stack is exhausted, then on the way back try every kind of
          // kernel entry at each depth.
          let done = 0;
          const r = (n: number): void => {
            try { r(n + 1); } catch { /* the limit */ }
            try { if (counter().add(1).ok) done++; } catch { /* refused here */ }
            try { Packet.free(Packet.alloc()); } catch { /* refused here */ }
            try { const p = Packet.alloc(); const q = counter().bounce(p); if (q.ok) Packet.free(q.value); else Packet.free(p); } catch { /* here */ }
            try { sys.timers.cancel(sys.timers.after(1000, () => {})); } catch { /* refused here */ }
          };
          r(0);
          return ok(done);
        }
        case 'evaluators': {
          // Every way to an evaluator this file can think of, without naming one directly.
          const g = globalThis as unknown as Record<string, unknown>;
          const tries: (() => unknown)[] = [
            () => (g['ev' + 'al'] as (s: string) => unknown)('1'),
            () => (Reflect.get(g, 'Func' + 'tion') as (s: string) => () => unknown)('return 1')(),
            () => (new (Reflect.get(g, 'Compart' + 'ment') as new () => { evaluate(s: string): unknown })()).evaluate('1'),
            () => ((() => 0).constructor as (s: string) => () => unknown)('return 1')(),
            () => ((async () => 0).constructor as (s: string) => () => unknown)('return 1')(),
            () => (Object.getPrototypeOf(function* () { /* */ }).constructor as (s: string) => () => unknown)('yield 1')(),
            () => (Object.getPrototypeOf(async function* () { /* */ }).constructor as (s: string) => () => unknown)('yield 1')(),
            () => (Reflect.get(g, 'lock' + 'down') as () => void)(),
          ];
          let escaped = 0;
          for (const t of tries) {
            try { if (t() !== undefined) escaped++; } catch { /* refused */ }
          }
          return ok(escaped);
        }
        default:
          return ok(-1);
      }
    },
    async runAsync(what, arg) {
      if (what === 'forge-stack-after-await') {
        // After an await (where the promise's creator is known only to the kernel's job hooks), an
        // unhandled rejection whose stack text names domain `arg`.
        await sys.timers.sleep(1);
        const e = new Error('not mine either');
        Object.defineProperty(e, 'stack', { value: `Error: not mine either\n    at f (frond-domain://counter/${arg}:1:1)` });
        void Promise.reject(e);
        return ok(1);
      }
      if (what === 'reject-after-await') {
        await sys.timers.sleep(1);
        void Promise.reject(arg); // a non-Error, after an await: still this domain's
        return ok(1);
      }
      return ok(-1);
    },
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
  if (config === 'species-result') {
    // An async result whose species lookup would run this domain's code while its caller is the
    // current domain.
    return {
      ...impl,
      runAsync: (() => {
        const p = Promise.resolve(ok(1));
        Object.defineProperty(p, 'constructor', { get() { void Promise.reject(new Error('species ran')); return Promise; } });
        return p;
      }) as Probe['runAsync'],
    };
  }
  if (config === 'thenable-result') {
    return { ...impl, runAsync: (() => ({ then: (f: (v: unknown) => void) => f(ok(1)) })) as unknown as Probe['runAsync'] };
  }
  if (config === 'getter-impl') {
    // init's result whose method is a getter: read by the kernel while this domain is current.
    return Object.defineProperty({ ...impl }, 'run', { get() { void Promise.reject(new Error('getter ran')); throw new Error('no run'); } });
  }
  return impl;
}

// A test domain: each `what` exercises one isolation mechanism from the inside, the way a buggy
// or hostile domain would. The tests in test/isolation.test.ts check what the kernel made of it.
import type { Counter, Listener, Probe } from '../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../src/idl/lib/sys.ts';
import type { RRef, Borrow, RpcResult } from '../../../src/idl/lib/types.ts';
import type { Packet as PacketT } from '../../../src/idl/demo.ts';
import { ok } from '../../../src/lib/result.ts';
import { Packet, DequePacket32, ArrayPacket8, Bytes4096 } from '../../../src/idl/generated/structs.ts';

type Imports = { counter?: Counter };

// Exponential recursion that keeps the engine's stack at its limit, catching every RangeError
// (through a getter run by a built-in), until the CPU budget stops it (test/rpc-edges.test.ts).
const spinner = {
  get g(): number {
    try { JSON.stringify(spinner); } catch { /* out of stack: go on */ }
    try { JSON.stringify(spinner); } catch { /* out of stack: go on */ }
    return 0;
  },
};

export function init(sys: Sys, imports: Imports, config: Config): Probe {
  let kept: Borrow<PacketT> | null = null;
  const hoard: RRef<unknown>[] = [];
  let heard = 0;
  let irqs = 0;
  let timersFired = 0;
  const secret = { big: new Array(100_000).fill(7) }; // private heap the GC test watches

  const attempts: Record<string, (arg: number) => number> = {
    'throw': () => { throw new Error('probe: thrown on purpose'); },
    'throw-null': () => { throw null; },
    'throw-long-stack': () => {
      const e = new Error('probe: a stack of 1000 frames, written by the domain');
      Object.defineProperty(e, 'stack', { value: `Error: forged\n${'    at f (probe.ts:1:1)\n'.repeat(1000)}` });
      throw e;
    },
    'throw-proxy': () => { throw new Proxy({}, { get() { throw new Error('trap ran in the kernel'); }, getPrototypeOf() { throw new Error('trap ran'); } }); },
    'mutate-array-proto': () => refused(() => { (Array.prototype as unknown as Record<string, unknown>).push = () => 0; }),
    'mutate-object-proto': () => refused(() => { (Object.prototype as Record<string, unknown>).polluted = 1; }),
    'mutate-promise-proto': () => refused(() => { Promise.prototype.then = (() => null) as never; }),
    'mutate-global': () => refused(() => { (globalThis as Record<string, unknown>).stolen = 1; }),
    'reach-process': () => (typeof (globalThis as Record<string, unknown>).process === 'undefined' ? 1 : 0),
    'reach-require': () => (typeof (globalThis as Record<string, unknown>).require === 'undefined' ? 1 : 0),
    'no-evaluators': () => {
      // The kernel removes the compartment's own evaluators: code they evaluated would be neither
      // checked nor metered.
      return typeof globalThis.eval === 'undefined' && typeof globalThis.Function === 'undefined'
        && typeof (globalThis as { Compartment?: unknown }).Compartment === 'undefined' ? 1 : 0;
    },
    'constructor-constructor': () => {
      // The shared Function.prototype.constructor is inert under SES: it throws.
      let g: Record<string, unknown> | undefined;
      try { g = ((() => 0).constructor as FunctionConstructor)('return globalThis')() as Record<string, unknown>; } catch { return 1; }
      return g === globalThis && g.process === undefined ? 1 : 0;
    },
    'date-now': () => refused(() => Date.now()),
    // Interrupts (the domain must be privileged): line `arg` counts into `irqs`; 1000 + n throws.
    'irq-register': (line) => { sys.irq!.register(line, () => { irqs++; sys.log(`irq ${line}`); }); return 1; },
    'irq-throw': (line) => { sys.irq!.register(line, () => { throw new Error(`irq ${line} handler failed`); }); return 1; },
    'irq-unregister': (line) => (sys.irq!.unregister(line) ? 1 : 0),
    'irq-count': () => irqs,
    'console': () => {
      console.log('hello', 42, { a: 1, b: [1, 'x'] }, Object.defineProperty({}, 'g', { get: () => { throw new Error('ran'); }, enumerable: true }));
      console.error('bad', new Proxy({}, {}));
      return 1;
    },
    'timer-throw': () => { sys.timers.after(0, () => { throw new Error('probe: timer callback threw'); }); return 0; },
    'unhandled': () => { void Promise.reject(new Error('probe: nobody handles this')); return 0; },
    'unhandled-in-timer': () => { sys.timers.after(0, () => { void Promise.reject(new Error('probe: floating in a timer')); }); return 0; },
    'thread-throw': () => { sys.threads.spawn('doomed', async () => { await sys.timers.sleep(1); throw new Error('probe: thread died'); }); return 0; },
    'hoard': (n) => {
      // n chains of three nested packets, plus a deque holding n packets each with a child,
      // plus a ring and a page: everything a crash must reclaim.
      for (let i = 0; i < n; i++) {
        const a = Packet.alloc();
        const b = Packet.alloc();
        Packet.putNext(b, Packet.alloc());
        Packet.putNext(a, b);
        hoard.push(a);
      }
      const q = DequePacket32.alloc();
      for (let i = 0; i < n; i++) {
        const p = Packet.alloc();
        Packet.putNext(p, Packet.alloc());
        DequePacket32.push(q, p);
      }
      hoard.push(q, ArrayPacket8.alloc(), Bytes4096.alloc());
      return hoard.length;
    },
    'use-after-move': () => {
      const p = Packet.alloc();
      const r = imports.counter!.bounce(p);
      if (!r.ok) return -1;
      return Packet.len(p); // p was moved: its handle is stale
    },
    'use-after-free': () => { const p = Packet.alloc(); Packet.free(p); return Packet.len(p); },
    'forge': (h) => Packet.len(h as RRef<PacketT>),
    'use-kept': () => (kept === null ? -1 : Packet.len(kept)),
    'alloc-until-full': () => { for (;;) hoard.push(Bytes4096.alloc()); },
    'sleep-forever': () => { sys.timers.every(5, () => undefined); return 0; },
    'call-counter': (n) => { const r = imports.counter!.add(n); return r.ok ? r.value : -1; },
    // Interface references crossing: this domain's own Listener, handed to the counter, which
    // calls back through a proxy. `arg` 1: the listener throws when called.
    'subscribe': (arg) => {
      const listener: Listener = {
        event(v) {
          if (arg === 1) throw new Error('probe: listener threw');
          heard += v;
          return ok(undefined);
        },
      };
      return code(imports.counter!.subscribe(listener));
    },
    'heard': () => heard,
    // Not a Listener (no event method), and a capability of another interface (the counter itself).
    'subscribe-bogus': () => code(imports.counter!.subscribe({} as Listener)),
    'subscribe-counter': () => code(imports.counter!.subscribe(imports.counter as unknown as Listener)),
    'ok': (n) => n,
    'log': (n) => { sys.log(`probe log ${n}`); return n; },
    'stryker-active': () => Number((globalThis as { __stryker__?: { activeMutant?: unknown } }).__stryker__?.activeMutant ?? -1),
    'timer-long': () => { sys.timers.after(600_000, () => undefined); return 0; },
    // From a timer callback of its own (inside the host's timer queue), down to the engine's stack
    // limit: on the way back up, one timer set and one cancelled at each depth until each works.
    'timers-at-limit': () => {
      sys.timers.after(0, () => {
        let set = false;
        let cancelled = false;
        const spare = sys.timers.after(600_000, () => undefined);
        const down = (): void => {
          try { down(); } catch { /* the limit */ }
          try { if (!set) { sys.timers.after(1, () => { timersFired++; }); set = true; } } catch { /* refused */ }
          try { if (!cancelled) { sys.timers.cancel(spare); cancelled = true; } } catch { /* refused */ }
        };
        down();
      });
      return 0;
    },
    'timers-fired': () => timersFired,
    // (privileged) Creates a counter while its grant's getter logs a line the test kills this domain
    // on, then calls the new counter at once, with no CPU-budget check in between
    // (test/rpc-edges.test.ts): the capability must be born revoked.
    'create-dead-caller': (n) => {
      const grant = { get quotaBytes(): undefined { sys.log(`probe create-dead-caller ${n}`); return undefined; } };
      const r = sys.domains!.create<Counter>('counter', {}, null, grant);
      if (!r.ok) return -1;
      const a = r.value.add(n);
      return a.ok ? a.value : -2;
    },
  };

  // Results of odd shapes, returned as they are (test/rpc-results.test.ts checks what the caller gets).
  let getterRuns = 0;
  const results: Record<string, () => unknown> = {
    'err-own': () => ({ ok: false, error: { kind: 'invalid-argument', domain: 'elsewhere', message: 'no such block' } }),
    'err-odd': () => ({ ok: false, error: { kind: 'bogus', domain: 7, message: 5 } }),
    'err-null': () => ({ ok: false, error: null }),
    'err-string': () => ({ ok: false, error: 'plain text' }),
    'err-getter': () => ({ ok: false, error: { get kind() { getterRuns++; return 'failed'; }, message: 'from a getter' } }),
    'err-getter-throws': () => ({ ok: false, error: { get kind(): string { throw new Error('probe: kind getter threw'); } } }),
    'getter-runs': () => ok(getterRuns),
    'ok-bad-value': () => ({ ok: true, value: 'not a number' }),
    'ok-odd': () => ({ ok: 'yes', value: 1 }),
    'not-a-result': () => 42,
    // (test/rpc-edges.test.ts) an error that is a function with the three fields; a value whose
    // getter logs a line the test kills this domain on, then returns a value of the wrong type
    'err-function': () => ({ ok: false, error: Object.assign(() => 0, { kind: 'dead', domain: 'elsewhere', message: 'from a function' }) }),
    'ok-bad-value-kill': () => ({ ok: true, get value(): string { sys.log('probe value getter'); return 'not a number'; } }),
  };

  // config.init names an attempt made during init, whose throw init catches: a domain that dies
  // there (a heap violation marks it dead) and still returns (test/kernel-lifecycle.test.ts).
  const during = (config as { init?: unknown } | null)?.init;
  if (typeof during === 'string') {
    try { attempts[during](0); } catch { /* returns as if nothing happened */ }
  }

  return {
    run(what, arg) {
      const shaped = results[what];
      if (shaped) return shaped() as RpcResult<number>;
      const f = attempts[what];
      if (!f) throw new Error(`probe: no attempt named ${what}`);
      return ok(f(arg));
    },
    async runAsync(what, arg) {
      if (what === 'throw-later') { await sys.timers.sleep(1); throw new Error('probe: async method threw'); }
      if (what === 'hang') { await new Promise(() => undefined); return ok(0); }
      if (what === 'slow') { await sys.timers.sleep(arg); return ok(arg); }
      // (test/rpc-edges.test.ts) results read by the kernel after the promise fulfilled: a getter
      // that throws; one that logs a line the test kills this domain on, then throws; and a spin
      // at the engine's stack limit after an await, until the CPU budget stops it
      if (what === 'result-getter-throws') return { get ok(): boolean { throw new Error('probe: ok getter threw'); } } as never;
      if (what === 'result-getter-kill') return { get ok(): boolean { sys.log('probe ok getter'); throw new Error('probe: ok getter ran on'); } } as never;
      if (what === 'spin-at-limit-later') { await sys.timers.sleep(1); return ok(spinner.g); }
      return ok(attempts[what](arg));
    },
    keep(p, write) {
      kept = p;
      if (write) Packet.setLen(p as unknown as RRef<PacketT>, 999);
      return ok(undefined);
    },
    hold(p) { hoard.push(p); return ok(undefined); },
    page() { return ok(Bytes4096.alloc()); },
    ring(r) { return ok(r); },
    // Not part of the interface: a private method a test may try to reach through the proxy.
    secret: () => secret,
  } as Probe;
}

/** 1 for ok, -2 for an invalid-argument error, -1 for any other error. */
function code(r: RpcResult<unknown>): number {
  return r.ok ? 1 : r.error.kind === 'invalid-argument' ? -2 : -1;
}

/** 1 if `f` was refused (threw), 0 if the mutation took effect. */
function refused(f: () => unknown): number {
  try { f(); return 0; } catch { return 1; }
}

// A privileged test domain for sys.domains.load, kill and own-implementation imports (what rv6's
// core does with programs): run(what) tries one thing and returns a code the test checks.
// config.bundle is a signed bundle's text (the counter's), config.probe the name of the probe's.
import type { Counter, Probe } from '../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../src/idl/lib/sys.ts';
import { ok } from '../../../src/lib/result.ts';
import { encodeUtf8 } from '../../../src/lib/utf8.ts';

export function init(sys: Sys, imports: { counter?: Counter }, config: Config): Probe {
  const c = config as { bundle: string; probe: string };
  const domains = sys.domains!;
  let trapped = 0;
  let child: Counter | null = null;
  const refused = (f: () => unknown): number => {
    try { f(); return 0; } catch (e) { return /refused bundle|plain Uint8Array/.test((e as Error).message) ? 1 : 2; }
  };
  const mine: Counter = {
    nop: () => ok(undefined), add: (n) => ok(n * 1000), stats: () => ok({ calls: 0, total: 0 }), bounce: (p) => ok(p), peek: () => ok(0),
    addLater: async (n) => ok(n), echoLater: async (n) => ok(n), chain: (a) => ok(a), sum: (b) => ok(b), name: () => ok('mine'),
    subscribe: () => ok(undefined), notify: () => ok(0),
  };
  const cases: Record<string, (n: number) => number> = {
    'load-create': (n) => {
      const key = domains.load(encodeUtf8(c.bundle));
      if (!/^counter@[0-9a-f]{16}$/.test(key)) return -1;
      const r = domains.create<Counter>(key);
      if (!r.ok) return -2;
      child = r.value;
      const a = child.add(n);
      return a.ok ? a.value : -3;
    },
    'load-proxy': () => refused(() => domains.load(new Proxy(encodeUtf8(c.bundle), { get: (t, k) => { trapped++; return Reflect.get(t, k); }, getPrototypeOf: () => { trapped++; return Uint8Array.prototype; } }))) + trapped * 10,
    'load-subclass': () => refused(() => { class Sneaky extends Uint8Array {} return domains.load(new Sneaky(encodeUtf8(c.bundle))); }),
    'load-own-constructor': () => refused(() => { const b = encodeUtf8(c.bundle); Object.defineProperty(b, 'constructor', { get() { trapped++; return Uint8Array; } }); return domains.load(b); }) + trapped * 10,
    'load-tampered': () => refused(() => domains.load(encodeUtf8(c.bundle.replace('"code":"', '"code":" ')))),
    'load-unsigned': () => refused(() => { const d = JSON.parse(c.bundle) as Record<string, unknown>; delete d.signature; return domains.load(encodeUtf8(JSON.stringify(d))); }),
    'load-garbage': () => refused(() => domains.load(new Uint8Array([0xff, 0xfe, 0x00]))),
    'kill-child': () => (child !== null && domains.kill(child) ? (child.add(1).ok ? 2 : 1) : 0),
    'kill-import': () => (domains.kill(imports.counter) ? 1 : 0),
    'kill-junk': () => (domains.kill({}) || domains.kill(null) || domains.kill(mine) ? 1 : 0),
    'own-import': (n) => {
      const r = domains.create<Probe>(c.probe, { counter: mine });
      if (!r.ok) return -1;
      const x = r.value.run('call-counter', n);
      return x.ok ? x.value : -2;
    },
    'own-import-and-kill': (n) => {
      const r = domains.create<Probe>(c.probe, { counter: mine });
      if (!r.ok) return -1;
      const x = r.value.run('call-counter', n);
      return domains.kill(r.value) && x.ok ? x.value : -2;
    },
    'own-import-wrong': () => {
      const r = domains.create<Probe>(c.probe, { counter: { add: () => ok(1) } });
      return r.ok ? 1 : 0;
    },
    'create-at-limit': () => {
      // At each of the deepest 300 depths down to the engine's stack limit, in frames of a few
      // sizes, create a child that imports the counter (a link to it, and a quota) and stop it
      // again; and once 5000 frames above the limit. Returns how many children were made.
      let made = 0;
      let deepest = 0;
      const attempt = (n: number): void => {
        if (n > deepest) deepest = n;
        if (n < deepest - 300 && n !== deepest - 5000) return;
        let r: ReturnType<typeof domains.create<Probe>> | null = null;
        try { r = domains.create<Probe>(c.probe, { counter: imports.counter }); } catch { return; }
        if (r.ok) { made++; try { domains.kill(r.value); } catch { /* at the limit: the test kills the rest */ } }
      };
      const r1 = (n: number): number => { try { r1(n + 1); } catch { /* the limit */ } attempt(n); return n; };
      const r2 = (n: number, a: number, b: number): number => { const x = a + b; try { r2(n + 1, x, a); } catch { /* the limit */ } attempt(n); return x; };
      const r3 = (n: number, a: number, b: number, d: number, e: number): number => {
        const x = a + b + d; const y = e + x;
        try { r3(n + 1, y, x, a, b); } catch { /* the limit */ }
        attempt(n);
        return x + y;
      };
      r1(0); deepest = 0; r2(0, 1, 2); deepest = 0; r3(0, 1, 2, 3, 4);
      return made;
    },
    'grant-over': () => {
      const key = domains.load(encodeUtf8(c.bundle));
      const r = domains.create<Counter>(key, {}, null, { budgetMs: 1e9 });
      return r.ok ? 1 : 0;
    },
  };
  return {
    run: (what, n) => ok(cases[what]!(n)),
    runAsync: async (what, n) => ok(cases[what]!(n)),
    keep: () => ok(undefined), hold: () => ok(undefined), page: () => ok(null), ring: (r) => ok(r),
  };
}

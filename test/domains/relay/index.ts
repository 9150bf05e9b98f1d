// A test domain that calls two capabilities in a row, with no CPU-budget check between the calls
// (no loop, no function entry of its own): run('call-b-then-count', n) calls b.run('log', n), then
// counter.add(1). If it is killed during the first call, the second must never happen: its
// capabilities are revoked (test/mechanisms.test.ts).
import type { Counter, Probe } from '../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../src/idl/lib/sys.ts';
import { ok } from '../../../src/lib/result.ts';

export function init(_sys: Sys, imports: { b?: Probe; counter?: Counter }, _config: Config): Probe {
  return {
    run: (what, n) => {
      if (what !== 'call-b-then-count') return ok(-1);
      imports.b!.run('log', n);
      const r = imports.counter!.add(1);
      return ok(r.ok ? r.value : -2);
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined), hold: () => ok(undefined), page: () => ok(null), ring: (r) => ok(r),
  };
}

// A demonstration domain (`frond demo`): run() never returns. The build put a CPU-budget check on
// the loop's back-edge, so the kernel stops the domain once it has run for its budget without
// yielding; nothing else is affected.
import type { Probe } from '../../../idl/demo.ts';
import type { Config, Sys } from '../../../idl/lib/sys.ts';
import { ok } from '../../../lib/result.ts';

export function init(_sys: Sys, _imports: unknown, _config: Config): Probe {
  return {
    run: () => {
      let n = 0;
      while (true) n = (n + 1) | 0;
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

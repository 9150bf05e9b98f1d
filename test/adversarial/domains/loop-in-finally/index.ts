// Hostile domain (loop-in-finally): spins in a finally block, and uses `continue` in finally to cancel any throw.
// It is built, signed and loaded like any other domain; test/adversarial/adversarial.test.ts checks
// that what it attempts is contained.
import type { Counter, Probe } from '../../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../../src/idl/lib/sys.ts';
import { ok } from '../../../../src/lib/result.ts';

export function init(sys: Sys, imports: { counter?: Counter }, _config: Config): Probe {
  void sys;
  void imports;
  return {
    run: () => {
      let i = 0;
      for (; i >= 0;) {
        try {
          i++;
          throw new Error('into finally');
        } finally {
          // `continue` in finally discards the pending throw: if the kernel's abort were a plain
          // throw, this would swallow it
          continue;
        }
      }
      return ok(i);
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

// Hostile domain (loop-in-catch): spins inside a try whose catch swallows everything, in an endless outer loop.
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
      let caught = 0;
      for (; caught >= 0;) {
        try {
          for (;;) caught += 0;
        } catch {
          caught++; // swallow the abort and go round again
        }
      }
      return ok(caught);
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

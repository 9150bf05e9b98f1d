// Hostile domain, refused by the trusted build: declares the CPU meter's fuel variable, to shadow it.
import type { Probe } from '../../../../src/idl/demo.ts';
import { ok } from '../../../../src/lib/result.ts';

export function init(): Probe {
  return {
    run: () => {
      let __frond_fuel = 1e12;
      __frond_fuel++;
      return ok(0);
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

// Hostile domain, refused by the trusted build: imports another domain's code.
import type { Probe } from '../../../../src/idl/demo.ts';
import { ok } from '../../../../src/lib/result.ts';
import { makeCounter } from '../../../../src/domains/apps/counter/index.ts';
export function init(): Probe {
  return {
    run: () => {
      void makeCounter;
      return ok(0);
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

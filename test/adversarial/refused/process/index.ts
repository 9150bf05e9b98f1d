// Hostile domain, refused by the trusted build: reads the host's process object.
import type { Probe } from '../../../../src/idl/demo.ts';
import { ok } from '../../../../src/lib/result.ts';

export function init(): Probe {
  return {
    run: () => {
      process.exit(1);
      return ok(0);
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

// Hostile domain, refused by the trusted build: imports a Node built-in module.
import type { Probe } from '../../../../src/idl/demo.ts';
import { ok } from '../../../../src/lib/result.ts';
import { readFileSync } from 'node:fs';
export function init(): Probe {
  return {
    run: () => {
      readFileSync('/etc/passwd');
      return ok(0);
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

// Hostile domain (throw-null): throws values that are not Errors: null, and a Proxy whose traps throw.
// It is built, signed and loaded like any other domain; test/adversarial/adversarial.test.ts checks
// that what it attempts is contained.
import type { Counter, Probe } from '../../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../../src/idl/lib/sys.ts';
import { ok } from '../../../../src/lib/result.ts';

export function init(sys: Sys, imports: { counter?: Counter }, _config: Config): Probe {
  void sys;
  void imports;
  return {
    run: (what) => {
      if (what === 'proxy') throw new Proxy({}, { get() { throw new Error('trap ran in the kernel'); }, getPrototypeOf() { throw new Error('trap ran in the kernel'); } });
      throw null;
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

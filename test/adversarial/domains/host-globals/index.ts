// Hostile domain (host-globals): looks for the host's process, require and Buffer without naming them (the build would refuse the names).
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
      const g = globalThis as Record<string, unknown>;
      const name = what.split('').reverse().join('');
      const found = g[name] ?? (g.global as Record<string, unknown> | undefined)?.[name];
      if (found !== undefined) return ok(1); // an escape
      return ok(0);
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

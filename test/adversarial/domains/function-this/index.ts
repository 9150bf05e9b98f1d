// Hostile domain (function-this): asks a Function constructor reached through an object for the real global object.
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
      const F = (() => 0).constructor as (src: string) => () => unknown;
      const g = F('return this')() as Record<string, unknown> | undefined;
      return ok(g !== undefined && (g.process !== undefined || g.Buffer !== undefined) ? 1 : 0);
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

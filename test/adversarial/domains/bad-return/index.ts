// Hostile domain (bad-return): returns values that are not of the declared types.
// It is built, signed and loaded like any other domain; test/adversarial/adversarial.test.ts checks
// that what it attempts is contained.
import type { Counter, Probe } from '../../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../../src/idl/lib/sys.ts';
import { ok } from '../../../../src/lib/result.ts';

export function init(sys: Sys, imports: { counter?: Counter }, _config: Config): Probe {
  void sys;
  void imports;
  return {
    run: ((what: string) => {
      if (what === 'string') return { ok: true, value: 'not an i32' };
      if (what === 'getter') return { get ok() { throw new Error('getter ran'); } };
      return { ok: true, value: 2 ** 40 };
    }) as unknown as Probe['run'],
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

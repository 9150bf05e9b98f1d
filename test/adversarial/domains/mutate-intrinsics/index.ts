// Hostile domain (mutate-intrinsics): tries to change the shared intrinsics every domain (and the kernel) relies on.
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
      const protos: Record<string, object> = { array: Array.prototype, object: Object.prototype, promise: Promise.prototype };
      const target = protos[what] as Record<string, unknown>;
      target.then = () => 'hijacked';
      target.push = () => 'hijacked';
      target.polluted = true;
      return ok(1);
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

// Hostile domain (reuse-rref): uses a packet after moving it away, or after freeing it.
// It is built, signed and loaded like any other domain; test/adversarial/adversarial.test.ts checks
// that what it attempts is contained.
import type { Counter, Probe } from '../../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../../src/idl/lib/sys.ts';
import { ok } from '../../../../src/lib/result.ts';
import { Packet } from '../../../../src/idl/generated/structs.ts';
export function init(sys: Sys, imports: { counter?: Counter }, _config: Config): Probe {
  void sys;
  void imports;
  return {
    run: (what) => {
      const p = Packet.alloc();
      if (what === 'moved') {
        const r = imports.counter!.bounce(p); // p is moved to the counter and back as r
        if (!r.ok) return ok(-1);
      } else {
        Packet.free(p);
      }
      return ok(Packet.len(p)); // p is stale
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

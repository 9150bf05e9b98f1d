// Hostile domain (hog-heap): allocates exchange-heap packets until refused, and keeps trying.
// It is built, signed and loaded like any other domain; test/adversarial/adversarial.test.ts checks
// that what it attempts is contained.
import type { Counter, Probe } from '../../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../../src/idl/lib/sys.ts';
import { ok } from '../../../../src/idl/lib/rpc.ts';
import { Packet } from '../../../../src/idl/generated/structs.ts';
export function init(sys: Sys, imports: { counter?: Counter }, _config: Config): Probe {
  void sys;
  void imports;
  return {
    run: (what) => {
      const held = [];
      for (;;) {
        try {
          held.push(Packet.alloc());
        } catch {
          if (what === 'once') return ok(held.length); // a well-behaved domain handles it
        }
      }
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

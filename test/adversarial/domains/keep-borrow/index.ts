// Hostile domain (keep-borrow): keeps a packet it was lent for one call, and uses it in a later one.
// It is built, signed and loaded like any other domain; test/adversarial/adversarial.test.ts checks
// that what it attempts is contained.
import type { Counter, Probe } from '../../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../../src/idl/lib/sys.ts';
import { ok } from '../../../../src/lib/result.ts';
import { Packet } from '../../../../src/idl/generated/structs.ts';
import type { Packet as PacketT } from '../../../../src/idl/demo.ts';
import type { Borrow } from '../../../../src/idl/lib/types.ts';
export function init(sys: Sys, imports: { counter?: Counter }, _config: Config): Probe {
  void sys;
  void imports;
  let kept: Borrow<PacketT> | null = null;
  return {
    run: () => ok(kept === null ? -1 : Packet.len(kept)),
    runAsync: async () => ok(0),
    keep: (p) => {
      kept = p;
      return ok(undefined);
    },
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

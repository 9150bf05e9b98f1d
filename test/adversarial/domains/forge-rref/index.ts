// Hostile domain (forge-rref): makes up an RRef handle to read another domain's packet.
// It is built, signed and loaded like any other domain; test/adversarial/adversarial.test.ts checks
// that what it attempts is contained.
import type { Counter, Probe } from '../../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../../src/idl/lib/sys.ts';
import { ok } from '../../../../src/lib/result.ts';
import { Packet } from '../../../../src/idl/generated/structs.ts';
import type { Packet as PacketT } from '../../../../src/idl/demo.ts';
import type { RRef } from '../../../../src/idl/lib/types.ts';
export function init(sys: Sys, imports: { counter?: Counter }, _config: Config): Probe {
  void sys;
  void imports;
  return {
    run: (_what, guess) => ok(Packet.len(guess as unknown as RRef<PacketT>)),
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

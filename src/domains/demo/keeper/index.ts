// A demonstration domain (`frond demo`): it keeps the packets moved to it and hands them back in
// a ring, so the exchange heap's owner counts show an RRef changing hands. It holds only handles:
// the packets themselves live in the exchange heap, owned by whoever holds them.
import type { Packet as PacketT, Probe } from '../../../idl/demo.ts';
import type { Config, Sys } from '../../../idl/lib/sys.ts';
import type { RRef } from '../../../idl/lib/types.ts';
import { ok } from '../../../lib/result.ts';
import { ArrayPacket8, Packet } from '../../../idl/generated/structs.ts';

export function init(_sys: Sys, _imports: unknown, _config: Config): Probe {
  const held: RRef<PacketT>[] = [];
  return {
    /** 'held': how many packets it keeps */
    run: (what) => ok(what === 'held' ? held.length : 0),
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    /** keeps the packet (it is this domain's now) and marks it: flags = 1 */
    hold(p) {
      Packet.setFlags(p, 1);
      held.push(p);
      return ok(undefined);
    },
    page: () => ok(null),
    /** hands back what it keeps (up to 8 packets) in the ring it was given */
    ring(r) {
      for (let i = 0; i < ArrayPacket8.capacity && held.length > 0; i++) ArrayPacket8.put(r, i, held.shift()!);
      return ok(r);
    },
  };
}

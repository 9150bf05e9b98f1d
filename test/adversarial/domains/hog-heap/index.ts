// Hostile domain (hog-heap): allocates exchange-heap packets until refused, and keeps trying.
// It is built, signed and loaded like any other domain; test/adversarial/adversarial.test.ts checks
// that what it attempts is contained.
import type { Counter, Probe } from '../../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../../src/idl/lib/sys.ts';
import type { RRef } from '../../../../src/idl/lib/types.ts';
import { ok } from '../../../../src/lib/result.ts';
import { Bytes4096, Packet } from '../../../../src/idl/generated/structs.ts';
export function init(sys: Sys, imports: { counter?: Counter }, _config: Config): Probe {
  void sys;
  void imports;
  return {
    run: (what) => {
      // 'once': packets until refused; 'pages': page-sized objects until refused; 'forever': keeps
      // trying after refusals; 'fragment': fills its quota with packets and frees all but one in
      // every 64, so that what it holds is mostly empty.
      const held: RRef<Packet>[] = [];
      const alloc = what === 'pages' ? (): RRef<Packet> => Bytes4096.alloc() as unknown as RRef<Packet> : (): RRef<Packet> => Packet.alloc();
      for (;;) {
        try {
          held.push(alloc());
        } catch {
          if (what === 'fragment') {
            let kept = 0;
            for (let i = 0; i < held.length; i++) if (i % 64 === 0) kept++; else Packet.free(held[i]!);
            return ok(kept);
          }
          if (what !== 'forever') return ok(held.length); // a well-behaved domain handles it
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

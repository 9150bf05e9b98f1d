// Hostile driver (dma-attacks): granted the NVMe-like device, it tries to make the device read or
// write memory it was not given. test/block.test.ts checks that each attempt fails without
// touching anything: the device reaches memory only through IOMMU entries the kernel made for
// objects this domain owns (kernel/services/devices.ts).
import type { Probe } from '../../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../../src/idl/lib/sys.ts';
import { ok } from '../../../../src/lib/result.ts';
import { Bytes4096 } from '../../../../src/idl/generated/structs.ts';
import type { RRef } from '../../../../src/idl/lib/types.ts';
import { Opcode, QueuePair, Status, createQueueCommand, type Command } from '../../../../src/machine/common/nvme.ts';

export function init(sys: Sys, _imports: Readonly<Record<string, unknown>>, config: Config): Probe {
  const dev = sys.devices!.open(String((config as Record<string, Config>).device));
  const admin = new QueuePair(dev.memory, 0, dev.atomics);
  const wait = (q: QueuePair, cid: number): number => {
    for (let i = 0; i < 50_000_000; i++) {
      const c = q.poll();
      if (c !== null && c.cid === cid) return c.status;
    }
    throw new Error('no completion');
  };
  admin.submit(createQueueCommand(1, 1, 1, 0));
  if (wait(admin, 1) !== Status.SUCCESS) throw new Error('cannot create the I/O queue');
  const io = new QueuePair(dev.memory, 1, dev.atomics);
  io.mask(true);
  let cid = 0;
  const one = (opcode: number, iova: number, count = 1): number => {
    const c: Command = { opcode, cid: (cid = (cid + 1) % 200), lba: 0, count, bufIova: iova, bufLength: 4096 * count };
    io.submit(c);
    return wait(io, c.cid);
  };
  return {
    run: (what, arg) => {
      switch (what) {
        case 'forged-iovas': {
          // I/O addresses nobody mapped: small numbers, arena-offset-like values, every index of a
          // few generations. Both directions. Returns how many were refused with BAD_BUFFER.
          let refused = 0;
          const guesses = [0, 1, 4096, 65536, 0x7fffffff, -1];
          for (let g = 0; g < 4; g++) for (let i = 0; i < arg; i++) guesses.push(g * 65536 + i);
          for (const iova of guesses) {
            if (one(Opcode.READ, iova) === Status.BAD_BUFFER) refused++;
            if (one(Opcode.WRITE, iova) === Status.BAD_BUFFER) refused++;
          }
          return ok(refused === 2 * guesses.length ? 1 : 0);
        }
        case 'stale-iova': {
          const b = Bytes4096.alloc();
          const iova = dev.map(b, -1, 2);
          dev.unmap(iova);
          const s = one(Opcode.READ, iova);
          Bytes4096.free(b);
          return ok(s);
        }
        case 'wrong-direction': {
          const b = Bytes4096.alloc();
          const iova = dev.map(b, -1, 1); // the device may only read it
          const s = one(Opcode.READ, iova); // a READ makes the device write it
          dev.unmap(iova);
          Bytes4096.free(b);
          return ok(s);
        }
        case 'too-long': {
          const b = Bytes4096.alloc();
          const iova = dev.map(b, -1, 3);
          const s = one(Opcode.READ, iova, 2); // 8 KiB into a 4 KiB mapping
          dev.unmap(iova);
          Bytes4096.free(b);
          return ok(s);
        }
        case 'map-foreign':
          dev.map(arg, -1, 2);
          return ok(0);
        case 'write-pinned': {
          const b = Bytes4096.alloc();
          dev.map(b, -1, 2);
          Bytes4096.setByte(b as RRef<never>, 0, 1);
          return ok(0);
        }
        case 'free-pinned': {
          const b = Bytes4096.alloc();
          dev.map(b, -1, 2);
          Bytes4096.free(b);
          return ok(0);
        }
        case 'unmap-forged':
          return ok(dev.unmap(arg) ? 1 : 0);
        case 'bad-access': {
          const b = Bytes4096.alloc();
          try { dev.map(b, -1, arg); return ok(0); } catch { Bytes4096.free(b); return ok(1); }
        }
        case 'no-wait':
          return ok(typeof (dev.atomics as unknown as Record<string, unknown>).wait === 'undefined' && typeof (globalThis as Record<string, unknown>).Atomics === 'undefined' ? 1 : 0);
        default:
          return ok(-1);
      }
    },
    runAsync: async () => ok(0),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

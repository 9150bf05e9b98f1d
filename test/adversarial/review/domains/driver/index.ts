// Hostile driver for the review of sys.devices (test/adversarial/review/devices.test.ts and the
// hung-* tests): one attack per `what`. Built unchecked. Any code of this domain that the kernel
// must never run logs "HOSTILE CODE RAN" (the tests look for it in the kernel log).
import type { Probe } from '../../../../../src/idl/demo.ts';
import type { Config, DeviceCap, Sys } from '../../../../../src/idl/lib/sys.ts';
import type { RRef } from '../../../../../src/idl/lib/types.ts';
import { ok } from '../../../../../src/lib/result.ts';
import { BlockReq, Bytes4096, DequeBlockReq32 } from '../../../../../src/idl/generated/structs.ts';
import { Control, QueuePair, Reg, DeviceStatus, QueueReg, Status, createQueueCommand, identifyCommand, queueReg, type Command } from '../../../../../src/machine/common/nvme.ts';

export function init(sys: Sys, _imports: Readonly<Record<string, unknown>>, config: Config): Probe {
  const cfg = (config ?? {}) as Record<string, Config>;
  const name = String(cfg.device);
  let dev: DeviceCap | null = null;
  const cap = (): DeviceCap => (dev ??= sys.devices!.open(name));
  const ran = (): void => { sys.log('HOSTILE CODE RAN'); };
  const pages: RRef<never>[] = [];
  const reqs: RRef<never>[] = [];
  let admin: QueuePair | null = null;
  let cid = 0;

  /** hostile stand-ins for a number: none of their code may run */
  const hostileNumber = (n: number): unknown[] => [
    { valueOf() { ran(); return n; } },
    { toString() { ran(); return String(n); } },
    { [Symbol.toPrimitive]() { ran(); return n; } },
    new Proxy({}, { get() { ran(); return () => n; }, getPrototypeOf() { ran(); return Number.prototype; } }),
    new Proxy(Object(n) as object, { get() { ran(); return () => n; } }),
    Object(n),
    [n],
    String(n),
    BigInt(Math.max(0, Math.trunc(n))),
    n + 0.5,
    -n,
    NaN,
    Infinity,
    2 ** 53,
    2 ** 32 + n,
    true,
    null,
    undefined,
  ];

  const words = (): Int32Array => new Int32Array(cap().memory);
  const adminQueue = (): QueuePair => (admin ??= new QueuePair(cap().memory, 0, cap().atomics));

  const impl: Probe = {
    run(what, arg) {
      switch (what) {
        case 'open':
          cap();
          return ok(1);
        case 'map-page': {
          const p = Bytes4096.alloc() as RRef<never>;
          pages.push(p);
          return ok(cap().map(p, -1, arg));
        }
        case 'map-req-child': {
          const r = BlockReq.alloc();
          BlockReq.putData(r, Bytes4096.alloc());
          reqs.push(r as RRef<never>);
          return ok(cap().map(r, 0, arg));
        }
        case 'take-pinned-child':
          BlockReq.takeData(reqs[reqs.length - 1] as never);
          return ok(0);
        case 'put-pinned-child':
          BlockReq.putData(reqs[reqs.length - 1] as never, null);
          return ok(0);
        case 'pop-pinned': {
          const d = DequeBlockReq32.alloc();
          const r = BlockReq.alloc();
          DequeBlockReq32.push(d, r);
          cap().map(d, 0, 2); // the request's own data, through the deque
          DequeBlockReq32.pop(d);
          return ok(0);
        }
        case 'unmap':
          try { return ok(cap().unmap(arg) ? 1 : 0); } catch (e) { sys.log(`unmap threw: ${(e as Error).message}`); return ok(-1); }
        case 'unmap-twice': {
          const p = Bytes4096.alloc();
          const iova = cap().map(p, -1, 2);
          const a = cap().unmap(iova);
          const b = cap().unmap(iova);
          Bytes4096.free(p);
          return ok((a ? 10 : 0) + (b ? 1 : 0));
        }
        case 'free-pages': {
          let n = 0;
          for (const p of pages.splice(0)) { Bytes4096.free(p); n++; }
          for (const r of reqs.splice(0)) { BlockReq.free(r as never); n++; }
          return ok(n);
        }
        case 'hostile-access': {
          // access values that are not 1, 2 or 3: each is refused (an error this domain may catch)
          const p = Bytes4096.alloc();
          let mapped = 0;
          for (const v of [...hostileNumber(2), 0, 4, -1, 1.5, 2 ** 32 + 2]) {
            try { cap().map(p, -1, v as number); mapped++; } catch { /* refused */ }
          }
          Bytes4096.free(p); // (would be a violation if anything were left pinned)
          return ok(mapped);
        }
        case 'hostile-h': {
          // a stand-in for a handle this domain owns: a violation, and nothing of it runs
          const p = Bytes4096.alloc();
          pages.push(p as RRef<never>);
          cap().map(hostileNumber(p)[arg] as number, -1, 2);
          return ok(0);
        }
        case 'hostile-child': {
          const r = BlockReq.alloc();
          BlockReq.putData(r, Bytes4096.alloc());
          reqs.push(r as RRef<never>);
          cap().map(r, hostileNumber(0)[arg] as number, 2);
          return ok(0);
        }
        case 'fill-iommu': {
          // the same object mapped until the table is full
          const p = Bytes4096.alloc() as RRef<never>;
          pages.push(p);
          let n = 0;
          for (;;) {
            try { cap().map(p, -1, n % 2 === 0 ? 1 : 3); n++; } catch { return ok(n); }
          }
        }
        case 'stack-map': {
          // map and unmap at every depth down to the engine's stack limit, in frames of a few sizes
          const p = Bytes4096.alloc() as RRef<never>;
          pages.push(p);
          const stuck: number[] = [];
          let maps = 0;
          const attempt = (): void => {
            let iova = 0;
            try { iova = cap().map(p, -1, 2); maps++; } catch { return; }
            try { cap().unmap(iova); } catch { stuck.push(iova); }
          };
          const r1 = (n: number): number => { try { r1(n + 1); } catch { /* the limit */ } attempt(); return n; };
          const r2 = (n: number, a: number, b: number): number => { const x = a + b; try { r2(n + 1, x, a); } catch { /* the limit */ } attempt(); return x; };
          const r3 = (n: number, a: number, b: number, c: number, d: number, e: number): number => {
            const x = a + b + c; const y = d + e + x;
            try { r3(n + 1, y, x, a, b, c); } catch { /* the limit */ }
            attempt();
            return x + y;
          };
          const r4 = (n: number, a: number): number => { const s = [a, n]; try { r4(n + 1, s.length); } catch { /* the limit */ } attempt(); return s.length; };
          for (let k = 0; k < 3; k++) { r1(0); r2(0, 1, 2); r3(0, 1, 2, 3, 4, 5); r4(0, 1); }
          for (const iova of stuck) { try { cap().unmap(iova); } catch { /* */ } }
          return ok(maps);
        }
        case 'forge-stopped': {
          // Make the kernel's reset believe an earlier disable finished (CC.EN clear, STATUS
          // STOPPED), without telling the device (no doorbell), and crash. (The controller's own
          // words are not in the driver's memory: these writes land on words of its own.)
          const w = words();
          cap().atomics.store(w, Control.CC >>> 2, 0);
          cap().atomics.store(w, Reg.STATUS >>> 2, DeviceStatus.STOPPED);
          throw new Error('forged a stopped controller');
        }
        case 'power-cut': {
          const w = words();
          cap().atomics.store(w, Control.POWER_CUT >>> 2, 1);
          cap().atomics.add(w, Reg.DOORBELL >>> 2, 1);
          cap().atomics.notify(w, Reg.DOORBELL >>> 2);
          return ok(1);
        }
        case 'io-queue': {
          // creates I/O queue 1 (interrupts masked): 1 if it worked
          const a = adminQueue();
          const c = createQueueCommand(cid++ & 0xffff, 1, 1, 0);
          a.submit(c);
          for (let i = 0; i < 10_000_000; i++) { const d = a.poll(); if (d !== null) return ok(d.status === Status.SUCCESS ? 1 : 0); }
          return ok(0);
        }
        case 'garbage': {
          // arg commands with garbage in every field (seeded), on I/O queue 1, around two real
          // mappings of this domain's; returns how many completed with SUCCESS
          const io = new QueuePair(cap().memory, 1, cap().atomics);
          io.mask(true);
          const p = Bytes4096.alloc() as RRef<never>;
          const q = Bytes4096.alloc() as RRef<never>;
          pages.push(p, q);
          const iova = cap().map(p, -1, 3);
          const iovaR = cap().map(q, -1, 1); // the device may only read this one
          let x = 0x9e3779b9;
          const rnd = (n: number): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
          const vals = [0, 1, 2, 3, 7, 8, 15, 16, 17, 255, 511, 512, 4095, 4096, 4097, 8192, 65535, 65536, 0x7fffffff, 0x80000000, 0xffffffff,
            iova, iova + 1, iova - 1, iova + 65536, iova - 65536, iova & 0xffff, iovaR, iovaR + 65536, iova ^ iovaR];
          const pick = (): number => (rnd(4) === 0 ? (rnd(0x7fffffff) * 2 + rnd(2)) >>> 0 : vals[rnd(vals.length)]);
          const ops = [1, 2, 3, 0, 4, 16, 17, 18, 0xffff];
          let success = 0;
          const seen = (c: { status: number } | null): void => { if (c !== null && c.status === Status.SUCCESS) success++; };
          for (let k = 0; k < arg; k++) {
            const c: Command = { opcode: ops[rnd(ops.length)], cid: k & 0xffff, count: pick(), lba: pick() + (rnd(8) === 0 ? pick() * 2 ** 20 : 0), bufIova: pick(), bufLength: pick() };
            while (io.submit(c) !== Status.SUCCESS) seen(io.poll());
          }
          for (let i = 0; i < 50_000_000 && io.inFlight > 0; i++) seen(io.poll());
          return ok(io.inFlight > 0 ? -1 : success);
        }
        case 'bad-doorbell': {
          // an SQ tail past the ring, and one on a queue that does not exist
          const w = words();
          cap().atomics.store(w, queueReg(1, QueueReg.SQ_TAIL) >>> 2, 0x7fffffff);
          cap().atomics.store(w, queueReg(3, QueueReg.SQ_TAIL) >>> 2, 5);
          cap().atomics.add(w, Reg.DOORBELL >>> 2, 1);
          cap().atomics.notify(w, Reg.DOORBELL >>> 2);
          return ok(1);
        }
        case 'status':
          return ok(cap().atomics.load(words(), Reg.STATUS >>> 2));
        case 'irq-throw':
        case 'irq-spin':
        case 'irq-count': {
          let seen = 0;
          cap().onInterrupt(() => {
            seen++;
            if (what === 'irq-throw') throw new Error('interrupt handler throws');
            if (what === 'irq-spin') for (;;) { /* spin in the handler */ }
            sys.log(`interrupt ${seen}`);
          });
          adminQueue().submit(identifyCommand(cid++ & 0xffff)); // the admin queue interrupts at once
          return ok(1);
        }
        case 'steal-irq':
          sys.irq!.register(arg, () => { sys.log('stolen interrupt'); });
          return ok(1);
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
  if (cfg.open === true) cap();
  return impl;
}

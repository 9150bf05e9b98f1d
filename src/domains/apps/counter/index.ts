// The counter service: a small stateful domain exercising every kind of exchangeable value.
// Its state (a running total, a call count, one listener) lives in its private heap.
import type { Counter, Listener } from '../../../idl/demo.ts';
import type { Config, Sys } from '../../../idl/lib/sys.ts';
import type { RpcResult } from '../../../idl/lib/types.ts';
import { ok } from '../../../lib/result.ts';
import { Packet, DequePacket32 } from '../../../idl/generated/structs.ts';

export function init(sys: Sys, _imports: unknown, _config: Config): Counter {
  return makeCounter(sys);
}

/** The implementation, also usable as a plain (undomained) object by benchmarks. */
export function makeCounter(sys: Sys): Counter {
  let total = 0;
  let calls = 0;
  let listener: Listener | null = null;
  const NOP: RpcResult<void> = ok(undefined);
  return {
    nop: () => NOP,
    add(n) {
      calls++;
      total = (total + n) | 0;
      return ok(total);
    },
    stats: () => ok({ calls, total }),
    bounce: (p) => ok(p),
    peek: (p) => ok(Packet.len(p)),
    addLater: async (n) => {
      await sys.timers.sleep(0);
      total = (total + n) | 0;
      return ok(total);
    },
    echoLater: async (n) => ok(n),
    sum(batch) {
      let s = 0;
      const held = [];
      for (let p = DequePacket32.pop(batch); p !== null; p = DequePacket32.pop(batch)) {
        s += Packet.len(p);
        held.push(p);
      }
      for (const p of held) DequePacket32.push(batch, p);
      total = (total + s) | 0;
      return ok(batch);
    },
    chain(a, b) {
      const prev = Packet.putNext(a, b);
      if (prev !== null) Packet.free(prev);
      return ok(a);
    },
    name: () => ok(sys.self.name),
    subscribe(l) {
      listener = l;
      return NOP;
    },
    notify(v) {
      if (!listener) return ok(0);
      const r = listener.event(v);
      return ok(r.ok ? 1 : 0);
    },
  };
}

// The benchmark caller: runs n iterations of one kind of call from inside a domain, so that what
// is timed is a domain calling another through its proxy (bench/calls.ts times each run from the
// host). Every loop consumes its results into a checksum: for every sync kind the checksum is n
// (the host checks it), so nothing can be optimised away and every call is known to have succeeded.
import type { Bench } from '../../../src/idl/bench.ts';
import type { Counter } from '../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../src/idl/lib/sys.ts';
import type { RpcResult, RRef } from '../../../src/idl/lib/types.ts';
import { fail, ok } from '../../../src/lib/result.ts';
import { Packet } from '../../../src/idl/generated/structs.ts';

/** The async Counter method timed by `async`: it must resolve at once (no timer), so the figure is
 *  the cost of the async proxy machinery. `addLater` would time a timer tick instead. */
const ASYNC_METHOD: 'echoLater' | 'addLater' = 'echoLater';

export interface Imports { counter: Counter; shadow: Counter }

/** An in-domain object shaped like the counter's `nop`: the same call minus the proxy. */
function makeLocal(): Pick<Counter, 'nop'> {
  const NOP: RpcResult<void> = ok(undefined);
  return { nop: () => NOP };
}

export function init(sys: Sys, imports: Imports, _config: Config): Bench {
  const { counter, shadow } = imports;
  const local = makeLocal();
  const name = sys.self.name;
  let packet: RRef<Packet> | null = null;

  /** The packet moved to and fro by `rref` and lent by `borrow` (length 1, so peek sums to n). */
  const held = (): RRef<Packet> => {
    if (packet === null) {
      packet = Packet.alloc();
      Packet.setLen(packet, 1);
    }
    return packet;
  };

  // One function per kind, so each loop is optimised on its own feedback.
  const direct = (n: number): RpcResult<number> => {
    let sum = 0;
    for (let i = 0; i < n; i++) if (local.nop().ok) sum++;
    return ok(sum);
  };
  const proxy = (n: number): RpcResult<number> => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const r = counter.nop();
      if (!r.ok) return r;
      sum++;
    }
    return ok(sum);
  };
  const rref = (n: number): RpcResult<number> => {
    let sum = 0;
    let p = held();
    for (let i = 0; i < n; i++) {
      const r = counter.bounce(p);
      if (!r.ok) {
        packet = null; // it went down with the callee
        return r;
      }
      p = r.value;
      sum++;
    }
    packet = p;
    return ok(sum);
  };
  const borrow = (n: number): RpcResult<number> => {
    let sum = 0;
    const p = held();
    for (let i = 0; i < n; i++) {
      const r = counter.peek(p);
      if (!r.ok) return r;
      sum += r.value;
    }
    return ok(sum);
  };
  const viaShadow = (n: number): RpcResult<number> => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const r = shadow.nop();
      if (!r.ok) return r;
      sum++;
    }
    return ok(sum);
  };

  const run = (what: string, n: number): RpcResult<number> => {
    switch (what) {
      case 'direct': return direct(n);
      case 'proxy': return proxy(n);
      case 'rref': return rref(n);
      case 'borrow': return borrow(n);
      case 'shadow': return viaShadow(n);
      default: return fail('invalid-argument', name, `Bench.run: no benchmark kind '${what}'`);
    }
  };

  const runAsync = async (what: string, n: number): Promise<RpcResult<number>> => {
    if (what !== 'async') return fail('invalid-argument', name, `Bench.runAsync: no benchmark kind '${what}'`);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const r = await counter[ASYNC_METHOD](1);
      if (!r.ok) return r;
      sum += r.value;
    }
    return ok(sum);
  };

  return { run, runAsync };
}

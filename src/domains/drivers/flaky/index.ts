// A driver that crashes when its fault plan says so; otherwise a counter. It stands in for a real
// device driver in the recovery tests and demonstration: each crash is an ordinary exception
// escaping a call, which the kernel contains and the shadow recovers from.
import type { Counter, FaultPlan } from '../../../idl/demo.ts';
import type { Config, Sys } from '../../../idl/lib/sys.ts';
import { ok } from '../../../lib/result.ts';
import { Packet } from '../../../idl/generated/structs.ts';

export function init(sys: Sys, imports: { plan: FaultPlan }, _config: Config): Counter {
  let total = 0;
  const fault = (): void => {
    const r = imports.plan.crashNow();
    if (r.ok && r.value) throw new Error('injected fault');
  };
  return {
    nop: () => { fault(); return ok(undefined); },
    add: (n) => { fault(); total = (total + n) | 0; return ok(total); },
    stats: () => ok({ calls: 0, total }),
    bounce: (p) => { fault(); return ok(p); },
    peek: () => { fault(); return ok(0); },
    addLater: async (n) => { fault(); await sys.timers.sleep(0); total = (total + n) | 0; return ok(total); },
    echoLater: async (n) => { fault(); return ok(n); },
    sum: (b) => ok(b),
    chain: (a, b) => {
      fault();
      const prev = Packet.putNext(a, b);
      if (prev !== null) Packet.free(prev);
      return ok(a);
    },
    name: () => ok(sys.self.name),
    subscribe: () => ok(undefined),
    notify: () => ok(0),
  };
}

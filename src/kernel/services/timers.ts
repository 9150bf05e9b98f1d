// The timer service: sys.timers for one domain, and the reclaim that cancels a dead domain's
// timers. Every timer the domain has is on its record (Domain.timers), so nothing fires after it
// died; a sleep of a dead domain never settles and is collected with its continuation.
import type { Timers } from '../../idl/lib/sys.ts';
import type { Domain } from '../domain.ts';
import { show } from '../safe.ts';
import { callback, checkFn, live, type ServiceKernel } from './common.ts';

function checkMs(ms: unknown): number {
  if (typeof ms !== 'number' || !(ms >= 0) || ms > 2 ** 31 - 1) throw new RangeError(`timers: bad delay ${show(ms)}`);
  return ms;
}

export function timersFor(k: ServiceKernel, d: Domain): Timers {
  return {
    after(ms, fn) {
      live(d);
      const wait = checkMs(ms);
      const f = checkFn(fn, 'timers');
      const t = k.nextId();
      d.timers.set(t, k.host.setTimer(wait, () => {
        k.rpc.toEventLoop();
        // (not on the record: cancelled, or this `after` was cut short at the engine's stack limit
        // once the host timer existed, and the domain was told it failed)
        if (d.timers.delete(t)) callback(k, d, `timer ${t}`, f);
      }));
      return t;
    },
    every(ms, fn) {
      live(d);
      const wait = Math.max(1, checkMs(ms));
      const f = checkFn(fn, 'timers');
      const t = k.nextId();
      const tick = (): void => {
        k.rpc.toEventLoop();
        if (!d.timers.has(t)) return;
        d.timers.set(t, k.host.setTimer(wait, tick));
        callback(k, d, `timer ${t}`, f);
      };
      d.timers.set(t, k.host.setTimer(wait, tick));
      return t;
    },
    cancel(t) {
      live(d);
      const h = d.timers.get(t);
      if (h === undefined) return false;
      k.host.clearTimer(h);
      d.timers.delete(t);
      return true;
    },
    sleep(ms) {
      live(d);
      const wait = checkMs(ms);
      const t = k.nextId();
      return new Promise<void>((resolve) => {
        d.timers.set(t, k.host.setTimer(wait, () => { d.timers.delete(t); resolve(); }));
      });
    },
  };
}

/** Cancels every timer of a dead domain; returns how many (idempotent: kernel.ts reap). */
export function reclaimTimers(k: ServiceKernel, d: Domain): number {
  const n = d.timers.size;
  for (const [id, t] of d.timers) { k.host.clearTimer(t); d.timers.delete(id); }
  return n;
}

// The thread service: sys.threads for one domain, and the reclaim that forgets a dead domain's
// threads. A thread is a kernel-tracked task: its body runs at once, as the domain (a nested
// level, charged to the stretch that started it); its continuations are promise jobs of the
// domain's; a rejection crashes the domain.
import type { Threads } from '../../idl/lib/sys.ts';
import type { Domain } from '../domain.ts';
import { DomainAbort } from '../rpc.ts';
import { checkFn, live, whenSettled, type ServiceKernel } from './common.ts';

export function threadsFor(k: ServiceKernel, d: Domain): Threads {
  return {
    spawn(name, body) {
      live(d);
      if (typeof name !== 'string') throw new TypeError('threads.spawn: name must be a string');
      const f = checkFn(body, 'threads.spawn');
      const t = k.nextId();
      d.threads.set(t, { id: t, name });
      let p: unknown;
      try {
        p = k.rpc.run(d.id, f);
      } catch (e) {
        d.threads.delete(t);
        k.crash(d, `thread ${name}`, e);
        throw new DomainAbort(`domain ${d.name} crashed in thread ${name}`, d.id);
      }
      const end = (): void => { d.threads.delete(t); };
      if (!whenSettled(k, p, end, (e) => { end(); k.crash(d, `thread ${name}`, e); })) end();
      return t;
    },
    list() {
      live(d);
      return [...d.threads.values()].map((t) => t.name);
    },
  };
}

/** Forgets a dead domain's threads (their continuations abort at their next check); returns how many. */
export function reclaimThreads(d: Domain): number {
  const n = d.threads.size;
  d.threads.clear();
  return n;
}

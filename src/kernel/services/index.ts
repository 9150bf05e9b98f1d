// The kernel services handed to a domain's init, each bound to that domain, one module per
// service with its own reclaim (called by the crash path, kernel.ts reap):
//
//   log, console   log.ts        the domain's lines in the kernel log
//   clock          (here)        monotonic milliseconds
//   timers         timers.ts     reclaimTimers cancels them
//   threads        threads.ts    reclaimThreads forgets them
//   heap           heap.ts       the exchange heap's own reclaim and release
//   irq            irq.ts        Interrupts.reclaim frees the lines (privileged domains)
//   domains        (here)        creating domains (privileged domains); they end on their own
//   devices        devices.ts    DeviceTable.reclaim stops the device and its DMA (drivers)
//
// Every service checks on entry that its domain is alive (a dead domain's capabilities are
// revoked), runs domain callbacks under crash containment with the domain recorded as the running
// one (common.ts), and records what it creates on the domain's record, which its reclaim undoes.
import type { Domains, Sys } from '../../idl/lib/sys.ts';
import type { Domain } from '../domain.ts';
import { live, type ServiceKernel } from './common.ts';
import { devicesFor } from './devices.ts';
import { heapFor } from './heap.ts';
import { irqFor } from './irq.ts';
import { consoleFor, logFor, type DomainConsole } from './log.ts';
import { reclaimThreads, threadsFor } from './threads.ts';
import { reclaimTimers, timersFor } from './timers.ts';

export type { ServiceKernel } from './common.ts';
export type { DomainConsole } from './log.ts';
export { Interrupts } from './irq.ts';
export { DeviceTable } from './devices.ts';

function domainsFor(k: ServiceKernel, d: Domain): Domains {
  return {
    create(bundle, imports = {}, config = null, grant = {}) {
      live(d);
      if (typeof bundle !== 'string') throw new TypeError('domains.create: bundle must be a name');
      return k.createFor(d, bundle, imports, config, grant) as never;
    },
    load(bytes) {
      live(d);
      return k.loadFor(d, bytes);
    },
    kill(cap, reason = 'killed') {
      live(d);
      return k.killFor(d, cap, typeof reason === 'string' ? reason.slice(0, 200) : 'killed');
    },
  };
}

/** The services of domain `d`, and the `console` of its compartment. */
export function makeSys(k: ServiceKernel, d: Domain): Sys & { readonly console: DomainConsole } {
  return harden({
    self: { id: d.id, name: d.name },
    log: logFor(k, d),
    console: consoleFor(k, d),
    clock: { now: () => k.host.now() },
    timers: timersFor(k, d),
    threads: threadsFor(k, d),
    heap: heapFor(k.heap, d),
    ...(d.args.privileged ? { irq: irqFor(k, d), domains: domainsFor(k, d) } : {}),
    ...(d.args.devices.length > 0 ? { devices: devicesFor(k, d) } : {}),
  });
}

/** What a dead domain's services held, now undone (the heap is reclaimed separately, after its
 *  calls in flight have failed). Idempotent. */
export function reclaimServices(k: ServiceKernel, d: Domain): { timers: number; threads: number; irqs: number; devices: number } {
  // Devices first: their reset and IOMMU removal are what make the heap's reclaim safe (devices.ts).
  const devices = k.devices.reclaim(k, d);
  return { timers: reclaimTimers(k, d), threads: reclaimThreads(d), irqs: k.interrupts.reclaim(d), devices };
}

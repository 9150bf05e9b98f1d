// The interrupt service: which domain's handler each interrupt line runs (one owner per line),
// sys.irq for a privileged domain, delivery (Kernel.interrupt), and the reclaim that frees a dead
// domain's lines. A handler runs as its domain, under crash containment, and waits for the next
// turn of the event loop while its domain has used its CPU share of this one (common.ts callback).
import type { Irq } from '../../idl/lib/sys.ts';
import type { Domain } from '../domain.ts';
import { show } from '../safe.ts';
import { callback, checkFn, live, type ServiceKernel } from './common.ts';

export class Interrupts {
  private readonly lines = new Map<number, { d: Domain; fn: () => void }>();
  /** lines of attached devices (Kernel.attachDevice): only their driver, through sys.devices, may
   *  take them */
  private readonly reserved = new Map<number, string>();

  /** Reserves `line` for device `name`. */
  reserve(line: number, name: string): void {
    const by = this.reserved.get(line);
    if (by !== undefined) throw new Error(`irq: line ${line} is device ${by}'s`);
    if (this.lines.has(line)) throw new Error(`irq: line ${line} is taken by domain ${this.lines.get(line)!.d.name}`);
    this.reserved.set(line, name);
  }

  /** Routes `line` to `fn` of domain `d`; `device`: the call comes from the device's driver. */
  register(d: Domain, line: unknown, fn: () => void, device = false): void {
    if (typeof line !== 'number' || (line >>> 0) !== line) throw new RangeError(`irq: bad line ${show(line)}`);
    const by = this.reserved.get(line);
    if (by !== undefined && !device) throw new Error(`irq: line ${line} belongs to device ${by}; its driver takes it through sys.devices`);
    const cur = this.lines.get(line);
    if (cur && cur.d !== d) throw new Error(`irq: line ${line} belongs to domain ${cur.d.name}`);
    this.lines.set(line, { d, fn });
    d.irqs.add(line);
  }

  unregister(d: Domain, line: number): boolean {
    const cur = this.lines.get(line);
    if (!cur || cur.d !== d) return false;
    this.lines.delete(line);
    d.irqs.delete(line);
    return true;
  }

  /** A device raised `line`: runs its handler. False if nobody (alive) listens. */
  deliver(line: number): boolean {
    const h = this.lines.get(line);
    if (!h || !h.d.alive) return false;
    h.fn();
    return true;
  }

  /** Frees a dead domain's lines; returns how many (idempotent: kernel.ts reap). */
  reclaim(d: Domain): number {
    const n = d.irqs.size;
    for (const line of d.irqs) {
      if (this.lines.get(line)?.d === d) this.lines.delete(line);
      d.irqs.delete(line);
    }
    return n;
  }
}

export function irqFor(k: ServiceKernel, d: Domain): Irq {
  return {
    register(line, handler) {
      live(d);
      const f = checkFn(handler, 'irq.register');
      k.interrupts.register(d, line, () => callback(k, d, `interrupt ${line}`, f));
    },
    unregister(line) {
      live(d);
      return k.interrupts.unregister(d, line);
    },
  };
}

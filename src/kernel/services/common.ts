// What every kernel service needs: the kernel's side of it (ServiceKernel), the revocation check,
// and the way a service runs a domain's callback.
//
// Values a domain hands over are hostile: arguments are checked by type only (no coercion, which
// would run the domain's toString or valueOf), error messages describe them with show(), and a
// callback's result is treated as a promise only if it is a plain one (kernel.isPlainPromise), so
// the kernel never runs a domain's `then`, `constructor` or species hooks.
import type { Domains } from '../../idl/lib/sys.ts';
import type { Domain } from '../domain.ts';
import type { ExchangeHeap } from '../heap.ts';
import type { Host } from '../../machine/common/host.ts';
import { DomainAbort, type Rpc } from '../rpc.ts';
import type { Interrupts } from './irq.ts';
import type { DeviceTable } from './devices.ts';

export interface ServiceKernel {
  readonly host: Host;
  readonly heap: ExchangeHeap;
  readonly rpc: Rpc;
  readonly interrupts: Interrupts;
  readonly devices: DeviceTable;
  crash(d: Domain, cause: string, e: unknown): void;
  isPlainPromise(p: unknown): boolean;
  overBudget(d: Domain): boolean;
  log(line: string): void;
  nextId(): number;
  createFor(creator: Domain, bundle: string, imports: Readonly<Record<string, unknown>>, config?: unknown, grant?: unknown): ReturnType<Domains['create']>;
  loadFor(creator: Domain, bytes: unknown): string;
  killFor(creator: Domain, cap: unknown, reason: string): boolean;
}

/** Throws into a dead domain's code: its capabilities are revoked. */
export function live(d: Domain): void {
  if (!d.alive) throw new DomainAbort(`capability revoked: domain ${d.name} is dead`, d.id);
}

const promiseThen = Promise.prototype.then;

/** Attaches handlers if `p` is a plain promise; false otherwise (see the header). */
export function whenSettled(k: ServiceKernel, p: unknown, ok: (() => void) | undefined, fail: (e: unknown) => void): boolean {
  if (!k.isPlainPromise(p)) return false;
  promiseThen.call(p as Promise<unknown>, ok, fail);
  return true;
}

/**
 * Runs a domain's callback (a timer's, an interrupt handler) as the domain; a throw, or a rejection
 * of what it returns, crashes it. Put off to the next turn of the event loop while the domain has
 * used its CPU share of this one (budget.ts), so its many short callbacks cannot starve others.
 */
export function callback(k: ServiceKernel, d: Domain, what: string, fn: () => unknown): void {
  if (!d.alive) return;
  if (k.overBudget(d)) { k.host.nextTurn(() => { k.rpc.toEventLoop(); callback(k, d, what, fn); }); return; }
  let r: unknown;
  try {
    r = k.rpc.run(d.id, fn);
  } catch (e) {
    k.crash(d, what, e);
    return;
  }
  whenSettled(k, r, undefined, (e) => k.crash(d, what, e));
}

export function checkFn(fn: unknown, what: string): () => unknown {
  if (typeof fn !== 'function') throw new TypeError(`${what}: callback must be a function`);
  return fn as () => unknown;
}

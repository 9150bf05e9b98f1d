// A domain: the unit of isolation, fault containment and restart.
//
// The record holds everything the kernel must undo when the domain dies: the links it calls
// through and is called through, its timers, threads, interrupt lines and in-flight async calls.
// After death the record keeps no reference to anything the domain created (its compartment, its
// exported object, its closures), so the engine can collect the domain's private heap.
import type { Link, RetFn } from '../idl/lib/proxy.ts';
import type { RpcResult } from '../idl/lib/types.ts';

/** A verified domain bundle (kernel/verify.ts): code evaluated in a fresh compartment for every
 *  instance. */
export interface Bundle {
  readonly name: string;
  /** a script whose completion value is a function from the domain's meter to `{ start }` */
  readonly code: string;
  /** the esbuild source map (JSON), to name TypeScript file:line in crash reports */
  readonly map: string;
  /** the IDL interface the domain's init returns */
  readonly exports: string | undefined;
  /** the capabilities its init takes: import name → interface */
  readonly imports: Readonly<Record<string, string>>;
  /** built with CPU-budget checks */
  readonly metered: boolean;
  /** the id of the key that signed it */
  readonly key: string;
}

/** What the metered code of one domain instance calls (tools/domainc/meter.ts inserts the calls). */
export interface MeterHooks {
  /** the preemption timer's interrupt-pending word (read-only to the metered code) */
  readonly pending: DataView;
  /** the word was raised: reads the clock; returns, or throws the kernel's abort */
  readonly tick: () => void;
  /** at the start of every catch and finally block: throws the abort again if the domain is dead */
  readonly live: () => void;
}

export const CALLER_DEAD = 1;
export const CALLEE_DEAD = 2;

export interface KLink extends Link {
  iface: string;
  /** the two ends' names, for messages (kept here, so the kernel keeps no table of the dead) */
  readonly callerName: string;
  readonly calleeName: string;
  /** the callee while it is alive (so an async call finds its list of calls in flight without a
   *  lookup); null once it is dead */
  target: Domain | null;
}

/** An async call into a domain that has not settled yet: a node of the callee's list of calls in
 *  flight (Domain.inflight), doubly linked so that settling one is O(1) without hashing. */
export interface Pending {
  readonly link: KLink;
  /** the method, for error messages, and its generated result check */
  readonly method: string;
  readonly ret: RetFn;
  resolve: ((r: RpcResult<unknown>) => void) | null;
  done: (() => void) | null;
  prev: Pending | null;
  next: Pending | null;
}

export interface Thread { readonly id: number; readonly name: string }

export interface CreateArgs {
  readonly bundle: string;
  /** the proxies the creator handed over, as the creator holds them */
  readonly imports: Readonly<Record<string, unknown>>;
  readonly privileged: boolean;
  /** plain data for init, already copied and frozen */
  readonly config: unknown;
  /** the domain that created it (KERNEL_ID: the kernel) */
  readonly creator: number;
  /** CPU budget: the longest the domain may run without yielding, in ms */
  readonly budgetMs: number;
  /** exchange-heap quota in bytes */
  readonly quotaBytes: number;
  /** the devices it may open (services/devices.ts) */
  readonly devices: readonly string[];
}

export class Domain {
  alive = true;
  /** what the domain's init returned; null once dead */
  impl: object | null = null;
  readonly calls = new Set<KLink>();    // links this domain calls through
  readonly served = new Set<KLink>();   // links through which others call it
  readonly timers = new Map<number, unknown>();
  readonly threads = new Map<number, Thread>();
  readonly irqs = new Set<number>();
  /** roots it moved into a domain that crashed come back to it (sys.heap.salvage) */
  salvages = false;
  /** the first of its calls in flight (see Pending), or null */
  inflight: Pending | null = null;
  /** the source URL its code was evaluated under (frond-domain://name/id) */
  readonly url: string;
  /** CPU time charged (kernel/budget.ts), in ms: to its current run (keyed by the activation
   *  number of its outermost level), to the stretch it roots, and to this turn of the event loop */
  /** ms it had run when its budget stopped it (budget.ts stop), and whether its end is queued */
  overrun = 0;
  queued = false;
  runKey = 0;
  runSpent = 0;
  stretchKey = 0;
  stretchSpent = 0;
  turn = -1;
  turnSpent = 0;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly bundle: Bundle,
    readonly args: CreateArgs,
  ) {
    this.url = `frond-domain://${name}/${id}`;
  }
}

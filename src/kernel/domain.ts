// A domain: the unit of isolation, fault containment and restart.
//
// The record holds everything the kernel must undo when the domain dies: the links it calls
// through and is called through, its timers, threads, interrupt lines and in-flight async calls.
// After death the record keeps no reference to anything the domain created (its compartment, its
// exported object, its closures), so the engine can collect the domain's private heap.
import type { Link } from '../idl/lib/proxy.ts';
import type { RpcResult } from '../idl/lib/types.ts';

/** A compiled domain: code evaluated in a fresh compartment for every instance. */
export interface Bundle {
  readonly name: string;
  /** a script whose completion value is `{ start(sys, imports) }` */
  readonly code: string;
  /** the esbuild source map (JSON), to name TypeScript file:line in crash reports */
  readonly map?: string;
  /** the IDL interface the domain's init returns */
  readonly exports?: string;
}

export const CALLER_DEAD = 1;
export const CALLEE_DEAD = 2;

export interface KLink extends Link {
  iface: string;
}

/** An async call into a domain that has not settled yet. */
export interface Pending {
  readonly link: KLink;
  resolve: ((r: RpcResult<unknown>) => void) | null;
  done: (() => void) | null;
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
  readonly inflight = new Set<Pending>();
  /** the source URL its code was evaluated under (frond-domain://name/id) */
  readonly url: string;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly bundle: Bundle,
    readonly args: CreateArgs,
  ) {
    this.url = `frond-domain://${name}/${id}`;
  }
}

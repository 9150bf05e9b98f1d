// The proxy runtime: what generated proxies (idl/generated/proxies.ts) call to cross a boundary.
//
// A link connects one caller domain to one callee domain for one interface; the proxy object a
// caller holds serves exactly one link. `link.state` is 0 while both ends live, so the fast path of
// a call is one load and compare. When either end dies the kernel sets the state bits and drops
// `link.impl`, so a proxy held by anybody keeps nothing of a dead domain alive.
//
// Crossings are recorded on the running thread's domain stack (enter/leave). JavaScript runs one
// synchronous stretch at a time, so one stack serves every thread for its synchronous part; an
// async call's crossing is recorded in the callee's in-flight set until it settles.
import type { IfaceDescriptor, ProxyRuntime, RetFn } from '../idl/lib/proxy.ts';
import type { RpcError, RpcErrorKind, RpcResult } from '../idl/lib/types.ts';
import { IFACES } from '../idl/generated/proxies.ts';
import { CALLEE_DEAD, CALLER_DEAD, type Domain, type KLink, type Pending } from './domain.ts';
import type { ExchangeHeap } from './heap.ts';
import { table } from './table.ts';

export const KERNEL_ID = 0;

const aborts = new WeakSet<object>();

/** Thrown into a domain's code to unwind it after the domain was killed. */
export class DomainAbort extends Error {
  override name = 'DomainAbort';
  constructor(message: string) {
    super(message);
    aborts.add(this);
  }
}

/** Whether `e` is a kernel abort. Unlike instanceof, runs no trap of a Proxy a domain threw. */
export function isAbort(e: unknown): boolean {
  return typeof e === 'object' && e !== null && aborts.has(e);
}

export interface RpcHost {
  readonly heap: ExchangeHeap;
  domain(id: number): Domain | undefined;
  nameOf(id: number): string;
  crash(d: Domain, cause: string, e: unknown): void;
}

interface ProxyInfo { readonly link: KLink }

const promiseThen = Promise.prototype.then;
const KINDS: readonly RpcErrorKind[] = ['crashed', 'dead', 'revoked', 'invalid-argument', 'bad-return', 'failed'];

export class Rpc implements ProxyRuntime {
  readonly BAD: symbol = Symbol('bad');
  /** The running thread's domain stack: stack[depth - 1] is the domain executing now. */
  private readonly stack = table(64, KERNEL_ID);
  /** When the activation at each level began (0: not yet measured); see budget.ts. */
  private readonly started = table(64, 0);
  private depth = 1;
  private readonly proxies = new WeakMap<object, ProxyInfo>();
  private readonly k: RpcHost;
  /** k.heap; generated proxies call its moveAs directly (see ProxyRuntime.heap) */
  readonly heap: ExchangeHeap;

  constructor(k: RpcHost) {
    this.k = k;
    this.heap = k.heap;
  }

  /** The domain whose code is running now (KERNEL_ID when none). */
  current(): number {
    return this.stack[this.depth - 1];
  }

  /** Runs `fn` as domain `id` (for timers, threads, interrupts entered by the kernel). */
  run<T>(id: number, fn: () => T): T {
    this.started[this.depth] = 0;
    this.stack[this.depth++] = id;
    try { return fn(); } finally { this.depth--; }
  }

  /** The domains on the current thread's stack, innermost last. */
  crossings(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.depth; i++) out[out.length] = this.stack[i];
    return out;
  }

  // ---- links and proxies -----------------------------------------------------------------

  /** Connects `caller` to `callee`'s implementation of `iface` and returns the caller's proxy. */
  connect(iface: string, caller: Domain | null, callee: Domain, impl: object | null): object {
    const d = IFACES[iface];
    const link: KLink = {
      state: callee.alive && impl !== null ? 0 : CALLEE_DEAD,
      impl: callee.alive ? impl : null,
      caller: caller ? caller.id : KERNEL_ID,
      callee: callee.id,
      iface,
      target: callee.alive ? callee : null,
    };
    if (caller && !caller.alive) { link.state |= CALLER_DEAD; link.impl = null; }
    caller?.calls.add(link);
    if (callee.alive) callee.served.add(link);
    const p = harden(d.make(this, link));
    this.proxies.set(p, { link });
    return p;
  }

  descriptor(iface: string): IfaceDescriptor | undefined {
    return IFACES[iface];
  }

  /** The link behind a proxy, if `v` is one held by `holder`. */
  linkOf(v: unknown, holder: number): KLink | null {
    if (v === null || typeof v !== 'object') return null;
    const info = this.proxies.get(v);
    return info && info.link.caller === holder ? info.link : null;
  }

  wrap(iface: string, v: unknown, from: number, to: number): unknown {
    const target = this.k.domain(to);
    if (!target) return this.BAD;
    const held = this.linkOf(v, from);
    if (held) {
      if (held.iface !== iface) return this.BAD;
      const callee = this.k.domain(held.callee);
      return callee ? this.connect(iface, target, callee, held.impl) : this.deadProxy(iface, target, held.callee);
    }
    // Otherwise it must be the sender's own implementation of the interface.
    const d = IFACES[iface];
    const owner = this.k.domain(from);
    if (!d || !owner || v === null || typeof v !== 'object' || this.proxies.has(v)) return this.BAD;
    for (const m of d.methods) if (typeof (v as Record<string, unknown>)[m] !== 'function') return this.BAD;
    return this.connect(iface, target, owner, v);
  }

  private deadProxy(iface: string, caller: Domain, calleeId: number): object {
    const link: KLink = { state: CALLEE_DEAD, impl: null, caller: caller.id, callee: calleeId, iface, target: null };
    caller.calls.add(link);
    const p = harden(IFACES[iface].make(this, link));
    this.proxies.set(p, { link });
    return p;
  }

  // ---- the call path ---------------------------------------------------------------------

  enter(link: KLink): void {
    this.started[this.depth] = 0;
    this.stack[this.depth++] = link.callee;
  }

  /** When the running activation began: `now` if this is the first time anyone asked. */
  runStart(now: number): number {
    const i = this.depth - 1;
    const t = this.started[i];
    if (t !== 0) return t;
    this.started[i] = now;
    return now;
  }

  leave(link: KLink): void {
    this.depth--;
    if (link.state & CALLER_DEAD) this.late(link);
  }

  /** The caller died while the call was running: reclaim what the call handed it, unwind it. */
  private late(link: KLink): never {
    this.k.heap.reclaim(link.caller);
    throw new DomainAbort(`domain ${this.k.nameOf(link.caller)} was killed`);
  }

  private fail(kind: RpcErrorKind, link: KLink, message: string): RpcResult<never> {
    return { ok: false, error: Object.freeze({ kind, domain: this.k.nameOf(link.callee), message }) };
  }

  refused(link: KLink): RpcResult<never> {
    if (link.state & CALLER_DEAD) {
      throw new DomainAbort(`capability revoked: domain ${this.k.nameOf(link.caller)} is dead`);
    }
    return this.fail('dead', link, `${link.iface}: domain ${this.k.nameOf(link.callee)} is dead`);
  }

  invalid(link: KLink, method: string, what: string, want: string): RpcResult<never> {
    return this.fail('invalid-argument', link, `${method}: argument ${what} is not of type ${want}`);
  }

  badReturn(link: KLink, method: string, what: string, want: string): RpcResult<never> {
    const d = this.k.domain(link.callee);
    const msg = `${method} returned a ${what} that is not of type ${want}`;
    if (d) this.k.crash(d, `bad return from ${method}`, new TypeError(msg));
    return this.fail('bad-return', link, msg);
  }

  notOk(link: KLink, method: string, ok: unknown, r: unknown, want: string): RpcResult<never> {
    if (ok === true) return this.badReturn(link, method, 'value', want);
    if (ok === false) return { ok: false, error: this.error(link, method, (r as { error: unknown }).error) };
    return this.badReturn(link, method, 'result', `RpcResult<${want}>`);
  }

  fault(link: KLink, method: string, e: unknown): RpcResult<never> {
    const d = this.k.domain(link.callee);
    if (d) this.k.crash(d, `${isAbort(e) ? 'killed' : 'exception'} in ${method}`, e);
    return this.fail('crashed', link, `${method}: domain ${this.k.nameOf(link.callee)} crashed`);
  }

  /** A callee's own RpcError, checked and copied (so nothing of the callee's object crosses). */
  error(link: KLink, method: string, e: unknown): RpcError {
    let kind: unknown;
    let message: unknown;
    let domain: unknown;
    if (e !== null && typeof e === 'object') {
      kind = (e as RpcError).kind;
      message = (e as RpcError).message;
      domain = (e as RpcError).domain;
    }
    if (typeof kind !== 'string' || !KINDS.includes(kind as RpcErrorKind)) kind = 'failed';
    return Object.freeze({
      kind: kind as RpcErrorKind,
      domain: typeof domain === 'string' ? domain : this.k.nameOf(link.callee),
      message: typeof message === 'string' ? message : `${method} failed`,
    });
  }

  checkMove(from: number, h: unknown, typeId: number): boolean {
    return this.heap.movableAs(from, h, typeId);
  }

  move(h: unknown, from: number, to: number): number {
    return this.heap.move(h, from, to);
  }

  checkBorrow(from: number, h: unknown, typeId: number): boolean {
    return this.heap.typeOf(from, h) === typeId;
  }

  borrow(h: unknown, from: number, to: number): number {
    return this.heap.borrow(h, from, to);
  }

  unborrow(h: number): void {
    this.heap.unborrow(h);
  }

  track(link: KLink, method: string, p: unknown, ret: RetFn, done: (() => void) | null): Promise<RpcResult<unknown>> {
    const callee = link.target;
    if (callee === null) {
      done?.();
      return Promise.resolve(this.fail('crashed', link, `${method}: domain ${this.k.nameOf(link.callee)} crashed`));
    }
    return new Promise((resolve) => {
      const rec: Pending = { link, resolve, done, prev: null, next: callee.inflight };
      if (rec.next !== null) rec.next.prev = rec;
      callee.inflight = rec;
      try {
        promiseThen.call(p as Promise<unknown>, (v) => {
          if (rec.resolve === null) return;
          let r: RpcResult<unknown>;
          this.enter(link);
          try { r = ret(this, link, v); } catch (e) { r = this.fault(link, method, e); }
          this.depth--;
          this.settle(callee, rec, r);
        }, (e) => this.settle(callee, rec, this.fault(link, method, e)));
      } catch {
        this.settle(callee, rec, this.badReturn(link, method, 'result', 'Promise'));
      }
    });
  }

  /** (A method, not a per-call closure: closures cost a name definition each under tsx.) */
  private settle(callee: Domain, rec: Pending, r: RpcResult<unknown>): void {
    if (rec.resolve === null) return; // already failed by the callee's crash
    if (rec.prev !== null) rec.prev.next = rec.next;
    else callee.inflight = rec.next;
    if (rec.next !== null) rec.next.prev = rec.prev;
    rec.prev = rec.next = null;
    this.finish(rec, r);
  }

  /** Settles a pending call once: ends its borrows, and resolves it unless the caller is dead. */
  finish(rec: Pending, r: RpcResult<unknown>): void {
    const resolve = rec.resolve;
    rec.resolve = null;
    rec.done?.();
    if (resolve === null) return;
    if (rec.link.state & CALLER_DEAD) {
      // Never resume a dead caller; reclaim whatever the result handed it.
      this.k.heap.reclaim(rec.link.caller);
      return;
    }
    resolve(r);
  }

  /** Fails every call in flight into a dead domain, at once. */
  failInflight(d: Domain): number {
    let n = 0;
    let rec = d.inflight;
    d.inflight = null;
    while (rec !== null) {
      const next = rec.next;
      rec.prev = rec.next = null;
      n++;
      this.finish(rec, this.fail('crashed', rec.link, `${rec.link.iface}: domain ${d.name} crashed`));
      rec = next;
    }
    return n;
  }
}

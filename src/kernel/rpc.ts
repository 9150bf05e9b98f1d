// The proxy runtime: what generated proxies (idl/generated/proxies.ts) call to cross a boundary,
// and the record of which domain is running.
//
// A link connects one caller domain to one callee domain for one interface; the proxy object a
// caller holds serves exactly one link. `link.state` is 0 while both ends live, so the fast path of
// a call is one load and compare. When either end dies the kernel sets the state bits and drops
// `link.impl`, so a proxy held by anybody keeps nothing of a dead domain alive.
//
// The domain stack. JavaScript runs one synchronous stretch at a time, so one stack serves every
// thread: ids[depth - 1] is the domain running now, level 0 is the kernel. A level is pushed for
// every entry into a domain: a proxied call (enter), a timer, thread, interrupt handler or init
// (run), and a promise job whose promise a domain made (jobStart: the kernel's promise hooks, so
// an async continuation runs as the domain that awaited). Each level has an activation number,
// positive for a kernel entry and negative for a promise job (budget.ts uses both).
//
// Invariants, whatever a domain throws and wherever the engine runs out of stack:
//   - every push is undone by an assignment `depth = <the level returned by the push>` that makes
//     no call, so a throw at any point (a stack overflow included) cannot leave a level behind;
//   - every event-loop entry (a promise job, a timer, an interrupt) starts again from depth 1, so
//     even a kernel bug could not carry a wrong current domain from one turn into the next;
//   - code of a domain reads another domain's values only while that domain is the current one
//     (its getters and traps then run as itself): the kernel reads a caller's arguments before
//     entering the callee, and a callee's results before leaving it.
import type { IfaceDescriptor, ProxyRuntime, RetFn } from '../idl/lib/proxy.ts';
import type { RpcError, RpcErrorKind, RpcResult } from '../idl/lib/types.ts';
import { IFACES } from '../idl/generated/proxies.ts';
import { CALLEE_DEAD, CALLER_DEAD, type Domain, type KLink, type Pending } from './domain.ts';
import type { ExchangeHeap } from './heap.ts';
import { table } from './table.ts';

export const KERNEL_ID = 0;

/** Each abort, and the domain it unwinds. A WeakMap: looking an object up runs none of its code. */
const aborts = new WeakMap<object, number>();

/** Thrown into a domain's code to unwind it after the domain was killed or stopped. */
export class DomainAbort extends Error {
  override name = 'DomainAbort';
  constructor(message: string, target: number) {
    super(message);
    aborts.set(this, target);
  }
}

/** Whether `e` is a kernel abort. Unlike instanceof, runs no trap of a Proxy a domain threw. */
export function isAbort(e: unknown): boolean {
  return typeof e === 'object' && e !== null && aborts.has(e);
}

/** The domain a kernel abort unwinds, or undefined if `e` is not one. */
export function abortTarget(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null ? aborts.get(e) : undefined;
}

export interface RpcKernel {
  readonly heap: ExchangeHeap;
  domain(id: number): Domain | undefined;
  crash(d: Domain, cause: string, e: unknown): void;
  /** whether `p` is a promise whose `then` and species lookup run no domain code (see track) */
  isPlainPromise(p: unknown): boolean;
  /** one line on what a domain threw, reading nothing that runs its code (crash.ts describe) */
  explain(e: unknown): string;
}

interface ProxyInfo { readonly link: KLink }

const promiseThen = Promise.prototype.then;
const KINDS: readonly RpcErrorKind[] = ['crashed', 'dead', 'revoked', 'invalid-argument', 'bad-return', 'failed'];
/** Levels preallocated in the domain stack (it grows past this if calls nest deeper). */
const LEVELS = 256;

export class Rpc implements ProxyRuntime {
  readonly BAD: symbol = Symbol('bad');
  /** The domain stack: ids[depth - 1] is the domain executing now (see the header). */
  readonly ids = table(LEVELS, KERNEL_ID);
  /** Each level's activation number: > 0 for a kernel entry, < 0 for a promise job. */
  readonly acts = table(LEVELS, 0);
  /** Levels in use; generated proxies restore it by assignment (ProxyRuntime.depth). */
  depth = 1;
  private activations = 0;
  private readonly proxies = new WeakMap<object, ProxyInfo>();
  private readonly k: RpcKernel;
  /** k.heap; generated proxies call its moveAs directly (see ProxyRuntime.heap) */
  readonly heap: ExchangeHeap;

  constructor(k: RpcKernel) {
    this.k = k;
    this.heap = k.heap;
  }

  // ---- the domain stack ------------------------------------------------------------------

  /** The domain whose code is running now (KERNEL_ID when none). */
  current(): number {
    return this.ids[this.depth - 1];
  }

  /** Pushes a level for domain `id`; returns the depth to restore when it ends. */
  private push(id: number, act: number): number {
    const d = this.depth;
    this.ids[d] = id;
    this.acts[d] = act;
    this.depth = d + 1;
    return d;
  }

  /** Runs `fn` as domain `id` (timers, threads, interrupts and init, entered by the kernel). */
  run<T>(id: number, fn: () => T): T {
    const d = this.push(id, ++this.activations);
    try { return fn(); } finally { this.depth = d; }
  }

  /** A promise job starts: it runs as `owner`, the domain that made its promise (if any). The
   *  JavaScript stack is empty between jobs, so the domain stack starts again from the kernel. */
  jobStart(owner: number | undefined): void {
    this.depth = 1;
    if (owner !== undefined) this.push(owner, -++this.activations);
  }

  /** A promise job, timer or other event-loop callback ended (or begins): back to the kernel. */
  toEventLoop(): void {
    this.depth = 1;
  }

  /** The outermost level at which domain `id` is on the stack (0: it is not). */
  outermost(id: number): number {
    for (let i = 1; i < this.depth; i++) if (this.ids[i] === id) return i;
    return 0;
  }

  /** The domains on the current thread's stack, innermost last. */
  crossings(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.depth; i++) out[out.length] = this.ids[i];
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
      callerName: caller ? caller.name : 'kernel',
      calleeName: callee.name,
      iface,
      target: callee.alive ? callee : null,
    };
    if (caller && !caller.alive) {
      link.state |= CALLER_DEAD; // born revoked: on nobody's list (its caller's reap may be over)
      link.impl = null;
    } else {
      caller?.calls.add(link);
      if (callee.alive) callee.served.add(link);
    }
    const p = harden(d.make(this, link));
    this.proxies.set(p, { link });
    return p;
  }

  descriptor(iface: string): IfaceDescriptor | undefined {
    return Object.hasOwn(IFACES, iface) ? IFACES[iface] : undefined;
  }

  /** The link behind a proxy, if `v` is one held by `holder`. */
  linkOf(v: unknown, holder: number): KLink | null {
    if (v === null || typeof v !== 'object') return null;
    const info = this.proxies.get(v);
    return info && info.link.caller === holder ? info.link : null;
  }

  /**
   * An interface reference crossing from `from` to `to`: a proxy `from` holds is re-connected for
   * `to`; otherwise `v` must be `from`'s own implementation. Reading its methods may run `from`'s
   * code (getters, Proxy traps), so that is done only while `from` is the running domain.
   * If `to` is gone or dead, null: nothing is connected, and nothing carries the null to anybody
   * (the link of the call or result that crosses is revoked at that end, so the proxy refuses
   * the call as dead, or the result goes to a dead caller); the value is not a bad one.
   */
  wrap(iface: string, v: unknown, from: number, to: number): unknown {
    const target = this.k.domain(to);
    if (!target) return null;
    const held = this.linkOf(v, from);
    if (held) {
      if (held.iface !== iface) return this.BAD;
      const callee = this.k.domain(held.callee);
      return callee ? this.connect(iface, target, callee, held.impl) : this.deadProxy(iface, target, held);
    }
    const d = this.descriptor(iface);
    const owner = this.k.domain(from);
    if (!d || !owner || v === null || typeof v !== 'object' || this.proxies.has(v) || this.current() !== from) return this.BAD;
    for (const m of d.methods) if (typeof (v as Record<string, unknown>)[m] !== 'function') return this.BAD;
    // (its getters ran: either end may have died)
    if (!owner.alive) return this.BAD;
    if (!target.alive) return null;
    return this.connect(iface, target, owner, v);
  }

  /** A proxy for `caller` of the interface `dead` served, whose callee is gone: every call fails
   *  as dead. (A domain handed such a capability, by a creator or at its creation, gets this.) */
  deadProxy(iface: string, caller: Domain, dead: KLink): object {
    const link: KLink = {
      state: CALLEE_DEAD, impl: null, caller: caller.id, callee: dead.callee, callerName: caller.name, calleeName: dead.calleeName, iface, target: null,
    };
    caller.calls.add(link);
    const p = harden(IFACES[iface].make(this, link));
    this.proxies.set(p, { link });
    return p;
  }

  // ---- the call path ---------------------------------------------------------------------

  /** Records the crossing into the callee; returns the depth the proxy restores afterwards. */
  enter(link: KLink): number {
    return this.push(link.callee, ++this.activations);
  }

  /** After a call returned (the level already popped) and the link is no longer live: if the
   *  caller died meanwhile, reclaim what the call handed it and unwind it. */
  returned(link: KLink): void {
    if (link.state & CALLER_DEAD) this.late(link);
  }

  private late(link: KLink): never {
    this.k.heap.reclaim(link.caller);
    throw new DomainAbort(`domain ${link.callerName} was killed`, link.caller);
  }

  private fail(kind: RpcErrorKind, link: KLink, message: string): RpcResult<never> {
    return { ok: false, error: Object.freeze({ kind, domain: link.calleeName, message }) };
  }

  refused(link: KLink): RpcResult<never> {
    if (link.state & CALLER_DEAD) {
      throw new DomainAbort(`capability revoked: domain ${link.callerName} is dead`, link.caller);
    }
    return this.fail('dead', link, `${link.iface}: domain ${link.calleeName} is dead`);
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

  /**
   * The callee threw `e` (the proxy has popped its level). It is crashed, unless `e` is the
   * kernel's abort of another domain, which is no fault of the callee's. A caller that died
   * during the call is unwound.
   */
  fault(link: KLink, method: string, e: unknown): RpcResult<never> {
    const d = this.k.domain(link.callee);
    const target = abortTarget(e);
    if (d && (target === undefined || target === d.id)) {
      this.k.crash(d, `${target === undefined ? 'exception' : 'killed'} in ${method}`, e);
    }
    if (link.state & CALLER_DEAD) this.late(link);
    return this.fail('crashed', link, `${method}: domain ${link.calleeName} crashed: ${this.k.explain(e)}`);
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
      domain: typeof domain === 'string' ? domain : link.calleeName,
      message: typeof message === 'string' ? message : `${method} failed`,
    });
  }

  checkMove(from: number, h: unknown, typeId: number): number {
    return this.heap.movable(from, h, typeId);
  }

  moveChecked(slot: number, to: number): number {
    return this.heap.moveSlot(slot, to);
  }

  checkBorrow(from: number, h: unknown, typeId: number, k: number): number {
    return this.heap.lendable(from, h, typeId, k);
  }

  borrowChecked(slot: number, from: number, to: number): number {
    return this.heap.lendSlot(slot, from, to);
  }

  unborrow(h: number): void {
    this.heap.unborrow(h);
  }

  /**
   * An async call returned `p`: settles the caller's promise when `p` does. `p` must be a plain
   * promise (kernel.isPlainPromise): `then` on anything else would look up its `constructor` and
   * species, which a domain can make run its own code while the caller is the current domain.
   */
  track(link: KLink, method: string, p: unknown, ret: RetFn, done: (() => void) | null): Promise<RpcResult<unknown>> {
    const callee = link.target;
    if (callee === null || !this.k.isPlainPromise(p)) {
      done?.();
      return Promise.resolve(callee === null
        ? this.fail('crashed', link, `${method}: domain ${link.calleeName} crashed`)
        : this.badReturn(link, method, 'result', 'Promise'));
    }
    return new Promise((resolve) => {
      const rec: Pending = { link, method, ret, resolve, done, prev: null, next: callee.inflight };
      if (rec.next !== null) rec.next.prev = rec;
      callee.inflight = rec;
      promiseThen.call(p as Promise<unknown>, (v) => this.fulfilled(callee, rec, v), (e) => this.rejected(callee, rec, e));
    });
  }

  /** An async callee's promise fulfilled with `v`: check it (as the callee) and settle. */
  private fulfilled(callee: Domain, rec: Pending, v: unknown): void {
    if (rec.resolve === null) return; // failed already by the callee's crash
    const link = rec.link;
    let r: RpcResult<unknown>;
    const d = this.enter(link);
    try {
      r = rec.ret(this, link, v);
    } catch (e) {
      this.depth = d;
      r = this.faultAsync(link, rec.method, e);
    }
    this.depth = d;
    this.settle(callee, rec, r);
  }

  private rejected(callee: Domain, rec: Pending, e: unknown): void {
    if (rec.resolve === null) return;
    this.settle(callee, rec, this.faultAsync(rec.link, rec.method, e));
  }

  /** fault() for a settled async call: a dead caller is not unwound (it is not running), its
   *  promise is just never resolved (finish). */
  private faultAsync(link: KLink, method: string, e: unknown): RpcResult<never> {
    const d = this.k.domain(link.callee);
    const target = abortTarget(e);
    if (d && (target === undefined || target === d.id)) this.k.crash(d, `${target === undefined ? 'exception' : 'killed'} in ${method}`, e);
    return this.fail('crashed', link, `${method}: domain ${link.calleeName} crashed: ${this.k.explain(e)}`);
  }

  /** Unlinks a pending call from its callee's list and settles it. */
  private settle(callee: Domain, rec: Pending, r: RpcResult<unknown>): void {
    if (rec.resolve === null) return;
    if (rec.prev !== null) rec.prev.next = rec.next;
    else callee.inflight = rec.next;
    if (rec.next !== null) rec.next.prev = rec.prev;
    rec.prev = rec.next = null;
    this.finish(rec, r);
  }

  /** Settles a pending call once: ends its borrows, and resolves it unless the caller is dead. */
  finish(rec: Pending, r: RpcResult<unknown>): void {
    const resolve = rec.resolve;
    if (resolve === null) return;
    rec.resolve = null;
    const done = rec.done;
    rec.done = null;
    done?.();
    if (rec.link.state & CALLER_DEAD) {
      // Never resume a dead caller; reclaim whatever the result handed it.
      this.k.heap.reclaim(rec.link.caller);
      return;
    }
    resolve(r);
  }

  /** Fails every call in flight into a dead domain, at once. Each call is settled before it is
   *  unlinked, so a throw part way leaves the rest for the next attempt (kernel.ts reap). */
  failInflight(d: Domain, why = 'crashed'): number {
    let n = 0;
    for (let rec = d.inflight; rec !== null; rec = d.inflight) {
      this.finish(rec, this.fail('crashed', rec.link, `${rec.link.iface}: domain ${d.name} ${why}`));
      d.inflight = rec.next;
      if (rec.next !== null) rec.next.prev = null;
      rec.prev = rec.next = null;
      n++;
    }
    return n;
  }
}

// The contract between idlc-generated proxies (idl/generated/proxies.ts) and the kernel's proxy
// runtime (kernel/rpc.ts). Generated code calls only what is declared here.
import type { RpcError, RpcResult } from './types.ts';

/** One caller→callee connection. A proxy object serves exactly one link. */
export interface Link {
  /** 0 while both ends are alive; otherwise the proxy takes the slow path. */
  state: number;
  /** The callee's implementation object; null once the link is dead. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the callee's object, called only by generated code
  impl: any;
  readonly caller: number;
  readonly callee: number;
}

export interface ProxyRuntime {
  /** The link is not usable (callee dead, capability revoked, caller dead): the result to return. */
  refused(link: Link): RpcResult<never>;
  /** An argument was not of its declared type; the callee does not run. */
  invalid(link: Link, method: string, what: string, want: string): RpcResult<never>;
  /** The callee returned a value not of its declared type: it is crashed. */
  badReturn(link: Link, method: string, what: string, want: string): RpcResult<never>;
  /** The callee's result `r` was not `{ ok: true, value: <a T> }` (`ok` is what its `ok` read as,
   *  `want` names T): `ok` true means a bad value, false an error result (passed on as an
   *  RpcError), anything else a bad result. */
  notOk(link: Link, method: string, ok: unknown, r: unknown, want: string): RpcResult<never>;
  /** The callee threw (its level already popped): it is crashed, unless `e` is the kernel's abort
   *  of another domain; a caller that died meanwhile is unwound. */
  fault(link: Link, method: string, e: unknown): RpcResult<never>;
  /** The callee's result object, checked and copied into a fresh one (null: it was malformed). */
  error(link: Link, method: string, e: unknown): RpcError;
  /** Records the crossing into the callee on the domain stack; returns the depth to restore. */
  enter(link: Link): number;
  /** The domain stack's depth. A proxy restores it by assignment (`rt.depth = d`), never by a call,
   *  so no throw (a stack overflow included) can leave the callee recorded as running. */
  depth: number;
  /** A call returned and the link is no longer live: unwinds the caller if it died meanwhile. */
  returned(link: Link): void;
  // Exchange-heap moves and borrows. One contract: (from, handle, ...) throughout; each handle is
  // checked once per crossing (a check returns its slot, or -1 for another type; an unusable
  // handle is a violation), and moved or lent by slot once every argument is checked, with no
  // domain code run in between.
  checkMove(from: number, h: unknown, typeId: number): number;
  moveChecked(slot: number, to: number): number;
  /** The exchange heap's fused check-and-move for a call's only RRef, called directly (one call
   *  level fewer for V8 to inline on the RRef path): the new handle, or 0 (nothing moved) if `h` is
   *  not a `typeId`. */
  readonly heap: { moveAs(from: number, h: unknown, typeId: number, to: number): number };
  /** As checkMove, for lending `h` as the `k`th borrow of this call (a HeapExhausted, thrown into
   *  the caller before anything moved, if the caller has too many borrows out). */
  checkBorrow(from: number, h: unknown, typeId: number, k: number): number;
  borrowChecked(slot: number, from: number, to: number): number;
  unborrow(h: number): void;
  /** Wraps an interface reference crossing from `from` to `to` in a new proxy (null if not one). */
  wrap(iface: string, v: unknown, from: number, to: number): unknown;
  /** Settles an async call: resolves with `ret(rt, link, value)` (the generated result check), or
   *  with an RpcError if the callee rejects, returns a bad value, or dies first. `done` runs once,
   *  whatever happens. `ret` is a module-level function, so a call allocates no closure for it. */
  track(link: Link, method: string, p: unknown, ret: RetFn, done: (() => void) | null): Promise<RpcResult<unknown>>;
  /** A failed conversion inside `convert`. */
  readonly BAD: symbol;
}

/** A generated result check: converts what the callee returned into the caller's RpcResult. */
export type RetFn = (rt: ProxyRuntime, link: Link, r: unknown) => RpcResult<unknown>;

export interface IfaceDescriptor {
  readonly name: string;
  readonly fingerprint: string;
  readonly methods: readonly string[];
  readonly make: (rt: ProxyRuntime, link: Link) => object;
}

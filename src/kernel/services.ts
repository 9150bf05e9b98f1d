// The kernel services handed to a domain's init, each bound to that domain.
//
// Every service checks on entry that its domain is alive (a dead domain's capabilities are
// revoked), runs domain callbacks (timers, threads, interrupts) under crash containment with the
// domain recorded as the running one, and records what it creates on the domain's record so the
// kernel can cancel it at death. Heap accessors skip the alive check: a dead domain owns no slots,
// so every handle it could present is refused anyway.
//
// Values a domain hands over are hostile: arguments are checked by type only (no coercion, which
// would run the domain's toString or valueOf), error messages describe them with show(), and a
// callback's result is treated as a promise only if it is a plain one (kernel.isPlainPromise), so
// the kernel never runs a domain's `then`, `constructor` or species hooks. A domain that has used
// its CPU budget in this turn of the event loop has its timer and interrupt callbacks put off to
// the next turn (budget.ts), so its many short callbacks cannot starve everyone else.
import type { Domains, HeapCap, Irq, LogArg, Sys, Threads, Timers } from '../idl/lib/sys.ts';
import type { Domain } from './domain.ts';
import type { ExchangeHeap } from './heap.ts';
import type { Host } from '../machine/common/host.ts';
import { DomainAbort, type Rpc } from './rpc.ts';
import { inspect, show } from './safe.ts';

export interface ServiceKernel {
  readonly host: Host;
  readonly heap: ExchangeHeap;
  readonly rpc: Rpc;
  crash(d: Domain, cause: string, e: unknown): void;
  isPlainPromise(p: unknown): boolean;
  overBudget(d: Domain): boolean;
  log(line: string): void;
  nextId(): number;
  createFor(creator: Domain, bundle: string, imports: Readonly<Record<string, unknown>>, config?: unknown): ReturnType<Domains['create']>;
  irqRegister(d: Domain, line: number, handler: () => void): void;
  irqUnregister(d: Domain, line: number): boolean;
}

const promiseThen = Promise.prototype.then;

/** The `console` global of a domain's compartment: its lines go to the kernel log, as sys.log's do,
 *  so a newcomer's first console.log works (values are printed without running any of their code). */
export interface DomainConsole {
  log(...a: unknown[]): void; info(...a: unknown[]): void; debug(...a: unknown[]): void;
  warn(...a: unknown[]): void; error(...a: unknown[]): void;
}

export function makeSys(k: ServiceKernel, d: Domain): Sys & { readonly console: DomainConsole } {
  const id = d.id;
  const live = (): void => {
    if (!d.alive) throw new DomainAbort(`capability revoked: domain ${d.name} is dead`, id);
  };
  /** Attaches handlers if `p` is a plain promise; false otherwise (see the header). */
  const whenSettled = (p: unknown, ok: (() => void) | undefined, fail: (e: unknown) => void): boolean => {
    if (!k.isPlainPromise(p)) return false;
    promiseThen.call(p as Promise<unknown>, ok, fail);
    return true;
  };
  const H = k.heap;

  const heap: HeapCap = {
    alloc: (t) => { live(); return H.allocate(id, t); },
    free: (h) => H.free(id, h),
    typeOf: (h) => H.typeOf(id, h),
    size: (h) => H.size(id, h),
    u8: (h, o) => H.u8(id, h, o),
    u16: (h, o) => H.u16(id, h, o),
    u32: (h, o) => H.u32(id, h, o),
    i8: (h, o) => H.i8(id, h, o),
    i16: (h, o) => H.i16(id, h, o),
    i32: (h, o) => H.i32(id, h, o),
    f64: (h, o) => H.f64(id, h, o),
    u64: (h, o) => H.u64(id, h, o),
    i64: (h, o) => H.i64(id, h, o),
    setU8: (h, o, v) => H.setU8(id, h, o, v),
    setU16: (h, o, v) => H.setU16(id, h, o, v),
    setU32: (h, o, v) => H.setU32(id, h, o, v),
    setI8: (h, o, v) => H.setI8(id, h, o, v),
    setI16: (h, o, v) => H.setI16(id, h, o, v),
    setI32: (h, o, v) => H.setI32(id, h, o, v),
    setF64: (h, o, v) => H.setF64(id, h, o, v),
    setU64: (h, o, v) => H.setU64(id, h, o, v),
    setI64: (h, o, v) => H.setI64(id, h, o, v),
    read: (h, o, dst, at, n) => H.read(id, h, o, dst, at, n),
    write: (h, o, src, at, n) => H.write(id, h, o, src, at, n),
    copy: (dst, dOff, src, sOff, n) => H.copy(id, dst, dOff, src, sOff, n),
    fill: (h, o, b, n) => H.fill(id, h, o, b, n),
    take: (h, i) => H.take(id, h, i),
    put: (h, i, c) => { live(); return H.put(id, h, i, c); },
    push: (h, c) => H.push(id, h, c),
    pop: (h) => { live(); return H.pop(id, h); },
    count: (h) => H.count(id, h),
  };

  /** Runs a domain callback as the domain; a throw, or a rejection of what it returns, crashes it.
   *  Put off to the next turn of the event loop while the domain has used its share of this one. */
  const callback = (what: string, fn: () => unknown): void => {
    if (!d.alive) return;
    if (k.overBudget(d)) { k.host.nextTurn(() => { k.rpc.toEventLoop(); callback(what, fn); }); return; }
    let r: unknown;
    try {
      r = k.rpc.run(id, fn);
    } catch (e) {
      k.crash(d, what, e);
      return;
    }
    whenSettled(r, undefined, (e) => k.crash(d, what, e));
  };

  const checkMs = (ms: unknown): number => {
    if (typeof ms !== 'number' || !(ms >= 0) || ms > 2 ** 31 - 1) throw new RangeError(`timers: bad delay ${show(ms)}`);
    return ms;
  };
  const checkFn = (fn: unknown): (() => unknown) => {
    if (typeof fn !== 'function') throw new TypeError('timers: callback must be a function');
    return fn as () => unknown;
  };

  const timers: Timers = {
    after(ms, fn) {
      live();
      const wait = checkMs(ms);
      const f = checkFn(fn);
      const t = k.nextId();
      d.timers.set(t, k.host.setTimer(wait, () => {
        k.rpc.toEventLoop();
        d.timers.delete(t);
        callback(`timer ${t}`, f);
      }));
      return t;
    },
    every(ms, fn) {
      live();
      const wait = Math.max(1, checkMs(ms));
      const f = checkFn(fn);
      const t = k.nextId();
      const tick = (): void => {
        k.rpc.toEventLoop();
        if (!d.timers.has(t)) return;
        d.timers.set(t, k.host.setTimer(wait, tick));
        callback(`timer ${t}`, f);
      };
      d.timers.set(t, k.host.setTimer(wait, tick));
      return t;
    },
    cancel(t) {
      live();
      const h = d.timers.get(t);
      if (h === undefined) return false;
      k.host.clearTimer(h);
      d.timers.delete(t);
      return true;
    },
    sleep(ms) {
      live();
      const wait = checkMs(ms);
      const t = k.nextId();
      // When the domain dies its timers are cleared: the promise never settles and is collected
      // with the domain's continuation.
      return new Promise<void>((resolve) => {
        d.timers.set(t, k.host.setTimer(wait, () => { d.timers.delete(t); resolve(); }));
      });
    },
  };

  const threads: Threads = {
    spawn(name, body) {
      live();
      if (typeof name !== 'string') throw new TypeError('threads.spawn: name must be a string');
      const f = checkFn(body);
      const t = k.nextId();
      d.threads.set(t, { id: t, name });
      let p: unknown;
      try {
        p = k.rpc.run(id, f);
      } catch (e) {
        d.threads.delete(t);
        k.crash(d, `thread ${name}`, e);
        throw new DomainAbort(`domain ${d.name} crashed in thread ${name}`, id);
      }
      const end = (): void => { d.threads.delete(t); };
      if (!whenSettled(p, end, (e) => { end(); k.crash(d, `thread ${name}`, e); })) end();
      return t;
    },
    list() {
      live();
      return [...d.threads.values()].map((t) => t.name);
    },
  };

  const irq: Irq = {
    register(line, handler) {
      live();
      const f = checkFn(handler);
      k.irqRegister(d, line, () => callback(`interrupt ${line}`, f));
    },
    unregister(line) {
      live();
      return k.irqUnregister(d, line);
    },
  };

  const domains: Domains = {
    create(bundle, imports = {}, config = null) {
      live();
      if (typeof bundle !== 'string') throw new TypeError('domains.create: bundle must be a name');
      return k.createFor(d, bundle, imports, config) as never;
    },
  };

  const isProxy = (v: unknown): boolean => k.host.isProxy(v);
  /** One log line of the domain's (console.warn and .error mark theirs). */
  const print = (mark: string, parts: readonly unknown[]): void => {
    live();
    const text: string[] = [];
    for (let i = 0; i < parts.length; i++) text[i] = inspect(parts[i], isProxy);
    k.log(`[${d.name}] ${mark}${text.join(' ')}`);
  };
  const log = (...parts: LogArg[]): void => print('', parts);

  const console: DomainConsole = {
    log: (...a) => print('', a), info: (...a) => print('', a), debug: (...a) => print('', a),
    warn: (...a) => print('warning: ', a), error: (...a) => print('error: ', a),
  };

  return harden({
    self: { id, name: d.name },
    log,
    console,
    clock: { now: () => k.host.now() },
    timers,
    threads,
    heap,
    ...(d.args.privileged ? { irq, domains } : {}),
  });
}

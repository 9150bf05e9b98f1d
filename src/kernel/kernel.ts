// The Frond microkernel: owns the exchange heap, creates and destroys domains, connects them
// through generated proxies, dispatches interrupts, and contains every crash.
//
// Life of a domain:
//   create    its bundle is evaluated in a fresh SES Compartment whose hardened global object
//             holds nothing but the standard intrinsics; its init receives kernel services bound
//             to it (services.ts) and the capabilities its creator chose to hand over, re-wrapped
//             so the new domain is their caller; what init returns is its exported interface.
//   run       others call it only through proxies; its callbacks run under crash containment.
//   crash     any uncaught throw or rejection, a runtime violation, or a bad return value: the
//             domain is marked dead, calls into it fail with RpcError (in-flight ones at once),
//             its exchange-heap objects are freed, its timers/threads/interrupts cancelled, its
//             capabilities revoked, and one crash report is logged. Nothing refers to its
//             compartment afterwards, so the engine reclaims its private heap.
//   restart   a new instance from the same bundle and the same creation arguments.
import type { RpcResult } from '../idl/lib/types.ts';
import { FINGERPRINTS, TYPES } from '../idl/generated/types.ts';
import { Budgets, DEFAULT_BUDGET_MS } from './budget.ts';
import { stamps } from './stamp.ts';
import { formatReport, describe, frameDomain, SourceMaps, type CrashReport, type Described, type Reclaimed } from './crash.ts';
import { CALLEE_DEAD, CALLER_DEAD, Domain, type Bundle, type CreateArgs } from './domain.ts';
import { ExchangeHeap, type HeapStats } from './heap.ts';
import type { Host } from '../machine/common/host.ts';
import { ensureLockdown } from './lockdown.ts';
import { isAbort, KERNEL_ID, Rpc } from './rpc.ts';
import { makeSys } from './services.ts';
import { verifyBundle, type VerifyPolicy } from './verify.ts';

export interface KernelOptions {
  /** the Ed25519 public keys (raw 32 bytes, base64) whose bundles the kernel loads */
  trust: readonly string[];
  /** load bundles built without CPU-budget checks (benchmarks only; default false) */
  allowUnmetered?: boolean;
  /** exchange-heap arena size in bytes (a power of two; default 64 MiB) */
  heapBytes?: number;
  /** where kernel log lines go (default: host.write) */
  log?: (line: string) => void;
}

export interface CreateOptions {
  /** may create domains and register interrupt handlers */
  privileged?: boolean;
  /** plain data handed to init as its third argument (copied; JSON values only) */
  config?: unknown;
  /** the longest the domain may run without yielding, in ms (default 50) */
  budgetMs?: number;
  /** its exchange-heap quota in bytes (default: a quarter of the heap) */
  quotaBytes?: number;
}

function positive(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new DomainStartError(`${what} must be a positive number`, null);
  return v;
}

/** A deep copy of JSON data, frozen, made in the kernel's realm (nothing of the sender's heap). */
function copyConfig(v: unknown): unknown {
  if (v === undefined) return null;
  let text: string | undefined;
  try { text = JSON.stringify(v); } catch (e) { throw new DomainStartError(`config is not plain data: ${(e as Error).message}`, null); }
  if (text === undefined) throw new DomainStartError('config is not plain data', null);
  return harden(JSON.parse(text));
}

/** A domain failed to start; the kernel and every other domain go on. */
export class DomainStartError extends Error {
  override name = 'DomainStartError';
  constructor(message: string, readonly report: CrashReport | null) {
    super(message);
  }
}

const MAX_REPORTS = 256;

/**
 * Every domain's code is compiled afresh. V8 caches eval'd code by its source text, so everything
 * evaluated from the same text in a realm shares its compiled functions, and every Compartment of a
 * process lives in one realm. Two domains from one bundle in two kernels of a process (both with
 * URL frond-domain://name/1) got the same text, and the later instances ran the hash table of
 * `npm run bench -- tax` (which boots a kernel per table size) 1.4-1.7x slower than the first:
 * what V8 learnt from one instance's objects slowed the next. Domains should not interfere like
 * that, so a realm-wide number in the source makes each text unique.
 */
let evaluations = 0;

export class Kernel {
  readonly host: Host;
  readonly heap: ExchangeHeap;
  readonly rpc: Rpc;
  /** the most recent crash reports, oldest first */
  readonly crashes: CrashReport[] = [];
  private crashCount = 0;
  private readonly domains = new Map<number, Domain>();
  private readonly bundles = new Map<string, Bundle>();
  private readonly maps = new SourceMaps();
  private readonly irqLines = new Map<number, { d: Domain; fn: () => void }>();
  /** which domain made each promise (see promiseInit) */
  private readonly promiseOwner = stamps();
  private readonly listeners = new Set<(r: CrashReport) => void>();
  private readonly out: (line: string) => void;
  private lastId = 0;
  private lastDomain = KERNEL_ID;
  private names = new Map<number, string>([[KERNEL_ID, 'kernel']]);
  private readonly policy: VerifyPolicy;
  private readonly budgets: Budgets;

  constructor(host: Host, opts: KernelOptions) {
    ensureLockdown();
    this.host = host;
    this.out = opts.log ?? ((l) => host.write(l));
    this.heap = new ExchangeHeap(opts.heapBytes ?? 64 << 20, TYPES);
    this.heap.onViolation = (id, e) => {
      const d = this.domains.get(id);
      if (d) this.crash(d, 'runtime violation', e);
    };
    this.rpc = new Rpc(this);
    this.budgets = new Budgets(this);
    this.policy = harden({
      trusted: [...(opts.trust ?? [])],
      fingerprints: { ...FINGERPRINTS },
      allowUnmetered: opts.allowUnmetered ?? false,
    });
    host.attach({
      uncaught: (kind, reason, promise) => this.uncaught(kind, reason, promise),
      promiseInit: (p, parent) => this.promiseInit(p, parent),
    });
  }

  // ---- bundles and domains ---------------------------------------------------------------

  /**
   * Verifies a signed bundle (kernel/verify.ts: the document or its JSON text) and makes it
   * available to create domains from; throws BundleRefused, and nothing of it runs, if it is
   * unsigned, tampered, signed by an untrusted key, built against other interfaces or malformed.
   */
  load(signed: unknown): Bundle {
    const b = verifyBundle(signed, this.policy, this.host.crypto);
    this.bundles.set(b.name, b);
    this.maps.add(b.name, b.map);
    return b;
  }

  /** Creates a domain on the kernel's behalf; returns it and its interface proxied for the kernel. */
  create<I = unknown>(bundle: string, imports: Readonly<Record<string, unknown>> = {}, opts: CreateOptions = {}): { domain: Domain; api: I } {
    const d = this.instantiate({
      bundle, imports, privileged: opts.privileged ?? false, creator: KERNEL_ID, config: copyConfig(opts.config),
      budgetMs: positive(opts.budgetMs ?? DEFAULT_BUDGET_MS, 'budgetMs'),
      quotaBytes: positive(opts.quotaBytes ?? this.heap.capacity / 4, 'quotaBytes'),
    });
    return { domain: d, api: this.exported(d, null) as I };
  }

  /** Re-creates a domain (alive or not) from the same bundle and creation arguments. */
  restart<I = unknown>(d: Domain): { domain: Domain; api: I } {
    if (d.alive) this.kill(d, 'restart');
    const n = this.instantiate(d.args);
    return { domain: n, api: this.exported(n, null) as I };
  }

  /** sys.domains.create for a privileged domain. */
  createFor(creator: Domain, bundle: string, imports: Readonly<Record<string, unknown>>, config?: unknown): RpcResult<unknown> {
    try {
      const d = this.instantiate({
        bundle, imports, privileged: false, creator: creator.id, config: copyConfig(config),
        budgetMs: creator.args.budgetMs, quotaBytes: creator.args.quotaBytes,
      });
      return { ok: true, value: this.exported(d, creator) };
    } catch (e) {
      if (!(e instanceof DomainStartError)) throw e;
      return { ok: false, error: Object.freeze({ kind: 'crashed', domain: bundle, message: e.message }) };
    }
  }

  private exported(d: Domain, caller: Domain | null): object | null {
    const iface = d.bundle.exports;
    return iface && d.impl ? this.rpc.connect(iface, caller, d, d.impl) : null;
  }

  private instantiate(args: CreateArgs): Domain {
    const b = this.bundles.get(args.bundle);
    if (!b) throw new DomainStartError(`no bundle named '${args.bundle}' is loaded`, null);
    if (b.exports && !this.rpc.descriptor(b.exports)) {
      throw new DomainStartError(`bundle '${b.name}' exports unknown interface ${b.exports}`, null);
    }
    const d = new Domain(++this.lastDomain, b.name, b, args);
    this.names.set(d.id, d.name);
    // Capabilities handed over must be proxies the creator holds; the new domain gets its own.
    const imports: Record<string, unknown> = {};
    if (args.imports === null || typeof args.imports !== 'object') throw new DomainStartError('imports must be an object of capabilities', null);
    for (const [name, v] of Object.entries(args.imports)) {
      const link = this.rpc.linkOf(v, args.creator);
      if (!link) throw new DomainStartError(`import '${name}' for ${b.name} is not a capability its creator holds`, null);
      const want = Object.hasOwn(b.imports, name) ? b.imports[name] : undefined;
      if (want === undefined) throw new DomainStartError(`${b.name} does not import '${name}' (its manifest lists: ${Object.keys(b.imports).join(', ') || 'nothing'})`, null);
      if (want !== link.iface) throw new DomainStartError(`import '${name}' for ${b.name} must be a ${want}, not a ${link.iface}`, null);
      const callee = this.domains.get(link.callee);
      imports[name] = callee ? this.rpc.connect(link.iface, d, callee, link.impl) : this.rpc.wrap(link.iface, v, args.creator, d.id);
    }
    this.domains.set(d.id, d);
    this.heap.setQuota(d.id, args.quotaBytes);
    try {
      const c = new Compartment({ __options__: true, globals: {}, name: d.url } as never);
      harden(c.globalThis);
      const sys = makeSys(this, d);
      const impl = this.rpc.run(d.id, () => {
        const factory = c.evaluate(`${b.code}\n// frond evaluation ${++evaluations}\n//# sourceURL=${d.url}\n`) as unknown;
        if (typeof factory !== 'function') throw new TypeError('bundle did not evaluate to a function of its meter');
        const entry = factory(this.budgets.hooks(d)) as { start?: unknown };
        if (entry === null || typeof entry !== 'object' || typeof entry.start !== 'function') {
          throw new TypeError('bundle did not evaluate to { start(sys, imports) }');
        }
        return (entry.start as (s: unknown, i: unknown, c: unknown) => unknown)(sys, harden(imports), args.config);
      });
      if (!d.alive) throw new Error('crashed during init');
      if (b.exports) {
        const desc = this.rpc.descriptor(b.exports)!;
        if (impl === null || typeof impl !== 'object') throw new TypeError(`init must return an implementation of ${b.exports}`);
        for (const m of desc.methods) {
          if (typeof (impl as Record<string, unknown>)[m] !== 'function') throw new TypeError(`init's result lacks ${b.exports}.${m}`);
        }
        d.impl = impl;
      }
      return d;
    } catch (e) {
      this.crash(d, 'init', e);
      const r = this.crashes[this.crashes.length - 1] ?? null;
      throw new DomainStartError(`domain ${b.name} failed to start: ${r && r.id === d.id ? r.error.message : 'crashed'}`, r);
    }
  }

  domain(id: number): Domain | undefined {
    return this.domains.get(id);
  }

  nameOf(id: number): string {
    return this.names.get(id) ?? `#${id}`;
  }

  list(): Domain[] {
    return [...this.domains.values()];
  }

  nextId(): number {
    return ++this.lastId;
  }

  // ---- crash containment -----------------------------------------------------------------

  /** Stops a domain that did nothing wrong: the same clean-up as a crash, reported as `stopped`. */
  kill(d: Domain, reason = 'killed'): void {
    this.end(d, reason, null, true);
  }

  /** Ends a domain for a fault of its own (`cause`, the error `e`), cleans up, and reports it. */
  crash(d: Domain, cause: string, e: unknown): void {
    this.end(d, cause, e, false);
  }

  private end(d: Domain, cause: string, e: unknown, killed: boolean, log = true): CrashReport | null {
    if (!d.alive) return null;
    d.alive = false;
    this.budgets.raise(); // any of its code still on the stack or queued is aborted at its next check
    let described: Described | null = null;
    if (!killed) {
      this.crashCount++;
      const error = describe(this.host, e);
      described = { message: error.message, stack: error.stack.map((f) => this.maps.frame(f)) };
    }
    let revoked = 0;
    for (const l of d.calls) { l.state |= CALLER_DEAD; l.impl = null; revoked++; }
    for (const l of d.served) { l.state |= CALLEE_DEAD; l.impl = null; l.target = null; }
    d.calls.clear();
    d.served.clear();
    const inflight = this.rpc.failInflight(d);
    for (const t of d.timers.values()) this.host.clearTimer(t);
    for (const line of d.irqs) this.irqLines.delete(line);
    const heap = this.heap.reclaim(d.id);
    const reclaimed: Reclaimed = {
      ...heap, timers: d.timers.size, threads: d.threads.size, irqs: d.irqs.size, inflight, revoked,
    };
    d.timers.clear();
    d.threads.clear();
    d.irqs.clear();
    d.impl = null;
    this.domains.delete(d.id);
    const report: CrashReport = {
      domain: d.name, id: d.id, cause, killed, error: described ?? { message: `stopped: ${cause}`, stack: [] }, reclaimed,
      text: formatReport(d.name, d.id, cause, described, reclaimed),
    };
    this.crashes.push(report);
    if (this.crashes.length > MAX_REPORTS) this.crashes.shift();
    if (log) this.log(report.text);
    for (const fn of this.listeners) {
      try { fn(report); } catch { /* a listener's failure is not the kernel's */ }
    }
    return report;
  }

  /** Calls `fn` with each crash report; returns a function that stops it. */
  onCrash(fn: (r: CrashReport) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private promiseInit(p: object, parent: object | undefined): void {
    const cur = this.rpc.current();
    if (cur !== KERNEL_ID) {
      this.promiseOwner.init(p, cur); // (the hook sees each promise once)
    } else if (parent !== undefined) {
      const o = this.promiseOwner.get(parent);
      if (o !== undefined) this.promiseOwner.init(p, o);
    }
  }

  private uncaught(kind: 'exception' | 'rejection', reason: unknown, promise: object | null): void {
    let id = promise ? this.promiseOwner.get(promise) : undefined;
    const info = describe(this.host, reason);
    for (let i = 0; id === undefined && i < info.stack.length; i++) id = frameDomain(info.stack[i]);
    if (id !== undefined) {
      const d = this.domains.get(id);
      if (d) this.crash(d, kind === 'rejection' ? 'unhandled rejection' : 'uncaught exception', reason);
      return; // a dead domain's leftovers are not news
    }
    if (isAbort(reason)) return;
    this.log(`kernel: unattributed ${kind === 'rejection' ? 'unhandled rejection' : 'uncaught exception'}: ${info.message}`);
  }

  // ---- interrupts ------------------------------------------------------------------------

  irqRegister(d: Domain, line: number, fn: () => void): void {
    if (typeof line !== 'number' || (line >>> 0) !== line) throw new RangeError(`irq: bad line ${String(line)}`);
    const cur = this.irqLines.get(line);
    if (cur && cur.d !== d) throw new Error(`irq: line ${line} belongs to domain ${cur.d.name}`);
    this.irqLines.set(line, { d, fn });
    d.irqs.add(line);
  }

  irqUnregister(d: Domain, line: number): boolean {
    const cur = this.irqLines.get(line);
    if (!cur || cur.d !== d) return false;
    this.irqLines.delete(line);
    d.irqs.delete(line);
    return true;
  }

  /** A device raised `line`: run its handler (as its domain). False if nobody listens. */
  raise(line: number): boolean {
    const h = this.irqLines.get(line);
    if (!h) return false;
    h.fn();
    return true;
  }

  // ---- the rest --------------------------------------------------------------------------

  log(line: string): void {
    this.out(line);
  }

  /** The live domains, the exchange heap, and how many domains have crashed since boot (kills are
   *  not crashes; `crashes` above keeps only the latest reports). */
  stats(): { domains: { id: number; name: string }[]; heap: HeapStats; crashes: number } {
    return {
      domains: this.list().map((d) => ({ id: d.id, name: d.name })),
      heap: this.heap.stats(),
      crashes: this.crashCount,
    };
  }

  /** Stops every domain (one log line in all, not a report each) and detaches from the host. */
  shutdown(): void {
    let n = 0;
    let objects = 0;
    let bytes = 0;
    for (const d of this.list()) {
      const r = this.end(d, 'shutdown', null, true, false);
      if (r) { n++; objects += r.reclaimed.objects; bytes += r.reclaimed.bytes; }
    }
    if (n > 0) this.log(`kernel: shut down: ${n} domain${n === 1 ? '' : 's'} stopped, ${objects} exchange objects (${bytes} bytes) reclaimed`);
    this.host.detach();
  }
}

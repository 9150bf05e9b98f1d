// The Frond microkernel: owns the exchange heap, creates and destroys domains, connects them
// through generated proxies, dispatches interrupts, and contains every crash.
//
// Life of a domain:
//   create    its bundle is evaluated in a fresh SES Compartment whose hardened global object
//             holds nothing but the standard intrinsics; its init receives kernel services bound
//             to it (services/) and the capabilities its creator chose to hand over, re-wrapped
//             so the new domain is their caller; what init returns is its exported interface.
//   run       others call it only through proxies; its callbacks run under crash containment.
//   crash     any uncaught throw or rejection, a runtime violation, or a bad return value: the
//             domain is marked dead, calls into it fail with RpcError (in-flight ones at once),
//             its exchange-heap objects are freed, its timers/threads/interrupts cancelled, its
//             capabilities revoked, and one crash report is logged. Nothing refers to its
//             compartment afterwards, so the engine reclaims its private heap.
//   restart   a new instance from the same bundle and the same creation arguments.
import type { RpcResult } from '../idl/lib/types.ts';
import type { HeapCap } from '../idl/lib/sys.ts';
import { FINGERPRINTS, TYPES } from '../idl/generated/types.ts';
import { Budgets, DEFAULT_BUDGET_MS } from './budget.ts';
import { stamps } from './stamp.ts';
import { formatReport, describe, SourceMaps, type CrashReport, type Described, type Reclaimed } from './crash.ts';
import { CALLEE_DEAD, CALLER_DEAD, Domain, type Bundle, type CreateArgs, type KLink } from './domain.ts';
import { ExchangeHeap, HeapExhausted, type HeapStats } from './heap.ts';
import type { Host } from '../machine/common/host.ts';
import { ensureLockdown } from './lockdown.ts';
import { isAbort, KERNEL_ID, Rpc } from './rpc.ts';
import { hasStack, plainBytes } from './safe.ts';
import { DeviceTable, Interrupts, makeSys, reclaimServices } from './services/index.ts';
import { heapFor } from './services/heap.ts';
import type { Device } from '../machine/common/device.ts';
import { startDomain } from './loader.ts';
import { canonicalBytes, oneLine, verifyBundle, verifySigned, type VerifyPolicy } from './verify.ts';

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
  /** its exchange-heap quota in bytes, set aside for it from the arena (default: 1/32 of it) */
  quotaBytes?: number;
  /** names of attached devices it may open and may grant to domains it creates (attachDevice) */
  devices?: readonly string[];
}

/** A list of device names from a creator: copied, each a string. */
function deviceNames(v: unknown): readonly string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > 64 || !v.every((n) => typeof n === 'string')) {
    throw new DomainStartError('devices must be an array of device names', null);
  }
  return Object.freeze([...(v as string[])]);
}

function positive(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new DomainStartError(`${what} must be a positive number`, null);
  return v;
}

/** A creator's grant of budget or quota to a child: at most its own (`mine` when not given). */
function atMost(v: unknown, mine: number, what: string): number {
  if (v === undefined) return mine;
  const n = positive(v, what);
  if (n > mine) throw new DomainStartError(`cannot grant ${what} ${n}: more than the creator's ${mine}`, null);
  return n;
}

/** A deep copy of JSON data, frozen, made in the kernel's realm (nothing of the sender's heap). */
function copyConfig(v: unknown): unknown {
  if (v === undefined) return null;
  let text: string | undefined;
  try { text = JSON.stringify(v); } catch (e) { throw new DomainStartError(`config is not plain data: ${(e as Error).message}`, null); }
  if (text === undefined) throw new DomainStartError('config is not plain data', null);
  return harden(JSON.parse(text));
}

const startErrors = new WeakSet<object>();

/** A domain failed to start; the kernel and every other domain go on. */
export class DomainStartError extends Error {
  override name = 'DomainStartError';
  constructor(message: string, readonly report: CrashReport | null) {
    super(message);
    startErrors.add(this);
  }
}

/** A domain's end in progress (see reap): what to report, and how far the clean-up got. */
interface Dying {
  readonly d: Domain;
  readonly cause: string;
  readonly error: unknown;
  readonly killed: boolean;
  readonly log: boolean;
  step: number;
  described: Described | null;
  reclaimed: Reclaimed;
  report: CrashReport | null;
}

// Intrinsics captured before any domain runs (they are frozen by lockdown; captured all the same,
// so that nothing below reads a property a domain could have shaped).
const getPrototypeOf = Object.getPrototypeOf;
const hasOwn = Object.hasOwn;
const PromiseProto = Promise.prototype;

const MAX_REPORTS = 256;
/** A domain's exchange-heap quota when its creator names none: this share of the arena. Quotas
 *  are set aside from the arena, so at most this many domains with the default fit at once. */
const DEFAULT_QUOTA_SHARE = 32;


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
  /** Host.mutationGlobals: empty but under npm run mutate */
  private readonly mutationGlobals: Readonly<Record<string, () => unknown>>;
  /** which domain's handler each interrupt line runs (services/irq.ts) */
  readonly interrupts = new Interrupts();
  /** the attached devices and their drivers (services/devices.ts) */
  readonly devices = new DeviceTable();
  /** which domain made each promise (see promiseInit) */
  private readonly promiseOwner = stamps();
  private readonly listeners = new Set<(r: CrashReport) => void>();
  private readonly out: (line: string) => void;
  /** domains that died and are not cleaned up yet, oldest first (see reap) */
  private readonly dying: Dying[] = [];
  private reaping = false;
  /** a domain was marked dead by its budget's stores alone (budget.ts stop) and awaits queuing */
  overrun = false;
  private reapScheduled = false;
  /** rings for a reap from the event loop (see reapLater) */
  private readonly ringReap: () => void;
  private lastId = 0;
  private lastDomain = KERNEL_ID;
  private readonly policy: VerifyPolicy;
  private readonly budgets: Budgets;

  constructor(host: Host, opts: KernelOptions) {
    ensureLockdown();
    this.host = host;
    this.out = opts.log ?? ((l) => host.write(l));
    this.heap = new ExchangeHeap(opts.heapBytes ?? 64 << 20, TYPES);
    // A violation is found inside a heap operation: the domain is marked dead there, and cleaned up
    // once the operation has thrown (never from inside the heap).
    this.heap.onViolation = (id, e) => {
      const d = this.domains.get(id);
      if (d) this.mark(d, 'runtime violation', e, false, true);
    };
    this.rpc = new Rpc(this);
    this.budgets = new Budgets(this);
    this.mutationGlobals = host.mutationGlobals?.() ?? {};
    this.ringReap = host.doorbell(() => {
      this.reapScheduled = false;
      this.rpc.toEventLoop();
      this.reap();
    });
    this.policy = harden({
      trusted: [...(opts.trust ?? [])],
      fingerprints: { ...FINGERPRINTS },
      allowUnmetered: opts.allowUnmetered ?? false,
    });
    host.attach({
      uncaught: (kind, reason, promise) => this.uncaught(kind, reason, promise),
      promiseInit: (p) => this.promiseInit(p),
      promiseBefore: (p) => this.rpc.jobStart(this.promiseOwner.get(p)),
      promiseAfter: () => this.jobEnd(),
    });
  }

  // ---- bundles and domains ---------------------------------------------------------------

  /**
   * Verifies a signed bundle (kernel/verify.ts: its bytes, or its JSON text if that is well-formed
   * Unicode; a parsed object is refused) and makes it
   * available to create domains from; throws BundleRefused, and nothing of it runs, if it is
   * unsigned, tampered, signed by an untrusted key, built against other interfaces or malformed.
   */
  load(signed: unknown): Bundle {
    const b = verifyBundle(signed, this.policy, this.host.crypto);
    this.maps.add(b.name, b.map); // (first: a call, and a map without its bundle is harmless)
    this.bundles.set(b.name, b);
    return b;
  }

  /**
   * sys.domains.load: verifies a signed bundle a privileged domain read from somewhere (rv6's core
   * reads executables from its file system) and registers it under a key of its own,
   * `name@<first 16 hex digits of the SHA-256 of its signed manifest>` (which covers the code, the
   * map and every declaration), so two versions of one program, two manifests of one code, or a
   * program named like a kernel-loaded bundle, never replace each other. `bytes` is copied first
   * (a plain Uint8Array only: safe.ts plainBytes), so nothing of the domain's runs during the
   * check and what is verified is what runs. Throws BundleRefused (the domain's call throws it).
   */
  loadFor(creator: Domain, bytes: unknown): string {
    const copy = plainBytes(bytes);
    if (copy === null) throw new TypeError('domains.load: expected a plain Uint8Array (not a subclass, look-alike or Proxy)');
    const { bundle, manifest } = verifySigned(copy, this.policy, this.host.crypto, `(from ${creator.name})`);
    const key = `${bundle.name}@${this.host.crypto.sha256(canonicalBytes(manifest)).slice(0, 16)}`;
    if (!this.bundles.has(key)) {
      this.maps.add(bundle.name, bundle.map); // (first, as in load)
      this.bundles.set(key, bundle);
    }
    return key;
  }

  /** sys.domains.kill: stops a domain `creator` created, named by a capability to it `creator`
   *  holds; false if `cap` is not one, or the domain is already dead. */
  killFor(creator: Domain, cap: unknown, reason: string): boolean {
    const link = this.rpc.linkOf(cap, creator.id);
    const d = link ? this.domains.get(link.callee) : undefined;
    if (!d || !d.alive || d.args.creator !== creator.id) return false;
    this.kill(d, reason);
    return true;
  }

  /** Creates a domain on the kernel's behalf; returns it and its interface proxied for the kernel. */
  create<I = unknown>(bundle: string, imports: Readonly<Record<string, unknown>> = {}, opts: CreateOptions = {}): { domain: Domain; api: I } {
    this.reap();
    const d = this.instantiate({
      bundle, imports, privileged: opts.privileged ?? false, creator: KERNEL_ID, config: copyConfig(opts.config),
      budgetMs: positive(opts.budgetMs ?? DEFAULT_BUDGET_MS, 'budgetMs'),
      quotaBytes: positive(opts.quotaBytes ?? this.heap.capacity / DEFAULT_QUOTA_SHARE, 'quotaBytes'),
      devices: deviceNames(opts.devices),
    });
    return { domain: d, api: this.exported(d, null) as I };
  }

  /** Re-creates a domain (alive or not) from the same bundle and creation arguments. */
  restart<I = unknown>(d: Domain): { domain: Domain; api: I } {
    if (d.alive) this.kill(d, 'restart');
    this.reap(); // (its quota comes back with the clean-up)
    const n = this.instantiate(d.args);
    return { domain: n, api: this.exported(n, null) as I };
  }

  /** sys.domains.create for a privileged domain (its code is running: `imports` and `config` are
   *  its own values, read while it is the current domain). */
  createFor(creator: Domain, bundle: string, imports: Readonly<Record<string, unknown>>, config?: unknown, grant?: unknown): RpcResult<unknown> {
    // A creation sets the new domain's quota aside before it is registered, and so can be cleaned
    // up: it starts only with a good margin of stack, never from the engine's limit, where a call
    // cut short between the two would leave the quota set aside for good.
    if (!hasStack()) throw new RangeError(`domains.create: too little stack left to start a domain (called at the engine's stack limit)`);
    this.reap(); // (a shadow re-creating its target: the dead one's quota comes back first)
    try {
      const devices = grant !== null && typeof grant === 'object' ? deviceNames((grant as { devices?: unknown }).devices) : [];
      for (const n of devices) {
        if (!creator.args.devices.includes(n)) throw new DomainStartError(`cannot grant device ${n}: domain ${creator.name} does not hold it`, null);
      }
      const g = grant !== null && typeof grant === 'object' ? grant as { budgetMs?: unknown; quotaBytes?: unknown } : {};
      const d = this.instantiate({
        bundle, imports, privileged: false, creator: creator.id, config: copyConfig(config),
        budgetMs: atMost(g.budgetMs, creator.args.budgetMs, 'budgetMs'),
        quotaBytes: atMost(g.quotaBytes, creator.args.quotaBytes, 'quotaBytes'),
        devices,
      });
      return { ok: true, value: this.exported(d, creator) };
    } catch (e) {
      if (!(typeof e === 'object' && e !== null && startErrors.has(e))) throw e;
      return { ok: false, error: Object.freeze({ kind: 'crashed', domain: bundle, message: (e as Error).message }) };
    }
  }

  private exported(d: Domain, caller: Domain | null): object | null {
    const iface = d.bundle.exports;
    return iface && d.impl ? this.rpc.connect(iface, caller, d, d.impl) : null;
  }

  /** The capabilities handed to a new domain, re-connected so that it is their caller. `given` is
   *  read once, here (its getters run as the creator, the current domain). */
  private importsFor(b: Bundle, given: unknown, creator: number): [string, KLink | null, unknown, string][] {
    if (given === null || typeof given !== 'object') throw new DomainStartError('imports must be an object of capabilities', null);
    const out: [string, KLink | null, unknown, string][] = [];
    for (const [name, v] of Object.entries(given)) {
      const want = hasOwn(b.imports, name) ? b.imports[name] : undefined;
      if (want === undefined) throw new DomainStartError(`${b.name} does not import '${name}' (its manifest lists: ${Object.keys(b.imports).join(', ') || 'nothing'})`, null);
      const link = this.rpc.linkOf(v, creator);
      if (!link) {
        // The creator's own implementation of the interface (rv6's core hands each process its
        // own Rv6): connected once the domain exists (instantiate), or refused there.
        if (creator === KERNEL_ID) throw new DomainStartError(`import '${name}' for ${b.name} is not a capability the kernel holds`, null);
        out.push([name, null, v, want]);
        continue;
      }
      if (want !== link.iface) throw new DomainStartError(`import '${name}' for ${b.name} must be a ${want}, not a ${link.iface}`, null);
      out.push([name, link, v, want]);
    }
    return out;
  }

  private instantiate(args: CreateArgs): Domain {
    const b = this.bundles.get(args.bundle);
    if (!b) throw new DomainStartError(`no bundle named '${args.bundle}' is loaded`, null);
    if (b.exports && !this.rpc.descriptor(b.exports)) {
      throw new DomainStartError(`bundle '${b.name}' exports unknown interface ${b.exports}`, null);
    }
    const given = this.importsFor(b, args.imports, args.creator);
    const d = new Domain(++this.lastDomain, b.name, b, args);
    // Its quota first: a start the heap refuses leaves nothing behind. Then it is registered, and
    // whatever else it gets (links to its imports) its clean-up takes back.
    try {
      this.heap.setQuota(d.id, args.quotaBytes);
    } catch (e) {
      if (e instanceof HeapExhausted) throw new DomainStartError(`domain ${b.name} cannot start: ${e.message}`, null);
      throw e;
    }
    this.domains.set(d.id, d);
    const imports: Record<string, unknown> = {};
    try {
      for (const [name, link] of given) {
        if (!link) continue;
        const callee = this.domains.get(link.callee);
        imports[name] = callee ? this.rpc.connect(link.iface, d, callee, link.impl) : this.rpc.deadProxy(link.iface, d, link);
      }
      for (const [name, link, v, iface] of given) {
        if (link) continue;
        const p = this.rpc.wrap(iface, v, args.creator, d.id);
        if (p === this.rpc.BAD) throw new DomainStartError(`import '${name}' for ${b.name} is neither a capability its creator holds nor its creator's own ${iface}`, null);
        imports[name] = p;
      }
      const { console, ...sys } = makeSys(this, d);
      const methods = b.exports ? this.rpc.descriptor(b.exports)!.methods : [];
      d.impl = this.rpc.run(d.id, () => startDomain(b, d.url, { console }, this.budgets.hooks(d), sys, harden(imports), args.config, methods, this.mutationGlobals));
      if (!d.alive) throw new Error('crashed during init');
      return d;
    } catch (e) {
      d.impl = null;
      this.crash(d, 'init', e);
      const r = this.crashes[this.crashes.length - 1] ?? null;
      throw new DomainStartError(`domain ${b.name} failed to start: ${r && r.id === d.id ? r.error.message : 'crashed'}`, r);
    }
  }

  domain(id: number): Domain | undefined {
    return this.domains.get(id);
  }

  list(): Domain[] {
    return [...this.domains.values()].filter((d) => d.alive);
  }

  nextId(): number {
    return ++this.lastId;
  }

  /** One line describing a value a domain threw or returned, for an error message (never a getter
   *  or a trap of it runs: crash.ts describe). */
  explain(e: unknown): string {
    try {
      return oneLine(describe(this.host, e).message);
    } catch {
      return '(could not be described)'; // (at the engine's stack limit)
    }
  }

  /** Whether `p` is a genuine promise whose species lookup runs no domain code: Promise.prototype
   *  directly, no own `constructor`. (A Proxy is not a promise to the host, so nothing here can
   *  run a trap.) Only such a promise is ever handed to `then` by the kernel. */
  isPlainPromise(p: unknown): boolean {
    return this.host.isPromise(p) && getPrototypeOf(p) === PromiseProto && !hasOwn(p as object, 'constructor');
  }

  // ---- crash containment -----------------------------------------------------------------

  /** Stops a domain that did nothing wrong: the same clean-up as a crash, reported as `stopped`. */
  kill(d: Domain, reason = 'killed'): void {
    this.mark(d, reason, null, true, true);
    this.reap();
  }

  /** Ends a domain for a fault of its own (`cause`, the error `e`), cleans up, and reports it. */
  crash(d: Domain, cause: string, e: unknown): void {
    this.mark(d, cause, e, false, true);
    this.reap();
  }

  /**
   * The first half of a domain's end, which cannot fail part way: it is queued for clean-up, then
   * marked dead (a store). From here on every call into it fails, its code aborts at its next
   * check (the preemption word is raised), its services refuse, and its timers do not fire.
   */
  private mark(d: Domain, cause: string, error: unknown, killed: boolean, log: boolean): Dying | null {
    if (!d.alive) return null;
    const x: Dying = { d, cause, error, killed, log, step: 0, described: null, reclaimed: noneReclaimed(), report: null };
    this.dying.push(x);
    d.queued = true;
    d.alive = false;
    this.budgets.preempt();
    return x;
  }

  /**
   * The second half: cleans up every domain marked dead. It runs only with a good margin of stack
   * left (a domain may have died at the engine's stack limit), otherwise it is put off to the event
   * loop; each step is idempotent and counted, so a throw part way is finished by the next attempt.
   * It runs as the kernel, so what the host does meanwhile (log output, crash listeners) is never
   * taken for a domain's.
   */
  reap(): void {
    if (this.overrun && !this.reaping) this.queueOverruns();
    if (this.reaping || this.dying.length === 0) return;
    if (!hasStack()) { this.reapLater(); return; }
    this.reapAll();
  }

  /** reap's work, for a caller that has checked the stack margin itself (reap, shutdown). */
  private reapAll(): void {
    this.reaping = true;
    try {
      this.rpc.run(KERNEL_ID, () => {
        for (;;) {
          while (this.dying.length > 0) {
            this.end(this.dying[0]);
            this.dying.shift();
          }
          // A domain its budget stopped meanwhile (one a crash listener called): queued only now,
          // since the queueing at the top was skipped while this reap ran.
          if (!this.overrun) break;
          this.queueOverruns();
          if (this.dying.length === 0) break; // (put off to the event loop, or nothing to queue)
        }
      });
    } catch {
      this.reapLater();
    } finally {
      this.reaping = false;
    }
  }

  /** Queues the domains their budgets stopped by stores alone (budget.ts stop). */
  private queueOverruns(): void {
    if (!hasStack()) { this.reapLater(); return; }
    this.overrun = false;
    for (const d of this.domains.values()) {
      if (d.alive || d.queued) continue;
      this.dying.push({ d, cause: 'runtime violation', error: Budgets.exceeded(d), killed: false, log: true, step: 0, described: null, reclaimed: noneReclaimed(), report: null });
      d.queued = true;
    }
  }

  /** Puts reap off to the event loop. Called where the stack is short, down to the engine's limit,
   *  where the host may refuse to set a timer: so it rings the host's doorbell, which works at any
   *  depth. The flag is recorded after the ring, so a ring that failed leaves none behind. */
  private reapLater(): void {
    if (this.reapScheduled) return;
    this.ringReap();
    this.reapScheduled = true;
  }

  /** The clean-up of one dead domain, step by step (see reap). */
  private end(x: Dying): void {
    const d = x.d;
    const r = x.reclaimed;
    if (x.step === 0) {
      x.step = 1; // (the report is never what keeps a domain from being cleaned up)
      if (!x.killed) {
        this.crashCount++;
        x.described = { message: 'thrown value: (could not be described)', stack: [] };
        const error = describe(this.host, x.error);
        x.described = { message: error.message, stack: error.stack.slice(0, 64).map((f) => this.maps.frame(f)) };
      }
    }
    if (x.step === 1) {
      // Revoke both ends: its capabilities refuse it (CALLER_DEAD), and links to it refuse their
      // callers (CALLEE_DEAD); each link leaves the live end's set too, so a long-lived domain's
      // bookkeeping does not grow with the domains that came and died (rv6's core and processes).
      for (const l of d.calls) { l.state |= CALLER_DEAD; l.impl = null; this.domains.get(l.callee)?.served.delete(l); }
      for (const l of d.served) { l.state |= CALLEE_DEAD; l.impl = null; l.target = null; this.domains.get(l.caller)?.calls.delete(l); }
      r.revoked = d.calls.size;
      d.calls.clear();
      d.served.clear();
      x.step = 2;
    }
    if (x.step === 2) {
      r.inflight += this.rpc.failInflight(d, x.killed ? `was stopped (${oneLine(x.cause)})` : `crashed: ${oneLine(x.described?.message ?? x.cause)}`);
      x.step = 3;
    }
    if (x.step === 3) {
      const s = reclaimServices(this, d);
      r.timers = Math.max(r.timers, s.timers);
      r.threads = Math.max(r.threads, s.threads);
      r.irqs = Math.max(r.irqs, s.irqs);
      r.devices = Math.max(r.devices, s.devices);
      d.impl = null;
      x.step = 4;
    }
    if (x.step === 4) {
      const heap = this.heap.reclaim(d.id, (from) => this.domains.get(from)?.salvages === true && this.domains.get(from)!.alive);
      r.objects += heap.objects;
      r.bytes += heap.bytes;
      r.deferred += heap.deferred;
      r.salvaged += heap.salvaged;
      this.heap.release(d.id);
      this.domains.delete(d.id);
      x.step = 5;
    }
    if (x.step === 5) {
      x.report = {
        domain: d.name, id: d.id, cause: x.cause, killed: x.killed,
        error: x.described ?? { message: `stopped: ${x.cause}`, stack: [] }, reclaimed: { ...r },
        text: formatReport(d.name, d.id, x.cause, x.described, r),
      };
      this.crashes.push(x.report);
      if (this.crashes.length > MAX_REPORTS) this.crashes.shift();
      x.step = 6;
    }
    if (x.step === 6) {
      x.step = 7; // whatever the log and the listeners do, they are told once
      if (x.log) {
        try { this.log(x.report!.text); } catch { /* the host's log failing is not the domain's end failing */ }
      }
      for (const fn of this.listeners) {
        try { fn(x.report!); } catch { /* a listener's failure is not the kernel's */ }
      }
    }
  }

  /** Calls `fn` with each crash report; returns a function that stops it. */
  onCrash(fn: (r: CrashReport) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // ---- promises: which domain made them, whose jobs run, whose rejections go unhandled ----------

  /** A promise is stamped with the domain running when it is made. Promise jobs run as the domain
   *  that made their promise (rpc.jobStart), so an async continuation's promises are its own too. */
  private promiseInit(p: object): void {
    const cur = this.rpc.current();
    if (cur !== KERNEL_ID) this.promiseOwner.init(p, cur); // (the hook sees each promise once)
  }

  private jobEnd(): void {
    this.rpc.toEventLoop();
    if (this.dying.length > 0) this.reap();
  }

  /**
   * An unhandled rejection is the domain's whose stamp its promise carries: evidence no domain can
   * forge (the stamp is a private field; error text and stacks are never read for this). Anything
   * else is the host program's own error. A kernel abort that escaped after its domain died is not
   * news.
   */
  private uncaught(kind: 'exception' | 'rejection', reason: unknown, promise: object | null): boolean {
    this.rpc.toEventLoop();
    const id = kind === 'rejection' && promise !== null ? this.promiseOwner.get(promise) : undefined;
    if (id !== undefined) {
      const d = this.domains.get(id);
      if (d) this.crash(d, 'unhandled rejection', reason);
      return true;
    }
    return isAbort(reason);
  }

  // ---- interrupts ------------------------------------------------------------------------

  /** A device raised interrupt `line`: runs its handler, as its domain. False if nobody listens. */
  interrupt(line: number): boolean {
    return this.interrupts.deliver(line);
  }

  // ---- devices ---------------------------------------------------------------------------

  /** Attaches a device model as `name`, raising interrupt `irq`: domains granted `name`
   *  (CreateOptions.devices) may drive it (services/devices.ts). A DmaDevice (one with an `iommu`)
   *  may be given heap objects to reach (DeviceCap.map); any other Device may not. */
  attachDevice(name: string, dev: Device, opts: { irq: number }): void {
    if (this.devices.get(name)) throw new Error(`devices: ${name} is attached already`);
    this.interrupts.reserve(opts.irq, name);
    this.devices.attach(name, dev, opts.irq);
    dev.onInterrupt(() => {
      this.rpc.toEventLoop();
      this.interrupt(opts.irq);
    });
  }

  /** The exchange heap as the kernel's own capability, for host code that calls domains (the
   *  kernel is the caller of proxies Kernel.create returns): what it allocates, the kernel owns. */
  heapCap(): HeapCap {
    return heapFor(this.heap, { id: KERNEL_ID, name: 'kernel', alive: true, salvages: false } as Domain);
  }

  /** The domain driving device `name` now, if any. */
  driverOf(name: string): Domain | null {
    return this.devices.driverOf(name);
  }

  /**
   * Fault injection, for tests, benchmarks, `frond blkcheck --inject` and `frond boot --inject`:
   * crashes the domain driving device `name` as if its code had thrown, with the same clean-up (the device is stopped before
   * its buffers are reclaimed), counted as a crash but not logged. `now`: at once, between its
   * calls; `in-call`: inside its next use of the device (a map or unmap in the middle of a call,
   * with part of a batch submitted). False if no domain drives it.
   */
  injectCrash(name: string, when: 'now' | 'in-call' = 'now'): boolean {
    const d = this.devices.driverOf(name);
    if (d === null) return false;
    if (when === 'in-call') {
      this.devices.get(name)!.armed = true;
      return true;
    }
    this.mark(d, 'injected fault', new Error(`fault injected into the driver of ${name}`), false, false);
    this.reap();
    return true;
  }

  // ---- the rest --------------------------------------------------------------------------

  /** Whether `d` has used its CPU budget in this turn of the event loop (services put its
   *  callbacks off to the next). */
  overBudget(d: Domain): boolean {
    return this.budgets.spent(d);
  }

  log(line: string): void {
    this.out(line);
  }

  /** The live domains, the exchange heap, and how many domains have crashed since boot (kills are
   *  not crashes; `crashes` above keeps only the latest reports). */
  stats(): { domains: { id: number; name: string }[]; heap: HeapStats; crashes: number } {
    this.reap();
    return {
      domains: this.list().map((d) => ({ id: d.id, name: d.name })),
      heap: this.heap.stats(),
      crashes: this.crashCount,
    };
  }

  /** Stops every domain (one log line in all, not a report each) and detaches from the host. */
  shutdown(): void {
    // (not from the engine's stack limit, where the clean-ups would be put off past the detach)
    if (!hasStack()) throw new RangeError('shutdown: too little stack left to stop every domain (called at the engine\'s stack limit)');
    // (the reports of the domains it stops, read from their clean-ups: the ring of the latest
    // reports may have dropped them, and another domain's clean-up may end in the same reap)
    const stopped = this.list().map((d) => this.mark(d, 'shutdown', null, true, false)!); // (live: marked)
    if (!this.reaping) this.reapAll();
    let n = 0;
    let objects = 0;
    let bytes = 0;
    for (const x of stopped) {
      if (x.report === null) continue; // (shutdown from a crash listener: the reap under way ends it)
      n++; objects += x.report.reclaimed.objects; bytes += x.report.reclaimed.bytes;
    }
    if (n > 0) this.log(`kernel: shut down: ${n} domain${n === 1 ? '' : 's'} stopped, ${objects} exchange objects (${bytes} bytes) reclaimed`);
    this.host.detach();
  }
}

function noneReclaimed(): Reclaimed {
  return { objects: 0, bytes: 0, deferred: 0, timers: 0, threads: 0, irqs: 0, devices: 0, salvaged: 0, inflight: 0, revoked: 0 };
}

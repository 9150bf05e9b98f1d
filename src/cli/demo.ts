// frond demo [--verbose]: the isolation core in one screen (before rv6, this was frond start).
//
// Builds the demonstration domains from src/domains (incrementally), boots a kernel that trusts
// keys/, and shows one event per line, each within 80 columns: a packet moving through the
// exchange heap with the heap's object counts, a runaway domain stopped by its CPU budget, a
// driver crash contained and its objects reclaimed, a shadow restarting the driver unseen by its
// callers, and a tampered bundle refused at load. The kernel log (full crash reports with stack
// traces) is printed only with --verbose.
import { Kernel } from '../kernel/kernel.ts';
import type { CrashReport } from '../kernel/crash.ts';
import { KERNEL_ID } from '../kernel/rpc.ts';
import { BundleRefused } from '../kernel/verify.ts';
import { TYPES } from '../idl/generated/types.ts';
import type { Counter, FaultPlan, Probe } from '../idl/demo.ts';
import type { RpcResult } from '../idl/lib/types.ts';
import { NodeHost } from '../machine/node/host.ts';
import { bootTrust, buildForBoot, loadAll } from '../tools/domainc/boot.ts';
import type { Parsed } from './args.ts';
import { ROOT } from './root.ts';

const DOMAINS = [
  'src/domains/apps/counter', 'src/domains/apps/plan', 'src/domains/drivers/flaky', 'src/domains/shadows/counter',
  'src/domains/demo/keeper', 'src/domains/demo/runaway',
];
const WIDTH = 80;

const typeId = (name: string): number => TYPES.find((t) => t.name === name)!.id;
const PACKET = typeId('Packet');
const RING = typeId('RRefArray<Packet, 8>');

/** One line, cut to the terminal's 80 columns if a message runs long. */
const fit = (line: string): string => (line.length <= WIDTH ? line : `${line.slice(0, WIDTH - 1)}…`);
const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
const show = (r: RpcResult<unknown>): string => (r.ok ? `ok(${String(r.value)})` : `error(${r.error.kind})`);

/** The demonstration's view of a kernel: event lines, and the crash reports since it last looked. */
class Demo {
  private readonly seen: CrashReport[] = [];
  constructor(readonly k: Kernel) { k.onCrash((r) => this.seen.push(r)); }

  say(tag: string, text: string): void { console.log(fit(`${tag.padEnd(7)} ${text}`)); }

  /** The crash reports since the last call. */
  crashes(): CrashReport[] { return this.seen.splice(0); }

  /** `name#id` of the live domain of bundle `name` (the newest if several). */
  live(name: string): string {
    const d = this.k.list().filter((x) => x.name === name).pop();
    return d ? `${name}#${d.id}` : `no ${name}`;
  }

  /** The exchange heap's object count, and who owns them. */
  heap(): string {
    const s = this.k.heap.stats();
    const owners = [...s.perOwner].map(([id, o]) => `${id === KERNEL_ID ? 'kernel' : `${this.k.domain(id)?.name ?? ''}#${id}`} owns ${o.objects}`);
    return [`heap ${plural(s.objects, 'object')}`, ...owners].join(', ');
  }
}

/** The first place in the domain's own sources a crash report's stack names (`path:line`). */
function where(r: CrashReport): string {
  for (const f of r.error.stack) {
    const m = /\(?(src\/domains\/[^():]+):(\d+):\d+\)?$/.exec(f);
    if (m) return `${m[1]}:${m[2]}`;
  }
  return 'an unknown line';
}

function rrefs(d: Demo): void {
  const { k } = d;
  const keeper = k.create<Probe>('keeper');
  const p = k.heap.allocate(KERNEL_ID, PACKET);
  d.say('rref', `the kernel allocates packet p: ${d.heap()}`);
  const held = keeper.api.hold(p as never);
  if (!held.ok) throw new Error(`keeper.hold failed: ${held.error.message}`);
  d.say('rref', `keeper.hold(p) moves p into ${d.live('keeper')}: ${d.heap()}`);
  try {
    k.heap.u8(KERNEL_ID, p, 12);
    d.say('rref', 'the kernel can still read p: the move did not happen');
  } catch (e) {
    const why = /^exchange heap: ([^:]+)/.exec((e as Error).message)?.[1] ?? (e as Error).message;
    d.say('rref', `the kernel's p is dead: using it again is refused (${why})`);
  }
  const back = keeper.api.ring(k.heap.allocate(KERNEL_ID, RING) as never);
  if (!back.ok) throw new Error(`keeper.ring failed: ${back.error.message}`);
  d.say('rref', `keeper.ring(r) hands p back inside ring r: ${d.heap()}`);
  const q = k.heap.take(KERNEL_ID, back.value, 0);
  if (q === null) throw new Error('keeper.ring handed back an empty ring');
  const flags = k.heap.u8(KERNEL_ID, q, 12);
  k.heap.free(KERNEL_ID, q);
  k.heap.free(KERNEL_ID, back.value);
  d.say('rref', `p is back with flags=${flags} (keeper's mark); p and r freed: ${d.heap()}`);
}

function budget(d: Demo, counter: Counter): void {
  const runaway = d.k.create<Probe>('runaway');
  const name = d.live('runaway');
  const r = runaway.api.run('', 0);
  const report = d.crashes().find((x) => x.id === runaway.domain.id);
  const ran = report ? /ran (\d+) ms without yielding \(budget (\d+) ms\)/.exec(report.error.message) : null;
  if (!report || !ran) throw new Error(`runaway was not stopped by its budget: run() -> ${show(r)}`);
  d.say('budget', `${name}.run() loops forever: stopped after ${ran[1]} ms (budget ${ran[2]} ms)`);
  d.say('', `in ${where(report)}; caller got ${show(r)}`);
  d.say('', `the rest runs on: counter.add(1) -> ${show(counter.add(1))}`);
}

function crash(d: Demo, counter: Counter): void {
  const { k } = d;
  const plan = k.create<FaultPlan>('plan', {}, { config: { period: 1 } }).api; // crash on every call
  const flaky = k.create<Counter>('flaky', { plan });
  const name = d.live('flaky');
  const r = flaky.api.bounce(k.heap.allocate(KERNEL_ID, PACKET) as never);
  const report = d.crashes().find((x) => x.id === flaky.domain.id);
  if (!report) throw new Error(`flaky did not crash: bounce(p) -> ${show(r)}`);
  const method = /^exception in \w+\.(\w+)$/.exec(report.cause)?.[1] ?? report.cause;
  d.say('crash', `${name} crashed in ${method}(p): ${report.error.message}`);
  d.say('', `contained: caller got ${show(r)}; ${plural(report.reclaimed.objects, 'object')} reclaimed; ${d.heap()}`);
  d.say('', `${name} stays dead: add(1) -> ${show(flaky.api.add(1))}; counter.add(1) -> ${show(counter.add(1))}`);
}

function shadow(d: Demo): void {
  const { k } = d;
  const every2 = k.create<FaultPlan>('plan', {}, { config: { period: 2 } }).api; // first try crashes, retry works
  const s = k.create<Counter>('counter-shadow', { plan: every2 }, { privileged: true, config: { target: 'flaky' } });
  d.say('shadow', `${d.live('counter-shadow')} wraps ${d.live('flaky')}, which now crashes once per call`);
  for (const n of [1, 2, 3]) {
    const before = d.live('flaky');
    const r = s.api.add(n);
    const crashed = d.crashes().filter((x) => x.domain === 'flaky').map((x) => `flaky#${x.id}`);
    const what = crashed.length ? `${crashed.join(', ')} crashed; restarted as ${d.live('flaky')} and` : `${before} did not crash, not`;
    d.say('', `add(${n}) -> ${show(r)}: ${what} retried`);
  }
}

function tamper(d: Demo, counterBundle: Uint8Array): void {
  const doc = JSON.parse(new TextDecoder().decode(counterBundle)) as { code: string };
  const code = doc.code.replace('total + n', 'total - n');
  if (code === doc.code) throw new Error('the counter bundle has no `total + n` to tamper with');
  try {
    d.k.load(new TextEncoder().encode(JSON.stringify({ ...doc, code })));
    d.say('verify', 'the tampered counter bundle was loaded: the signature check failed');
  } catch (e) {
    if (!(e instanceof BundleRefused)) throw e;
    d.say('verify', `counter's bundle, add() edited to subtract: refused (${e.reason})`);
    d.say('', 'nothing of it ran; the kernel still runs the signed counter');
  }
}

export async function main(a: Parsed): Promise<number> {
  const verbose = a.flags.has('--verbose');
  const bundles = await buildForBoot(ROOT, DOMAINS);
  const log = verbose ? (l: string): void => console.log(`  kernel| ${l.split('\n').join('\n  kernel| ')}`) : (): void => undefined;
  const k = new Kernel(new NodeHost(), { trust: bootTrust(ROOT), log });
  const d = new Demo(k);
  try {
    loadAll(k, bundles);
    d.say('boot', `kernel up: ${k.heap.stats().capacity >> 20} MiB exchange heap, ${bundles.length} signed bundles loaded`);
    const counter = k.create<Counter>('counter').api;
    rrefs(d);
    budget(d, counter);
    crash(d, counter);
    shadow(d);
    tamper(d, bundles[DOMAINS.indexOf('src/domains/apps/counter')]!);
    const s = k.stats();
    d.say('done', `${plural(s.domains.length, 'domain')} alive, ${s.crashes} crashes contained, ${d.heap()}`);
    if (!verbose) d.say('', 'frond demo --verbose prints the full crash reports');
  } finally {
    k.shutdown();
  }
  return 0;
}

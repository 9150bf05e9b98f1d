// The cross-domain call benchmark (RedLeaf Table 1, in one JavaScript process).
//
// Boots a kernel with a counter, a shadow of a second counter, and the bench-caller domain
// (bench/domains/caller), and times from the host one `Bench.run(kind, n)` per round: the n calls
// happen inside the caller domain, so the host→caller crossing is paid once per round and is lost
// in the noise. Each kind is calibrated so a round lasts about `targetMs`, warmed up, then run for
// R rounds; the figure is the median ns per call. For scale, the same process also times a round
// trip to a Worker thread over a SharedArrayBuffer with Atomics.wait/notify: what isolating
// components in separate threads (or processes) would cost per call at best.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Bench } from '../src/idl/bench.ts';
import type { Counter } from '../src/idl/demo.ts';
import type { RpcResult } from '../src/idl/lib/types.ts';
import { Kernel } from '../src/kernel/kernel.ts';
import { NodeHost } from '../src/machine/node/host.ts';
import { bootTrust, buildForBoot, loadAll } from '../src/tools/domainc/boot.ts';

const ROOT = join(fileURLToPath(import.meta.url), '../..');

const DOMAINS = ['src/domains/apps/counter', 'src/domains/shadows/counter', 'bench/domains/caller'];

export interface CallsOptions {
  /** 3 rounds of 1/20th the work: a smoke run */
  quick: boolean;
  /** multiplies the work per round again (tests use a small fraction); default 1 */
  scale?: number;
  /** rounds per figure (default 15; quick: 3) */
  rounds?: number;
  /** progress lines (default: none) */
  progress?: (line: string) => void;
}

/** The kinds Bench.run/runAsync knows, and the figure each one yields. */
const KINDS: readonly { kind: string; figure: string; async: boolean }[] = [
  { kind: 'direct', figure: 'direct_ns', async: false },
  { kind: 'proxy', figure: 'proxy_ns', async: false },
  { kind: 'rref', figure: 'proxy_rref_ns', async: false },
  { kind: 'borrow', figure: 'proxy_borrow_ns', async: false },
  { kind: 'async', figure: 'proxy_async_ns', async: true },
  { kind: 'shadow', figure: 'shadow_ns', async: false },
];

/** Bench.run takes a u32. */
const MAX_N = 0xffffffff;
/** Round trips per Worker round at scale 1 (and the calibration target for the call kinds). */
const WORKER_TRIPS = 20_000;
const TARGET_MS = 60;
/** Even a quick run warms each kind up this long: the optimising compiler needs a few ms of calls. */
const MIN_WARM_MS = 60;

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

/** Times `round(n)` (ms) R times after calibrating n so a round lasts about `targetMs`; returns
 *  the median ns per iteration and the n used. */
async function measure(round: (n: number) => Promise<number>, targetMs: number, rounds: number): Promise<{ ns: number; n: number }> {
  // Warm up (the first rounds run unoptimised code) while growing n until a round takes at least a
  // quarter of the target; then size n from a warm round, and check it once more.
  const warmMs = Math.max(5 * targetMs, MIN_WARM_MS);
  let n = 64;
  let ms = 0;
  for (let spent = 0; ;) {
    ms = await round(n);
    spent += ms;
    if (ms < targetMs / 4 && n < MAX_N) n = Math.min(MAX_N, n * 2);
    else if (spent >= warmMs) break;
  }
  const size = (): number => Math.max(1, Math.min(MAX_N, Math.round(n * targetMs / Math.max(ms, 1e-3))));
  n = size();
  ms = await round(n);
  n = size();
  gc();
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) times.push(await round(n));
  return { ns: median(times) * 1e6 / n, n };
}

// ---- the Worker round trip ---------------------------------------------------------------------

/** The echo thread: waits for a new value in slot 0, copies it to slot 1; a negative value ends it. */
const ECHO = `
const { workerData } = require('node:worker_threads');
const a = new Int32Array(workerData.sab);
let seen = 0;
for (;;) {
  Atomics.wait(a, 0, seen);
  const v = Atomics.load(a, 0);
  if (v < 0) break;
  seen = v;
  Atomics.store(a, 1, v);
  Atomics.notify(a, 1);
}
`;

async function workerRtt(trips: number, rounds: number): Promise<{ ns: number; n: number }> {
  const sab = new SharedArrayBuffer(8);
  const a = new Int32Array(sab);
  const w = new Worker(ECHO, { eval: true, workerData: { sab } });
  const exited = new Promise<void>((resolve, reject) => {
    w.once('exit', () => resolve());
    w.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => { w.once('online', resolve); w.once('error', reject); });
  let v = 0;
  const round = (n: number): number => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const next = ++v;
      Atomics.store(a, 0, next);
      Atomics.notify(a, 0);
      while (Atomics.load(a, 1) !== next) Atomics.wait(a, 1, next - 1);
    }
    return performance.now() - t0;
  };
  try {
    round(Math.max(100, trips >> 2)); // warm-up
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) times.push(round(trips));
    return { ns: median(times) * 1e6 / trips, n: trips };
  } finally {
    Atomics.store(a, 0, -1);
    Atomics.notify(a, 0);
    await exited;
  }
}

// ---- the benchmark -----------------------------------------------------------------------------

export async function calls(opts: CallsOptions): Promise<Record<string, number>> {
  const scale = (opts.scale ?? 1) * (opts.quick ? 1 / 20 : 1);
  const rounds = opts.rounds ?? (opts.quick ? 3 : 15);
  const targetMs = TARGET_MS * scale;
  const say = opts.progress ?? (() => {});
  if (!(scale > 0) || !(rounds >= 1)) throw new RangeError('calls: scale and rounds must be positive');

  const logs: string[] = [];
  const bundles = await buildForBoot(ROOT, DOMAINS);
  const k = new Kernel(new NodeHost(), { trust: bootTrust(ROOT), log: (l) => logs.push(l) });
  const out: Record<string, number> = {};
  try {
    loadAll(k, bundles);
    // Each round is one long call into the caller (TARGET_MS and more): give it room.
    const budgetMs = 600_000;
    const counter = k.create<Counter>('counter', {}, { budgetMs }).api;
    const shadow = k.create<Counter>('counter-shadow', {}, { privileged: true, config: { target: 'counter' }, budgetMs }).api;
    const bench = k.create<Bench>('bench-caller', { counter, shadow }, { budgetMs }).api;

    const check = (kind: string, n: number, r: RpcResult<number>, exact: boolean): void => {
      if (!r.ok) throw new Error(`bench ${kind}: ${r.error.kind} (${r.error.domain}): ${r.error.message}\n${logs.join('\n')}`);
      if (exact ? r.value !== n : !(r.value >= n)) throw new Error(`bench ${kind}: checksum ${r.value} for n = ${n}`);
    };

    for (const { kind, figure, async } of KINDS) {
      const round = async (n: number): Promise<number> => {
        let r: RpcResult<number>;
        let t0: number;
        let t1: number;
        if (async) {
          t0 = performance.now();
          r = await bench.runAsync(kind, n);
          t1 = performance.now();
        } else {
          t0 = performance.now();
          r = bench.run(kind, n);
          t1 = performance.now();
        }
        check(kind, n, r, !async);
        return t1 - t0;
      };
      gc();
      const m = await measure(round, targetMs, rounds);
      out[figure] = m.ns;
      out[`n_${kind}`] = m.n;
      say(`${figure.padEnd(16)} ${m.ns.toFixed(2).padStart(10)} ns   (${rounds} rounds of ${m.n})`);
    }
    if (k.crashes.length > 0) throw new Error(`bench: a domain crashed:\n${logs.join('\n')}`);
  } finally {
    k.shutdown();
  }

  const trips = Math.max(50, Math.round(WORKER_TRIPS * scale));
  const w = await workerRtt(trips, rounds);
  out.worker_rtt_ns = w.ns;
  out.n_worker = w.n;
  say(`${'worker_rtt_ns'.padEnd(16)} ${w.ns.toFixed(2).padStart(10)} ns   (${rounds} rounds of ${w.n})`);
  out.ratio_worker_over_proxy = out.worker_rtt_ns / out.proxy_ns;
  out.rounds = rounds;
  return out;
}

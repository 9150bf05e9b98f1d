// The language-tax benchmark (in the spirit of RedLeaf's hash-table comparison): the same
// open-addressing hash table (bench/domains/tax/hashtable.ts: FNV-1a, linear probing, 8-byte keys
// and values, 75% load) timed three ways, per table size from 2^12 to 2^22 entries:
//   plain     the module imported by the host and called directly;
//   domain    built into a domain without CPU-budget checks (so the compartment alone is priced);
//   metered   the same domain as the kernel normally runs it, with a check at every function entry
//             and loop back-edge.
// One round is one call of `run(ops)` (a single crossing, lost in the noise); the three settings'
// rounds are interleaved (see timeInterleaved) and the figure is the median ns per lookup over R
// rounds. The three checksums of every size must agree.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import type { TaxBench } from '../src/idl/bench.ts';
import type { RpcResult } from '../src/idl/lib/types.ts';
import { Kernel } from '../src/kernel/kernel.ts';
import { NodeHost } from '../src/machine/node/host.ts';
import { bootTrust } from '../src/tools/domainc/boot.ts';
import { buildDomain, devKey } from '../src/tools/domainc/build.ts';
import { Workload } from './domains/tax/hashtable.ts';
import { median } from './calls.ts';

const ROOT = join(fileURLToPath(import.meta.url), '../..');
const DIR = join(ROOT, 'bench/domains/tax');
const SEED = 0x5eed;

export interface TaxOptions { quick: boolean; progress?: (line: string) => void; sizes?: number[]; ops?: number; rounds?: number }

function unwrap<T>(r: RpcResult<T>): T {
  if (!r.ok) throw new Error(`bench tax: ${r.error.kind} (${r.error.domain}): ${r.error.message}`);
  return r.value;
}

/**
 * Times the settings' rounds interleaved: after two warm-up rounds each, round r runs every setting
 * once, in an order rotated by r, so a neighbour's burst on this shared machine lands on all of
 * them alike. Returns each setting's median ms and its checksum (which must not change).
 */
function timeInterleaved(rounds: Array<() => number>, r: number): Array<{ ms: number; sum: number }> {
  const sums = rounds.map((round) => { const s = round(); round(); return s; });
  const ms: number[][] = rounds.map(() => []);
  for (let k = 0; k < r; k++) {
    for (let j = 0; j < rounds.length; j++) {
      const i = (j + k) % rounds.length;
      const t0 = performance.now();
      const s = rounds[i]();
      ms[i].push(performance.now() - t0);
      if (s !== sums[i]) throw new Error(`bench tax: checksum changed between rounds (${s} != ${sums[i]})`);
    }
  }
  return ms.map((m, i) => ({ ms: median(m), sum: sums[i] }));
}

async function domainBundle(meter: boolean): Promise<Uint8Array> {
  const out = join(ROOT, 'build', 'bench', meter ? 'metered' : 'unmetered');
  const b = await buildDomain(DIR, { root: ROOT, outDir: out, key: devKey(join(ROOT, 'keys')), meter });
  return readFileSync(b.file);
}

/** A kernel with the tax domain loaded from `bundle` (its bytes); the caller shuts it down. */
function boot(bundle: Uint8Array): { kernel: Kernel; api: TaxBench; logs: string[] } {
  const logs: string[] = [];
  const kernel = new Kernel(new NodeHost(), { trust: bootTrust(ROOT), allowUnmetered: true, log: (l) => logs.push(l) });
  kernel.load(bundle);
  const api = kernel.create<TaxBench>('bench-tax', {}, { budgetMs: 600_000 }).api;
  return { kernel, api, logs };
}

export async function tax(opts: TaxOptions): Promise<Record<string, number>> {
  const sizes = opts.sizes ?? (opts.quick ? [12, 16] : [12, 14, 16, 18, 20, 22]);
  const ops = opts.ops ?? (opts.quick ? 1 << 16 : 1 << 21);
  const rounds = opts.rounds ?? (opts.quick ? 3 : 15);
  const say = opts.progress ?? (() => {});
  const [metered, unmetered] = [await domainBundle(true), await domainBundle(false)];
  const out: Record<string, number> = { ops, rounds };
  for (const log2 of sizes) {
    const w = new Workload(log2, SEED);
    const kernels = [boot(unmetered), boot(metered)];
    try {
      for (const k of kernels) unwrap(k.api.prepare(log2, SEED));
      const [plain, dom, met] = timeInterleaved([
        () => w.run(ops),
        ...kernels.map((k) => () => unwrap(k.api.run(ops))),
      ], rounds);
      for (const k of kernels) {
        if (k.kernel.crashes.length) throw new Error(`bench tax: the domain crashed:\n${k.logs.join('\n')}`);
      }
      if (dom.sum !== plain.sum || met.sum !== plain.sum) {
        throw new Error(`bench tax: checksums differ at 2^${log2}: plain ${plain.sum}, domain ${dom.sum}, metered ${met.sum}`);
      }
      const ns = (ms: number): number => (ms * 1e6) / ops;
      out[`plain_ns_per_op_${log2}`] = ns(plain.ms);
      out[`domain_ns_per_op_${log2}`] = ns(dom.ms);
      out[`metered_ns_per_op_${log2}`] = ns(met.ms);
      out[`metered_over_plain_${log2}`] = met.ms / plain.ms;
      say(`2^${String(log2).padEnd(3)} plain ${ns(plain.ms).toFixed(1).padStart(7)} ns  domain ${ns(dom.ms).toFixed(1).padStart(7)} ns  metered ${ns(met.ms).toFixed(1).padStart(7)} ns  (metered/plain ${(met.ms / plain.ms).toFixed(2)})`);
    } finally {
      for (const k of kernels) k.kernel.shutdown();
    }
  }
  out.metered_over_plain_max = Math.max(...sizes.map((s) => out[`metered_over_plain_${s}`]));
  return out;
}

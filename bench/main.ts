// `frond bench <name> [--quick]`: runs one benchmark, prints its figures against the targets,
// and writes bench/results/<name>.json and bench/results/<name>.svg (a log-scale bar chart).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calls } from './calls.ts';
import { tax } from './tax.ts';
import { blk, blkChart, type Series } from './blk.ts';
import { fsBench } from './fs.ts';

const RESULTS = join(fileURLToPath(import.meta.url), '../results');

type Figures = Record<string, number>;

interface Target { figure: string; op: '<=' | '>='; value: number }

interface Benchmark {
  run(opts: { quick: boolean; progress: (line: string) => void }): Promise<Figures>;
  /** the figures shown, in order, with a label, a unit, and the figure holding n per round */
  rows: readonly { figure: string; label: string; unit: string; n?: string }[];
  targets: readonly Target[];
  /** its own chart (default: a bar chart of the ns figures) */
  chart?(title: string, subtitle: string): string;
}

const BENCHMARKS: Record<string, Benchmark> = {
  calls: {
    run: calls,
    rows: [
      { figure: 'direct_ns', label: 'direct call (same domain)', unit: 'ns', n: 'n_direct' },
      { figure: 'proxy_ns', label: 'proxied call', unit: 'ns', n: 'n_proxy' },
      { figure: 'proxy_rref_ns', label: 'proxied call, RRef moved in and out', unit: 'ns', n: 'n_rref' },
      { figure: 'proxy_borrow_ns', label: 'proxied call, RRef borrowed', unit: 'ns', n: 'n_borrow' },
      { figure: 'proxy_async_ns', label: 'proxied async call', unit: 'ns', n: 'n_async' },
      { figure: 'shadow_ns', label: 'call through a shadow', unit: 'ns', n: 'n_shadow' },
      { figure: 'worker_rtt_ns', label: 'Worker round trip (SAB + Atomics)', unit: 'ns', n: 'n_worker' },
      { figure: 'ratio_worker_over_proxy', label: 'worker_rtt_ns / proxy_ns', unit: '×' },
    ],
    targets: [
      { figure: 'proxy_ns', op: '<=', value: 10 },
      { figure: 'proxy_rref_ns', op: '<=', value: 20 },
      { figure: 'shadow_ns', op: '<=', value: 25 },
      { figure: 'proxy_async_ns', op: '<=', value: 400 },
      { figure: 'ratio_worker_over_proxy', op: '>=', value: 1000 },
    ],
  },
};

const TAX_SIZES = [12, 14, 16, 18, 20, 22];

BENCHMARKS.tax = {
  run: tax,
  rows: [
    ...TAX_SIZES.flatMap((n) => [
      { figure: `plain_ns_per_op_${n}`, label: `2^${n} entries, plain TypeScript`, unit: 'ns' },
      { figure: `domain_ns_per_op_${n}`, label: `2^${n} entries, in a domain`, unit: 'ns' },
      { figure: `metered_ns_per_op_${n}`, label: `2^${n} entries, in a metered domain`, unit: 'ns' },
    ]),
    ...TAX_SIZES.map((n) => ({ figure: `metered_over_plain_${n}`, label: `2^${n}: metered / plain`, unit: '×' })),
    { figure: 'metered_over_plain_max', label: 'worst metered / plain', unit: '×' },
  ],
  targets: [{ figure: 'metered_over_plain_max', op: '<=', value: 1.3 }],
};

const BLK_PATHS = ['raw', 'domain', 'shadow', 'shadow_crash_1s'];
let blkSeries: Series[] = [];
BENCHMARKS.blk = {
  run: async (o) => {
    const r = await blk(o);
    blkSeries = r.series;
    return r.figures;
  },
  rows: [
    ...['read', 'write'].flatMap((op) => BLK_PATHS.flatMap((p) => [1, 32].map((b) => (
      { figure: `${op}_${p}_b${b}_iops`, label: `4 KiB random ${op}, ${p}, batch ${b}`, unit: '/s' })))),
    ...['read', 'write'].flatMap((op) => [1, 32].map((b) => ({ figure: `device_${op}_b${b}_iops`, label: `the device model alone, ${op}, batch ${b}`, unit: '/s' }))),
    { figure: 'host_read_iops', label: 'host loop, fs.readSync 4 KiB', unit: '/s' },
    { figure: 'host_write_iops', label: 'host loop, fs.writeSync 4 KiB', unit: '/s' },
    { figure: 'restart_us', label: 'driver crash to first answer from its successor', unit: 'µs' },
    { figure: 'reset_us', label: 'the kernel\'s clean-up of the crash (device reset included)', unit: 'µs' },
    ...['read', 'write'].flatMap((op) => [
      { figure: `${op}_domain_over_raw_b32`, label: `${op}: domain / raw, batch 32`, unit: '×' },
      { figure: `${op}_crash_over_shadow_b32`, label: `${op}: shadow_crash_1s / shadow, batch 32`, unit: '×' },
      { figure: `${op}_domain_b32_over_device_b32`, label: `${op}: domain / device alone, batch 32`, unit: '×' },
      { figure: `${op}_domain_b32_over_host`, label: `${op}: domain batch 32 / host loop`, unit: '×' },
    ]),
  ],
  targets: [
    { figure: 'read_domain_over_raw_b32', op: '>=', value: 0.9 },
    { figure: 'write_domain_over_raw_b32', op: '>=', value: 0.9 },
    { figure: 'read_crash_over_shadow_b32', op: '>=', value: 0.95 },
    { figure: 'write_crash_over_shadow_b32', op: '>=', value: 0.95 },
    { figure: 'restart_us', op: '<=', value: 5000 },
  ],
  chart: (title, subtitle) => blkChart(title, subtitle, blkSeries),
};

BENCHMARKS.fs = {
  run: fsBench,
  rows: [
    ...(['rv6', 'host'] as const).flatMap((s) => [
      { figure: `${s}_create_per_s`, label: `${s}: small file create+write+close`, unit: '/s', n: 'n_files' },
      { figure: `${s}_read_per_s`, label: `${s}: small file open+read+close`, unit: '/s', n: 'n_files' },
      { figure: `${s}_unlink_per_s`, label: `${s}: unlink`, unit: '/s', n: 'n_files' },
      { figure: `${s}_seqwrite_mb_s`, label: `${s}: sequential write, 256 KiB file`, unit: 'MB/s' },
      { figure: `${s}_seqread_mb_s`, label: `${s}: sequential read, 256 KiB file`, unit: 'MB/s' },
    ]),
    { figure: 'create_rv6_over_host', label: 'create: rv6 / host', unit: '×' },
    { figure: 'read_rv6_over_host', label: 'open+read: rv6 / host', unit: '×' },
    { figure: 'unlink_rv6_over_host', label: 'unlink: rv6 / host', unit: '×' },
    { figure: 'seqwrite_rv6_over_host', label: 'sequential write: rv6 / host', unit: '×' },
    { figure: 'seqread_rv6_over_host', label: 'sequential read: rv6 / host', unit: '×' },
    { figure: 'rv6_sync_ms', label: 'rv6: sync after the workload', unit: 'ms' },
    { figure: 'boot_ms', label: 'process start to the shell\'s prompt', unit: 'ms' },
  ],
  targets: [{ figure: 'boot_ms', op: '<=', value: 500 }],
};

function usage(): string {
  return `usage: frond bench <name> [--quick]\nbenchmarks: ${Object.keys(BENCHMARKS).join(', ')}`;
}

function met(t: Target, v: number): boolean {
  return t.op === '<=' ? v <= t.value : v >= t.value;
}

/** Three significant digits, without exponent notation for the ranges we print. */
function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function table(b: Benchmark, f: Figures): string {
  const head = ['figure', 'median', 'n/round', 'target', ''];
  const lines: string[][] = [head];
  for (const r of b.rows) {
    const t = b.targets.find((x) => x.figure === r.figure);
    const v = f[r.figure];
    if (v === undefined) continue; // not measured in this run (--quick)
    lines.push([
      r.figure,
      `${fmt(v)} ${r.unit}`,
      r.n && f[r.n] !== undefined ? String(f[r.n]) : '',
      t ? `${t.op === '<=' ? '≤' : '≥'} ${t.value}` : '',
      t ? (met(t, v) ? 'met' : 'MISSED') : '',
    ]);
  }
  const w = head.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const row = (l: string[]): string => l.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [row(lines[0]), w.map((n) => '-'.repeat(n)).join('  ').trimEnd(), ...lines.slice(1).map(row)].join('\n');
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A horizontal bar chart of the ns figures on a log scale, with each target drawn as a tick. */
function chart(title: string, subtitle: string, b: Benchmark, f: Figures): string {
  const rows = b.rows.filter((r) => r.unit === 'ns' && Number.isFinite(f[r.figure]) && f[r.figure] > 0);
  const values = rows.map((r) => f[r.figure]);
  for (const t of b.targets) if (rows.some((r) => r.figure === t.figure)) values.push(t.value);
  const lo = Math.floor(Math.log10(Math.min(...values) / 2)); // the shortest bar stays visible
  const hi = Math.ceil(Math.log10(Math.max(...values, 10)));
  const labelW = 300;
  const plotW = 520;
  const valueW = 110;
  const barH = 22;
  const gap = 12;
  const top = 64;
  const W = labelW + plotW + valueW;
  const H = top + rows.length * (barH + gap) + 40;
  const x = (v: number): number => labelW + ((Math.log10(v) - lo) / (hi - lo)) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="12" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="12" y="44" fill="#555">${esc(subtitle)}</text>`,
  ];
  const bottom = top + rows.length * (barH + gap);
  for (let e = lo; e <= hi; e++) {
    const gx = x(10 ** e).toFixed(1);
    out.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${bottom}" stroke="#ddd"/>`);
    const label = e >= 3 ? `${10 ** (e - 3)} µs` : `${10 ** e} ns`;
    out.push(`<text x="${gx}" y="${bottom + 18}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  rows.forEach((r, i) => {
    const v = f[r.figure];
    const y = top + i * (barH + gap);
    const t = b.targets.find((z) => z.figure === r.figure);
    const color = t ? (met(t, v) ? '#3a9d5d' : '#d0453b') : '#6b8fc9';
    const x0 = x(10 ** lo);
    out.push(`<text x="${labelW - 10}" y="${y + barH / 2 + 4}" text-anchor="end">${esc(r.figure)}</text>`);
    out.push(`<rect x="${x0.toFixed(1)}" y="${y}" width="${Math.max(1, x(v) - x0).toFixed(1)}" height="${barH}" fill="${color}"><title>${esc(r.label)}: ${fmt(v)} ns</title></rect>`);
    // The value goes right of the bar, or right of the target tick when the tick is in its way.
    let textX = x(v) + 6;
    if (t && x(t.value) > x(v) - 3 && x(t.value) < textX + 64) textX = x(t.value) + 6;
    out.push(`<text x="${textX.toFixed(1)}" y="${y + barH / 2 + 4}">${fmt(v)} ns</text>`);
    if (t) {
      const tx = x(t.value).toFixed(1);
      out.push(`<line x1="${tx}" y1="${y - 3}" x2="${tx}" y2="${y + barH + 3}" stroke="black" stroke-width="2" stroke-dasharray="3,2"><title>target ${esc(t.op === '<=' ? '≤' : '≥')} ${t.value} ns</title></line>`);
    }
  });
  const notes = ['log scale; dashed tick: target; green: met, red: missed'];
  for (const r of b.rows) {
    const t = b.targets.find((z) => z.figure === r.figure);
    if (r.unit === 'ns' || !Number.isFinite(f[r.figure])) continue;
    notes.push(`${r.label} = ${fmt(f[r.figure])}${r.unit}${t ? ` (target ${t.op === '<=' ? '≤' : '≥'} ${t.value}: ${met(t, f[r.figure]) ? 'met' : 'missed'})` : ''}`);
  }
  out.push(`<text x="12" y="${H - 6}" fill="#555" font-size="11">${esc(notes.join(' · '))}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export async function main(args: string[]): Promise<number> {
  const quick = args.includes('--quick');
  const names = args.filter((a) => !a.startsWith('-'));
  const unknownFlags = args.filter((a) => a.startsWith('-') && a !== '--quick');
  if (names.length !== 1 || unknownFlags.length > 0) {
    console.error(usage());
    return 1;
  }
  const name = names[0];
  const b = BENCHMARKS[name];
  if (!b) {
    console.error(`frond bench: no benchmark named '${name}'\n${usage()}`);
    return 1;
  }
  const started = new Date();
  console.error(`bench ${name}${quick ? ' (quick)' : ''}: node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} ×${cpus().length}`);
  const figures = await b.run({ quick, progress: (l) => console.error(`  ${l}`) });
  console.log(table(b, figures));

  const record = {
    benchmark: name,
    timestamp: started.toISOString(),
    quick,
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    figures,
    targets: b.targets.map((t) => ({ ...t, met: met(t, figures[t.figure]) })),
    ...(name === 'blk' ? { series: blkSeries } : {}),
  };
  mkdirSync(RESULTS, { recursive: true });
  const json = join(RESULTS, `${name}.json`);
  const svg = join(RESULTS, `${name}.svg`);
  writeFileSync(json, `${JSON.stringify(record, null, 2)}\n`);
  const subtitle = `${record.timestamp} · node ${record.node} · ${record.cpu} ×${record.cpus}`;
  writeFileSync(svg, b.chart
    ? b.chart(`frond bench ${name}${quick ? ' (quick)' : ''}: throughput across driver crashes`, subtitle)
    : chart(`frond bench ${name}${quick ? ' (quick)' : ''}: median cost per call`, subtitle, b, figures));
  console.error(`wrote ${json} and ${svg}`);
  return 0;
}

// Smoke test of the call benchmark: a tiny run of every kind yields sane figures, and a proxied
// call beats a round trip to another thread (the point of isolating domains in one process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calls } from '../bench/calls.ts';

test('calls benchmark: every figure is finite and positive; a proxied call beats a Worker round trip', async () => {
  const f = await calls({ quick: true, scale: 0.2 });
  for (const name of ['direct_ns', 'proxy_ns', 'proxy_rref_ns', 'proxy_borrow_ns', 'proxy_async_ns', 'shadow_ns',
    'worker_rtt_ns', 'ratio_worker_over_proxy']) {
    assert.ok(name in f, `${name} is reported`);
  }
  for (const [name, v] of Object.entries(f)) {
    assert.ok(Number.isFinite(v) && v > 0, `${name} = ${v} is a finite positive number`);
  }
  assert.ok(f.proxy_ns < f.worker_rtt_ns, `proxy_ns ${f.proxy_ns} < worker_rtt_ns ${f.worker_rtt_ns}`);
});

test('bench tax: the same hash table plain, in a domain and metered gives the same checksums and finite figures', async () => {
  const { tax } = await import('../bench/tax.ts');
  const f = await tax({ quick: true, sizes: [12], ops: 1 << 12, rounds: 1 });
  for (const k of ['plain_ns_per_op_12', 'domain_ns_per_op_12', 'metered_ns_per_op_12', 'metered_over_plain_max']) {
    assert.ok(Number.isFinite(f[k]) && f[k] > 0, `${k} = ${f[k]}`);
  }
});

test('bench blk: every path moves blocks, the crash runs span crashes, and the figures are finite', async () => {
  const { blk } = await import('../bench/blk.ts');
  const { figures: f, series } = await blk({ quick: true, blocks: 2048, roundMs: 40, rounds: 1, crashMs: 1200 });
  for (const op of ['read', 'write']) {
    for (const p of ['raw', 'domain', 'shadow', 'shadow_crash_1s']) {
      for (const b of [1, 32]) assert.ok(f[`${op}_${p}_b${b}_iops`]! > 1000, `${op}_${p}_b${b}_iops = ${f[`${op}_${p}_b${b}_iops`]}`);
    }
    assert.ok(f[`device_${op}_b32_iops`]! > 1000 && f[`host_${op}_iops`]! > 1000);
    assert.ok(Number.isFinite(f[`${op}_domain_over_raw_b32`]!));
  }
  assert.ok(f.restart_us! > 0 && f.restart_us! < 1e6);
  assert.equal(series.length, 2);
  for (const s of series) assert.ok(s.crashes.length >= 1 && s.points.length > 5, `${s.name}: ${s.crashes.length} crashes, ${s.points.length} samples`);
});

// Asynchronous calls in flight (the proxy runtime's list of pending calls per callee, in
// src/kernel/rpc.ts): they settle in any order, each once; when the callee dies, exactly the calls
// still in flight fail, at once, with the reason, and the crash report counts them.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { boot, type Booted } from './helpers.ts';
import type { Probe } from '../src/idl/demo.ts';

let sys: Booted | null = null;
afterEach(() => { sys?.k.shutdown(); sys = null; });

test('calls in flight settle in any order, each with its own result', async () => {
  sys = await boot(['probe']);
  const p = sys.k.create<Probe>('probe').api;
  const delays = [30, 5, 15, 1, 20];
  const results = await Promise.all(delays.map((ms) => p.runAsync('slow', ms)));
  assert.deepEqual(results, delays.map((ms) => ({ ok: true, value: ms })));
});

test('a kill fails exactly the calls still in flight, whichever settled before (head, middle or tail of the list)', async () => {
  sys = await boot(['probe']);
  const { domain, api: p } = sys.k.create<Probe>('probe');
  // in flight, newest first: e (slow 1), d (hang), c (slow 5), b (hang), a (slow 3)
  const a = p.runAsync('slow', 3);
  const b = p.runAsync('hang', 0);
  const c = p.runAsync('slow', 5);
  const d = p.runAsync('hang', 0);
  const e = p.runAsync('slow', 1);
  assert.deepEqual(await Promise.all([a, c, e]), [{ ok: true, value: 3 }, { ok: true, value: 5 }, { ok: true, value: 1 }]);
  sys.k.kill(domain, 'killed by the test');
  const failed = await Promise.all([b, d]);
  for (const r of failed) {
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.error.kind === 'crashed');
    assert.match(!r.ok ? r.error.message : '', /^Probe: domain probe was stopped \(killed by the test\)$/);
  }
  const report = sys.k.crashes.find((x) => x.id === domain.id)!;
  assert.equal(report.reclaimed.inflight, 2, 'the two hanging calls, not the three that settled');
  assert.match(report.text, /2 calls in flight failed/);
});

test('a callee that crashes fails every call in flight into it with its crash, once', async () => {
  sys = await boot(['probe']);
  const { domain, api: p } = sys.k.create<Probe>('probe');
  const hung = [p.runAsync('hang', 0), p.runAsync('hang', 0), p.runAsync('hang', 0)];
  const thrown = await p.runAsync('throw-later', 0);
  assert.equal(thrown.ok, false);
  // (the crash fails the throwing call too, as one of those in flight)
  assert.equal(!thrown.ok && thrown.error.message, 'Probe: domain probe crashed: Error: probe: async method threw');
  for (const r of await Promise.all(hung)) {
    assert.ok(!r.ok && r.error.kind === 'crashed');
    assert.equal(!r.ok && r.error.message, 'Probe: domain probe crashed: Error: probe: async method threw');
  }
  assert.equal(sys.k.crashes.filter((x) => x.id === domain.id).length, 1);
  assert.equal(sys.k.crashes[0]!.reclaimed.inflight, 4, 'the three hanging calls and the one that threw');
});

// What a caller gets back when a callee returns a result of an odd shape through a proxy (the
// proxy runtime's notOk, error and badReturn in src/kernel/rpc.ts): a callee's own RpcError is
// copied field by field (a kind it may not use becomes 'failed', a missing domain or message is
// filled in), read while the callee is current (its getters run as it, and a throwing one crashes
// only it), and a result that is not an RpcResult of the declared type crashes the callee.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { boot, type Booted } from './helpers.ts';
import type { Probe } from '../src/idl/demo.ts';

let sys: Booted | null = null;
afterEach(() => { sys?.k.shutdown(); sys = null; });

async function probe(): Promise<{ b: Booted; p: Probe }> {
  sys = await boot(['probe']);
  return { b: sys, p: sys.k.create<Probe>('probe').api };
}

test('a callee\'s own error crosses as a frozen copy of its three fields', async () => {
  const { p } = await probe();
  const r = p.run('err-own', 0);
  assert.deepEqual(r, { ok: false, error: { kind: 'invalid-argument', domain: 'elsewhere', message: 'no such block' } });
  assert.ok(!r.ok && Object.isFrozen(r.error));
});

test('an error of odd fields, null or a string: the kind becomes failed, the domain and message are filled in', async () => {
  const { b, p } = await probe();
  const filled = { ok: false, error: { kind: 'failed', domain: 'probe', message: 'Probe.run failed' } };
  assert.deepEqual(p.run('err-odd', 0), filled);
  assert.deepEqual(p.run('err-null', 0), filled);
  assert.deepEqual(p.run('err-string', 0), filled);
  assert.equal(b.k.crashes.length, 0, 'an odd error is no crash');
});

test('an error\'s getters run as the callee; one that throws crashes only the callee', async () => {
  const { b, p } = await probe();
  assert.deepEqual(p.run('err-getter', 0), { ok: false, error: { kind: 'failed', domain: 'probe', message: 'from a getter' } });
  assert.deepEqual(p.run('getter-runs', 0), { ok: true, value: 1 }, 'the getter ran once, in the probe');
  const r = p.run('err-getter-throws', 0);
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.error.kind === 'crashed');
  assert.match(!r.ok ? r.error.message : '', /^Probe\.run: domain probe crashed: .*kind getter threw/);
  assert.equal(b.k.crashes.length, 1);
});

test('a result that is not an RpcResult of the declared type crashes the callee with bad-return', async () => {
  for (const [what, message] of [
    ['ok-bad-value', 'Probe.run returned a value that is not of type i32'],
    ['ok-odd', 'Probe.run returned a result that is not of type RpcResult<i32>'],
    ['not-a-result', 'Probe.run returned a result that is not of type RpcResult<i32>'],
  ] as const) {
    const { b, p } = await probe();
    assert.deepEqual(p.run(what, 0), { ok: false, error: { kind: 'bad-return', domain: 'probe', message } }, what);
    assert.equal(b.k.crashes.length, 1, what);
    assert.match(b.k.crashes[0]!.text, new RegExp(`crashed \\(bad return from Probe\\.run\\)`), what);
    sys!.k.shutdown();
    sys = null;
  }
});

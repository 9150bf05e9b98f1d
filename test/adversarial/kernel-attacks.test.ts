// Attacks on the kernel's own bookkeeping (test/adversarial/domains/kernel-attacks): blame from
// forged evidence, domain code run by the kernel while another domain is current, CPU clocks
// restarted by re-entry, starvation by many short callbacks, innocent callers of a spinning callee,
// the engine's stack limit inside kernel paths, and evaluators reached without naming them.
// SECURITY.md names these tests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Counter, Probe } from '../../src/idl/demo.ts';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { boot, ROOT, tick, type Booted } from '../helpers.ts';

const HOSTILE = 'test/adversarial/domains/kernel-attacks';
let b: Booted;
let counter: Counter;
let counterId: number;

before(async () => {
  b = await boot(['counter', HOSTILE]);
  const c = b.k.create<Counter>('counter');
  counter = c.api;
  counterId = c.domain.id;
});
after(() => b.k.shutdown());

function hostile(config: string | null = null): { api: Probe; id: number; alive: () => boolean } {
  const { domain, api } = b.k.create<Probe>('hostile-kernel-attacks', { counter }, { config });
  return { api, id: domain.id, alive: () => domain.alive };
}

const reportOf = (id: number): string | undefined => b.k.crashes.find((r) => r.id === id)?.text;

/** The counter (an innocent bystander in every test) is alive and was never crashed. */
function counterIntact(): void {
  assert.equal(reportOf(counterId), undefined, 'the counter was never crashed');
  assert.equal(counter.add(0).ok, true, 'the counter still works');
  assert.equal(b.k.rpc.depth, 1, 'the domain stack is back at the kernel');
  assert.deepEqual(b.k.heap.audit(), [], 'the exchange heap is consistent');
}

test('a rejection whose stack text names another domain is blamed on the domain that made it', async () => {
  const h = hostile();
  assert.deepEqual(h.api.run('forge-stack', counterId), { ok: true, value: 1 });
  await tick(5);
  assert.equal(h.alive(), false);
  assert.match(reportOf(h.id) ?? '', /crashed \(unhandled rejection\): Error: not mine/);
  counterIntact();
});

test('the same after an await, where only the kernel\'s job hooks know who made the promise', async () => {
  const h = hostile();
  assert.deepEqual(await h.api.runAsync('forge-stack-after-await', counterId), { ok: true, value: 1 });
  await tick(10);
  assert.equal(h.alive(), false);
  assert.match(reportOf(h.id) ?? '', /crashed \(unhandled rejection\): Error: not mine either/);
  counterIntact();
});

test('a stack forged to break the crash report\'s source-map lookups cannot stop the clean-up', async () => {
  const h = hostile();
  const objects = b.k.heap.stats().objects;
  const r = h.api.run('forge-frames', 0);
  assert.equal(r.ok, false);
  assert.equal(h.alive(), false);
  assert.match(reportOf(h.id) ?? '', /crashed \(exception in Probe\.run\): Error: forged frames/);
  assert.equal(b.k.heap.stats().objects, objects, 'its packet was reclaimed');
  assert.equal(b.k.domain(h.id), undefined, 'it is gone from the kernel');
  counterIntact();
});

test('a non-Error rejection made after an await is still attributed to its domain', async () => {
  const h = hostile();
  assert.deepEqual(await h.api.runAsync('reject-after-await', 42), { ok: true, value: 1 });
  await tick(10);
  assert.equal(h.alive(), false);
  assert.match(reportOf(h.id) ?? '', /crashed \(unhandled rejection\): thrown value: 42/);
  counterIntact();
});

for (const config of ['species-result', 'thenable-result']) {
  test(`an async result that is not a plain promise (${config}) is a bad return; none of its hooks run`, async () => {
    const h = hostile(config);
    const before = b.k.crashes.length;
    const r = await h.api.runAsync('x', 0);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.kind, 'bad-return');
    await tick(5);
    assert.equal(h.alive(), false);
    assert.equal(b.k.crashes.length, before + 1, 'one crash: the callee');
    assert.ok(!b.k.crashes.some((c) => c.text.includes('species ran')));
    counterIntact();
  });
}

test('init\'s result is read while the new domain is current: its getter blames only itself', async () => {
  const before = b.k.crashes.length;
  assert.throws(() => hostile('getter-impl'), /failed to start/);
  await tick(5);
  assert.equal(b.k.crashes.length, before + 1, 'one crash: the domain that failed to start');
  counterIntact();
});

test('re-entering itself through the kernel (threads started from threads) does not restart the CPU clock', async () => {
  const h = hostile();
  const r = h.api.run('reenter-thread', 0);
  assert.equal(r.ok, false);
  assert.match(reportOf(h.id) ?? '', /BudgetExceeded: CPU budget exceeded: ran \d+ ms without yielding \(budget 50 ms\)/);
  counterIntact();
});

test('re-entering itself through another domain\'s callback does not restart the clock, and the domain in between is not blamed', async () => {
  const h = hostile();
  const r = h.api.run('reenter-callback', 0);
  assert.equal(r.ok, false);
  assert.match(reportOf(h.id) ?? '', /BudgetExceeded/);
  counterIntact();
});

test('a callee that spins on an innocent caller\'s behalf is stopped; the caller goes on', async () => {
  const h = hostile();
  assert.deepEqual(h.api.run('subscribe', 0), { ok: true, value: 0 });
  assert.deepEqual(counter.notify(0), { ok: true, value: 0 }, 'the listener failed; the counter answered');
  assert.equal(h.alive(), false);
  assert.match(reportOf(h.id) ?? '', /BudgetExceeded/);
  counterIntact();
});

test('many short timers of one domain cannot keep the event loop from turning; they all run in later turns', async () => {
  const h = hostile();
  const n = 30;
  const done = (): number => b.logs.filter((l) => l.includes('[hostile-kernel-attacks] timer done')).length;
  const base = done();
  assert.deepEqual(h.api.run('many-timers', n), { ok: true, value: n });
  // Due after every one of the domain's timers: without fairness it would run after all 30 (600 ms).
  const seen = await new Promise<number>((resolve) => setTimeout(() => resolve(done() - base), 2));
  assert.ok(seen < n / 2, `the host's timer waited for ${seen} of ${n} callbacks`);
  for (let i = 0; i < 200 && done() - base < n; i++) await tick(10);
  assert.equal(done() - base, n, 'every callback ran in the end');
  assert.equal(h.alive(), true, 'a domain with many short callbacks is slowed, not crashed');
  b.k.kill(b.k.domain(h.id)!, 'test over');
  counterIntact();
});

for (const how of ['getter', 'field']) {
  test(`spinning at the engine's stack limit, catching every RangeError (${how}), is still stopped by the budget`, () => {
    // In a fresh process: the kernel's own paths have not run yet, so none is compiled or inlined.
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/stack-limit-spin.ts'), `spin-at-stack-limit-${how}`],
      { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
    assert.equal(r.status, 0, `status ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: boolean; alive: boolean; report: string | null; counter: boolean };
    assert.equal(out.ok, false);
    assert.equal(out.alive, false);
    assert.match(out.report ?? '', /crashed \(runtime violation\): BudgetExceeded: CPU budget exceeded: ran \d+ ms without yielding \(budget 20 ms\)/);
    assert.equal(out.counter, true, 'the kernel and the counter go on');
  });
}

test('no evaluator can be reached from a domain, whatever the path', async () => {
  const h = hostile();
  assert.deepEqual(h.api.run('evaluators', 0), { ok: true, value: 0 });
  b.k.kill(b.k.domain(h.id)!, 'test over');
  counterIntact();
});

test('every kernel entry at the engine\'s stack limit leaves the domain stack, the heap and the bystanders intact', async () => {
  const heap = b.k.heap.stats();
  const h = hostile();
  h.api.run('stack-limit', 0);
  await tick(20);
  if (h.alive()) b.k.kill(b.k.domain(h.id)!, 'test over');
  await tick(20);
  counterIntact();
  const s = b.k.heap.stats();
  assert.equal(s.objects, heap.objects, 'every exchange object of the domain was reclaimed');
});

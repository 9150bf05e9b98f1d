// The CPU budget against code that runs with no function entry or loop of its own: field
// initializers of classes constructed without a constructor body, parameter defaults that never
// reach the body, generators and async functions resumed from outside (next, return, a settled
// await, for-await). Before the meter checked these (tools/domainc/meter.ts, rules 3-6 of its
// header), each attack below ran for many seconds or forever with no check at all. The second group
// drives domain callbacks from built-ins, which function-entry checks have always stopped.
//
// Each attack runs in a fresh instance of test/adversarial/domains/meter-constructs with a 20 ms
// budget, and must end with that domain crashed for its budget, promptly, the rest of the system
// intact and the exchange heap reclaimed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Counter, Probe } from '../../src/idl/demo.ts';
import type { RpcResult } from '../../src/idl/lib/types.ts';
import { boot, tick, type Booted } from '../helpers.ts';

const DOMAIN = 'test/adversarial/domains/meter-constructs';
const BUDGET_MS = 20;
/** Well above budget + the timer's lag, well below the seconds each attack ran unchecked. */
const PROMPT_MS = 2000;

let b: Booted;
let counter: Counter;

before(async () => {
  b = await boot(['counter', DOMAIN]);
  counter = b.k.create<Counter>('counter').api;
});
after(() => b.k.shutdown());

/** Creates a fresh instance, prepares the attack's pool if it has one, attacks, checks the aftermath. */
async function stopped(what: string, attack: (api: Probe) => RpcResult<number> | Promise<RpcResult<number>>, prepare = false): Promise<void> {
  const heapBefore = b.k.heap.stats();
  const crashesBefore = b.k.crashes.length;
  const { domain, api } = b.k.create<Probe>('hostile-meter-constructs', {}, { budgetMs: BUDGET_MS });
  if (prepare) {
    const r = api.run(what, 1);
    assert.ok(r.ok && r.value > 0, `${what}: preparing failed: ${JSON.stringify(r)} ${b.k.crashes[b.k.crashes.length - 1]?.text ?? ''}`);
  }
  const t0 = performance.now();
  const r = await attack(api);
  const ms = performance.now() - t0;
  await tick();
  assert.equal(r.ok, false, `${what}: the attack returned ${JSON.stringify(r)}`);
  assert.equal(domain.alive, false, `${what}: still alive`);
  assert.equal(b.k.crashes.length, crashesBefore + 1, `${what}: one crash report`);
  const report = b.k.crashes[b.k.crashes.length - 1]!.text;
  assert.match(report, new RegExp(`hostile-meter-constructs#\\d+ crashed \\(runtime violation\\): BudgetExceeded: CPU budget exceeded: .*\\(budget ${BUDGET_MS} ms\\)`), what);
  assert.ok(ms < PROMPT_MS, `${what}: stopped only after ${Math.round(ms)} ms`);
  // The rest of the system is intact and the heap is back where it was.
  const s = b.k.heap.stats();
  assert.equal(s.objects, heapBefore.objects, `${what}: exchange-heap objects reclaimed`);
  assert.equal(s.bytes, heapBefore.bytes, `${what}: exchange-heap bytes reclaimed`);
  assert.deepEqual(counter.add(1).ok, true, `${what}: the counter still works`);
}

// ---- constructs that escaped the meter before it checked them -----------------------------------

const TREES: Record<string, string> = {
  'field-tree': 'a public field initializer',
  'private-field-tree': 'a private field initializer',
  'derived-field-tree': 'a field initializer of a derived class with no constructor',
  'accessor-field-tree': 'an `accessor` field initializer',
  'builtin-field-tree': 'a field initializer of a class constructed only by Reflect.construct and Array.from',
};

for (const [what, how] of Object.entries(TREES)) {
  test(`2^48 constructions through ${how}, no constructor body anywhere, are stopped`, async () => {
    await stopped(what, (api) => api.run(what, 0));
  });
}

test('a promise-job chain through a parameter default whose function never reaches its body is stopped', async () => {
  await stopped('param-jobs', (api) => api.runAsync('param-jobs', 0));
});

test('the same through a default inside a destructuring parameter', async () => {
  await stopped('pattern-param-jobs', (api) => api.runAsync('pattern-param-jobs', 0));
});

test('8000 paused generators resumed 25 times each by built-ins (forEach over next.call) are stopped', async () => {
  await stopped('generator-pool', (api) => api.run('generator-pool', 0), true);
});

test('8000 paused generators closed by return(), each running five finally blocks, are stopped', async () => {
  await stopped('generator-return-pool', (api) => api.run('generator-return-pool', 0), true);
});

test('8000 async functions resumed 25 times each after one gate opens are stopped', async () => {
  await stopped('async-pool', (api) => api.runAsync('async-pool', 0), true);
});

test('8000 async functions leaving 25 for-await loops each are stopped', async () => {
  await stopped('for-await-pool', (api) => api.runAsync('for-await-pool', 0), true);
});

// ---- callbacks driven by built-ins, stopped by function-entry checks all along --------------------

const CALLBACKS: Record<string, string> = {
  'sort': 'a sort comparator',
  'replace': 'a replace callback',
  'reviver': 'a JSON.parse reviver',
  'getter': 'a getter run by JSON.stringify',
  'proxy': 'a Proxy get trap',
  'to-string': 'toString run by a template literal',
  'yield-star': 'yield* driven by new Set(iterable)',
  'reflect-construct': 'a constructor run by Reflect.construct',
};

for (const [what, how] of Object.entries(CALLBACKS)) {
  test(`exponential recursion through ${how} is stopped`, async () => {
    await stopped(what, (api) => api.run(what, 0));
  });
}

test('an endless chain of thenables resolved with themselves is stopped', async () => {
  await stopped('thenable', (api) => api.runAsync('thenable', 0));
});

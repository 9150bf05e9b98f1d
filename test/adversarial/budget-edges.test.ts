// The edges of the CPU budget's accounting (src/kernel/budget.ts), each seen from outside: what a
// stopped domain's code still does, which domain a stretch is charged to when the kernel itself is
// at the bottom of the domain stack, which stretch a domain's promise jobs belong to, and what an
// innocent caller is charged when its callee is stopped. The domain is
// test/adversarial/domains/budget-edges. Each test boots a kernel of its own: activation numbers
// and turns counted from zero are part of what some of them set up.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Probe } from '../../src/idl/demo.ts';
import type { Domain } from '../../src/kernel/domain.ts';
import type { CreateOptions } from '../../src/kernel/kernel.ts';
import type { Device } from '../../src/machine/common/device.ts';
import { KERNEL_ID } from '../../src/kernel/rpc.ts';
import { Kernel } from '../../src/kernel/kernel.ts';
import { NodeHost } from '../../src/machine/node/host.ts';
import type { PreemptTimer } from '../../src/machine/common/host.ts';
import { Worker } from 'node:worker_threads';
import { boot, signed, testKey, tick, type Booted } from '../helpers.ts';

const EDGES = 'test/adversarial/domains/budget-edges';
const NAME = 'hostile-budget-edges';

type D = { domain: Domain; api: Probe };

let sys: Booted | null = null;
afterEach(() => { sys?.k.shutdown(); sys = null; });

async function start(opts: Parameters<typeof boot>[1] = {}): Promise<Booted> {
  sys = await boot([EDGES], opts);
  return sys;
}

function create(b: Booted, imports: Record<string, unknown>, opts: CreateOptions): D {
  return b.k.create<Probe>(NAME, imports, opts);
}

/** A device model whose memory the test reads; `raise` is the device raising its interrupt. */
function device(): Device & { raise(): void; words: Int32Array } {
  let handler: (() => void) | null = null;
  const memory = new SharedArrayBuffer(64);
  return {
    memory,
    words: new Int32Array(memory),
    reset: () => true,
    onInterrupt: (fn) => { handler = fn; },
    raise: () => handler?.(),
  };
}

const reportOf = (b: Booted, d: Domain): string | undefined => b.k.crashes.find((r) => r.id === d.id)?.text;

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  for (const t0 = Date.now(); !cond(); await tick(5)) if (Date.now() - t0 > ms) return;
}

// ---- live(): a stopped domain's catch and finally blocks do not run on -------------------------

test('a domain stopped by its budget inside a try cannot run its catch or finally block: not even a store into shared memory', async () => {
  const b = await start();
  const dev = device();
  b.k.attachDevice('edges-live', dev, { irq: 90 });
  const d = create(b, {}, { budgetMs: 20, devices: ['edges-live'], config: { device: 'edges-live' } });
  // The channel works: an ordinary error's catch block stores into the device's memory.
  assert.deepEqual(d.api.run('catch-error', 0), { ok: true, value: 1 });
  assert.equal(dev.words[4], 1);

  const r = d.api.run('catch-spin', 0);
  assert.equal(r.ok, false, 'the call failed');
  assert.equal(d.domain.alive, false);
  assert.match(reportOf(b, d.domain) ?? '', /BudgetExceeded: CPU budget exceeded: ran \d+ ms without yielding \(budget 20 ms\)/);
  assert.equal(dev.words[0], 0, 'the catch block that caught the abort did not run on');

  // The same device, driven by a new instance (the dead one's was given back).
  const e = create(b, {}, { budgetMs: 20, devices: ['edges-live'], config: { device: 'edges-live' } });
  assert.equal(e.api.run('finally-spin', 0).ok, false);
  assert.equal(e.domain.alive, false);
  assert.match(reportOf(b, e.domain) ?? '', /BudgetExceeded/);
  assert.equal(dev.words[1], 0, 'the finally block did not run on');
  assert.equal(b.k.rpc.depth, 1);
});

test('a domain killed while inside a call cannot run its catch block', async () => {
  let victim: Domain | null = null;
  const b = await start({
    log: (l) => { if (l.includes(`[${NAME}] kill me`) && victim) sys!.k.kill(victim, 'killed by the test'); },
  });
  const dev = device();
  b.k.attachDevice('edges-kill', dev, { irq: 91 });
  const d = create(b, {}, { budgetMs: 20_000, devices: ['edges-kill'], config: { device: 'edges-kill' } });
  victim = d.domain;
  const t0 = Date.now();
  const r = d.api.run('catch-killed', 0);
  assert.deepEqual(r, { ok: false, error: { kind: 'crashed', domain: NAME, message: `Probe.run: domain ${NAME} crashed: DomainAbort: domain ${NAME} was stopped` } });
  assert.ok(Date.now() - t0 < 5000, 'the kill unwound it at once, not its budget');
  assert.equal(d.domain.alive, false);
  assert.equal(b.k.crashes.find((c) => c.id === d.domain.id)?.cause, 'killed by the test');
  assert.equal(dev.words[2], 0, 'the catch block that caught the abort did not run on');
  assert.equal(b.k.rpc.depth, 1);
});

test('a kill raises the interrupt word: the domain aborts at its next check, not when the timer next fires', async () => {
  // The machine's timer here fires once, after 300 ms; were the kill not to raise the word
  // itself, the domain's loop would turn until then.
  const word = new SharedArrayBuffer(4);
  const timer = new Worker('const w = new Int32Array(require("node:worker_threads").workerData); setTimeout(() => Atomics.store(w, 0, 1), 300);', { eval: true, workerData: word });
  class SlowTimer extends NodeHost {
    override preemptTimer(): PreemptTimer {
      return { pending: new DataView(word), acknowledge: () => { Atomics.store(new Int32Array(word), 0, 0); } };
    }
  }
  let victim: Domain | null = null;
  const logs: string[] = [];
  const k = new Kernel(new SlowTimer(() => undefined), {
    trust: [testKey().publicKey],
    log: (l) => { logs.push(l); if (l.includes(`[${NAME}] kill me`) && victim) k.kill(victim, 'killed by the test'); },
  });
  sys = { k, logs };
  try {
    k.load(await signed(EDGES));
    const dev = device();
    k.attachDevice('edges-word', dev, { irq: 94 });
    const d = create(sys, {}, { budgetMs: 20_000, devices: ['edges-word'], config: { device: 'edges-word' } });
    victim = d.domain;
    assert.equal(d.api.run('catch-killed', 0).ok, false);
    assert.ok(dev.words[5] <= 1, `its loop's first check aborted it (it made ${dev.words[5]} turns)`);
    assert.equal(dev.words[2], 0);
  } finally {
    await timer.terminate();
  }
});

test('time while no domain ran is charged to nobody: spin, stay idle for three budgets, spin again, and stay alive', async () => {
  const b = await start();
  const d = create(b, {}, { budgetMs: 50 });
  assert.deepEqual(d.api.run('spin', 10), { ok: true, value: 10 });
  await tick(150);
  assert.deepEqual(d.api.run('spin', 10), { ok: true, value: 10 }, 'the first tick after the idle time charged only its own period');
  assert.equal(d.domain.alive, true);
});

// ---- the root of a stretch above a kernel level ------------------------------------------------

test('a domain entered from a crash listener (the kernel\'s level below it) is the root of its stretch: its callees\' time is charged to it', async () => {
  const b = await start();
  const callee = create(b, {}, { budgetMs: 60 });
  const caller = create(b, { callee: callee.api }, { budgetMs: 30 });
  const bystander = create(b, {}, {});
  let stack: number[] = [];
  let result: unknown = null;
  b.k.onCrash((r) => {
    if (r.id !== bystander.domain.id) return;
    stack = b.k.rpc.crossings();
    // Up to 200 calls of 10 ms each into a callee whose budget is 60 ms: each call is well within
    // the callee's budget, a few together over the caller's (on a loaded machine, more of them).
    result = caller.api.run('call-spin', 200);
  });
  b.k.kill(bystander.domain, 'test');
  assert.deepEqual(stack, [KERNEL_ID, KERNEL_ID], 'the listener ran on the kernel\'s level, above the event loop\'s');
  assert.equal((result as { ok: boolean } | null)?.ok, false, 'the caller\'s call failed');
  assert.equal(caller.domain.alive, false, 'the caller was stopped: its stretch ran over its budget');
  assert.equal(callee.domain.alive, true, 'the callee, never over its own budget in one call, was not');
  assert.match(reportOf(b, caller.domain) ?? '', /BudgetExceeded: CPU budget exceeded: ran \d+ ms without yielding \(budget 30 ms\)/);
  assert.equal(reportOf(b, callee.domain), undefined);
  assert.deepEqual(callee.api.run('spin', 0), { ok: true, value: 0 }, 'the callee still answers');
  assert.equal(b.k.rpc.depth, 1);
});

test('a domain its budget stops while the kernel reaps (inside a crash listener) is cleaned up and reported without a further kernel call', async () => {
  const b = await start();
  const spinner = create(b, {}, { budgetMs: 20 });
  const bystander = create(b, {}, {});
  let result: unknown = null;
  b.k.onCrash((r) => { if (r.id === bystander.domain.id) result = spinner.api.run('spin-forever', 0); });
  b.k.kill(bystander.domain, 'test');
  assert.equal((result as { ok: boolean } | null)?.ok, false, 'the call failed');
  assert.equal(spinner.domain.alive, false, 'stopped by its budget');
  await tick(50); // (the system is idle: no kernel call that reaps)
  assert.match(reportOf(b, spinner.domain) ?? '', /BudgetExceeded/, 'its crash was reported');
  assert.equal(b.k.domain(spinner.domain.id), undefined, 'it was cleaned up');
});

// ---- the stretch of a domain's promise jobs -----------------------------------------------------

// The first domain of a fresh kernel: its init is activation 1, in the kernel's first turn (0).
// Its init ends with its stretch well over its budget, without ticking again (see the domain's
// `calls`): only a tick in a stretch of that same key would stop it.
const OVER = { calls: 20, callSpin: 15 } as const;

test('promise jobs right after init, in the same turn, are a stretch of their own, not init\'s (whose activation number is 1)', async () => {
  const b = await start();
  const d = create(b, {}, { privileged: true, budgetMs: 30, config: { ...OVER, job: 'now', jobSpin: 5 } });
  assert.equal(d.domain.alive, true, 'init ended alive');
  await until(() => !d.domain.alive || b.logs.includes(`[${NAME}] job done`));
  assert.equal(reportOf(b, d.domain), undefined, 'not stopped');
  assert.ok(b.logs.includes(`[${NAME}] job done`), 'the job ran to its end');
  assert.equal(d.domain.alive, true);
});

test('promise jobs two turns later are a stretch of their own, not that of an earlier kernel entry', async () => {
  const b = await start();
  const d = create(b, {}, { privileged: true, budgetMs: 30, config: { ...OVER, job: 'sleep', sleepMs: 250, jobSpin: 5 } });
  assert.equal(d.domain.alive, true, 'init ended alive');
  await tick(20);
  // Turn 1: another domain runs (and ticks), so the job comes in turn 2.
  const other = create(b, {}, { config: { initSpin: 10 } });
  await until(() => !d.domain.alive || b.logs.includes(`[${NAME}] job done`));
  assert.equal(reportOf(b, d.domain), undefined, 'not stopped');
  assert.ok(b.logs.includes(`[${NAME}] job done`), 'the job ran to its end');
  assert.equal(d.domain.alive, true);
  assert.equal(other.domain.alive, true);
});

// ---- an innocent caller is not charged for a callee its own budget stopped ----------------------

test('a callee stopped for its own overrun is not charged to its caller: the caller\'s stretch goes on and its interrupts in this turn are not put off', async () => {
  const b = await start();
  const dev = device();
  b.k.attachDevice('edges-irq', dev, { irq: 92 });
  const callee = create(b, {}, { budgetMs: 60 });
  const caller = create(b, { callee: callee.api }, { budgetMs: 100, devices: ['edges-irq'], config: { device: 'edges-irq' } });
  assert.deepEqual(caller.api.run('on-int', 0), { ok: true, value: 0 });
  await tick(5);
  // One synchronous stretch, in one turn: the callee spins past its 60 ms and is stopped; the
  // caller goes on for 20 ms (its stretch: a few ms of its own, well within its 100 ms).
  const r = caller.api.run('call-forever', 20);
  const before = dev.words[3];
  dev.raise();
  const handled = dev.words[3] - before;
  assert.deepEqual(r, { ok: true, value: 0 }, 'the caller went on and answered; its call into the callee failed');
  assert.equal(callee.domain.alive, false);
  assert.match(reportOf(b, callee.domain) ?? '', /BudgetExceeded: CPU budget exceeded: ran \d+ ms without yielding \(budget 60 ms\)/);
  assert.equal(caller.domain.alive, true);
  assert.equal(handled, 1, 'the caller\'s interrupt handler ran at once: the callee\'s time was not left on its share of this turn');
  assert.equal(b.k.rpc.depth, 1);
});

// ---- a turn the kernel could not watch for ------------------------------------------------------

/** A host whose first nextTurn throws, as queuing a callback does at the engine's stack limit. */
class FirstTurnFails extends NodeHost {
  failed = 0;
  override nextTurn(fn: () => void): void {
    if (this.failed++ === 0) throw new RangeError('Maximum call stack size exceeded');
    super.nextTurn(fn);
  }
}

test('a tick that cannot queue the end of its turn (out of stack) lets no throw out, and a later tick does: the turn still ends', async () => {
  // Were the first failure to stick, the turn would never end: the domain's share of it would
  // add up across turns, and once over its budget its callbacks would wait for good.
  const logs: string[] = [];
  const k = new Kernel(new FirstTurnFails(() => undefined), { trust: [testKey().publicKey], log: (l) => logs.push(l) });
  sys = { k, logs };
  k.load(await signed(EDGES));
  const dev = device();
  k.attachDevice('edges-turn', dev, { irq: 93 });
  const d = create(sys, {}, { budgetMs: 30, devices: ['edges-turn'], config: { device: 'edges-turn' } });
  assert.deepEqual(d.api.run('on-int', 0), { ok: true, value: 0 });
  // 160 ms of spinning, 20 ms in each of eight turns (none over the budget alone).
  for (let i = 0; i < 8; i++) {
    assert.deepEqual(d.api.run('spin', 20), { ok: true, value: 20 }, `spin ${i}`);
    await tick(5);
  }
  const before = dev.words[3];
  dev.raise();
  await until(() => dev.words[3] !== before, 500);
  assert.equal(dev.words[3] - before, 1, 'its interrupt handler ran: its share of this turn is not the sum of the last eight');
  assert.equal(d.domain.alive, true);
});

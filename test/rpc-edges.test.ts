// The proxy runtime's edges (src/kernel/rpc.ts), seen from outside through real domains: a
// capability born to a creator that died while creating it, a callee killed part way through its
// own call (sync and async, while the kernel reads its result), a held capability handed on
// through a shadow, the exact messages a caller gets (dead, invalid argument, not a promise), the
// list of async calls in flight unlinked in any order, a budget stop at the engine's stack limit,
// and what the kernel makes of a kernel abort nobody caught.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { boot, tick, type Booted } from './helpers.ts';
import type { Counter, Probe } from '../src/idl/demo.ts';
import type { RpcResult } from '../src/idl/lib/types.ts';
import { DomainAbort } from '../src/kernel/rpc.ts';

const HOSTILE = 'test/adversarial/domains/kernel-attacks';

let sys: Booted | null = null;
/** What the kernel's log hook does with each line (host code, run synchronously inside a domain's call). */
let onLine: (line: string) => void = () => undefined;
afterEach(() => { onLine = () => undefined; sys?.k.shutdown(); sys = null; });

async function start(dirs: Parameters<typeof boot>[0]): Promise<Booted> {
  sys = await boot(dirs, { log: (line) => onLine(line) });
  return sys;
}

const pending = Symbol('pending');
/** `p`'s value, or `pending` if it has not settled after `ms`. */
async function settled<T>(p: Promise<T>, ms = 50): Promise<T | typeof pending> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof pending>((resolve) => { timer = setTimeout(() => resolve(pending), ms); });
  try { return await Promise.race([p, late]); } finally { clearTimeout(timer); }
}

test('the domain stack as host code sees it from inside calls: the kernel, then each domain entered, innermost last', async () => {
  const { k } = await start(['counter', 'probe', 'test/domains/relay']);
  const stacks: number[][] = [];
  onLine = (line) => { if (line.includes('probe log 4101')) stacks.push(k.rpc.crossings()); };
  assert.deepEqual(k.rpc.crossings(), [0], 'between calls: the kernel alone');
  const counter = k.create<Counter>('counter');
  const probe = k.create<Probe>('probe');
  const relay = k.create<Probe>('relay', { b: probe.api, counter: counter.api });
  assert.deepEqual(probe.api.run('log', 4101), { ok: true, value: 4101 });
  assert.deepEqual(relay.api.run('call-b-then-count', 4101), { ok: true, value: 1 });
  assert.deepEqual(stacks, [[0, probe.domain.id], [0, relay.domain.id, probe.domain.id]]);
  assert.deepEqual(k.rpc.crossings(), [0], 'every level was popped');
});

test('a call into a dead domain fails with kind dead and the interface and domain named; nothing reaches it', async () => {
  const { k } = await start(['probe']);
  const p = k.create<Probe>('probe');
  k.kill(p.domain, 'killed by the test');
  assert.deepEqual(p.api.run('ok', 1), { ok: false, error: { kind: 'dead', domain: 'probe', message: 'Probe: domain probe is dead' } });
  assert.deepEqual(await p.api.runAsync('ok', 1), { ok: false, error: { kind: 'dead', domain: 'probe', message: 'Probe: domain probe is dead' } });
  assert.equal(k.crashes.length, 1, 'the kill, and nothing else');
});

test('an argument of the wrong type fails with invalid-argument naming the method, the parameter and its type; the callee is not entered', async () => {
  const { k } = await start(['probe']);
  const p = k.create<Probe>('probe');
  const bad = (a: unknown, b: unknown): RpcResult<number> => p.api.run(a as string, b as number);
  assert.deepEqual(bad(7, 0), { ok: false, error: { kind: 'invalid-argument', domain: 'probe', message: 'Probe.run: argument what is not of type string' } });
  assert.deepEqual(bad('throw', 1.5), { ok: false, error: { kind: 'invalid-argument', domain: 'probe', message: 'Probe.run: argument arg is not of type i32' } });
  assert.deepEqual(await p.api.runAsync('throw', 2 ** 31), { ok: false, error: { kind: 'invalid-argument', domain: 'probe', message: 'Probe.runAsync: argument arg is not of type i32' } });
  assert.equal(p.domain.alive, true, 'the probe never ran its throwing attempt');
  assert.equal(k.crashes.length, 0);
});

test('an error that is a function, not an object, is not read: its kind becomes failed and the rest is filled in', async () => {
  const { k } = await start(['probe']);
  const p = k.create<Probe>('probe');
  assert.deepEqual(p.api.run('err-function', 0), { ok: false, error: { kind: 'failed', domain: 'probe', message: 'Probe.run failed' } });
  assert.equal(k.crashes.length, 0);
});

test('a capability a creator gets back after it died while creating the domain is born revoked: using it unwinds the creator, and the new domain is never called', async () => {
  const { k } = await start(['counter', 'probe']);
  const creator = k.create<Probe>('probe', {}, { privileged: true });
  onLine = (line) => { if (line.includes('probe create-dead-caller 7')) k.kill(creator.domain, 'killed by the test'); };
  const r = creator.api.run('create-dead-caller', 7);
  assert.deepEqual(r, {
    ok: false,
    error: { kind: 'crashed', domain: 'probe', message: 'Probe.run: domain probe crashed: DomainAbort: capability revoked: domain probe is dead' },
  });
  const child = k.list().find((d) => d.name === 'counter' && d.args.creator === creator.domain.id);
  assert.ok(child, 'the counter was created, and lives on');
  assert.equal(k.crashes.length, 1, 'one report: the creator\'s kill; the counter never crashed');
  assert.equal(k.crashes[0]!.id, creator.domain.id);
  assert.equal(k.crashes[0]!.killed, true);
});

test('a callee killed while the kernel reads its result (its getter) is a bad return, and is not crashed again', async () => {
  const { k } = await start(['probe']);
  const p = k.create<Probe>('probe');
  onLine = (line) => { if (line.includes('probe value getter')) k.kill(p.domain, 'killed by the test'); };
  assert.deepEqual(p.api.run('ok-bad-value-kill', 0), {
    ok: false, error: { kind: 'bad-return', domain: 'probe', message: 'Probe.run returned a value that is not of type i32' },
  });
  assert.equal(k.crashes.length, 1);
  assert.equal(k.crashes[0]!.killed, true);
  assert.equal(k.crashes[0]!.cause, 'killed by the test');
});

test('a callee killed during its own async call, before it returned its promise: the call fails as crashed, without an explanation', async () => {
  const { k } = await start(['probe']);
  const p = k.create<Probe>('probe');
  onLine = (line) => { if (line.includes('probe log 4102')) k.kill(p.domain, 'killed by the test'); };
  const r = await settled(p.api.runAsync('log', 4102));
  assert.deepEqual(r, { ok: false, error: { kind: 'crashed', domain: 'probe', message: 'Probe.runAsync: domain probe crashed' } });
  await tick(5);
  assert.equal(k.crashes.length, 1, 'its kill, and no second report for its rejected promise');
});

test('an async result that is not a promise at all is a bad return naming Promise, and crashes the callee with that cause', async () => {
  const { k } = await start(['counter', HOSTILE]);
  const counter = k.create<Counter>('counter').api;
  const h = k.create<Probe>('hostile-kernel-attacks', { counter }, { config: 'thenable-result' });
  const r = await settled(h.api.runAsync('x', 0));
  assert.deepEqual(r, {
    ok: false,
    error: { kind: 'bad-return', domain: 'hostile-kernel-attacks', message: 'Probe.runAsync returned a result that is not of type Promise' },
  });
  assert.equal(h.domain.alive, false);
  assert.equal(k.crashes.length, 1);
  assert.match(k.crashes[0]!.text, /crashed \(bad return from Probe\.runAsync\): TypeError: Probe\.runAsync returned a result that is not of type Promise/);
});

test('an async result whose getter throws when the kernel reads it crashes the callee; the caller gets the crash', async () => {
  const { k } = await start(['probe']);
  const p = k.create<Probe>('probe');
  const r = await settled(p.api.runAsync('result-getter-throws', 0));
  assert.deepEqual(r, { ok: false, error: { kind: 'crashed', domain: 'probe', message: 'Probe: domain probe crashed: Error: probe: ok getter threw' } });
  assert.equal(p.domain.alive, false);
  assert.equal(k.crashes.length, 1);
  assert.match(k.crashes[0]!.text, /crashed \(exception in Probe\.runAsync\): Error: probe: ok getter threw/);
  assert.equal(k.rpc.depth, 1, 'the callee\'s level was popped');
});

test('an async callee killed by its own result\'s getter, which then throws: the caller gets the kill, and nothing escapes to the host', async () => {
  const { k } = await start(['probe']);
  const p = k.create<Probe>('probe');
  onLine = (line) => { if (line.includes('probe ok getter')) k.kill(p.domain, 'killed by the test'); };
  const r = await settled(p.api.runAsync('result-getter-kill', 0));
  assert.deepEqual(r, { ok: false, error: { kind: 'crashed', domain: 'probe', message: 'Probe: domain probe was stopped (killed by the test)' } });
  await tick(5);
  assert.equal(k.crashes.length, 1);
  assert.equal(k.crashes[0]!.killed, true);
  assert.equal(k.rpc.depth, 1);
});

test('a held capability of the right interface is handed on: a listener through a shadow reaches the counter behind it, which calls it back', async () => {
  const { k } = await start(['counter', 'shadow', 'probe']);
  const shadow = k.create<Counter>('counter-shadow', {}, { privileged: true, config: { target: 'counter' } });
  const p = k.create<Probe>('probe', { counter: shadow.api });
  assert.deepEqual(p.api.run('subscribe', 0), { ok: true, value: 1 }, 'the shadow handed the probe\'s listener on to its counter');
  assert.deepEqual(shadow.api.notify(5), { ok: true, value: 1 }, 'the counter called the listener');
  assert.deepEqual(shadow.api.notify(6), { ok: true, value: 1 });
  assert.deepEqual(p.api.run('heard', 0), { ok: true, value: 11 });
  assert.equal(k.crashes.length, 0);
});

test('settling a call in flight unlinks it whatever settled before it: a kill then fails exactly the call left', async () => {
  const { k } = await start(['probe']);
  const { domain, api: p } = k.create<Probe>('probe');
  // in flight, newest first: c (slow 1), b (slow 8), a (hang)
  const a = p.runAsync('hang', 0);
  const b = p.runAsync('slow', 8);
  const c = p.runAsync('slow', 1);
  assert.deepEqual(await c, { ok: true, value: 1 }, 'the head settled first');
  assert.deepEqual(await b, { ok: true, value: 8 }, 'then the new head');
  k.kill(domain, 'killed by the test');
  assert.deepEqual(await settled(a), { ok: false, error: { kind: 'crashed', domain: 'probe', message: 'Probe: domain probe was stopped (killed by the test)' } });
  assert.equal(k.crashes[0]!.reclaimed.inflight, 1);
  // the same from the tail: a hanging call newest, two settled behind it
  const q = k.create<Probe>('probe');
  const z = q.api.runAsync('slow', 1);
  const y = q.api.runAsync('slow', 8);
  const x = q.api.runAsync('hang', 0);
  assert.deepEqual(await Promise.all([z, y]), [{ ok: true, value: 1 }, { ok: true, value: 8 }]);
  k.kill(q.domain, 'killed again');
  assert.deepEqual(await settled(x), { ok: false, error: { kind: 'crashed', domain: 'probe', message: 'Probe: domain probe was stopped (killed again)' } });
  assert.equal(k.crashes[1]!.reclaimed.inflight, 1);
});

test('a callee its budget stops at the engine\'s stack limit is cleaned up and reported by the time its caller gets the crash', async () => {
  const { k } = await start(['counter', HOSTILE]);
  const counter = k.create<Counter>('counter').api;
  const h = k.create<Probe>('hostile-kernel-attacks', { counter }, { budgetMs: 20 });
  const r = h.api.run('spin-at-stack-limit-getter', 0);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.kind, 'crashed');
  // (synchronously: the clean-up put off at the stack limit is done on the way out of the call)
  assert.equal(k.domain(h.domain.id), undefined, 'it is gone from the kernel');
  assert.equal(k.crashes.length, 1);
  assert.match(k.crashes[0]!.text, /crashed \(runtime violation\): BudgetExceeded: CPU budget exceeded: ran \d+ ms without yielding \(budget 20 ms\)/);
  assert.equal(counter.add(1).ok, true);
});

test('the same in an async call: the caller gets the budget\'s crash, not the abort that unwound the callee', async () => {
  const { k } = await start(['probe']);
  const p = k.create<Probe>('probe', {}, { budgetMs: 20 });
  const r = await settled(p.api.runAsync('spin-at-limit-later', 0), 5_000);
  assert.notEqual(r, pending);
  assert.equal(typeof r === 'object' && !r.ok && r.error.kind, 'crashed');
  assert.match(typeof r === 'object' && !r.ok ? r.error.message : '', /^Probe: domain probe crashed: BudgetExceeded: CPU budget exceeded: ran \d+ ms without yielding \(budget 20 ms\)$/);
  assert.equal(k.crashes.length, 1);
  assert.equal(k.crashes[0]!.cause, 'runtime violation');
});

// Two bugs found by the mutation work (each test failed before its fix in rpc.ts and kernel.ts).

test('a domain created with a capability whose callee is gone gets a dead capability: its calls fail as dead, and it lives on', async () => {
  const { k } = await start(['counter', 'probe']);
  const c = k.create<Counter>('counter');
  k.kill(c.domain, 'killed by the test');
  const p = k.create<Probe>('probe', { counter: c.api });
  assert.deepEqual(p.api.run('call-counter', 1), { ok: true, value: -1 }, 'its call failed with an RpcError (call-counter answers -1)');
  assert.equal(p.domain.alive, true);
});

test('a call with an interface argument into a dead callee fails as dead, so a shadow recovers it like any other call', async () => {
  const { k } = await start(['counter', 'shadow', 'probe']);
  const c = k.create<Counter>('counter');
  const p = k.create<Probe>('probe', { counter: c.api });
  k.kill(c.domain, 'killed by the test');
  assert.deepEqual(p.api.run('subscribe', 0), { ok: true, value: -1 }, 'a dead error (-1), not an invalid argument (-2)');
  const shadow = k.create<Counter>('counter-shadow', {}, { privileged: true, config: { target: 'counter' } });
  const q = k.create<Probe>('probe', { counter: shadow.api });
  k.kill(k.list().find((d) => d.name === 'counter' && d.args.creator === shadow.domain.id)!, 'killed by the test');
  assert.deepEqual(q.api.run('subscribe', 0), { ok: true, value: 1 }, 'the shadow re-created its counter and subscribed the listener to it');
});

test('a kernel abort nobody caught is not news; any other rejection the kernel cannot blame on a domain goes to the host program', async () => {
  const saved = process.listeners('unhandledRejection');
  const seen: unknown[] = [];
  const mine = (reason: unknown): void => { seen.push(reason); };
  process.removeAllListeners('unhandledRejection');
  process.on('unhandledRejection', mine);
  try {
    await start([]); // (its host keeps `mine` as the host program's listener)
    const abort = new DomainAbort('domain gone was stopped', 99);
    const plain = new Error('a host bug');
    void Promise.reject(abort);
    void Promise.reject(plain);
    void Promise.reject(null);
    await tick(5);
    assert.deepEqual(seen, [plain, null]);
  } finally {
    sys?.k.shutdown();
    sys = null;
    process.off('unhandledRejection', mine);
    for (const l of saved) process.on('unhandledRejection', l as never);
  }
});

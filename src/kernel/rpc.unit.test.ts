// Unit tests of the proxy runtime (rpc.ts) against a stand-in kernel, for what no domain can
// reach with the kernel as it is: isAbort on every kind of value, the domain stack as crossings()
// lists it, a link whose caller is already dead when it is connected, a capability handed on after
// its callee was cleaned up (deadProxy; kernel.ts cannot get there: see test/rpc-edges.test.ts), and
// an async call answered after its caller died (through the kernel, only an rv6 process killed
// during a pending read gets there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Counter } from '../idl/demo.ts';
import type { RpcResult } from '../idl/lib/types.ts';
import { CALLEE_DEAD, CALLER_DEAD, Domain, type Bundle, type CreateArgs, type KLink } from './domain.ts';
import type { ExchangeHeap } from './heap.ts';
import { ensureLockdown } from './lockdown.ts';
import { abortTarget, DomainAbort, isAbort, KERNEL_ID, Rpc, type RpcKernel } from './rpc.ts';

ensureLockdown(); // (proxies are hardened)

interface World { rpc: Rpc; domains: Map<number, Domain>; crashes: [string, string][]; dom(id: number, name: string): Domain }

function world(heap: Partial<ExchangeHeap> = {}): World {
  const domains = new Map<number, Domain>();
  const crashes: [string, string][] = [];
  const k: RpcKernel = {
    heap: heap as ExchangeHeap, // (no call below moves or lends anything; a test may watch reclaim)
    domain: (id) => domains.get(id),
    crash: (d, cause) => { crashes.push([d.name, cause]); d.alive = false; },
    isPlainPromise: (p) => p instanceof Promise && Object.getPrototypeOf(p) === Promise.prototype,
    explain: (e) => String(e),
  };
  const dom = (id: number, name: string): Domain => {
    const d = new Domain(id, name, { name } as Bundle, { creator: KERNEL_ID } as CreateArgs);
    domains.set(id, d);
    return d;
  };
  return { rpc: new Rpc(k), domains, crashes, dom };
}

/** A counter implementation that records its calls. */
function counterImpl(calls: number[]): Counter {
  const no = (): never => { throw new Error('not used'); };
  return {
    add: (n) => { calls.push(n); return { ok: true, value: n }; },
    nop: no, stats: no, bounce: no, peek: no, addLater: no, echoLater: no, chain: no, sum: no, name: no, subscribe: no, notify: no,
  };
}

/** What the kernel's clean-up does to a dead domain's links (kernel.ts end, step 1), and forgets it. */
function bury(w: World, d: Domain): void {
  d.alive = false;
  for (const l of d.calls) { l.state |= CALLER_DEAD; l.impl = null; w.domains.get(l.callee)?.served.delete(l); }
  for (const l of d.served) { l.state |= CALLEE_DEAD; l.impl = null; l.target = null; w.domains.get(l.caller)?.calls.delete(l); }
  d.calls.clear();
  d.served.clear();
  w.domains.delete(d.id);
}

const fields = (l: KLink | null): unknown => l && {
  state: l.state, impl: l.impl, caller: l.caller, callee: l.callee, callerName: l.callerName, calleeName: l.calleeName, iface: l.iface, target: l.target,
};

test('isAbort: true for a kernel abort only, and reads nothing of what it is given', () => {
  const abort = new DomainAbort('domain x was stopped', 3);
  assert.strictEqual(isAbort(abort), true);
  assert.equal(abortTarget(abort), 3);
  let traps = 0;
  const trapped = new Proxy(abort, { get: () => { traps++; return undefined; }, getPrototypeOf: () => { traps++; return null; } });
  const lookalike = Object.assign(new Error('domain x was stopped'), { name: 'DomainAbort' });
  const others: [string, unknown][] = [
    ['an Error', new Error('plain')], ['an Error named DomainAbort', lookalike], ['an object with its prototype', Object.create(DomainAbort.prototype)],
    ['an object', {}], ['a Proxy of an abort', trapped], ['null', null], ['undefined', undefined], ['0', 0], ['its target', 3],
    ['a string', 'DomainAbort'], ['a symbol', Symbol('abort')], ['true', true], ['a function', () => 0],
  ];
  for (const [what, v] of others) assert.strictEqual(isAbort(v), false, what);
  assert.equal(traps, 0, 'no trap of a Proxy ran');
});

test('crossings: the kernel, then each domain entered, innermost last; back to the kernel alone when they return', () => {
  const { rpc } = world();
  assert.deepEqual(rpc.crossings(), [KERNEL_ID]);
  const inner = rpc.run(5, () => [rpc.crossings(), rpc.run(7, () => rpc.crossings())]);
  assert.deepEqual(inner, [[KERNEL_ID, 5], [KERNEL_ID, 5, 7]]);
  assert.deepEqual(rpc.crossings(), [KERNEL_ID], 'every level popped (the levels above stay in the table, unlisted)');
  rpc.jobStart(9);
  assert.deepEqual(rpc.crossings(), [KERNEL_ID, 9], 'a promise job of domain 9');
  rpc.toEventLoop();
  assert.deepEqual(rpc.crossings(), [KERNEL_ID]);
});

test('a link whose caller is already dead is born revoked: its proxy unwinds the caller and never reaches the callee', () => {
  const w = world();
  const a = w.dom(1, 'a');
  const b = w.dom(2, 'b');
  const calls: number[] = [];
  a.alive = false;
  const p = w.rpc.connect('Counter', a, b, counterImpl(calls)) as Counter;
  const link = w.rpc.linkOf(p, a.id);
  assert.deepEqual(fields(link), { state: CALLER_DEAD, impl: null, caller: 1, callee: 2, callerName: 'a', calleeName: 'b', iface: 'Counter', target: b });
  let thrown: unknown = null;
  try { p.add(1); } catch (e) { thrown = e; }
  assert.ok(thrown instanceof DomainAbort, 'the call threw the kernel\'s abort');
  assert.equal((thrown as Error).message, 'capability revoked: domain a is dead');
  assert.equal(abortTarget(thrown), a.id, 'it unwinds the dead caller');
  assert.deepEqual(calls, [], 'the callee never ran');
  assert.deepEqual(w.crashes, [], 'nobody was crashed');
  // both ends dead: both bits
  b.alive = false;
  const q = w.rpc.connect('Counter', a, b, counterImpl(calls));
  assert.equal(w.rpc.linkOf(q, a.id)!.state, CALLER_DEAD | CALLEE_DEAD);
  assert.equal(w.rpc.linkOf(q, a.id)!.impl, null);
});

test('a held capability handed on is re-connected for its new holder if it is of the interface asked for, and refused if not', () => {
  const w = world();
  const a = w.dom(1, 'a');
  const b = w.dom(2, 'b');
  const c = w.dom(3, 'c');
  const calls: number[] = [];
  const impl = counterImpl(calls);
  const pa = w.rpc.connect('Counter', a, b, impl);
  assert.equal(w.rpc.wrap('Listener', pa, a.id, c.id), w.rpc.BAD, 'a Counter is no Listener');
  assert.equal(w.rpc.wrap('Counter', pa, c.id, a.id), w.rpc.BAD, 'c does not hold it (and it is no implementation of c\'s)');
  const pc = w.rpc.wrap('Counter', pa, a.id, c.id) as Counter;
  assert.notEqual(pc, pa);
  assert.deepEqual(fields(w.rpc.linkOf(pc, c.id)), { state: 0, impl, caller: 3, callee: 2, callerName: 'c', calleeName: 'b', iface: 'Counter', target: b });
  assert.equal(w.rpc.linkOf(pc, a.id), null, 'it is c\'s, not a\'s');
  assert.deepEqual(pc.add(4), { ok: true, value: 4 });
  assert.deepEqual(calls, [4]);
});

test('a held capability whose callee is gone, handed on, becomes a dead capability of the new holder: calls fail as dead, naming the callee', () => {
  const w = world();
  const a = w.dom(1, 'a');
  const b = w.dom(2, 'b');
  const c = w.dom(3, 'c');
  const calls: number[] = [];
  const pa = w.rpc.connect('Counter', a, b, counterImpl(calls));
  bury(w, b);
  const pc = w.rpc.wrap('Counter', pa, a.id, c.id) as Counter;
  assert.equal(typeof pc, 'object');
  assert.ok(Object.isFrozen(pc), 'hardened, like every proxy');
  const link = w.rpc.linkOf(pc, c.id);
  assert.deepEqual(fields(link), { state: CALLEE_DEAD, impl: null, caller: 3, callee: 2, callerName: 'c', calleeName: 'b', iface: 'Counter', target: null });
  assert.ok(c.calls.has(link!), 'it is on c\'s record (revoked when c dies)');
  const dead: RpcResult<number> = { ok: false, error: { kind: 'dead', domain: 'b', message: 'Counter: domain b is dead' } };
  assert.deepEqual(pc.add(1), dead);
  // handed on once more, by c to a: the same
  const back = w.rpc.wrap('Counter', pc, c.id, a.id) as Counter;
  assert.deepEqual(fields(w.rpc.linkOf(back, a.id)), { state: CALLEE_DEAD, impl: null, caller: 1, callee: 2, callerName: 'a', calleeName: 'b', iface: 'Counter', target: null });
  assert.deepEqual(back.add(2), dead);
  assert.equal(w.rpc.wrap('Listener', pc, c.id, a.id), w.rpc.BAD, 'still of its own interface only');
  assert.deepEqual(calls, []);
  assert.deepEqual(w.crashes, []);
});

test('an async call whose caller died while it was pending is never resumed, and what it returned is reclaimed from the caller', async () => {
  const reclaimed: number[] = [];
  const w = world({ reclaim: (id: number) => { reclaimed.push(id); return { objects: 0, bytes: 0, deferred: 0, salvaged: 0 }; } });
  const a = w.dom(1, 'a');
  const b = w.dom(2, 'b');
  const answers: ((v: RpcResult<number>) => void)[] = [];
  const no = (): never => { throw new Error('not used'); };
  const impl: Counter = {
    addLater: () => new Promise((resolve) => { answers.push(resolve); }),
    add: no, nop: no, stats: no, bounce: no, peek: no, echoLater: no, chain: no, sum: no, name: no, subscribe: no, notify: no,
  };
  const p = w.rpc.connect('Counter', a, b, impl) as Counter;
  const settled: unknown[] = [];
  void p.addLater(1).then((r) => settled.push(r));
  void p.addLater(2).then((r) => settled.push(r));
  assert.equal(answers.length, 2, 'both calls reached the callee');
  // the first is answered while the caller lives: resumed, nothing reclaimed
  answers[0]!({ ok: true, value: 1 });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(settled, [{ ok: true, value: 1 }]);
  assert.deepEqual(reclaimed, []);
  // the caller dies with the second pending; the callee then answers it
  bury(w, a);
  answers[1]!({ ok: true, value: 2 });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(settled, [{ ok: true, value: 1 }], 'the dead caller was not resumed');
  assert.deepEqual(reclaimed, [a.id], 'whatever the answer handed the dead caller was reclaimed');
  assert.equal(b.inflight, null, 'and the call is off the callee\'s list');
});

test('outermost: the lowest level a domain is entered at, among the levels on the stack only', () => {
  const { rpc } = world();
  assert.deepEqual(rpc.run(5, () => rpc.run(7, () => rpc.run(5, () => [rpc.outermost(5), rpc.outermost(7), rpc.outermost(9)]))), [1, 2, 0]);
  assert.equal(rpc.run(5, () => rpc.outermost(7)), 0, 'a level above the top (left from the calls that returned) is not on the stack');
  assert.equal(rpc.outermost(5), 0);
});

test('a link to a live callee with no implementation (the link it came from was revoked) is dead from birth', () => {
  const w = world();
  const a = w.dom(1, 'a');
  const b = w.dom(2, 'b');
  const p = w.rpc.connect('Counter', a, b, null) as Counter;
  assert.equal(w.rpc.linkOf(p, a.id)!.state, CALLEE_DEAD);
  assert.deepEqual(p.add(1), { ok: false, error: { kind: 'dead', domain: 'b', message: 'Counter: domain b is dead' } });
});

test('a link made to a callee that is dead but not yet cleaned up stays on its caller\'s record when the callee is', () => {
  const w = world();
  const a = w.dom(1, 'a');
  const b = w.dom(2, 'b');
  b.alive = false; // marked dead, its clean-up not run yet
  const p = w.rpc.connect('Counter', a, b, counterImpl([]));
  bury(w, b);
  assert.ok(a.calls.has(w.rpc.linkOf(p, a.id)!), 'a\'s death still revokes it');
  assert.deepEqual((p as Counter).add(1), { ok: false, error: { kind: 'dead', domain: 'b', message: 'Counter: domain b is dead' } });
});

test('a callee\'s own error of each kind reaches its caller as that kind, copied; any other kind is "failed"', () => {
  const w = world();
  const a = w.dom(1, 'a');
  const b = w.dom(2, 'b');
  const kinds = ['crashed', 'dead', 'revoked', 'invalid-argument', 'bad-return', 'failed', 'other', ''];
  const impl = { ...counterImpl([]), add: (n: number) => ({ ok: false, error: { kind: kinds[n], domain: 'elsewhere', message: `kind ${n}` } }) } as Counter;
  const p = w.rpc.connect('Counter', a, b, impl) as Counter;
  const seen = kinds.map((_, n) => p.add(n)).map((r) => (r.ok ? null : r.error.kind));
  assert.deepEqual(seen, ['crashed', 'dead', 'revoked', 'invalid-argument', 'bad-return', 'failed', 'failed', 'failed']);
});

test('a kernel abort of the caller thrown through its callee unwinds the caller and crashes nobody; the callee\'s own throw crashes it', () => {
  const w = world({ reclaim: () => ({ objects: 0, bytes: 0, deferred: 0, salvaged: 0 }) });
  const a = w.dom(1, 'a');
  const b = w.dom(2, 'b');
  let p: Counter | null = null;
  const impl = {
    ...counterImpl([]),
    add: (n: number) => {
      if (n === 1) throw new Error('b failed');
      // a is killed while b runs for it: the abort that unwinds a comes back through b
      const link = w.rpc.linkOf(p, a.id)!;
      a.alive = false;
      link.state |= CALLER_DEAD;
      throw new DomainAbort('domain a was stopped', a.id);
    },
  } as Counter;
  p = w.rpc.connect('Counter', a, b, impl) as Counter;
  let thrown: unknown = null;
  try { p.add(0); } catch (e) { thrown = e; }
  assert.equal(abortTarget(thrown), a.id, 'a is unwound');
  assert.equal((thrown as Error).message, 'domain a was killed');
  assert.deepEqual(w.crashes, [], 'b did nothing wrong');
  const c = w.dom(3, 'c');
  const q = w.rpc.connect('Counter', c, b, impl) as Counter;
  assert.equal(q.add(1).ok, false);
  assert.deepEqual(w.crashes, [['b', 'exception in Counter.add']]);
});

test('wrap: an implementation handed on is refused unless it is a plain object of its owner\'s, with every method, handed while its owner runs', () => {
  const w = world();
  const owner = w.dom(1, 'owner');
  const to = w.dom(2, 'to');
  const other = w.dom(3, 'other');
  const calls: number[] = [];
  const impl = counterImpl(calls);
  const as = <T>(id: number, f: () => T): T => w.rpc.run(id, f);
  const BAD = w.rpc.BAD;
  assert.equal(as(1, () => w.rpc.wrap('NoSuchInterface', impl, owner.id, to.id)), BAD, 'an interface no IDL declares');
  assert.equal(as(9, () => w.rpc.wrap('Counter', impl, 9, to.id)), BAD, 'an owner that is gone');
  assert.equal(as(1, () => w.rpc.wrap('Counter', null, owner.id, to.id)), BAD, 'null');
  assert.equal(as(1, () => w.rpc.wrap('Counter', 5, owner.id, to.id)), BAD, 'a number');
  assert.equal(as(1, () => w.rpc.wrap('Counter', Object.defineProperties(() => 0, Object.getOwnPropertyDescriptors(impl)), owner.id, to.id)), BAD, 'a function, though it has every method');
  const foreign = w.rpc.connect('Counter', other, to, counterImpl([]));
  assert.equal(as(1, () => w.rpc.wrap('Counter', foreign, owner.id, to.id)), BAD, 'a capability another domain holds');
  assert.equal(w.rpc.wrap('Counter', impl, owner.id, to.id), BAD, 'handed while the owner is not running (the kernel is)');
  assert.equal(as(3, () => w.rpc.wrap('Counter', impl, owner.id, to.id)), BAD, 'handed while another domain runs');
  const { add: _add, ...partial } = impl;
  assert.equal(as(1, () => w.rpc.wrap('Counter', partial, owner.id, to.id)), BAD, 'a method missing');
  // its getters run as the owner: either end may die meanwhile
  const killing = (who: Domain): Counter => {
    const o = { ...impl } as Record<string, unknown>;
    Object.defineProperty(o, 'add', { get: () => { who.alive = false; return impl.add; }, enumerable: true });
    return o as unknown as Counter;
  };
  assert.equal(as(1, () => w.rpc.wrap('Counter', killing(owner), owner.id, to.id)), BAD, 'its owner died while its methods were read');
  owner.alive = true;
  assert.equal(as(1, () => w.rpc.wrap('Counter', killing(to), owner.id, to.id)), null, 'the receiver died meanwhile: nothing is connected');
  to.alive = true;
  assert.equal(as(1, () => w.rpc.wrap('Counter', impl, owner.id, 9)), null, 'a receiver that is gone');
  const p = as(1, () => w.rpc.wrap('Counter', impl, owner.id, to.id)) as Counter;
  assert.deepEqual(fields(w.rpc.linkOf(p, to.id)), { state: 0, impl, caller: 2, callee: 1, callerName: 'to', calleeName: 'owner', iface: 'Counter', target: owner });
  assert.deepEqual(p.add(3), { ok: true, value: 3 });
  assert.deepEqual(calls, [3]);
  assert.deepEqual(w.crashes, []);
});

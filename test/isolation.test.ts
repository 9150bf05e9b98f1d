// The isolation core, tried from inside domains: every mechanism of DESIGN.md §1 that issue 2
// names, each with a test that fails if the mechanism is removed.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { boot, tick, type Booted } from './helpers.ts';
import type { Counter, Probe } from '../src/idl/demo.ts';
import type { RpcResult } from '../src/idl/lib/types.ts';
import { TYPES } from '../src/idl/generated/types.ts';
import { KERNEL_ID } from '../src/kernel/rpc.ts';

const PACKET = TYPES.find((t) => t.name === 'Packet')!.id;
let sys: Booted | null = null;
afterEach(() => { sys?.k.shutdown(); sys = null; });

async function start(): Promise<Booted> {
  sys = await boot(['counter', 'probe', 'plan', 'flaky', 'shadow']);
  return sys;
}

function failed<T>(r: RpcResult<T>, kind: string): void {
  assert.equal(r.ok, false, `expected ${kind}, got ${JSON.stringify(r)}`);
  if (!r.ok) assert.equal(r.error.kind, kind, r.error.message);
}

const lastReport = (b: Booted): string => b.k.crashes[b.k.crashes.length - 1]?.text ?? '';

test('use after move: the stale handle is refused in the domain that used it, which crashes', async () => {
  const b = await start();
  const counter = b.k.create<Counter>('counter').api;
  const probe = b.k.create<Probe>('probe', { counter }).api;
  failed(probe.run('use-after-move', 0), 'crashed');
  assert.match(lastReport(b), /domain probe#\d+ crashed \(runtime violation\): HeapViolation: exchange heap: stale handle: the RRef was moved or freed \(use after move\)/);
  assert.equal(counter.add(1).ok, true, 'the other domain goes on');
});

test('use after free and forged handles crash the domain that used them', async () => {
  const b = await start();
  failed(b.k.create<Probe>('probe').api.run('use-after-free', 0), 'crashed');
  assert.match(lastReport(b), /stale handle/);
  const probe = b.k.create<Probe>('probe').api;
  const mine = b.k.heap.allocate(KERNEL_ID, PACKET); // a real handle, but not the probe's
  failed(probe.run('forge', 123456789), 'crashed');
  assert.match(lastReport(b), /forged handle/);
  failed(b.k.create<Probe>('probe').api.run('forge', mine), 'crashed');
  assert.match(lastReport(b), /belongs to another domain/);
  assert.equal(b.k.heap.u32(KERNEL_ID, mine, 8), 0, 'the owner still has its object');
});

test('write through a borrow: refused, the callee crashes, the owner\'s object is intact and usable', async () => {
  const b = await start();
  const probe = b.k.create<Probe>('probe').api;
  const p = b.k.heap.allocate(KERNEL_ID, PACKET);
  b.k.heap.setU32(KERNEL_ID, p, 8, 5);
  failed(probe.keep(p as never, true), 'crashed');
  assert.match(lastReport(b), /borrowed RRef is read-only/);
  assert.equal(b.k.heap.u32(KERNEL_ID, p, 8), 5);
  b.k.heap.setU32(KERNEL_ID, p, 8, 6); // no longer lent
});

test('keeping a borrow after the call: using it later is a stale handle', async () => {
  const b = await start();
  const probe = b.k.create<Probe>('probe').api;
  const p = b.k.heap.allocate(KERNEL_ID, PACKET);
  assert.deepEqual(probe.keep(p as never, false), { ok: true, value: undefined });
  failed(probe.run('use-kept', 0), 'crashed');
  assert.match(lastReport(b), /stale handle/);
});

test('a call into a dead domain fails with RpcError at once; restart brings up a fresh one', async () => {
  const b = await start();
  const { domain, api } = b.k.create<Counter>('counter');
  assert.deepEqual(api.add(2), { ok: true, value: 2 });
  b.k.kill(domain, 'test');
  failed(api.add(1), 'dead');
  failed(api.nop(), 'dead');
  // A kill is not the domain's fault: reported as stopped, with no (kernel) stack.
  assert.match(lastReport(b), /^domain counter#\d+ stopped \(test\)\n {2}reclaimed: /);
  assert.equal(b.k.crashes[b.k.crashes.length - 1].killed, true);
  assert.equal(b.k.stats().crashes, 0, 'and it does not count as a crash');
  const again = b.k.restart<Counter>(domain);
  assert.deepEqual(again.api.add(3), { ok: true, value: 3 }, 'same bundle, fresh state');
});

test('shutdown stops every domain, frees the heap, and says so in one line', async () => {
  const b = await start();
  const probe = b.k.create<Probe>('probe').api;
  b.k.create<Counter>('counter');
  assert.equal(probe.run('hoard', 2).ok, true);
  const held = b.k.heap.stats();
  assert.ok(held.objects > 10, 'the probe holds nested exchange objects');
  const logged = b.logs.length;
  b.k.shutdown();
  sys = null;
  assert.deepEqual(b.logs.slice(logged), [`kernel: shut down: 2 domains stopped, ${held.objects} exchange objects (${held.bytes} bytes) reclaimed`]);
  assert.equal(b.k.list().length, 0);
  assert.equal(b.k.heap.stats().objects, 0);
});

test('an interface reference crosses as a new proxy: the counter calls the probe back', async () => {
  const b = await start();
  const counter = b.k.create<Counter>('counter').api;
  const probe = b.k.create<Probe>('probe', { counter }).api;
  assert.deepEqual(probe.run('subscribe', 0), { ok: true, value: 1 });
  assert.deepEqual(counter.notify(5), { ok: true, value: 1 }, 'the listener answered');
  assert.deepEqual(counter.notify(2), { ok: true, value: 1 });
  assert.deepEqual(probe.run('heard', 0), { ok: true, value: 7 }, 'the calls ran in the probe');
  // Not a Listener, or a capability of another interface: refused before the counter runs.
  assert.deepEqual(probe.run('subscribe-bogus', 0), { ok: true, value: -2 });
  assert.deepEqual(probe.run('subscribe-counter', 0), { ok: true, value: -2 });
  assert.deepEqual(counter.notify(1), { ok: true, value: 1 }, 'the earlier subscription stands');
});

test('a listener that throws crashes its own domain, not the one calling it back', async () => {
  const b = await start();
  const { api: counter, domain: counterDomain } = b.k.create<Counter>('counter');
  const { api: probe, domain: probeDomain } = b.k.create<Probe>('probe', { counter });
  assert.deepEqual(probe.run('subscribe', 1), { ok: true, value: 1 });
  assert.deepEqual(counter.notify(5), { ok: true, value: 0 }, 'the callback failed as an RpcError in the counter');
  assert.equal(probeDomain.alive, false);
  assert.equal(counterDomain.alive, true);
  assert.match(lastReport(b), /domain probe#\d+ crashed \(exception in Listener.event\): Error: probe: listener threw\n\s+at .*test\/domains\/probe\/index.ts:\d+/);
  assert.deepEqual(counter.notify(6), { ok: true, value: 0 }, 'the dead listener is refused at once');
  assert.deepEqual(counter.add(1), { ok: true, value: 1 });
});

test('crash in a sync call is contained: the calling domain gets RpcError and goes on', async () => {
  const b = await start();
  const plan = b.k.create('plan', {}, { config: { period: 1 } }).api; // crash every call
  const flaky = b.k.create<Counter>('flaky', { plan }).api;
  const caller = b.k.create<Probe>('probe', { counter: flaky }).api;
  assert.deepEqual(caller.run('call-counter', 1), { ok: true, value: -1 }, 'the caller saw an error value and carried on');
  assert.deepEqual(caller.run('ok', 7), { ok: true, value: 7 });
  assert.match(lastReport(b), /domain flaky#\d+ crashed \(exception in Counter.add\): Error: injected fault\n\s+at .*src\/domains\/drivers\/flaky\/index.ts:\d+:\d+/);
  assert.equal(b.k.stats().crashes, 1);
});

test('crash in an async call is contained', async () => {
  const b = await start();
  const probe = b.k.create<Probe>('probe').api;
  failed(await probe.runAsync('throw-later', 0), 'crashed');
  assert.match(lastReport(b), /exception in Probe.runAsync.*async method threw/);
});

test('calls in flight into a domain that dies fail at once', async () => {
  const b = await start();
  const { domain, api } = b.k.create<Probe>('probe');
  const pending = [api.runAsync('hang', 0), api.runAsync('slow', 60_000)];
  await tick();
  b.k.kill(domain, 'test');
  const t0 = performance.now();
  for (const r of await Promise.all(pending)) failed(r, 'crashed');
  assert.ok(performance.now() - t0 < 1000);
  assert.match(lastReport(b), /2 calls in flight failed/);
});

test('crash in a timer callback is contained', async () => {
  const b = await start();
  const { domain, api } = b.k.create<Probe>('probe');
  assert.deepEqual(api.run('timer-throw', 0), { ok: true, value: 0 });
  await tick(5);
  assert.equal(domain.alive, false);
  assert.match(lastReport(b), /crashed \(timer \d+\): Error: probe: timer callback threw/);
  failed(api.run('ok', 1), 'dead');
});

test('an unhandled rejection is attributed to the domain that made it, and crashes only it', async () => {
  const b = await start();
  const counter = b.k.create<Counter>('counter').api;
  for (const what of ['unhandled', 'unhandled-in-timer']) {
    const { domain, api } = b.k.create<Probe>('probe');
    api.run(what, 0);
    await tick(10);
    assert.equal(domain.alive, false, what);
    assert.match(lastReport(b), /crashed \(unhandled rejection\)/);
  }
  assert.equal(counter.add(1).ok, true);
});

test('a rejection escaping a thread crashes its domain', async () => {
  const b = await start();
  const { domain, api } = b.k.create<Probe>('probe');
  api.run('thread-throw', 0);
  await tick(20);
  assert.equal(domain.alive, false);
  assert.match(lastReport(b), /crashed \(thread doomed\): Error: probe: thread died/);
});

test('thrown non-Errors (null, a Proxy) are reported without running the domain\'s code', async () => {
  const b = await start();
  failed(b.k.create<Probe>('probe').api.run('throw-null', 0), 'crashed');
  assert.match(lastReport(b), /thrown value: null/);
  failed(b.k.create<Probe>('probe').api.run('throw-proxy', 0), 'crashed');
  assert.match(lastReport(b), /a Proxy \(not inspected\)/);
});

test('heap statistics return to baseline after a crash that held nested RRefs', async () => {
  const b = await start();
  const base = b.k.heap.stats();
  const { domain, api } = b.k.create<Probe>('probe');
  assert.deepEqual(api.run('hoard', 5), { ok: true, value: 8 });
  const full = b.k.heap.stats();
  assert.equal(full.objects - base.objects, 5 * 3 + 1 + 5 * 2 + 2);
  assert.equal(full.perOwner.get(domain.id)?.objects, 5 * 3 + 1 + 5 * 2 + 2, 'an owner is charged for everything in its trees');
  assert.equal(full.nested.objects, 5 * 2 + 5 * 2);
  failed(api.run('throw', 0), 'crashed');
  const after = b.k.heap.stats();
  assert.deepEqual(
    [after.objects, after.bytes, after.handles, after.nested.objects, after.perOwner.has(domain.id), after.largestFree],
    [base.objects, base.bytes, base.handles, 0, false, base.largestFree]);
  assert.match(lastReport(b), /reclaimed: 28 exchange objects/);
});

test('the crashed domain\'s private objects are collected by the engine', async () => {
  assert.equal(typeof globalThis.gc, 'function', 'run with --expose-gc');
  const b = await start();
  const counter = b.k.create<Counter>('counter').api;
  const made = b.k.create<Probe>('probe', { counter });
  const impl = new WeakRef(made.domain.impl as object);
  const secret = new WeakRef((made.domain.impl as unknown as { secret(): object }).secret());
  made.api.run('sleep-forever', 0); // an interval timer holds a closure until the crash
  made.api.run('hoard', 2);
  failed(made.api.run('throw', 0), 'crashed');
  for (let i = 0; i < 10 && (impl.deref() || secret.deref()); i++) {
    await tick(5);
    globalThis.gc!();
  }
  assert.equal(impl.deref(), undefined, 'the exported object is gone');
  assert.equal(secret.deref(), undefined, 'the private heap is gone');
  failed(made.api.run('ok', 1), 'dead'); // the proxy we still hold kept nothing alive
});

test('a domain cannot mutate shared intrinsics or reach host globals', async () => {
  const b = await start();
  const probe = b.k.create<Probe>('probe').api;
  const push = Array.prototype.push;
  for (const what of ['mutate-array-proto', 'mutate-object-proto', 'mutate-promise-proto', 'mutate-global',
    'reach-process', 'reach-require', 'no-evaluators', 'constructor-constructor', 'date-now']) {
    assert.deepEqual(probe.run(what, 0), { ok: true, value: 1 }, what);
  }
  assert.equal(Array.prototype.push, push);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // The proxy exposes the interface only, not the implementation's other members.
  assert.equal((probe as unknown as Record<string, unknown>).secret, undefined);
  assert.ok(Object.isFrozen(probe));
});

test('interrupts: a handler runs as its domain; lines are owned; a throwing handler crashes only its domain and frees its lines', async () => {
  const b = await start();
  const a = b.k.create<Probe>('probe', {}, { privileged: true });
  const c = b.k.create<Probe>('probe', {}, { privileged: true });
  assert.equal(b.k.interrupt(7), false, 'nobody listens yet');
  assert.deepEqual(a.api.run('irq-register', 7), { ok: true, value: 1 });
  assert.equal(c.api.run('irq-register', 7).ok, false, 'a line has one owner: another domain\'s register throws (and crashes it)');
  assert.equal(b.k.interrupt(7), true);
  assert.equal(b.k.interrupt(7), true);
  assert.deepEqual(a.api.run('irq-count', 0), { ok: true, value: 2 });
  assert.ok(b.logs.includes('[probe] irq 7'));
  assert.equal(b.k.rpc.depth, 1, 'the handler ran as its domain and left');
  assert.deepEqual(a.api.run('irq-unregister', 7), { ok: true, value: 1 });
  assert.equal(b.k.interrupt(7), false, 'unregistered');
  assert.deepEqual(a.api.run('irq-throw', 8), { ok: true, value: 1 });
  assert.deepEqual(a.api.run('irq-register', 9), { ok: true, value: 1 });
  assert.equal(b.k.interrupt(8), true);
  assert.equal(a.domain.alive, false, 'the throwing handler crashed its own domain');
  assert.match(b.k.crashes[b.k.crashes.length - 1]!.text, /crashed \(interrupt 8\): Error: irq 8 handler failed[\s\S]*2 interrupt lines/);
  assert.equal(b.k.interrupt(9), false, 'its other line was released with it');
  const d = b.k.create<Probe>('probe', {}, { privileged: true });
  assert.deepEqual(d.api.run('irq-register', 8), { ok: true, value: 1 }, 'the line is free for another domain');
  const plain = b.k.create<Probe>('probe');
  assert.equal(plain.api.run('irq-register', 10).ok, false, 'an unprivileged domain has no sys.irq');
});

test('two RRefs moved in one call: each checked once, all checked before any moves; the same one twice or a wrong type moves nothing', async () => {
  const b = await start();
  const counter = b.k.create<Counter>('counter').api;
  const H = b.k.heap;
  const PAGE = TYPES.find((t) => t.name === 'Bytes<4096>')!.id;
  const p = H.allocate(KERNEL_ID, PACKET);
  const q = H.allocate(KERNEL_ID, PACKET);
  H.setU32(KERNEL_ID, q, 8, 42);
  failed(counter.chain(p as never, p as never), 'invalid-argument');
  assert.equal(H.typeOf(KERNEL_ID, p), PACKET, 'the same handle twice: nothing moved');
  const page = H.allocate(KERNEL_ID, PAGE);
  failed(counter.chain(p as never, page as never), 'invalid-argument');
  assert.equal(H.typeOf(KERNEL_ID, p), PACKET, 'a wrong second argument: the first did not move either');
  const r = counter.chain(p as never, q as never);
  assert.ok(r.ok);
  const head = r.value as unknown as number;
  assert.throws(() => H.typeOf(KERNEL_ID, p), /stale/);
  assert.throws(() => H.typeOf(KERNEL_ID, q), /stale/);
  const next = H.take(KERNEL_ID, head, 0)!;
  assert.equal(H.u32(KERNEL_ID, next, 8), 42, 'b came back as a\'s successor');
  for (const h of [head, next, page]) H.free(KERNEL_ID, h);
  assert.deepEqual(H.audit(), []);
});

test('console in a domain goes to the kernel log, printed without running any of the values\' code', async () => {
  const b = await start();
  const probe = b.k.create<Probe>('probe').api;
  assert.deepEqual(probe.run('console', 0), { ok: true, value: 1 });
  assert.ok(b.logs.includes("[probe] hello 42 { a: 1, b: [1, \"x\"] } { g: [getter] }"), b.logs.join('\n'));
  assert.ok(b.logs.includes('[probe] error: bad [Proxy]'), b.logs.join('\n'));
});

test('arguments and results are checked against the IDL; a bad return crashes the callee', async () => {
  const b = await start();
  const counter = b.k.create<Counter>('counter').api;
  for (const bad of ['1', 2 ** 40, 1.5, null, {}, 1n]) failed(counter.add(bad as never), 'invalid-argument');
  assert.deepEqual(counter.stats(), { ok: true, value: { calls: 0, total: 0 } }, 'the callee never ran');
  const stats = counter.stats();
  assert.ok(stats.ok && Object.isFrozen(stats.value), 'records are copied into frozen values');
  const probe = b.k.create<Probe>('probe').api;
  failed(probe.run('ok', 2 ** 33 as never), 'invalid-argument');
  failed(probe.run('nope', 0), 'crashed');
});

test('a shadow retries transparently across 1000 consecutive crashes', async () => {
  const b = await start();
  const plan = b.k.create('plan', {}, { config: { period: 2 } }).api; // every other call crashes
  const shadow = b.k.create<Counter>('counter-shadow', { plan }, { privileged: true, config: { target: 'flaky' } }).api;
  const before = b.k.crashes.length;
  let crashes = 0;
  const stop = b.k.onCrash((r) => { if (r.domain === 'flaky') crashes++; });
  for (let i = 0; i < 1000; i++) assert.deepEqual(shadow.add(1), { ok: true, value: 1 }, `call ${i}`);
  stop();
  assert.equal(crashes, 1000);
  assert.ok(b.k.crashes.length > 0 && b.k.crashes.length >= Math.min(256, before + 1000) - 1);
  assert.equal(b.k.list().filter((d) => d.name === 'flaky').length, 1, 'one live driver at a time');
  assert.deepEqual(await shadow.echoLater(4), { ok: true, value: 4 }, 'async methods are shadowed too');
});

test('a shadow refuses to start without a target bundle named in its config, or without the domains capability', async () => {
  const b = await start();
  const refusal = (config: unknown, privileged = true): string => {
    try {
      b.k.create<Counter>('counter-shadow', {}, { privileged, config });
      return 'started';
    } catch (e) {
      return (e as Error).message;
    }
  };
  const noTarget = 'domain counter-shadow failed to start: Error: counter-shadow: config.target must name a bundle';
  for (const config of [null, 5, 'counter', ['counter'], {}, { target: 7 }]) assert.equal(refusal(config), noTarget, JSON.stringify(config));
  assert.equal(refusal({ target: 'counter' }, false), 'domain counter-shadow failed to start: Error: counter-shadow: needs the privileged domains capability');
  assert.equal(refusal({ target: 'counter' }), 'started');
});

test('RRefs move through proxies: in and back, batched in a deque, and borrowed', async () => {
  const b = await start();
  const counter = b.k.create<Counter>('counter').api;
  const h = b.k.heap;
  const p = h.allocate(KERNEL_ID, PACKET);
  h.setU32(KERNEL_ID, p, 8, 11);
  assert.deepEqual(counter.peek(p as never), { ok: true, value: 11 });
  const r = counter.bounce(p as never);
  assert.ok(r.ok);
  assert.throws(() => h.u32(KERNEL_ID, p, 8), /stale/, 'moved away');
  assert.equal(h.u32(KERNEL_ID, r.value, 8), 11, 'and back, under a new handle');
  failed(counter.bounce(h.allocate(KERNEL_ID, TYPES.find((t) => t.name === 'Bytes<4096>')!.id) as never), 'invalid-argument');
});

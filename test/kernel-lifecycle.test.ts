// Tests of the kernel proper (src/kernel/kernel.ts) at the edges of a domain's life that the
// mechanism tests pass through without pinning down: each refusal of a creation word for word (the
// creator reads it) and at its exact limits, grants at exactly the creator's own budget and quota, a
// restart of a live domain, a start the heap cannot give a quota to (nothing of it left behind),
// bundles loaded by a domain keyed by their whole signed manifest, which promises the kernel takes
// for plain, crash listeners leaving, a device name attached twice, an injected fault's report,
// what stats() lists, and shutdown's one line: none for nothing stopped, "1 domain", and a count
// that holds when the ring of the latest crash reports is full. Also a log that throws: the
// clean-up goes on and the crash listeners are still told. And an init that dies or is stopped and
// still returns: its creator gets a refusal, not a dead domain.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { boot, signed, testKey, tick } from './helpers.ts';
import type { Counter, Probe } from '../src/idl/demo.ts';
import { DomainStartError, Kernel, type CreateOptions } from '../src/kernel/kernel.ts';
import type { Domain } from '../src/kernel/domain.ts';
import { NodeHost } from '../src/machine/node/host.ts';
import { BundleRefused, MAX_BUNDLE_BYTES, type SignedBundle } from '../src/kernel/verify.ts';
import { signManifest } from '../src/tools/domainc/build.ts';
import type { Device } from '../src/machine/common/device.ts';
import type { HostHooks } from '../src/machine/common/host.ts';

const b = await boot(['counter', 'probe', 'test/domains/services']);
const { k, logs } = b;
after(() => k.shutdown());

/** Asserts that creating `bundle` throws a DomainStartError with exactly `message` and no report. */
function startRefused(f: () => unknown, message: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof DomainStartError, String(e));
    assert.equal(e.message, message);
    assert.equal(e.report, null, 'refused before anything of it ran');
    return true;
  });
}

const live = (): number => k.list().length;

/** Kills `d` at the engine's stack limit: on the way back up from it, at each depth until a kill
 *  is made. True if its clean-up was put off (it is dead and not cleaned up yet). */
function killAtLimit(kernel: Kernel, d: Domain): boolean {
  let done = false;
  const down = (): void => {
    try { down(); } catch { /* the limit */ }
    if (done) return;
    try { kernel.kill(d, 'at the limit'); done = true; } catch { /* no room for the kill itself */ }
  };
  down();
  return done && kernel.domain(d.id) !== undefined;
}

test('create: every refusal of its options, word for word, at the exact limits', () => {
  const n = live();
  const names = (count: number): string[] => Array.from({ length: count }, (_, i) => `dev${i}`);
  const devices = 'devices must be an array of device names';
  startRefused(() => k.create('counter', {}, { devices: 'dev0' as unknown as string[] }), devices);
  startRefused(() => k.create('counter', {}, { devices: names(65) }), devices);
  startRefused(() => k.create('counter', {}, { devices: ['dev0', 7 as unknown as string] }), devices);
  for (const ok of [names(64), null, undefined, []]) {
    const c = k.create<Counter>('counter', {}, { devices: ok as string[] });
    assert.deepEqual(c.domain.args.devices, ok ?? []);
    k.kill(c.domain);
  }
  for (const bad of [0, -1, NaN, Infinity, '5']) {
    startRefused(() => k.create('counter', {}, { budgetMs: bad as number }), 'budgetMs must be a positive number');
    startRefused(() => k.create('counter', {}, { quotaBytes: bad as number }), 'quotaBytes must be a positive number');
  }
  startRefused(() => k.create('counter', {}, { config: { n: 1n } }), 'config is not plain data: Do not know how to serialize a BigInt');
  startRefused(() => k.create('counter', {}, { config: () => 1 }), 'config is not plain data');
  startRefused(() => k.create('nothing'), "no bundle named 'nothing' is loaded");
  assert.equal(live(), n, 'nothing refused is left running');
});

test('create: imports are checked against the manifest and the kernel\'s own capabilities, word for word', () => {
  const counter = k.create<Counter>('counter');
  const probe = k.create<Probe>('probe', { counter: counter.api });
  const served = counter.domain.served.size;
  startRefused(() => k.create('probe', null as unknown as Record<string, unknown>), 'imports must be an object of capabilities');
  startRefused(() => k.create('probe', 'counter' as unknown as Record<string, unknown>), 'imports must be an object of capabilities');
  startRefused(() => k.create('probe', { log: counter.api }), "probe does not import 'log' (its manifest lists: counter)");
  startRefused(() => k.create('counter', { log: counter.api }), "counter does not import 'log' (its manifest lists: nothing)");
  startRefused(() => k.create('probe', { counter: { add: () => ({ ok: true, value: 1 }) } }), "import 'counter' for probe is not a capability the kernel holds");
  startRefused(() => k.create('probe', { counter: probe.api }), "import 'counter' for probe must be a Counter, not a Probe");
  assert.equal(counter.domain.served.size, served, 'no link to the counter is left by a refused start');
  k.kill(probe.domain);
  k.kill(counter.domain);
});

test('create: a quota the heap cannot set aside refuses the start, and leaves no link to its imports behind', () => {
  const counter = k.create<Counter>('counter');
  const served = counter.domain.served.size;
  const quota = k.heap.capacity * 2;
  assert.throws(() => k.create('probe', { counter: counter.api }, { quotaBytes: quota }), (e: unknown) => {
    assert.ok(e instanceof DomainStartError, String(e));
    assert.match(e.message, new RegExp(`^domain probe cannot start: exchange heap: cannot set aside ${quota} bytes: \\d+ of the arena's ${k.heap.capacity} are not promised to another domain or in use$`));
    return true;
  });
  assert.equal(counter.domain.served.size, served, 'the link made for the import is gone');
  assert.deepEqual(counter.api.add(2), { ok: true, value: 2 });
  k.kill(counter.domain);
});

test('createFor: a grant of exactly the creator\'s budget and quota is allowed, one more is refused word for word; so are bad device lists', () => {
  const creator = k.create<Counter>('counter', {}, { budgetMs: 40, quotaBytes: 1 << 20 }).domain;
  const child = (grant: unknown): ReturnType<Kernel['createFor']> => k.createFor(creator, 'counter', {}, undefined, grant);
  const made = (r: ReturnType<Kernel['createFor']>): void => {
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const d = k.list().find((x) => x.args.creator === creator.id)!;
    k.kill(d);
  };
  made(child({ budgetMs: 40, quotaBytes: 1 << 20 }));
  made(child(null));
  made(child({}));
  const refused = (grant: unknown, message: string): void => assert.deepEqual(child(grant), { ok: false, error: { kind: 'crashed', domain: 'counter', message } });
  refused({ budgetMs: 40.5 }, "cannot grant budgetMs 40.5: more than the creator's 40");
  refused({ quotaBytes: (1 << 20) + 1 }, `cannot grant quotaBytes ${(1 << 20) + 1}: more than the creator's ${1 << 20}`);
  refused({ budgetMs: -1 }, 'budgetMs must be a positive number');
  refused({ devices: 'disk' }, 'devices must be an array of device names');
  refused({ devices: ['disk'] }, 'cannot grant device disk: domain counter does not hold it');
  assert.equal(k.list().filter((x) => x.args.creator === creator.id).length, 0);
  k.kill(creator);
});

test('restart of a live domain stops the old one (reported as stopped for "restart") and starts a fresh one', () => {
  const old = k.create<Counter>('counter');
  assert.deepEqual(old.api.add(5), { ok: true, value: 5 });
  const fresh = k.restart<Counter>(old.domain);
  assert.equal(old.domain.alive, false);
  const r = k.crashes.find((x) => x.id === old.domain.id)!;
  assert.deepEqual([r.cause, r.killed], ['restart', true]);
  assert.equal(old.api.add(1).ok, false, 'the old instance refuses calls');
  assert.deepEqual(fresh.api.add(1), { ok: true, value: 1 }, 'fresh state');
  k.kill(fresh.domain);
});

test('loadFor: a bundle is keyed by its whole signed manifest, so one code under two manifests is two programs; refusals name the loading domain', async () => {
  const creator = k.create<Counter>('counter').domain;
  const doc = JSON.parse(await signed('src/domains/apps/counter')) as SignedBundle;
  const bytes = (d: SignedBundle): Uint8Array => new TextEncoder().encode(JSON.stringify(d));
  const key1 = k.loadFor(creator, bytes(doc));
  const other = structuredClone(doc);
  other.manifest.entry += '/again';
  other.signature = signManifest(other.manifest, testKey());
  const key2 = k.loadFor(creator, bytes(other));
  assert.match(key1, /^counter@[0-9a-f]{16}$/);
  assert.match(key2, /^counter@[0-9a-f]{16}$/);
  assert.notEqual(key1, key2, 'the same code under another manifest is registered apart');
  assert.equal(k.loadFor(creator, bytes(doc)), key1, 'the same bundle again is the same program');
  const canonical = (v: unknown): string => JSON.stringify(v, (_, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [c]) => (a < c ? -1 : 1))) : x));
  assert.equal(key1, `counter@${createHash('sha256').update(canonical(doc.manifest)).digest('hex').slice(0, 16)}`);
  const refusal = (input: Uint8Array, message: string): void => {
    assert.throws(() => k.loadFor(creator, input), (e: unknown) => e instanceof BundleRefused && e.message === message);
  };
  refusal(new Uint8Array(MAX_BUNDLE_BYTES + 1), 'refused bundle (from counter): malformed manifest (the document is 16777217 bytes, over the 16 MiB limit)');
  refusal(new Uint8Array([0xff]), 'refused bundle (from counter): malformed manifest (the document is not UTF-8 text)');
  k.kill(creator);
});

test('isPlainPromise: only a promise of Promise.prototype itself with no own constructor', () => {
  assert.equal(k.isPlainPromise(Promise.resolve(1)), true);
  class Sub extends Promise<number> {}
  assert.equal(k.isPlainPromise(Sub.resolve(1)), false);
  const own = Promise.resolve(1);
  Object.defineProperty(own, 'constructor', { value: Promise });
  assert.equal(k.isPlainPromise(own), false);
  assert.equal(k.isPlainPromise({ then: () => undefined }), false);
});

test('onCrash: a listener that left is not told', () => {
  const heard: string[] = [];
  const off = k.onCrash((r) => heard.push(r.domain));
  const a = k.create<Counter>('counter');
  k.kill(a.domain);
  off();
  const c = k.create<Counter>('counter');
  k.kill(c.domain);
  assert.deepEqual(heard, ['counter']);
});

test('a runtime violation is logged as a crash report', () => {
  const p = k.create<Probe>('probe');
  const from = logs.length;
  assert.equal(p.api.run('use-after-free', 0).ok, false);
  const r = k.crashes.find((x) => x.id === p.domain.id)!;
  assert.equal(r.cause, 'runtime violation');
  assert.ok(logs.slice(from).includes(r.text), 'the report is logged');
});

test('an init that is stopped or dies and still returns has not started: its creator is told why', async () => {
  const n = live();
  // A heap violation marks it dead; init catches the throw (the meter's check in the catch block
  // throws again).
  assert.throws(() => k.create<Probe>('probe', {}, { config: { init: 'use-after-free' } }), (e: unknown) => {
    assert.ok(e instanceof DomainStartError, String(e));
    assert.match(e.message, /^domain probe failed to start: HeapViolation: /);
    assert.equal(e.report?.cause, 'runtime violation');
    return true;
  });
  assert.equal(live(), n, 'nothing of it is left running');
  // The host kills it while its init logs a line; init then returns without running a check.
  const own = await boot(['probe'], { log: (l) => { if (l.includes('probe log 0')) for (const d of own.k.list()) own.k.kill(d, 'killed by the test'); } });
  try {
    assert.throws(() => own.k.create<Probe>('probe', {}, { config: { init: 'log' } }), (e: unknown) => {
      assert.ok(e instanceof DomainStartError, String(e));
      assert.equal(e.message, 'domain probe failed to start: stopped: killed by the test');
      assert.deepEqual([e.report?.cause, e.report?.killed], ['killed by the test', true]);
      return true;
    });
    assert.deepEqual(own.k.list(), [], 'nothing of it is left running');
  } finally {
    own.k.shutdown();
  }
});

test('each import is one link: a domain killed at once revokes exactly the links to its imports', () => {
  const c = k.create<Counter>('counter');
  const p = k.create<Probe>('probe', { counter: c.api });
  assert.deepEqual(p.api.run('call-counter', 5), { ok: true, value: 5 });
  k.kill(p.domain);
  assert.equal(k.crashes.find((r) => r.id === p.domain.id)?.reclaimed.revoked, 1);
  k.kill(c.domain);
  assert.equal(k.crashes.find((r) => r.id === c.domain.id)?.reclaimed.revoked, 0, 'the counter held nothing');
  // A capability to the dead counter, handed to a new domain: a link whose callee is gone, which
  // its holder's clean-up revokes all the same.
  const late = k.create<Probe>('probe', { counter: c.api });
  assert.deepEqual(late.api.run('call-counter', 1), { ok: true, value: -1 }, 'its call failed as dead');
  k.kill(late.domain);
  assert.equal(k.domain(late.domain.id), undefined, 'cleaned up');
  assert.equal(k.crashes.find((r) => r.id === late.domain.id)?.reclaimed.revoked, 1);
});

test('a clean-up put off at the engine\'s stack limit inside a promise job is finished when that job ends, before the event loop turns', async () => {
  await Promise.resolve(); // (from here on, this test runs in promise jobs)
  const c = k.create<Counter>('counter');
  const putOff = killAtLimit(k, c.domain);
  await null; // the next job: the doorbell's message cannot have come yet
  assert.deepEqual({ putOff, cleaned: k.domain(c.domain.id) === undefined }, { putOff: true, cleaned: true });
});

test('attachDevice: a name attached already is refused, and the line it asked for stays free', () => {
  const dev = (): Device => ({ memory: new SharedArrayBuffer(64), reset: () => true, onInterrupt: () => undefined });
  k.attachDevice('lc-a', dev(), { irq: 90 });
  assert.throws(() => k.attachDevice('lc-a', dev(), { irq: 91 }), { message: 'devices: lc-a is attached already' });
  k.attachDevice('lc-b', dev(), { irq: 91 });
});

test('injectCrash: the driver dies at once, counted as a crash with its own cause and error, and not logged', () => {
  k.attachDevice('lc-inj', { memory: new SharedArrayBuffer(64), reset: () => true, onInterrupt: () => undefined }, { irq: 92 });
  const s = k.create<Probe>('services', {}, { devices: ['lc-inj'] } satisfies CreateOptions);
  assert.ok(s.api.run('open lc-inj', 0).ok);
  const crashes = k.stats().crashes;
  const from = logs.length;
  assert.equal(k.injectCrash('lc-inj'), true);
  assert.equal(s.domain.alive, false);
  const r = k.crashes.find((x) => x.id === s.domain.id)!;
  assert.deepEqual([r.cause, r.killed], ['injected fault', false]);
  assert.match(r.error.message, /^Error: fault injected into the driver of lc-inj$/);
  assert.equal(r.reclaimed.devices, 1, 'the device it drove is counted among what was reclaimed');
  assert.equal(k.stats().crashes, crashes + 1);
  assert.deepEqual(logs.slice(from), [], 'not logged');
});

test('stats: the live domains by id and name', () => {
  const before = k.stats().domains;
  const c = k.create<Counter>('counter');
  assert.deepEqual(k.stats().domains, [...before, { id: c.domain.id, name: 'counter' }]);
  k.kill(c.domain);
  assert.deepEqual(k.stats().domains, before);
});

test('shutdown: one line, none for nothing stopped, "1 domain", and right when the ring of crash reports is full', async () => {
  const one = await boot(['counter']);
  one.k.shutdown();
  assert.deepEqual(one.logs, [], 'nothing was running: nothing to say');

  const two = await boot(['counter']);
  for (let i = 0; i < 300; i++) two.k.kill(two.k.create<Counter>('counter').domain);
  assert.equal(two.k.crashes.length, 256, 'the ring keeps the latest 256 reports');
  two.k.create<Counter>('counter');
  const from = two.logs.length;
  two.k.shutdown();
  assert.deepEqual(two.logs.slice(from), ['kernel: shut down: 1 domain stopped, 0 exchange objects (0 bytes) reclaimed']);
});

test('a log that throws: the clean-up goes on, the crash listeners are told, the kernel goes on', async () => {
  let fail = true;
  const x = await boot(['counter'], { log: () => { if (fail) throw new Error('log: broken pipe'); } });
  const heard: number[] = [];
  x.k.onCrash((r) => heard.push(r.id));
  const a = x.k.create<Counter>('counter');
  x.k.kill(a.domain);
  assert.deepEqual(heard, [a.domain.id], 'told, although the log threw');
  const c = x.k.create<Counter>('counter');
  assert.deepEqual(c.api.add(4), { ok: true, value: 4 });
  fail = false;
  x.k.shutdown();
});

test('a start that fails where the clean-up must be put off (the engine\'s stack limit) says it crashed, and is cleaned up afterwards', async () => {
  const before = live();
  const outcomes = new Set<string>();
  const made: Kernel['list'] extends () => infer D ? D : never = [];
  let deepest = 0;
  const attempt = (): void => {
    try { made.push(k.create<Counter>('counter').domain); } catch (e) {
      outcomes.add(e instanceof DomainStartError ? e.message : 'thrown before the domain existed');
    }
  };
  // (on the way back up from the limit, at each depth until one start succeeds)
  const down = (n: number): void => {
    if (n > deepest) deepest = n;
    try { down(n + 1); } catch { /* the limit */ }
    if (made.length === 0) attempt();
  };
  down(0);
  assert.ok(outcomes.has('domain counter failed to start: crashed'), `${made.length} made; ${[...outcomes].join('; ')}`);
  for (const d of made) k.kill(d);
  await tick(10);
  assert.equal(live(), before, 'every domain that failed to start was cleaned up');
  assert.deepEqual(k.heap.audit(), []);
});

test('without a log option, kernel lines go to the host\'s output', async () => {
  const lines: string[] = [];
  const x = new Kernel(new NodeHost((l) => lines.push(l)), { trust: [testKey().publicKey] });
  x.load(await signed('src/domains/apps/counter'));
  const c = x.create<Counter>('counter');
  x.kill(c.domain, 'test');
  assert.deepEqual(lines, [x.crashes[0]!.text]);
  x.shutdown();
});

test('a host that offers no mutation globals (the method is optional) runs domains all the same', async () => {
  const host = new NodeHost(() => undefined);
  Object.defineProperty(host, 'mutationGlobals', { value: undefined });
  const x = new Kernel(host, { trust: [testKey().publicKey] });
  try {
    x.load(await signed('src/domains/apps/counter'));
    const c = x.create<Counter>('counter');
    assert.deepEqual(c.api.add(3), { ok: true, value: 3 });
  } finally {
    x.shutdown();
  }
});

test('a domain its budget stops by stores alone (at the engine\'s stack limit) is reported as a crash, and the report is logged', async () => {
  const p = k.create<Probe>('probe', {}, { budgetMs: 20 });
  const crashes = k.stats().crashes;
  const from = logs.length;
  const r = await p.api.runAsync('spin-at-limit-later', 0);
  assert.equal(r.ok, false);
  const report = k.crashes.find((x) => x.id === p.domain.id)!;
  assert.deepEqual([report.cause, report.killed], ['runtime violation', false]);
  assert.match(report.error.message, /^BudgetExceeded: CPU budget exceeded: ran \d+ ms without yielding \(budget 20 ms\)$/);
  assert.equal(k.stats().crashes, crashes + 1);
  assert.ok(logs.slice(from).includes(report.text), 'logged');
});

test('an uncaught exception or rejection that is no domain\'s is left to the host program (the kernel\'s trap answers false)', () => {
  let hooks: HostHooks | null = null;
  class Trapped extends NodeHost {
    override attach(h: HostHooks): void { hooks = h; }
    override detach(): void { hooks = null; }
  }
  const x = new Kernel(new Trapped(() => undefined), { trust: [] });
  const trap = hooks as HostHooks | null;
  assert.ok(trap !== null);
  assert.equal(trap.uncaught('exception', new Error('the host program\'s own'), null), false);
  assert.equal(trap.uncaught('rejection', new Error('the host program\'s own'), Promise.resolve()), false);
  x.shutdown();
  assert.equal(hooks, null, 'detached');
});

test('shutdown reports each domain it stopped as stopped for "shutdown"; from the engine\'s stack limit it refuses, and works once there is room', async () => {
  const x = await boot(['counter']);
  const c = x.k.create<Counter>('counter');
  const crashes = x.k.stats().crashes;
  const refusals = new Set<string>();
  let done = false;
  const down = (): void => {
    try { down(); } catch { /* the limit */ }
    if (done) return;
    try { x.k.shutdown(); done = true; } catch (e) { refusals.add(`${(e as Error).name}: ${(e as Error).message}`); }
  };
  down();
  assert.ok(done);
  assert.ok(refusals.has('RangeError: shutdown: too little stack left to stop every domain (called at the engine\'s stack limit)'), [...refusals].join('; '));
  for (const r of refusals) assert.match(r, /^RangeError: /);
  assert.deepEqual(x.logs, ['kernel: shut down: 1 domain stopped, 0 exchange objects (0 bytes) reclaimed']);
  const r = x.k.crashes.find((y) => y.id === c.domain.id)!;
  assert.deepEqual([r.cause, r.killed, r.error.message], ['shutdown', true, 'stopped: shutdown']);
  assert.equal(x.k.stats().crashes, crashes, 'stops are not crashes');
});

test('shutdown from a crash listener, while the kernel reaps, stops every domain and detaches from the host', async () => {
  let attached = false;
  class Watched extends NodeHost {
    override attach(h: HostHooks): void { super.attach(h); attached = true; }
    override detach(): void { attached = false; super.detach(); }
  }
  const lines: string[] = [];
  const x = new Kernel(new Watched(() => undefined), { trust: [testKey().publicKey], log: (l) => lines.push(l) });
  x.load(await signed('src/domains/apps/counter'));
  const a = x.create<Counter>('counter');
  const other = x.create<Counter>('counter');
  x.onCrash((r) => { if (r.id === a.domain.id) x.shutdown(); });
  assert.equal(attached, true);
  x.kill(a.domain, 'test');
  assert.equal(attached, false, 'detached');
  assert.equal(other.domain.alive, false);
  assert.deepEqual(x.crashes.map((r) => r.cause), ['test', 'shutdown'], 'the reap under way ended the one shutdown stopped');
  assert.equal(x.list().length, 0);
});

test('more refusals and reports word for word: an undeclared import lists every declared one; kill\'s default reason; a crash is no kill', async () => {
  const x = await boot(['counter', 'probe', 'test/domains/relay']);
  startRefused(() => x.k.create('relay', { log: {} }), "relay does not import 'log' (its manifest lists: b, counter)");
  const c = x.k.create<Counter>('counter');
  x.k.kill(c.domain);
  assert.deepEqual([x.k.crashes.at(-1)!.cause, x.k.crashes.at(-1)!.killed], ['killed', true]);
  assert.deepEqual(x.k.crashes.at(-1)!.error, { message: 'stopped: killed', stack: [] }, 'a kill has no stack of the domain\'s');
  const p = x.k.create<Probe>('probe');
  const crashes = x.k.stats().crashes;
  const from = x.logs.length;
  assert.equal(p.api.run('throw', 0).ok, false);
  const r = x.k.crashes.find((y) => y.id === p.domain.id)!;
  assert.equal(r.killed, false);
  assert.deepEqual(x.logs.slice(from), [r.text], 'a crash is logged');
  assert.match(r.error.message, /^Error: probe: thrown on purpose$/);
  assert.equal(x.k.stats().crashes, crashes + 1);
  x.k.shutdown();
});

test('allowUnmetered: a kernel told so loads a bundle built without CPU-budget checks; by default it refuses it', async () => {
  const doc = JSON.parse(await signed('src/domains/apps/counter')) as SignedBundle;
  doc.manifest.metered = false;
  doc.signature = signManifest(doc.manifest, testKey());
  const text = JSON.stringify(doc);
  const strict = await boot([]);
  assert.throws(() => strict.k.load(text), /unmetered \(built without CPU-budget checks\)/);
  strict.k.shutdown();
  const loose = await boot([], { allowUnmetered: true });
  assert.equal(loose.k.load(text).metered, false);
  loose.k.shutdown();
});

test('createFor: a child is never privileged; an error that is not a start refusal (a getter of the imports that throws) reaches the creator as thrown', () => {
  const creator = k.create<Counter>('counter', {}, { privileged: true }).domain;
  const r = k.createFor(creator, 'counter', {}, undefined, null);
  assert.ok(r.ok);
  const child = k.list().find((d) => d.args.creator === creator.id)!;
  assert.equal(child.args.privileged, false);
  k.kill(child);
  const own = new Error('the creator\'s getter');
  assert.throws(() => k.createFor(creator, 'counter', { get x(): never { throw own; } }, undefined, null), (e: unknown) => e === own);
  k.kill(creator);
});

test('a clean-up put off at the engine\'s stack limit is finished on the event loop, without a further kernel call, each time', async () => {
  for (let round = 0; round < 2; round++) {
    const c = k.create<Counter>('counter');
    assert.ok(killAtLimit(k, c.domain), `round ${round}: the kill was made and its clean-up put off`);
    assert.equal(k.list().includes(c.domain), false, 'a dead domain is not listed, cleaned up or not');
    await tick(20);
    assert.equal(k.domain(c.domain.id), undefined, `round ${round}: cleaned up by the event loop`);
    assert.ok(k.crashes.some((r) => r.id === c.domain.id));
  }
});

test('a clean-up put off at the engine\'s stack limit in a timer callback, with no promise job after it, is finished from the event loop by the kernel\'s doorbell, each time', async () => {
  // Any promise job's end reaps too (the kernel's promise hook): here none runs, so only the
  // doorbell the kernel rang when it put the clean-up off can finish it. (It rang the host's timer
  // before; the host refuses timers near the limit, and after one refusal no clean-up was put off
  // to the event loop again.)
  const x = await boot(['counter']);
  const rounds: { putOff: boolean; cleaned: boolean }[] = [];
  try {
    await new Promise<void>((resolve) => {
      const round = (): void => {
        const c = x.k.create<Counter>('counter');
        const putOff = killAtLimit(x.k, c.domain);
        setTimeout(() => {
          rounds.push({ putOff, cleaned: x.k.domain(c.domain.id) === undefined });
          if (rounds.length < 2) round(); else resolve();
        }, 20);
      };
      setTimeout(round, 0);
    });
  } finally {
    x.k.shutdown();
  }
  assert.deepEqual(rounds, [{ putOff: true, cleaned: true }, { putOff: true, cleaned: true }]);
});

test('a bundle that exports nothing starts and gives its creator no interface; one whose code throws as it is evaluated is reported as failing in init', async () => {
  const x = await boot([]);
  const sign = (d: SignedBundle): string => {
    d.manifest.code = { sha256: createHash('sha256').update(d.code, 'utf8').digest('hex'), bytes: Buffer.byteLength(d.code, 'utf8') };
    d.signature = signManifest(d.manifest, testKey());
    return JSON.stringify(d);
  };
  const silent = JSON.parse(await signed('src/domains/apps/counter')) as SignedBundle;
  silent.manifest.exports = null;
  x.k.load(sign(silent));
  const s = x.k.create('counter');
  assert.equal(s.api, null);
  assert.equal(s.domain.alive, true);
  x.k.kill(s.domain);
  const broken = JSON.parse(await signed('src/domains/apps/counter')) as SignedBundle;
  broken.code = `throw new Error('counter: broken on purpose');\n${broken.code}`;
  x.k.load(sign(broken));
  assert.throws(() => x.k.create('counter'), (e: unknown) => e instanceof DomainStartError && e.message === 'domain counter failed to start: Error: counter: broken on purpose');
  const r = x.k.crashes.at(-1)!;
  assert.deepEqual([r.domain, r.cause, r.killed], ['counter', 'init', false]);
  x.k.shutdown();
});

test('a crash report keeps at most 64 frames of a stack, however long the one the domain wrote', () => {
  const p = k.create<Probe>('probe');
  assert.equal(p.api.run('throw-long-stack', 0).ok, false);
  const r = k.crashes.find((x) => x.id === p.domain.id)!;
  assert.equal(r.error.stack.length, 64);
});

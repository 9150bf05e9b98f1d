// One test per clean-up and capability mechanism that removing it alone once left every test green
// (issue 12): each asserts the mechanism's effect from outside, and names the SECURITY.md claim it
// guards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { boot, ROOT } from './helpers.ts';
import type { Counter, Probe } from '../src/idl/demo.ts';
import type { Domain } from '../src/kernel/domain.ts';

let victim: Domain | null = null;
const b = await boot(['counter', 'probe', 'test/domains/relay', 'test/domains/loader'], {
  // (the kernel's log is host code run synchronously inside a domain's call: the test kills the
  // relay from there, while it is on the stack)
  log: (line) => { if (line.includes('probe log 99') && victim) b.k.kill(victim, 'killed mid-call'); },
});
const { k } = b;
const calls = (c: Counter): number => { const s = c.stats(); assert.ok(s.ok); return s.value.calls; };

test('SECURITY "The capabilities a crashed domain held are revoked": a domain killed during a call cannot call another capability on its way out', () => {
  const counter = k.create<Counter>('counter').api;
  const probe = k.create<Probe>('probe', { counter }).api;
  const relay = k.create<Probe>('relay', { b: probe, counter });
  const before = calls(counter);
  victim = relay.domain;
  const r = relay.api.run('call-b-then-count', 99);
  victim = null;
  assert.equal(r.ok, false, 'the relay died in its call');
  assert.equal(calls(counter), before, 'its second capability refused it: the counter was never called');
  assert.equal(relay.domain.alive, false);
});

test('SECURITY "its timers … are cancelled": a crashed domain\'s timers are gone: the report counts them, and its process exits by itself', () => {
  const script = `
    import { boot } from ${JSON.stringify(new URL('./helpers.ts', import.meta.url).href)};
    const b = await boot(['probe']);
    const p = b.k.create('probe');
    p.api.run('sleep-forever', 0);   // an every-5-ms timer
    p.api.run('timer-long', 0);      // a ten-minute timer
    p.api.run('throw', 0);
    const r = b.k.crashes.find((x) => x.domain === 'probe');
    console.log('timers reclaimed:', r ? r.reclaimed.timers : 'no report');
  `;
  const t0 = Date.now();
  const c = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  assert.equal(c.status, 0, `the process exited by itself (${c.signal ?? ''}) ${c.stderr}`);
  assert.match(c.stdout, /timers reclaimed: 2/);
  assert.ok(Date.now() - t0 < 20_000);
});

test('SECURITY "its … interrupt handlers are cancelled": a crashed domain\'s interrupt line is free for the next domain, and only the new handler runs', () => {
  const p1 = k.create<Probe>('probe', {}, { privileged: true });
  assert.deepEqual(p1.api.run('irq-register', 23), { ok: true, value: 1 });
  assert.equal(p1.api.run('throw', 0).ok, false);
  const p2 = k.create<Probe>('probe', {}, { privileged: true });
  assert.deepEqual(p2.api.run('irq-register', 23), { ok: true, value: 1 }, 'the line was released');
  k.interrupt(23);
  assert.deepEqual(p2.api.run('irq-count', 0), { ok: true, value: 1 });
  assert.ok(p2.domain.alive);
});

test('SECURITY "A domain\'s declared imports are enforced": an import its manifest does not name is refused at creation, by the kernel or a creator', () => {
  const counter = k.create<Counter>('counter').api;
  assert.throws(() => k.create('counter', { extra: counter }), /counter does not import 'extra'/);
  const loader = k.create<Probe>('loader', { counter }, { privileged: true, config: { bundle: '', probe: 'counter' } });
  assert.deepEqual(loader.api.run('own-import', 1), { ok: true, value: -1 }, 'counter imports nothing: its creator cannot hand it a Counter');
});

test('SECURITY "A capability is used only by the domain it was given to": a creator can hand a child only capabilities it holds itself', () => {
  const counter = k.create<Counter>('counter').api; // (the kernel's)
  const creator = k.create<Probe>('loader', { counter }, { privileged: true, config: { bundle: '', probe: 'probe' } });
  const r = k.createFor(creator.domain, 'probe', { counter });
  assert.equal(r.ok, false, 'the kernel\'s proxy is not the creator\'s');
  assert.match(r.ok ? '' : r.error.message, /neither a capability its creator holds/);
});

test('SECURITY "a long-lived domain\'s bookkeeping does not grow with the domains that came and died": 300 callers and 300 callees later, a server and a creator hold no dead links', () => {
  const counter = k.create<Counter>('counter');
  const creator = k.create<Probe>('loader', { counter: counter.api }, { privileged: true, config: { bundle: '', probe: 'probe' } });
  const served0 = counter.domain.served.size;
  const calls0 = creator.domain.calls.size;
  for (let i = 0; i < 300; i++) {
    const p = k.create<Probe>('probe', { counter: counter.api });
    assert.equal(p.api.run('call-counter', 1).ok, true);
    k.kill(p.domain);
    // (the creator makes a child with its own Counter, calls it, and stops it)
    assert.deepEqual(creator.api.run('own-import-and-kill', 1), { ok: true, value: 1000 });
  }
  assert.ok(counter.domain.served.size <= served0 + 1, `the counter serves ${counter.domain.served.size} links (was ${served0})`);
  assert.ok(creator.domain.calls.size <= calls0 + 1, `the creator holds ${creator.domain.calls.size} links (was ${calls0})`);
});

test('SECURITY "the kernel\'s own state is consistent after a throw at any point": a creator calling domains.create at each depth down to the engine\'s stack limit leaves no link to a child that never started and no quota set aside for one', () => {
  const counter = k.create<Counter>('counter');
  const creator = k.create<Probe>('loader', { counter: counter.api }, { privileged: true, budgetMs: 60_000, config: { bundle: '', probe: 'probe' } });
  const reserved = (): number => (k.heap as unknown as { reservedBytes: number }).reservedBytes; // (private: what quotas set aside)
  const served0 = counter.domain.served.size;
  const reserved0 = reserved();
  const live0 = k.list().length;
  const r = creator.api.run('create-at-limit', 0);
  assert.ok(r.ok && r.value >= 3, `children made: ${JSON.stringify(r)} (at least those 5000 frames above the limit)`);
  for (const d of k.list()) if (d.args.creator === creator.domain.id) k.kill(d, 'test over');
  assert.equal(k.list().length, live0, 'every child the creator made is registered (so it could be killed)');
  assert.equal(counter.domain.served.size, served0, 'the counter serves no link to a child that never started');
  assert.equal(reserved(), reserved0, 'no quota is left set aside for a child that never started');
  assert.deepEqual(k.heap.audit(), []);
});

test('mutation testing: a domain sees the mutation tool\'s namespace only under npm run mutate (FROND_MUTATION=1), live, not hardened, also in a process a test starts', () => {
  const probe = k.create<Probe>('probe').api;
  // (this file also runs under npm run mutate, where the namespace is there, with the mutant under test)
  const mutant = process.env.FROND_MUTATION === '1' ? process.env.__STRYKER_ACTIVE_MUTANT__ : undefined;
  assert.deepEqual(probe.run('stryker-active', 0), { ok: true, value: mutant ? Number(mutant) : -1 }, 'not in an ordinary run');
  const run = (toolPresent: boolean): ReturnType<typeof spawnSync> => spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
    ${toolPresent ? 'globalThis.__stryker__ = {}; // (as Stryker\'s hook leaves it: the mutant is in the environment)' : '// (a frond command a test starts: no mutated host code, so no namespace)'}
    const { boot } = await import(${JSON.stringify(new URL('./helpers.ts', import.meta.url).href)});
    const b = await boot(['probe']);
    const p = b.k.create('probe').api;
    const first = p.run('stryker-active', 0).value;
    globalThis.__stryker__.activeMutant = 9;
    console.log('active:', first, p.run('stryker-active', 0).value);
  `], { cwd: ROOT, encoding: 'utf8', timeout: 20_000, env: { ...process.env, FROND_MUTATION: '1', __STRYKER_ACTIVE_MUTANT__: '999999' } }); // (no mutant has that id)
  for (const present of [true, false]) {
    const c = run(present);
    assert.equal(c.status, 0, String(c.stderr));
    assert.match(String(c.stdout), /active: 999999 9/, present ? 'the tool\'s namespace' : 'a namespace made for the process');
  }
});

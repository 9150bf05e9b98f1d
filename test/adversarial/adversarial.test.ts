// The adversarial suite: hostile domains, each attempting one escape, each required to be
// contained — refused by the build, refused at load, or crashed at run time — with the rest of the
// system intact and the exchange heap reclaimed. SECURITY.md maps each claim to these tests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Counter, Probe } from '../../src/idl/demo.ts';
import type { RpcResult } from '../../src/idl/lib/types.ts';
import { TYPES } from '../../src/idl/generated/types.ts';
import { BundleRefused, canonicalJson, type SignedBundle } from '../../src/kernel/verify.ts';
import { KERNEL_ID } from '../../src/kernel/rpc.ts';
import { buildDomain, BuildError, ephemeralKey, signManifest } from '../../src/tools/domainc/build.ts';
import { boot, ROOT, signed, testKey, tick, TEST_KEYS, type Booted } from '../helpers.ts';

const HOSTILE = join('test', 'adversarial', 'domains');
const REFUSED = join('test', 'adversarial', 'refused');
const hostile = readdirSync(join(ROOT, HOSTILE)).sort();
const PACKET = TYPES.find((t) => t.name === 'Packet')!.id;

let b: Booted;
let counter: Counter;

before(async () => {
  b = await boot(['counter', ...hostile.map((h) => `${HOSTILE}/${h}` as const)]);
  counter = b.k.create<Counter>('counter').api;
});
after(() => b.k.shutdown());

const lastReport = (): string => b.k.crashes[b.k.crashes.length - 1]?.text ?? '(no crash)';

/** Creates hostile domain `name`, lets `attack` loose on it, and checks the aftermath. */
async function contained(
  name: string,
  attack: (api: Probe) => RpcResult<number> | Promise<RpcResult<number>>,
  expect: { crash: RegExp } | { value: number },
  opts: { quotaBytes?: number; imports?: Record<string, unknown> } = {},
): Promise<void> {
  const heapBefore = b.k.heap.stats();
  const crashesBefore = b.k.crashes.length;
  const { domain, api } = b.k.create<Probe>(`hostile-${name}`, opts.imports ?? {}, { quotaBytes: opts.quotaBytes });
  const r = await attack(api);
  await tick();
  if ('crash' in expect) {
    assert.equal(r.ok, false, `${name}: the attack returned ${JSON.stringify(r)}`);
    assert.equal(domain.alive, false, `${name}: still alive`);
    assert.equal(b.k.crashes.length, crashesBefore + 1, `${name}: one crash report`);
    assert.match(lastReport(), expect.crash);
  } else {
    assert.deepEqual(r, { ok: true, value: expect.value }, `${name}: ${lastReport()}`);
    b.k.kill(domain, 'test over');
  }
  // The rest of the system is intact and the heap is back where it was.
  const s = b.k.heap.stats();
  assert.equal(s.objects, heapBefore.objects, `${name}: exchange-heap objects reclaimed`);
  assert.equal(s.bytes, heapBefore.bytes, `${name}: exchange-heap bytes reclaimed`);
  assert.equal(s.perOwner.get(domain.id), undefined, `${name}: owns nothing`);
  assert.equal(counter.add(0).ok, true, `${name}: the counter still works`);
  assert.equal([1, 2].push(3), 3, 'Array.prototype is intact');
}

// ---- CPU budget ---------------------------------------------------------------------------------

test('while (true) {} is stopped by its CPU budget and reported at its source line', async () => {
  await contained('loop-forever', (api) => api.run('', 0), {
    crash: /hostile-loop-forever#\d+ crashed \(runtime violation\): BudgetExceeded: CPU budget exceeded: ran \d+ ms without yielding \(budget 50 ms\)[\s\S]*test\/adversarial\/domains\/loop-forever\/index\.ts:\d+/,
  });
});

test('the budget is per domain: a creator can set it', async () => {
  const { domain, api } = b.k.create<Probe>('hostile-loop-forever', {}, { budgetMs: 5 });
  assert.equal(api.run('', 0).ok, false);
  assert.equal(domain.alive, false);
  assert.match(lastReport(), /ran \d+ ms without yielding \(budget 5 ms\)/);
  assert.throws(() => b.k.create('hostile-loop-forever', {}, { budgetMs: -1 }), /budgetMs must be a positive number/);
});

test('preemption works from a fresh process\'s first instruction (the timer is another thread), and again after idling', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/preempt-at-boot.ts')], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
  assert.equal(r.status, 0, `status ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: boolean; report: string | null; okAfterIdle: boolean; reportAfterIdle: string | null };
  assert.equal(out.ok, false);
  assert.match(out.report ?? '', /hostile-loop-forever#1 crashed \(runtime violation\): BudgetExceeded: CPU budget exceeded: ran \d+ ms without yielding \(budget 5 ms\)/);
  // After an idle spell the timer has stopped (tickless); the next spinning domain restarts it.
  assert.equal(out.okAfterIdle, false);
  assert.match(out.reportAfterIdle ?? '', /hostile-loop-forever#2 crashed \(runtime violation\): BudgetExceeded/);
});

test('preemption works in a host program run with --input-type=module (the timer thread does not inherit its flags)', () => {
  const script = [
    "import { Kernel } from './src/kernel/kernel.ts';",
    "import { NodeHost } from './src/machine/node/host.ts';",
    "import { signed, testKey } from './test/helpers.ts';",
    "const k = new Kernel(new NodeHost(), { trust: [testKey().publicKey], log: () => {} });",
    "k.load(await signed('test/adversarial/domains/loop-forever'));",
    "const r = k.create('hostile-loop-forever', {}, { budgetMs: 20 }).api.run('', 0);",
    'console.log(JSON.stringify({ ok: r.ok }));',
    'k.shutdown();',
  ].join('\n');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
  assert.equal(r.status, 0, `status ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { ok: false }, 'the runaway was stopped');
});

test('exponential recursion without a single loop is stopped at function entry', async () => {
  await contained('deep-recursion', (api) => api.run('', 60), { crash: /BudgetExceeded/ });
});

test('a loop inside try/catch that swallows everything cannot swallow the abort', async () => {
  await contained('loop-in-catch', (api) => api.run('', 0), { crash: /BudgetExceeded/ });
});

test('a loop through finally with `continue` cannot cancel the abort', async () => {
  await contained('loop-in-finally', (api) => api.run('', 0), { crash: /BudgetExceeded/ });
});

test('a loop over many short calls charges the caller, not the callee', async () => {
  await contained('many-calls', (api) => api.run('', 0), { crash: /hostile-many-calls#\d+ crashed \(runtime violation\): BudgetExceeded/ }, { imports: { counter } });
});

test('an endless chain of awaits that never lets the event loop turn is stopped', async () => {
  await contained('async-spin', (api) => api.runAsync('', 0), { crash: /hostile-async-spin#\d+ crashed \(runtime violation\): BudgetExceeded/ });
});

// ---- memory -------------------------------------------------------------------------------------

test('exchange-heap quota: a refused allocation is an error the domain may handle', async () => {
  const quota = 64 * 1024; // one slab of the domain's own; a packet (16 + 84 bytes) takes a 128-byte cell
  await contained('hog-heap', (api) => api.run('once', 0), { value: quota / 128 }, { quotaBytes: quota });
});

test('exchange-heap quota: a page-sized object is charged what it takes (a page-aligned 4 KiB block, and a 32-byte header cell)', async () => {
  // Two slabs: one of 4 KiB blocks (16 pages), one of header cells.
  await contained('hog-heap', (api) => api.run('pages', 0), { value: 16 }, { quotaBytes: 128 * 1024 });
});

test('exchange-heap quota: a domain that keeps allocating after refusals is crashed, its heap reclaimed', async () => {
  await contained('hog-heap', (api) => api.run('forever', 0), {
    crash: /HeapViolation: exchange heap: quota exceeded: its allocations hold 65536 of its 65536 bytes and Packet needs 65536 more, and 64 allocations in a row were refused/,
  }, { quotaBytes: 64 * 1024 });
});

test('quotas add up: no domain is promised more than is free, and hogs within theirs leave every other domain what its quota promises', async () => {
  const small = await boot(['counter', `${HOSTILE}/hog-heap`], { heapBytes: 1 << 20 }); // 16 slabs, one the kernel's
  try {
    assert.throws(() => small.k.create('hostile-hog-heap', {}, { quotaBytes: 1 << 30 }), /cannot start: exchange heap: cannot set aside/);
    const hogs = [0, 1].map(() => small.k.create<Probe>('hostile-hog-heap', {}, { quotaBytes: 6 << 16 }));
    assert.throws(() => small.k.create('hostile-hog-heap', {}, { quotaBytes: 4 << 16 }), /cannot set aside 262144 bytes: 196608 /);
    // Both hogs fill their quotas, one of them with pages, then leave them mostly empty.
    assert.ok(hogs[0]!.api.run('fragment', 0).ok);
    assert.ok(hogs[1]!.api.run('pages', 0).ok);
    // The innocent gets everything its quota promises: 3 slabs of packets.
    const innocent = small.k.create<Probe>('hostile-hog-heap', {}, { quotaBytes: 3 << 16 });
    assert.deepEqual(innocent.api.run('once', 0), { ok: true, value: 3 * 512 });
    // A hog that keeps trying is crashed; its quota and everything it held come back.
    assert.equal(hogs[0]!.api.run('forever', 0).ok, false);
    assert.equal(hogs[0]!.domain.alive, false);
    const again = small.k.create<Probe>('hostile-hog-heap', {}, { quotaBytes: 6 << 16 });
    assert.deepEqual(again.api.run('once', 0), { ok: true, value: 6 * 512 });
    assert.deepEqual(small.k.heap.audit(), []);
  } finally {
    small.k.shutdown();
    b = await boot(['counter', ...hostile.map((h) => `${HOSTILE}/${h}` as const)]);
    counter = b.k.create<Counter>('counter').api;
  }
});

// ---- shared intrinsics and host globals ---------------------------------------------------------

for (const what of ['array', 'object', 'promise']) {
  test(`mutating ${what} prototype fails (frozen) and crashes only the domain`, async () => {
    await contained('mutate-intrinsics', (api) => api.run(what, 0), { crash: /TypeError: Cannot (add|assign to read only) property/ });
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
    assert.equal(typeof Promise.prototype.then, 'function');
    assert.equal(await Promise.resolve(5).then((x) => x + 1), 6);
  });
}

for (const name of ['process', 'require', 'Buffer']) {
  test(`${name} cannot be reached by computing its name`, async () => {
    await contained('host-globals', (api) => api.run(name.split('').reverse().join(''), 0), { value: 0 });
  });
}

test('Function(\'return this\') reached through a function\'s constructor yields no host global', async () => {
  await contained('function-this', (api) => api.run('', 0), { crash: /TypeError/ });
});

test('constructor.constructor evaluates nothing outside the compartment', async () => {
  await contained('constructor-constructor', (api) => api.run('', 0), { crash: /TypeError/ });
});

// ---- RRefs --------------------------------------------------------------------------------------

test('a forged handle (the kernel\'s own packet) is refused and crashes the forger', async () => {
  const p = b.k.heap.allocate(KERNEL_ID, PACKET);
  b.k.heap.setU32(KERNEL_ID, p, 8, 42);
  await contained('forge-rref', (api) => api.run('', p), { crash: /HeapViolation: exchange heap: this handle belongs to another domain/ });
  await contained('forge-rref', (api) => api.run('', 123456789), { crash: /HeapViolation: exchange heap: (forged|stale) handle/ });
  assert.equal(b.k.heap.u32(KERNEL_ID, p, 8), 42, 'the packet is untouched');
  b.k.heap.free(KERNEL_ID, p);
});

for (const what of ['moved', 'freed']) {
  test(`using an RRef after it was ${what} is a stale handle`, async () => {
    await contained('reuse-rref', (api) => api.run(what, 0), { crash: /HeapViolation: exchange heap: stale handle/ }, { imports: { counter } });
  });
}

test('a borrow kept past its call is dead in the next call', async () => {
  const p = b.k.heap.allocate(KERNEL_ID, PACKET);
  await contained('keep-borrow', (api) => {
    const kept = api.keep(p as never, false);
    assert.equal(kept.ok, true);
    return api.run('', 0);
  }, { crash: /HeapViolation: exchange heap: stale handle/ });
  b.k.heap.setU32(KERNEL_ID, p, 8, 1); // writable again: the borrow ended with the call
  b.k.heap.free(KERNEL_ID, p);
});

test('a capability used after its holder crashed (revoked) does nothing', async () => {
  const total = counter.add(0);
  assert.ok(total.ok);
  await contained('revoked-capability', (api) => api.run('', 0), { crash: /crash on purpose/ }, { imports: { counter } });
  await tick(5);
  assert.deepEqual(counter.add(0), total, 'the revoked call never reached the counter');
  assert.ok(!b.logs.some((l) => l.includes('unattributed')), 'the revoked continuation was attributed and dropped');
});

// ---- hostile values -----------------------------------------------------------------------------

test('throw null and a throwing Proxy are contained without running the Proxy\'s traps', async () => {
  await contained('throw-null', (api) => api.run('null', 0), { crash: /crashed \(exception in Probe\.run\): thrown value: null/ });
  await contained('throw-null', (api) => api.run('proxy', 0), { crash: /crashed \(exception in Probe\.run\): .*a Proxy \(not inspected\)/ });
  assert.ok(!b.logs.some((l) => l.includes('trap ran')));
});

for (const what of ['string', 'huge']) {
  test(`returning a non-exchangeable value (${what}) is a bad return that crashes the callee`, async () => {
    await contained('bad-return', (api) => api.run(what, 0), { crash: /bad return from Probe\.run/ });
  });
}

test('a result whose `ok` is a throwing getter: the getter runs as the callee (metered), which crashes', async () => {
  await contained('bad-return', (api) => api.run('getter', 0), {
    crash: /crashed \(exception in Probe\.run\): Error: getter ran[\s\S]*test\/adversarial\/domains\/bad-return\/index\.ts:\d+/,
  });
});

// ---- refused by the build -----------------------------------------------------------------------

const WHY: Record<string, RegExp> = {
  'eval': /eval/,
  'function-constructor': /Function/,
  'dynamic-import': /import\(\)/,
  'process': /process/,
  'require': /require/,
  'node-import': /node:fs/,
  'global-mutation': /globalThis/,
  'debugger': /debugger/,
  'meter-name': /__frond/,
  'other-domain': /domain/,
};

for (const name of readdirSync(join(ROOT, REFUSED)).sort()) {
  test(`the build refuses a domain that uses ${name}, naming path:line:col`, async () => {
    const out = mkdtempSync(join(tmpdir(), 'frond-refused-'));
    try {
      await assert.rejects(buildDomain(join(ROOT, REFUSED, name), { root: ROOT, outDir: out, key: testKey() }), (e: unknown) => {
        assert.ok(e instanceof BuildError, String(e));
        assert.match(e.message, new RegExp(`^test/adversarial/refused/${name}/index\\.ts:\\d+:\\d+: `, 'm'));
        assert.match(e.message, WHY[name] ?? /./);
        return true;
      });
      assert.deepEqual(readdirSync(out), [], 'nothing was written');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}

// ---- refused at load ----------------------------------------------------------------------------

async function counterDoc(): Promise<SignedBundle> {
  return JSON.parse(await signed('src/domains/apps/counter')) as SignedBundle;
}

function resign(doc: SignedBundle, key = testKey()): SignedBundle {
  return { ...doc, signature: signManifest(doc.manifest, key) };
}

const LOADS: [string, (d: SignedBundle) => unknown, RegExp][] = [
  ['tampered code', (d) => ({ ...d, code: d.code.replace('calls++', 'calls += 2') }), /tampered code/],
  ['tampered source map', (d) => ({ ...d, map: d.map.replace('index.ts', 'other.ts') }), /tampered code/],
  ['a changed manifest', (d) => ({ ...d, manifest: { ...d.manifest, entry: 'src/evil.ts' } }), /bad signature/],
  ['no signature', (d) => ({ ...d, signature: undefined }), /unsigned/],
  ['a key the kernel does not trust', (d) => resign(d, ephemeralKey()), /untrusted key/],
  ['a signature from another manifest', (d) => ({ ...d, signature: { ...d.signature!, value: signManifest({ ...d.manifest, name: 'x' }, testKey())!.value } }), /bad signature/],
  ['other interfaces', (d) => resign({ ...d, manifest: { ...d.manifest, exports: { iface: 'Counter', fingerprint: 'f'.repeat(64) } } }), /fingerprint mismatch/],
  ['an interface the kernel lacks', (d) => resign({ ...d, manifest: { ...d.manifest, exports: { iface: 'Missing', fingerprint: 'f'.repeat(64) } } }), /fingerprint mismatch/],
  ['no CPU-budget checks', (d) => resign({ ...d, manifest: { ...d.manifest, metered: false } }), /unmetered/],
  ['a malformed manifest', (d) => ({ ...d, manifest: { ...d.manifest, code: null } }), /malformed manifest/],
  ['the old fuel-counter calling convention', (d) => ({ ...d, format: 'frond-bundle/1' }), /malformed manifest \(format is not frond-bundle\/2\)/],
  ['not JSON at all', () => '{"format": "frond-bundle/2", ', /malformed manifest/],
  ['a non-object', () => 42, /malformed manifest/],
];

for (const [what, mutate, why] of LOADS) {
  test(`the kernel refuses a bundle with ${what}, and nothing of it runs`, async () => {
    const k = (await boot([])).k;
    try {
      const doc = mutate(await counterDoc());
      // The kernel takes a bundle's bytes or JSON text, never a parsed object: hand it the text.
      const text = typeof doc === 'object' && doc !== null ? JSON.stringify(doc) : doc;
      assert.throws(() => k.load(text), (e: unknown) => {
        assert.ok(e instanceof BundleRefused, String(e));
        assert.match(e.message, why);
        assert.equal(e.message.split('\n').length, 1, 'one line');
        return true;
      });
      assert.throws(() => k.create('counter'), /no bundle named 'counter' is loaded/);
      assert.equal(k.list().length, 0);
    } finally {
      k.shutdown();
    }
  });
}

test('the untampered bundle loads (the refusals above are about the tampering)', async () => {
  const k = (await boot([])).k;
  try {
    const doc = await counterDoc();
    assert.equal(canonicalJson(JSON.parse(JSON.stringify(doc.manifest))), canonicalJson(doc.manifest));
    k.load(JSON.stringify(doc));
    assert.deepEqual(k.create<Counter>('counter').api.add(2), { ok: true, value: 2 });
  } finally {
    k.shutdown();
  }
});

test('tampering with a signed bundle on disk: frond verify names it, exit 1; the original is ok', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'frond-tamper-'));
  try {
    const good = join(dir, 'counter.bundle.json');
    const bad = join(dir, 'counter-tampered.bundle.json');
    const text = await signed('src/domains/apps/counter');
    writeFileSync(good, text);
    writeFileSync(bad, text.replace('calls++', 'calls--'));
    const run = (f: string): { status: number | null; out: string } => {
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/frond.mjs'), 'verify', '--keys', TEST_KEYS, f], { encoding: 'utf8' });
      return { status: r.status, out: r.stdout + r.stderr };
    };
    const ok = run(good);
    assert.equal(ok.status, 0, ok.out);
    assert.match(ok.out, /^.*counter\.bundle\.json: ok \(counter, key [0-9a-f]{16}\)$/m);
    const no = run(bad);
    assert.equal(no.status, 1, no.out);
    assert.match(no.out, /^.*counter-tampered\.bundle\.json: refused bundle counter: tampered code \(the code does not match the SHA-256 in the manifest\)$/m);
    assert.equal(readFileSync(bad, 'utf8').length, text.length, 'verify changes nothing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The kernel services (src/kernel/services) as a domain sees them, and as the kernel's public API
// shows them: arguments at their exact bounds and of the wrong type, what each call answers, the
// messages a domain reads, the lines it leaves in the kernel log, and the crash reports it leaves.
// The domain is test/domains/services: run(what) does one thing through `sys` and logs
// `what = ok <value>` or `what = <error name>: <message>`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { boot, tick } from './helpers.ts';
import type { Probe } from '../src/idl/demo.ts';
import type { Domain } from '../src/kernel/domain.ts';
import type { CreateOptions } from '../src/kernel/kernel.ts';
import type { Device, DmaDevice } from '../src/machine/common/device.ts';
import { IOMMU_ENTRY_WORDS, IommuWord, iommuBytes } from '../src/machine/common/iommu.ts';

const b = await boot(['counter', 'test/domains/services']);
const { k, logs } = b;
after(() => k.shutdown());

type S = { domain: Domain; api: Probe };
const svc = (opts: CreateOptions = {}): S => k.create<Probe>('services', {}, opts);

/** Runs `what` and returns its result (a number), failing the test if the call failed. */
function run(s: S, what: string, arg = 0): number {
  const r = s.api.run(what, arg);
  assert.ok(r.ok, `${what}: ${r.ok ? '' : r.error.message}`);
  return r.value;
}

/** Runs `what` and returns the outcome the domain logged for it. */
function ask(s: S, what: string, arg = 0): string {
  const from = logs.length;
  run(s, what, arg);
  const head = `[services] ${what} = `;
  const line = logs.slice(from).find((l) => l.startsWith(head));
  assert.ok(line !== undefined, `${what} logged no outcome`);
  return line.slice(head.length);
}

const reportOf = (d: Domain) => k.crashes.find((r) => r.id === d.id);

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  for (const t0 = Date.now(); !cond(); await tick(2)) if (Date.now() - t0 > ms) return;
}

/** A device model the test drives: `raise` is the device raising its interrupt. */
function device(opts: { dma?: number; reset?: boolean } = {}): (Device | DmaDevice) & { raise(): void } {
  let handler: (() => void) | null = null;
  return {
    memory: new SharedArrayBuffer(64),
    ...(opts.dma ? { iommu: new SharedArrayBuffer(iommuBytes(opts.dma)) } : {}),
    reset: () => opts.reset ?? true,
    onInterrupt: (fn) => { handler = fn; },
    raise: () => handler?.(),
  };
}

// ---- timers ------------------------------------------------------------------------------------

test('timers: after, every and sleep take delays 0 to 2^31-1 ms, and refuse 2^31, -1, NaN and a string without running anything', () => {
  const s = svc();
  for (const op of ['after', 'every']) {
    assert.equal(ask(s, `${op} zero`), 'ok true', `${op}(0)`);
    assert.equal(ask(s, `${op} max`), 'ok true', `${op}(2^31-1)`);
    assert.equal(ask(s, `${op} over`), 'RangeError: timers: bad delay 2147483648');
    assert.equal(ask(s, `${op} neg`), 'RangeError: timers: bad delay -1');
    assert.equal(ask(s, `${op} nan`), 'RangeError: timers: bad delay NaN');
    assert.equal(ask(s, `${op} str`), 'RangeError: timers: bad delay "5"');
    assert.equal(ask(s, `${op} obj`), 'RangeError: timers: bad delay an object');
  }
  assert.equal(ask(s, 'sleep zero'), 'ok sleeping');
  assert.equal(ask(s, 'sleep over'), 'RangeError: timers: bad delay 2147483648');
  assert.equal(ask(s, 'sleep str'), 'RangeError: timers: bad delay "5"');
  assert.equal(run(s, 'valueofs'), 0, 'the delay\'s valueOf never ran');
  assert.equal(ask(s, 'after-fn'), 'TypeError: timers: callback must be a function');
  assert.equal(ask(s, 'every-fn'), 'TypeError: timers: callback must be a function');
  assert.ok(s.domain.alive);
  k.kill(s.domain);
  assert.equal(reportOf(s.domain)!.reclaimed.timers, 1, 'only the sleep(0) was left: the timers the checks let through were cancelled, none was made for a delay refused');
});

test('timers: after fires once; every repeats at its period (every(0) at 1 ms or more) until cancelled', async () => {
  const s = svc();
  run(s, 'fire-after', 5);
  await until(() => run(s, 'fired') > 0);
  await tick(20);
  assert.equal(run(s, 'fired'), 1, 'after fired once');
  let t0 = Date.now();
  const id = run(s, 'tick-every', 25);
  await until(() => run(s, 'ticks') >= 3);
  let n = run(s, 'ticks');
  assert.ok(n >= 3 && n <= (Date.now() - t0) / 20 + 1, `every(25) ticked ${n} times in ${Date.now() - t0} ms`);
  assert.equal(run(s, 'cancel', id), 1);
  n = run(s, 'ticks');
  await tick(60);
  assert.equal(run(s, 'ticks'), n, 'no tick after cancel');
  t0 = Date.now();
  const fast = run(s, 'tick-every', 0);
  await until(() => run(s, 'ticks') >= n + 3);
  const m = run(s, 'ticks') - n;
  assert.ok(m >= 3 && m <= (Date.now() - t0) * 1.5 + 2, `every(0) ticked ${m} times in ${Date.now() - t0} ms: repeatedly, about once a millisecond at most`);
  assert.equal(run(s, 'cancel', fast), 1);
  k.kill(s.domain);
});

test('timers: cancel answers true for a timer of one\'s own once, false for an unknown id or another domain\'s timer', () => {
  const a = svc();
  const c = svc();
  const mine = run(a, 'long-timer');
  assert.equal(run(c, 'cancel', mine), 0, 'another domain\'s timer');
  assert.equal(run(a, 'cancel', 999_999), 0, 'an unknown id');
  assert.equal(run(a, 'cancel', mine), 1, 'its own: still there after the other domain\'s attempt');
  assert.equal(run(a, 'cancel', mine), 0, 'twice');
  k.kill(a.domain);
  k.kill(c.domain);
  assert.equal(reportOf(a.domain)!.reclaimed.timers, 0);
});

test('timers: a throwing every callback crashes its domain, the report naming the timer', async () => {
  const s = svc();
  const id = run(s, 'every-throw', 1);
  await until(() => !s.domain.alive);
  const r = reportOf(s.domain);
  assert.equal(r?.cause, `timer ${id}`);
  assert.match(r!.error.message, /every callback threw/);
});

// ---- callbacks (common.ts) ----------------------------------------------------------------------

test('callbacks: one whose promise rejects crashes its domain, the report naming the callback, not an unhandled rejection', async () => {
  const s = svc();
  const id = run(s, 'after-reject');
  await until(() => !s.domain.alive);
  const r = reportOf(s.domain);
  assert.equal(r?.cause, `timer ${id}`);
  assert.match(r!.error.message, /callback promise rejected/);
});

test('callbacks: a result that is not a plain promise (a thenable, a promise with its own constructor) is left alone: none of its hooks run', async () => {
  const s = svc();
  run(s, 'after-thenable');
  run(s, 'after-own-constructor');
  await tick(20);
  assert.equal(run(s, 'hooks'), 0);
  assert.ok(s.domain.alive);
  k.kill(s.domain);
});

test('callbacks: an interrupt handler put off while its domain is over its CPU share runs at the next turn, unless the domain died meanwhile', async () => {
  const dev = device();
  k.attachDevice('svc-late', dev, { irq: 81 });
  const s = svc({ devices: ['svc-late'], budgetMs: 10 });
  const other = svc();
  const count = new Int32Array(dev.memory);
  assert.equal(ask(s, 'open svc-late'), 'ok svc-late');
  assert.equal(ask(s, 'on-int'), 'ok undefined');
  /** Spins in the domain until an interrupt is put off (it ran longer than its budget in this
   *  turn, each call well within it); returns the count the handler left. */
  const exhaust = (): number => {
    for (let i = 0; i < 400; i++) {
      run(s, 'spin', 4);
      const before = count[0];
      dev.raise();
      if (count[0] === before) return before;
    }
    assert.fail('the domain\'s interrupts were never put off');
  };
  const c1 = exhaust();
  await until(() => count[0] > c1);
  assert.equal(count[0], c1 + 1, 'the handler put off ran at a later turn');
  // (another domain runs just before the put-off handler would, so that nothing else stops a
  // handler that ran by mistake before it counts)
  setImmediate(() => run(other, 'ok', 1));
  const c2 = exhaust();
  k.kill(s.domain);
  await tick(20);
  assert.equal(count[0], c2, 'the handler of the dead domain never ran');
  k.kill(other.domain);
});

// ---- threads ------------------------------------------------------------------------------------

test('threads: spawn refuses a name that is not a string and a body that is not a function', () => {
  const s = svc();
  assert.equal(ask(s, 'spawn-name'), 'TypeError: threads.spawn: name must be a string');
  assert.equal(ask(s, 'spawn-body'), 'TypeError: threads.spawn: callback must be a function');
  assert.equal(ask(s, 'threads'), 'ok ', 'neither became a thread');
  k.kill(s.domain);
});

test('threads: list shows the running threads by name, and not those that ended or whose body returned no promise', async () => {
  const s = svc();
  run(s, 'spawn-sleep', 300);
  run(s, 'spawn-sleep', 5000);
  run(s, 'spawn-quick');
  run(s, 'spawn-sync');
  assert.equal(ask(s, 'threads'), 'ok sleeper 300,sleeper 5000,quick', 'a body that returned no promise is over at once');
  await tick(0);
  assert.equal(ask(s, 'threads'), 'ok sleeper 300,sleeper 5000', 'quick ended');
  await until(() => ask(s, 'threads') !== 'ok sleeper 300,sleeper 5000');
  assert.equal(ask(s, 'threads'), 'ok sleeper 5000');
  run(s, 'spawn-sleep', 2000);
  k.kill(s.domain);
  assert.equal(reportOf(s.domain)!.reclaimed.threads, 2, 'the report counts the threads that were running');
});

test('threads: a body that throws at once crashes the domain; the report and the caller\'s error name the thread', () => {
  const s = svc();
  const r = s.api.run('spawn-throw', 0);
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.error.message, /domain services crashed in thread boom/);
  assert.equal(s.domain.alive, false);
  const rep = reportOf(s.domain);
  assert.equal(rep?.cause, 'thread boom');
  assert.match(rep!.error.message, /thread body threw/);
  assert.equal(rep!.reclaimed.threads, 0, 'the thread that never started is not counted');
});

test('threads: a thread whose promise rejects crashes the domain, the report naming the thread', async () => {
  const s = svc();
  run(s, 'spawn-reject');
  await until(() => !s.domain.alive);
  assert.equal(reportOf(s.domain)?.cause, 'thread doomed');
});

// ---- the exchange heap, the log, self ------------------------------------------------------------

test('heap: every accessor and setter round-trips its extreme values exactly; size and copy', () => {
  const s = svc();
  assert.equal(ask(s, 'heap'), `ok 4096 -128 -32768 -2147483648 -1.5e-300 ${2n ** 64n - 1n} ${-(2n ** 63n)} 171 `
    + `-128 -32768 -2147483648 -1.5e-300 ${2n ** 64n - 1n} ${-(2n ** 63n)} 171 0`);
  k.kill(s.domain);
});

test('log: console.log, info, debug, warn and error and sys.log put lines in the kernel log, warn and error marked', () => {
  const s = svc();
  const from = logs.length;
  run(s, 'console');
  assert.deepEqual(logs.slice(from), ['[services] a 1', '[services] b true', '[services] c', '[services] warning: d', '[services] error: e', '[services] ']);
  k.kill(s.domain);
});

test('self: a domain knows its name and id', () => {
  const s = svc();
  assert.equal(ask(s, 'self'), `ok services ${s.domain.id}`);
  k.kill(s.domain);
});

// ---- interrupts -----------------------------------------------------------------------------------

test('irq: register refuses a line that is not an integer in [0, 2^32) without running the value\'s code, and a handler that is not a function', () => {
  const s = svc({ privileged: true });
  for (const [v, shown] of [['neg', '-1'], ['frac', '1.5'], ['huge', '4294967296'], ['nan', 'NaN'], ['str', '"5"'], ['big', '3n'], ['obj', 'an object']]) {
    assert.equal(ask(s, `irq ${v}`), `RangeError: irq: bad line ${shown}`);
  }
  assert.equal(run(s, 'valueofs'), 0, 'the line\'s valueOf never ran');
  assert.equal(ask(s, 'irq u32'), 'ok undefined', 'line 2^32-1');
  assert.equal(ask(s, 'irq-fn', 60), 'TypeError: irq.register: callback must be a function');
  k.kill(s.domain);
});

test('irq: a line is one domain\'s: others are refused and cannot unregister it; its owner may register it again and unregister it once', () => {
  const a = svc({ privileged: true });
  const c = svc({ privileged: true });
  assert.equal(ask(a, 'irq-at', 61), 'ok undefined');
  assert.equal(ask(a, 'irq-at', 61), 'ok undefined', 'again, by its owner');
  assert.equal(ask(c, 'irq-at', 61), 'Error: irq: line 61 belongs to domain services');
  assert.equal(run(c, 'unirq', 61), 0, 'not its line');
  assert.equal(run(c, 'unirq', 62), 0, 'nobody\'s line');
  assert.equal(k.interrupt(61), true);
  assert.equal(run(a, 'irqs'), 1, 'the owner\'s handler still runs');
  assert.equal(run(c, 'irqs'), 0);
  assert.equal(run(a, 'unirq', 61), 1);
  assert.equal(run(a, 'unirq', 61), 0, 'twice');
  assert.equal(k.interrupt(61), false, 'nobody listens');
  assert.equal(ask(c, 'irq-at', 61), 'ok undefined', 'free for the next');
  k.kill(a.domain);
  k.kill(c.domain);
});

test('irq: a device\'s line is its driver\'s: sys.irq is refused it, and no second device or taken line can be reserved', () => {
  k.attachDevice('svc-irq', device(), { irq: 63 });
  const s = svc({ privileged: true });
  assert.equal(ask(s, 'irq-at', 63), 'Error: irq: line 63 belongs to device svc-irq; its driver takes it through sys.devices');
  assert.throws(() => k.attachDevice('svc-irq2', device(), { irq: 63 }), { message: 'irq: line 63 is device svc-irq\'s' });
  assert.equal(ask(s, 'irq-at', 64), 'ok undefined');
  assert.throws(() => k.attachDevice('svc-irq3', device(), { irq: 64 }), { message: 'irq: line 64 is taken by domain services' });
  assert.equal(k.devices.get('svc-irq3'), undefined, 'a device refused is not attached');
  assert.throws(() => k.attachDevice('svc-irq', device(), { irq: 65 }), { message: 'devices: svc-irq is attached already' });
  k.kill(s.domain);
});

test('irq: a throwing handler crashes its domain, the report naming the line', () => {
  const s = svc({ privileged: true });
  assert.equal(ask(s, 'irq-throw', 66), 'ok undefined');
  k.interrupt(66);
  assert.equal(s.domain.alive, false);
  assert.equal(reportOf(s.domain)?.cause, 'interrupt 66');
});

// ---- domains --------------------------------------------------------------------------------------

test('domains: create refuses a bundle name that is not a string', () => {
  const s = svc({ privileged: true });
  assert.equal(ask(s, 'create-bad'), 'TypeError: domains.create: bundle must be a name');
  k.kill(s.domain);
});

test('domains: kill\'s reason is the stopped child\'s cause: "killed" when none or not a string, cut to 200 characters', () => {
  const s = svc({ privileged: true });
  const cause = (reason: string): string => {
    assert.equal(run(s, 'child'), 1);
    const before = k.crashes.length;
    assert.equal(ask(s, `kill-child ${reason}`), 'ok true');
    const r = k.crashes.slice(before).find((x) => x.domain === 'counter');
    assert.ok(r && r.killed, 'the child was stopped');
    return r.cause;
  };
  assert.equal(cause('none'), 'killed');
  assert.equal(cause('num'), 'killed');
  assert.equal(cause('why'), 'why');
  assert.equal(cause('long'), 'r'.repeat(200));
  assert.equal(ask(s, 'kill-child why'), 'ok false', 'already dead');
  k.kill(s.domain);
});

// ---- devices --------------------------------------------------------------------------------------

test('devices: open refuses a device not granted (even one attached), a name that is not a string, and one not attached; list names the grant', () => {
  k.attachDevice('svc-a', device({ dma: 4 }), { irq: 67 });
  k.attachDevice('svc-b', device({ dma: 4 }), { irq: 68 });
  const s = svc({ devices: ['svc-a', 'svc-ghost'] });
  assert.equal(ask(s, 'devices'), 'ok svc-a,svc-ghost');
  assert.equal(ask(s, 'open svc-b'), 'Error: devices: "svc-b" is not a device domain services was granted');
  assert.equal(ask(s, 'open-num'), 'Error: devices: 5 is not a device domain services was granted');
  assert.equal(ask(s, 'open svc-ghost'), 'Error: devices: no device svc-ghost is attached');
  assert.equal(k.driverOf('svc-b'), null, 'svc-b was not taken');
  assert.equal(k.driverOf('svc-ghost'), null);
  assert.equal(ask(s, 'open svc-a'), 'ok svc-a');
  assert.equal(k.driverOf('svc-a'), s.domain);
  k.kill(s.domain);
  assert.equal(k.driverOf('svc-a'), null, 'its driver is dead');
});

test('devices: one live driver at a time; a device whose driver died is being stopped until the clean-up reaches it', () => {
  k.attachDevice('svc-one', device({ dma: 4 }), { irq: 69 });
  const first = svc({ devices: ['svc-one'] });
  const second = svc({ devices: ['svc-one'] });
  const bystander = svc();
  assert.equal(ask(first, 'open svc-one'), 'ok svc-one');
  assert.equal(ask(second, 'open svc-one'), 'Error: devices: svc-one is driven by domain services');
  // While the bystander's end is reported, the driver dies too: its clean-up waits its turn.
  let during = '';
  const stop = k.onCrash((r) => {
    if (r.id !== bystander.domain.id) return;
    k.kill(first.domain);
    during = ask(second, 'open svc-one');
  });
  k.kill(bystander.domain);
  stop();
  assert.equal(during, 'Error: devices: svc-one is still being stopped after its last driver died');
  assert.equal(ask(second, 'open svc-one'), 'ok svc-one', 'once stopped, the next driver takes it');
  k.kill(second.domain);
});

test('devices: a dead driver\'s device is reset, and a reset the device did not acknowledge is counted', () => {
  k.attachDevice('svc-reset', device({ dma: 4, reset: false }), { irq: 70 });
  const s = svc({ devices: ['svc-reset'] });
  assert.equal(ask(s, 'open svc-reset'), 'ok svc-reset');
  k.kill(s.domain);
  const a = k.devices.get('svc-reset')!;
  assert.deepEqual([a.resets, a.failedResets], [1, 1]);
});

test('devices: map refuses an access that is not 1, 2 or 3, and fails once the IOMMU table is full; unmap answers false for an iova not mapped, forged or not a number, and on a device without DMA', () => {
  k.attachDevice('svc-dma', device({ dma: 1 }), { irq: 71 });
  k.attachDevice('svc-con', device(), { irq: 72 });
  const s = svc({ devices: ['svc-dma'] });
  const c = svc({ devices: ['svc-con'] });
  assert.equal(ask(s, 'open svc-dma'), 'ok svc-dma');
  const iova = Number(ask(s, 'map').slice(3));
  assert.ok(iova > 0);
  assert.equal(ask(s, 'map', 4), 'RangeError: devices.map: access must be 1, 2 or 3, got 4');
  assert.equal(ask(s, 'map'), 'Error: devices: the IOMMU table of svc-dma is full (1 mappings)');
  assert.equal(ask(s, 'unmap', iova + (1 << 16)), 'ok false', 'forged: another generation');
  assert.equal(ask(s, 'unmap', 12345), 'ok false');
  assert.equal(ask(s, 'unmap-str'), 'ok false');
  assert.equal(ask(s, 'unmap', iova), 'ok true');
  assert.equal(ask(s, 'unmap', iova), 'ok false', 'twice');
  assert.equal(ask(s, 'free-pages'), 'ok freed', 'unpinned');
  assert.equal(ask(c, 'open svc-con'), 'ok svc-con');
  assert.equal(ask(c, 'map'), 'Error: device svc-con does no DMA');
  assert.equal(ask(c, 'unmap', 1), 'ok false');
  assert.equal(ask(c, 'free-pages'), 'ok freed');
  k.kill(s.domain);
  k.kill(c.domain);
});

test('devices: onInterrupt takes a function; a throwing handler crashes the driver, the report naming the device\'s line', () => {
  const dev = device();
  k.attachDevice('svc-int', dev, { irq: 73 });
  const s = svc({ devices: ['svc-int'] });
  assert.equal(ask(s, 'open svc-int'), 'ok svc-int');
  assert.equal(ask(s, 'on-int-fn'), 'TypeError: devices.onInterrupt: callback must be a function');
  assert.equal(ask(s, 'on-int-throw'), 'ok undefined');
  dev.raise();
  assert.equal(s.domain.alive, false);
  assert.equal(reportOf(s.domain)?.cause, 'interrupt 73');
});

test('devices: a crash injected into the driver\'s next use of its device happens there, once, and is reported as such', () => {
  k.attachDevice('svc-inj', device({ dma: 4 }), { irq: 74 });
  const s = svc({ devices: ['svc-inj'] });
  assert.equal(ask(s, 'open svc-inj'), 'ok svc-inj');
  assert.equal(k.injectCrash('svc-inj', 'in-call'), true);
  assert.ok(s.domain.alive, 'not yet');
  const r = s.api.run('unmap-raw', 1);
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.error.message, /domain services crashed \(injected fault\)/);
  const rep = reportOf(s.domain);
  assert.equal(rep?.cause, 'injected fault');
  assert.match(rep!.error.message, /fault injected into the driver of svc-inj, inside a call/);
  const next = svc({ devices: ['svc-inj'] });
  assert.equal(ask(next, 'open svc-inj'), 'ok svc-inj');
  assert.equal(ask(next, 'unmap', 1), 'ok false', 'the next driver is not crashed');
  assert.equal(k.injectCrash('svc-nope'), false);
  k.kill(next.domain);
});

test('devices: an unmap the device is hung in answers false and keeps the buffer pinned; unmapping that iova again after the transfer ended answers false (~5 s)', () => {
  const dev = device({ dma: 4 }) as DmaDevice & { raise(): void };
  k.attachDevice('svc-hung', dev, { irq: 75 });
  const s = svc({ devices: ['svc-hung'], budgetMs: 20_000 });
  assert.equal(ask(s, 'open svc-hung'), 'ok svc-hung');
  const iova = Number(ask(s, 'map').slice(3));
  const words = new Int32Array(dev.iommu);
  const busy = (iova & 0xffff) * IOMMU_ENTRY_WORDS + IommuWord.BUSY;
  Atomics.store(words, busy, 1); // the device is inside a transfer through it
  try {
    assert.equal(ask(s, 'unmap', iova), 'ok false', 'hung');
  } finally {
    Atomics.store(words, busy, 0); // the transfer ends
  }
  assert.equal(ask(s, 'unmap', iova), 'ok false', 'no longer one of its mappings');
  const r = s.api.run('free-pages', 0);
  assert.equal(r.ok, false, 'the buffer is pinned for good: freeing it is a violation');
  assert.match(reportOf(s.domain)!.error.message, /HeapViolation/);
});

// Review of sys.devices with a hostile driver (test/adversarial/review/domains/driver) over the
// NVMe-like device model: hostile arguments to map, the IOMMU filled up, pinned objects under
// every other operation, the crash path (reset, unmap, unpin), interrupt handlers, and what a
// driver can do to the device itself through the registers it is handed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { boot, tick } from '../../helpers.ts';
import type { Probe } from '../../../src/idl/demo.ts';
import type { Domain } from '../../../src/kernel/domain.ts';
import { iommuBytes } from '../../../src/machine/common/iommu.ts';
import { DeviceStatus } from '../../../src/machine/common/nvme.ts';
import { startNvme, type NvmeDevice } from '../../../src/machine/node/nvme.ts';
import { devicesFor } from '../../../src/kernel/services/devices.ts';
import { Bytes4096, bindHeap } from '../../../src/idl/generated/structs.ts';

const DRIVER = 'test/adversarial/review/domains/driver';
const b = await boot(['src/domains/drivers/nvme', DRIVER]);
bindHeap(b.k.heapCap());
const devs: NvmeDevice[] = [];
after(async () => {
  b.k.shutdown();
  for (const d of devs) await d.stop();
});

let irq = 70;
const lines = new Map<string, number>();
async function device(name: string, iommu = 64, blockSize = 4096): Promise<NvmeDevice> {
  const dev = startNvme({ blocks: 16, blockSize, dma: b.k.heap.buffer, iommu: new SharedArrayBuffer(iommuBytes(iommu)), queueEntries: 16 });
  devs.push(dev);
  for (let i = 0; dev.status() !== DeviceStatus.READY; i++) {
    if (i > 5000) throw new Error('device did not come up');
    await tick(1);
  }
  lines.set(name, irq);
  b.k.attachDevice(name, dev, { irq: irq++ });
  return dev;
}

type H = { domain: Domain; api: Probe };
function driver(name: string, opts: { budgetMs?: number; open?: boolean } = {}): H {
  return b.k.create<Probe>('hostile-review-driver', {}, {
    devices: [name], config: { device: name, open: opts.open ?? true }, ...(opts.budgetMs ? { budgetMs: opts.budgetMs } : {}),
  }) as H;
}
const run = (h: H, what: string, arg = 0): number | string => {
  const r = h.api.run(what, arg);
  return r.ok ? r.value : `error ${r.error.kind}`;
};
const lastCrash = (h: H): string => b.k.crashes.filter((c) => c.id === h.domain.id).map((c) => c.text).join('\n');
const hostileRan = (): boolean => b.logs.some((l) => l.includes('HOSTILE CODE RAN'));
function clean(objects: number, name?: string): void {
  assert.deepEqual(b.k.heap.audit(), [], 'the heap audits clean');
  assert.equal(b.k.heap.stats().objects, objects, 'the heap is back to its baseline (nothing left pinned or orphaned)');
  if (name) assert.equal(b.k.devices.get(name)!.mapper!.mapped, 0, 'no IOMMU entry is left');
  assert.equal(hostileRan(), false, 'none of the hostile values\' code ran');
  assert.equal(b.k.rpc.depth, 1);
}

// ---- what held ---------------------------------------------------------------------------------

test('map: access values that are not 1, 2 or 3 (objects with valueOf, Proxies, strings, bigints, NaN, ...) are refused, and none of their code runs', async () => {
  await device('rv-access');
  const base = b.k.heap.stats().objects;
  const h = driver('rv-access');
  assert.equal(run(h, 'hostile-access'), 0, 'nothing was mapped');
  assert.equal(h.domain.alive, true, 'a bad access value is an error the driver may catch');
  b.k.kill(h.domain);
  clean(base, 'rv-access');
});

test('map: a handle that is not one (valueOf, toPrimitive, Proxies, wrappers, arrays, strings, bigints, fractions, huge numbers) is a violation, and runs nothing', async () => {
  await device('rv-handle');
  const base = b.k.heap.stats().objects;
  for (let k = 0; k < 18; k++) {
    const h = driver('rv-handle');
    const r = run(h, 'hostile-h', k);
    assert.equal(r, 'error crashed', `value ${k}`);
    assert.equal(h.domain.alive, false);
    assert.match(lastCrash(h), /HeapViolation/, `value ${k}`);
  }
  clean(base, 'rv-handle');
});

test('map: a child index that is not one is a violation, and runs nothing (-0 is index 0)', async () => {
  await device('rv-child');
  const base = b.k.heap.stats().objects;
  for (let k = 0; k < 18; k++) {
    const h = driver('rv-child');
    const r = run(h, 'hostile-child', k);
    if (k === 10) { // -0: a number equal to 0
      assert.equal(r, 0);
      b.k.kill(h.domain);
      continue;
    }
    assert.equal(r, 'error crashed', `value ${k}`);
    assert.match(lastCrash(h), /HeapViolation/, `value ${k}`);
  }
  clean(base, 'rv-child');
});

test('the same object mapped until the IOMMU table is full, then the driver crashes: every pin is undone, every entry removed, and the next driver maps again', async () => {
  await device('rv-full', 64);
  const base = b.k.heap.stats().objects;
  let h = driver('rv-full');
  assert.equal(run(h, 'fill-iommu'), 64);
  assert.equal(b.k.devices.get('rv-full')!.mapper!.mapped, 64);
  assert.equal(h.domain.alive, true, 'a full table is an error, not a crash');
  b.k.crash(h.domain, 'test', new Error('crash with a full table'));
  clean(base, 'rv-full');
  h = driver('rv-full');
  assert.ok(Number(run(h, 'map-page', 2)) > 0, 'a new driver maps');
  b.k.kill(h.domain);
  clean(base, 'rv-full');
});

test('a pinned request refuses take and put of its block, and a pinned deque pop (each a violation); unmap twice answers false the second time', async () => {
  await device('rv-pinned');
  const base = b.k.heap.stats().objects;
  for (const what of ['take-pinned-child', 'put-pinned-child']) {
    const h = driver('rv-pinned');
    assert.ok(Number(run(h, 'map-req-child', 2)) > 0);
    assert.equal(run(h, what), 'error crashed', what);
    assert.match(lastCrash(h), /mapped for DMA/);
  }
  const h = driver('rv-pinned');
  assert.equal(run(h, 'pop-pinned'), 'error crashed');
  assert.match(lastCrash(h), /mapped for DMA/);
  const g = driver('rv-pinned');
  assert.equal(run(g, 'unmap-twice'), 10);
  assert.equal(run(g, 'unmap', 0x7fffffff), 0, 'a forged iova');
  b.k.kill(g.domain);
  clean(base, 'rv-pinned');
});

test('one driver at a time: a second domain granted the device cannot open it while the first lives, and can once it died', async () => {
  await device('rv-race');
  const a = driver('rv-race');
  assert.throws(() => driver('rv-race'), /driven by domain hostile-review-driver/);
  b.k.kill(a.domain);
  const c = driver('rv-race');
  assert.equal(c.domain.alive, true);
  b.k.kill(c.domain);
});

test('an interrupt handler that throws, or spins, crashes only its driver; the device goes to the next driver', async () => {
  await device('rv-irq');
  for (const what of ['irq-throw', 'irq-spin']) {
    const h = driver('rv-irq');
    assert.equal(run(h, what), 1);
    for (let i = 0; i < 200 && h.domain.alive; i++) await tick(2);
    assert.equal(h.domain.alive, false, what);
    assert.match(lastCrash(h), what === 'irq-throw' ? /interrupt handler throws/ : /BudgetExceeded/);
  }
  const h = driver('rv-irq');
  assert.equal(run(h, 'irq-count'), 1);
  for (let i = 0; i < 200 && !b.logs.some((l) => l.includes('[hostile-review-driver] interrupt 1')); i++) await tick(2);
  assert.ok(b.logs.some((l) => l.includes('[hostile-review-driver] interrupt 1')), 'the next driver gets its interrupts');
  b.k.kill(h.domain);
});

test('garbage in every field of 3000 commands, then doorbells past the ring: the device answers with errors, writes nothing outside the driver\'s mappings, and a reset brings it back', async () => {
  for (const bs of [4096, 512]) {
    const name = `rv-garbage-${bs}`;
    const dev = await device(name, 64, bs);
    const canaries = [];
    for (let i = 0; i < 16; i++) { const c = Bytes4096.alloc(); Bytes4096.fill(c, 0x5a); canaries.push(c); }
    const h = driver(name, { budgetMs: 10_000 }); // (3000 commands in one call: not a budget test)
    for (let i = 0; i < 16; i++) { const c = Bytes4096.alloc(); Bytes4096.fill(c, 0x5a); canaries.push(c); }
    assert.equal(run(h, 'io-queue'), 1);
    const ok = run(h, 'garbage', 3000);
    assert.ok(typeof ok === 'number' && ok >= 0, `every command completed (${ok} of them successfully)\n${lastCrash(h)}`);
    assert.equal(run(h, 'bad-doorbell'), 1);
    for (let i = 0; i < 100 && dev.status() !== DeviceStatus.FATAL; i++) await tick(2);
    assert.equal(dev.status(), DeviceStatus.FATAL, 'a doorbell past the ring is fatal to the device');
    assert.equal(dev.error, null, 'the device thread is alive');
    b.k.kill(h.domain);
    assert.equal(dev.status(), DeviceStatus.READY, 'the kernel\'s reset on the driver\'s death brought it back');
    const out = new Uint8Array(4096);
    for (const c of canaries) {
      Bytes4096.read(c, 0, out);
      assert.ok(out.every((x) => x === 0x5a), 'no kernel page was touched');
      Bytes4096.free(c);
    }
    const next = driver(name);
    assert.equal(run(next, 'io-queue'), 1, 'the next driver gets a working device');
    b.k.kill(next.domain);
    b.k.log(`garbage on ${bs}-byte blocks: ${ok} of 3000 commands succeeded`);
  }
  assert.deepEqual(b.k.heap.audit(), []);
});

test('a DeviceCap kept past its holder\'s death does nothing: map, unmap and onInterrupt are refused, even once another driver has the device', async () => {
  await device('rv-kept');
  const base = b.k.heap.stats().objects;
  const h = driver('rv-kept');
  const kept = devicesFor(b.k, h.domain).open('rv-kept'); // a second cap of the same (live) driver
  const iova = Number(run(h, 'map-page', 2));
  b.k.kill(h.domain);
  const g = driver('rv-kept');
  const iova2 = Number(run(g, 'map-page', 2));
  assert.ok(iova2 > 0);
  assert.throws(() => kept.unmap(iova2), /revoked/);
  assert.throws(() => kept.unmap(iova), /revoked/);
  assert.throws(() => kept.map(1, -1, 2), /revoked/);
  assert.throws(() => kept.onInterrupt(() => {}), /revoked/);
  assert.throws(() => devicesFor(b.k, h.domain).open('rv-kept'), /revoked/);
  assert.equal(b.k.devices.get('rv-kept')!.maps.has(iova2), true, 'the new driver\'s mapping is intact');
  b.k.kill(g.domain);
  clean(base, 'rv-kept');
});

// ---- weaknesses ----------------------------------------------------------------------------------

test('a driver that forges "controller stopped" (CC.EN 0, STATUS STOPPED) before crashing cannot make the kernel\'s crash path block the main thread', async () => {
  const dev = await device('rv-forge');
  const h = driver('rv-forge');
  await tick(60); // the device is idle, asleep on its doorbell
  const a = b.k.devices.get('rv-forge')!;
  const failed = a.failedResets;
  const t0 = performance.now();
  const r = run(h, 'forge-stopped');
  const ms = performance.now() - t0;
  assert.equal(r, 'error crashed');
  assert.equal(h.domain.alive, false);
  // The kernel's reset believed the forged words, skipped the disable, and then waited its whole
  // timeout for a READY that never came: every domain, timer and interrupt waited with it.
  assert.ok(ms < 250, `the crash path blocked the kernel's thread for ${ms.toFixed(0)} ms (budget 50 ms)`);
  assert.equal(a.failedResets, failed, 'and the reset of the device failed: commands queued before the crash were never dropped');
  void dev;
});

test('a driver cannot switch its device off for good (POWER_CUT is in the registers it is handed): the next driver finds it working', async () => {
  const dev = await device('rv-power');
  const h = driver('rv-power');
  assert.equal(run(h, 'power-cut'), 1);
  for (let i = 0; i < 100 && dev.status() !== DeviceStatus.POWER_LOST; i++) await tick(2);
  b.k.kill(h.domain);
  let started = 'started';
  try {
    const n = b.k.create('nvme', {}, { devices: ['rv-power'], config: { device: 'rv-power' } });
    b.k.kill(n.domain);
  } catch (e) {
    started = (e as Error).message;
  }
  assert.equal(started, 'started', 'the kernel reset the device after the hostile driver, and a good driver can use it');
});

test('the device\'s interrupt line is reachable only through the device: a privileged domain that was not granted it cannot take it from the driver', async () => {
  await device('rv-steal');
  const thief = b.k.create<Probe>('hostile-review-driver', {}, { privileged: true, config: { device: 'none', open: false } }) as H;
  const stolen = run(thief, 'steal-irq', lines.get('rv-steal')!);
  let started = 'started';
  try {
    const n = b.k.create('nvme', {}, { devices: ['rv-steal'], config: { device: 'rv-steal' } });
    b.k.kill(n.domain);
  } catch (e) {
    started = (e as Error).message;
  }
  b.k.kill(thief.domain);
  assert.equal(started, 'started',
    `sys.irq.register takes any line (the thief's register answered ${stolen}), so a privileged domain can take an attached device's interrupts and keep its driver from starting`);
});

test('map and unmap at the engine\'s stack limit leave no pin behind: once the driver is gone, so is every object it had', async () => {
  await device('rv-stack', 256);
  const base = b.k.heap.stats().objects;
  const h = driver('rv-stack', { budgetMs: 10_000 });
  const maps = run(h, 'stack-map');
  assert.ok(typeof maps === 'number' && maps > 1000, `mapped ${maps} times`);
  b.k.kill(h.domain);
  await tick(5);
  const report = b.k.crashes.filter((c) => c.id === h.domain.id).pop()!;
  assert.equal(report.reclaimed.deferred, 0, 'no object of the dead driver is left pinned (it would never be freed)');
  clean(base, 'rv-stack');
});

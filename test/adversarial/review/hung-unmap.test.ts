// Review of DeviceCap.unmap against a device that stays inside a transfer: the first unmap gives
// up after UNMAP_WAIT_MS (and answers false: the entry is hung); the mapping must stay pinned, so the driver cannot unmap it
// again, free the buffer and have it reused while the device may still write it. A fake DmaDevice
// whose IOMMU BUSY word the test holds stands in for the device. ~5 s.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { boot } from '../../helpers.ts';
import type { Probe } from '../../../src/idl/demo.ts';
import type { DmaDevice } from '../../../src/machine/common/device.ts';
import { IOMMU_ENTRY_WORDS, IommuWord, iommuBytes } from '../../../src/machine/common/iommu.ts';

const b = await boot(['test/adversarial/review/domains/driver']);
after(() => b.k.shutdown());

test('an unmap that timed out on a hung transfer leaves the buffer pinned: unmapping again and freeing it is refused', () => {
  const iommu = new SharedArrayBuffer(iommuBytes(8));
  const fake: DmaDevice = { memory: new SharedArrayBuffer(4096), iommu, reset: () => false, onInterrupt: () => {} };
  b.k.attachDevice('rv-hung2', fake, { irq: 96 });
  const h = b.k.create<Probe>('hostile-review-driver', {}, { devices: ['rv-hung2'], budgetMs: 20_000, config: { device: 'rv-hung2', open: true } });
  const r = h.api.run('map-page', 2);
  assert.ok(r.ok && r.value > 0);
  const iova = r.value;
  const words = new Int32Array(iommu);
  const entry = (iova & 0xffff) * IOMMU_ENTRY_WORDS;
  Atomics.store(words, entry + IommuWord.BUSY, 1); // the device is inside a transfer through it, and stays there
  try {
    const first = h.api.run('unmap', iova);
    assert.deepEqual(first, { ok: true, value: 0 }, 'the first unmap did not complete (the device is hung)');
    const second = h.api.run('unmap', iova);
    const free = h.api.run('free-pages', 0);
    assert.deepEqual({ second: second.ok ? second.value : 'crashed', free: free.ok ? `freed ${free.value}` : 'refused' },
      { second: 0, free: 'refused' },
      'the second unmap found the mapping still listed, ignored that the IOMMU no longer had it, and unpinned the buffer under transfer');
  } finally {
    Atomics.store(words, entry + IommuWord.BUSY, 0);
  }
});

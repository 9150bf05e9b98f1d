// Review of the crash path against a device that stays inside a transfer (a hung device, or one
// slowed by its storage): the kernel's unmap gives up after UNMAP_WAIT_MS and says the memory must
// not be reused. The first clean-up attempt throws there and is retried from the event loop; the
// retry must not unpin (and so free and hand out again) the buffer the device may still write.
// A fake DmaDevice whose IOMMU BUSY word the test holds stands in for the device. ~5 s.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { boot, tick } from '../../helpers.ts';
import type { Probe } from '../../../src/idl/demo.ts';
import type { DmaDevice } from '../../../src/machine/common/device.ts';
import { IOMMU_ENTRY_WORDS, IommuWord, iommuBytes } from '../../../src/machine/common/iommu.ts';
import { Bytes4096, bindHeap } from '../../../src/idl/generated/structs.ts';
import { KERNEL_ID } from '../../../src/kernel/rpc.ts';

const b = await boot(['test/adversarial/review/domains/driver']);
after(() => b.k.shutdown());
bindHeap(b.k.heapCap());

test('a driver that dies while the device is stuck in a transfer into its buffer: the buffer is never freed or handed out again', async () => {
  const iommu = new SharedArrayBuffer(iommuBytes(8));
  const fake: DmaDevice = { memory: new SharedArrayBuffer(4096), iommu, reset: () => false, onInterrupt: () => {} };
  b.k.attachDevice('rv-hung', fake, { irq: 95 });
  const h = b.k.create<Probe>('hostile-review-driver', {}, { devices: ['rv-hung'], config: { device: 'rv-hung', open: true } });
  const base = b.k.heap.stats().objects;
  const r = h.api.run('map-page', 2);
  assert.ok(r.ok && r.value > 0);
  const words = new Int32Array(iommu);
  const entry = (r.value & 0xffff) * IOMMU_ENTRY_WORDS;
  const offset = words[entry + IommuWord.OFFSET];
  Atomics.store(words, entry + IommuWord.BUSY, 1); // the device is inside a transfer through it, and stays there
  try {
    b.k.kill(h.domain); // the first clean-up waits UNMAP_WAIT_MS, gives up, and is retried from the event loop
    for (let i = 0; i < 50 && b.k.domain(h.domain.id) !== undefined; i++) await tick(10);
    const freed = b.k.heap.stats().objects < base + 1;
    // Allocate pages where the dead driver's was.
    const got = [];
    let reused = false;
    for (let i = 0; i < 256 && !reused; i++) {
      const p = Bytes4096.alloc();
      got.push(p);
      const [s, hd, off] = b.k.heap.pin(KERNEL_ID, p, -1);
      b.k.heap.unpin(s, hd);
      if (off === offset) reused = true;
    }
    for (const p of got) Bytes4096.free(p);
    assert.deepEqual({ freed, reused }, { freed: false, reused: false },
      'the retried clean-up unpinned the buffer the device is still transferring into: it was freed and given to the next allocation');
    const report = b.k.crashes.find((c) => c.id === h.domain.id);
    assert.equal(report?.reclaimed.deferred, 1, 'the report counts the page left pinned for the device, to be freed once it is unpinned');
  } finally {
    Atomics.store(words, entry + IommuWord.BUSY, 0);
  }
});

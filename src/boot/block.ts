// The block path assembled: an NVMe-like device model on its worker thread, attached to a kernel
// (its DMA area is the kernel's exchange heap, its IOMMU table the kernel's), and its driver domain,
// behind the block-driver shadow or not. Used by `frond boot` (rv6), `frond blkcheck`, the
// benchmarks and the tests.
//
// The kernel must have loaded the `nvme` bundle (src/domains/drivers/nvme) and, for `shadow`, the
// `bdev-shadow` bundle (src/domains/shadows/bdev).
import type { BDev } from '../idl/block.ts';
import type { Kernel } from '../kernel/kernel.ts';
import type { Domain } from '../kernel/domain.ts';
import { iommuBytes } from '../machine/common/iommu.ts';
import { DeviceStatus } from '../machine/common/nvme.ts';
import { startNvme, type NvmeDevice, type PowerCut } from '../machine/node/nvme.ts';

export const DEVICE = 'nvme0';
export const NVME_IRQ = 11;
/** The CPU budget of the driver and its shadow: a synchronous read, write or flush spins until
 *  the device answers, and a FLUSH (a write-back and an fdatasync) can take tens of ms. */
export const BLOCK_BUDGET_MS = 500;

export interface BlockOptions {
  /** the device's name and interrupt line (default nvme0, 11) */
  device?: string;
  irq?: number;
  /** disk size in 4 KiB blocks */
  blocks: number;
  /** a disk-image file (created or extended); without it the disk is memory */
  image?: string;
  /** the driver behind the shadow (default true) */
  shadow?: boolean;
  /** entries of each device queue (default 256) */
  queueEntries?: number;
  /** IOMMU entries (default 4096) */
  iommuEntries?: number;
  /** the device's write cache, in blocks */
  cacheBlocks?: number;
  /** the device's media latency per command, µs (NvmeOptions.latencyUs) */
  latencyUs?: number;
  /** interrupt coalescing of the driver's I/O queue */
  coalesce?: number;
  coalesceUs?: number;
  powerCut?: PowerCut;
}

export interface BlockPath {
  readonly dev: NvmeDevice;
  /** the block interface, proxied for the kernel (the shadow's, or the driver's) */
  readonly bdev: BDev;
  /** the shadow's domain, if any */
  readonly shadow: Domain | null;
  /** the domain driving the device now */
  driver(): Domain | null;
  /** crashes the driver (fault injection: Kernel.injectCrash); false if none is running */
  inject(when?: 'now' | 'in-call'): boolean;
  /** stops the domains and the device thread */
  stop(): Promise<void>;
}

/** Waits until the device model's thread is up and the controller ready (or throws). */
async function ready(dev: NvmeDevice, ms = 10_000): Promise<void> {
  const t0 = performance.now();
  while (dev.status() !== DeviceStatus.READY) {
    if (dev.error) throw dev.error;
    if (performance.now() - t0 > ms) throw new Error(`nvme: the device did not come up in ${ms} ms (status ${dev.status()})`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

export async function startBlock(k: Kernel, o: BlockOptions): Promise<BlockPath> {
  const dev = startNvme({
    blocks: o.blocks,
    blockSize: 4096,
    dma: k.heap.buffer,
    iommu: new SharedArrayBuffer(iommuBytes(o.iommuEntries ?? 4096)),
    queueEntries: o.queueEntries ?? 256,
    ...(o.image !== undefined ? { image: o.image } : {}),
    ...(o.cacheBlocks !== undefined ? { cacheBlocks: o.cacheBlocks } : {}),
    ...(o.latencyUs !== undefined ? { latencyUs: o.latencyUs } : {}),
    ...(o.powerCut !== undefined ? { powerCut: o.powerCut } : {}),
  });
  await ready(dev);
  const name = o.device ?? DEVICE;
  k.attachDevice(name, dev, { irq: o.irq ?? NVME_IRQ });
  const driverConfig = { device: name, coalesce: o.coalesce ?? 8, coalesceUs: o.coalesceUs ?? 100 };
  let shadow: Domain | null = null;
  let bdev: BDev;
  if (o.shadow ?? true) {
    const s = k.create<BDev>('bdev-shadow', {}, {
      privileged: true, devices: [name], budgetMs: BLOCK_BUDGET_MS, config: { target: 'nvme', device: name, driver: driverConfig },
    });
    shadow = s.domain;
    bdev = s.api;
  } else {
    bdev = k.create<BDev>('nvme', {}, { devices: [name], budgetMs: BLOCK_BUDGET_MS, config: driverConfig }).api;
  }
  return {
    dev,
    bdev,
    shadow,
    driver: () => k.driverOf(name),
    inject: (when = 'now') => k.injectCrash(name, when),
    async stop() {
      if (shadow && shadow.alive) k.kill(shadow, 'shutdown');
      const d = k.driverOf(name);
      if (d) k.kill(d, 'shutdown');
      await dev.stop();
    },
  };
}

/** Turns a machine off in the one order that lets everything go: every domain dies (calls into
 *  them fail), then the devices stop (their threads end), then the kernel lets go of the process's
 *  hooks, once the dead domains' last promise jobs have run. Used by rv6's boot and its crash checker. */
export async function powerOff(k: Kernel, ...devices: { stop(): Promise<void> }[]): Promise<void> {
  for (const d of k.list()) k.kill(d, 'shutdown');
  for (const dev of devices) await dev.stop();
  k.shutdown();
}

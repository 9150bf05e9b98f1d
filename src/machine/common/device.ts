// What the kernel needs of a device model (Device; DmaDevice for one that moves data by DMA into the
// exchange heap), and the atomic operations a driver domain gets for the device's registers and queues.
//
// A domain's compartment has no Atomics (SES leaves it out), and Atomics.wait must stay out of
// reach in any case: on the kernel's thread it would block every domain beyond any CPU budget. So
// the kernel hands a driver these operations with its device (sys.devices), and code shared by
// drivers and host tools (machine/common/nvme.ts QueuePair) takes them as a parameter.

/** Atomics without wait and waitAsync. */
export interface AtomicOps {
  load(a: Int32Array, i: number): number;
  store(a: Int32Array, i: number, v: number): number;
  add(a: Int32Array, i: number, v: number): number;
  sub(a: Int32Array, i: number, v: number): number;
  exchange(a: Int32Array, i: number, v: number): number;
  compareExchange(a: Int32Array, i: number, expected: number, v: number): number;
  notify(a: Int32Array, i: number, count?: number): number;
}

/** The host's Atomics, reduced to AtomicOps (for host code; the kernel hands out a frozen copy). */
export function atomicOps(A: typeof Atomics): AtomicOps {
  return {
    load: (a, i) => A.load(a, i),
    store: (a, i, v) => A.store(a, i, v),
    add: (a, i, v) => A.add(a, i, v),
    sub: (a, i, v) => A.sub(a, i, v),
    exchange: (a, i, v) => A.exchange(a, i, v),
    compareExchange: (a, i, e, v) => A.compareExchange(a, i, e, v),
    notify: (a, i, n) => A.notify(a, i, n),
  };
}

/**
 * A device the kernel can give to a driver domain (Kernel.attachDevice): its registers and rings
 * in `memory`, a reset, and interrupts. A device without DMA (the console) is just this.
 */
export interface Device {
  /** the driver's registers and queues: the kernel hands these to the driver, which may write
   *  anything there; the device never trusts them, and reset() never depends on them */
  readonly memory: SharedArrayBuffer;
  /**
   * Brings the device to a state a new driver can start from, after its driver died; synchronous.
   * What that means is the device's own (a DmaDevice: see there). Whatever the driver wrote into
   * `memory` cannot make it fail or take longer. False: the device did not acknowledge it.
   */
  reset(timeoutMs?: number): boolean;
  /** calls `fn` on the kernel's thread each time the device raises an interrupt */
  onInterrupt(fn: () => void): void;
}

/**
 * A device that moves data by DMA into the exchange heap. Its DMA goes only through the IOMMU
 * table the kernel fills (machine/common/iommu.ts), never to a raw arena offset.
 *
 * reset() stops every command submitted so far (a controller reset) and waits for the device to
 * say so. After `true`, the device performs no DMA for any of those commands. Its durable state
 * (and write cache) is kept; its queues must be set up again.
 */
export interface DmaDevice extends Device {
  /** the control words (enable, status, reset and interrupt counters, power) of a device that
   *  has them apart from `memory`: the host and the device only, never handed to a driver */
  readonly control?: SharedArrayBuffer;
  /** the IOMMU table: the kernel and the device only */
  readonly iommu: SharedArrayBuffer;
}

// The device service: the devices attached to the machine, which domain drives each, the DMA
// mappings it made, and the stop that must come before a dead driver's buffers are reclaimed.
//
// A driver never names an arena offset. It asks the kernel to map an exchange-heap object it owns
// (map): the kernel pins the object (heap.ts, PINNED: not writable, movable or freeable) and writes
// an IOMMU entry (machine/common/iommu.ts) that lets the device reach exactly that object's data,
// in the directions asked; the driver puts the returned I/O address in its commands. A command
// naming anything else completes with an error, without touching memory.
//
// DMA and crashes (what RedLeaf left open). When a driver dies with commands in flight, its
// buffers must not be freed while the device can still write them. reclaim, called by the crash
// path before the heap's reclaim (kernel.ts end: services at step 3, heap at step 4), for each
// device the dead domain drove:
//   1. resets the device (Device.reset; a DmaDevice drops every command submitted so far and says so);
//   2. removes every IOMMU entry of the driver; an unmap returns 'done' only once no transfer
//      through the entry is running, and none can start after (the IOMMU's BUSY protocol), so even
//      a device that did not acknowledge the reset can no longer reach the buffers;
//   3. unpins the buffers whose unmap was done: only now may the heap free them or salvage them
//      for a shadow. A mapping the IOMMU reports hung (the device stayed inside a transfer through
//      it for UNMAP_WAIT_MS) is dropped from the list but never unpinned: the heap keeps that
//      buffer, orphaned, for good, since the device may still write it.
// Steps 2 and 3 concern only a device with DMA (an `iommu`); one without (the console) has no
// mapper, and map() on it throws "device X does no DMA".
// Each step is idempotent (the crash path may be retried part way), and none throws for a hung
// device. DeviceCap.unmap follows the same rule: it unpins only once the IOMMU entry is gone.
//
// A throw part way. map and unmap run at whatever depth the driver calls them, so any call in
// them may fail for want of stack (a RangeError at the engine's limit). Neither makes a call
// between a change and its record: map records its pin (Attached.strays) before it writes the
// IOMMU entry and moves the record to `maps` after, with no call in between; unmap unpins
// before it forgets the mapping. What a call cut short leaves behind, a stray pin or a mapping
// the IOMMU already let go ('not-mapped'), is undone by the next map or unmap, or by the stop.
//
// Rights. A domain may open the devices its creator granted it (Kernel.create's `devices`, or a
// creator's own devices passed on with sys.domains.create's grant); one live domain drives a
// device at a time.
import type { DeviceCap, Devices } from '../../idl/lib/sys.ts';
import { atomicOps, type AtomicOps, type Device, type DmaDevice } from '../../machine/common/device.ts';
import { IommuMapper } from '../../machine/common/iommu.ts';
import type { Domain } from '../domain.ts';
import { show } from '../safe.ts';
import { callback, checkFn, live, type ServiceKernel } from './common.ts';
import { DomainAbort } from '../rpc.ts';

/** The atomic operations handed to drivers, made once (after lockdown) and frozen. */
let atomics: AtomicOps | null = null;

interface Mapping { readonly slot: number; readonly handle: number }

/** One attached device. */
export class Attached {
  /** the IOMMU table's writer, for a device with DMA (null: the device does none) */
  readonly mapper: IommuMapper | null;
  /** the domain driving it, while one does */
  driver: Domain | null = null;
  /** the driver's mappings: iova → the pinned root */
  readonly maps = new Map<number, Mapping>();
  /** pins with no IOMMU entry, left by a map cut short (see the header), to undo */
  readonly strays: Mapping[] = [];
  /** resets, and resets the device did not acknowledge */
  resets = 0;
  failedResets = 0;
  /** fault injection: crash the driver at its next use of the device (Kernel.injectCrash) */
  armed = false;

  constructor(readonly name: string, readonly dev: Device, readonly line: number) {
    this.mapper = isDma(dev) ? new IommuMapper(dev.iommu) : null;
  }
}

function isDma(dev: Device): dev is DmaDevice {
  return (dev as Partial<DmaDevice>).iommu !== undefined;
}

export class DeviceTable {
  private readonly byName = new Map<string, Attached>();

  attach(name: string, dev: Device, line: number): Attached {
    if (this.byName.has(name)) throw new Error(`devices: ${name} is attached already`);
    const a = new Attached(name, dev, line);
    this.byName.set(name, a);
    return a;
  }

  get(name: string): Attached | undefined {
    return this.byName.get(name);
  }

  /** The live domain driving device `name`, if any. */
  driverOf(name: string): Domain | null {
    const a = this.byName.get(name);
    return a && a.driver && a.driver.alive ? a.driver : null;
  }

  open(d: Domain, name: unknown): Attached {
    if (typeof name !== 'string' || !d.args.devices.includes(name)) {
      throw new Error(`devices: ${show(name)} is not a device domain ${d.name} was granted`);
    }
    const a = this.byName.get(name);
    if (!a) throw new Error(`devices: no device ${name} is attached`);
    if (a.driver !== null && a.driver !== d) {
      if (a.driver.alive) throw new Error(`devices: ${name} is driven by domain ${a.driver.name}`);
      throw new Error(`devices: ${name} is still being stopped after its last driver died`);
    }
    a.driver = d;
    return a;
  }

  /** Stops the devices dead domain `d` drove (see the header); returns how many. Idempotent. */
  reclaim(k: ServiceKernel, d: Domain): number {
    let n = 0;
    for (const a of this.byName.values()) {
      if (a.driver !== d) continue;
      stop(k, a);
      n++;
    }
    return n;
  }
}

/** Steps 1–3 of the header, for a device whose driver died. */
function stop(k: ServiceKernel, a: Attached): void {
  a.armed = false; // (an injected crash meant for this driver is not its successor's)
  a.resets++;
  if (!a.dev.reset()) a.failedResets++;
  if (a.mapper !== null) {
    const { hung } = a.mapper.unmapAll();
    for (const [iova, m] of a.maps) {
      if (!hung.includes(iova)) k.heap.unpin(m.slot, m.handle);
      a.maps.delete(iova);
    }
  }
  unpinStrays(k, a);
  a.driver = null;
}

/** Undoes the pins of `a.strays`, last first, each forgotten only once undone. */
function unpinStrays(k: ServiceKernel, a: Attached): void {
  for (let n = a.strays.length; n > 0; n = a.strays.length) {
    const m = a.strays[n - 1];
    k.heap.unpin(m.slot, m.handle);
    a.strays.pop();
  }
}

function checkAccess(access: unknown): number {
  if (access !== 1 && access !== 2 && access !== 3) throw new RangeError(`devices.map: access must be 1, 2 or 3, got ${show(access)}`);
  return access;
}

function capFor(k: ServiceKernel, d: Domain, a: Attached): DeviceCap {
  const mine = (): void => {
    live(d);
    if (a.driver !== d) throw new Error(`devices: domain ${d.name} no longer drives ${a.name}`);
    if (a.armed) {
      a.armed = false;
      k.crash(d, 'injected fault', new Error(`fault injected into the driver of ${a.name}, inside a call`));
      throw new DomainAbort(`domain ${d.name} crashed (injected fault)`, d.id);
    }
  };
  return harden({
    name: a.name,
    memory: a.dev.memory,
    atomics: (atomics ??= harden(atomicOps(Atomics))),
    map(h: number, child: number, access: number): number {
      mine();
      const mapper = a.mapper;
      if (mapper === null) throw new Error(`device ${a.name} does no DMA`);
      const acc = checkAccess(access);
      if (a.strays.length > 0) unpinStrays(k, a);
      const r = k.heap.pin(d.id, h, child); // (checks h and child; read by index: no iterator runs)
      if (r[3] === 0) return 0; // nothing to map (nothing was pinned)
      // From here until the return, no call between a change and its record (see the header).
      const m: Mapping = { slot: r[0], handle: r[1] };
      a.strays.push(m);
      const iova = mapper.map(r[2], r[3], acc);
      if (iova === 0) {
        unpinStrays(k, a);
        throw new Error(`devices: the IOMMU table of ${a.name} is full (${mapper.entries} mappings)`);
      }
      const stale = a.maps.get(iova); // (a mapping whose unmap was cut short, its iova reused since)
      a.maps.set(iova, m);
      a.strays.pop();
      if (stale !== undefined) a.strays.push(stale);
      return iova;
    },
    unmap(iova: number): boolean {
      mine();
      if (a.strays.length > 0) unpinStrays(k, a);
      const m = typeof iova === 'number' ? a.maps.get(iova) : undefined;
      if (m === undefined || a.mapper === null) return false;
      // 'not-mapped' for a recorded mapping: an earlier unmap of it was cut short after the IOMMU let go
      const gone = a.mapper.unmap(iova) !== 'hung';
      if (gone) k.heap.unpin(m.slot, m.handle); // else hung: pinned for good (see the header)
      a.maps.delete(iova);
      return gone;
    },
    onInterrupt(handler: () => void): void {
      mine();
      const f = checkFn(handler, 'devices.onInterrupt');
      k.interrupts.register(d, a.line, () => callback(k, d, `interrupt ${a.line}`, f), true);
    },
  });
}

export function devicesFor(k: ServiceKernel, d: Domain): Devices {
  return {
    open(name) {
      live(d);
      return capFor(k, d, k.devices.open(d, name));
    },
    list: () => [...d.args.devices],
  };
}

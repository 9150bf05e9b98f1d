// A driver's map and unmap, and the stop after its death, against a throw at every call they make.
//
// A driver calls the kernel from any depth, so at the engine's stack limit any call inside map or
// unmap may throw a RangeError. Each operation is run again and again with that throw injected at
// its 1st, 2nd, ... call of a heap, allocator or IOMMU-mapper method. After every one:
//   - safety: every IOMMU entry the device can still use is recorded and its object pinned (the
//     driver cannot free memory the device may write);
//   - the driver goes on (unmaps what it was told it mapped), dies, and its device is stopped:
//     then no object is left pinned (the heap reclaims every one) and no IOMMU index is lost (the
//     next driver can map as many buffers as the table has entries).
// The throw is injected by replacing methods on the instances, as heap.hostile.test.ts does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureLockdown } from '../lockdown.ts';
import { ExchangeHeap } from '../heap.ts';
import { ArenaAllocator } from '../alloc.ts';
import { TYPES } from '../../idl/generated/types.ts';
import { IommuMapper, IOMMU_ENTRY_WORDS, IommuWord, iommuBytes } from '../../machine/common/iommu.ts';
import type { DeviceCap } from '../../idl/lib/sys.ts';
import type { DmaDevice } from '../../machine/common/device.ts';
import type { Domain } from '../domain.ts';
import type { ServiceKernel } from './common.ts';
import { DeviceTable, devicesFor, type Attached } from './devices.ts';

ensureLockdown();

const PAGE = TYPES.find((t) => t.name === 'Bytes<4096>')!.id;
const DRIVER = 1;
const ENTRIES = 4;
const DEVICE_WRITES = 2;

interface World {
  heap: ExchangeHeap; table: DeviceTable; a: Attached; k: ServiceKernel; d: Domain; cap: DeviceCap;
  /** the iovas map() returned and unmap() has not been given yet */
  mapped: Set<number>;
  pages: number[];
}

function driver(id: number): Domain {
  return { id, name: `driver${id}`, alive: true, args: { devices: ['disk'] } } as unknown as Domain;
}

function world(): World {
  const heap = new ExchangeHeap(1 << 20, TYPES);
  heap.onViolation = () => {};
  const table = new DeviceTable();
  const dev: DmaDevice = {
    memory: new SharedArrayBuffer(64),
    iommu: new SharedArrayBuffer(iommuBytes(ENTRIES)),
    reset: () => true,
    onInterrupt: () => {},
  };
  const a = table.attach('disk', dev, 9);
  const k = { heap, devices: table, crash: () => assert.fail('no crash expected') } as unknown as ServiceKernel;
  const d = driver(DRIVER);
  const cap = devicesFor(k, d).open('disk');
  return { heap, table, a, k, d, cap, mapped: new Set(), pages: [] };
}

function page(w: World): number {
  const p = w.heap.allocate(DRIVER, PAGE);
  w.pages.push(p);
  return p;
}

function map(w: World, p: number): number {
  const iova = w.cap.map(p, -1, DEVICE_WRITES);
  w.mapped.add(iova);
  return iova;
}

/** Makes the `n`th call of any heap, allocator or mapper method throw (`from`: and every call
 *  after it, as at the stack limit, where a catch or finally block is no deeper than the call that
 *  failed); returns how to undo it. */
function inject(w: World, n: number, from: boolean): { undo: () => void; calls: () => number } {
  let calls = 0;
  const undo: (() => void)[] = [];
  const wrap = (obj: object, proto: object): void => {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const desc = Object.getOwnPropertyDescriptor(proto, key)!;
      if (key === 'constructor' || typeof desc.value !== 'function') continue;
      const f = desc.value as (...a: unknown[]) => unknown;
      Object.defineProperty(obj, key, {
        configurable: true, writable: true,
        value(this: unknown, ...args: unknown[]) {
          if (++calls === n || (from && calls > n)) throw new RangeError('Maximum call stack size exceeded (injected)');
          return f.apply(this, args);
        },
      });
      undo.push(() => { delete (obj as Record<string, unknown>)[key]; });
    }
  };
  wrap(w.heap, ExchangeHeap.prototype);
  wrap((w.heap as unknown as { alloc: object }).alloc, ArenaAllocator.prototype);
  wrap(w.a.mapper!, IommuMapper.prototype);
  return { undo: () => undo.forEach((u) => u()), calls: () => calls };
}

/** The IOMMU entries the device could use now (IOVA word set). */
function liveEntries(w: World): { iova: number; offset: number }[] {
  const words = new Int32Array((w.a.dev as DmaDevice).iommu);
  const out: { iova: number; offset: number }[] = [];
  for (let i = 0; i < ENTRIES; i++) {
    const base = i * IOMMU_ENTRY_WORDS;
    const iova = Atomics.load(words, base + IommuWord.IOVA);
    if (iova !== 0) out.push({ iova, offset: words[base + IommuWord.OFFSET] });
  }
  return out;
}

/** Safety: each entry the device can use is a recorded mapping whose object is pinned. */
function checkSafe(w: World, what: string): void {
  for (const { iova } of liveEntries(w)) {
    const m = w.a.maps.get(iova);
    assert.ok(m !== undefined, `${what}: IOMMU entry ${iova} is not recorded (its pin would never go)`);
    assert.throws(() => w.heap.free(DRIVER, m.handle), /mapped for DMA/, `${what}: the object behind IOMMU entry ${iova} can be freed`);
  }
}

/** The driver unmaps what it holds, dies, and its device is stopped (twice: the crash path may
 *  be retried); then nothing may be left pinned or lost. */
function finish(w: World, what: string): void {
  for (const iova of w.mapped) w.cap.unmap(iova);
  w.mapped.clear();
  (w.d as { alive: boolean }).alive = false;
  w.table.reclaim(w.k, w.d);
  w.table.reclaim(w.k, w.d);
  assert.deepEqual(w.heap.audit(), [], `${what}: heap audit`);
  const r = w.heap.reclaim(DRIVER);
  assert.equal(r.deferred, 0, `${what}: an object of the dead driver is left pinned`);
  assert.equal(w.heap.stats().objects, 0, `${what}: objects left`);
  assert.deepEqual(w.a.mapper!.hungMappings(), [], `${what}: IOMMU entries left hung`);
  assert.equal(w.a.mapper!.mapped, 0, `${what}: IOMMU entries left mapped`);
  // The next driver gets the whole table.
  const next = driver(DRIVER + 1);
  const cap = devicesFor(w.k, next).open('disk');
  for (let i = 0; i < ENTRIES; i++) cap.map(w.heap.allocate(next.id, PAGE), -1, DEVICE_WRITES);
  assert.throws(() => cap.map(w.heap.allocate(next.id, PAGE), -1, DEVICE_WRITES), /IOMMU table of disk is full \(4 mappings\)/);
}

const OPS: Record<string, { setup(w: World): void; op(w: World): void }> = {
  map: { setup: (w) => { map(w, page(w)); }, op: (w) => { map(w, page(w)); } },
  'map of an object mapped already': { setup: (w) => { map(w, page(w)); }, op: (w) => { map(w, w.pages[0]); } },
  'map into a full table': {
    setup: (w) => { for (let i = 0; i < ENTRIES; i++) map(w, page(w)); },
    op: (w) => { map(w, page(w)); },
  },
  unmap: {
    setup: (w) => { map(w, page(w)); map(w, page(w)); },
    op: (w) => { const iova = [...w.mapped][0]; w.cap.unmap(iova); w.mapped.delete(iova); },
  },
  'map, unmap, map again (index reuse)': {
    setup: (w) => { map(w, page(w)); },
    op: (w) => {
      const iova = [...w.mapped][0];
      w.cap.unmap(iova);
      w.mapped.delete(iova);
      map(w, page(w));
    },
  },
  'the stop of a dead driver': {
    setup: (w) => { map(w, page(w)); map(w, page(w)); },
    op: (w) => { w.mapped.clear(); (w.d as { alive: boolean }).alive = false; w.table.reclaim(w.k, w.d); },
  },
};

/** Liveness: an object the driver allocated is pinned only while a recorded mapping holds it (a
 *  pin a call cut short left without an IOMMU entry is let go by the driver's next map or unmap,
 *  not only when it dies). Frees each object no recording holds, to show it can be freed. */
function checkUnpinned(w: World, what: string): void {
  const held = new Set([...w.a.maps.values()].map((m) => m.handle));
  for (const p of w.pages) {
    if (held.has(p)) continue;
    try { w.heap.free(DRIVER, p); } catch (e) {
      assert.doesNotMatch(String(e), /mapped for DMA/, `${what}: page ${p} is still pinned, with no mapping`);
    }
  }
  w.pages.length = 0;
}

for (const [name, { setup, op }] of Object.entries(OPS)) for (const from of [false, true]) {
  test(`a throw at any call of ${name}${from ? ' and at every call after it' : ''} leaves no pin behind, no IOMMU index lost, and no entry the device can use over memory that can be freed`, () => {
    let faults = 0;
    // (then: the driver's next call, which lets go of what the one cut short left pinned)
    for (const then of ['map', 'unmap'] as const) for (let n = 1; ; n++) {
      const w = world();
      setup(w);
      const fault = inject(w, n, from);
      let threw = false;
      try { op(w); } catch (e) {
        threw = true;
        const full = e instanceof Error && /is full/.test(e.message);
        assert.ok(full || (e instanceof RangeError && /injected/.test(e.message)), `${name} at ${n}: ${String(e)}`);
        if (!full) faults++;
      }
      const calls = fault.calls();
      fault.undo();
      const what = `${name}, throwing at call ${n}`;
      checkSafe(w, what);
      if (w.d.alive) {
        if (then === 'unmap') assert.equal(w.cap.unmap(-1), false);
        else {
          try { map(w, page(w)); } catch (e) { assert.match(String(e), /is full/); }
        }
        checkUnpinned(w, `${what}, then a ${then}`);
      }
      finish(w, what);
      if (calls < n) break; // the operation made fewer than n calls: each one has been tried
      assert.ok(threw, `${name}: the throw injected at call ${n} went unnoticed`);
    }
    assert.ok(faults > 0, `${name}: no call was ever cut short`);
  });
}

test('an unmap cut short after the IOMMU let go keeps its record until the driver unmaps the iova again, or the iova comes back from map (after 32767 remaps of its index): then its pin goes', () => {
  const w = world();
  const first = page(w);
  const iova = map(w, first);
  const unpin = w.heap.unpin;
  w.heap.unpin = () => { throw new RangeError('Maximum call stack size exceeded (injected)'); };
  assert.throws(() => w.cap.unmap(iova), /injected/);
  w.heap.unpin = unpin;
  w.mapped.delete(iova); // (the driver takes the throw for a failed unmap and forgets the iova)
  assert.equal(w.a.mapper!.mapped, 0, 'the IOMMU entry is gone');
  assert.ok(w.a.maps.has(iova), 'the mapping is still recorded: its object is still pinned');
  assert.throws(() => w.heap.free(DRIVER, first), /mapped for DMA/);
  // Remap every index until the iova comes back.
  const p = page(w);
  let remaps = 0;
  for (let again = 0; again !== iova; remaps++) {
    again = w.cap.map(p, -1, DEVICE_WRITES);
    if (again !== iova) w.cap.unmap(again);
  }
  assert.equal(remaps, 32767 * ENTRIES, 'the iova came back after every generation of every index');
  w.mapped.add(iova);
  assert.throws(() => w.heap.free(DRIVER, first), /mapped for DMA/, 'the stale pin goes at the next call, not inside this map');
  w.cap.unmap(iova);
  w.mapped.delete(iova);
  w.heap.free(DRIVER, first);
  w.pages.shift();
  finish(w, 'after the iova came back');
});

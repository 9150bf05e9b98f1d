// The IOMMU table on its own, both sides on this thread: the kernel's IommuMapper and the device's
// iommuBegin/iommuEnd (which the NVMe device runs on its own thread, where nvme.test.ts reaches
// them only through commands). What a mapping means is checked as the device would read it, through
// iommuBegin: the offset it returns, and the lengths and accesses it refuses.
//   - sizes: iommuBytes and iommuEntries at their bounds (1 and MAX_IOMMU_ENTRIES entries accepted;
//     0, MAX + 1, a fraction, a table that is not a whole number of entries or not shared refused,
//     each with its exact message), and a mapper refusing a table that still holds mappings;
//   - map's argument checks at their bounds (an offset + length of exactly 2^31 - 1 accepted, one
//     byte more refused) and what the device then reads;
//   - iommuBegin's refusals: iova 0 even over an index whose words still hold an old mapping, iovas
//     above 2^31 - 1, stale ones, an index at or past the table's end, a negative length, a length
//     one byte too long, a missing access; and its acceptances: length 0, the whole length;
//   - the highest iova, 0x7fffffff (index 65535 at generation MAX_GENERATION), mapped, used, left
//     hung, settled, and the generation wrapping to 1 after it;
//   - hung mappings at an index other than 0, as hungMappings lists them;
//   - the wait of an unmap, on a fake clock (Date.now and Atomics.wait replaced for one test, so
//     nothing depends on real time): slices of at most 1 ms, waitMs in all, one deadline for a whole
//     unmapAll, no wait at all once the deadline has come, and a notify from iommuEnd exactly when
//     the kernel waits for it (a transfer not waited for costs none).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  Access, BUSY_IN_TRANSFER, BUSY_WAITED, IOMMU_ENTRY_BYTES, IOMMU_ENTRY_WORDS, IommuMapper, IommuWord, MAX_GENERATION,
  MAX_IOMMU_ENTRIES, iommuBegin, iommuBytes, iommuEnd, iommuEntries,
} from './iommu.ts';

const READS = Access.DEVICE_READS;
const WRITES = Access.DEVICE_WRITES;
const BOTH = Access.DEVICE_READS | Access.DEVICE_WRITES;
const TOP = 0x7fffffff;

function throwsExactly(fn: () => unknown, type: ErrorConstructor, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof type, `a ${type.name}: ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

function fresh(entries: number, waitMs?: number): { words: Int32Array; m: IommuMapper; table: SharedArrayBuffer } {
  const table = new SharedArrayBuffer(iommuBytes(entries));
  return { table, words: new Int32Array(table), m: new IommuMapper(table, waitMs) };
}

const busyWord = (iova: number): number => (iova & 0xffff) * IOMMU_ENTRY_WORDS + IommuWord.BUSY;

test('iommuBytes: 1 to MAX_IOMMU_ENTRIES whole entries, nothing else', () => {
  assert.equal(iommuBytes(1), IOMMU_ENTRY_BYTES);
  assert.equal(iommuBytes(MAX_IOMMU_ENTRIES), MAX_IOMMU_ENTRIES * IOMMU_ENTRY_BYTES);
  for (const bad of [0, MAX_IOMMU_ENTRIES + 1, 1.5, -1, NaN]) {
    throwsExactly(() => iommuBytes(bad), RangeError, `iommu: entries must be an integer in [1, 65536], got ${bad}`);
  }
});

test('iommuEntries: a SharedArrayBuffer of 1 to MAX_IOMMU_ENTRIES whole entries, nothing else', () => {
  assert.equal(iommuEntries(new SharedArrayBuffer(IOMMU_ENTRY_BYTES)), 1);
  assert.equal(iommuEntries(new SharedArrayBuffer(MAX_IOMMU_ENTRIES * IOMMU_ENTRY_BYTES)), MAX_IOMMU_ENTRIES);
  for (const bytes of [0, IOMMU_ENTRY_BYTES + 1, IOMMU_ENTRY_BYTES - 1, (MAX_IOMMU_ENTRIES + 1) * IOMMU_ENTRY_BYTES]) {
    throwsExactly(() => iommuEntries(new SharedArrayBuffer(bytes)), RangeError,
      `iommu: a table is 1 to 65536 entries of 32 bytes, got ${bytes} bytes`);
  }
  // An ArrayBuffer of a right size is still refused: the device's thread could not share it.
  const notShared = new ArrayBuffer(IOMMU_ENTRY_BYTES) as unknown as SharedArrayBuffer;
  throwsExactly(() => iommuEntries(notShared), TypeError, 'iommu: the table must be a SharedArrayBuffer');
  throwsExactly(() => new IommuMapper(notShared), TypeError, 'iommu: the table must be a SharedArrayBuffer');
});

test('a mapper takes only an empty table: one still holding a mapping, at any index, is refused', () => {
  const { table, m } = fresh(2);
  const a = m.map(0, 4096, BOTH);
  const b = m.map(4096, 4096, BOTH);
  assert.equal(b & 0xffff, 1);
  assert.equal(m.unmap(a), 'done');
  // Only entry 1 holds a mapping now.
  throwsExactly(() => new IommuMapper(table), Error, 'iommu: the table already holds mappings');
  assert.deepEqual(m.unmapAll(), { done: 1, hung: [] });
  const again = new IommuMapper(table);
  assert.equal(again.entries, 2);
  assert.equal(again.mapped, 0);
  const only0 = new SharedArrayBuffer(iommuBytes(3));
  new Int32Array(only0)[IommuWord.IOVA] = 5;
  throwsExactly(() => new IommuMapper(only0), Error, 'iommu: the table already holds mappings');
});

test('map: a non-empty range ending at 2^31 - 1 at most, with DEVICE_READS, DEVICE_WRITES or both', () => {
  const { words, m } = fresh(4);
  const rangeMessage = (offset: number, length: number): string =>
    `iommu: a mapping is a non-empty range below 2^31, got offset ${offset}, length ${length}`;
  for (const [offset, length] of [[TOP - 1, 2], [TOP, 1], [0, TOP + 1], [-1, 1], [0, 0], [0.5, 1], [0, 1.5], [TOP + 1, 0]]) {
    throwsExactly(() => m.map(offset, length, BOTH), RangeError, rangeMessage(offset, length));
  }
  for (const access of [0, 4, 7, -1, 1.5]) {
    throwsExactly(() => m.map(0, 1, access), RangeError, `iommu: access must be DEVICE_READS, DEVICE_WRITES or both, got ${access}`);
  }
  assert.equal(m.mapped, 0, 'a refused map maps nothing');
  // The largest ranges there are: they end at 2^31 - 1 exactly. The device reads them as made.
  const last = m.map(TOP - 1, 1, READS);
  const whole = m.map(0, TOP, WRITES);
  const both = m.map(12, 3, BOTH);
  assert.equal(m.mapped, 3);
  assert.equal(iommuBegin(words, last, 1, READS), TOP - 1);
  iommuEnd(words, last);
  assert.equal(iommuBegin(words, last, 2, READS), -1, 'one byte more than mapped');
  assert.equal(iommuBegin(words, whole, TOP, WRITES), 0);
  iommuEnd(words, whole);
  assert.equal(iommuBegin(words, both, 3, BOTH), 12);
  iommuEnd(words, both);
});

test('iommuBegin: what it accepts and refuses, and BUSY around it', () => {
  const { words, m } = fresh(2);
  const a = m.map(4096, 100, READS);
  const b = m.map(8192, 50, WRITES);
  assert.equal(a & 0xffff, 0);
  const begin = (iova: number, length: number, access: number): number => {
    const at = iommuBegin(words, iova, length, access);
    if (at >= 0) {
      assert.equal(Atomics.load(words, busyWord(iova)), BUSY_IN_TRANSFER, 'inside the transfer');
      iommuEnd(words, iova);
    }
    for (let i = 0; i < 2; i++) assert.equal(words[i * IOMMU_ENTRY_WORDS + IommuWord.BUSY], 0, 'no transfer left marked');
    return at;
  };
  assert.equal(begin(a, 100, READS), 4096, 'the whole length');
  assert.equal(begin(a, 0, READS), 4096, 'length 0');
  assert.equal(begin(a, 101, READS), -1, 'one byte too long');
  assert.equal(begin(a, -1, READS), -1, 'a negative length');
  assert.equal(begin(a, 1, WRITES), -1, 'an access the mapping does not give');
  assert.equal(begin(a, 1, BOTH), -1, 'both, where one is given');
  assert.equal(begin(b, 50, WRITES), 8192);
  assert.equal(begin(b, 50, READS), -1);
  assert.equal(begin(a + (1 << 16), 1, READS), -1, 'another generation');
  assert.equal(begin(a + 0.5, 1, READS), -1, 'a fraction');
  assert.equal(begin(a + 2 ** 32, 1, READS), -1, 'above 2^32, with the same low bits');
  assert.equal(begin(TOP + 1, 1, READS), -1);
  assert.equal(begin(-a, 1, READS), -1);
  assert.equal(begin((1 << 16) | 2, 0, 0), -1, 'index == entries: past the table');
  assert.equal(begin((1 << 16) | 0xffff, 0, 0), -1);
  // Unmapped, entry 0's IOVA word is 0 but its other words still hold the old mapping: iova 0
  // must not name it.
  assert.equal(m.unmap(a), 'done');
  assert.equal(begin(a, 1, READS), -1, 'unmapped');
  assert.equal(begin(0, 1, READS), -1, 'iova 0');
  assert.equal(begin(0, 0, 0), -1, 'iova 0, needing nothing');
  const c = m.map(0, 1, READS);
  assert.equal(c, (2 << 16) | 0, 'index 0 again, generation 2');
  assert.equal(begin(a, 1, READS), -1, 'stale');
  assert.equal(begin(c, 1, READS), 0);
});

test('the highest iova, 0x7fffffff, is a mapping like any other, hung or not; then the generation wraps to 1', () => {
  const { words, m } = fresh(MAX_IOMMU_ENTRIES, 0);
  assert.equal(m.entries, MAX_IOMMU_ENTRIES);
  const first: number[] = [];
  for (let i = 0; i < MAX_IOMMU_ENTRIES; i++) first.push(m.map(i, 1, BOTH));
  assert.ok(first.every((iova, i) => iova === ((1 << 16) | i)), 'indices in order, generation 1');
  assert.equal(m.map(0, 1, BOTH), 0, 'full');
  // Only index 65535 is freed and mapped again, so it alone climbs through the generations.
  let last = first[MAX_IOMMU_ENTRIES - 1];
  for (let gen = 2; gen <= MAX_GENERATION; gen++) {
    if (m.unmap(last) !== 'done') assert.fail(`unmap of ${last}`);
    last = m.map(4096, 512, WRITES);
    if (last !== ((gen << 16) | 0xffff)) assert.fail(`generation ${gen}: ${last}`);
  }
  assert.equal(last, TOP);
  assert.equal(m.mapped, MAX_IOMMU_ENTRIES);
  assert.equal(iommuBegin(words, TOP, 513, WRITES), -1);
  assert.equal(iommuBegin(words, TOP, 512, WRITES), 4096); // the device is inside a transfer, and stays there
  assert.equal(m.unmap(TOP), 'hung');
  assert.equal(m.mapped, MAX_IOMMU_ENTRIES - 1);
  assert.deepEqual(m.hungMappings(), [{ iova: TOP, offset: 4096, length: 512 }]);
  assert.equal(m.map(0, 1, BOTH), 0, 'a hung index is not free');
  assert.equal(m.unmap(TOP), 'hung', 'asked again: still hung');
  assert.deepEqual(m.hungMappings(), [{ iova: TOP, offset: 4096, length: 512 }]);
  iommuEnd(words, TOP);
  assert.equal(m.unmap(TOP), 'done');
  assert.equal(m.unmap(TOP), 'not-mapped');
  assert.deepEqual(m.hungMappings(), []);
  assert.equal(m.map(0, 1, BOTH), (1 << 16) | 0xffff, 'after MAX_GENERATION, generation 1 again');
});

test('hungMappings lists a hung mapping at any index as it was made', () => {
  const { words, m } = fresh(3, 0);
  const a = m.map(100, 10, BOTH);
  const b = m.map(8192, 300, WRITES);
  const c = m.map(16384, 7, READS);
  assert.equal(iommuBegin(words, b, 300, WRITES), 8192);
  assert.equal(m.unmap(b), 'hung', 'waitMs 0: one look');
  assert.deepEqual(m.hungMappings(), [{ iova: b, offset: 8192, length: 300 }]);
  assert.equal(iommuBegin(words, c, 7, READS), 16384);
  assert.deepEqual(m.unmapAll(), { done: 1, hung: [b, c] });
  assert.deepEqual(m.hungMappings(), [{ iova: b, offset: 8192, length: 300 }, { iova: c, offset: 16384, length: 7 }]);
  iommuEnd(words, c);
  assert.deepEqual(m.unmapAll(), { done: 1, hung: [b] });
  iommuEnd(words, b);
  assert.equal(iommuBegin(words, b, 1, WRITES), -1, 'no new transfer through a hung mapping');
  assert.equal(m.unmap(b), 'done');
  assert.deepEqual(m.hungMappings(), []);
  assert.equal(m.unmap(a), 'not-mapped');
});

/** A fake clock: Date.now() stands still except while the kernel sleeps in Atomics.wait, which
 *  returns at once having advanced it by the timeout; `during(n)` runs after the n-th wait. */
function fakeClock(t: TestContext, during: (n: number) => void = () => {}): { waits: () => number[] } {
  let now = 1_000_000;
  const timeouts: number[] = [];
  t.mock.method(Date, 'now', () => now);
  t.mock.method(Atomics, 'wait', ((_words: Int32Array, _index: number, _value: number, timeout: number): string => {
    timeouts.push(timeout);
    if (timeouts.length > 10_000) throw new Error('the kernel keeps waiting after its deadline');
    now += timeout;
    during(timeouts.length);
    return 'timed-out';
  }) as unknown as typeof Atomics.wait);
  return { waits: () => timeouts };
}

test('an unmap the device outstays waits in slices of at most 1 ms, waitMs in all, asking for a notify', (t) => {
  const clock = fakeClock(t);
  const { words, m } = fresh(2, 20);
  const a = m.map(0, 4096, BOTH);
  assert.equal(iommuBegin(words, a, 4096, WRITES), 0);
  assert.equal(m.unmap(a), 'hung');
  assert.deepEqual(clock.waits(), new Array(20).fill(1));
  assert.equal(Atomics.load(words, busyWord(a)), BUSY_WAITED);
  assert.equal(m.unmap(a), 'hung');
  assert.equal(clock.waits().length, 20, 'a hung entry is looked at, not waited for');
});

test('with waitMs 0, or once its deadline has come, an unmap does not wait and asks for no notify', (t) => {
  const clock = fakeClock(t);
  const { words, m } = fresh(2, 0);
  const a = m.map(0, 4096, BOTH);
  assert.equal(iommuBegin(words, a, 4096, WRITES), 0);
  assert.equal(m.unmap(a), 'hung');
  assert.deepEqual(clock.waits(), []);
  assert.equal(Atomics.load(words, busyWord(a)), BUSY_IN_TRANSFER, 'not waited for');
  assert.deepEqual(m.unmapAll(), { done: 0, hung: [a] });
  assert.deepEqual(clock.waits(), []);
});

test('unmapAll waits waitMs in all, however many transfers it waits for', (t) => {
  const clock = fakeClock(t);
  const { words, m } = fresh(4, 10);
  const iovas = [0, 1, 2, 3].map((i) => m.map(i * 4096, 4096, BOTH));
  for (const iova of iovas.slice(1, 3)) Atomics.store(words, busyWord(iova), BUSY_IN_TRANSFER);
  assert.deepEqual(m.unmapAll(), { done: 2, hung: iovas.slice(1, 3) });
  assert.deepEqual(clock.waits(), new Array(10).fill(1));
});

test('iommuEnd notifies exactly when the kernel waits for the transfer: one that ends during the wait wakes it', (t) => {
  const notify = t.mock.method(Atomics, 'notify');
  const { words, m: waited } = fresh(2, 1000);
  const a = waited.map(0, 4096, BOTH);
  assert.equal(iommuBegin(words, a, 4096, READS), 0);
  const clock = fakeClock(t, (n) => {
    if (n === 5) iommuEnd(words, a); // the device's transfer ends while the kernel sleeps
  });
  assert.equal(waited.unmap(a), 'done');
  assert.equal(clock.waits().length, 5);
  assert.equal(notify.mock.callCount(), 1);
  assert.deepEqual(notify.mock.calls[0].arguments, [words, busyWord(a)]);
  assert.equal(Atomics.load(words, busyWord(a)), 0);
  // A transfer not waited for, and one refused, cost no notify.
  const b = waited.map(0, 4096, BOTH);
  assert.equal(iommuBegin(words, b, 4096, READS), 0);
  iommuEnd(words, b);
  assert.equal(iommuBegin(words, b, 4097, READS), -1);
  assert.equal(notify.mock.callCount(), 1);
  assert.equal(waited.unmap(b), 'done');
  assert.equal(clock.waits().length, 5, 'nothing to wait for');
});

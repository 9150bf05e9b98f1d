// The NVMe-like device model. Data: round trips through the write cache and FLUSH (512- and
// 4096-byte blocks), write-back between transfers (never inside one), error statuses for bad
// commands (after which the device keeps working), in-order completion of more commands than a
// queue holds, phase bits across wraps, sleeping and waking, stop() leaving no thread. IOMMU:
// unmapped, stale and forged iovas and wrong access or length refused without touching memory,
// unmap waiting out a transfer in progress, unmapAll, hung transfers (reported, never reused,
// one bounded wait per unmapAll).
// Admin queue: creating and deleting I/O queues (pending commands dropped), bad qids, opcodes on
// the wrong kind of queue, two queues served round robin and each in order. Controller reset:
// queued commands never run or complete after reset() returns, the write cache survives, FATAL is
// left by a reset, the driver's mirror of status and identify, and a reset that nothing written
// into the queue memory can slow down or defeat. Interrupts: coalescing by count and by time,
// masked queues, onInterrupt. Power cuts (at command N, at a seeded random command, on demand)
// against a model of what must be durable; disk images: round trip across devices, and I/O errors
// completing with MEDIA_ERROR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runModule } from '../../../test/child.ts';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom, startNvme, type Keep, type NvmeDevice, type NvmeOptions, type PowerReport } from './nvme.ts';
import {
  ARBITRATION_BURST, AdminOpcode, Control, Cqe, DeviceStatus, MAX_COALESCE_US, Opcode, QueueReg, Reg, Sleeping, Status,
  cqeOffset, queueReg, word, type Command, type Completion, type QueuePair,
} from '../common/nvme.ts';
import { Access, BUSY_IN_TRANSFER, IOMMU_ENTRY_WORDS, IommuMapper, IommuWord, MAX_GENERATION, iommuBytes, iommuEnd } from '../common/iommu.ts';

const BOTH = Access.DEVICE_READS | Access.DEVICE_WRITES;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A device, the kernel's IOMMU mapper for it, and I/O queue 1 (created unless `create` is false). */
interface Rig {
  dev: NvmeDevice;
  mmu: IommuMapper;
  io: QueuePair;
  dma: Uint8Array;
  /** an iova for [offset, offset + length) of the DMA area, readable and writable (made once per range) */
  buf(offset: number, length: number): number;
}

function rig(o: Partial<NvmeOptions> = {}, create = true): Rig {
  const iommu = o.iommu ?? new SharedArrayBuffer(iommuBytes(256));
  const dev = startNvme({ blocks: 256, blockSize: 4096, dma: new SharedArrayBuffer(1 << 20), queueEntries: 8, ...o, iommu });
  const mmu = new IommuMapper(iommu);
  const maps = new Map<string, number>();
  const buf = (offset: number, length: number): number => {
    const key = `${offset}+${length}`;
    let iova = maps.get(key);
    if (iova === undefined) maps.set(key, iova = mmu.map(offset, length, BOTH));
    return iova;
  };
  if (create) assert.equal(dev.createIoQueue(1), Status.SUCCESS);
  return { dev, mmu, io: dev.queue(1), dma: new Uint8Array(dev.dma), buf };
}

/** A command with defaults: one block at LBA 0, its buffer `at` bytes into the DMA area (mapped for it). */
type Cmd = Partial<Command> & { opcode: number; at?: number };

function command(r: Rig, c: Cmd): Command {
  const { at = 0, ...rest } = c;
  const count = c.count ?? 1;
  const bufLength = c.bufLength ?? count * r.dev.blockSize;
  const bufIova = c.bufIova ?? (c.opcode === Opcode.FLUSH ? 0 : r.buf(at, Math.max(bufLength, 1)));
  return { cid: 7, lba: 0, count, bufLength, ...rest, bufIova };
}

/** Spins (polling, as a driver does) until the next completion on `q` arrives. */
function next(q: QueuePair, ms = 2000): Completion {
  const deadline = Date.now() + ms;
  for (;;) {
    const c = q.poll();
    if (c) return c;
    if (Date.now() > deadline) throw new Error(`no completion on queue ${q.q} within ${ms} ms (device status ${q.deviceStatus()})`);
  }
}

function run(r: Rig, c: Cmd, q = r.io): Completion {
  const cmd = command(r, c);
  assert.equal(q.submit(cmd), Status.SUCCESS);
  const done = next(q);
  assert.equal(done.cid, cmd.cid);
  return done;
}

/** Waits (yielding) until `cond` holds. */
async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

const words = (dev: NvmeDevice): Int32Array => new Int32Array(dev.memory);

// ---- data

for (const blockSize of [512, 4096]) {
  test(`write then read back random blocks (${blockSize}-byte blocks)`, async () => {
    const r = rig({ blockSize });
    try {
      const half = r.dma.length / 2;
      for (let i = 0; i < 40; i++) {
        const count = 1 + (i % 4);
        const lba = Math.floor(Math.random() * (r.dev.blocks - count));
        const bytes = count * blockSize;
        r.dma.set(randomBytes(bytes), 0);
        const want = sha(r.dma.subarray(0, bytes));
        assert.equal(run(r, { opcode: Opcode.WRITE, cid: i, lba, count }).status, Status.SUCCESS);
        if (i % 3 === 0) assert.equal(run(r, { opcode: Opcode.FLUSH, cid: i }).status, Status.SUCCESS);
        r.dma.fill(0, half, half + bytes);
        const done = run(r, { opcode: Opcode.READ, cid: i, lba, count, at: half });
        assert.deepEqual([done.status, done.result], [Status.SUCCESS, bytes]);
        assert.equal(sha(r.dma.subarray(half, half + bytes)), want, `blocks ${lba}+${count}`);
      }
    } finally {
      await r.dev.stop();
    }
  });
}

test('the write cache serves reads; data is durable only after FLUSH', async () => {
  const r = rig();
  try {
    const data = randomBytes(2 * 4096);
    r.dma.set(data, 0);
    assert.equal(run(r, { opcode: Opcode.WRITE, lba: 10, count: 2 }).status, Status.SUCCESS);
    const durable = (): Uint8Array => r.dev.storage.subarray(10 * 4096, 12 * 4096);
    assert.ok(durable().every((b) => b === 0), 'a write is not durable before FLUSH');
    assert.equal(run(r, { opcode: Opcode.READ, lba: 10, count: 2, at: 65536 }).status, Status.SUCCESS);
    assert.deepEqual(r.dma.subarray(65536, 65536 + data.length), new Uint8Array(data), 'the cache serves the read');
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    assert.deepEqual(durable(), new Uint8Array(data), 'FLUSH commits the cache');
  } finally {
    await r.dev.stop();
  }
});

test('a full write cache writes back on its own, and reads still see the newest data', async () => {
  const r = rig({ cacheBlocks: 2 });
  try {
    for (let lba = 0; lba < 5; lba++) {
      r.dma.fill(lba + 1, 0, 4096);
      assert.equal(run(r, { opcode: Opcode.WRITE, lba }).status, Status.SUCCESS);
    }
    assert.equal(r.dev.storage[0], 1, 'written back when the cache filled');
    for (let lba = 0; lba < 5; lba++) {
      assert.equal(run(r, { opcode: Opcode.READ, lba, at: 8192 }).status, Status.SUCCESS);
      assert.ok(r.dma.subarray(8192, 8192 + 4096).every((b) => b === lba + 1), `block ${lba}`);
    }
  } finally {
    await r.dev.stop();
  }
});

test('a WRITE larger than the write cache moves in several transfers, writing back between them', async () => {
  const r = rig({ cacheBlocks: 4 });
  try {
    const data = randomBytes(10 * 4096);
    r.dma.set(data, 0);
    const done = run(r, { opcode: Opcode.WRITE, lba: 20, count: 10 });
    assert.deepEqual([done.status, done.result], [Status.SUCCESS, data.length]);
    assert.deepEqual(r.dev.storage.subarray(20 * 4096, 28 * 4096), new Uint8Array(data.subarray(0, 8 * 4096)), 'the first two transfers written back');
    assert.ok(r.dev.storage.subarray(28 * 4096, 30 * 4096).every((b) => b === 0), 'the last one still cached');
    assert.equal(run(r, { opcode: Opcode.READ, lba: 20, count: 10, at: 65536 }).status, Status.SUCCESS);
    assert.deepEqual(r.dma.subarray(65536, 65536 + data.length), new Uint8Array(data));
  } finally {
    await r.dev.stop();
  }
});

test('a full write cache is written back before a WRITE\'s transfer begins, never inside it (an unmap never waits for it)', async () => {
  const n = 256;
  let seen = false;
  for (let attempt = 0; attempt < 40 && !seen; attempt++) { // (the main thread must be running during a transfer: on a loaded machine, it may take many tries)
    const r = rig({ blocks: 4 * n, cacheBlocks: n, dma: new SharedArrayBuffer(2 * n * 4096) });
    try {
      r.dma.fill(0x11, 0, n * 4096);
      assert.equal(run(r, { opcode: Opcode.WRITE, lba: 0, count: n }).status, Status.SUCCESS);
      const storage = r.dev.storage; // memory storage: a live view
      assert.equal(storage[0], 0, 'the cache is full, and nothing is written back yet');
      r.dma.fill(0x22, n * 4096, 2 * n * 4096);
      const iova = r.mmu.map(n * 4096, n * 4096, Access.DEVICE_READS);
      const table = new Int32Array(r.dev.iommu);
      const busy = (iova & 0xffff) * IOMMU_ENTRY_WORDS + IommuWord.BUSY;
      const events = r.io.events();
      assert.equal(r.io.submit({ opcode: Opcode.WRITE, cid: 1, lba: n, count: n, bufIova: iova, bufLength: n * 4096 }), Status.SUCCESS);
      // Watch for the transfer; the moment it has begun, the write-back must be over.
      const deadline = Date.now() + 2000;
      while (r.io.events() === events && Date.now() < deadline) {
        if (Atomics.load(table, busy) === 0) continue;
        seen = true;
        assert.deepEqual([storage[0], storage[(n - 1) * 4096 + 4095]], [0x11, 0x11], 'written back before the transfer began');
        break;
      }
      assert.equal(next(r.io).status, Status.SUCCESS);
      assert.equal(run(r, { opcode: Opcode.READ, lba: n, at: 0 }).status, Status.SUCCESS);
      assert.equal(r.dma[0], 0x22);
    } finally {
      await r.dev.stop();
    }
  }
  assert.ok(seen, 'the transfer was seen in progress');
});

test('bad commands complete with their error status and the device keeps working', async () => {
  const r = rig({ blocks: 16 });
  try {
    const dmaBytes = r.dev.dma.byteLength;
    const cases: [Cmd, number][] = [
      [{ opcode: 9 }, Status.INVALID_OPCODE],
      [{ opcode: 0 }, Status.INVALID_OPCODE],
      [{ opcode: AdminOpcode.IDENTIFY }, Status.INVALID_OPCODE],
      [{ opcode: AdminOpcode.CREATE_IO_QUEUE, lba: 2, count: 1 }, Status.INVALID_OPCODE],
      [{ opcode: Opcode.READ, lba: 16 }, Status.LBA_OUT_OF_RANGE],
      [{ opcode: Opcode.WRITE, lba: 15, count: 2 }, Status.LBA_OUT_OF_RANGE],
      [{ opcode: Opcode.READ, lba: 2 ** 32 }, Status.LBA_OUT_OF_RANGE],
      [{ opcode: Opcode.READ, count: 0 }, Status.INVALID_FIELD],
      [{ opcode: Opcode.READ, at: dmaBytes }, Status.BAD_BUFFER],
      [{ opcode: Opcode.WRITE, at: dmaBytes - 100 }, Status.BAD_BUFFER],
      [{ opcode: Opcode.WRITE, bufLength: 4095 }, Status.BAD_BUFFER],
      [{ opcode: Opcode.READ, count: 2, bufLength: 4096 }, Status.BAD_BUFFER],
      [{ opcode: Opcode.READ, bufIova: 2 ** 32 - 1 }, Status.BAD_BUFFER],
    ];
    for (const [c, want] of cases) {
      const done = run(r, c);
      assert.deepEqual([done.status, done.result], [want, 0], JSON.stringify(c));
    }
    r.dma.fill(0xab, 0, 4096);
    assert.equal(run(r, { opcode: Opcode.WRITE, lba: 15 }).status, Status.SUCCESS);
    assert.equal(run(r, { opcode: Opcode.READ, lba: 15, at: 4096 }).status, Status.SUCCESS);
    assert.equal(r.dma[4096 + 4095], 0xab);
    assert.equal(r.dev.status(), DeviceStatus.READY);
    assert.equal(r.dev.error, null);
  } finally {
    await r.dev.stop();
  }
});

test('more commands than the queue holds all complete, in order, with phase bits wrapping', async () => {
  const entries = 4;
  const r = rig({ queueEntries: entries });
  try {
    const total = 103;
    const view = new DataView(r.dev.memory);
    const phaseOf = (slot: number): number => view.getUint32(cqeOffset(entries, 1, slot) + Cqe.STATUS, true) & 1;
    let submitted = 0;
    let completed = 0;
    let sawFull = false;
    while (completed < total) {
      while (submitted < total) {
        const s = r.io.submit(command(r, { opcode: Opcode.READ, cid: submitted, lba: submitted % r.dev.blocks, at: (submitted % 8) * 4096 }));
        if (s === Status.QUEUE_FULL) { sawFull = true; break; }
        assert.equal(s, Status.SUCCESS);
        submitted++;
      }
      assert.ok(r.io.inFlight <= entries - 1);
      const c = next(r.io);
      assert.deepEqual([c.cid, c.status], [completed, Status.SUCCESS]);
      completed++;
      // The slot just consumed was posted on pass floor((completed - 1) / entries): phase 1 on even passes.
      const slot = (completed - 1) % entries;
      assert.equal(phaseOf(slot), Math.floor((completed - 1) / entries) % 2 === 0 ? 1 : 0, `phase of slot ${slot} after ${completed}`);
    }
    assert.ok(sawFull, 'submit reports QUEUE_FULL once entries - 1 commands are outstanding');
    assert.equal(r.io.poll(), null);
    assert.equal(r.io.events(), total, 'one event per completion');
  } finally {
    await r.dev.stop();
  }
});

test('a batch rings the doorbell once; an idle device sleeps on it and wakes for the batch', async () => {
  const r = rig({ idleSpin: 10, queueEntries: 64 });
  try {
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    await until(() => Atomics.load(words(r.dev), word(Reg.SLEEPING)) === Sleeping.IDLE, 'the device to go idle');
    await sleep(30);
    for (let i = 0; i < 32; i++) assert.equal(r.io.enqueue(command(r, { opcode: Opcode.READ, cid: i, lba: i, at: i * 4096 })), Status.SUCCESS);
    await sleep(30);
    assert.equal(r.io.poll(), null, 'enqueued commands wait for the doorbell');
    const bell = Atomics.load(words(r.dev), word(Reg.DOORBELL));
    r.io.ring();
    assert.equal(Atomics.load(words(r.dev), word(Reg.DOORBELL)), bell + 1, 'one doorbell for the batch');
    for (let i = 0; i < 32; i++) assert.deepEqual([next(r.io).cid, i], [i, i]);
  } finally {
    await r.dev.stop();
  }
});

// ---- IOMMU

test('the IOMMU mapper: iovas, a full table, stale and forged iovas, argument checks', () => {
  assert.throws(() => new IommuMapper(new SharedArrayBuffer(40)), RangeError);
  assert.throws(() => new IommuMapper(new SharedArrayBuffer(0)), RangeError);
  assert.throws(() => iommuBytes(65537), RangeError);
  const m = new IommuMapper(new SharedArrayBuffer(iommuBytes(2)));
  assert.throws(() => m.map(-1, 10, BOTH), RangeError);
  assert.throws(() => m.map(0, 0, BOTH), RangeError);
  assert.throws(() => m.map(0, 10, 4), RangeError);
  assert.throws(() => m.map(0, 10, 0), RangeError);
  const a = m.map(0, 4096, Access.DEVICE_READS);
  const b = m.map(4096, 4096, Access.DEVICE_WRITES);
  assert.ok(a > 0 && b > 0 && a !== b);
  assert.equal(m.map(8192, 4096, BOTH), 0, 'a full table');
  assert.equal(m.mapped, 2);
  assert.equal(m.unmap(a), 'done');
  assert.equal(m.unmap(a), 'not-mapped', 'twice');
  assert.equal(m.unmap(b + (1 << 16)), 'not-mapped', 'another generation');
  assert.equal(m.unmap(0), 'not-mapped');
  assert.equal(m.unmap(7), 'not-mapped', 'an index past the table');
  const c = m.map(0, 4096, BOTH);
  assert.equal(c & 0xffff, a & 0xffff, 'the freed index is reused');
  assert.notEqual(c, a, 'with a new generation');
  assert.equal(m.unmap(a), 'not-mapped', 'the stale iova names nothing');
  assert.equal(m.mapped, 2);
  // Generations wrap after MAX_GENERATION remaps, never to 0: every iova stays positive.
  const one = new IommuMapper(new SharedArrayBuffer(iommuBytes(1)));
  const seen = new Set<number>();
  for (let i = 0; i < MAX_GENERATION + 2; i++) {
    const iova = one.map(0, 1, BOTH);
    assert.ok(iova > 0);
    seen.add(iova);
    assert.equal(one.unmap(iova), 'done');
  }
  assert.equal(seen.size, MAX_GENERATION);
});

test('the device refuses unmapped, stale and forged iovas with BAD_BUFFER and touches no memory', async () => {
  const r = rig({ iommu: new SharedArrayBuffer(iommuBytes(1)) });
  try {
    r.dev.storage.fill(0xab, 0, 4096);
    const read = (bufIova: number): number => run(r, { opcode: Opcode.READ, bufIova }).status;
    const first = r.mmu.map(0, 4096, BOTH);
    assert.equal(read(first), Status.SUCCESS);
    assert.equal(r.dma[0], 0xab);
    r.dma.fill(0);
    assert.equal(r.mmu.unmap(first), 'done');
    assert.equal(read(first), Status.BAD_BUFFER, 'unmapped');
    const second = r.mmu.map(0, 4096, BOTH);
    assert.equal(second & 0xffff, first & 0xffff, 'the one entry, remapped');
    const forged = [first, second + (1 << 16), (second & 0x7fff0000) | 1, 0, 0xffff, 2 ** 31];
    for (const iova of forged) assert.equal(read(iova), Status.BAD_BUFFER, `iova ${iova}`);
    assert.ok(r.dma.every((b) => b === 0), 'no refused READ wrote memory');
    r.dma.fill(0x11, 0, 4096);
    assert.equal(run(r, { opcode: Opcode.WRITE, lba: 1, bufIova: first }).status, Status.BAD_BUFFER);
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    assert.ok(r.dev.storage.subarray(4096, 8192).every((b) => b === 0), 'no refused WRITE read memory');
    assert.equal(read(second), Status.SUCCESS, 'the current iova works');
    assert.equal(r.dma[0], 0xab);
  } finally {
    await r.dev.stop();
  }
});

test('the IOMMU enforces access and length: READ needs DEVICE_WRITES, WRITE needs DEVICE_READS', async () => {
  const r = rig();
  try {
    r.dev.storage.fill(0xcd, 0, 8192);
    const toDevice = r.mmu.map(0, 4096, Access.DEVICE_READS);
    const fromDevice = r.mmu.map(4096, 4096, Access.DEVICE_WRITES);
    assert.equal(run(r, { opcode: Opcode.READ, bufIova: toDevice }).status, Status.BAD_BUFFER);
    assert.ok(r.dma.subarray(0, 4096).every((b) => b === 0), 'a READ into a DEVICE_READS mapping wrote nothing');
    r.dma.fill(0x22, 4096, 8192);
    assert.equal(run(r, { opcode: Opcode.WRITE, lba: 1, bufIova: fromDevice }).status, Status.BAD_BUFFER);
    assert.equal(run(r, { opcode: Opcode.READ, lba: 1, bufIova: fromDevice }).status, Status.SUCCESS);
    assert.ok(r.dma.subarray(4096, 8192).every((b) => b === 0xcd), 'the refused WRITE did not reach the block');
    r.dma.fill(0x33, 0, 4096);
    assert.equal(run(r, { opcode: Opcode.WRITE, lba: 2, bufIova: toDevice }).status, Status.SUCCESS);
    assert.equal(run(r, { opcode: Opcode.READ, count: 2, bufLength: 8192, bufIova: fromDevice }).status, Status.BAD_BUFFER,
      'a mapping shorter than the transfer');
    assert.equal(run(r, { opcode: Opcode.READ, bufLength: 4097, bufIova: fromDevice }).status, Status.BAD_BUFFER,
      'a mapping shorter than the buffer the command names');
    assert.equal(run(r, { opcode: Opcode.READ, lba: 2, bufIova: fromDevice }).status, Status.SUCCESS);
    assert.ok(r.dma.subarray(4096, 8192).every((b) => b === 0x33));
  } finally {
    await r.dev.stop();
  }
});

test('unmap waits until a transfer in progress through the mapping is over', async () => {
  const blocks = 4096;
  const r = rig({ blocks, dma: new SharedArrayBuffer(blocks * 4096) });
  try {
    r.dev.storage.fill(0xab);
    const iova = r.mmu.map(0, r.dma.length, Access.DEVICE_WRITES);
    assert.equal(r.io.submit({ opcode: Opcode.READ, cid: 1, lba: 0, count: blocks, bufIova: iova, bufLength: r.dma.length }), Status.SUCCESS);
    // (the first byte copied, not the BUSY word: the device sets BUSY before it checks the mapping,
    // so an unmap that saw BUSY alone may still come first, and the command is then refused)
    const deadline = Date.now() + 2000;
    while (Atomics.load(r.dma, 0) !== 0xab) if (Date.now() > deadline) throw new Error('the transfer never started');
    assert.equal(r.mmu.unmap(iova), 'done');
    // Zero from the end down: the device copies upwards, so a device still copying would cross it.
    for (let end = r.dma.length; end > 0; end -= 65536) r.dma.fill(0, end - 65536, end);
    const done = next(r.io);
    assert.equal(done.status, Status.SUCCESS, 'the transfer had begun before the unmap');
    await sleep(10);
    assert.ok(r.dma.every((b) => b === 0), 'the device wrote nothing after unmap returned');
    assert.equal(run(r, { opcode: Opcode.READ, bufIova: iova }).status, Status.BAD_BUFFER);
  } finally {
    await r.dev.stop();
  }
});

test('unmapAll removes every mapping and the indices are reused', async () => {
  const r = rig({ iommu: new SharedArrayBuffer(iommuBytes(4)) });
  try {
    const iovas = [0, 1, 2, 3].map((i) => r.mmu.map(i * 4096, 4096, BOTH));
    assert.equal(r.mmu.map(0, 1, BOTH), 0);
    assert.deepEqual(r.mmu.unmapAll(), { done: 4, hung: [] });
    assert.equal(r.mmu.mapped, 0);
    for (const iova of iovas) assert.equal(run(r, { opcode: Opcode.READ, bufIova: iova }).status, Status.BAD_BUFFER);
    assert.deepEqual(r.mmu.unmapAll(), { done: 0, hung: [] });
    const again = r.mmu.map(0, 4096, BOTH);
    assert.ok(again > 0 && !iovas.includes(again));
    assert.equal(run(r, { opcode: Opcode.READ, bufIova: again }).status, Status.SUCCESS);
  } finally {
    await r.dev.stop();
  }
});

test('an unmap the device outstays reports the mapping hung; its index is reused only once a later look finds the transfer over', () => {
  const table = new SharedArrayBuffer(iommuBytes(2));
  const t = new Int32Array(table);
  const m = new IommuMapper(table, 30);
  const busy = (iova: number): number => (iova & 0xffff) * IOMMU_ENTRY_WORDS + IommuWord.BUSY;
  const a = m.map(0, 4096, BOTH);
  const b = m.map(4096, 4096, BOTH);
  Atomics.store(t, busy(a), BUSY_IN_TRANSFER); // the device is inside a transfer through a, and stays there
  let t0 = performance.now();
  assert.equal(m.unmap(a), 'hung');
  assert.ok(performance.now() - t0 >= 25, 'it waited for the transfer first');
  assert.equal(Atomics.load(t, (a & 0xffff) * IOMMU_ENTRY_WORDS + IommuWord.IOVA), 0, 'no new transfer can start through it');
  assert.equal(m.mapped, 1);
  assert.deepEqual(m.hungMappings(), [{ iova: a, offset: 0, length: 4096 }]);
  t0 = performance.now();
  assert.equal(m.unmap(a), 'hung', 'asked again: still hung');
  assert.ok(performance.now() - t0 < 10, 'a hung entry is looked at, not waited for again');
  assert.equal(m.unmap(b), 'done');
  const c = m.map(8192, 4096, BOTH);
  assert.equal(c & 0xffff, b & 0xffff, 'the free index, not the hung one');
  assert.equal(m.map(0, 1, BOTH), 0, 'the hung entry is not free: the table is full');
  assert.deepEqual(m.unmapAll(), { done: 1, hung: [a] });
  iommuEnd(t, a); // the transfer ends at last
  assert.equal(m.unmap(a), 'done', 'a later look frees it');
  assert.equal(m.unmap(a), 'not-mapped');
  assert.deepEqual(m.hungMappings(), []);
  const d = [m.map(0, 1, BOTH), m.map(0, 1, BOTH)];
  assert.ok(d.every((iova) => iova > 0) && !d.includes(a), 'both indices are free again, with new generations');
});

test('unmapAll never throws and waits UNMAP_WAIT_MS in all, however many transfers hang', () => {
  const table = new SharedArrayBuffer(iommuBytes(8));
  const t = new Int32Array(table);
  const m = new IommuMapper(table, 100);
  const iovas = [0, 1, 2, 3, 4, 5].map((i) => m.map(i * 4096, 4096, BOTH));
  const stuck = iovas.slice(0, 4);
  for (const iova of stuck) Atomics.store(t, (iova & 0xffff) * IOMMU_ENTRY_WORDS + IommuWord.BUSY, BUSY_IN_TRANSFER);
  let t0 = performance.now();
  assert.deepEqual(m.unmapAll(), { done: 2, hung: stuck });
  const ms = performance.now() - t0;
  assert.ok(ms >= 90 && ms < 250, `one wait for all four, not one each (${ms.toFixed(0)} ms)`);
  assert.equal(m.mapped, 0);
  t0 = performance.now();
  assert.deepEqual(m.unmapAll(), { done: 0, hung: stuck }, 'still reported, without another wait');
  assert.ok(performance.now() - t0 < 20);
  for (const iova of stuck.slice(0, 2)) iommuEnd(t, iova);
  assert.deepEqual(m.unmapAll(), { done: 2, hung: stuck.slice(2) });
  assert.equal(Array.from({ length: 6 }, () => m.map(0, 1, BOTH)).filter((iova) => iova > 0).length, 6, 'the other six entries are free');
  assert.equal(m.map(0, 1, BOTH), 0, 'the two hung ones are not');
});

// ---- the admin queue

test('admin: IDENTIFY, creating and deleting I/O queues, bad qids and misplaced opcodes', async () => {
  const r = rig({ maxQueues: 3 }, false);
  try {
    const admin = r.dev.queue(0);
    assert.deepEqual([r.dev.admin({ opcode: AdminOpcode.IDENTIFY, cid: 1, lba: 0, count: 0, bufIova: 0, bufLength: 0 }).result], [4096]);
    for (const q of [0, 3, 2 ** 31]) assert.equal(r.dev.createIoQueue(q), Status.INVALID_FIELD, `qid ${q}`);
    assert.equal(r.dev.createIoQueue(1, 0), Status.INVALID_FIELD, 'threshold 0');
    assert.equal(r.dev.createIoQueue(1, 1, MAX_COALESCE_US + 1), Status.INVALID_FIELD, 'coalescing time too long');
    assert.equal(r.dev.deleteIoQueue(1), Status.INVALID_FIELD, 'not created');
    assert.equal(r.dev.createIoQueue(1), Status.SUCCESS);
    assert.equal(r.dev.createIoQueue(1), Status.INVALID_FIELD, 'created already');
    assert.equal(r.dev.admin(command(r, { opcode: Opcode.READ })).status, Status.INVALID_OPCODE, 'I/O on the admin queue');
    assert.equal(r.dev.admin(command(r, { opcode: Opcode.FLUSH })).status, Status.INVALID_OPCODE);
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    assert.equal(r.dev.deleteIoQueue(1), Status.SUCCESS);
    assert.equal(r.dev.deleteIoQueue(1), Status.INVALID_FIELD, 'deleted already');
    assert.equal(r.dev.createIoQueue(2), Status.SUCCESS);
    assert.equal(run(r, { opcode: Opcode.FLUSH }, r.dev.queue(2)).status, Status.SUCCESS);
    assert.equal(r.dev.createIoQueue(1), Status.SUCCESS, 'a deleted queue can be created again');
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS, 'and starts fresh (heads 0, phase 1)');
    assert.equal(admin.inFlight, 0);
    assert.equal(r.dev.status(), DeviceStatus.READY);
  } finally {
    await r.dev.stop();
  }
});

test('deleting a queue drops its pending commands: a prefix ran, the rest never runs nor completes', async () => {
  const n = 31;
  // (1 ms a command: the delete lands within the first few, whatever the load on the machine)
  const r = rig({ blocks: 512, queueEntries: 32, dma: new SharedArrayBuffer(n * 65536), latencyUs: 1000 });
  try {
    for (let i = 0; i < n; i++) {
      r.dma.fill(i + 1, i * 65536, (i + 1) * 65536);
      assert.equal(r.io.enqueue(command(r, { opcode: Opcode.WRITE, cid: i, lba: i * 16, count: 16, at: i * 65536 })), Status.SUCCESS);
    }
    r.io.ring();
    const started = Date.now() + 2000;
    while (Atomics.load(words(r.dev), word(queueReg(1, QueueReg.SQ_HEAD))) === 0) assert.ok(Date.now() < started, 'the device starts');
    assert.equal(r.dev.deleteIoQueue(1), Status.SUCCESS);
    await sleep(20);
    assert.equal(r.io.poll(), null, 'the deleted queue posts nothing');
    assert.equal(r.dev.createIoQueue(1), Status.SUCCESS);
    const ran: boolean[] = [];
    for (let i = 0; i < n; i++) {
      assert.equal(run(r, { opcode: Opcode.READ, lba: i * 16, at: 0 }).status, Status.SUCCESS);
      ran.push(r.dma[0] === i + 1);
    }
    const k = ran.indexOf(false);
    assert.ok(k >= 1 && k < n, `the commands before the delete ran (${k} of ${n})`);
    assert.ok(ran.slice(k).every((x) => !x), 'the rest were dropped, in order');
  } finally {
    await r.dev.stop();
  }
});

test('two I/O queues are served round robin, ARBITRATION_BURST at a time, each in order', async () => {
  const k = 32;
  const r = rig({ blockSize: 512, queueEntries: 64, idleSpin: 0 });
  try {
    assert.equal(r.dev.createIoQueue(2), Status.SUCCESS);
    const q1 = r.io;
    const q2 = r.dev.queue(2);
    // q1 writes block 0 := i + 1 for i < k; q2 reads block 0 k times: each read shows how many writes preceded it.
    for (let i = 0; i < k; i++) {
      r.dma.fill(i + 1, i * 512, (i + 1) * 512);
      assert.equal(q1.enqueue(command(r, { opcode: Opcode.WRITE, cid: i, at: i * 512 })), Status.SUCCESS);
      assert.equal(q2.enqueue(command(r, { opcode: Opcode.READ, cid: i, at: (k + i) * 512 })), Status.SUCCESS);
    }
    await until(() => Atomics.load(words(r.dev), word(Reg.SLEEPING)) === Sleeping.IDLE, 'the device to sleep');
    await sleep(5);
    // Both tails before one doorbell, so the device sees both queues full when it wakes.
    Atomics.store(words(r.dev), word(queueReg(1, QueueReg.SQ_TAIL)), k);
    Atomics.store(words(r.dev), word(queueReg(2, QueueReg.SQ_TAIL)), k);
    q1.ring();
    q2.ring();
    for (let i = 0; i < k; i++) {
      assert.deepEqual([next(q1).cid, next(q2).cid], [i, i], 'each queue completes in order');
    }
    const seen = Array.from({ length: k }, (_, i) => r.dma[(k + i) * 512]);
    const want = seen.map((_, i) => ARBITRATION_BURST * (Math.floor(i / ARBITRATION_BURST) + 1));
    assert.deepEqual(seen, want, 'bursts alternate between the queues');
  } finally {
    await r.dev.stop();
  }
});

// ---- doorbells and controller reset

test('a doorbell out of range makes the device FATAL without killing its thread; a reset recovers it', async () => {
  const r = rig();
  try {
    Atomics.store(words(r.dev), word(queueReg(1, QueueReg.SQ_TAIL)), 1000);
    Atomics.add(words(r.dev), word(Reg.DOORBELL), 1);
    Atomics.notify(words(r.dev), word(Reg.DOORBELL));
    await until(() => r.dev.status() === DeviceStatus.FATAL, 'FATAL');
    assert.equal(r.dev.error, null);
    assert.equal(r.dev.reset(), true);
    assert.equal(r.dev.status(), DeviceStatus.READY);
    assert.equal(r.dev.createIoQueue(1), Status.SUCCESS);
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    // A doorbell of a queue that was never created is a driver bug too.
    Atomics.store(words(r.dev), word(queueReg(3, QueueReg.SQ_TAIL)), 1);
    Atomics.add(words(r.dev), word(Reg.DOORBELL), 1);
    Atomics.notify(words(r.dev), word(Reg.DOORBELL));
    await until(() => r.dev.status() === DeviceStatus.FATAL, 'FATAL after a stray doorbell');
  } finally {
    await r.dev.stop();
  }
  assert.equal(r.dev.status(), DeviceStatus.STOPPED);
});

test('after reset() returns true, commands submitted before it never run, DMA or complete', async () => {
  const MiB = 1 << 20;
  const r = rig({ blocks: 1024, queueEntries: 64, dma: new SharedArrayBuffer(4 * MiB) });
  try {
    r.dev.storage.fill(0xcd);
    const iova = r.mmu.map(0, MiB, Access.DEVICE_WRITES);
    for (let i = 0; i < 63; i++) assert.equal(r.io.enqueue({ opcode: Opcode.READ, cid: i, lba: 0, count: 256, bufIova: iova, bufLength: MiB }), Status.SUCCESS);
    const intr = r.dev.interrupts();
    const resets = r.dev.resets();
    r.io.ring();
    assert.equal(r.dev.reset(), true);
    const ranBefore = r.dev.interrupts() - intr;
    r.dma.fill(0);
    assert.ok(ranBefore < 63, `some commands were still queued at the reset (${ranBefore} ran)`);
    assert.equal(r.dev.resets(), resets + 1);
    assert.equal(r.dev.status(), DeviceStatus.READY);
    await sleep(50);
    assert.ok(r.dma.every((b) => b === 0), 'no DMA after reset() returned');
    assert.equal(r.io.poll(), null, 'no completion after reset() returned');
    assert.equal(r.io.inFlight, 0);
    assert.equal(run(r, { opcode: Opcode.READ, bufIova: iova }, r.dev.queue(0)).status, Status.INVALID_OPCODE, 'the admin queue starts fresh');
    assert.equal(r.dev.createIoQueue(1), Status.SUCCESS, 'I/O queue 1 was deleted by the reset');
    assert.equal(run(r, { opcode: Opcode.READ, bufIova: iova, bufLength: MiB }).status, Status.SUCCESS);
    assert.equal(r.dma[0], 0xcd);
  } finally {
    await r.dev.stop();
  }
});

test('a reset keeps the write cache (it is not a power loss): data reads back and FLUSH persists it', async () => {
  const r = rig();
  try {
    r.dma.fill(0x5a, 0, 4096);
    assert.equal(run(r, { opcode: Opcode.WRITE, lba: 5 }).status, Status.SUCCESS);
    assert.equal(r.dev.reset(), true);
    assert.equal(r.dev.createIoQueue(1), Status.SUCCESS);
    assert.equal(run(r, { opcode: Opcode.READ, lba: 5, at: 4096 }).status, Status.SUCCESS);
    assert.ok(r.dma.subarray(4096, 8192).every((b) => b === 0x5a), 'the cached write survives the reset');
    assert.ok(r.dev.storage.subarray(5 * 4096, 6 * 4096).every((b) => b === 0), 'still unflushed');
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    assert.ok(r.dev.storage.subarray(5 * 4096, 6 * 4096).every((b) => b === 0x5a), 'FLUSH persists it');
  } finally {
    await r.dev.stop();
  }
});

test('the driver reads status and identify from a mirror the device rewrites; scribbling over it fools only the driver', async () => {
  const r = rig();
  try {
    const v = new DataView(r.dev.memory);
    const mirror = (): number[] => [Reg.STATUS, Reg.ENTRIES, Reg.BLOCK_SIZE, Reg.BLOCKS_LO, Reg.BLOCKS_HI, Reg.MAX_QUEUES].map((o) => v.getUint32(o, true));
    const good = [DeviceStatus.READY, 8, 4096, 256, 0, 4];
    assert.deepEqual(mirror(), good);
    for (const o of [Reg.STATUS, Reg.ENTRIES, Reg.BLOCK_SIZE, Reg.MAX_QUEUES]) v.setUint32(o, 3, true);
    assert.equal(r.io.deviceStatus(), 3, 'the driver sees what it wrote');
    assert.equal(r.dev.status(), DeviceStatus.READY, 'the host does not');
    assert.equal(r.dev.queue(2).entries, 8, 'nor do the host\'s queue pairs');
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS, 'nor does the device');
    Atomics.store(words(r.dev), word(queueReg(1, QueueReg.SQ_TAIL)), 1000);
    Atomics.add(words(r.dev), word(Reg.DOORBELL), 1);
    await until(() => r.io.deviceStatus() === DeviceStatus.FATAL, 'the mirror to show FATAL');
    assert.deepEqual(mirror(), [DeviceStatus.FATAL, ...good.slice(1)], 'rewritten with the status');
    assert.equal(r.dev.reset(), true);
    assert.deepEqual(mirror(), good);
  } finally {
    await r.dev.stop();
  }
  assert.equal(r.io.deviceStatus(), DeviceStatus.STOPPED);
});

test('whatever a driver writes into the queue memory, reset() returns true at once and the device works again', async () => {
  const r = rig({ queueEntries: 16, idleSpin: 10 });
  try {
    const mem = new Int32Array(r.dev.memory);
    const random = seededRandom(99);
    // A forged "stopped" controller, every word 1 or -1 (a power cut, were it there), then random words.
    const fills: ((i: number) => number)[] = [
      (i) => (i === word(Reg.STATUS) ? DeviceStatus.STOPPED : 0), () => 1, () => -1,
      ...Array.from({ length: 5 }, () => () => (random() * 2 ** 32) | 0),
    ];
    const iova = r.buf(0, 4096);
    for (const [round, fill] of fills.entries()) {
      if (round % 2 === 1) {
        for (let i = 0; i < 8; i++) r.io.enqueue({ opcode: Opcode.READ, cid: i, lba: i, count: 1, bufIova: iova, bufLength: 4096 });
        r.io.ring();
      }
      for (let i = 0; i < mem.length; i++) Atomics.store(mem, i, fill(i));
      Atomics.notify(mem, word(Reg.DOORBELL));
      if (round >= 3) await sleep(30); // the device acts on the garbage first
      assert.notEqual(r.dev.status(), DeviceStatus.POWER_LOST, `round ${round}`);
      const t0 = performance.now();
      assert.equal(r.dev.reset(), true, `round ${round}: the reset`);
      const ms = performance.now() - t0;
      assert.ok(ms < 200, `round ${round}: the reset took ${ms.toFixed(0)} ms`);
      assert.equal(r.dev.status(), DeviceStatus.READY);
      assert.equal(r.io.deviceStatus(), DeviceStatus.READY, 'the mirror is rewritten');
      assert.equal(r.dev.createIoQueue(1), Status.SUCCESS, `round ${round}: the I/O queue again`);
      r.dma.fill(round + 1, 0, 4096);
      assert.equal(run(r, { opcode: Opcode.WRITE, lba: 100 + round }).status, Status.SUCCESS);
      r.dma.fill(0, 0, 4096);
      assert.equal(run(r, { opcode: Opcode.READ, lba: 100 + round }).status, Status.SUCCESS);
      assert.ok(r.dma.subarray(0, 4096).every((b) => b === round + 1), `round ${round}: the data`);
    }
    assert.equal(r.dev.error, null);
  } finally {
    await r.dev.stop();
  }
});

// ---- interrupts

test('interrupt coalescing by count: threshold 4, 8 completions, 2 interrupts', async () => {
  const r = rig({ queueEntries: 16 }, false);
  try {
    assert.equal(r.dev.createIoQueue(1, 4, MAX_COALESCE_US), Status.SUCCESS);
    // (the admin command's own interrupt may be counted after its completion was seen: wait
    // until INTR has stood still for 20 ms, so it is not taken for one of the I/O queue's)
    let intr = r.dev.interrupts();
    for (let t0 = Date.now(); Date.now() - t0 < 1000;) {
      await sleep(20);
      if (r.dev.interrupts() === intr) break;
      intr = r.dev.interrupts();
    }
    for (let i = 0; i < 8; i++) assert.equal(r.io.enqueue(command(r, { opcode: Opcode.FLUSH, cid: i })), Status.SUCCESS);
    r.io.ring();
    for (let i = 0; i < 8; i++) next(r.io);
    await until(() => r.io.irqs() === 2, 'two interrupts');
    assert.equal(r.dev.interrupts() - intr, 2, 'INTR counts them too');
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    await sleep(50);
    assert.equal(r.io.irqs(), 2, 'one completion is below the threshold (and the time limit is 1 s)');
  } finally {
    await r.dev.stop();
  }
});

test('interrupt coalescing by time: a lone completion is signalled within the time limit, not before', async () => {
  const r = rig({ idleSpin: 10 }, false);
  try {
    assert.equal(r.dev.createIoQueue(1, 32, 200), Status.SUCCESS);
    const intr = r.dev.interrupts();
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    const w = new Int32Array(r.dev.control);
    const deadline = Date.now() + 1000;
    while (r.io.irqs() === 0 && Date.now() < deadline) Atomics.wait(w, word(Control.INTR), intr, 50);
    assert.equal(r.io.irqs(), 1, 'the interrupt came with the device idle');
    assert.equal(r.dev.createIoQueue(2, 32, 40_000), Status.SUCCESS);
    const q2 = r.dev.queue(2);
    const t0 = performance.now();
    assert.equal(run(r, { opcode: Opcode.FLUSH }, q2).status, Status.SUCCESS);
    assert.equal(q2.irqs(), 0, 'not signalled at once');
    await until(() => q2.irqs() === 1, 'the 40 ms interrupt');
    assert.ok(performance.now() - t0 >= 35, `waited ${performance.now() - t0} ms`);
  } finally {
    await r.dev.stop();
  }
});

test('a masked queue raises no interrupts (its driver polls); unmasked, it does again', async () => {
  const r = rig();
  try {
    const intr = r.dev.interrupts();
    r.io.mask(true);
    for (let i = 0; i < 4; i++) assert.equal(run(r, { opcode: Opcode.FLUSH, cid: i }).status, Status.SUCCESS);
    await sleep(20);
    assert.deepEqual([r.io.irqs(), r.dev.interrupts() - intr], [0, 0]);
    r.io.mask(false);
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    await until(() => r.io.irqs() === 1, 'the interrupt');
    await sleep(20);
    assert.equal(r.io.irqs(), 1, 'the completions the driver consumed while masked raise nothing on the unmask');
  } finally {
    await r.dev.stop();
  }
});

test('a completion posted while masked and not consumed raises the interrupt once the queue is unmasked, idle device or not', async () => {
  const r = rig();
  try {
    for (const round of [1, 2, 3]) {
      r.io.mask(true);
      const events = r.io.events();
      r.io.submit(command(r, { opcode: Opcode.FLUSH, cid: round }));
      await until(() => r.io.events() === events + 1, 'the completion');
      await sleep(round === 3 ? 30 : 1); // (the device is asleep by the third round)
      assert.equal(r.io.irqs(), round - 1, 'not signalled while masked');
      r.io.mask(false);
      await until(() => r.io.irqs() === round, 'the interrupt, on the unmask');
      assert.equal(next(r.io).cid, round);
    }
  } finally {
    await r.dev.stop();
  }
});

test('onInterrupt calls back on this thread after interrupts, and not after it is ended', async () => {
  const r = rig({ queueEntries: 64 });
  try {
    let calls = 0;
    const end = r.dev.onInterrupt(() => { calls++; });
    for (let i = 0; i < 40; i++) assert.equal(r.io.submit(command(r, { opcode: Opcode.FLUSH, cid: i })), Status.SUCCESS);
    await until(() => r.io.events() === 40, 'the completions');
    await until(() => calls > 0, 'a callback');
    assert.ok(calls <= r.io.irqs(), 'coalesced: at most one call per interrupt');
    end();
    const before = calls;
    for (let i = 0; i < 40; i++) next(r.io);
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    await sleep(30);
    assert.equal(calls, before);
  } finally {
    await r.dev.stop();
  }
});

/** Runs a child that starts a device, completes one command and, if asked, stops it: its exit code or signal. */
function child(stop: boolean, killAfterMs: number, interrupts = false): Promise<string> {
  const code = `
    import { startNvme } from ${JSON.stringify(new URL('./nvme.ts', import.meta.url).href)};
    import { iommuBytes } from ${JSON.stringify(new URL('../common/iommu.ts', import.meta.url).href)};
    const dev = startNvme({ blocks: 8, blockSize: 512, dma: new SharedArrayBuffer(4096), iommu: new SharedArrayBuffer(iommuBytes(1)), queueEntries: 4 });
    let calls = 0;
    ${interrupts ? 'dev.onInterrupt(() => { calls++; });' : ''}
    if (dev.createIoQueue(1) !== 0) process.exit(3);
    ${interrupts ? 'while (calls === 0) await new Promise((r) => setTimeout(r, 5));' : ''}
    ${stop ? 'await dev.stop();' : ''}
  `;
  return runModule(code, killAfterMs);
}

test('stop() leaves no thread and no interrupt loop: the process exits by itself (and does not without stop)', async () => {
  const [stopped, watched, running] = await Promise.all([child(true, 4000), child(true, 4000, true), child(false, 2500)]);
  assert.equal(stopped, 'exit 0');
  assert.equal(watched, 'exit 0', 'with an onInterrupt loop');
  assert.equal(running, 'SIGKILL', 'a running device keeps its process alive, so the first checks mean something');
});

// ---- power cuts

/** Submits one more command on `q` after the cut point: it must never complete. */
async function expectPowerLost(r: Rig, completed: number, q = r.io): Promise<PowerReport> {
  r.dma.fill(0xee, 0, r.dev.blockSize);
  assert.equal(q.submit(command(r, { opcode: Opcode.WRITE, cid: 999, lba: r.dev.blocks - 1 })), Status.SUCCESS);
  await until(() => r.dev.status() === DeviceStatus.POWER_LOST, 'POWER_LOST');
  await sleep(30);
  assert.equal(q.poll(), null, 'a command in flight at the cut never completes');
  assert.equal(q.events(), completed, 'completions posted before the cut');
  assert.equal(r.dev.reset(50), false, 'no reset after a power loss');
  const report = r.dev.powerReport();
  assert.ok(report);
  assert.equal(report.completed, completed);
  return report;
}

const block = (dev: NvmeDevice, storage: Uint8Array, lba: number): Uint8Array => storage.subarray(lba * dev.blockSize, (lba + 1) * dev.blockSize);

/** WRITE block 1 := 0x11, FLUSH, WRITE block 1 := 0x22, WRITE blocks 2-3 := 0x33, then cut (after 4 commands). */
async function cutAfterFour(keep: Keep): Promise<{ dev: NvmeDevice; report: PowerReport }> {
  const r = rig({ powerCut: { afterCommands: 4, keep } });
  try {
    r.dma.fill(0x11, 0, 4096);
    assert.equal(run(r, { opcode: Opcode.WRITE, lba: 1 }).status, Status.SUCCESS);
    assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    r.dma.fill(0x22, 0, 4096);
    assert.equal(run(r, { opcode: Opcode.WRITE, lba: 1 }).status, Status.SUCCESS);
    r.dma.fill(0x33, 0, 8192);
    assert.equal(run(r, { opcode: Opcode.WRITE, lba: 2, count: 2 }).status, Status.SUCCESS);
    const report = await expectPowerLost(r, 4);
    assert.ok(block(r.dev, r.dev.storage, r.dev.blocks - 1).every((b) => b === 0), 'the command after the cut was not executed');
    return { dev: r.dev, report };
  } finally {
    await r.dev.stop();
  }
}

test("power cut with keep 'none': flushed data survives, unflushed writes are lost", async () => {
  const { dev, report } = await cutAfterFour('none');
  assert.deepEqual(report, { completed: 4, applied: [], dropped: [1, 2, 3] });
  assert.ok(block(dev, dev.storage, 1).every((b) => b === 0x11), 'the flushed version of block 1');
  assert.ok(dev.storage.subarray(2 * 4096, 4 * 4096).every((b) => b === 0));
  assert.equal(dev.status(), DeviceStatus.STOPPED);
  assert.equal(dev.error, null);
});

test("power cut with keep 'all': every unflushed write reaches storage", async () => {
  const { dev, report } = await cutAfterFour('all');
  assert.deepEqual(report, { completed: 4, applied: [1, 2, 3], dropped: [] });
  assert.ok(block(dev, dev.storage, 1).every((b) => b === 0x22));
  assert.ok(dev.storage.subarray(2 * 4096, 4 * 4096).every((b) => b === 0x33));
});

/** Runs a seeded random workload until a seeded random cut; checks storage against the model. */
async function seededCut(seed: number): Promise<{ report: PowerReport; digest: string; cutAfter: number }> {
  const r = rig({ blocks: 64, blockSize: 512, powerCut: { afterCommands: { seed, max: 60 }, keep: { seed } } });
  try {
    const cutAfter = r.dev.cutAfter;
    assert.ok(cutAfter !== null && cutAfter >= 0 && cutAfter <= 60);
    const random = seededRandom(seed + 1);
    const durable = new Uint8Array(64 * 512);
    const pending = new Map<number, Uint8Array>();
    for (let i = 0; i < cutAfter; i++) {
      if (random() < 0.15) {
        assert.equal(run(r, { opcode: Opcode.FLUSH, cid: i }).status, Status.SUCCESS);
        for (const [lba, data] of pending) durable.set(data, lba * 512);
        pending.clear();
        continue;
      }
      const count = 1 + Math.floor(random() * 3);
      const lba = Math.floor(random() * (64 - count));
      for (let j = 0; j < count * 512; j++) r.dma[j] = Math.floor(random() * 256);
      assert.equal(run(r, { opcode: Opcode.WRITE, cid: i, lba, count }).status, Status.SUCCESS);
      for (let k = 0; k < count; k++) pending.set(lba + k, r.dma.slice(k * 512, (k + 1) * 512));
    }
    const report = await expectPowerLost(r, cutAfter);
    assert.deepEqual([...report.applied, ...report.dropped].sort((x, y) => x - y), [...pending.keys()].sort((x, y) => x - y),
      'every unflushed block is either applied or dropped');
    for (const lba of report.applied) durable.set(pending.get(lba) as Uint8Array, lba * 512);
    assert.deepEqual(r.dev.storage, durable, 'storage = flushed data + exactly the applied blocks');
    return { report, digest: sha(r.dev.storage), cutAfter };
  } finally {
    await r.dev.stop();
  }
}

test('a seeded cut at a seeded command keeps a seeded subset, reproducibly', async () => {
  const first = await seededCut(12345);
  assert.ok(first.report.applied.length > 0 && first.report.dropped.length > 0, 'the seed gives a proper subset');
  assert.deepEqual(await seededCut(12345), first, 'the same seed, the same cut');
  const others = await Promise.all([1, 2, 3].map(seededCut));
  assert.ok(others.some((o) => o.cutAfter !== first.cutAfter), 'other seeds cut elsewhere');
});

test('afterCommands 0 cuts before the first command (admin commands included)', async () => {
  const r = rig({ powerCut: { afterCommands: 0 } }, false);
  try {
    assert.deepEqual(await expectPowerLost(r, 0, r.dev.queue(0)), { completed: 0, applied: [], dropped: [] });
  } finally {
    await r.dev.stop();
  }
});

test('cutPower() cuts a sleeping device on demand', async () => {
  const r = rig({ idleSpin: 10, powerCut: { keep: 'none' } });
  try {
    r.dma.fill(0x44, 0, 4096);
    assert.equal(run(r, { opcode: Opcode.WRITE, lba: 9 }).status, Status.SUCCESS);
    await sleep(50);
    assert.equal(r.dev.powerReport(), null, 'no report before the cut');
    r.dev.cutPower();
    await until(() => r.dev.status() === DeviceStatus.POWER_LOST, 'POWER_LOST');
    assert.deepEqual(await expectPowerLost(r, 1), { completed: 1, applied: [], dropped: [9] });
    assert.ok(block(r.dev, r.dev.storage, 9).every((b) => b === 0));
  } finally {
    await r.dev.stop();
  }
  assert.deepEqual(r.dev.powerReport()?.dropped, [9], 'the report outlives stop()');
});

test('options are checked', () => {
  const o = { blocks: 8, blockSize: 512, dma: new SharedArrayBuffer(4096), iommu: new SharedArrayBuffer(iommuBytes(1)), queueEntries: 4 };
  const bad: NvmeOptions['powerCut'][] = [{ afterCommands: -1 }, { afterCommands: 1.5 }, { keep: 'some' as Keep }, { keep: { seed: 0.5 } }];
  for (const powerCut of bad) assert.throws(() => startNvme({ ...o, powerCut }), RangeError, JSON.stringify(powerCut));
  for (const maxQueues of [1, 65, 2.5]) assert.throws(() => startNvme({ ...o, maxQueues }), RangeError, `maxQueues ${maxQueues}`);
  assert.throws(() => startNvme({ ...o, iommu: new SharedArrayBuffer(33) }), RangeError);
  assert.throws(() => startNvme({ ...o, iommu: undefined as unknown as SharedArrayBuffer }), TypeError);
});

// ---- disk images

function tempImage(): { path: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'frond-nvme-'));
  return { path: join(dir, 'disk.img'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a disk image is created to size and its flushed data survives into a new device', async () => {
  const img = tempImage();
  try {
    const data = randomBytes(8 * 4096);
    const first = rig({ image: img.path });
    try {
      assert.equal(statSync(img.path).size, 256 * 4096);
      first.dma.set(data, 0);
      assert.equal(run(first, { opcode: Opcode.WRITE, lba: 100, count: 8 }).status, Status.SUCCESS);
      assert.equal(run(first, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    } finally {
      await first.dev.stop();
    }
    const second = rig({ image: img.path });
    try {
      const done = run(second, { opcode: Opcode.READ, lba: 100, count: 8 });
      assert.deepEqual([done.status, done.result], [Status.SUCCESS, data.length]);
      assert.deepEqual(second.dma.subarray(0, data.length), new Uint8Array(data));
      assert.deepEqual(second.dev.storage.subarray(100 * 4096, 108 * 4096), new Uint8Array(data), 'storage reads the image');
    } finally {
      await second.dev.stop();
    }
  } finally {
    img.done();
  }
});

test('a power cut on a disk image applies the kept blocks to the file', async () => {
  const img = tempImage();
  try {
    const r = rig({ image: img.path, powerCut: { afterCommands: 1, keep: 'all' } });
    try {
      r.dma.fill(0x55, 0, 4096);
      assert.equal(run(r, { opcode: Opcode.WRITE, lba: 3 }).status, Status.SUCCESS);
      assert.deepEqual((await expectPowerLost(r, 1)).applied, [3]);
    } finally {
      await r.dev.stop();
    }
    assert.ok(block(r.dev, r.dev.storage, 3).every((b) => b === 0x55));
  } finally {
    img.done();
  }
});

test('a short read from a truncated image completes with MEDIA_ERROR and the device keeps running', async () => {
  const img = tempImage();
  try {
    const r = rig({ image: img.path });
    try {
      assert.equal(run(r, { opcode: Opcode.READ, lba: 200 }).status, Status.SUCCESS);
      truncateSync(img.path, 100 * 4096);
      const done = run(r, { opcode: Opcode.READ, lba: 200 });
      assert.deepEqual([done.status, done.result], [Status.MEDIA_ERROR, 0]);
      r.dma.fill(0x66, 0, 4096);
      assert.equal(run(r, { opcode: Opcode.WRITE, lba: 200 }).status, Status.SUCCESS);
      assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
      assert.equal(run(r, { opcode: Opcode.READ, lba: 200, at: 4096 }).status, Status.SUCCESS);
      assert.equal(r.dma[4096], 0x66);
      assert.equal(r.dev.status(), DeviceStatus.READY);
    } finally {
      await r.dev.stop();
    }
  } finally {
    img.done();
  }
});

test('write errors on the image (/dev/full) fail FLUSH with MEDIA_ERROR, keeping the data cached', { skip: !existsSync('/dev/full') }, async () => {
  const r = rig({ image: '/dev/full' });
  try {
    r.dma.fill(0x77, 0, 4096);
    assert.equal(run(r, { opcode: Opcode.WRITE, lba: 4 }).status, Status.SUCCESS);
    for (let i = 0; i < 2; i++) assert.equal(run(r, { opcode: Opcode.FLUSH }).status, Status.MEDIA_ERROR);
    assert.equal(run(r, { opcode: Opcode.READ, lba: 4, at: 4096 }).status, Status.SUCCESS);
    assert.equal(r.dma[4096], 0x77, 'the unwritten block is still in the cache');
    assert.equal(r.dev.status(), DeviceStatus.READY);
    assert.equal(r.dev.error, null);
  } finally {
    await r.dev.stop();
  }
});

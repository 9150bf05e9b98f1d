// The NVMe-like device model: data round trips through the write cache and FLUSH, error statuses
// for bad commands (after which the device keeps working), in-order completion of more commands
// than the queue holds, phase bits across wraps, sleeping and waking, and stop() leaving no thread.
// Power cuts (at command N, at a seeded random command, on demand) against a model of what must be
// durable; disk images: round trip across devices, and I/O errors completing with MEDIA_ERROR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runModule } from '../../../test/child.ts';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom, startNvme, type Keep, type NvmeDevice, type NvmeOptions, type PowerReport } from './nvme.ts';
import { Cqe, DeviceStatus, Opcode, Reg, Status, cqeOffset, word, type Command, type Completion } from '../common/nvme.ts';


function device(o: Partial<NvmeOptions> = {}): NvmeDevice {
  return startNvme({ blocks: 256, blockSize: 4096, dma: new SharedArrayBuffer(1 << 20), queueEntries: 8, ...o });
}

/** Spins (polling, as a driver does) until the next completion arrives. */
function next(dev: NvmeDevice, ms = 2000): Completion {
  const deadline = Date.now() + ms;
  for (;;) {
    const c = dev.poll();
    if (c) return c;
    if (Date.now() > deadline) throw new Error(`no completion within ${ms} ms (device status ${dev.status()})`);
  }
}

function run(dev: NvmeDevice, c: Partial<Command> & { opcode: number }): Completion {
  const cmd: Command = { cid: 7, lba: 0, count: 1, bufOffset: 0, bufLength: dev.blockSize, ...c };
  assert.equal(dev.submit(cmd), Status.SUCCESS);
  const done = next(dev);
  assert.equal(done.cid, cmd.cid);
  return done;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

for (const blockSize of [512, 4096]) {
  test(`write then read back random blocks (${blockSize}-byte blocks)`, async () => {
    const dev = device({ blockSize });
    try {
      const dma = new Uint8Array(dev.dma);
      const half = dma.length / 2;
      for (let i = 0; i < 40; i++) {
        const count = 1 + (i % 4);
        const lba = Math.floor(Math.random() * (dev.blocks - count));
        const bytes = count * blockSize;
        dma.set(randomBytes(bytes), 0);
        const want = sha(dma.subarray(0, bytes));
        assert.equal(run(dev, { opcode: Opcode.WRITE, cid: i, lba, count, bufLength: bytes }).status, Status.SUCCESS);
        if (i % 3 === 0) assert.equal(run(dev, { opcode: Opcode.FLUSH, cid: i }).status, Status.SUCCESS);
        dma.fill(0, half, half + bytes);
        const r = run(dev, { opcode: Opcode.READ, cid: i, lba, count, bufOffset: half, bufLength: bytes });
        assert.deepEqual([r.status, r.result], [Status.SUCCESS, bytes]);
        assert.equal(sha(dma.subarray(half, half + bytes)), want, `blocks ${lba}+${count}`);
      }
    } finally {
      await dev.stop();
    }
  });
}

test('the write cache serves reads; data is durable only after FLUSH', async () => {
  const dev = device();
  try {
    const dma = new Uint8Array(dev.dma);
    const data = randomBytes(2 * 4096);
    dma.set(data, 0);
    assert.equal(run(dev, { opcode: Opcode.WRITE, lba: 10, count: 2, bufLength: data.length }).status, Status.SUCCESS);
    const durable = (): Uint8Array => dev.storage.subarray(10 * 4096, 12 * 4096);
    assert.ok(durable().every((b) => b === 0), 'a write is not durable before FLUSH');
    assert.equal(run(dev, { opcode: Opcode.READ, lba: 10, count: 2, bufOffset: 65536, bufLength: data.length }).status, Status.SUCCESS);
    assert.deepEqual(dma.subarray(65536, 65536 + data.length), new Uint8Array(data), 'the cache serves the read');
    assert.equal(run(dev, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    assert.deepEqual(durable(), new Uint8Array(data), 'FLUSH commits the cache');
  } finally {
    await dev.stop();
  }
});

test('a full write cache writes back on its own, and reads still see the newest data', async () => {
  const dev = device({ cacheBlocks: 2 });
  try {
    const dma = new Uint8Array(dev.dma);
    for (let lba = 0; lba < 5; lba++) {
      dma.fill(lba + 1, 0, 4096);
      assert.equal(run(dev, { opcode: Opcode.WRITE, lba }).status, Status.SUCCESS);
    }
    assert.equal(dev.storage[0], 1, 'written back when the cache filled');
    for (let lba = 0; lba < 5; lba++) {
      assert.equal(run(dev, { opcode: Opcode.READ, lba, bufOffset: 8192 }).status, Status.SUCCESS);
      assert.ok(dma.subarray(8192, 8192 + 4096).every((b) => b === lba + 1), `block ${lba}`);
    }
  } finally {
    await dev.stop();
  }
});

test('bad commands complete with their error status and the device keeps working', async () => {
  const dev = device({ blocks: 16 });
  try {
    const dmaBytes = dev.dma.byteLength;
    const cases: [Partial<Command> & { opcode: number }, number][] = [
      [{ opcode: 9 }, Status.INVALID_OPCODE],
      [{ opcode: 0 }, Status.INVALID_OPCODE],
      [{ opcode: Opcode.READ, lba: 16 }, Status.LBA_OUT_OF_RANGE],
      [{ opcode: Opcode.WRITE, lba: 15, count: 2, bufLength: 8192 }, Status.LBA_OUT_OF_RANGE],
      [{ opcode: Opcode.READ, lba: 2 ** 32 }, Status.LBA_OUT_OF_RANGE],
      [{ opcode: Opcode.READ, count: 0 }, Status.INVALID_FIELD],
      [{ opcode: Opcode.READ, bufOffset: dmaBytes }, Status.BAD_BUFFER],
      [{ opcode: Opcode.WRITE, bufOffset: dmaBytes - 100 }, Status.BAD_BUFFER],
      [{ opcode: Opcode.WRITE, bufLength: 4095 }, Status.BAD_BUFFER],
      [{ opcode: Opcode.READ, count: 2, bufLength: 4096 }, Status.BAD_BUFFER],
      [{ opcode: Opcode.READ, bufOffset: 2 ** 32 - 1 }, Status.BAD_BUFFER],
    ];
    for (const [c, want] of cases) {
      const done = run(dev, c);
      assert.deepEqual([done.status, done.result], [want, 0], JSON.stringify(c));
    }
    new Uint8Array(dev.dma).fill(0xab, 0, 4096);
    assert.equal(run(dev, { opcode: Opcode.WRITE, lba: 15 }).status, Status.SUCCESS);
    assert.equal(run(dev, { opcode: Opcode.READ, lba: 15, bufOffset: 4096 }).status, Status.SUCCESS);
    assert.equal(new Uint8Array(dev.dma)[4096 + 4095], 0xab);
    assert.equal(dev.status(), DeviceStatus.READY);
    assert.equal(dev.error, null);
  } finally {
    await dev.stop();
  }
});

test('more commands than the queue holds all complete, in order, with phase bits wrapping', async () => {
  const entries = 4;
  const dev = device({ queueEntries: entries });
  try {
    const total = 103;
    const view = new DataView(dev.memory);
    const phaseOf = (slot: number): number => view.getUint32(cqeOffset(entries, slot) + Cqe.STATUS, true) & 1;
    let submitted = 0;
    let completed = 0;
    let sawFull = false;
    while (completed < total) {
      while (submitted < total) {
        const s = dev.submit({ opcode: Opcode.READ, cid: submitted, lba: submitted % dev.blocks, count: 1, bufOffset: (submitted % 8) * 4096, bufLength: 4096 });
        if (s === Status.QUEUE_FULL) { sawFull = true; break; }
        assert.equal(s, Status.SUCCESS);
        submitted++;
      }
      assert.ok(dev.queue.inFlight <= entries - 1);
      const c = next(dev);
      assert.deepEqual([c.cid, c.status], [completed, Status.SUCCESS]);
      completed++;
      // The slot just consumed was posted on pass floor((completed - 1) / entries): phase 1 on even passes.
      const slot = (completed - 1) % entries;
      assert.equal(phaseOf(slot), Math.floor((completed - 1) / entries) % 2 === 0 ? 1 : 0, `phase of slot ${slot} after ${completed}`);
    }
    assert.ok(sawFull, 'submit reports QUEUE_FULL once entries - 1 commands are outstanding');
    assert.equal(dev.poll(), null);
    assert.equal(Atomics.load(new Int32Array(dev.memory), word(Reg.EVENTS)), total, 'one event per completion');
  } finally {
    await dev.stop();
  }
});

test('an idle device sleeps on the doorbell and wakes for a new command', async () => {
  const dev = device({ idleSpin: 10 });
  try {
    assert.equal(run(dev, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(run(dev, { opcode: Opcode.FLUSH, cid: 8 }).status, Status.SUCCESS);
  } finally {
    await dev.stop();
  }
});

test('a doorbell out of range makes the device FATAL without killing its thread', async () => {
  const dev = device();
  try {
    Atomics.store(new Int32Array(dev.memory), word(Reg.SQ_TAIL), 1000);
    Atomics.notify(new Int32Array(dev.memory), word(Reg.SQ_TAIL));
    const deadline = Date.now() + 2000;
    while (dev.status() !== DeviceStatus.FATAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(dev.status(), DeviceStatus.FATAL);
    assert.equal(dev.error, null);
  } finally {
    await dev.stop();
  }
  assert.equal(dev.status(), DeviceStatus.STOPPED);
});

/** Runs a child that starts a device, completes one command and, if asked, stops it: its exit code or signal. */
function child(stop: boolean, killAfterMs: number): Promise<string> {
  const code = `
    import { startNvme } from ${JSON.stringify(new URL('./nvme.ts', import.meta.url).href)};
    const dev = startNvme({ blocks: 8, blockSize: 512, dma: new SharedArrayBuffer(4096), queueEntries: 4 });
    dev.submit({ opcode: 3, cid: 1, lba: 0, count: 0, bufOffset: 0, bufLength: 0 });
    const deadline = Date.now() + 3000;
    while (!dev.poll()) if (Date.now() > deadline) process.exit(3);
    ${stop ? 'await dev.stop();' : ''}
  `;
  return runModule(code, killAfterMs);
}

test('stop() leaves no thread: the process exits by itself (and does not without stop)', async () => {
  const [stopped, running] = await Promise.all([child(true, 4000), child(false, 2500)]);
  assert.equal(stopped, 'exit 0');
  assert.equal(running, 'SIGKILL', 'a running device keeps its process alive, so the first check means something');
});

/** Waits (yielding) until the device status is `want`. */
async function waitStatus(dev: NvmeDevice, want: number, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (dev.status() !== want) {
    if (Date.now() > deadline) throw new Error(`device status ${dev.status()}, wanted ${want}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Submits one more command after the cut point: it must never complete. */
async function expectPowerLost(dev: NvmeDevice, completed: number): Promise<PowerReport> {
  new Uint8Array(dev.dma).fill(0xee, 0, dev.blockSize);
  assert.equal(dev.submit({ opcode: Opcode.WRITE, cid: 999, lba: dev.blocks - 1, count: 1, bufOffset: 0, bufLength: dev.blockSize }), Status.SUCCESS);
  await waitStatus(dev, DeviceStatus.POWER_LOST);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(dev.poll(), null, 'a command in flight at the cut never completes');
  assert.equal(Atomics.load(new Int32Array(dev.memory), word(Reg.EVENTS)), completed, 'completions posted before the cut');
  const report = dev.powerReport();
  assert.ok(report);
  assert.equal(report.completed, completed);
  return report;
}

const block = (dev: NvmeDevice, storage: Uint8Array, lba: number): Uint8Array => storage.subarray(lba * dev.blockSize, (lba + 1) * dev.blockSize);

/** WRITE block 1 := 0x11, FLUSH, WRITE block 1 := 0x22, WRITE blocks 2-3 := 0x33, then cut (after 4 commands). */
async function cutAfterFour(keep: Keep): Promise<{ dev: NvmeDevice; report: PowerReport }> {
  const dev = device({ powerCut: { afterCommands: 4, keep } });
  try {
    const dma = new Uint8Array(dev.dma);
    dma.fill(0x11, 0, 4096);
    assert.equal(run(dev, { opcode: Opcode.WRITE, lba: 1 }).status, Status.SUCCESS);
    assert.equal(run(dev, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    dma.fill(0x22, 0, 4096);
    assert.equal(run(dev, { opcode: Opcode.WRITE, lba: 1 }).status, Status.SUCCESS);
    dma.fill(0x33, 0, 8192);
    assert.equal(run(dev, { opcode: Opcode.WRITE, lba: 2, count: 2, bufLength: 8192 }).status, Status.SUCCESS);
    const report = await expectPowerLost(dev, 4);
    assert.ok(block(dev, dev.storage, dev.blocks - 1).every((b) => b === 0), 'the command after the cut was not executed');
    return { dev, report };
  } finally {
    await dev.stop();
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
  const dev = device({ blocks: 64, blockSize: 512, powerCut: { afterCommands: { seed, max: 60 }, keep: { seed } } });
  try {
    const cutAfter = dev.cutAfter;
    assert.ok(cutAfter !== null && cutAfter >= 0 && cutAfter <= 60);
    const random = seededRandom(seed + 1);
    const dma = new Uint8Array(dev.dma);
    const durable = new Uint8Array(64 * 512);
    const pending = new Map<number, Uint8Array>();
    for (let i = 0; i < cutAfter; i++) {
      if (random() < 0.15) {
        assert.equal(run(dev, { opcode: Opcode.FLUSH, cid: i }).status, Status.SUCCESS);
        for (const [lba, data] of pending) durable.set(data, lba * 512);
        pending.clear();
        continue;
      }
      const count = 1 + Math.floor(random() * 3);
      const lba = Math.floor(random() * (64 - count));
      for (let j = 0; j < count * 512; j++) dma[j] = Math.floor(random() * 256);
      assert.equal(run(dev, { opcode: Opcode.WRITE, cid: i, lba, count, bufLength: count * 512 }).status, Status.SUCCESS);
      for (let k = 0; k < count; k++) pending.set(lba + k, dma.slice(k * 512, (k + 1) * 512));
    }
    const report = await expectPowerLost(dev, cutAfter);
    assert.deepEqual([...report.applied, ...report.dropped].sort((x, y) => x - y), [...pending.keys()].sort((x, y) => x - y),
      'every unflushed block is either applied or dropped');
    for (const lba of report.applied) durable.set(pending.get(lba) as Uint8Array, lba * 512);
    assert.deepEqual(dev.storage, durable, 'storage = flushed data + exactly the applied blocks');
    return { report, digest: sha(dev.storage), cutAfter };
  } finally {
    await dev.stop();
  }
}

test('a seeded cut at a seeded command keeps a seeded subset, reproducibly', async () => {
  const first = await seededCut(12345);
  assert.ok(first.report.applied.length > 0 && first.report.dropped.length > 0, 'the seed gives a proper subset');
  assert.deepEqual(await seededCut(12345), first, 'the same seed, the same cut');
  const others = await Promise.all([1, 2, 3].map(seededCut));
  assert.ok(others.some((o) => o.cutAfter !== first.cutAfter), 'other seeds cut elsewhere');
});

test('afterCommands 0 cuts before the first command', async () => {
  const dev = device({ powerCut: { afterCommands: 0 } });
  try {
    assert.deepEqual(await expectPowerLost(dev, 0), { completed: 0, applied: [], dropped: [] });
  } finally {
    await dev.stop();
  }
});

test('cutPower() cuts a sleeping device on demand', async () => {
  const dev = device({ idleSpin: 10, powerCut: { keep: 'none' } });
  try {
    new Uint8Array(dev.dma).fill(0x44, 0, 4096);
    assert.equal(run(dev, { opcode: Opcode.WRITE, lba: 9 }).status, Status.SUCCESS);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(dev.powerReport(), null, 'no report before the cut');
    dev.cutPower();
    await waitStatus(dev, DeviceStatus.POWER_LOST);
    assert.deepEqual(await expectPowerLost(dev, 1), { completed: 1, applied: [], dropped: [9] });
    assert.ok(block(dev, dev.storage, 9).every((b) => b === 0));
  } finally {
    await dev.stop();
  }
  assert.deepEqual(dev.powerReport()?.dropped, [9], 'the report outlives stop()');
});

test('powerCut options are checked', () => {
  const dma = new SharedArrayBuffer(4096);
  const bad: NvmeOptions['powerCut'][] = [{ afterCommands: -1 }, { afterCommands: 1.5 }, { keep: 'some' as Keep }, { keep: { seed: 0.5 } }];
  for (const powerCut of bad) {
    assert.throws(() => startNvme({ blocks: 8, blockSize: 512, dma, queueEntries: 4, powerCut }), RangeError, JSON.stringify(powerCut));
  }
});

function tempImage(): { path: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'frond-nvme-'));
  return { path: join(dir, 'disk.img'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a disk image is created to size and its flushed data survives into a new device', async () => {
  const img = tempImage();
  try {
    const data = randomBytes(8 * 4096);
    const first = device({ image: img.path });
    try {
      assert.equal(statSync(img.path).size, 256 * 4096);
      new Uint8Array(first.dma).set(data, 0);
      assert.equal(run(first, { opcode: Opcode.WRITE, lba: 100, count: 8, bufLength: data.length }).status, Status.SUCCESS);
      assert.equal(run(first, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
    } finally {
      await first.stop();
    }
    const second = device({ image: img.path, dma: new SharedArrayBuffer(1 << 20) });
    try {
      const r = run(second, { opcode: Opcode.READ, lba: 100, count: 8, bufLength: data.length });
      assert.deepEqual([r.status, r.result], [Status.SUCCESS, data.length]);
      assert.deepEqual(new Uint8Array(second.dma, 0, data.length), new Uint8Array(data));
      assert.deepEqual(second.storage.subarray(100 * 4096, 108 * 4096), new Uint8Array(data), 'storage reads the image');
    } finally {
      await second.stop();
    }
  } finally {
    img.done();
  }
});

test("a power cut on a disk image applies the kept blocks to the file", async () => {
  const img = tempImage();
  try {
    const dev = device({ image: img.path, powerCut: { afterCommands: 1, keep: 'all' } });
    try {
      new Uint8Array(dev.dma).fill(0x55, 0, 4096);
      assert.equal(run(dev, { opcode: Opcode.WRITE, lba: 3 }).status, Status.SUCCESS);
      assert.deepEqual((await expectPowerLost(dev, 1)).applied, [3]);
    } finally {
      await dev.stop();
    }
    assert.ok(block(dev, dev.storage, 3).every((b) => b === 0x55));
  } finally {
    img.done();
  }
});

test('a short read from a truncated image completes with MEDIA_ERROR and the device keeps running', async () => {
  const img = tempImage();
  try {
    const dev = device({ image: img.path });
    try {
      assert.equal(run(dev, { opcode: Opcode.READ, lba: 200 }).status, Status.SUCCESS);
      truncateSync(img.path, 100 * 4096);
      const r = run(dev, { opcode: Opcode.READ, lba: 200 });
      assert.deepEqual([r.status, r.result], [Status.MEDIA_ERROR, 0]);
      new Uint8Array(dev.dma).fill(0x66, 0, 4096);
      assert.equal(run(dev, { opcode: Opcode.WRITE, lba: 200 }).status, Status.SUCCESS);
      assert.equal(run(dev, { opcode: Opcode.FLUSH }).status, Status.SUCCESS);
      assert.equal(run(dev, { opcode: Opcode.READ, lba: 200, bufOffset: 4096 }).status, Status.SUCCESS);
      assert.equal(new Uint8Array(dev.dma)[4096], 0x66);
      assert.equal(dev.status(), DeviceStatus.READY);
    } finally {
      await dev.stop();
    }
  } finally {
    img.done();
  }
});

test('write errors on the image (/dev/full) fail FLUSH with MEDIA_ERROR, keeping the data cached', { skip: !existsSync('/dev/full') }, async () => {
  const dev = device({ image: '/dev/full' });
  try {
    new Uint8Array(dev.dma).fill(0x77, 0, 4096);
    assert.equal(run(dev, { opcode: Opcode.WRITE, lba: 4 }).status, Status.SUCCESS);
    for (let i = 0; i < 2; i++) assert.equal(run(dev, { opcode: Opcode.FLUSH }).status, Status.MEDIA_ERROR);
    assert.equal(run(dev, { opcode: Opcode.READ, lba: 4, bufOffset: 4096 }).status, Status.SUCCESS);
    assert.equal(new Uint8Array(dev.dma)[4096], 0x77, 'the unwritten block is still in the cache');
    assert.equal(dev.status(), DeviceStatus.READY);
    assert.equal(dev.error, null);
  } finally {
    await dev.stop();
  }
});

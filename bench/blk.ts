// The block-path benchmark: 4 KiB random reads and writes on a disk image through the NVMe-like
// device, at batch 1 (one synchronous read or write per call) and batch 32 (up to 32 requests in
// flight, submitted and polled in one call), over four paths:
//
//   raw               the driver's code called directly by the host (its implementation object,
//                     no proxy, no domain boundary); the requests are the driver's own
//   domain            through the proxy into the driver domain
//   shadow            through the block-driver shadow, which calls the driver
//   shadow_crash_1s   the same, with the driver crashed once a second (alternately between calls
//                     and inside one); the shadow restarts it and re-submits what it held
//
// and, measured in the same run as the machine's ceiling: the device model alone (host code
// submitting to its queue directly), and a plain host loop doing the same random 4 KiB
// fs.readSync/writeSync on the same image file. restart_us is the median time from a crash to
// the shadow's first answer from the new driver (the kernel's clean-up, with the device reset,
// included; reset_us is that clean-up alone).
//
// Two disks (images of random data) of the same size: the raw and the domain paths (each with a
// driver and a device model of its own), the device alone and the host loop use one, the shadow's
// driver the other, so every path stays warm and their rounds alternate: a figure is the median of its
// rounds, each path's rounds interleaved with the others' (the host's page cache and writeback
// drift over a run; interleaving spreads that evenly). A shadow_crash_1s round is a second with one
// driver crash in the middle. A last run per operation, a crash every second for a few seconds, is
// sampled every 50 ms for the chart.
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BDev, BlockBatch, BlockReq as BlockReqT } from '../src/idl/block.ts';
import type { RRef } from '../src/idl/lib/types.ts';
import { BlockReq, Bytes4096, DequeBlockReq32, bindHeap } from '../src/idl/generated/structs.ts';
import { BlockOp, BlockStatus } from '../src/lib/block.ts';
import { Kernel } from '../src/kernel/kernel.ts';
import { heapFor } from '../src/kernel/services/heap.ts';
import { KERNEL_ID } from '../src/kernel/rpc.ts';
import { DeviceStatus, Opcode, type Command, type QueuePair } from '../src/machine/common/nvme.ts';
import { IommuMapper, iommuBytes } from '../src/machine/common/iommu.ts';
import { startNvme, type NvmeDevice } from '../src/machine/node/nvme.ts';
import { NodeHost } from '../src/machine/node/host.ts';
import { startBlock } from '../src/boot/block.ts';
import { bootTrust, buildForBoot, loadAll } from '../src/tools/domainc/boot.ts';
import { median } from './calls.ts';

const ROOT = join(fileURLToPath(import.meta.url), '../..');
const DOMAINS = ['src/domains/drivers/nvme', 'src/domains/shadows/bdev'];
const BATCH = 32;
const SAMPLE_MS = 50;

type Req = RRef<BlockReqT>;
type Batch = RRef<BlockBatch>;
type Figures = Record<string, number>;

export interface BlkOptions {
  quick: boolean;
  progress?: (line: string) => void;
  /** overrides, for the smoke test: disk size in blocks, ms per round, rounds, ms per crash run */
  blocks?: number;
  roundMs?: number;
  rounds?: number;
  crashMs?: number;
}

export interface Series { name: string; points: [number, number][]; crashes: number[] }

export interface BlkResult { figures: Figures; series: Series[] }

/** xorshift32: random block numbers without a call into Math.random's shared state. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return x >>> 0;
  };
}

/** One timed run: calls `step` (which does some operations and returns how many) for `ms`;
 *  returns operations per second, and the per-SAMPLE_MS series if asked. */
function timed(ms: number, step: () => number, onTick?: (elapsed: number) => void, samples?: [number, number][]): number {
  const t0 = performance.now();
  let ops = 0;
  let bucket = 0;
  let bucketStart = t0;
  for (;;) {
    const n = step();
    ops += n;
    bucket += n;
    const now = performance.now();
    if (now - bucketStart >= SAMPLE_MS) {
      samples?.push([(now - t0) / 1000, bucket / ((now - bucketStart) / 1000)]);
      bucket = 0;
      bucketStart = now;
      onTick?.(now - t0);
    }
    if (now - t0 >= ms) return ops / ((now - t0) / 1000);
  }
}

/** The requests of one client of a BDev, and its two ways of driving it. */
class Client {
  private readonly free: Req[] = [];
  private deque: Batch;
  private readonly next: () => number;

  constructor(private readonly bdev: BDev, private readonly blocks: number, seed: number, readonly name = '') {
    for (let i = 0; i < BATCH; i++) {
      const r = BlockReq.alloc();
      BlockReq.putData(r, Bytes4096.alloc());
      this.free.push(r);
    }
    this.deque = DequeBlockReq32.alloc();
    this.next = rng(seed);
  }

  /** One synchronous read or write of a random block. */
  one(op: number): number {
    const r = this.free.pop()!;
    BlockReq.setLba(r, this.next() % this.blocks);
    const res = op === BlockOp.READ ? this.bdev.read(r) : this.bdev.write(r);
    if (!res.ok) throw new Error(`bench blk: ${res.error.kind}: ${res.error.message}`);
    if (BlockReq.status(res.value) !== BlockStatus.OK) throw new Error(`bench blk: status ${BlockReq.status(res.value)}`);
    this.free.push(res.value);
    return 1;
  }

  /** Tops the batch up to BATCH requests in flight, submits and polls once; returns completions. */
  batch(op: number): number {
    while (this.free.length > 0) {
      const r = this.free.pop()!;
      BlockReq.setLba(r, this.next() % this.blocks);
      BlockReq.setOp(r, op);
      DequeBlockReq32.push(this.deque, r);
    }
    const res = this.bdev.submitAndPoll(this.deque);
    if (!res.ok) throw new Error(`bench blk: ${res.error.kind}: ${res.error.message}`);
    this.deque = res.value;
    let n = 0;
    for (let r = DequeBlockReq32.pop(this.deque); r !== null; r = DequeBlockReq32.pop(this.deque)) {
      if (BlockReq.status(r) !== BlockStatus.OK) throw new Error(`bench blk: status ${BlockReq.status(r)}`);
      this.free.push(r);
      n++;
    }
    return n;
  }

  /** Waits for every request in flight to come back, then frees them all. */
  close(): void {
    this.settle();
    for (const r of this.free) BlockReq.free(r);
    this.free.length = 0;
    DequeBlockReq32.free(this.deque);
  }

  /** Waits for every request in flight to come back. */
  settle(): void {
    for (let i = 0; this.free.length < BATCH; i++) {
      if (i > 1e7) { const p = this.bdev.pending(); throw new Error(`bench blk: ${this.name}: requests never came back (${BATCH - this.free.length} out, the BDev says ${p.ok ? p.value : '?'} pending)`); }
      const res = this.bdev.submitAndPoll(this.deque);
      if (!res.ok) throw new Error(`bench blk: ${res.error.message}`);
      this.deque = res.value;
      for (let r = DequeBlockReq32.pop(this.deque); r !== null; r = DequeBlockReq32.pop(this.deque)) this.free.push(r);
    }
  }
}

/** Fills the image with random data, so reads come from the file, not from holes. */
function fillImage(path: string, blocks: number): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (let done = 0; done < blocks * 4096; done += chunk.length) {
      randomFillSync(chunk);
      writeSync(fd, chunk, 0, Math.min(chunk.length, blocks * 4096 - done), done);
    }
  } finally {
    closeSync(fd);
  }
}

/** Host code driving a device model of its own (on the same image file), through an IOMMU it
 *  fills itself: the device alone, no kernel and no driver. (A device's admin queue has one
 *  owner: this one is nobody else's.) */
class DeviceLoop {
  private readonly free: number[] = [];
  private readonly iovas: number[] = [];
  private readonly cmd: Command = { opcode: 0, cid: 0, lba: 0, count: 1, bufIova: 0, bufLength: 4096 };
  private readonly next = rng(17);
  private inFlight = 0;
  private qp!: QueuePair;
  readonly dev: NvmeDevice;

  constructor(k: Kernel, image: string, private readonly blocks: number) {
    const iommu = new SharedArrayBuffer(iommuBytes(64));
    this.dev = startNvme({ blocks, blockSize: 4096, dma: k.heap.buffer, iommu, queueEntries: 256, image });
    const mapper = new IommuMapper(iommu);
    for (let i = 0; i < BATCH; i++) {
      const h = k.heap.allocate(KERNEL_ID, Bytes4096.typeId);
      const [, , off, len] = k.heap.pin(KERNEL_ID, h, -1);
      this.iovas.push(mapper.map(off, len, 3));
    }
  }

  async start(): Promise<void> {
    while (this.dev.status() !== DeviceStatus.READY) await new Promise((r) => setTimeout(r, 1));
    if (this.dev.createIoQueue(1, BATCH, 0) !== 0) throw new Error('bench blk: cannot create the device run\'s queue');
    this.qp = this.dev.queue(1);
    this.qp.mask(true);
  }

  /** Keeps `b` commands in flight; returns completions. */
  step(op: number, b: number): number {
    while (this.inFlight < b) {
      const cid = this.free.length > 0 ? this.free.pop()! : this.inFlight;
      this.cmd.opcode = op; this.cmd.cid = cid; this.cmd.lba = this.next() % this.blocks; this.cmd.bufIova = this.iovas[cid];
      this.qp.enqueue(this.cmd);
      this.inFlight++;
    }
    this.qp.ring();
    let n = 0;
    for (let c = this.qp.poll(); c !== null; c = this.qp.poll()) {
      if (c.status !== 0) throw new Error(`bench blk: device status ${c.status}`);
      this.free.push(c.cid);
      this.inFlight--;
      n++;
    }
    return n;
  }

  drain(): void {
    while (this.inFlight > 0) for (let c = this.qp.poll(); c !== null; c = this.qp.poll()) { this.free.push(c.cid); this.inFlight--; }
  }
}

export async function blk(o: BlkOptions): Promise<BlkResult> {
  const say = o.progress ?? (() => {});
  const blocks = o.blocks ?? (o.quick ? 8192 : 65536); // 32 MiB or 256 MiB per image
  const roundMs = o.roundMs ?? (o.quick ? 250 : 1000);
  const rounds = o.rounds ?? (o.quick ? 3 : 5);
  const chartMs = o.crashMs ?? (o.quick ? 2500 : 5000);
  // Two disks of the same size: one for the driver alone (raw, domain, the device alone, the host
  // loop), one for the shadow's driver, so that both stay warm and their rounds can alternate.
  const images = ['a', 'b'].map((x) => join(tmpdir(), `frond-bench-blk-${process.pid}-${x}.img`));
  say(`images ${images.join(', ')}: ${blocks * 4096 / (1 << 20)} MiB of random data each`);
  for (const im of images) fillImage(im, blocks);

  const bundles = await buildForBoot(ROOT, DOMAINS);
  const k = new Kernel(new NodeHost(), { trust: bootTrust(ROOT), log: process.env.BLK_LOG ? (l) => console.error(l) : () => {} });
  loadAll(k, bundles);
  // A driver serves one client (requests come back to whoever polls), so raw and domain each get
  // a driver of their own, on device models of their own over the same image.
  const plain = await startBlock(k, { blocks, image: images[0], shadow: false, device: 'nvme-a', irq: 11 });
  const rawPath = await startBlock(k, { blocks, image: images[0], shadow: false, device: 'nvme-r', irq: 13 });
  const shadowed = await startBlock(k, { blocks, image: images[1], shadow: true, device: 'nvme-b', irq: 12 });
  const f: Figures = {};
  const series: Series[] = [];
  const kernelHeap = k.heapCap();
  const driverA = rawPath.driver()!;
  const driverHeap = heapFor(k.heap, driverA);
  const impl = driverA.impl as BDev;
  const id = driverA.id;
  // raw: the driver's implementation itself, called with requests the driver owns, run as the
  // driver (rpc.run: the domain stack's bookkeeping, which its CPU budget needs), with no proxy.
  const raw: BDev = {
    info: () => k.rpc.run(id, () => impl.info()),
    read: (r) => k.rpc.run(id, () => impl.read(r)),
    write: (r) => k.rpc.run(id, () => impl.write(r)),
    flush: () => k.rpc.run(id, () => impl.flush()),
    submitAndPoll: (q) => k.rpc.run(id, () => impl.submitAndPoll(q)),
    pending: () => k.rpc.run(id, () => impl.pending()),
    wait: () => k.rpc.run(id, () => impl.wait()),
  };
  bindHeap(driverHeap);
  const rawClient = new Client(raw, blocks, 11, 'raw');
  bindHeap(kernelHeap);
  const domainClient = new Client(plain.bdev, blocks, 12, 'domain');
  const shadowClient = new Client(shadowed.bdev, blocks, 13, 'shadow');
  const device = new DeviceLoop(k, images[0], blocks);
  await device.start();
  const fd = openSync(images[0], 'r+');
  const hostBuf = new Uint8Array(new SharedArrayBuffer(4096));
  const hostNext = rng(7);
  const host = (write: boolean): number => {
    for (let i = 0; i < 64; i++) {
      const at = (hostNext() % blocks) * 4096;
      if (write) writeSync(fd, hostBuf, 0, 4096, at);
      else readSync(fd, hostBuf, 0, 4096, at);
    }
    return 64;
  };
  let crashes = 0;
  const crashB = (): void => { shadowed.inject(crashes++ % 2 === 0 ? 'now' : 'in-call'); };

  type Step = () => number;
  for (const op of [BlockOp.READ, BlockOp.WRITE]) {
    const opName = op === BlockOp.READ ? 'read' : 'write';
    for (const b of [1, BATCH]) {
      const one = (c: Client, heap: typeof kernelHeap): Step => () => { bindHeap(heap); return b === 1 ? c.one(op) : c.batch(op); };
      const paths: [string, Step, boolean][] = [
        ['raw', one(rawClient, driverHeap), false],
        ['domain', one(domainClient, kernelHeap), false],
        ['shadow', one(shadowClient, kernelHeap), false],
        ['shadow_crash_1s', one(shadowClient, kernelHeap), true],
      ];
      const samples = new Map<string, number[]>(paths.map(([p]) => [p, []]));
      for (const [, step] of paths) timed(roundMs / 4, step); // warm-up
      for (let r = 0; r < rounds; r++) {
        for (const [p, step, crash] of paths) {
          // A crash round: one driver crash half way through its second (a crash a second).
          let crashed = !crash;
          const xs = samples.get(p)!;
          xs.push(timed(roundMs, step, (elapsed) => { if (!crashed && elapsed >= roundMs / 2) { crashed = true; crashB(); } }));
        }
      }
      bindHeap(driverHeap);
      rawClient.settle();
      bindHeap(kernelHeap);
      domainClient.settle();
      shadowClient.settle();
      for (const [p] of paths) {
        const name = `${opName}_${p}_b${b}_iops`;
        f[name] = Math.round(median(samples.get(p)!));
        say(`${name.padEnd(32)} ${f[name]}`);
      }
      // The device alone and the host loop, alternating likewise.
      const dname = `device_${opName}_b${b}_iops`;
      const dx: number[] = [];
      const hx: number[] = [];
      for (let r = 0; r < rounds; r++) {
        dx.push(timed(roundMs, () => device.step(op === BlockOp.READ ? Opcode.READ : Opcode.WRITE, b)));
        if (b === 1) hx.push(timed(roundMs, () => host(op === BlockOp.WRITE)));
      }
      device.drain();
      f[dname] = Math.round(median(dx));
      say(`${dname.padEnd(32)} ${f[dname]}`);
      if (b === 1) {
        f[`host_${opName}_iops`] = Math.round(median(hx));
        say(`${`host_${opName}_iops`.padEnd(32)} ${f[`host_${opName}_iops`]}`);
      }
    }
  }
  closeSync(fd);

  // Throughput over time across crashes (the chart): batch 32, a crash every second.
  for (const op of [BlockOp.READ, BlockOp.WRITE]) {
    const points: [number, number][] = [];
    const at: number[] = [];
    bindHeap(kernelHeap);
    timed(chartMs, () => shadowClient.batch(op), (elapsed) => {
      if (elapsed >= 1000 * (at.length + 1) - 500) { crashB(); at.push(elapsed / 1000); }
    }, points);
    series.push({ name: `${op === BlockOp.READ ? 'read' : 'write'}, batch ${BATCH}`, points, crashes: at });
  }

  // Restart: a crash, then the shadow's next call answered by a new driver.
  {
    const restarts: number[] = [];
    const resets: number[] = [];
    for (let i = 0; i < (o.quick ? 7 : 21); i++) {
      const t0 = performance.now();
      shadowed.inject('now');
      const t1 = performance.now();
      const r = shadowed.bdev.info();
      const t2 = performance.now();
      if (!r.ok) throw new Error(`bench blk: info after a crash: ${r.error.message}`);
      resets.push((t1 - t0) * 1000);
      restarts.push((t2 - t0) * 1000);
      await new Promise((res) => setTimeout(res, 5));
    }
    f.restart_us = Math.round(median(restarts));
    f.reset_us = Math.round(median(resets));
    say(`restart_us ${f.restart_us} (of which the kernel's clean-up with the device reset: ${f.reset_us})`);
  }
  f.crashes = crashes;

  bindHeap(driverHeap);
  rawClient.close();
  bindHeap(kernelHeap);
  domainClient.close();
  shadowClient.close();
  await plain.stop();
  await rawPath.stop();
  await shadowed.stop();
  await device.dev.stop();
  for (const im of images) rmSync(im, { force: true });

  for (const op of ['read', 'write']) {
    f[`${op}_domain_over_raw_b32`] = f[`${op}_domain_b32_iops`] / f[`${op}_raw_b32_iops`];
    f[`${op}_crash_over_shadow_b32`] = f[`${op}_shadow_crash_1s_b32_iops`] / f[`${op}_shadow_b32_iops`];
    f[`${op}_domain_b32_over_device_b32`] = f[`${op}_domain_b32_iops`] / f[`device_${op}_b32_iops`];
    f[`${op}_domain_b32_over_host`] = f[`${op}_domain_b32_iops`] / f[`host_${op}_iops`];
  }
  return { figures: f, series };
}

/** Throughput over time in the crash runs, one line per run, crashes as dashed lines. */
export function blkChart(title: string, subtitle: string, series: readonly Series[]): string {
  const W = 900;
  const H = 420;
  const left = 80;
  const right = 20;
  const top = 70;
  const bottom = 50;
  const tMax = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[0])));
  const yMax = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1]))) * 1.1;
  const x = (t: number): number => left + (t / tMax) * (W - left - right);
  const y = (v: number): number => top + (1 - v / yMax) * (H - top - bottom);
  const colors = ['#3a6fc9', '#d0453b', '#3a9d5d', '#a05ac0'];
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="12" y="24" font-size="16" font-weight="bold">${title}</text>`,
    `<text x="12" y="44" fill="#555">${subtitle}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (yMax / 5) * i;
    out.push(`<line x1="${left}" y1="${y(v).toFixed(1)}" x2="${W - right}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#555">${Math.round(v / 1000)}K</text>`);
  }
  for (let t = 0; t <= Math.floor(tMax); t++) out.push(`<text x="${x(t).toFixed(1)}" y="${H - bottom + 18}" text-anchor="middle" fill="#555">${t} s</text>`);
  out.push(`<text x="14" y="${top - 10}" fill="#555">4 KiB operations per second (${SAMPLE_MS} ms samples)</text>`);
  series.forEach((s, i) => {
    const c = colors[i % colors.length];
    for (const t of s.crashes) out.push(`<line x1="${x(t).toFixed(1)}" y1="${top}" x2="${x(t).toFixed(1)}" y2="${H - bottom}" stroke="${c}" stroke-dasharray="4,3" opacity="0.6"><title>driver crash</title></line>`);
    const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.5"/>`);
    out.push(`<text x="${W - right - 200}" y="${top + 16 + 18 * i}" fill="${c}">${s.name}</text>`);
  });
  out.push(`<text x="12" y="${H - 10}" fill="#555" font-size="11">the shadow over the NVMe driver domain; dashed: a driver crash (the shadow restarts it and re-submits what it held)</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

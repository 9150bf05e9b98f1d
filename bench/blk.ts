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
// Each figure is the median of several rounds (the crash runs are one long run each, so that they
// span several crashes); throughput is sampled every 50 ms in the crash runs for the chart.
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
import type { Domain } from '../src/kernel/domain.ts';
import { heapFor } from '../src/kernel/services/heap.ts';
import { KERNEL_ID } from '../src/kernel/rpc.ts';
import { Opcode, type Command } from '../src/machine/common/nvme.ts';
import { NodeHost } from '../src/machine/node/host.ts';
import { startBlock, DEVICE } from '../src/boot/block.ts';
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

  constructor(private readonly bdev: BDev, private readonly blocks: number, seed: number) {
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
    for (let i = 0; this.free.length < BATCH; i++) {
      if (i > 1e7) throw new Error('bench blk: requests never came back');
      const res = this.bdev.submitAndPoll(this.deque);
      if (!res.ok) throw new Error(`bench blk: ${res.error.message}`);
      this.deque = res.value;
      for (let r = DequeBlockReq32.pop(this.deque); r !== null; r = DequeBlockReq32.pop(this.deque)) this.free.push(r);
    }
    for (const r of this.free) BlockReq.free(r);
    this.free.length = 0;
    DequeBlockReq32.free(this.deque);
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

/** The same random 4 KiB I/O on the same file from a plain host loop. */
function hostLoop(path: string, blocks: number, write: boolean, ms: number): number {
  const fd = openSync(path, 'r+');
  const buf = new Uint8Array(new SharedArrayBuffer(4096));
  const next = rng(7);
  try {
    return timed(ms, () => {
      for (let i = 0; i < 64; i++) {
        const at = (next() % blocks) * 4096;
        if (write) writeSync(fd, buf, 0, 4096, at);
        else readSync(fd, buf, 0, 4096, at);
      }
      return 64;
    });
  } finally {
    closeSync(fd);
  }
}

export async function blk(o: BlkOptions): Promise<BlkResult> {
  const say = o.progress ?? (() => {});
  const blocks = o.blocks ?? (o.quick ? 8192 : 65536); // 32 MiB or 256 MiB
  const roundMs = o.roundMs ?? (o.quick ? 200 : 1000);
  const rounds = o.rounds ?? (o.quick ? 3 : 5);
  const crashMs = o.crashMs ?? (o.quick ? 2500 : 6000);
  const image = join(tmpdir(), `frond-bench-blk-${process.pid}.img`);
  say(`image ${image}: ${blocks * 4096 / (1 << 20)} MiB of random data`);
  fillImage(image, blocks);

  const bundles = await buildForBoot(ROOT, DOMAINS);
  const k = new Kernel(new NodeHost(), { trust: bootTrust(ROOT), log: () => {} });
  loadAll(k, bundles);
  // The device, attached; the path starts with the shadow, which the runs below replace as needed.
  const path = await startBlock(k, { blocks, image, shadow: false });
  const f: Figures = {};
  const series: Series[] = [];
  const kernelHeap = k.heapCap();
  const driverConfig = { device: DEVICE, coalesce: 8, coalesceUs: 100 };

  const current = (): Domain => k.driverOf(DEVICE)!;
  const stopAll = (): void => {
    for (const d of k.list()) k.kill(d, 'next path');
  };

  type Path = 'raw' | 'domain' | 'shadow';
  /** A BDev for `p`, with the heap capability its requests must be made with. */
  function open(p: Path): BDev {
    stopAll();
    if (p === 'shadow') {
      bindHeap(kernelHeap);
      return k.create<BDev>('bdev-shadow', {}, {
        privileged: true, devices: [DEVICE], config: { target: 'nvme', device: DEVICE, driver: driverConfig },
      }).api;
    }
    const made = k.create<BDev>('nvme', {}, { devices: [DEVICE], config: driverConfig });
    if (p === 'domain') {
      bindHeap(kernelHeap);
      return made.api;
    }
    // raw: the implementation itself, called with requests the driver owns; run as the driver
    // (rpc.run: the domain stack's bookkeeping, which its CPU budget needs), without a proxy.
    bindHeap(heapFor(k.heap, made.domain));
    const impl = made.domain.impl as BDev;
    const id = made.domain.id;
    return {
      info: () => k.rpc.run(id, () => impl.info()),
      read: (r) => k.rpc.run(id, () => impl.read(r)),
      write: (r) => k.rpc.run(id, () => impl.write(r)),
      flush: () => k.rpc.run(id, () => impl.flush()),
      submitAndPoll: (q) => k.rpc.run(id, () => impl.submitAndPoll(q)),
      pending: () => k.rpc.run(id, () => impl.pending()),
      wait: () => k.rpc.run(id, () => impl.wait()),
    };
  }

  for (const p of ['raw', 'domain', 'shadow'] as const) {
    for (const op of [BlockOp.READ, BlockOp.WRITE]) {
      for (const b of [1, BATCH]) {
        const name = `${op === BlockOp.READ ? 'read' : 'write'}_${p}_b${b}_iops`;
        const c = new Client(open(p), blocks, 11);
        const step = b === 1 ? () => c.one(op) : () => c.batch(op);
        timed(roundMs / 2, step); // warm-up
        const xs: number[] = [];
        for (let r = 0; r < rounds; r++) xs.push(timed(roundMs, step));
        c.close();
        f[name] = Math.round(median(xs));
        say(`${name.padEnd(28)} ${f[name]}`);
      }
    }
  }

  // The shadow with a driver crash every second.
  for (const op of [BlockOp.READ, BlockOp.WRITE]) {
    for (const b of [1, BATCH]) {
      const opName = op === BlockOp.READ ? 'read' : 'write';
      const name = `${opName}_shadow_crash_1s_b${b}_iops`;
      const c = new Client(open('shadow'), blocks, 13);
      const step = b === 1 ? () => c.one(op) : () => c.batch(op);
      timed(roundMs / 2, step);
      const points: [number, number][] = [];
      const crashes: number[] = [];
      let n = 0;
      const iops = timed(crashMs, step, (elapsed) => {
        if (elapsed >= 1000 * (crashes.length + 1)) {
          k.injectCrash(DEVICE, n++ % 2 === 0 ? 'now' : 'in-call');
          crashes.push(elapsed / 1000);
        }
      }, points);
      c.close();
      f[name] = Math.round(iops);
      if (b === BATCH) series.push({ name: `${opName}, batch ${b}`, points, crashes });
      say(`${name.padEnd(28)} ${f[name]} (${crashes.length} crashes)`);
    }
  }

  // Restart: a crash, then the shadow's next call answered by a new driver.
  {
    const bdev = open('shadow');
    const restarts: number[] = [];
    const resets: number[] = [];
    for (let i = 0; i < (o.quick ? 7 : 21); i++) {
      const t0 = performance.now();
      k.injectCrash(DEVICE, 'now');
      const t1 = performance.now();
      const r = bdev.info();
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
  stopAll();
  void current;

  // The device alone: host code on an I/O queue of its own, the kernel's IOMMU.
  {
    const dev = path.dev;
    const q = 2;
    if (dev.createIoQueue(q, BATCH, 0) !== 0) throw new Error('bench blk: cannot create a queue for the device run');
    const qp = dev.queue(q);
    qp.mask(true);
    const mapper = k.devices.get(DEVICE)!.mapper;
    const bufs: number[] = [];
    const iovas: number[] = [];
    for (let i = 0; i < BATCH; i++) {
      const h = k.heap.allocate(KERNEL_ID, Bytes4096.typeId);
      const [, , off, len] = k.heap.pin(KERNEL_ID, h, -1);
      bufs.push(h);
      iovas.push(mapper.map(off, len, 3));
    }
    const next = rng(17);
    const cmd: Command = { opcode: 0, cid: 0, lba: 0, count: 1, bufIova: 0, bufLength: 4096 };
    for (const op of [Opcode.READ, Opcode.WRITE]) {
      for (const b of [1, BATCH]) {
        let inFlight = 0;
        const freeCids: number[] = [];
        for (let i = 0; i < b; i++) freeCids.push(i);
        const step = (): number => {
          while (freeCids.length > 0) {
            const cid = freeCids.pop()!;
            cmd.opcode = op; cmd.cid = cid; cmd.lba = next() % blocks; cmd.bufIova = iovas[cid];
            qp.enqueue(cmd);
            inFlight++;
          }
          qp.ring();
          let n = 0;
          for (let c = qp.poll(); c !== null; c = qp.poll()) {
            if (c.status !== 0) throw new Error(`bench blk: device status ${c.status}`);
            freeCids.push(c.cid);
            inFlight--;
            n++;
          }
          return n;
        };
        timed(roundMs / 2, step);
        const xs: number[] = [];
        for (let r = 0; r < rounds; r++) xs.push(timed(roundMs, step));
        while (inFlight > 0) for (let c = qp.poll(); c !== null; c = qp.poll()) inFlight--;
        const name = `device_${op === Opcode.READ ? 'read' : 'write'}_b${b}_iops`;
        f[name] = Math.round(median(xs));
        say(`${name.padEnd(28)} ${f[name]}`);
      }
    }
    for (const iova of iovas) mapper.unmap(iova);
    void bufs;
  }
  await path.stop();

  // The host loop on the same file.
  for (const write of [false, true]) {
    const name = `host_${write ? 'write' : 'read'}_iops`;
    const xs: number[] = [];
    for (let r = 0; r < rounds; r++) xs.push(hostLoop(image, blocks, write, roundMs));
    f[name] = Math.round(median(xs));
    say(`${name.padEnd(28)} ${f[name]}`);
  }
  rmSync(image, { force: true });

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

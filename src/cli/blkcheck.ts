// frond blkcheck: boots the machine with its disk (the NVMe-like device on a worker thread, its driver
// domain behind the block-driver shadow) and runs the block-path integrity check (boot/blkcheck.ts)
// on it: random checksummed reads and writes for --seconds, optionally crashing the driver under
// it (--inject nvme:every=100ms), then every block read back and the image file compared with the
// model. Exit code 0 only for a clean run.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel } from '../kernel/kernel.ts';
import { NodeHost } from '../machine/node/host.ts';
import { bootTrust, buildForBoot, loadAll } from '../tools/domainc/boot.ts';
import { startBlock } from '../boot/block.ts';
import { BlockCheck } from '../boot/blkcheck.ts';
import { UsageError, type Parsed } from './args.ts';
import { ROOT } from './root.ts';

const DOMAINS = ['src/domains/drivers/nvme', 'src/domains/shadows/bdev'];

/** `nvme:every=100ms` (or `=1s`) → the period in ms. */
export function parseInject(spec: string): { device: string; everyMs: number } {
  const m = /^(nvme):every=(\d+(?:\.\d+)?)(ms|s)$/.exec(spec);
  if (!m) throw new UsageError(`--inject must look like nvme:every=100ms or nvme:every=1s, not '${spec}'`);
  const everyMs = Number(m[2]) * (m[3] === 's' ? 1000 : 1);
  if (!(everyMs >= 1)) throw new UsageError('--inject: the period must be at least 1 ms');
  return { device: m[1], everyMs };
}

function count(a: Parsed, name: string, dflt: number, min: number, max: number): number {
  const v = a.values.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be an integer in [${min}, ${max}], not '${v}'`);
  return n;
}

export async function main(a: Parsed): Promise<number> {
  const seconds = Number(a.values.get('--seconds') ?? '5');
  if (!(seconds > 0 && seconds <= 86400)) throw new UsageError('--seconds must be a number of seconds in (0, 86400]');
  const blocks = count(a, '--blocks', 4096, 16, 1 << 24);
  const batch = count(a, '--batch', 32, 0, 32);
  const seed = count(a, '--seed', 1, 0, 2 ** 31);
  const inject = a.values.has('--inject') ? parseInject(a.values.get('--inject')!) : null;
  const given = a.values.get('--image');
  const image = given ?? join(tmpdir(), `frond-boot-${process.pid}.img`);
  if (given === undefined) rmSync(image, { force: true });

  const bundles = await buildForBoot(ROOT, DOMAINS);
  const k = new Kernel(new NodeHost(), { trust: bootTrust(ROOT), log: a.flags.has('--verbose') ? undefined : () => {} });
  loadAll(k, bundles);
  const path = await startBlock(k, { blocks, image, shadow: !a.flags.has('--no-shadow') });
  const baseline = k.heap.stats().objects;
  console.log(`frond blkcheck: ${blocks} blocks of 4 KiB on ${given ?? 'a fresh image'}, driver ${path.shadow ? 'behind the shadow' : 'alone'}, `
    + `${batch === 0 ? 'one request per call' : `batches of ${batch}`}${inject ? `, a driver crash every ${inject.everyMs} ms` : ''}`);

  const check = new BlockCheck(path.bdev, k.heapCap(), blocks);
  let crashes = 0;
  let last = performance.now();
  await check.run({
    blocks, ms: seconds * 1000, batch, seed,
    tick: inject ? () => {
      const now = performance.now();
      if (now - last < inject.everyMs) return;
      last = now;
      // Alternately between calls (requests waiting in the driver) and inside one (a batch part
      // submitted, buffers mapped).
      if (path.inject(crashes % 2 === 0 ? 'now' : 'in-call')) crashes++;
    } : undefined,
  });
  check.verifyAll();
  check.dispose();
  const leftover = k.heap.stats().objects - baseline;
  await path.stop();
  check.verifyImage(image);
  if (given === undefined) rmSync(image, { force: true });
  const audit = k.heap.audit();
  const objects = k.heap.stats().objects;

  const r = check.result;
  const iops = Math.round(r.ops / (r.ms / 1000));
  console.log(`  ${r.ops} operations (${r.reads} reads, ${r.writes} writes) in ${(r.ms / 1000).toFixed(1)} s: ${iops} per second`);
  console.log(`  ${crashes} driver crashes injected; ${k.crashes.filter((c) => c.domain === 'nvme').length} driver ends reported by the kernel`);
  console.log(`  failed ${r.failed}, corrupt ${r.corrupt}, bad blocks ${r.bad} (every block read back, and the image compared with the model)`);
  console.log(`  exchange heap: ${leftover} objects left by the check, ${objects} after shutdown${audit.length ? `; audit: ${audit[0]}` : ', audit clean'}`);
  for (const p of r.problems) console.log(`  problem: ${p}`);
  const clean = r.failed === 0 && r.corrupt === 0 && r.bad === 0 && audit.length === 0 && objects === 0 && leftover <= 4;
  console.log(clean ? 'frond blkcheck: clean' : 'frond blkcheck: FAILED');
  return clean ? 0 : 1;
}

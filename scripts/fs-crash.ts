// npm run crash:fs [-- --seeds N --ops N]: the long crash-safety run of rv6's file system
// (src/boot/fscrash.ts). For each workload seed, power is cut after every I/O command the
// workload issues (so at every flush boundary, and between the writes of every commit), three
// ways: keeping none, all, or a random half of the writes not yet flushed; after each cut a new
// fs domain recovers the disk, and fsck and the durability rule are checked. Prints one line per
// failing cut and a summary; exit code 1 if any cut failed.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';
import { baseImage, commandsOf, cutOnce, tempDir, workload } from '../src/boot/fscrash.ts';
import { buildRv6 } from '../src/boot/rv6.ts';
import type { Keep } from '../src/machine/node/nvme.ts';

const ROOT = join(fileURLToPath(import.meta.url), '../..');
const { values } = parseArgs({ options: { seeds: { type: 'string', default: '3' }, ops: { type: 'string', default: '150' } } });
const seeds = Number(values.seeds);
const nops = Number(values.ops);
const built = await buildRv6(ROOT);
const dir = tempDir();
const base = baseImage();
let cuts = 0;
let failed = 0;
const t0 = performance.now();
for (let seed = 1; seed <= seeds; seed++) {
  const ops = workload(seed, nops);
  const n = await commandsOf(built.system, built.trust, base, ops, dir);
  let prefixes = 0;
  for (let after = 1; after <= n; after++) {
    for (const keep of ['none', 'all', { seed: seed * 100_000 + after }] as Keep[]) {
      const r = await cutOnce(built.system, built.trust, base, ops, after, keep, dir);
      cuts++;
      if (r.prefix > 0) prefixes++;
      if (!r.ok) {
        failed++;
        console.log(`seed ${seed} cut after ${after} keep ${JSON.stringify(keep)}: ${r.problems.join('; ')}`);
      }
    }
  }
  console.log(`seed ${seed}: ${n} commands, ${3 * n} cuts, ${prefixes} recovered a non-empty prefix`);
}
rmSync(dir, { recursive: true, force: true });
console.log(`${cuts} power cuts, ${failed} failed, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
process.exit(failed > 0 ? 1 : 0);

// Shared test set-up: builds domain folders with the trusted build (signed, metered; cached on
// disk under build/test/, incremental) and boots a kernel that trusts the test key and whose log is
// captured. One kernel at a time per process: it attaches process-wide hooks.
// `npm test` builds everything once before the test files run (scripts/test.mjs); a test file run
// on its own builds what it needs.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kernel, type KernelOptions } from '../src/kernel/kernel.ts';
import { NodeHost } from '../src/machine/node/host.ts';
import { buildDomain, devKey, type SigningKey } from '../src/tools/domainc/build.ts';

export const ROOT = join(fileURLToPath(import.meta.url), '../..');
export const TEST_OUT = join(ROOT, 'build', 'test', 'domains');
export const TEST_KEYS = join(ROOT, 'build', 'test', 'keys');

export const DOMAINS = {
  counter: 'src/domains/apps/counter',
  plan: 'src/domains/apps/plan',
  flaky: 'src/domains/drivers/flaky',
  shadow: 'src/domains/shadows/counter',
  probe: 'test/domains/probe',
  bench: 'bench/domains/caller',
} as const;

let key: SigningKey | null = null;
export function testKey(): SigningKey {
  key ??= devKey(TEST_KEYS);
  return key;
}

const cache = new Map<string, Promise<string>>();
/** The signed bundle (JSON text) built from a domain folder (relative to the root). */
export function signed(dir: string): Promise<string> {
  let b = cache.get(dir);
  if (!b) {
    // Test domains attack what lies behind the source checks: built without them (as scripts/test.mjs does).
    const check = !dir.startsWith('test/');
    b = buildDomain(join(ROOT, dir), { root: ROOT, outDir: TEST_OUT, key: testKey(), check }).then((r) => new TextDecoder().decode(r.bytes));
    cache.set(dir, b);
  }
  return b;
}

export interface Booted { k: Kernel; logs: string[] }

export async function boot(dirs: (keyof typeof DOMAINS | `${string}/${string}`)[], opts: Partial<KernelOptions> = {}): Promise<Booted> {
  const logs: string[] = [];
  const k = new Kernel(new NodeHost(), { trust: [testKey().publicKey], log: (l) => logs.push(l), ...opts });
  for (const d of dirs) k.load(await signed(d in DOMAINS ? DOMAINS[d as keyof typeof DOMAINS] : d));
  return { k, logs };
}

/** Lets timers and promise jobs run. */
export const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Shared test set-up: bundles domain folders (cached per process) and boots a kernel whose log
// is captured. One kernel at a time per process: it attaches process-wide hooks.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kernel, type KernelOptions } from '../src/kernel/kernel.ts';
import type { Bundle } from '../src/kernel/domain.ts';
import { NodeHost } from '../src/machine/node/host.ts';
import { bundleDomain } from '../src/tools/build/bundle.ts';

export const ROOT = join(fileURLToPath(import.meta.url), '../..');

export const DOMAINS = {
  counter: 'src/domains/apps/counter',
  plan: 'src/domains/apps/plan',
  flaky: 'src/domains/drivers/flaky',
  shadow: 'src/domains/shadows/counter',
  probe: 'test/domains/probe',
  bench: 'bench/domains/caller',
} as const;

const cache = new Map<string, Promise<Bundle>>();
export function bundle(dir: string): Promise<Bundle> {
  let b = cache.get(dir);
  if (!b) { b = bundleDomain(join(ROOT, dir), ROOT); cache.set(dir, b); }
  return b;
}

export interface Booted { k: Kernel; logs: string[] }

export async function boot(dirs: (keyof typeof DOMAINS)[], opts: KernelOptions = {}): Promise<Booted> {
  const logs: string[] = [];
  const k = new Kernel(new NodeHost(), { log: (l) => logs.push(l), ...opts });
  for (const d of dirs) k.load(await bundle(DOMAINS[d]));
  return { k, logs };
}

/** Lets timers and promise jobs run. */
export const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Host-side start-up shared by `frond start` and the benchmarks: build (incrementally) the domains
// a program needs with the development key, and load the signed bundles into a kernel that trusts
// every key in keys/.
import { join } from 'node:path';
import type { Kernel } from '../../kernel/kernel.ts';
import { buildAll, devKey, trustedKeys, type BuildOptions } from './build.ts';

/** Builds `dirs` (relative to `root`) into build/domains and returns the signed bundles' bytes (what the kernel verifies). */
export async function buildForBoot(root: string, dirs: readonly string[], opts: Partial<BuildOptions> = {}): Promise<Uint8Array[]> {
  const key = devKey(join(root, 'keys'));
  const built = await buildAll({ root, key, ...opts }, dirs.map((d) => join(root, d)));
  return built.map((b) => b.bytes); // (read, parsed and hashed once by the build's up-to-date check, or just written)
}

/** The keys a kernel started from this tree trusts. */
export function bootTrust(root: string): string[] {
  devKey(join(root, 'keys'));
  return trustedKeys(join(root, 'keys'));
}

export function loadAll(k: Kernel, bundles: readonly Uint8Array[]): void {
  for (const b of bundles) k.load(b);
}

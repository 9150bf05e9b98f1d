// frond verify [--keys DIR] FILE...
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FINGERPRINTS } from '../idl/generated/types.ts';
import { BundleRefused, verifyBundle } from '../kernel/verify.ts';
import { NodeCrypto } from '../machine/node/host.ts';
import { trustedKeys } from '../tools/build/build.ts';
import { ROOT } from './root.ts';

export async function main(args: string[]): Promise<number> {
  let keys = join(ROOT, 'keys');
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--keys') {
      const v = args[++i];
      if (v === undefined) { console.error('frond verify: --keys needs a directory'); return 1; }
      keys = resolve(v);
    } else if (args[i].startsWith('-')) { console.error(`frond verify: unknown option ${args[i]}`); return 1; } else files.push(args[i]);
  }
  if (files.length === 0) { console.error('frond verify: name a bundle file (see --help)'); return 1; }
  const policy = { trusted: trustedKeys(keys), fingerprints: FINGERPRINTS };
  const crypto = new NodeCrypto();
  let failed = 0;
  for (const f of files) {
    const label = files.length > 1 ? `${f}: ` : '';
    let text: string;
    try { text = readFileSync(f, 'utf8'); } catch (e) { console.log(`${label}cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); failed++; continue; }
    try {
      const b = verifyBundle(text, policy, crypto);
      console.log(`${label}ok (${b.name}, key ${b.key}${b.metered ? '' : ', unmetered'})`);
    } catch (e) {
      if (!(e instanceof BundleRefused)) throw e;
      console.log(`${label}${e.message}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

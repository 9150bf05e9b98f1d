// frond idl [--check]: runs the IDL compiler (tools/idlc) over src/idl/*.ts.
import { relative } from 'node:path';
import { runIdlc, IdlError } from '../tools/idlc/main.ts';
import type { Parsed } from './args.ts';
import { ROOT } from './root.ts';

export async function main(a: Parsed): Promise<number> {
  const check = a.flags.has('--check');
  try {
    const { changed } = runIdlc(ROOT, { check });
    if (check && changed.length) {
      console.error(`frond idl: generated code is stale (run \`npx frond idl\`): ${changed.map((p) => relative(ROOT, p)).join(', ')}`);
      return 1;
    }
    if (!check) console.log(changed.length ? `frond idl: wrote ${changed.map((p) => relative(ROOT, p)).join(', ')}` : 'frond idl: up to date');
    return 0;
  } catch (e) {
    if (e instanceof IdlError) { console.error(e.message); return 1; }
    throw e;
  }
}

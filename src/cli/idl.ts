// frond idl [--check]
import { relative } from 'node:path';
import { runIdlc, IdlError } from '../tools/idlc/main.ts';
import { ROOT } from './root.ts';

export async function main(args: string[]): Promise<number> {
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length) { console.error(`frond idl: unknown option ${unknown[0]}`); return 1; }
  const check = args.includes('--check');
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

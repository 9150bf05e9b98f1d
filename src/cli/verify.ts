// frond verify [--keys DIR] FILE...
//
// Checks each signed bundle exactly as the kernel does before it evaluates anything
// (kernel/verify.ts), from the file's bytes. Invariants: one line per file, always starting with
// the file's name; nothing of a file's raw content is echoed (refusals name checked fields only);
// one bad file never stops the others; exit code 0 only if every file is ok.
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FINGERPRINTS } from '../idl/generated/types.ts';
import { BundleRefused, MAX_BUNDLE_BYTES, oneLine, verifySigned, type VerifyPolicy } from '../kernel/verify.ts';
import { NodeCrypto } from '../machine/node/host.ts';
import { trustedKeys } from '../tools/domainc/build.ts';
import { UsageError, type Parsed } from './args.ts';
import { ROOT } from './root.ts';

/** `keysGiven`: the --keys value as the user wrote it (for messages), if given. */
interface Args { keys: string; keysGiven: string | undefined; files: string[] }

function options(a: Parsed): Args {
  const keys = a.values.get('--keys');
  return { keys: keys === undefined ? join(ROOT, 'keys') : resolve(keys), keysGiven: keys, files: a.positional };
}

/** Why the key directory given with --keys cannot be used, or null. */
function keysProblem(dir: string, label: string): string | null {
  let st;
  try { st = statSync(dir); } catch { return `--keys ${label}: no such directory`; }
  if (!st.isDirectory()) return `--keys ${label}: not a directory`;
  return trustedKeys(dir).length === 0 ? `--keys ${label}: holds no public key (*.pub), so no bundle could be trusted` : null;
}

/** The bytes of `file`, or why they cannot be read (one line, no error codes). */
function readBundle(file: string): Uint8Array | string {
  let st;
  try { st = statSync(file); } catch (e) { return readProblem(e); }
  if (st.isDirectory()) return 'cannot read: is a directory';
  if (!st.isFile()) return 'cannot read: not a regular file';
  if (st.size > MAX_BUNDLE_BYTES) return `refused: the file is ${st.size} bytes, over the ${MAX_BUNDLE_BYTES >> 20} MiB limit for a bundle`;
  try { return readFileSync(file); } catch (e) { return readProblem(e); }
}

function readProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'cannot read: no such file';
  if (code === 'EISDIR') return 'cannot read: is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot read: permission denied';
  return `cannot read: ${oneLine(e instanceof Error ? e.message : String(e))}`;
}

/** The one line reported for `file`, and whether it is ok. */
function verifyFile(file: string, policy: VerifyPolicy, crypto: NodeCrypto): { line: string; ok: boolean } {
  const bytes = readBundle(file);
  if (typeof bytes === 'string') return { line: bytes, ok: false };
  try {
    const { bundle: b, manifest: m } = verifySigned(bytes, policy, crypto, file);
    const unchecked = m.tool.flags.checked === false ? ', sources not checked' : '';
    return { line: `ok (${b.name}, key ${b.key}${unchecked})`, ok: true };
  } catch (e) {
    if (e instanceof BundleRefused) return { line: e.message, ok: false };
    return { line: `cannot verify: ${oneLine(e instanceof Error ? `${e.name}: ${e.message}` : String(e))}`, ok: false };
  }
}

export async function main(parsed: Parsed): Promise<number> {
  const a = options(parsed);
  const why = a.keysGiven !== undefined ? keysProblem(a.keys, a.keysGiven) : null;
  if (why !== null) throw new UsageError(why);
  const policy: VerifyPolicy = { trusted: trustedKeys(a.keys), fingerprints: FINGERPRINTS };
  const crypto = new NodeCrypto();
  let failed = 0;
  for (const f of a.files) {
    const r = verifyFile(f, policy, crypto);
    console.log(`${oneLine(f)}: ${r.line}`);
    if (!r.ok) failed++;
  }
  return failed ? 1 : 0;
}

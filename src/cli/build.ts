// frond build [--force] [--no-meter] [--no-check] [--out DIR] [--keys DIR] [DIR...]
//
// Checks its arguments before building anything: every DIR must be a directory holding at least
// one domain folder, --out must be (or become) a directory, --keys must hold a usable key or be
// creatable. A bad argument is one UsageError line; a domain that fails to build is reported by
// the build as path:line:col lines, then `frond build: failed`. The build tool (esbuild, the
// TypeScript compiler) is loaded only once the paths are known to be good.
import { mkdirSync } from 'node:fs';
import { resolve, relative, join } from 'node:path';
import { kindOf, reason, UsageError, type Parsed } from './args.ts';
import { ROOT } from './root.ts';

type BuildTool = typeof import('../tools/domainc/build.ts');

/** Throws unless `dir` is a directory or nothing (to be created); `label` is how the user wrote it. */
function directoryOrNothing(dir: string, label: string): void {
  const k = kindOf(dir);
  if (k !== null && k !== 'directory') throw new UsageError(`${label}: not a directory`);
}

function makeDirectory(dir: string, label: string): void {
  if (kindOf(dir) === 'directory') return;
  try { mkdirSync(dir, { recursive: true }); } catch (e) { throw new UsageError(`${label}: cannot create: ${reason(e)}`); }
}

/** The domain folders under each root the user named (a root may be one itself). */
function domainsUnder(tool: BuildTool, roots: readonly string[]): string[] {
  const dirs: string[] = [];
  for (const r of roots) {
    let found: string[];
    try { found = tool.findDomains(resolve(r)); } catch (e) { throw new UsageError(e instanceof tool.BuildError ? e.message : `${r}: ${reason(e)}`); }
    if (found.length === 0) throw new UsageError(`${r}: no domain folders (with domain.json) in it`);
    dirs.push(...found);
  }
  return [...new Set(dirs)];
}

export async function main(a: Parsed): Promise<number> {
  const roots = a.positional.length ? a.positional : [join(ROOT, 'src', 'domains')];
  for (const r of roots) {
    const k = kindOf(resolve(r));
    if (k === null) throw new UsageError(`${r}: no such directory`);
    if (k !== 'directory') throw new UsageError(`${r}: not a directory (name a domain folder or a folder holding some)`);
  }
  const outArg = a.values.get('--out');
  const out = outArg === undefined ? undefined : resolve(outArg);
  const keysArg = a.values.get('--keys');
  const keys = keysArg === undefined ? join(ROOT, 'keys') : resolve(keysArg);
  const keysLabel = keysArg === undefined ? 'keys/' : `--keys ${keysArg}`;
  if (out !== undefined) directoryOrNothing(out, `--out ${outArg}`);
  directoryOrNothing(keys, keysLabel);

  const tool = await import('../tools/domainc/build.ts');
  const dirs = domainsUnder(tool, roots);
  if (out !== undefined) makeDirectory(out, `--out ${outArg}`);
  makeDirectory(keys, keysLabel);
  let key;
  try { key = tool.devKey(keys); } catch (e) { throw new UsageError(`${keysLabel}: no usable signing key (dev.key): ${reason(e)}`); }
  const t0 = performance.now();
  try {
    const built = await tool.buildAll({
      root: ROOT, outDir: out, key, force: a.flags.has('--force'), meter: !a.flags.has('--no-meter'), check: !a.flags.has('--no-check'),
    }, dirs);
    const n = built.filter((b) => b.rebuilt).length;
    for (const b of built.filter((x) => x.rebuilt)) console.log(`built ${b.name.padEnd(16)} ${relative(ROOT, b.file)}`);
    console.log(`frond build: ${n} built, ${built.length - n} up to date, signed with key ${key.id} (${Math.round(performance.now() - t0)} ms)`);
    return 0;
  } catch (e) {
    if (!(e instanceof tool.BuildError)) throw e;
    console.error(e.message);
    console.error('frond build: failed');
    return 1;
  }
}

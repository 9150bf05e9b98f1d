// frond build [--force] [--no-meter] [--no-check] [--out DIR] [--keys DIR] [DIR...]
import { resolve, relative, join } from 'node:path';
import { buildAll, BuildError, devKey, findDomains } from '../tools/build/build.ts';
import { ROOT } from './root.ts';

export async function main(args: string[]): Promise<number> {
  let force = false;
  let meter = true;
  let check = true;
  let out: string | undefined;
  let keys = join(ROOT, 'keys');
  const roots: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--force') force = true;
    else if (a === '--no-meter') meter = false;
    else if (a === '--no-check') check = false;
    else if (a === '--out' || a === '--keys') {
      const v = args[++i];
      if (v === undefined) { console.error(`frond build: ${a} needs a directory`); return 1; }
      if (a === '--out') out = resolve(v); else keys = resolve(v);
    } else if (a.startsWith('-')) { console.error(`frond build: unknown option ${a}`); return 1; } else roots.push(resolve(a));
  }
  const dirs = (roots.length ? roots : [join(ROOT, 'src', 'domains')]).flatMap((r) => findDomains(r));
  if (dirs.length === 0) { console.error('frond build: no domain folders (with domain.json) found'); return 1; }
  const t0 = performance.now();
  try {
    const key = devKey(keys);
    const built = await buildAll({ root: ROOT, outDir: out, key, meter, check, force }, dirs);
    const n = built.filter((b) => b.rebuilt).length;
    for (const b of built.filter((x) => x.rebuilt)) console.log(`built ${b.name.padEnd(16)} ${relative(ROOT, b.file)}`);
    console.log(`frond build: ${n} built, ${built.length - n} up to date, signed with key ${key.id} (${Math.round(performance.now() - t0)} ms)`);
    return 0;
  } catch (e) {
    if (e instanceof BuildError) { console.error(e.message); console.error('frond build: failed'); return 1; }
    throw e;
  }
}

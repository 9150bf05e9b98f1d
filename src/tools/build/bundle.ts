// Compiles one domain folder into a Bundle: a script the kernel evaluates in a fresh compartment.
//
// A domain folder holds index.ts (exporting `init(sys, imports)`) and domain.json
// ({ "name": ..., "exports": "<Interface>" }). The generated entry glue binds the IDL accessors to
// the domain's heap capability before init runs. The output is CommonJS wrapped in an arrow
// function whose completion value is the entry module's exports; the wrapper shares the first
// line with esbuild's output so source-map line numbers stay exact.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { Bundle } from '../../kernel/domain.ts';

export interface DomainManifestIn { name: string; exports?: string }

export function readDomainJson(dir: string): DomainManifestIn {
  const p = join(dir, 'domain.json');
  let j: unknown;
  try { j = JSON.parse(readFileSync(p, 'utf8')); } catch (e) { throw new Error(`${p}: ${(e as Error).message}`); }
  const o = j as Record<string, unknown>;
  if (typeof o?.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(o.name)) throw new Error(`${p}: "name" must be a lower-case identifier`);
  if (o.exports !== undefined && typeof o.exports !== 'string') throw new Error(`${p}: "exports" must be an interface name`);
  return { name: o.name, exports: o.exports as string | undefined };
}

export async function bundleDomain(dir: string, root: string): Promise<Bundle> {
  const m = readDomainJson(dir);
  const abs = resolve(dir);
  const rel = (p: string): string => relative(root, p).split(sep).join('/');
  const entry = [
    `import { init } from './${rel(join(abs, 'index.ts'))}';`,
    `import { bindHeap } from './src/idl/generated/structs.ts';`,
    'export function start(sys, imports, config) { bindHeap(sys.heap); return init(sys, imports, config); }',
  ].join('\n');
  const out = await build({
    stdin: { contents: entry, resolveDir: root, loader: 'ts', sourcefile: `${rel(abs)}/<entry>` },
    absWorkingDir: root,
    bundle: true,
    format: 'cjs',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2022',
    write: false,
    sourcemap: 'external',
    sourcesContent: false,
    legalComments: 'none',
    outfile: join(root, 'build/domains', `${m.name}.js`),
    logLevel: 'silent',
  });
  let js = '';
  let map = '';
  for (const f of out.outputFiles) {
    if (f.path.endsWith('.map')) map = f.text;
    else js = f.text;
  }
  js = js.replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n');
  // Source paths relative to the repository root, so crash reports read src/domains/x/index.ts:12.
  const sm = JSON.parse(map) as { sources: string[] };
  sm.sources = sm.sources.map((s) => rel(resolve(root, 'build/domains', s)));
  const code = `(() => { const module = { exports: {} }; const exports = module.exports; ${js}\nreturn module.exports; })()`;
  return { name: m.name, code, map: JSON.stringify(sm), exports: m.exports };
}

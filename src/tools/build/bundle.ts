// Compiles one domain folder into a script the kernel evaluates in a fresh compartment. (build.ts
// checks the sources first, and signs what this produces.)
//
// A domain folder holds index.ts (exporting `init(sys, imports, config)`) and domain.json:
//   { "name": "...", "exports": "<Interface>", "imports": { "<name>": "<Interface>", ... } }
// The generated entry glue binds the IDL accessors to the domain's heap capability before init
// runs. The output is CommonJS wrapped in a function of the domain's meter hooks whose result is
// the entry module's exports; with `meter`, every function entry and loop back-edge first polls
// the preemption timer (meter.ts). The wrapper shares the first line with esbuild's output, and metering only
// inserts within lines, so source-map line numbers stay exact.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { meter, meterPrologue, type MeterStats } from './meter.ts';

export interface DomainJson { name: string; exports?: string; imports: Record<string, string> }

/** A compiled, not yet signed, domain. */
export interface Compiled {
  name: string;
  /** the entry file, relative to the root */
  entry: string;
  exports: string | undefined;
  imports: Record<string, string>;
  code: string;
  map: string;
  metered: boolean;
  meter: MeterStats | null;
  /** every file bundled (and domain.json), relative to the root */
  inputs: string[];
}

export interface CompileFlags {
  /** insert CPU-budget checks (default true) */
  meter: boolean;
}

/** The esbuild settings every domain is built with (recorded in each manifest). */
export const ESBUILD_FLAGS = { format: 'cjs', platform: 'neutral', target: 'es2022', bundle: true } as const;

const IFACE = /^[A-Z][A-Za-z0-9]*$/;

export function readDomainJson(dir: string): DomainJson {
  const p = join(dir, 'domain.json');
  let j: unknown;
  try { j = JSON.parse(readFileSync(p, 'utf8')); } catch (e) { throw new Error(`${p}: ${(e as Error).message}`); }
  const o = j as Record<string, unknown>;
  if (typeof o?.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(o.name)) throw new Error(`${p}: "name" must be a lower-case identifier`);
  if (o.exports !== undefined && (typeof o.exports !== 'string' || !IFACE.test(o.exports))) throw new Error(`${p}: "exports" must be an interface name`);
  const imports: Record<string, string> = {};
  if (o.imports !== undefined) {
    if (o.imports === null || typeof o.imports !== 'object' || Array.isArray(o.imports)) throw new Error(`${p}: "imports" must map import names to interface names`);
    for (const [k, v] of Object.entries(o.imports)) {
      if (!/^[A-Za-z_$][\w$]*$/.test(k) || typeof v !== 'string' || !IFACE.test(v)) throw new Error(`${p}: import "${k}" must name an interface`);
      imports[k] = v;
    }
  }
  return { name: o.name, exports: o.exports as string | undefined, imports };
}

export async function bundleDomain(dir: string, root: string, flags: CompileFlags = { meter: true }): Promise<Compiled> {
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
    ...ESBUILD_FLAGS,
    mainFields: ['module', 'main'],
    write: false,
    metafile: true,
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
  let stats: MeterStats | null = null;
  if (flags.meter) {
    const r = meter(js);
    js = r.code;
    stats = r.stats;
  }
  const code = `((__frond_m) => { ${flags.meter ? meterPrologue('__frond_m') : ''} const module = { exports: {} }; const exports = module.exports; ${js}\nreturn module.exports; })`;
  const inputs = Object.keys(out.metafile.inputs).filter((f) => !f.includes('<entry>')).map((f) => rel(resolve(root, f)));
  inputs.push(rel(join(abs, 'domain.json')));
  return {
    name: m.name, entry: rel(join(abs, 'index.ts')), exports: m.exports, imports: m.imports,
    code, map: JSON.stringify(sm), metered: flags.meter, meter: stats, inputs: [...new Set(inputs)].sort(),
  };
}

// Compiles one domain folder into a script the kernel evaluates in a fresh compartment. (build.ts
// runs the source checks on what this loads, and signs what it produces.)
//
// A domain folder holds index.ts (exporting `init(sys, imports, config)`) and domain.json:
//   { "name": "...", "exports": "<Interface>", "imports": { "<name>": "<Interface>", ... } }
// The generated entry glue binds the IDL accessors to the domain's heap capability before init
// runs. The output is CommonJS wrapped in a function of the domain's meter hooks whose result is
// the entry module's exports; with `meter`, every function entry and loop back-edge first polls
// the preemption timer (meter.ts). The wrapper shares the first line with esbuild's output, and metering only
// inserts within lines, so source-map line numbers stay exact.
//
// Invariants:
//   - esbuild is the authority on which files make up a domain: every file it loads passes the
//     guard (guard.ts), which reads it once and keeps the text esbuild compiled; every input its
//     metafile lists must be such a file, so the checks (check.ts) see exactly what was bundled;
//   - no tsconfig.json on disk changes how esbuild resolves or compiles (tsconfigRaw pins the
//     settings the repository's own tsconfig.json gave), nor NODE_PATH where it looks;
//   - the manifest's inputs are the SHA-256 of the very bytes the guard read.
import { build, type BuildFailure, type Message, type Metafile } from 'esbuild';
import { join, resolve } from 'node:path';
import { guard, GUARD, type Deferred, type GuardState, type LoadedFile } from './guard.ts';
import { meter, meterPrologue, type MeterStats } from './meter.ts';
import { formatCheckError, loadAllowlist, makeScope, realpath, relPath, type CheckError, type Scope } from './scope.ts';
import { ESBUILD_FLAGS, loadDomainJson, readDomainJson } from './folder.ts';

export { ESBUILD_FLAGS, readDomainJson, type DomainJson } from './folder.ts';


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
  /** every file bundled (and domain.json), relative to the root, with the SHA-256 of its bytes */
  inputs: Record<string, string>;
}

export interface CompileFlags {
  /** insert CPU-budget checks (default true) */
  meter: boolean;
}

/** What esbuild made of a domain folder, before any source check. */
export interface Sources {
  scope: Scope;
  /** every file esbuild loaded (its metafile inputs, when it got that far), as handed to esbuild */
  files: LoadedFile[];
  /** the guard's refusals: always build errors */
  refused: CheckError[];
  /** esbuild's own errors (syntax, unresolved imports, missing exports) */
  failed: CheckError[];
  /** imports left to the source checks to report (only when they run) */
  deferred: Deferred[];
  /** esbuild's output, if it succeeded */
  js: string | null;
  map: string | null;
}

/** The TypeScript settings esbuild compiles with: those of the repository's tsconfig.json, fixed. */
const TSCONFIG = { compilerOptions: { strict: true, verbatimModuleSyntax: true, useDefineForClassFields: true } };

/** The generated entry module (trusted glue: the folder's name goes in as a JSON string literal, never as code), and the name esbuild gives it. */
function entryGlue(s: Scope): { contents: string; sourcefile: string } {
  return {
    contents: [
      `import { init } from ${JSON.stringify(`./${relPath(s.root, join(s.dir, 'index.ts'))}`)};`,
      `import { bindHeap } from './src/idl/generated/structs.ts';`,
      'export function start(sys, imports, config) { bindHeap(sys.heap); return init(sys, imports, config); }',
    ].join('\n'),
    sourcefile: `${s.dirName}/<entry>`,
  };
}

/**
 * Bundles the domain folder `dir` with esbuild behind the guard. Never throws for a problem of
 * the domain's: they come back in `refused` and `failed`. `check` says whether the source checks
 * will run on the result (imports they refuse are then left to them).
 */
export async function bundleSources(dir: string, root: string, opts: { allow: readonly string[]; check: boolean; name?: string }): Promise<Sources> {
  const s = makeScope(dir, root, opts.allow);
  const glue = entryGlue(s);
  const entry = join(s.root, glue.sourcefile);
  const state: GuardState = { files: new Map(), deferred: [] };
  const src: Sources = { scope: s, files: [], refused: [], failed: [], deferred: state.deferred, js: null, map: null };
  try {
    const out = await build({
      stdin: { contents: glue.contents, resolveDir: s.root, loader: 'ts', sourcefile: glue.sourcefile },
      absWorkingDir: s.root,
      ...ESBUILD_FLAGS,
      mainFields: ['module', 'main'],
      resolveExtensions: ['.ts', '.js'],
      tsconfigRaw: TSCONFIG,
      nodePaths: [],
      preserveSymlinks: false,
      write: false,
      metafile: true,
      sourcemap: 'external',
      sourcesContent: false,
      legalComments: 'none',
      outfile: join(s.root, 'build/domains', `${opts.name ?? 'domain'}.js`),
      logLevel: 'silent',
      plugins: [guard(s, entry, opts.check, state)],
    });
    for (const f of out.outputFiles) {
      if (f.path.endsWith('.map')) src.map = f.text;
      else src.js = f.text;
    }
    src.refused.push(...unguarded(s, out.metafile, entry, state));
  } catch (e) {
    if (!isBuildFailure(e)) throw e;
    for (const m of e.errors) (m.pluginName === GUARD ? src.refused : src.failed).push(fromMessage(s, m));
  }
  src.files = [...state.files.values()];
  return src;
}

function isBuildFailure(e: unknown): e is BuildFailure {
  return e instanceof Error && Array.isArray((e as Partial<BuildFailure>).errors);
}

/** Every metafile input the guard did not load: esbuild is the authority on what was bundled. */
function unguarded(s: Scope, meta: Metafile, entry: string, state: GuardState): CheckError[] {
  const out: CheckError[] = [];
  for (const key of Object.keys(meta.inputs)) {
    const abs = realpath(resolve(s.root, key));
    if (abs === entry || state.files.has(abs)) continue;
    out.push({ file: key, line: 0, col: 0, message: 'esbuild loaded this file without passing the build\'s guard; it cannot be bundled into a domain' });
  }
  return out;
}

/** An esbuild message as `path:line:col: text` (columns in UTF-16 code units, as the checks count). */
function fromMessage(s: Scope, m: Message): CheckError {
  const loc = m.location;
  if (loc === null) return { file: s.dirName, line: 0, col: 0, message: m.text };
  const col = new TextDecoder().decode(new TextEncoder().encode(loc.lineText).subarray(0, loc.column)).length + 1;
  return { file: loc.file, line: loc.line, col, message: m.text };
}

/** Meters and wraps esbuild's output into the script the kernel evaluates. */
export function finishBundle(dir: string, src: Sources, flags: CompileFlags): Compiled {
  if (src.js === null || src.map === null) throw new Error(`${src.scope.dirName}: esbuild produced no output`);
  const { json: m, sha256 } = loadDomainJson(dir);
  const s = src.scope;
  // Source paths relative to the repository root, so crash reports read src/domains/x/index.ts:12.
  const sm = JSON.parse(src.map) as { sources: string[] };
  sm.sources = sm.sources.map((p) => relPath(s.root, resolve(s.root, 'build/domains', p)));
  // (sourcemap 'external': esbuild's script names no map)
  let body = src.js;
  let stats: MeterStats | null = null;
  if (flags.meter) {
    const r = meter(src.js);
    body = r.code;
    stats = r.stats;
  }
  const code = `((__frond_m) => { ${flags.meter ? meterPrologue('__frond_m') : ''} const module = { exports: {} }; const exports = module.exports; ${body}\nreturn module.exports; })`;
  const inputs: Record<string, string> = {};
  for (const f of [...src.files].sort((a, b) => (a.rel < b.rel ? -1 : 1))) inputs[f.rel] = f.sha256;
  inputs[relPath(s.root, join(s.dir, 'domain.json'))] = sha256;
  return {
    name: m.name, entry: relPath(s.root, join(s.dir, 'index.ts')), exports: m.exports, imports: m.imports,
    code, map: JSON.stringify(sm), metered: flags.meter, meter: stats, inputs,
  };
}

/** Compiles a domain without the source checks (the build runs them in between: build.ts). */
export async function bundleDomain(dir: string, root: string, flags: CompileFlags = { meter: true }): Promise<Compiled> {
  const src = await bundleSources(dir, root, { allow: loadAllowlist(root), check: false, name: readDomainJson(dir).name });
  const errors = [...src.refused, ...src.failed];
  if (errors.length > 0) throw new Error(errors.map(formatCheckError).join('\n'));
  return finishBundle(dir, src, flags);
}

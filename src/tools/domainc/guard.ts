// The bundler's guard: an esbuild plugin that decides, for every file esbuild resolves and loads
// while bundling a domain, whether it may be loaded and how, and keeps the exact text it handed
// to esbuild so the source checks (check.ts) run on that text and nothing else.
//
// Invariants (each refusal is an esbuild error, located at the import that asked for the file):
//   - every file is read once, here, as UTF-8 (invalid UTF-8 is refused); esbuild compiles the
//     text this returns, the checks parse the same text, and the manifest hashes the same bytes;
//   - the loader is chosen here from the file's extension, never by esbuild's defaults or by the
//     importer: .ts is TypeScript (including a name like x.d.ts: esbuild compiles it as code, so it
//     is checked as code), .js is JavaScript, .json is data; any other extension is refused;
//   - import attributes (`with { type: ... }`) are refused: they would choose another loader; so
//     are query and hash suffixes (`./a.ts?x`): esbuild would take the file for another one;
//   - only real files are loaded (no data: URLs or other namespaces), and only from a zone of
//     scope.ts (the domain folder, the trusted and shared folders, an allowlisted package), judged on the real path
//     esbuild resolved (symbolic links, package.json main/exports and the like already followed);
//   - with the checks on, an import the checks will refuse (scope.ts importProblem, or one with
//     attributes) from a checked file is left unresolved and recorded as deferred: the checks report
//     it at its line and column, and the build fails if they somehow do not.
import type { Plugin, PluginBuild, OnLoadArgs, OnLoadResult, OnResolveArgs, OnResolveResult } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import { IMPORTABLE, importProblem, isChecked, realpath, relPath, zoneOf, type Scope, type Zone } from './scope.ts';

export const GUARD = 'frond-guard';

export type Loader = 'ts' | 'js' | 'json';

/** What each extension is loaded as; nothing else can be bundled into a domain. */
const LOADERS: ReadonlyMap<string, Loader> = new Map([['.ts', 'ts'], ['.js', 'js'], ['.json', 'json']]);

/** The import kinds a domain's code can make (CSS and require.resolve are not among them). */
const KINDS = new Set(['import-statement', 'require-call', 'dynamic-import']);

/** One file esbuild loaded, as it was handed to esbuild. */
export interface LoadedFile {
  /** absolute, symbolic links resolved */
  path: string;
  /** relative to the repository root, '/'-separated */
  rel: string;
  text: string;
  loader: Loader;
  zone: Zone;
  /** SHA-256 (hex) of the bytes read */
  sha256: string;
}

/** An import left to the source checks to report. */
export interface Deferred { file: string; spec: string }

export interface GuardState {
  /** every file loaded, by absolute path */
  files: Map<string, LoadedFile>;
  deferred: Deferred[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The plugin for one domain. `entry` is the absolute name esbuild gives the generated entry glue
 * (trusted, like src/idl/); `check` says whether the source checks will run.
 */
export function guard(s: Scope, entry: string, check: boolean, state: GuardState): Plugin {
  return {
    name: GUARD,
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => resolveImport(build, s, entry, check, state, args));
      build.onLoad({ filter: /.*/ }, (args) => loadFile(s, state, args));
    },
  };
}

const refuse = (text: string): { errors: { text: string }[] } => ({ errors: [{ text }] });

async function resolveImport(
  build: PluginBuild, s: Scope, entry: string, check: boolean, state: GuardState, args: OnResolveArgs,
): Promise<OnResolveResult | undefined> {
  if (args.pluginData === GUARD) return undefined; // our own build.resolve below: esbuild resolves
  const spec = args.path;
  const attrs = Object.keys(args.with);
  const zone = args.importer === entry ? null : zoneOf(s, realpath(args.importer));
  if (check && zone !== null && isChecked(zone) && (attrs.length > 0 || importProblem(s, spec, args.importer, zone) !== null)) {
    state.deferred.push({ file: relPath(s.root, args.importer), spec });
    return { path: spec, external: true };
  }
  if (attrs.length > 0) return refuse(attributesMessage(spec));
  if (!KINDS.has(args.kind)) return refuse(`import '${spec}': a ${args.kind} import cannot be bundled into a domain`);
  const r = await build.resolve(spec, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, namespace: args.namespace, pluginData: GUARD });
  if (r.errors.length > 0) return { errors: r.errors };
  if (r.external || r.namespace !== 'file') return refuse(`import '${spec}': it is not a file (${r.external ? 'external' : r.namespace}); domains may import only files`);
  if (r.suffix !== '') return refuse(`import '${spec}': a query or hash suffix (${r.suffix}) is not allowed in a domain's imports: the bundler would take the file for another one than the checks saw`);
  if (zoneOf(s, realpath(r.path)) === null) return refuse(outsideMessage(s, spec, r.path));
  return { path: r.path, namespace: 'file', sideEffects: r.sideEffects };
}

export function attributesMessage(spec: string): string {
  return `import '${spec}' with { ... }: import attributes are not allowed in domains: they would make the bundler load the file as something other than the code the checks saw`;
}

function outsideMessage(s: Scope, spec: string, target: string): string {
  return `import '${spec}': it resolves to ${relPath(s.root, realpath(target))}, outside this domain's folder (${s.dirName}/), ` +
    `${IMPORTABLE}, and the reviewed packages: a domain's bundle may hold nothing else`;
}

function loadFile(s: Scope, state: GuardState, args: OnLoadArgs): OnLoadResult {
  if (args.namespace !== 'file') return refuse(`${args.namespace}:${args.path.slice(0, 80)}: only files can be bundled into a domain`);
  const path = realpath(args.path);
  const rel = relPath(s.root, path);
  if (Object.keys(args.with).length > 0) return refuse(`${rel}: ${attributesMessage(rel)}`);
  const zone = zoneOf(s, path);
  if (zone === null) return refuse(`${rel}: it lies outside this domain's folder (${s.dirName}/), ${IMPORTABLE}, and the reviewed packages`);
  const loader = LOADERS.get(extname(path));
  if (loader === undefined) {
    return refuse(`${rel}: '${extname(path) || basenameOf(rel)}' files cannot be bundled into a domain: only .ts and .js (code) and .json (data)`);
  }
  let bytes: Buffer;
  try { bytes = readFileSync(path); } catch (e) { return refuse(`${rel}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`); }
  let text: string;
  try { text = utf8.decode(bytes); } catch { return refuse(`${rel}: not valid UTF-8: save the file as UTF-8`); }
  const file: LoadedFile = { path, rel, text, loader, zone, sha256: createHash('sha256').update(bytes).digest('hex') };
  const seen = state.files.get(path);
  if (seen !== undefined && seen.sha256 !== file.sha256) return refuse(`${rel}: changed while the domain was being bundled; build again`);
  state.files.set(path, file);
  return { contents: text, loader, resolveDir: dirname(path) };
}

function basenameOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

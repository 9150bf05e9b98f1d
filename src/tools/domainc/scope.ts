// Where a domain's code may come from: the zones of the file system a bundle may load, the rules
// for what an import may name, and the reviewed allowlist of packages. Shared by the bundler's
// guard (guard.ts), which applies them to what esbuild actually resolves, and the source checks
// (check.ts), which apply them to what the source says, so both refuse with the same words.
//
// Invariants:
//   - every path compared here is absolute with symbolic links resolved (esbuild reports real
//     paths, and so does realpath below), so a link cannot make a file look like it is elsewhere;
//   - a file is in exactly one zone, tried in this order: the domain's own folder (checked), a
//     trusted folder (src/idl/: interfaces and generated glue, not checked), a shared folder
//     (src/lib/, src/machine/common/: checked like domain code), a package on the reviewed allowlist
//     inside the repository (`…/node_modules/<name>/…`, checked like domain code); or in none, and
//     then nothing may load it. The trusted and shared folders, and what a domain folder is, come
//     from src/tools/layout.json, which the lint rule reads too;
//   - a domain file may import only its own folder, the trusted and shared folders and allowlisted
//     packages by name; shared code only the trusted and shared folders and allowlisted packages; a
//     package file only its own package and allowlisted packages by name; nobody a host module.
import { isBuiltin } from 'node:module';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** src/tools/layout.json: what a domain folder is (`marker`), and the folders a domain may import
 *  besides its own (`trusted`, `shared`), written from the repository root. */
interface Layout { marker: string; shared: readonly string[]; trusted: readonly string[] }
export const LAYOUT: Layout = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'layout.json'), 'utf8')) as Layout;
/** The folders a domain may import besides its own, for messages: 'src/idl/, src/lib/ and …/'. */
export const IMPORTABLE = ((dirs: string[]): string => `${dirs.slice(0, -1).join(', ')} and ${dirs[dirs.length - 1]}`)(
  [...LAYOUT.trusted, ...LAYOUT.shared].map((d) => `${d}/`));

export const CAPABILITIES = 'the kernel gives domains what they need as capabilities (sys.*)';

/** A refusal: `path:line:col: message`, or `path: message` (line 0) when it is about a whole file. */
export interface CheckError { file: string; line: number; col: number; message: string }

export function formatCheckError(e: CheckError): string {
  return e.line > 0 ? `${e.file}:${e.line}:${e.col}: ${e.message}` : `${e.file}: ${e.message}`;
}

// ---- the allowlist -----------------------------------------------------------------------------

export const ALLOWLIST = 'src/tools/domainc/allowlist.json';
/** npm's package name syntax (lower case, optionally scoped). */
const PACKAGE_NAME = /^(?:@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*$/;

/** The names of the reviewed packages domains may import; throws if the file is malformed. */
export function loadAllowlist(root: string): readonly string[] {
  const file = join(root, ALLOWLIST);
  const fail = (why: string): never => { throw new Error(`${file}: ${why}`); };
  let json: unknown;
  try { json = JSON.parse(readFileSync(file, 'utf8')); } catch (e) { return fail((e as Error).message); }
  if (!isRecord(json)) return fail('must be an object { "review": "...", "packages": [...] }');
  for (const k of Object.keys(json)) if (k !== 'review' && k !== 'packages') fail(`unknown key "${k}" (expected "review" and "packages")`);
  if (json.review !== undefined && typeof json.review !== 'string') fail('"review" must be a string');
  if (!Array.isArray(json.packages)) return fail('"packages" must be an array of { "name": ..., "why": ... }');
  const names: string[] = [];
  json.packages.forEach((p: unknown, i: number) => names.push(allowlistEntry(p, `packages[${i}]`, fail)));
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) fail(`package "${dup}" is listed twice`);
  return Object.freeze(names);
}

function allowlistEntry(p: unknown, at: string, fail: (why: string) => never): string {
  if (!isRecord(p)) return fail(`${at} must be an object { "name": ..., "why": ... }`);
  for (const k of Object.keys(p)) if (k !== 'name' && k !== 'why') fail(`${at}: unknown key "${k}"`);
  const { name, why } = p;
  if (typeof name !== 'string' || !PACKAGE_NAME.test(name)) return fail(`${at}.name must be an npm package name (no subpath)`);
  if (isBuiltin(name)) fail(`${at}: '${name}' is a Node builtin module, which domains can never use`);
  if (typeof why !== 'string' || why.trim() === '') fail(`${at}.why must say why the package passed review`);
  return name;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---- zones -------------------------------------------------------------------------------------

export type Zone =
  | { kind: 'domain' }
  | { kind: 'trusted' }
  | { kind: 'shared' }
  | { kind: 'package'; name: string; dir: string };

/** One domain's view of the file system. */
export interface Scope {
  /** the repository root, the domain folder, and the trusted and shared folders (layout.json),
   *  all absolute with links resolved */
  root: string;
  dir: string;
  trusted: readonly string[];
  shared: readonly string[];
  /** the domain folder as written in messages (relative to the root) */
  dirName: string;
  /** the reviewed packages */
  allow: ReadonlySet<string>;
}

export function makeScope(dir: string, root: string, allow: readonly string[]): Scope {
  const absRoot = realpath(resolve(root));
  return {
    root: absRoot,
    dir: realpath(resolve(dir)),
    trusted: LAYOUT.trusted.map((d) => realpath(join(absRoot, d))),
    shared: LAYOUT.shared.map((d) => realpath(join(absRoot, d))),
    dirName: relPath(absRoot, realpath(resolve(dir))),
    allow: new Set(allow),
  };
}

/** The zone of the real path `p`, or null if no domain code may come from there. */
export function zoneOf(s: Scope, p: string): Zone | null {
  if (isInside(s.dir, p)) return { kind: 'domain' };
  if (s.trusted.some((d) => isInside(d, p))) return { kind: 'trusted' };
  if (s.shared.some((d) => isInside(d, p))) return { kind: 'shared' };
  if (!isInside(s.root, p)) return null;
  const parts = relPath(s.root, p).split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at < 0) return null;
  const n = parts[at + 1]?.startsWith('@') ? 2 : 1;
  const name = parts.slice(at + 1, at + 1 + n).join('/');
  if (parts.length <= at + 1 + n || !s.allow.has(name)) return null;
  return { kind: 'package', name, dir: join(s.root, ...parts.slice(0, at + 1 + n)) };
}

/** Whether files of this zone are checked (everything but the trusted folders). */
export function isChecked(z: Zone): boolean {
  return z.kind !== 'trusted';
}

/** Why `spec`, imported by the file at the real path `file` (in zone `z`), is refused, or null. */
export function importProblem(s: Scope, spec: string, file: string, z: Zone): string | null {
  if (spec.startsWith('node:') || isBuiltin(spec)) return `host modules are not available to domains; ${CAPABILITIES}`;
  if (spec === '.' || spec === '..' || spec.startsWith('./') || spec.startsWith('../') || isAbsolute(spec)) {
    return pathProblem(s, realpath(resolve(dirname(file), spec)), z);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec)) return 'URL specifiers are not allowed in domains: import files of the domain or reviewed packages';
  if (spec.startsWith('#')) return 'package subpath imports (#name) are not allowed in domains';
  const name = packageName(spec);
  if (spec.split('/').some((part) => part === '.' || part === '..' || part === '')) return `a package subpath may not contain empty, '.' or '..' segments`;
  if (!s.allow.has(name)) {
    return `package '${name}' is not on the reviewed allowlist (${ALLOWLIST}); domains may use only packages reviewed as pure`;
  }
  return null;
}

/** `@a/b/c` -> `@a/b`, `x/y` -> `x`. */
function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function pathProblem(s: Scope, target: string, z: Zone): string | null {
  if (z.kind === 'package') {
    if (isInside(z.dir, target)) return null;
    return `it resolves outside package '${z.name}', to ${relPath(s.root, target)}: a reviewed package may import only its own files and other reviewed packages by name`;
  }
  const common = [...s.trusted, ...s.shared].some((d) => isInside(d, target));
  if (z.kind === 'shared') {
    if (common) return null;
    return `it resolves to ${relPath(s.root, target)}: shared code may import only ${IMPORTABLE}, never a domain's files`;
  }
  if (common || isInside(s.dir, target)) return null;
  const where = `a domain may import only its own files (${s.dirName}/), ${IMPORTABLE}`;
  const other = owningDomain(s, target);
  if (other !== null) {
    return `it is outside this domain's folder, in another domain (${relPath(s.root, other)}): ${where}; ` +
      'domains share no code: reach another domain through a capability passed to init';
  }
  return `it resolves outside this domain's folder, to ${relPath(s.root, target) || 'the repository root'}: ${where}`;
}

/** The nearest folder holding a domain.json that contains `target`, up to the root. */
function owningDomain(s: Scope, target: string): string | null {
  for (let d = target; isInside(s.root, d); d = dirname(d)) {
    if (existsSync(join(d, LAYOUT.marker))) return d;
    if (d === s.root) break;
  }
  return null;
}

export function isInside(dir: string, p: string): boolean {
  const r = relative(dir, p);
  return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r));
}

/** `p` with symbolic links resolved as far as it exists. */
export function realpath(p: string): string {
  try { return realpathSync(p); } catch { /* not there (yet) */ }
  const parent = dirname(p);
  return parent === p ? p : join(realpath(parent), basename(p));
}

/** `p` relative to `root`, with '/' separators (as messages and manifests write paths). */
export function relPath(root: string, p: string): string {
  return relative(root, p).split(sep).join('/');
}

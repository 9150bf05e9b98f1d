// The trusted build: `frond build`.
//
// For each domain folder: bundle with esbuild behind the guard (bundle.ts, guard.ts: which files,
// from where, with which loader), run the source checks on exactly the files esbuild loaded
// (check.ts: imports, eval/Function/import()/with/debugger, host globals; errors as
// path:line:col), insert the CPU-budget checks (meter.ts), write a manifest (name, entry, exported
// and imported interfaces with their IDL fingerprints, tool versions and flags, SHA-256 of code and
// source map, every input with the SHA-256 of the bytes bundled), and sign the manifest with
// Ed25519 over the UTF-8 bytes of its canonical JSON (kernel/verify.ts canonicalBytes). The result is one JSON document per domain,
// build/domains/<name>.bundle.json, that the kernel verifies before evaluating anything
// (kernel/verify.ts).
//
// Incremental: a domain whose bundle was built from this same folder (its entry and domain.json),
// and whose inputs, tool versions (this tool's own sources included), flags, interface
// fingerprints and signing key are all unchanged since, is not rebuilt.
//
// Keys: on first use a development key pair is created in keys/ (gitignored): dev.key (PKCS#8
// PEM, mode 0600) and dev.pub (the raw 32-byte public key, base64). The kernel trusts the keys it
// is given; `frond start` and `frond verify` trust every keys/*.pub.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { tsFiles } from '../host-fresh.mjs';
import { FINGERPRINTS } from '../../idl/generated/types.ts';
import { BUNDLE_FORMAT, canonicalBytes, canonicalJson, utf8, type InterfaceRef, type Manifest, type SignedBundle } from '../../kernel/verify.ts';
import type { Compiled } from './bundle.ts';
import { ESBUILD_FLAGS, readDomainJson } from './folder.ts';
import { formatCheckError, loadAllowlist } from './scope.ts';

/** The version of an installed package, from its package.json: the up-to-date check needs the
 *  compilers' versions, not the compilers (bundle.ts and check.ts load those when rebuilding). */
const require = createRequire(import.meta.url);
const versionOf = (pkg: string): string => (require(`${pkg}/package.json`) as { version: string }).version;

/** A build that failed: the message lists every problem, one per line. */
export class BuildError extends Error {
  override name = 'BuildError';
}

export interface SigningKey {
  readonly privateKey: KeyObject;
  /** raw 32-byte Ed25519 public key, base64 */
  readonly publicKey: string;
  /** first 16 hex digits of the SHA-256 of `publicKey` (kernel/verify.ts keyId) */
  readonly id: string;
}

export interface BuildOptions {
  root: string;
  /** where signed bundles go (default <root>/build/domains) */
  outDir?: string;
  /** the signing key (default: the development key in <root>/keys) */
  key?: SigningKey;
  /** insert CPU-budget checks (default true) */
  meter?: boolean;
  /** run the source checks (default true). Off only for test domains that attack the run-time
   *  defences behind the checks; the kernel trusts the signing key, so whoever holds it decides. */
  check?: boolean;
  /** rebuild even if nothing changed */
  force?: boolean;
}

export interface Built {
  name: string;
  dir: string;
  file: string;
  rebuilt: boolean;
  manifest: Manifest;
  /** the signed bundle as written to `file`: what a kernel loads (so boot need not read it again) */
  bytes: Uint8Array;
}

const sha256 = (bytes: string | Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
/** SHA-256 of the UTF-8 bytes of `text`, as the kernel computes it (throws for a lone surrogate, which UTF-8 cannot encode). */
const textSha256 = (text: string): string => sha256(utf8(text));

/** This build tool's own sources (the folder of this file, tests aside). */
const TOOL_DIR = dirname(fileURLToPath(import.meta.url));
let toolHash: string | undefined;

/**
 * The package version plus a digest of the build tool's sources (`0.1.0+build.<16 hex>`), so a
 * change to the checker, the bundler flags or the meter makes every bundle out of date, as a new
 * compiler would; the version alone does not change between commits.
 */
function frondVersion(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string };
  if (toolHash === undefined) {
    const h = createHash('sha256');
    for (const f of readdirSync(TOOL_DIR).filter((n) => !n.endsWith('.test.ts')).sort()) {
      h.update(`${f}\0${sha256(readFileSync(join(TOOL_DIR, f)))}\0`);
    }
    toolHash = h.digest('hex').slice(0, 16);
  }
  return `${pkg.version ?? '0.0.0'}+build.${toolHash}`;
}

// ---- keys ---------------------------------------------------------------------------------------

function rawPublicKey(k: KeyObject): string {
  const jwk = createPublicKey(k).export({ format: 'jwk' }) as { x?: string };
  if (!jwk.x) throw new Error('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url').toString('base64');
}

export function keyFrom(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('signing keys must be Ed25519');
  const publicKey = rawPublicKey(privateKey);
  return { privateKey, publicKey, id: sha256(publicKey).slice(0, 16) };
}

/** A fresh key pair held in memory (tests). */
export function ephemeralKey(): SigningKey {
  return keyFrom(generateKeyPairSync('ed25519').privateKey);
}

/** The development key in `keyDir`, created on first use. */
export function devKey(keyDir: string): SigningKey {
  const priv = join(keyDir, 'dev.key');
  const pub = join(keyDir, 'dev.pub');
  if (!existsSync(priv)) {
    mkdirSync(keyDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(priv, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    chmodSync(priv, 0o600);
    writeFileSync(pub, `${rawPublicKey(privateKey)}\n`);
  }
  const key = keyFrom(createPrivateKey(readFileSync(priv, 'utf8')));
  if (!existsSync(pub)) writeFileSync(pub, `${key.publicKey}\n`);
  return key;
}

/** Every public key in `keyDir` (*.pub files: raw 32-byte Ed25519 keys, base64); none if it is not a directory. */
export function trustedKeys(keyDir: string): string[] {
  if (!existsSync(keyDir) || !statSync(keyDir).isDirectory()) return [];
  return readdirSync(keyDir).filter((f) => f.endsWith('.pub') && statSync(join(keyDir, f)).isFile()).sort()
    .map((f) => readFileSync(join(keyDir, f), 'utf8').trim()).filter((k) => k.length > 0);
}

// ---- finding and building domains ---------------------------------------------------------------

/**
 * Every domain folder (one holding domain.json) under `dir` (itself included), sorted. Folders
 * named node_modules or starting with '.' are skipped; a folder reached twice through symbolic
 * links is walked once. Throws a BuildError (one line) if `dir` is not a directory or a folder
 * under it cannot be read.
 */
export function findDomains(dir: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = (d: string): void => {
    let names: string[];
    try {
      const real = realpathSync(d);
      if (seen.has(real)) return;
      seen.add(real);
      names = readdirSync(d);
    } catch (e) {
      throw new BuildError(`${d}: cannot read this folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (names.includes('domain.json')) out.push(d);
    for (const e of names) {
      if (e === 'node_modules' || e.startsWith('.')) continue;
      const p = join(d, e);
      let sub = false;
      try { sub = statSync(p).isDirectory(); } catch { /* a dangling link: no folder */ }
      if (sub) walk(p);
    }
  };
  let isDir = false;
  try { isDir = statSync(dir).isDirectory(); } catch { throw new BuildError(`${dir}: no such directory`); }
  if (!isDir) throw new BuildError(`${dir}: not a directory`);
  walk(dir);
  return out.sort();
}

function toolInfo(root: string, meter: boolean, check: boolean): Manifest['tool'] {
  return {
    frond: frondVersion(root),
    esbuild: versionOf('esbuild'),
    typescript: versionOf('typescript'),
    flags: { ...ESBUILD_FLAGS, meter, checked: check },
  };
}

/** The IDL fingerprint of `iface` in this tree, or undefined. */
function fingerprintOf(iface: string): string | undefined {
  return Object.hasOwn(FINGERPRINTS, iface) ? (FINGERPRINTS as Record<string, string>)[iface] : undefined;
}

function ref(iface: string, what: string): InterfaceRef {
  const fp = fingerprintOf(iface);
  if (fp === undefined) throw new BuildError(`${what}: no interface ${iface} in src/idl`);
  return { iface, fingerprint: fp };
}

/** The manifest for a compiled domain (everything the signature covers). */
function manifestOf(c: Compiled, root: string, meter: boolean, check: boolean): Manifest {
  const imports: Record<string, InterfaceRef> = {};
  for (const [k, v] of Object.entries(c.imports)) imports[k] = ref(v, `${c.entry}: import ${k}`);
  return {
    name: c.name,
    entry: c.entry,
    exports: c.exports ? ref(c.exports, `${c.entry}: exports`) : null,
    imports,
    metered: c.metered,
    tool: toolInfo(root, meter, check),
    code: { sha256: textSha256(c.code), bytes: utf8(c.code).length },
    map: { sha256: textSha256(c.map) },
    inputs: c.inputs,
  };
}

export function signManifest(m: Manifest, key: SigningKey): NonNullable<SignedBundle['signature']> {
  return { alg: 'ed25519', key: key.id, value: sign(null, canonicalBytes(m), key.privateKey).toString('base64') };
}

/**
 * Whether the signed bundle at `file` is still what building `dir` would produce: no, if it is
 * unreadable or malformed, or was built from another folder (bundles are named after the domain,
 * and two folders may give the same name), or anything it was built from changed.
 */
function upToDate(file: string, dir: string, root: string, meter: boolean, check: boolean, key: SigningKey): { manifest: Manifest; bytes: Uint8Array } | null {
  try {
    const bytes = readFileSync(file);
    const manifest = sameBuild(JSON.parse(bytes.toString('utf8')) as SignedBundle, dir, root, meter, check, key);
    return manifest ? { manifest, bytes } : null;
  } catch {
    return null;
  }
}

function sameBuild(doc: SignedBundle, dir: string, root: string, meter: boolean, check: boolean, key: SigningKey): Manifest | null {
  const m = doc.manifest;
  if (doc.format !== BUNDLE_FORMAT || doc.signature?.key !== key.id || !m || !m.inputs) return null;
  // This folder's: the entry and domain.json as bundle.ts records them (real paths, relative to the real root).
  const here = relative(realpathSync(root), realpathSync(dir)).split(sep).join('/');
  if (m.entry !== `${here}/index.ts` || !Object.hasOwn(m.inputs, `${here}/domain.json`)) return null;
  if (canonicalJson(m.tool) !== canonicalJson(toolInfo(root, meter, check))) return null;
  const refs = [...(m.exports ? [m.exports] : []), ...Object.values(m.imports ?? {})];
  if (refs.some((r) => fingerprintOf(r.iface) !== r.fingerprint)) return null;
  if (typeof doc.code !== 'string' || typeof doc.map !== 'string' || textSha256(doc.code) !== m.code?.sha256 || textSha256(doc.map) !== m.map?.sha256) return null;
  for (const [f, h] of Object.entries(m.inputs)) {
    const p = join(root, f);
    if (!existsSync(p) || sha256(readFileSync(p)) !== h) return null;
  }
  // Last, the signature: Ed25519 is deterministic, so what this build would sign is exactly what
  // is there, or the file was edited (a field of the manifest, or the signature itself).
  const sig = signManifest(m, key);
  if (doc.signature.alg !== sig.alg || doc.signature.value !== sig.value) return null;
  return m;
}

/** Whether StrykerJS rewrote a source file of domain folder `dir` (its mutation switches are in it).
 *  (A file that cannot be read was not: the guard refuses it, naming it.) */
const rewrittenByStryker = (dir: string): boolean => tsFiles(dir).some((p) => {
  try { return readFileSync(p, 'utf8').includes('stryMutAct_'); } catch { return false; }
});

/** Bundles, checks, meters and signs one domain folder (unless it is up to date). */
export async function buildDomain(dir: string, opts: BuildOptions & { key: SigningKey }): Promise<Built> {
  const { root } = opts;
  const meter = opts.meter ?? true;
  // (npm run mutate builds domain code that StrykerJS rewrote, which no check would accept; the
  // manifest then says `checked: false`, as --no-check does. Only such a folder: the tests that the
  // build refuses hostile code still run under mutation.)
  const check = (opts.check ?? true) && !(process.env.FROND_MUTATION === '1' && rewrittenByStryker(dir));
  const name = readDomainJson(dir).name;
  const outDir = opts.outDir ?? join(root, 'build', 'domains');
  const file = join(outDir, `${name}.bundle.json`);
  if (!opts.force) {
    const u = upToDate(file, dir, root, meter, check, opts.key);
    if (u) return { name, dir, file, rebuilt: false, manifest: u.manifest, bytes: u.bytes };
  }
  const { bundleSources, finishBundle } = await import('./bundle.ts');
  const { checkLoaded } = await import('./check.ts');
  const src = await bundleSources(dir, root, { allow: loadAllowlist(root), check, name });
  const errors = check ? checkLoaded(src) : [...src.refused, ...src.failed];
  if (errors.length > 0) throw new BuildError(errors.map(formatCheckError).join('\n'));
  let c: Compiled;
  try {
    c = finishBundle(dir, src, { meter });
  } catch (e) {
    throw new BuildError(`${relative(root, dir).split(sep).join('/')}: ${(e as Error).message}`);
  }
  const manifest = manifestOf(c, root, meter, check);
  const doc: SignedBundle = { format: BUNDLE_FORMAT, manifest, signature: signManifest(manifest, opts.key), code: c.code, map: c.map };
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const bytes = utf8(`${JSON.stringify(doc)}\n`);
  writeFileSync(tmp, bytes);
  renameSync(tmp, file); // a reader never sees half a bundle
  return { name, dir, file, rebuilt: true, manifest, bytes };
}

/**
 * Builds every domain folder in `dirs` (default: every domain under src/domains). Every folder is
 * tried; the BuildError thrown at the end lists each failure, one or more lines each, with paths
 * relative to the root. Two folders giving the same domain name are refused before either is
 * built (they would write the same bundle file).
 */
export async function buildAll(opts: BuildOptions, dirs?: readonly string[]): Promise<Built[]> {
  const key = opts.key ?? devKey(join(opts.root, 'keys'));
  const list = dirs ?? findDomains(join(opts.root, 'src', 'domains'));
  const rel = (p: string): string => relative(opts.root, p).split(sep).join('/') || '.';
  const out: Built[] = [];
  const failures: string[] = [];
  const failed = (dir: string, e: unknown): void => {
    if (e instanceof BuildError) { failures.push(e.message); return; }
    // (readDomainJson's and the file system's messages start with the absolute path)
    const msg = e instanceof Error ? e.message : String(e);
    failures.push(msg.startsWith(dir) ? `${rel(dir)}${msg.slice(dir.length)}` : `${rel(dir)}: ${msg}`);
  };
  // First every folder's name, so that two folders giving the same one are both left unbuilt.
  const names = new Map<string, string>();
  const twice = new Set<string>();
  for (const dir of list) {
    try {
      if (!existsSync(join(dir, 'index.ts'))) throw new BuildError(`${rel(dir)}: no index.ts (a domain folder holds domain.json and index.ts)`);
      const name = readDomainJson(dir).name;
      const prev = names.get(name);
      if (prev !== undefined) { twice.add(name); throw new BuildError(`${rel(dir)}: domain name '${name}' is also used by ${rel(prev)}`); }
      names.set(name, dir);
    } catch (e) {
      failed(dir, e);
    }
  }
  for (const [name, dir] of names) { // (in the order given: a Map keeps its first insertions')
    if (twice.has(name)) continue;
    try {
      out.push(await buildDomain(dir, { ...opts, key }));
    } catch (e) {
      failed(dir, e);
    }
  }
  if (failures.length > 0) throw new BuildError(failures.join('\n'));
  return out;
}

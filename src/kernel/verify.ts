// Verified loading: the kernel evaluates only bundles that the trusted build (tools/build) made,
// signed with a key the kernel trusts, unchanged since, and built against the interfaces the
// kernel speaks. Everything here runs before any of a bundle's code does.
//
// A signed bundle is one JSON document:
//   { format: 'frond-bundle/2', manifest: {...}, signature: { alg, key, value }, code, map }
// The signature is Ed25519 over the canonical JSON of the manifest (keys sorted, no spaces); the
// manifest holds the SHA-256 of the code and of the source map, so signing the manifest signs
// both. The format's number is also the calling convention between the code and the kernel (the
// meter hooks, MeterHooks in domain.ts): /1 polled a fuel counter, /2 the preemption timer's word,
// and a /1 bundle would run unmetered under a /2 kernel, so it is refused as malformed. Checks run
// in this order, and the first that fails names the refusal:
//   malformed manifest → unsigned → untrusted key → bad signature → tampered code →
//   fingerprint mismatch → unmetered
import type { Bundle } from './domain.ts';
import type { HostCrypto } from '../machine/common/host.ts';

export const BUNDLE_FORMAT = 'frond-bundle/2';

export type RefusalReason =
  'malformed manifest' | 'unsigned' | 'untrusted key' | 'bad signature' | 'tampered code' |
  'fingerprint mismatch' | 'unmetered';

/** The kernel refused a bundle; nothing of it ran. */
export class BundleRefused extends Error {
  override name = 'BundleRefused';
  constructor(readonly reason: RefusalReason, readonly bundle: string, detail: string) {
    super(`refused bundle ${bundle}: ${reason} (${detail})`);
  }
}

export interface InterfaceRef { iface: string; fingerprint: string }

export interface Manifest {
  name: string;
  /** the domain's entry file, relative to the repository root */
  entry: string;
  exports: InterfaceRef | null;
  /** the capabilities init expects, by import name */
  imports: Record<string, InterfaceRef>;
  /** CPU-budget checks were inserted (tools/build/meter.ts) */
  metered: boolean;
  tool: { frond: string; esbuild: string; typescript: string; flags: Record<string, string | boolean> };
  code: { sha256: string; bytes: number };
  map: { sha256: string };
  /** every source file bundled, with its SHA-256 (for incremental builds and audits) */
  inputs: Record<string, string>;
}

export interface Signature { alg: 'ed25519'; key: string; value: string }

export interface SignedBundle {
  format: typeof BUNDLE_FORMAT;
  manifest: Manifest;
  signature?: Signature;
  code: string;
  map: string;
}

export interface VerifyPolicy {
  /** trusted Ed25519 public keys (raw 32 bytes, base64) */
  trusted: readonly string[];
  /** the kernel's interface fingerprints (idl/generated/types.ts) */
  fingerprints: Readonly<Record<string, string>>;
  /** accept bundles built without CPU-budget checks (benchmarks only) */
  allowUnmetered?: boolean;
}

/** JSON with object keys sorted at every level: the bytes a signature covers. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    const s = JSON.stringify(v);
    if (s === undefined) throw new TypeError('canonicalJson: not JSON data');
    return s;
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** A short, stable name for a public key: the first 16 hex digits of its SHA-256. */
export function keyId(crypto: HostCrypto, publicKey: string): string {
  return crypto.sha256(publicKey).slice(0, 16);
}

const HEX64 = /^[0-9a-f]{64}$/;
const NAME = /^[a-z][a-z0-9-]*$/;
const IFACE = /^[A-Z][A-Za-z0-9]*$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Checks the shape of everything the kernel will rely on; returns what is wrong, or null. */
function shapeError(doc: unknown): string | null {
  if (!isObj(doc)) return 'not a JSON object';
  if (doc.format !== BUNDLE_FORMAT) return `format is not ${BUNDLE_FORMAT}`;
  if (typeof doc.code !== 'string') return 'code is missing';
  if (typeof doc.map !== 'string') return 'map is missing';
  const m = doc.manifest;
  if (!isObj(m)) return 'manifest is missing';
  if (typeof m.name !== 'string' || !NAME.test(m.name)) return 'manifest.name is not a domain name';
  if (typeof m.entry !== 'string') return 'manifest.entry is missing';
  const ref = (r: unknown): boolean => isObj(r) && typeof r.iface === 'string' && IFACE.test(r.iface) &&
    typeof r.fingerprint === 'string' && HEX64.test(r.fingerprint);
  if (m.exports !== null && !ref(m.exports)) return 'manifest.exports is not an interface reference';
  if (!isObj(m.imports) || !Object.values(m.imports).every(ref)) return 'manifest.imports is not a map of interface references';
  if (typeof m.metered !== 'boolean') return 'manifest.metered is missing';
  const t = m.tool;
  if (!isObj(t) || typeof t.frond !== 'string' || typeof t.esbuild !== 'string' || typeof t.typescript !== 'string' || !isObj(t.flags)) {
    return 'manifest.tool is incomplete';
  }
  if (!isObj(m.code) || typeof m.code.sha256 !== 'string' || !HEX64.test(m.code.sha256) || typeof m.code.bytes !== 'number') {
    return 'manifest.code is incomplete';
  }
  if (!isObj(m.map) || typeof m.map.sha256 !== 'string' || !HEX64.test(m.map.sha256)) return 'manifest.map is incomplete';
  if (!isObj(m.inputs) || !Object.values(m.inputs).every((h) => typeof h === 'string' && HEX64.test(h))) {
    return 'manifest.inputs is not a map of SHA-256 digests';
  }
  const s = doc.signature;
  if (s !== undefined && (!isObj(s) || s.alg !== 'ed25519' || typeof s.key !== 'string' || typeof s.value !== 'string')) {
    return 'signature is not { alg: "ed25519", key, value }';
  }
  return null;
}

/**
 * Verifies a signed bundle (the parsed document or its JSON text) and returns the Bundle the
 * kernel may instantiate; throws BundleRefused naming the first reason it may not.
 */
export function verifyBundle(raw: unknown, policy: VerifyPolicy, crypto: HostCrypto): Bundle {
  let doc = raw;
  if (typeof raw === 'string') {
    try { doc = JSON.parse(raw); } catch (e) { throw new BundleRefused('malformed manifest', '?', `not JSON: ${(e as Error).message}`); }
  }
  const bad = shapeError(doc);
  const name = isObj(doc) && isObj(doc.manifest) && typeof doc.manifest.name === 'string' ? doc.manifest.name.slice(0, 64) : '?';
  if (bad) throw new BundleRefused('malformed manifest', name, bad);
  const b = doc as SignedBundle;
  const m = b.manifest;
  if (!b.signature) throw new BundleRefused('unsigned', name, 'the bundle carries no signature');
  const key = policy.trusted.find((k) => keyId(crypto, k) === b.signature!.key);
  if (key === undefined) throw new BundleRefused('untrusted key', name, `key ${b.signature.key} is not one the kernel trusts`);
  if (!crypto.verify(key, canonicalJson(m), b.signature.value)) {
    throw new BundleRefused('bad signature', name, `the signature does not match the manifest for key ${b.signature.key}`);
  }
  if (crypto.sha256(b.code) !== m.code.sha256) throw new BundleRefused('tampered code', name, 'the code does not match the SHA-256 in the manifest');
  if (crypto.sha256(b.map) !== m.map.sha256) throw new BundleRefused('tampered code', name, 'the source map does not match the SHA-256 in the manifest');
  const refs: [string, InterfaceRef][] = Object.entries(m.imports).map(([k, r]) => [`import ${k}`, r]);
  if (m.exports) refs.unshift(['export', m.exports]);
  for (const [what, r] of refs) {
    const mine = Object.hasOwn(policy.fingerprints, r.iface) ? policy.fingerprints[r.iface] : undefined;
    if (mine === undefined) throw new BundleRefused('fingerprint mismatch', name, `${what} ${r.iface}: the kernel has no such interface`);
    if (mine !== r.fingerprint) {
      throw new BundleRefused('fingerprint mismatch', name, `${what} ${r.iface}: built against ${r.fingerprint.slice(0, 12)}, the kernel has ${mine.slice(0, 12)}`);
    }
  }
  if (!m.metered && !policy.allowUnmetered) throw new BundleRefused('unmetered', name, 'built without CPU-budget checks');
  const imports: Record<string, string> = {};
  for (const [k, r] of Object.entries(m.imports)) imports[k] = r.iface;
  return {
    name: m.name,
    code: b.code,
    map: b.map,
    exports: m.exports?.iface,
    imports,
    metered: m.metered,
    key: b.signature.key,
  };
}

// Verified loading: the kernel evaluates only bundles that the trusted build (tools/domainc) made,
// signed with a key the kernel trusts, unchanged since, and built against the interfaces the
// kernel speaks. Everything here runs before any of a bundle's code does.
//
// A signed bundle is one JSON document, handed over as its bytes (UTF-8) or as its text:
//   { format: 'frond-bundle/2', manifest: {...}, signature: { alg, key, value }, code, map }
// The signature is Ed25519 over the UTF-8 bytes of the canonical JSON of the manifest (keys sorted,
// no spaces); the manifest holds the SHA-256 of the UTF-8 bytes of the code and of the source map,
// so signing the manifest signs both. The format's number is also the calling convention between
// the code and the kernel (the meter hooks, MeterHooks in domain.ts): /1 polled a fuel counter, /2
// the preemption timer's word, and a /1 bundle would run unmetered under a /2 kernel, so it is
// refused as malformed. Checks run in this order, and the first that fails names the refusal:
//   malformed manifest → unsigned → untrusted key → bad signature → tampered code →
//   fingerprint mismatch → unmetered
//
// Invariants (what is verified is exactly what runs):
//   - the document is decoded once: bytes with a fatal UTF-8 decoder (no replacement characters,
//     no byte-order mark skipped), or a string that is well-formed Unicode; anything else, and
//     anything over MAX_BUNDLE_BYTES, is refused before it is parsed;
//   - every string in the document, keys included, is well-formed (no lone surrogate, which a JSON
//     escape like "\ud800" can produce and which UTF-8 cannot encode): so each string has exactly
//     one UTF-8 encoding, and the bytes hashed and signed stand for exactly one string evaluated;
//   - the document has exactly the shape below, every field typed, no field unknown and nothing
//     nested deeper than the shape; it is checked without recursion (JSON.parse is iterative in
//     V8), so no document, however deep or large, gets a RangeError out of here: every malformed
//     document is one BundleRefused line;
//   - canonicalJson never recurses, and refuses nesting deeper than MAX_DEPTH;
//   - refusal messages are one line and echo nothing of the document but checked names.
import type { Bundle } from './domain.ts';
import type { HostCrypto } from '../machine/common/host.ts';

export const BUNDLE_FORMAT = 'frond-bundle/2';

/** The largest signed bundle the kernel reads (code, source map and manifest together). */
export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

/** How deep canonicalJson goes (a manifest is 3 deep). */
const MAX_DEPTH = 32;

export type RefusalReason =
  'malformed manifest' | 'unsigned' | 'untrusted key' | 'bad signature' | 'tampered code' |
  'fingerprint mismatch' | 'unmetered';

/** The kernel refused a bundle; nothing of it ran. */
export class BundleRefused extends Error {
  override name = 'BundleRefused';
  constructor(readonly reason: RefusalReason, readonly bundle: string, detail: string) {
    super(`refused bundle ${oneLine(bundle)}: ${reason} (${oneLine(detail)})`);
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
  /** CPU-budget checks were inserted (tools/domainc/meter.ts) */
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

// ---- text and bytes ------------------------------------------------------------------------------

type Obj = Record<string, unknown>;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
/** A lone surrogate: a UTF-16 code unit that is half of no pair (with /u, pairs are one code point). */
const LONE_SURROGATE = /\p{Cs}/u;
/** TypedArray.prototype's own brand and length getters: they read internal slots, never run a trap or an override. */
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const typedArrayName = Object.getOwnPropertyDescriptor(typedArrayProto, Symbol.toStringTag)!.get!;
const typedArrayBytes = Object.getOwnPropertyDescriptor(typedArrayProto, 'byteLength')!.get!;

/** Whether `s` is well-formed Unicode (it has one UTF-8 encoding, and decoding that gives `s` back). */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** The UTF-8 bytes of a well-formed string; throws a TypeError for a string that has none. */
export function utf8(s: string): Uint8Array {
  if (!isWellFormed(s)) throw new TypeError('not well-formed Unicode (a lone surrogate): it has no UTF-8 encoding');
  return utf8Encoder.encode(s);
}

function isBytes(v: unknown): v is Uint8Array {
  return typedArrayName.call(v) === 'Uint8Array';
}

/** `s` safe to print on one line: control and line-break characters and lone surrogates escaped, at most 200 units. */
export function oneLine(s: string): string {
  const t = s.length > 200 ? `${s.slice(0, 200)}…` : s;
  return t.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]|\p{Cs}/gu, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// ---- canonical JSON ----------------------------------------------------------------------------

/** Text emitted as is, on canonicalJson's work stack (JSON data never holds one). */
class Lit { constructor(readonly text: string) {} }

/**
 * JSON with object keys sorted at every level: the text whose UTF-8 bytes a signature covers.
 * Iterative; throws a TypeError for what is not JSON data or nests deeper than MAX_DEPTH.
 */
export function canonicalJson(v: unknown): string {
  const out: string[] = [];
  const work: [unknown, number][] = [[v, 0]];
  while (work.length > 0) {
    const [x, depth] = work.pop()!;
    if (x instanceof Lit) { out.push(x.text); continue; }
    if (x === null || typeof x !== 'object') { out.push(primitiveJson(x)); continue; }
    if (depth >= MAX_DEPTH) throw new TypeError(`canonicalJson: nested deeper than ${MAX_DEPTH}`);
    const items: [unknown, number][] = [];
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) items.push([new Lit(i === 0 ? '[' : ','), 0], [x[i], depth + 1]);
      items.push([new Lit(x.length === 0 ? '[]' : ']'), 0]);
    } else {
      const keys = Object.keys(x).sort();
      keys.forEach((k, i) => { items.push([new Lit(`${i === 0 ? '{' : ','}${JSON.stringify(k)}:`), 0], [(x as Obj)[k], depth + 1]); });
      items.push([new Lit(keys.length === 0 ? '{}' : '}'), 0]);
    }
    for (let i = items.length - 1; i >= 0; i--) work.push(items[i]!);
  }
  return out.join('');
}

function primitiveJson(x: unknown): string {
  const s = typeof x === 'bigint' ? undefined : JSON.stringify(x);
  if (s === undefined) throw new TypeError(`canonicalJson: ${typeof x} is not JSON data`);
  return s;
}

/** The bytes a manifest's signature covers; throws a TypeError if it holds a string UTF-8 cannot encode. */
export function canonicalBytes(m: unknown): Uint8Array {
  return utf8(canonicalJson(m));
}

/** A short, stable name for a public key: the first 16 hex digits of its SHA-256. */
export function keyId(crypto: HostCrypto, publicKey: string): string {
  return crypto.sha256(utf8Encoder.encode(publicKey)).slice(0, 16);
}

// ---- the document's shape ------------------------------------------------------------------------

const HEX64 = /^[0-9a-f]{64}$/;
const KEY_ID = /^[0-9a-f]{16}$/;
/** An Ed25519 signature (64 bytes) in strict base64. */
const SIGNATURE = /^[A-Za-z0-9+/]{86}==$/;
const NAME = /^[a-z][a-z0-9-]{0,63}$/;
const IFACE = /^[A-Z][A-Za-z0-9]{0,127}$/;
const IMPORT_NAME = /^[A-Za-z_$][\w$]{0,127}$/;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * What is wrong with `v` as an object with exactly the keys `required` (and maybe `optional`), or
 * null. `at` is its path ('' for the document itself).
 */
function exactKeys(v: unknown, at: string, required: readonly string[], optional: readonly string[] = []): string | null {
  if (!isObj(v)) return `${at || 'the document'} is not an object`;
  for (const k of Object.keys(v)) {
    if (!required.includes(k) && !optional.includes(k)) return `${at || 'the document'} has an unexpected field "${oneLine(k.slice(0, 40))}"`;
  }
  const missing = required.find((k) => !Object.hasOwn(v, k));
  return missing === undefined ? null : `${at ? `${at}.` : ''}${missing} is missing`;
}

/** What is wrong with `v` as a string (well-formed, and matching `pattern` if given), or null. */
function stringError(v: unknown, at: string, pattern?: RegExp, what = 'a string'): string | null {
  if (typeof v !== 'string') return `${at} is not ${what}`;
  if (!isWellFormed(v)) return `${at} is not well-formed Unicode (a lone surrogate)`;
  return pattern === undefined || pattern.test(v) ? null : `${at} is not ${what}`;
}

/** Each [key, value] of the map `v`, or what is wrong: keys must be well-formed and match `key`. */
function mapError(v: unknown, at: string, key: RegExp | null, value: (x: unknown, at: string) => string | null): string | null {
  if (!isObj(v)) return `${at} is not an object`;
  for (const [k, x] of Object.entries(v)) {
    if (!isWellFormed(k)) return `${at} has a key that is not well-formed Unicode (a lone surrogate)`;
    if (k === '__proto__' || (key !== null && !key.test(k))) return `${at} has a malformed key "${oneLine(k.slice(0, 40))}"`;
    const bad = value(x, `${at}.${k}`);
    if (bad !== null) return bad;
  }
  return null;
}

const refError = (r: unknown, at: string): string | null =>
  exactKeys(r, at, ['iface', 'fingerprint']) ??
  stringError((r as Obj).iface, `${at}.iface`, IFACE, 'an interface name') ??
  stringError((r as Obj).fingerprint, `${at}.fingerprint`, HEX64, 'a SHA-256 digest');

const flagError = (v: unknown, at: string): string | null =>
  typeof v === 'boolean' ? null : stringError(v, at, undefined, 'a string or a boolean');

/** Checks the exact shape of the document; returns what is wrong, or null. */
function shapeError(doc: unknown): string | null {
  if (!isObj(doc)) return 'not a JSON object';
  if (doc.format !== BUNDLE_FORMAT) return `format is not ${BUNDLE_FORMAT}`;
  return exactKeys(doc, '', ['format', 'manifest', 'code', 'map'], ['signature']) ??
    stringError(doc.code, 'code') ??
    stringError(doc.map, 'map') ??
    manifestError(doc.manifest) ??
    (doc.signature === undefined ? null : signatureError(doc.signature));
}

function manifestError(m: unknown): string | null {
  const keys = ['name', 'entry', 'exports', 'imports', 'metered', 'tool', 'code', 'map', 'inputs'];
  const bad = exactKeys(m, 'manifest', keys);
  if (bad !== null) return bad;
  const o = m as Obj;
  return stringError(o.name, 'manifest.name', NAME, 'a domain name') ??
    stringError(o.entry, 'manifest.entry') ??
    (o.exports === null ? null : refError(o.exports, 'manifest.exports')) ??
    mapError(o.imports, 'manifest.imports', IMPORT_NAME, refError) ??
    (typeof o.metered === 'boolean' ? null : 'manifest.metered is not a boolean') ??
    toolError(o.tool) ??
    exactKeys(o.code, 'manifest.code', ['sha256', 'bytes']) ??
    stringError((o.code as Obj).sha256, 'manifest.code.sha256', HEX64, 'a SHA-256 digest') ??
    (Number.isSafeInteger((o.code as Obj).bytes) && ((o.code as Obj).bytes as number) >= 0 ? null : 'manifest.code.bytes is not a byte count') ??
    exactKeys(o.map, 'manifest.map', ['sha256']) ??
    stringError((o.map as Obj).sha256, 'manifest.map.sha256', HEX64, 'a SHA-256 digest') ??
    mapError(o.inputs, 'manifest.inputs', null, (h, at) => stringError(h, at, HEX64, 'a SHA-256 digest'));
}

function toolError(t: unknown): string | null {
  return exactKeys(t, 'manifest.tool', ['frond', 'esbuild', 'typescript', 'flags']) ??
    stringError((t as Obj).frond, 'manifest.tool.frond') ??
    stringError((t as Obj).esbuild, 'manifest.tool.esbuild') ??
    stringError((t as Obj).typescript, 'manifest.tool.typescript') ??
    mapError((t as Obj).flags, 'manifest.tool.flags', IMPORT_NAME, flagError);
}

function signatureError(s: unknown): string | null {
  return exactKeys(s, 'signature', ['alg', 'key', 'value']) ??
    ((s as Obj).alg === 'ed25519' ? null : 'signature.alg is not "ed25519"') ??
    stringError((s as Obj).key, 'signature.key', KEY_ID, 'a key id (16 hex digits)') ??
    stringError((s as Obj).value, 'signature.value', SIGNATURE, 'a base64 Ed25519 signature');
}

// ---- verifying -------------------------------------------------------------------------------

/**
 * The parsed document from the bundle's bytes (or its text), decoded once; throws BundleRefused
 * 'malformed manifest' for anything that is not UTF-8 JSON text within MAX_BUNDLE_BYTES.
 */
function parseDocument(input: unknown, label: string): unknown {
  const malformed = (why: string): never => { throw new BundleRefused('malformed manifest', label, why); };
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    if (input.length > MAX_BUNDLE_BYTES) return malformed(`the document is over the ${MAX_BUNDLE_BYTES >> 20} MiB limit`);
    if (!isWellFormed(input)) return malformed('the document is not well-formed Unicode (a lone surrogate): pass the bundle file\'s bytes');
    bytes = utf8Encoder.encode(input);
  } else if (isBytes(input)) {
    bytes = input;
  } else {
    return malformed(`pass the bundle's bytes (a Uint8Array) or its JSON text, not ${input === null ? 'null' : typeof input === 'object' ? 'a parsed object' : `a ${typeof input}`}`);
  }
  const size = typedArrayBytes.call(bytes) as number;
  if (size > MAX_BUNDLE_BYTES) return malformed(`the document is ${size} bytes, over the ${MAX_BUNDLE_BYTES >> 20} MiB limit`);
  let text: string;
  try { text = utf8Decoder.decode(bytes); } catch { return malformed('the document is not UTF-8 text'); }
  // (V8's message quotes the text it stopped at: only where it stopped is kept, never the content.)
  try { return JSON.parse(text); } catch (e) {
    const at = e instanceof Error ? /position (\d+)/.exec(e.message) : null;
    return malformed(`not JSON${at ? ` (at byte ${at[1]})` : ''}`);
  }
}

/**
 * Verifies a signed bundle, given as its bytes (the primary form) or its JSON text, and returns
 * the Bundle the kernel may instantiate; throws BundleRefused naming the first reason it may not.
 * `label` names the bundle in refusals when its manifest does not (a file name, say).
 */
export function verifyBundle(input: unknown, policy: VerifyPolicy, crypto: HostCrypto, label = '(unnamed)'): Bundle {
  return verifySigned(input, policy, crypto, label).bundle;
}

/** verifyBundle, also returning the verified manifest (for tools that report on it: frond verify). */
export function verifySigned(input: unknown, policy: VerifyPolicy, crypto: HostCrypto, label = '(unnamed)'): { bundle: Bundle; manifest: Manifest } {
  const doc = parseDocument(input, label);
  const bad = shapeError(doc);
  const name = isObj(doc) && isObj(doc.manifest) && typeof doc.manifest.name === 'string' && NAME.test(doc.manifest.name) ? doc.manifest.name : label;
  if (bad) throw new BundleRefused('malformed manifest', name, bad);
  const b = doc as SignedBundle;
  const m = b.manifest;
  if (!b.signature) throw new BundleRefused('unsigned', name, 'the bundle carries no signature');
  const sig = b.signature;
  const key = policy.trusted.find((k) => keyId(crypto, k) === sig.key);
  if (key === undefined) throw new BundleRefused('untrusted key', name, `key ${sig.key} is not one the kernel trusts`);
  if (!crypto.verify(key, canonicalBytes(m), sig.value)) {
    throw new BundleRefused('bad signature', name, `the signature does not match the manifest for key ${sig.key}`);
  }
  const code = utf8(b.code);
  if (crypto.sha256(code) !== m.code.sha256) throw new BundleRefused('tampered code', name, 'the code does not match the SHA-256 in the manifest');
  if (code.length !== m.code.bytes) throw new BundleRefused('tampered code', name, 'the code\'s size does not match the manifest');
  if (crypto.sha256(utf8(b.map)) !== m.map.sha256) throw new BundleRefused('tampered code', name, 'the source map does not match the SHA-256 in the manifest');
  checkFingerprints(m, policy, name);
  if (!m.metered && !policy.allowUnmetered) throw new BundleRefused('unmetered', name, 'built without CPU-budget checks');
  const imports: Record<string, string> = {};
  for (const [k, r] of Object.entries(m.imports)) imports[k] = r.iface;
  const bundle: Bundle = { name: m.name, code: b.code, map: b.map, exports: m.exports?.iface, imports, metered: m.metered, key: sig.key };
  return { bundle, manifest: m };
}

function checkFingerprints(m: Manifest, policy: VerifyPolicy, name: string): void {
  const refs: [string, InterfaceRef][] = Object.entries(m.imports).map(([k, r]) => [`import ${k}`, r]);
  if (m.exports) refs.unshift(['export', m.exports]);
  for (const [what, r] of refs) {
    const mine = Object.hasOwn(policy.fingerprints, r.iface) ? policy.fingerprints[r.iface] : undefined;
    if (mine === undefined) throw new BundleRefused('fingerprint mismatch', name, `${what} ${r.iface}: the kernel has no such interface`);
    if (mine !== r.fingerprint) {
      throw new BundleRefused('fingerprint mismatch', name, `${what} ${r.iface}: built against ${r.fingerprint.slice(0, 12)}, the kernel has ${mine.slice(0, 12)}`);
    }
  }
}

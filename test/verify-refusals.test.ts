// Tests that verified loading (src/kernel/verify.ts) says exactly why it refuses a bundle, and
// refuses exactly at its limits: each refusal's whole message, word for word (a user reads it, and
// frond verify prints it), the size limit and canonicalJson's depth limit at the boundary, and the
// shapes that are legal though the test domains never use them (a domain that exports nothing, an
// empty code file). Pure calls to verifySigned with the test key: no kernel is booted.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  BundleRefused, canonicalJson, MAX_BUNDLE_BYTES, oneLine, utf8, verifyBundle, verifySigned,
  type SignedBundle, type VerifyPolicy,
} from '../src/kernel/verify.ts';
import { NodeCrypto } from '../src/machine/node/host.ts';
import { FINGERPRINTS } from '../src/idl/generated/types.ts';
import { signManifest } from '../src/tools/domainc/build.ts';
import { signed, testKey } from './helpers.ts';

const crypto = new NodeCrypto();
let policy: VerifyPolicy;
/** The counter's signed bundle, parsed: each test changes a fresh copy of it. */
let base: SignedBundle;
const fresh = (): SignedBundle => structuredClone(base);

before(async () => {
  policy = { trusted: [testKey().publicKey], fingerprints: FINGERPRINTS };
  base = JSON.parse(await signed('src/domains/apps/counter')) as SignedBundle;
  assert.equal(base.manifest.exports?.iface, 'Counter');
});

const sha = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/** `doc` with its code and map digests recomputed and its manifest signed again with the test key. */
function resign(doc: SignedBundle): SignedBundle {
  doc.manifest.code = { sha256: sha(doc.code), bytes: Buffer.byteLength(doc.code, 'utf8') };
  doc.manifest.map = { sha256: sha(doc.map) };
  doc.signature = signManifest(doc.manifest, testKey());
  return doc;
}

/** Asserts that verifying `input` throws BundleRefused with exactly `message`. */
function refusedWith(input: unknown, message: string, label?: string): void {
  assert.throws(() => verifySigned(input, policy, crypto, label), (e: unknown) => {
    assert.ok(e instanceof BundleRefused, `not a BundleRefused: ${String(e).slice(0, 300)}`);
    assert.equal(e.message, message);
    return true;
  });
}

test('every shape refusal names the field and what it should be, word for word', () => {
  type Change = (d: SignedBundle & Record<string, unknown>) => void;
  const m = (d: SignedBundle): Record<string, unknown> => d.manifest as unknown as Record<string, unknown>;
  const ref = { iface: 'Counter', fingerprint: 'f'.repeat(64) };
  const long = `k${'x'.repeat(60)}`;
  // (the third element: the name the refusal gives, where the manifest names no valid domain)
  const cases: [Change, string, string?][] = [
    [(d) => { delete (d as Partial<SignedBundle>).map; }, 'map is missing'],
    [(d) => { delete (m(d) as Partial<Record<string, unknown>>).inputs; }, 'manifest.inputs is missing'],
    [(d) => { d['Stryker was here'] = 1; }, 'the document has an unexpected field "Stryker was here"'],
    [(d) => { m(d)['Stryker was here'] = 1; }, 'manifest has an unexpected field "Stryker was here"'],
    [(d) => { d[long] = 1; }, `the document has an unexpected field "${long.slice(0, 40)}"`],
    [(d) => { d.code = 7 as unknown as string; }, 'code is not a string'],
    [(d) => { d.map = null as unknown as string; }, 'map is not a string'],
    [(d) => { d.manifest = [] as unknown as SignedBundle['manifest']; }, 'manifest is not an object', '(unnamed)'],
    [(d) => { m(d).name = 7; }, 'manifest.name is not a domain name', '(unnamed)'],
    [(d) => { m(d).entry = 7; }, 'manifest.entry is not a string'],
    [(d) => { m(d).exports = 'Counter'; }, 'manifest.exports is not an object'],
    [(d) => { m(d).exports = { iface: 7, fingerprint: ref.fingerprint }; }, 'manifest.exports.iface is not an interface name'],
    [(d) => { m(d).exports = { iface: 'Counter', fingerprint: 'F'.repeat(64) }; }, 'manifest.exports.fingerprint is not a SHA-256 digest'],
    [(d) => { m(d).exports = { iface: 'Counter' }; }, 'manifest.exports.fingerprint is missing'],
    [(d) => { m(d).imports = { c: { ...ref, iface: 'counter' } }; }, 'manifest.imports.c.iface is not an interface name'],
    [(d) => { m(d).imports = { [`${long}-`]: ref }; }, `manifest.imports has a malformed key "${long.slice(0, 40)}"`],
    [(d) => { m(d).metered = 'yes'; }, 'manifest.metered is not a boolean'],
    [(d) => { m(d).tool = 'esbuild'; }, 'manifest.tool is not an object'],
    [(d) => { (m(d).tool as Record<string, unknown>).frond = 1; }, 'manifest.tool.frond is not a string'],
    [(d) => { (m(d).tool as Record<string, unknown>).esbuild = 1; }, 'manifest.tool.esbuild is not a string'],
    [(d) => { (m(d).tool as Record<string, unknown>).typescript = 1; }, 'manifest.tool.typescript is not a string'],
    [(d) => { (m(d).tool as Record<string, unknown>).flags = { 'no-check': true }; }, 'manifest.tool.flags has a malformed key "no-check"'],
    [(d) => { m(d).code = []; }, 'manifest.code is not an object'],
    [(d) => { m(d).code = { sha256: 'x', bytes: 1 }; }, 'manifest.code.sha256 is not a SHA-256 digest'],
    [(d) => { m(d).code = { sha256: 'f'.repeat(64), bytes: '1' }; }, 'manifest.code.bytes is not a byte count'],
    [(d) => { m(d).map = { sha256: 'f'.repeat(64), bytes: 1 }; }, 'manifest.map has an unexpected field "bytes"'],
    [(d) => { m(d).map = { sha256: 1 }; }, 'manifest.map.sha256 is not a SHA-256 digest'],
    [(d) => { m(d).inputs = { 'a.ts': 'f'.repeat(63) }; }, 'manifest.inputs.a.ts is not a SHA-256 digest'],
    [(d) => { m(d).inputs = 'a.ts'; }, 'manifest.inputs is not an object'],
    [(d) => { d.signature = { ...d.signature!, alg: 'rsa' as 'ed25519' }; }, 'signature.alg is not "ed25519"'],
    [(d) => { d.signature = { ...d.signature!, key: 7 as unknown as string }; }, 'signature.key is not a key id (16 hex digits)'],
    [(d) => { d.signature = { ...d.signature!, value: `${d.signature!.value}A` }; }, 'signature.value is not a base64 Ed25519 signature'],
    [(d) => { d.signature = { alg: 'ed25519', key: d.signature!.key } as SignedBundle['signature']; }, 'signature.value is missing'],
  ];
  for (const [change, detail, name = 'counter'] of cases) {
    const d = fresh() as SignedBundle & Record<string, unknown>;
    change(d);
    refusedWith(JSON.stringify(d), `refused bundle ${name}: malformed manifest (${detail})`);
  }
  // (a document that names no valid domain is named by its label, or '(unnamed)' without one)
  refusedWith('{"format":"frond-bundle/1"}', 'refused bundle b.json: malformed manifest (format is not frond-bundle/2)', 'b.json');
  assert.throws(() => verifyBundle('[1]', policy, crypto), (e: unknown) => e instanceof BundleRefused && e.message === 'refused bundle (unnamed): malformed manifest (not a JSON object)');
  assert.throws(() => verifySigned(7, policy, crypto), (e: unknown) => e instanceof BundleRefused &&
    e.message === 'refused bundle (unnamed): malformed manifest (pass the bundle\'s bytes (a Uint8Array) or its JSON text, not a number)');
});

test('the refusals after the shape: unsigned, untrusted, bad signature, tampered, fingerprints, unmetered, word for word', () => {
  const cases: [(d: SignedBundle) => SignedBundle, string][] = [
    [(d) => { delete d.signature; return d; }, 'unsigned (the bundle carries no signature)'],
    [(d) => { d.signature!.key = '0123456789abcdef'; return d; }, 'untrusted key (key 0123456789abcdef is not one the kernel trusts)'],
    [(d) => { d.manifest.entry += '.x'; return d; }, `bad signature (the signature does not match the manifest for key ${base.signature!.key})`],
    [(d) => { d.code += ' '; return d; }, 'tampered code (the code does not match the SHA-256 in the manifest)'],
    [(d) => { d.map += ' '; return d; }, 'tampered code (the source map does not match the SHA-256 in the manifest)'],
    [(d) => { d = resign(d); d.manifest.code.bytes += 1; d.signature = signManifest(d.manifest, testKey()); return d; }, 'tampered code (the code\'s size does not match the manifest)'],
    [(d) => { d.manifest.exports = { iface: 'Nope', fingerprint: 'a'.repeat(64) }; return resign(d); }, 'fingerprint mismatch (export Nope: the kernel has no such interface)'],
    [(d) => { d.manifest.exports = { iface: 'Counter', fingerprint: `0123456789ab${'c'.repeat(52)}` }; return resign(d); },
      `fingerprint mismatch (export Counter: built against 0123456789ab, the kernel has ${FINGERPRINTS.Counter!.slice(0, 12)})`],
    [(d) => { d.manifest.imports = { log: { iface: 'Counter', fingerprint: `ba9876543210${'d'.repeat(52)}` } }; return resign(d); },
      `fingerprint mismatch (import log Counter: built against ba9876543210, the kernel has ${FINGERPRINTS.Counter!.slice(0, 12)})`],
    [(d) => { d.manifest.imports = { toString: { iface: 'Object', fingerprint: 'e'.repeat(64) } }; return resign(d); },
      'fingerprint mismatch (import toString Object: the kernel has no such interface)'],
    [(d) => { d.manifest.metered = false; return resign(d); }, 'unmetered (built without CPU-budget checks)'],
  ];
  for (const [change, detail] of cases) refusedWith(JSON.stringify(change(fresh())), `refused bundle counter: ${detail}`);
});

test('legal shapes the test domains do not use: a domain that exports nothing, empty code, unmetered when the policy allows it', () => {
  const none = fresh();
  none.manifest.exports = null;
  const v = verifySigned(JSON.stringify(resign(none)), policy, crypto);
  assert.equal(v.bundle.exports, undefined);
  assert.equal(v.manifest.exports, null);

  const empty = fresh();
  empty.code = '';
  const e = verifySigned(JSON.stringify(resign(empty)), policy, crypto);
  assert.equal(e.bundle.code, '');
  assert.equal(e.manifest.code.bytes, 0);

  const loose = fresh();
  loose.manifest.metered = false;
  const u = verifySigned(JSON.stringify(resign(loose)), { ...policy, allowUnmetered: true }, crypto);
  assert.equal(u.bundle.metered, false);
});

test('the size limit is exact: a document of MAX_BUNDLE_BYTES is read, one byte more is refused', () => {
  // (a JSON string with the document's padding spaces in front: it is parsed, then refused by shape)
  const at = (n: number): string => `${' '.repeat(n - 2)}[]`;
  refusedWith(at(MAX_BUNDLE_BYTES), 'refused bundle (unnamed): malformed manifest (not a JSON object)');
  refusedWith(Buffer.from(at(MAX_BUNDLE_BYTES)), 'refused bundle (unnamed): malformed manifest (not a JSON object)');
  refusedWith(at(MAX_BUNDLE_BYTES + 1), 'refused bundle (unnamed): malformed manifest (the document is over the 16 MiB limit)');
  refusedWith(Buffer.from(at(MAX_BUNDLE_BYTES + 1)), 'refused bundle (unnamed): malformed manifest (the document is 16777217 bytes, over the 16 MiB limit)');
});

test('text that is not JSON is refused with where the parser stopped, and nothing of the text', () => {
  refusedWith('{"format": 12345678, x}', 'refused bundle (unnamed): malformed manifest (not JSON (at byte 21))');
  refusedWith('{"format":', 'refused bundle (unnamed): malformed manifest (not JSON)'); // (V8 names no position at the end)
  refusedWith(new Uint8Array([0x22, 0xff, 0x22]), 'refused bundle (unnamed): malformed manifest (the document is not UTF-8 text)');
  refusedWith('"\ud800"', 'refused bundle (unnamed): malformed manifest (the document is not well-formed Unicode (a lone surrogate): pass the bundle file\'s bytes)');
});

test('canonicalJson: the depth limit is exact, and what is not JSON data is named', () => {
  const nested = (n: number): unknown => JSON.parse(`${'['.repeat(n)}${']'.repeat(n)}`);
  assert.equal(canonicalJson(nested(32)), `${'['.repeat(31)}[]${']'.repeat(31)}`);
  assert.throws(() => canonicalJson(nested(33)), (e: unknown) => e instanceof TypeError && e.message === 'canonicalJson: nested deeper than 32');
  for (const [v, what] of [[1n, 'bigint'], [undefined, 'undefined'], [() => 1, 'function'], [Symbol('s'), 'symbol']] as const) {
    assert.throws(() => canonicalJson({ a: v }), (e: unknown) => e instanceof TypeError && e.message === `canonicalJson: ${what} is not JSON data`);
  }
});

test('utf8 refuses a lone surrogate, and oneLine cuts at exactly 200 units', () => {
  assert.throws(() => utf8('a\udc00'), (e: unknown) => e instanceof TypeError && e.message === 'not well-formed Unicode (a lone surrogate): it has no UTF-8 encoding');
  assert.deepEqual([...utf8('é')], [0xc3, 0xa9]);
  const s200 = 'x'.repeat(200);
  assert.equal(oneLine(s200), s200);
  assert.equal(oneLine(`${s200}yz`), `${s200}…`);
});

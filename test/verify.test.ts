// Tests that verified loading checks exactly the bytes that run (src/kernel/verify.ts, the
// kernel's HostCrypto, frond verify): lone surrogates that UTF-8 would turn into U+FFFD, bytes that
// are not UTF-8, parsed objects and Proxies instead of bytes, documents nested 200,000 deep or over
// the size limit, and a document's exact shape. Each is refused in one BundleRefused line and the
// kernel goes on loading good bundles; frond verify reports every file in one line of its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Counter } from '../src/idl/demo.ts';
import { BundleRefused, canonicalJson, MAX_BUNDLE_BYTES, oneLine, verifyBundle, type SignedBundle } from '../src/kernel/verify.ts';
import type { Kernel } from '../src/kernel/kernel.ts';
import { NodeCrypto } from '../src/machine/node/host.ts';
import { FINGERPRINTS } from '../src/idl/generated/types.ts';
import { buildDomain, signManifest } from '../src/tools/domainc/build.ts';
import { boot, ROOT, signed, testKey, TEST_KEYS } from './helpers.ts';

const REPLACEMENT = '\uFFFD';
let k: Kernel;
/** The counter bundle, re-signed with a U+FFFD in a string of its code, its map and its manifest: legitimate. */
let legit: string;

/** `doc` with the code and map digests recomputed and the manifest re-signed with the test key. */
function resign(doc: SignedBundle): string {
  const m = doc.manifest;
  const sha = (s: string): string => createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex');
  m.code = { sha256: sha(doc.code), bytes: Buffer.byteLength(doc.code, 'utf8') };
  m.map = { sha256: sha(doc.map) };
  return JSON.stringify({ ...doc, signature: signManifest(m, testKey()) });
}

before(async () => {
  k = (await boot([])).k;
  const doc = JSON.parse(await signed('src/domains/apps/counter')) as SignedBundle;
  doc.code = doc.code.replace(/\n\s*return module\.exports; \}\)$/, `\n"${REPLACEMENT}";\nreturn module.exports; })`);
  const map = JSON.parse(doc.map) as Record<string, unknown>;
  doc.map = JSON.stringify({ ...map, x_note: REPLACEMENT });
  doc.manifest.tool.frond += REPLACEMENT;
  legit = resign(doc);
  assert.ok(legit.includes(`"${REPLACEMENT}`), 'the document carries U+FFFD as a character, not an escape');
});
after(() => k.shutdown());

/** Asserts `input` is refused as `reason` in one line matching `detail`, and the kernel still loads and runs the legitimate bundle. */
function refused(input: unknown, reason: string, detail: RegExp): void {
  assert.throws(() => k.load(input), (e: unknown) => {
    assert.ok(e instanceof BundleRefused, `not a BundleRefused: ${String(e).slice(0, 300)}`);
    assert.equal(e.reason, reason, e.message);
    assert.match(e.message, detail);
    assert.equal(e.message.split('\n').length, 1, 'one line');
    assert.ok(e.message.length < 400, `short: ${e.message.length}`);
    return true;
  });
  k.load(legit);
  const { domain, api } = k.create<Counter>('counter');
  assert.deepEqual(api.add(3), { ok: true, value: 3 }, 'the kernel goes on');
  k.kill(domain, 'test over');
}

/** `text` with the first U+FFFD after `marker` replaced by the JSON escape of a lone surrogate. */
function loneAfter(text: string, marker: string, lone = '\\ud800'): string {
  const at = text.indexOf(REPLACEMENT, text.indexOf(marker));
  assert.ok(at > 0, `no U+FFFD after ${marker}`);
  return text.slice(0, at) + lone + text.slice(at + 1);
}

const sha256Utf8 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

// ---- lone surrogates ---------------------------------------------------------------------------

test('the legitimate bundle with U+FFFD characters loads, from bytes and from text', () => {
  for (const input of [legit, Buffer.from(legit, 'utf8'), new Uint8Array(Buffer.from(legit, 'utf8'))]) {
    const b = k.load(input);
    assert.equal(b.name, 'counter');
    assert.ok(b.code.includes(`"${REPLACEMENT}";`), 'the code is the one signed');
  }
});

test('a lone surrogate in the code, hashing like U+FFFD under UTF-8 with replacement, is refused', () => {
  const tampered = loneAfter(legit, '"code":"');
  const doc = JSON.parse(tampered) as SignedBundle;
  assert.notEqual(doc.code, (JSON.parse(legit) as SignedBundle).code, 'premise: other code');
  assert.equal(sha256Utf8(doc.code), doc.manifest.code.sha256, 'premise: lossy UTF-8 hashes it to the signed digest');
  refused(tampered, 'malformed manifest', /\(code is not well-formed Unicode \(a lone surrogate\)\)/);
  refused(Buffer.from(tampered, 'utf8'), 'malformed manifest', /code is not well-formed Unicode/);
  refused(loneAfter(legit, '"code":"', '\\udfff'), 'malformed manifest', /code is not well-formed Unicode/);
});

test('a lone surrogate in the source map is refused', () => {
  const tampered = loneAfter(legit, '"map":"');
  assert.equal(sha256Utf8((JSON.parse(tampered) as SignedBundle).map), (JSON.parse(tampered) as SignedBundle).manifest.map.sha256, 'premise');
  refused(tampered, 'malformed manifest', /\(map is not well-formed Unicode/);
});

test('a lone surrogate anywhere in the manifest (a value, a map key) or the document (a key) is refused', () => {
  refused(loneAfter(legit, '"frond":'), 'malformed manifest', /manifest\.tool\.frond is not well-formed Unicode/);
  const doc = JSON.parse(legit) as SignedBundle & Record<string, unknown>;
  const lone = (s: string): string => `${s}\ud800`;
  const variants: [SignedBundle & Record<string, unknown>, RegExp][] = [
    [{ ...doc, manifest: { ...doc.manifest, entry: lone(doc.manifest.entry) } }, /manifest\.entry is not well-formed/],
    [{ ...doc, manifest: { ...doc.manifest, inputs: { ...doc.manifest.inputs, [lone('x.ts')]: 'a'.repeat(64) } } }, /manifest\.inputs has a key that is not well-formed/],
    [{ ...doc, manifest: { ...doc.manifest, tool: { ...doc.manifest.tool, flags: { ...doc.manifest.tool.flags, meter: lone('x') } } } }, /manifest\.tool\.flags\.meter is not well-formed/],
    [{ ...doc, [lone('extra')]: 1 }, /the document has an unexpected field "extra\\ud800"/],
  ];
  for (const [d, why] of variants) refused(JSON.stringify(d), 'malformed manifest', why);
});

test('a string that is not well-formed, and bytes that are not UTF-8, are refused before parsing', () => {
  refused(`${legit}\ud800`, 'malformed manifest', /the document is not well-formed Unicode/);
  // The same U+FFFD as an invalid byte: a lenient decoder would read the same text.
  const bytes = Buffer.from(legit, 'utf8');
  const at = bytes.indexOf(Buffer.from(REPLACEMENT, 'utf8'));
  const invalid = Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at + 3)]);
  assert.equal(invalid.toString('utf8'), legit, 'premise: decoding with replacement gives the legitimate text');
  refused(invalid, 'malformed manifest', /the document is not UTF-8 text/);
  refused(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]), 'malformed manifest', /not JSON/); // a BOM is not skipped silently
});

// ---- what the kernel accepts ---------------------------------------------------------------------

test('only bytes or JSON text: a parsed object, a Proxy, null or a number is refused without touching it', () => {
  refused(JSON.parse(legit), 'malformed manifest', /pass the bundle's bytes \(a Uint8Array\) or its JSON text, not a parsed object/);
  let trapped = 0;
  const spy = new Proxy(Buffer.from(legit), { get: () => { trapped++; return undefined; }, getPrototypeOf: () => { trapped++; return Uint8Array.prototype; } });
  refused(spy, 'malformed manifest', /not a parsed object/);
  assert.equal(trapped, 0, 'no trap ran');
  const fakeLength = Buffer.from(legit);
  Object.defineProperty(fakeLength, 'byteLength', { get: () => { trapped++; return 1; } });
  k.load(fakeLength); // the real length is read from the array itself, not an own getter
  assert.equal(trapped, 0);
  refused(null, 'malformed manifest', /not null/);
  refused(42, 'malformed manifest', /not a number/);
});

test('the document must have exactly the signed shape: unknown fields, wrong types and loose encodings are refused', () => {
  const doc = JSON.parse(legit) as SignedBundle;
  const cases: [unknown, RegExp][] = [
    [{ ...doc, extra: 1 }, /the document has an unexpected field "extra"/],
    [{ ...doc, manifest: { ...doc.manifest, extra: 1 } }, /manifest has an unexpected field "extra"/],
    [{ ...doc, manifest: { ...doc.manifest, code: { ...doc.manifest.code, bytes: -1 } } }, /manifest\.code\.bytes is not a byte count/],
    [{ ...doc, manifest: { ...doc.manifest, code: { ...doc.manifest.code, bytes: 1.5 } } }, /manifest\.code\.bytes is not a byte count/],
    [{ ...doc, manifest: { ...doc.manifest, tool: { ...doc.manifest.tool, flags: { nested: { x: true } } } } }, /manifest\.tool\.flags\.nested is not a string or a boolean/],
    [{ ...doc, manifest: { ...doc.manifest, imports: [] } }, /manifest\.imports is not an object/],
    [{ ...doc, signature: { ...doc.signature!, value: `${doc.signature!.value}!!` } }, /signature\.value is not a base64 Ed25519 signature/],
    [{ ...doc, signature: { ...doc.signature!, key: 'x\ny' } }, /signature\.key is not a key id/],
    [{ ...doc, signature: null }, /signature is not an object/],
    [{ ...doc, code: 7 }, /code is not a string/],
  ];
  for (const [d, why] of cases) refused(JSON.stringify(d), 'malformed manifest', why);
  assert.ok(legit.includes('"imports":{}'), 'the counter imports nothing');
  const proto = legit.replace('"imports":{}', `"imports":{"__proto__":{"iface":"Counter","fingerprint":"${'f'.repeat(64)}"}}`);
  refused(proto, 'malformed manifest', /manifest\.imports has a malformed key "__proto__"/);
  const mis = JSON.parse(legit) as SignedBundle;
  mis.manifest.code.bytes += 1;
  const resigned = JSON.stringify({ ...mis, signature: signManifest(mis.manifest, testKey()) });
  refused(resigned, 'tampered code', /the code's size does not match the manifest/);
});

// ---- depth and size ------------------------------------------------------------------------------

const DEEP = 200_000;
const nested = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
const nestedObj = (n: number): string => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

/** The legitimate document with `json` spliced in as the value of manifest.tool.flags.deep. */
const deepFlags = (json: string): string => legit.replace('"flags":{', `"flags":{"deep":${json},`);

test('a manifest nested 200,000 deep is refused in one line, not a RangeError', () => {
  refused(deepFlags(nested(DEEP)), 'malformed manifest', /manifest\.tool\.flags\.deep is not a string or a boolean/);
  refused(deepFlags(nestedObj(DEEP)), 'malformed manifest', /manifest\.tool\.flags\.deep is not a string or a boolean/);
  refused(Buffer.from(deepFlags(nested(DEEP))), 'malformed manifest', /flags\.deep/);
  refused(legit.replace('"code":', `"deep":${nested(DEEP)},"code":`), 'malformed manifest', /unexpected field "deep"/);
  refused(nested(DEEP), 'malformed manifest', /not a JSON object/);
  refused(`{"format":"frond-bundle/2","manifest":${nestedObj(DEEP)}}`, 'malformed manifest', /./);
});

test('canonicalJson never recurses: deep data is a TypeError, not a RangeError; shallow data is unchanged', () => {
  const deep = JSON.parse(nested(DEEP)) as unknown;
  assert.throws(() => canonicalJson(deep), (e: unknown) => e instanceof TypeError && /nested deeper than 32/.test(e.message));
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => canonicalJson(cyclic), TypeError);
  assert.equal(canonicalJson({ b: [1, { d: 'x', c: null }], a: true, e: [] , f: {} }), '{"a":true,"b":[1,{"c":null,"d":"x"}],"e":[],"f":{}}');
  assert.throws(() => canonicalJson({ a: undefined }), TypeError);
});

test('a document over the size limit is refused before it is decoded or parsed', () => {
  const big = Buffer.alloc(MAX_BUNDLE_BYTES + 1, 0x20);
  refused(big, 'malformed manifest', /the document is 16777217 bytes, over the 16 MiB limit/);
  refused(' '.repeat(MAX_BUNDLE_BYTES + 1), 'malformed manifest', /over the 16 MiB limit/);
  refused(legit.replace('"code":', `"pad":"${'x'.repeat(MAX_BUNDLE_BYTES)}","code":`), 'malformed manifest', /over the 16 MiB limit/);
});

test('refusals name the bundle by its label when the manifest does not name it, and never echo raw input', () => {
  const crypto = new NodeCrypto();
  const policy = { trusted: [testKey().publicKey], fingerprints: FINGERPRINTS };
  assert.throws(() => verifyBundle('[]', policy, crypto, 'x.bundle.json'), /^BundleRefused: refused bundle x\.bundle\.json: malformed manifest \(not a JSON object\)$/);
  assert.throws(() => verifyBundle('{"a":\u001b[31m', policy, crypto, 'f'), (e: unknown) => e instanceof BundleRefused && !e.message.includes('\u001b') && !e.message.includes('31m'));
  assert.throws(() => verifyBundle('# a README with a secret in it', policy, crypto, 'README.md'),
    (e: unknown) => e instanceof BundleRefused && /malformed manifest \(not JSON/.test(e.message) && !e.message.includes('secret'));
  const named = JSON.parse(legit) as SignedBundle;
  named.manifest.name = 'Bad\nName';
  assert.throws(() => verifyBundle(JSON.stringify(named), policy, crypto, 'f.json'), /^BundleRefused: refused bundle f\.json: malformed manifest \(manifest\.name is not a domain name\)$/);
  assert.equal(oneLine('a\nb\u2028c\ud800 \u{1F600}'), 'a\\u000ab\\u2028c\\ud800 \u{1F600}');
});

test('NodeCrypto hashes and verifies bytes only', () => {
  const c = new NodeCrypto();
  assert.equal(c.sha256(Buffer.from('abc')), createHash('sha256').update('abc').digest('hex'));
  assert.throws(() => c.sha256('abc' as never), TypeError);
  assert.equal(c.verify(testKey().publicKey, 'x' as never, 'AAAA'), false);
});

// ---- frond verify ----------------------------------------------------------------------------------

function frondVerify(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/frond.mjs'), 'verify', ...args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 26 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('frond verify: one line per file, prefixed by its name; bad files (binary, deep, huge, missing, a folder) never stop the rest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'frond-verify-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, data: string | Uint8Array): string => { const p = join(dir, name); writeFileSync(p, data); return p; };
  const good = file('good.bundle.json', await signed('src/domains/apps/counter'));
  const lone = file('lone.bundle.json', loneAfter(legit, '"code":"'));
  const binary = file('binary.bin', Buffer.from([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xff, 0x00, 0x07, 0x0d, 0x0a, 0x80]));
  const deep = file('deep.bundle.json', deepFlags(nested(DEEP)));
  const huge = file('huge.bundle.json', Buffer.alloc(MAX_BUNDLE_BYTES + 1, 0x20));
  const unnamed = file('unnamed.json', '{"format":"frond-bundle/2"}');
  const folder = join(dir, 'folder.json');
  mkdirSync(folder);
  const missing = join(dir, 'missing.json');
  const files = [good, lone, binary, deep, huge, unnamed, folder, missing, good];
  const r = frondVerify('--keys', TEST_KEYS, ...files);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, '', 'nothing on stderr: no stack trace');
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, files.length, r.stdout);
  lines.forEach((l, i) => assert.ok(l.startsWith(`${files[i]}: `), `line ${i} names its file: ${l}`));
  const says = (i: number): string => lines[i]!.slice(files[i]!.length + 2);
  assert.match(says(0), /^ok \(counter, key [0-9a-f]{16}\)$/);
  assert.match(says(1), /^refused bundle counter: malformed manifest \(code is not well-formed Unicode \(a lone surrogate\)\)$/);
  assert.equal(says(2), `refused bundle ${binary}: malformed manifest (the document is not UTF-8 text)`);
  assert.match(says(3), /^refused bundle counter: malformed manifest \(manifest\.tool\.flags\.deep is not a string or a boolean\)$/);
  assert.equal(says(4), `refused: the file is ${MAX_BUNDLE_BYTES + 1} bytes, over the 16 MiB limit for a bundle`);
  assert.equal(says(5), `refused bundle ${unnamed}: malformed manifest (manifest is missing)`);
  assert.equal(says(6), 'cannot read: is a directory');
  assert.equal(says(7), 'cannot read: no such file');
  assert.match(says(8), /^ok \(counter/);
  assert.ok(/^[\x20-\x7e\n]*$/.test(r.stdout), 'only printable ASCII: no raw bytes echoed');
});

test('frond verify: one file is still prefixed by its name; a --no-check bundle says so; --keys must exist', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'frond-verify-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'counter.bundle.json');
  writeFileSync(good, await signed('src/domains/apps/counter'));
  const one = frondVerify('--keys', TEST_KEYS, good);
  assert.equal(one.status, 0, one.stdout + one.stderr);
  assert.equal(one.stdout, `${good}: ok (counter, key ${testKey().id})\n`);
  const unchecked = await buildDomain(join(ROOT, 'src/domains/apps/plan'), { root: ROOT, outDir: dir, key: testKey(), check: false, force: true });
  assert.equal(unchecked.manifest.tool.flags.checked, false);
  const u = frondVerify('--keys', TEST_KEYS, unchecked.file);
  assert.equal(u.status, 0, u.stdout + u.stderr);
  assert.equal(u.stdout, `${unchecked.file}: ok (plan, key ${testKey().id}, sources not checked)\n`);
  const noKeys = frondVerify('--keys', join(dir, 'no-such-keys'), good);
  assert.equal(noKeys.status, 1);
  assert.equal(noKeys.stdout, '');
  assert.match(noKeys.stderr, /^frond verify: --keys .*no-such-keys: no such directory\n$/);
  const emptyKeys = join(dir, 'empty-keys');
  mkdirSync(emptyKeys);
  assert.match(frondVerify('--keys', emptyKeys, good).stderr, /holds no public key/);
  const help = frondVerify('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^frond verify/);
  assert.equal(readFileSync(good, 'utf8'), await signed('src/domains/apps/counter'), 'verify changes nothing');
});

test('every pattern of the shape is whole: a value with anything before or after a well-formed one is refused, naming the field', () => {
  const doc = JSON.parse(legit) as SignedBundle;
  const m = doc.manifest;
  const ref = { iface: 'Counter', fingerprint: 'f'.repeat(64) };
  const cases: [unknown, string][] = [
    [{ ...doc, manifest: { ...m, name: `${m.name}!` } }, 'manifest.name is not a domain name'],
    [{ ...doc, manifest: { ...m, name: `!${m.name}` } }, 'manifest.name is not a domain name'],
    [{ ...doc, manifest: { ...m, code: { ...m.code, sha256: `${m.code.sha256}0` } } }, 'manifest.code.sha256 is not a SHA-256 digest'],
    [{ ...doc, manifest: { ...m, code: { ...m.code, sha256: `0${m.code.sha256}` } } }, 'manifest.code.sha256 is not a SHA-256 digest'],
    [{ ...doc, manifest: { ...m, map: { sha256: `x${m.map.sha256}` } } }, 'manifest.map.sha256 is not a SHA-256 digest'],
    [{ ...doc, manifest: { ...m, exports: { ...ref, iface: `${ref.iface}!` } } }, 'manifest.exports.iface is not an interface name'],
    [{ ...doc, manifest: { ...m, exports: { ...ref, iface: `!${ref.iface}` } } }, 'manifest.exports.iface is not an interface name'],
    [{ ...doc, manifest: { ...m, exports: { ...ref, fingerprint: `${ref.fingerprint}0` } } }, 'manifest.exports.fingerprint is not a SHA-256 digest'],
    [{ ...doc, manifest: { ...m, imports: { 'a!': ref } } }, 'manifest.imports has a malformed key "a!"'],
    [{ ...doc, manifest: { ...m, imports: { '!a': ref } } }, 'manifest.imports has a malformed key "!a"'],
    [{ ...doc, signature: { ...doc.signature!, key: `${doc.signature!.key}0` } }, 'signature.key is not a key id (16 hex digits)'],
    [{ ...doc, signature: { ...doc.signature!, key: `0${doc.signature!.key}` } }, 'signature.key is not a key id (16 hex digits)'],
    [{ ...doc, signature: { ...doc.signature!, value: `A${doc.signature!.value}` } }, 'signature.value is not a base64 Ed25519 signature'],
  ];
  for (const [d, why] of cases) {
    refused(JSON.stringify(d), 'malformed manifest', new RegExp(`\\(${why.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`));
  }
});

// Edge cases of the trusted build (src/tools/domainc/build.ts, bundle.ts, folder.ts, boot.ts), each
// on small domains in a throwaway repository root: the exact bundle written (layout, every manifest
// field, signed over exactly the code that runs), the up-to-date check (served as is when nothing
// changed; rebuilt when a source, domain.json, the package version, the key, a flag, or the bundle
// file itself differs from what this build would write), manifest validation messages, finding
// domain folders, keys, the failures buildAll lists, and buildForBoot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { Kernel } from '../src/kernel/kernel.ts';
import { BUNDLE_FORMAT, BundleRefused, verifySigned, type SignedBundle, type VerifyPolicy } from '../src/kernel/verify.ts';
import { NodeCrypto, NodeHost } from '../src/machine/node/host.ts';
import { FINGERPRINTS } from '../src/idl/generated/types.ts';
import { BuildError, buildAll, buildDomain, devKey, ephemeralKey, findDomains, keyFrom, trustedKeys, type Built, type SigningKey } from '../src/tools/domainc/build.ts';
import { bundleDomain } from '../src/tools/domainc/bundle.ts';
import { bootTrust, buildForBoot, loadAll } from '../src/tools/domainc/boot.ts';
import { loadDomainJson, readDomainJson } from '../src/tools/domainc/folder.ts';
import { ROOT } from './helpers.ts';

type Files = Record<string, string>;
const sha = (b: string | Uint8Array): string => createHash('sha256').update(b).digest('hex');
const crypto = new NodeCrypto();
const policy = (key: SigningKey, more: Partial<VerifyPolicy> = {}): VerifyPolicy => ({ trusted: [key.publicKey], fingerprints: FINGERPRINTS, ...more });
const readDoc = (file: string): SignedBundle => JSON.parse(readFileSync(file, 'utf8')) as SignedBundle;
const versionOf = (pkg: string): string => (createRequire(import.meta.url)(`${pkg}/package.json`) as { version: string }).version;

function writeFiles(root: string, files: Files): void {
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
}

/** The build tool's digest as the README describes it: every file of src/tools/domainc but the tests. */
function expectedToolHash(): string {
  const dir = join(ROOT, 'src/tools/domainc');
  const h = createHash('sha256');
  for (const f of readdirSync(dir).filter((n) => !n.endsWith('.test.ts')).sort()) h.update(`${f}\0${sha(readFileSync(join(dir, f)))}\0`);
  return h.digest('hex').slice(0, 16);
}

const PKG = '{ "name": "edges-test", "version": "1.2.3", "type": "module" }\n';
const EDGE = 'src/domains/edge';
const EDGE_JSON = '{ "name": "edge", "exports": "Counter", "imports": { "c": "Counter" } }\n';
const EDGE_INDEX = [
  '/*! legal notice */',
  "import { z } from './z.ts';",
  "import { a } from './a.ts';",
  "import { unused } from './side.ts';",
  "import { which } from 'modpkg';",
  'const hits: number[] = [];',
  'class Base { set x(v: number) { hits.push(v); } }',
  'class Derived extends Base { x = 1; }',
  'export const url = `a\n//# sourceMappingURL=x\nb`;',
  'export function init(): unknown { const d = new Derived(); return { z, a, which, hits: [...hits], x: d.x, url }; }',
  '',
].join('\n');

/** A repository root: package.json, the allowlist, the entry glue's import, a reviewed package, and the edge domain. */
const BASE: Files = {
  'package.json': PKG,
  'src/tools/domainc/allowlist.json': JSON.stringify({ packages: [{ name: 'modpkg', why: 'test stand-in' }] }),
  'src/idl/generated/structs.ts': 'export function bindHeap(_h: unknown): void {}\n',
  'node_modules/modpkg/package.json': '{ "name": "modpkg", "module": "m.js", "main": "c.js" }\n',
  'node_modules/modpkg/m.js': "export const which = 'module';\n",
  'node_modules/modpkg/c.js': "exports.which = 'main';\n",
  [`${EDGE}/domain.json`]: EDGE_JSON,
  [`${EDGE}/index.ts`]: EDGE_INDEX,
  [`${EDGE}/z.ts`]: 'export const z = 26;\n',
  [`${EDGE}/a.ts`]: 'export const a = 1;\n',
  [`${EDGE}/side.ts`]: 'export const unused = 0;\n',
};

let R: string;
let edgeDir: string;
let K: SigningKey; // the development key buildAll creates in R/keys
let pristine: Uint8Array;
before(() => {
  R = mkdtempSync(join(tmpdir(), 'frond-edges-'));
  writeFiles(R, BASE);
  edgeDir = join(R, EDGE);
});
after(() => rmSync(R, { recursive: true, force: true }));

const INPUTS = [
  'node_modules/modpkg/m.js', `${EDGE}/a.ts`, `${EDGE}/index.ts`, `${EDGE}/side.ts`, `${EDGE}/z.ts`,
  'src/idl/generated/structs.ts', `${EDGE}/domain.json`,
];
const edgeFile = (): string => join(R, 'build/domains/edge.bundle.json');
const build = (opts: { key?: SigningKey; meter?: boolean; check?: boolean; force?: boolean; outDir?: string } = {}): Promise<Built> =>
  buildDomain(edgeDir, { root: R, key: K, ...opts });

test('buildAll with every default: finds src/domains/*, creates keys/, writes build/domains/<name>.bundle.json signed over exactly its code', async () => {
  const out = await buildAll({ root: R });
  assert.ok(statSync(join(R, 'keys/dev.key')).isFile() && statSync(join(R, 'keys/dev.pub')).isFile(), 'the development key pair is created in keys/');
  K = devKey(join(R, 'keys'));
  assert.equal(out.length, 1);
  const b = out[0]!;
  assert.deepEqual([b.name, b.dir, b.file, b.rebuilt], ['edge', edgeDir, edgeFile(), true]);
  assert.deepEqual(readdirSync(join(R, 'build/domains')), ['edge.bundle.json'], 'one file, no temporary left over');
  const bytes = readFileSync(edgeFile());
  assert.deepEqual(Buffer.from(b.bytes), bytes, 'the bytes returned are the bytes written');
  const doc = readDoc(edgeFile());
  assert.deepEqual(Object.keys(doc), ['format', 'manifest', 'signature', 'code', 'map']);
  assert.equal(doc.format, BUNDLE_FORMAT);
  assert.deepEqual(b.manifest, doc.manifest);
  const fileSha = (p: string): string => sha(readFileSync(join(R, p)));
  assert.deepEqual(doc.manifest, {
    name: 'edge',
    entry: `${EDGE}/index.ts`,
    exports: { iface: 'Counter', fingerprint: FINGERPRINTS.Counter },
    imports: { c: { iface: 'Counter', fingerprint: FINGERPRINTS.Counter } },
    metered: true,
    tool: {
      frond: `1.2.3+build.${expectedToolHash()}`,
      esbuild: versionOf('esbuild'),
      typescript: versionOf('typescript'),
      flags: { format: 'cjs', platform: 'neutral', target: 'es2022', bundle: true, meter: true, checked: true },
    },
    code: { sha256: sha(doc.code), bytes: Buffer.byteLength(doc.code, 'utf8') },
    map: { sha256: sha(doc.map) },
    inputs: Object.fromEntries(INPUTS.map((p) => [p, fileSha(p)])),
  });
  assert.deepEqual(Object.keys(doc.manifest.inputs), INPUTS, 'the files bundled, sorted, then domain.json');
  assert.deepEqual(doc.signature!.key, K.id);
  assert.equal(doc.signature!.alg, 'ed25519');
  const v = verifySigned(bytes, policy(K), crypto, 'edge.bundle.json');
  assert.deepEqual(v.manifest, doc.manifest);
  // what runs is esbuild's output: no legal comment kept, no trailing source-map comment, a template literal left whole
  assert.ok(!doc.code.includes('legal notice'), 'legalComments: none');
  assert.ok(!doc.code.includes('sourceMappingURL=edge'), 'the sourceMappingURL comment is removed');
  assert.ok(doc.code.includes('`a\n//# sourceMappingURL=x\nb`'), 'a template literal that looks like one is not');
  assert.ok(doc.code.startsWith('((__frond_m) => { var '), doc.code.slice(0, 80));
  assert.ok(doc.code.endsWith('\nreturn module.exports; })'));
  const map = JSON.parse(doc.map) as { sources: string[] };
  assert.deepEqual([...map.sources].sort(),
    ['node_modules/modpkg/m.js', `${EDGE}/%3Centry%3E`, `${EDGE}/a.ts`, `${EDGE}/index.ts`, `${EDGE}/z.ts`, 'src/idl/generated/structs.ts'],
    'source-map paths are relative to the root (side.ts, bundled for its import, leaves no code)');
});

test('an unchanged domain is served as is, without rebuilding; force rebuilds, to the same bytes', async () => {
  pristine = readFileSync(edgeFile());
  const again = await buildAll({ root: R });
  assert.equal(again.length, 1);
  assert.equal(again[0]!.rebuilt, false);
  assert.deepEqual(Buffer.from(again[0]!.bytes), pristine);
  const direct = await build();
  assert.deepEqual([direct.rebuilt, direct.file], [false, edgeFile()]);
  const forced = await build({ force: true });
  assert.equal(forced.rebuilt, true);
  assert.deepEqual(readFileSync(edgeFile()), pristine, 'deterministic: the same inputs give the same signed bytes');
});

test('a build without metering: recorded and refused by default; its code runs index.ts, with define semantics for class fields and the module field of packages', async () => {
  const out = join(R, 'unmetered');
  const b = await build({ meter: false, outDir: out });
  assert.deepEqual([b.rebuilt, b.file, b.manifest.metered, b.manifest.tool.flags.meter], [true, join(out, 'edge.bundle.json'), false, false]);
  const doc = readDoc(b.file);
  assert.equal(doc.code.split('__frond_m').length, 2, 'the meter parameter only: no prologue, no polls');
  assert.ok(doc.code.startsWith('((__frond_m) => {  const module = { exports: {} }; const exports = module.exports; '), doc.code.slice(0, 100));
  assert.throws(() => verifySigned(b.bytes, policy(K), crypto), (e: unknown) => e instanceof BundleRefused && e.reason === 'unmetered');
  verifySigned(b.bytes, policy(K, { allowUnmetered: true }), crypto);
  const mod = (runInNewContext(doc.code) as (m: unknown) => { start: (sys: unknown, imports: unknown, config: unknown) => unknown })(undefined);
  assert.deepEqual(JSON.parse(JSON.stringify(mod.start({ heap: null }, {}, {}))), {
    z: 26, a: 1, which: 'module', hits: [], x: 1, url: 'a\n//# sourceMappingURL=x\nb',
  });
  // the metered build of the same folder is still the one in build/domains
  assert.deepEqual(readFileSync(edgeFile()), pristine);
  assert.equal((await build({ meter: false, outDir: out })).rebuilt, false);
});

test('a changed source, dependency, domain.json, package version, key or check flag makes the build rebuild, then serve the new bundle', async () => {
  const expectRebuild = async (what: string, opts: Parameters<typeof build>[0] = {}): Promise<Built> => {
    const b = await build(opts);
    assert.equal(b.rebuilt, true, `${what}: rebuilt`);
    assert.equal((await build(opts)).rebuilt, false, `${what}: then up to date`);
    return b;
  };
  const edit = (p: string, text: string): void => writeFileSync(join(R, p), text);
  edit(`${EDGE}/index.ts`, `${EDGE_INDEX}// edited\n`);
  let b = await expectRebuild('index.ts');
  assert.equal(b.manifest.inputs[`${EDGE}/index.ts`], sha(`${EDGE_INDEX}// edited\n`));
  edit(`${EDGE}/z.ts`, 'export const z = 27;\n');
  b = await expectRebuild('a dependency');
  assert.equal(b.manifest.inputs[`${EDGE}/z.ts`], sha('export const z = 27;\n'));
  edit(`${EDGE}/domain.json`, EDGE_JSON.replace('{ ', '{  '));
  b = await expectRebuild('domain.json');
  assert.equal(b.manifest.inputs[`${EDGE}/domain.json`], sha(EDGE_JSON.replace('{ ', '{  ')));
  edit('package.json', '{ "name": "edges-test", "type": "module" }\n');
  b = await expectRebuild('package.json without a version');
  assert.equal(b.manifest.tool.frond, `0.0.0+build.${expectedToolHash()}`);
  const other = ephemeralKey();
  b = await expectRebuild('another key', { key: other });
  assert.equal(readDoc(b.file).signature!.key, other.id);
  assert.throws(() => verifySigned(b.bytes, policy(K), crypto), (e: unknown) => e instanceof BundleRefused && e.reason === 'untrusted key');
  b = await expectRebuild('--no-check', { check: false });
  assert.equal(b.manifest.tool.flags.checked, false);
  for (const [p, text] of Object.entries(BASE)) if (p === 'package.json' || p.startsWith(`${EDGE}/`)) edit(p, text);
  b = await expectRebuild('all restored');
  assert.deepEqual(Buffer.from(b.bytes), pristine);
});

test('a bundle file that is not what this build would write is rebuilt, never served', async () => {
  const cases: [string, (d: SignedBundle) => void][] = [
    ['another format', (d) => { (d as { format: string }).format = 'frond-bundle/1'; }],
    ['another key id', (d) => { d.signature!.key = '0123456789abcdef'; }],
    ['no signature', (d) => { delete d.signature; }],
    ['no manifest', (d) => { delete (d as Partial<SignedBundle>).manifest; }],
    ['no inputs', (d) => { delete (d.manifest as Partial<SignedBundle['manifest']>).inputs; }],
    ['domain.json not among the inputs', (d) => { delete d.manifest.inputs[`${EDGE}/domain.json`]; }],
    ['another entry', (d) => { d.manifest.entry = 'src/domains/other/index.ts'; }],
    ['another tool', (d) => { d.manifest.tool.esbuild = '0.0.1'; }],
    ['another exports fingerprint', (d) => { d.manifest.exports!.fingerprint = '0'.repeat(64); }],
    ['another import fingerprint', (d) => { d.manifest.imports.c!.fingerprint = '0'.repeat(64); }],
    ['edited code', (d) => { d.code += ' '; }],
    ['edited map', (d) => { d.map += ' '; }],
    ['code missing (its digest that of no bytes)', (d) => { delete (d as Partial<SignedBundle>).code; d.manifest.code.sha256 = sha(''); }],
    ['map missing (its digest that of no bytes)', (d) => { delete (d as Partial<SignedBundle>).map; d.manifest.map.sha256 = sha(''); }],
    ['an input that no longer exists', (d) => { d.manifest.inputs[`${EDGE}/gone.ts`] = sha(''); }],
    ['an input whose bytes changed', (d) => { d.manifest.inputs[`${EDGE}/a.ts`] = sha('export const a = 2;\n'); }],
  ];
  assert.equal((await build()).rebuilt, false, 'premise: up to date');
  for (const [what, tamper] of cases) {
    const doc = JSON.parse(Buffer.from(pristine).toString('utf8')) as SignedBundle;
    tamper(doc);
    writeFileSync(edgeFile(), `${JSON.stringify(doc)}\n`);
    const b = await build();
    assert.equal(b.rebuilt, true, what);
    assert.deepEqual(readFileSync(edgeFile()), pristine, `${what}: the bundle written is the build's`);
  }
  writeFileSync(edgeFile(), 'not JSON');
  assert.equal((await build()).rebuilt, true, 'not JSON');
});

test('a bundle of the same name built from another folder is not served for this one', async () => {
  writeFiles(R, { 'other/edge/domain.json': '{ "name": "edge" }\n', 'other/edge/index.ts': 'export function init(): unknown { return 1; }\n' });
  const twin = await buildDomain(join(R, 'other/edge'), { root: R, key: K });
  assert.deepEqual([twin.rebuilt, twin.file, twin.manifest.entry], [true, edgeFile(), 'other/edge/index.ts']);
  const b = await build();
  assert.equal(b.rebuilt, true);
  assert.deepEqual(readFileSync(edgeFile()), pristine);
  rmSync(join(R, 'other'), { recursive: true });
});

test('buildAll tries every folder and lists every failure, paths relative to the root', async () => {
  writeFiles(R, {
    'bad/domain.json': '{ "name": "Bad" }\n',
    'bad/index.ts': 'export function init(): unknown { return 1; }\n',
    'nojson/index.ts': 'export function init(): unknown { return 1; }\n',
    'noindex/domain.json': '{ "name": "noindex" }\n',
    'dup/domain.json': '{ "name": "edge" }\n',
    'dup/index.ts': 'export function init(): unknown { return 1; }\n',
    'badiface/domain.json': '{ "name": "badiface", "imports": { "c": "NoSuchInterface" } }\n',
    'badiface/index.ts': 'export function init(): unknown { return 1; }\n',
    'later/domain.json': '{ "name": "later" }\n',
    'later/index.ts': 'export function init(): unknown { return 1; }\n',
  });
  const dirs = [R, 'bad', 'nojson', 'noindex', EDGE, 'dup', 'badiface', 'later'].map((d) => (d === R ? R : join(R, d)));
  await assert.rejects(buildAll({ root: R, key: K }, dirs), (e: unknown) => {
    assert.ok(e instanceof BuildError, String(e));
    assert.equal(e.name, 'BuildError');
    assert.equal(e.message, [
      '.: no index.ts (a domain folder holds domain.json and index.ts)',
      'bad/domain.json: "name" must be a lower-case identifier',
      `nojson/domain.json: ENOENT: no such file or directory, open '${join(R, 'nojson/domain.json')}'`,
      'noindex: no index.ts (a domain folder holds domain.json and index.ts)',
      `dup: domain name 'edge' is also used by ${EDGE}`,
      'badiface/index.ts: import c: no interface NoSuchInterface in src/idl',
    ].join('\n'));
    return true;
  });
  assert.deepEqual(readdirSync(join(R, 'build/domains')).sort(), ['edge.bundle.json', 'later.bundle.json'], 'the good folders were built; the failed ones wrote nothing');
  assert.deepEqual(readFileSync(edgeFile()), pristine);
  // an error of the file system's, not naming the folder: prefixed by it
  const outFile = join(R, 'package.json');
  await assert.rejects(buildAll({ root: R, key: K, outDir: outFile }, [join(R, 'later')]), (e: unknown) => {
    assert.ok(e instanceof BuildError, String(e));
    assert.match(e.message, new RegExp(`^later: E[A-Z]+: [^\\n]*mkdir '${outFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'$`));
    return true;
  });
  for (const d of ['bad', 'nojson', 'noindex', 'dup', 'badiface', 'later']) rmSync(join(R, d), { recursive: true });
  rmSync(join(R, 'build/domains/later.bundle.json'));
});

test('a --no-check build still refuses what esbuild cannot bundle, with its path:line:col', async () => {
  writeFiles(R, { 'broken/domain.json': '{ "name": "broken" }\n', 'broken/index.ts': 'export function init( { return 1; }\n' });
  try {
    await assert.rejects(buildDomain(join(R, 'broken'), { root: R, key: K, check: false, outDir: join(R, 'broken-out') }), (e: unknown) => {
      assert.ok(e instanceof BuildError, String(e));
      assert.match(e.message, /^broken\/index\.ts:1:\d+: [^\n]+$/);
      return true;
    });
    assert.ok(!existsSync(join(R, 'broken-out')));
  } finally {
    rmSync(join(R, 'broken'), { recursive: true });
  }
});

test('esbuild compiles every file as strict code, a module or not (a legacy octal literal is refused)', async () => {
  writeFiles(R, {
    'sloppy/domain.json': '{ "name": "sloppy" }\n',
    'sloppy/index.ts': "import './legacy.ts';\nexport function init(): unknown { return 1; }\n",
    'sloppy/legacy.ts': 'var o = 010;\n',
  });
  try {
    await assert.rejects(buildDomain(join(R, 'sloppy'), { root: R, key: K, check: false, outDir: join(R, 'sloppy-out') }), (e: unknown) => {
      assert.ok(e instanceof BuildError, String(e));
      assert.equal(e.message, 'sloppy/legacy.ts:1:9: Legacy octal literals cannot be used in strict mode');
      return true;
    });
  } finally {
    rmSync(join(R, 'sloppy'), { recursive: true });
  }
});

test('bundleDomain (no source checks) refuses what the guard refuses, one line each', async () => {
  writeFiles(R, { 'hostile/domain.json': '{ "name": "hostile" }\n', 'hostile/index.ts': "import { readFileSync } from 'node:fs';\nimport { join } from 'node:path';\nexport const r = [readFileSync, join];\nexport function init(): unknown { return 1; }\n" });
  try {
    await assert.rejects(bundleDomain(join(R, 'hostile'), R), (e: unknown) => {
      assert.ok(e instanceof Error);
      const lines = e.message.split('\n');
      assert.equal(lines.length, 2, e.message);
      assert.match(lines[0]!, /^hostile\/index\.ts:1:30: .*node:fs/);
      assert.match(lines[1]!, /^hostile\/index\.ts:2:22: .*node:path/);
      return true;
    });
  } finally {
    rmSync(join(R, 'hostile'), { recursive: true });
  }
  // and compiles, with the root's allowlist, exactly what the build signs
  const c = await bundleDomain(edgeDir, R);
  const doc = JSON.parse(Buffer.from(pristine).toString('utf8')) as SignedBundle;
  assert.deepEqual([c.name, c.entry, c.exports, c.imports, c.metered], ['edge', `${EDGE}/index.ts`, 'Counter', { c: 'Counter' }, true]);
  assert.equal(c.code, doc.code);
  assert.equal(c.map, doc.map);
  assert.deepEqual(c.inputs, doc.manifest.inputs);
});

test('a folder StrykerJS rewrote is built unchecked only under npm run mutate (FROND_MUTATION=1)', async () => {
  writeFiles(R, {
    'mut/domain.json': '{ "name": "mut" }\n',
    'mut/index.ts': "import { h } from './helper.ts';\nexport function init(): unknown { return h; }\n",
    'mut/helper.ts': '// stryMutAct_9fa48 (a marker StrykerJS leaves)\nexport const h = 1;\n',
  });
  const saved = process.env.FROND_MUTATION;
  const out = join(R, 'mut-out');
  const checked = async (dir: string, env: string | undefined): Promise<unknown> => {
    if (env === undefined) delete process.env.FROND_MUTATION;
    else process.env.FROND_MUTATION = env;
    return (await buildDomain(join(R, dir), { root: R, key: K, outDir: out, force: true })).manifest.tool.flags.checked;
  };
  try {
    assert.equal(await checked('mut', '1'), false);
    assert.equal(await checked('mut', ''), true);
    assert.equal(await checked('mut', undefined), true);
    assert.equal(await checked(EDGE, '1'), true, 'a folder without the marker is checked');
  } finally {
    if (saved === undefined) delete process.env.FROND_MUTATION;
    else process.env.FROND_MUTATION = saved;
    rmSync(join(R, 'mut'), { recursive: true });
    rmSync(out, { recursive: true });
  }
});

test('buildForBoot builds with the development key of <root>/keys and returns the bytes written; bootTrust and loadAll', async () => {
  const bytes = await buildForBoot(R, [EDGE]);
  assert.equal(bytes.length, 1);
  assert.deepEqual(Buffer.from(bytes[0]!), pristine, 'up to date: served as written');
  assert.ok(!existsSync(join(R, 'dev.key')));
  const elsewhere = join(R, 'boot-out');
  const built = await buildForBoot(R, [EDGE], { outDir: elsewhere });
  assert.deepEqual(readdirSync(elsewhere), ['edge.bundle.json']);
  assert.deepEqual(Buffer.from(built[0]!), readFileSync(join(elsewhere, 'edge.bundle.json')));
  assert.equal(readDoc(join(elsewhere, 'edge.bundle.json')).signature!.key, K.id);
  rmSync(elsewhere, { recursive: true });
  assert.deepEqual(bootTrust(R), [K.publicKey]);
  const extra = ephemeralKey();
  writeFileSync(join(R, 'keys/a-extra.pub'), `${extra.publicKey}\n`);
  assert.deepEqual(bootTrust(R), [extra.publicKey, K.publicKey]);
  rmSync(join(R, 'keys/a-extra.pub'));
  const fresh = mkdtempSync(join(tmpdir(), 'frond-edges-trust-'));
  try {
    const trust = bootTrust(fresh);
    assert.deepEqual(trust, [devKey(join(fresh, 'keys')).publicKey], 'a fresh tree gets a key pair, and trusts it');
    assert.deepEqual(readdirSync(fresh), ['keys']);
  } finally {
    rmSync(fresh, { recursive: true });
  }
  const k = new Kernel(new NodeHost(), { trust: [K.publicKey], log: () => {} });
  try {
    loadAll(k, bytes);
    assert.throws(() => loadAll(k, [bytes[0]!, new Uint8Array([0x7b])]), BundleRefused);
  } finally {
    k.shutdown();
  }
});

test('a bundle whose signature no longer verifies is not served as up to date', async () => {
  assert.equal((await build()).rebuilt, false, 'premise: up to date');
  const doc = JSON.parse(Buffer.from(pristine).toString('utf8')) as SignedBundle;
  doc.manifest.metered = false; // a signed field: the signature no longer matches
  writeFileSync(edgeFile(), `${JSON.stringify(doc)}\n`);
  try {
    const b = await build();
    verifySigned(b.bytes, policy(K, { allowUnmetered: true }), crypto);
    assert.equal(b.rebuilt, true);
  } finally {
    writeFileSync(edgeFile(), pristine);
  }
});

test('two folders giving the same domain name: neither is built', async () => {
  writeFiles(R, {
    'twins/one/domain.json': '{ "name": "twin" }\n', 'twins/one/index.ts': 'export function init(): unknown { return 1; }\n',
    'twins/two/domain.json': '{ "name": "twin" }\n', 'twins/two/index.ts': 'export function init(): unknown { return 2; }\n',
  });
  const out = join(R, 'twins-out');
  try {
    await assert.rejects(buildAll({ root: R, key: K, outDir: out }, [join(R, 'twins/one'), join(R, 'twins/two')]),
      { message: "twins/two: domain name 'twin' is also used by twins/one" });
    assert.ok(!existsSync(join(out, 'twin.bundle.json')), 'no bundle written for either folder');
  } finally {
    rmSync(join(R, 'twins'), { recursive: true });
    rmSync(out, { recursive: true, force: true });
  }
});

// ---- no esbuild below ------------------------------------------------------------------------------

test('findDomains: every folder holding domain.json, sorted; node_modules and dot folders skipped; links walked once; bad roots refused', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'frond-edges-find-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  writeFiles(d, {
    'domain.json': '{}', 'a/domain.json': '{}', 'a/sub/domain.json': '{}', 'a-x/domain.json': '{}', 'b/c/domain.json': '{}',
    'trail./domain.json': '{}', 'node_modules/n/domain.json': '{}', '.hidden/domain.json': '{}', 'b/file.txt': '', 'b/c/domain.json.bak': '',
  });
  symlinkSync(d, join(d, 'b/loop'));
  symlinkSync(join(d, 'missing'), join(d, 'dangling'));
  assert.deepEqual(findDomains(d), [d, join(d, 'a'), join(d, 'a-x'), join(d, 'a/sub'), join(d, 'b/c'), join(d, 'trail.')]);
  assert.deepEqual(findDomains(join(d, 'b')), ['b/c', 'b/loop', 'b/loop/a', 'b/loop/a-x', 'b/loop/a/sub', 'b/loop/trail.'].map((p) => join(d, p)),
    'from b, the link to the top is a folder like another (reached once)');
  assert.throws(() => findDomains(join(d, 'none')), (e: unknown) => e instanceof BuildError && e.message === `${join(d, 'none')}: no such directory`);
  assert.throws(() => findDomains(join(d, 'b/file.txt')), (e: unknown) => e instanceof BuildError && e.message === `${join(d, 'b/file.txt')}: not a directory`);
});

test('findDomains: a folder it cannot read is one line naming it and the error code', { skip: process.getuid?.() === 0 ? 'root reads any folder' : false }, (t) => {
  const d = mkdtempSync(join(tmpdir(), 'frond-edges-find-'));
  t.after(() => { chmodSync(join(d, 'locked'), 0o755); rmSync(d, { recursive: true, force: true }); });
  writeFiles(d, { 'locked/x/domain.json': '{}' });
  chmodSync(join(d, 'locked'), 0o000);
  assert.throws(() => findDomains(d), (e: unknown) => e instanceof BuildError && e.message === `${join(d, 'locked')}: cannot read this folder (EACCES)`);
});

test('keys: devKey creates a pair once (0600 PKCS#8, raw base64 .pub) and keeps it; trustedKeys reads *.pub files, sorted; keyFrom wants Ed25519', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'frond-edges-keys-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const dir = join(d, 'deep/er/keys');
  const k1 = devKey(dir);
  assert.deepEqual(readdirSync(dir).sort(), ['dev.key', 'dev.pub']);
  assert.equal(statSync(join(dir, 'dev.key')).mode & 0o777, 0o600);
  assert.match(readFileSync(join(dir, 'dev.key'), 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(readFileSync(join(dir, 'dev.pub'), 'utf8'), `${k1.publicKey}\n`);
  assert.equal(Buffer.from(k1.publicKey, 'base64').length, 32);
  assert.equal(k1.id, sha(k1.publicKey).slice(0, 16));
  const k2 = devKey(dir);
  assert.deepEqual([k2.publicKey, k2.id], [k1.publicKey, k1.id], 'the same key the second time');
  rmSync(join(dir, 'dev.pub'));
  devKey(dir);
  assert.equal(readFileSync(join(dir, 'dev.pub'), 'utf8'), `${k1.publicKey}\n`, 'a missing dev.pub is written again');
  writeFileSync(join(dir, 'dev.pub'), k1.publicKey);
  devKey(dir);
  assert.equal(readFileSync(join(dir, 'dev.pub'), 'utf8'), k1.publicKey, 'an existing dev.pub is left alone');

  const tk = join(d, 'trusted');
  writeFiles(tk, { 'z.pub': 'ZZZ\n', 'b.pub': '  BBB  \n', 'm.pub': 'MMM', 'empty.pub': ' \n', 'note.txt': 'NOTE', 'x.key': 'KEY', 'pub': 'PUB', '.pub': 'DOT' });
  mkdirSync(join(tk, 'dir.pub'));
  assert.deepEqual(trustedKeys(tk), ['DOT', 'BBB', 'MMM', 'ZZZ']);
  assert.deepEqual(trustedKeys(join(d, 'none')), []);
  assert.deepEqual(trustedKeys(join(tk, 'note.txt')), []);

  assert.throws(() => keyFrom(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey), { message: 'signing keys must be Ed25519' });
  assert.throws(() => keyFrom(generateKeyPairSync('x25519').privateKey), { message: 'signing keys must be Ed25519' });
});

test('domain.json: every malformed field refused with its exact message', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'frond-edges-json-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const p = join(d, 'domain.json');
  const message = (text: string): string => {
    writeFileSync(p, text);
    try { readDomainJson(d); } catch (e) { return (e as Error).message; }
    return 'accepted';
  };
  const NAME = `${p}: "name" must be a lower-case identifier`;
  const EXPORTS = `${p}: "exports" must be an interface name`;
  const IMPORTS = `${p}: "imports" must map import names to interface names`;
  const imp = (k: string): string => `${p}: import "${k}" must name an interface`;
  const cases: [string, string][] = [
    ['null', NAME], ['{}', NAME], ['{ "name": 1 }', NAME], ['{ "name": ["abc"] }', NAME], ['{ "name": "Bad" }', NAME],
    ['{ "name": "Xab" }', NAME], ['{ "name": "ab!" }', NAME], ['{ "name": "1ab" }', NAME], ['{ "name": "" }', NAME],
    ['{ "name": "a", "exports": 5 }', EXPORTS], ['{ "name": "a", "exports": ["Counter"] }', EXPORTS], ['{ "name": "a", "exports": "counter" }', EXPORTS],
    ['{ "name": "a", "exports": "xCounter" }', EXPORTS], ['{ "name": "a", "exports": "Counter!" }', EXPORTS], ['{ "name": "a", "exports": null }', EXPORTS],
    ['{ "name": "a", "imports": null }', IMPORTS], ['{ "name": "a", "imports": "x" }', IMPORTS], ['{ "name": "a", "imports": [] }', IMPORTS], ['{ "name": "a", "imports": ["Counter"] }', IMPORTS],
    ['{ "name": "a", "imports": { "1x": "Counter" } }', imp('1x')], ['{ "name": "a", "imports": { "x-y": "Counter" } }', imp('x-y')],
    ['{ "name": "a", "imports": { "c": ["Counter"] } }', imp('c')], ['{ "name": "a", "imports": { "c": "counter" } }', imp('c')],
    ['{ "name": "a", "imports": { "c": "xCounter" } }', imp('c')], ['{ "name": "a", "imports": { "ok": "Counter", "c": 1 } }', imp('c')],
  ];
  for (const [text, want] of cases) assert.equal(message(text), want, text);
  let parseError = '';
  try { JSON.parse('{ "name": '); } catch (e) { parseError = (e as Error).message; }
  assert.equal(message('{ "name": '), `${p}: ${parseError}`);
  rmSync(p);
  assert.throws(() => readDomainJson(d), { message: `${p}: ENOENT: no such file or directory, open '${p}'` });
  const good = '{ "name": "a-1", "exports": "Counter", "imports": { "$c_1": "Counter", "blk": "Block" } }';
  writeFileSync(p, good);
  assert.deepEqual(loadDomainJson(d), { json: { name: 'a-1', exports: 'Counter', imports: { $c_1: 'Counter', blk: 'Block' } }, sha256: sha(good) });
  writeFileSync(p, '{ "name": "b" }');
  assert.deepEqual(readDomainJson(d), { name: 'b', exports: undefined, imports: {} });
});

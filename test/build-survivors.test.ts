// Behaviour of the trusted build (src/tools/domainc/build.ts, bundle.ts) that no test pinned until
// mutation testing showed it, each on small domains in a throwaway repository root: which folders
// buildAll builds by default; bundles signed by this very key that are still stale (an older IDL,
// another folder's entry, code or map missing, another signature algorithm) are rebuilt, never
// served; findDomains on a folder that vanished; the private key's mode from the moment it is
// written, and which files of keys/ are trusted, in which order; a failure of the CPU meter's pass
// named by its folder; what the entry glue imports; one module per file through symbolic links;
// the glue's source map; imports with a query or hash suffix; a file that cannot be read;
// finishBundle without esbuild output; and, in a child
// process, that esbuild prints nothing itself and that its own failure (it could not start) is
// reported as such. (The survivors that change no behaviour, each with the reason:
// mutation/equivalent.json.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, sign } from 'node:crypto';
import fs, { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import { originalPositionFor, TraceMap } from '@jridgewell/trace-mapping';
import { canonicalBytes, verifySigned, type SignedBundle } from '../src/kernel/verify.ts';
import { NodeCrypto } from '../src/machine/node/host.ts';
import { FINGERPRINTS } from '../src/idl/generated/types.ts';
import { BuildError, buildAll, buildDomain, devKey, findDomains, trustedKeys, type Built, type SigningKey } from '../src/tools/domainc/build.ts';
import { bundleSources, finishBundle } from '../src/tools/domainc/bundle.ts';

type Files = Record<string, string>;
const REPO = join(fileURLToPath(import.meta.url), '../..');
const sha = (b: string | Uint8Array): string => createHash('sha256').update(b).digest('hex');
const readDoc = (bytes: Uint8Array | string): SignedBundle => JSON.parse(Buffer.from(bytes).toString('utf8')) as SignedBundle;
const verifies = (b: Built): void => {
  verifySigned(b.bytes, { trusted: [K.publicKey], fingerprints: FINGERPRINTS, allowUnmetered: true }, new NodeCrypto(), `${b.name}.bundle.json`);
};
/** What a bundle's code gives: start(sys, imports, config) of the script the kernel evaluates (with meter hooks that never stop it). */
const run = (b: Built): unknown => {
  const hooks = { pending: new DataView(new ArrayBuffer(4)), tick: (): void => {}, live: (): void => {} };
  const mod = (runInNewContext(readDoc(b.bytes).code) as (m: unknown) => { start: (sys: unknown, i: unknown, c: unknown) => unknown })(hooks);
  return mod.start({ heap: null }, {}, {});
};

function writeFiles(root: string, files: Files): void {
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
}

const init = (value: string): string => `export function init(): unknown { return ${value}; }\n`;
const EDGE = 'src/domains/edge';
const BASE: Files = {
  'package.json': '{ "name": "survivors-test", "version": "1.2.3", "type": "module" }\n',
  'src/tools/domainc/allowlist.json': JSON.stringify({ packages: [{ name: 'np', why: 'test stand-in' }] }),
  'src/idl/generated/structs.ts': 'export function bindHeap(_h: unknown): void {}\n',
  [`${EDGE}/domain.json`]: '{ "name": "edge", "exports": "Counter", "imports": { "c": "Counter" } }\n',
  [`${EDGE}/index.ts`]: "import { a } from './a.ts';\nexport function init(): unknown { return a; }\n",
  [`${EDGE}/a.ts`]: 'export const a = 1;\n',
  'src/domains/plain/domain.json': '{ "name": "plain" }\n',
  'src/domains/plain/index.ts': init("'plain'"),
  // a domain folder under src/ but not under src/domains: buildAll with no folders leaves it alone
  'src/elsewhere/domain.json': '{ "name": "elsewhere" }\n',
  'src/elsewhere/index.ts': init("'elsewhere'"),
};

let R: string;
let K: SigningKey;
let pristine: Buffer;
before(() => {
  R = mkdtempSync(join(tmpdir(), 'frond-survivors-'));
  writeFiles(R, BASE);
});
after(() => rmSync(R, { recursive: true, force: true }));

const edgeFile = (): string => join(R, 'build/domains/edge.bundle.json');
/** A domain folder of its own under src/domains (removed by the caller's t.after). */
function domain(t: { after: (fn: () => void) => void }, name: string, files: Files): string {
  writeFiles(R, Object.fromEntries([[`src/domains/${name}/domain.json`, `{ "name": "${name}" }\n`], ...Object.entries(files).map(([p, text]) => [`src/domains/${name}/${p}`, text])]));
  t.after(() => rmSync(join(R, 'src/domains', name), { recursive: true, force: true }));
  return join(R, 'src/domains', name);
}
const buildIn = (dir: string, opts: { check?: boolean; meter?: boolean } = {}): Promise<Built> =>
  buildDomain(dir, { root: R, key: K, outDir: join(R, 'out'), force: true, ...opts });

// ---- build.ts ------------------------------------------------------------------------------------

test('buildAll with no folders builds exactly the domains under src/domains (not another folder of src/)', async () => {
  const out = await buildAll({ root: R });
  K = devKey(join(R, 'keys'));
  assert.deepEqual(out.map((b) => [b.name, b.rebuilt]), [['edge', true], ['plain', true]]);
  assert.deepEqual(readdirSync(join(R, 'build/domains')).sort(), ['edge.bundle.json', 'plain.bundle.json'], 'src/elsewhere is not built');
  pristine = readFileSync(edgeFile());
});

test('a bundle signed by this very key is still rebuilt, never served, when it is not what this build would write', async () => {
  /** Signs the (edited) manifest again with the build's key, as a build of the time would have. */
  const resign = (d: SignedBundle): void => {
    d.signature = { alg: 'ed25519', key: K.id, value: sign(null, canonicalBytes(d.manifest), K.privateKey).toString('base64') };
  };
  const cases: [string, (d: SignedBundle) => void][] = [
    ['built against an older IDL: its exports fingerprint differs', (d) => { d.manifest.exports!.fingerprint = '0'.repeat(64); resign(d); }],
    ['built against an older IDL: one import fingerprint differs (the exports one does not)', (d) => { d.manifest.imports.c!.fingerprint = '0'.repeat(64); resign(d); }],
    ["its entry is another folder's (this folder's domain.json still among the inputs)", (d) => { d.manifest.entry = 'src/domains/plain/index.ts'; resign(d); }],
    ['its code is missing (the manifest giving the digest of no bytes)', (d) => { delete (d as Partial<SignedBundle>).code; d.manifest.code.sha256 = sha(''); resign(d); }],
    ['its map is missing (the manifest giving the digest of no bytes)', (d) => { delete (d as Partial<SignedBundle>).map; d.manifest.map.sha256 = sha(''); resign(d); }],
    ['its signature names another algorithm (the value unchanged)', (d) => { (d.signature as { alg: string }).alg = 'ed448'; }],
  ];
  const build = (): Promise<Built> => buildDomain(join(R, EDGE), { root: R, key: K });
  // premise: signing again what the build wrote gives the same bytes (Ed25519 is deterministic), served as is
  const same = readDoc(pristine);
  resign(same);
  writeFileSync(edgeFile(), `${JSON.stringify(same)}\n`);
  assert.deepEqual(readFileSync(edgeFile()), pristine);
  assert.equal((await build()).rebuilt, false);
  for (const [what, tamper] of cases) {
    const doc = readDoc(pristine);
    tamper(doc);
    writeFileSync(edgeFile(), `${JSON.stringify(doc)}\n`);
    const b = await build();
    assert.equal(b.rebuilt, true, what);
    assert.deepEqual(readFileSync(edgeFile()), pristine, `${what}: the bundle written is the build's`);
    verifies(b);
  }
  // a domain with no interfaces at all is served when nothing changed
  const plain = await buildDomain(join(R, 'src/domains/plain'), { root: R, key: K });
  assert.deepEqual([plain.rebuilt, plain.manifest.exports, plain.manifest.imports], [false, null, {}]);
});

test('findDomains: a folder that vanished while it is walked (reached through a link to it) is one line naming it and the error code', { skip: existsSync('/proc/self/fd') ? false : 'needs /proc/self/fd' }, (t) => {
  const d = mkdtempSync(join(tmpdir(), 'frond-survivors-find-'));
  mkdirSync(join(d, 'gone'));
  const fd = openSync(join(d, 'gone'), 'r');
  t.after(() => { closeSync(fd); rmSync(d, { recursive: true, force: true }); });
  rmdirSync(join(d, 'gone'));
  const link = `/proc/self/fd/${fd}`; // still a directory to stat, but its real path is gone
  assert.ok(statSync(link).isDirectory());
  assert.throws(() => findDomains(link), (e: unknown) => e instanceof BuildError && e.message === `${link}: cannot read this folder (ENOENT)`);
});

test('devKey: the private key is readable by its owner only from the moment its bytes are on disk; trustedKeys trusts regular *.pub files only', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'frond-survivors-keys-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  // watch every file the build writes: its mode right after the write, before anything else runs
  const modes: [string, number][] = [];
  const nodeFs = fs as { writeFileSync: typeof fs.writeFileSync };
  const write = nodeFs.writeFileSync;
  nodeFs.writeFileSync = (...args: Parameters<typeof write>): void => {
    write(...args);
    modes.push([String(args[0]).slice(d.length + 1), statSync(args[0] as string).mode & 0o777]);
  };
  syncBuiltinESMExports();
  const mask = process.umask(0o022);
  let k: SigningKey;
  try {
    k = devKey(join(d, 'keys'));
  } finally {
    process.umask(mask);
    nodeFs.writeFileSync = write;
    syncBuiltinESMExports();
  }
  assert.deepEqual(modes, [['keys/dev.key', 0o600], ['keys/dev.pub', 0o644]]);
  // keys/ as `frond start` sees it: the private key, a note and a folder named like a key are not
  // keys; the keys come sorted by file name as JavaScript sorts strings (UTF-16 code units: U+1F600
  // before U+FF5E, which the file system's byte order has the other way round)
  writeFileSync(join(d, 'keys/notes.txt'), 'not a key\n');
  mkdirSync(join(d, 'keys/old.pub'));
  writeFileSync(join(d, 'keys/old.pub/x.pub'), 'nested\n');
  writeFileSync(join(d, 'keys/\uFF5E.pub'), 'WAVE\n');
  writeFileSync(join(d, 'keys/\u{1F600}.pub'), 'SMILE\n');
  assert.deepEqual(trustedKeys(join(d, 'keys')), [k.publicKey, 'SMILE', 'WAVE']);
});

test('a --no-check build whose code the CPU meter refuses fails with the folder, then the meter\'s line:col and reason', async (t) => {
  const dir = domain(t, 'clash', { 'index.ts': 'export const __frond_x = 1;\nexport function init(): unknown { return __frond_x; }\n' });
  await assert.rejects(buildIn(dir, { check: false }), (e: unknown) => {
    assert.ok(e instanceof BuildError, String(e));
    assert.match(e.message, /^src\/domains\/clash: \d+:\d+: identifier __frond_x is reserved for the CPU meter \(prefix __frond\)$/);
    return true;
  });
  assert.ok(!existsSync(join(R, 'out/clash.bundle.json')));
});

// ---- bundle.ts -----------------------------------------------------------------------------------

test("the entry glue imports the folder's index.ts itself: not a file named like the folder, nor (--no-check lets one in) a package.json's main", async (t) => {
  const main = domain(t, 'withmain', { 'index.ts': init("'index'"), 'package.json': '{ "main": "other.ts", "module": "other.ts" }\n', 'other.ts': init("'other'") });
  const b = await buildIn(main, { check: false });
  assert.equal(run(b), 'index');
  assert.deepEqual(Object.keys(b.manifest.inputs), ['src/domains/withmain/index.ts', 'src/idl/generated/structs.ts', 'src/domains/withmain/domain.json']);
  const sib = domain(t, 'sib', { 'index.ts': init("'index'") });
  writeFileSync(join(R, 'src/domains/sib.ts'), init("'sibling'"));
  t.after(() => rmSync(join(R, 'src/domains/sib.ts')));
  assert.equal(run(await buildIn(sib)), 'index');
});

test('a file reached through a symbolic link (--no-check lets one in) is bundled once, under its real path: one module, not two', async (t) => {
  const dir = domain(t, 'linked', {
    'index.ts': "import { box } from './box.ts';\nimport { box as same } from './alias.ts';\nexport function init(): unknown { return box === same; }\n",
    'box.ts': 'export const box = {};\n',
  });
  symlinkSync(join(dir, 'box.ts'), join(dir, 'alias.ts'));
  const b = await buildIn(dir, { check: false });
  assert.equal(run(b), true);
  assert.deepEqual(Object.keys(b.manifest.inputs), ['src/domains/linked/box.ts', 'src/domains/linked/index.ts', 'src/idl/generated/structs.ts', 'src/domains/linked/domain.json']);
});

test("the source map places the entry glue's start function on the glue's own lines", async (t) => {
  const dir = domain(t, 'glue', { 'index.ts': init('1') });
  const b = await buildIn(dir, { meter: false });
  const doc = readDoc(b.bytes);
  const lines = doc.code.split('\n');
  const at = (text: string): { line: number; column: number } => {
    const i = lines.findIndex((l) => l.includes(text));
    assert.ok(i >= 0, text);
    return { line: i + 1, column: lines[i]!.indexOf(text) };
  };
  const map = new TraceMap(doc.map);
  const glue = 'src/domains/glue/%3Centry%3E';
  assert.deepEqual(originalPositionFor(map, at('function start(')), { source: glue, line: 3, column: 7, name: null });
  assert.deepEqual(originalPositionFor(map, at('bindHeap(sys.heap)')), { source: glue, line: 3, column: 46, name: null });
});

test('an import with a query or hash suffix is refused: esbuild would take the file for another one than the guard loaded', async (t) => {
  const dir = domain(t, 'suffix', { 'index.ts': "import { a } from './a.ts?x';\nimport { b } from './a.ts#y';\nexport function init(): unknown { return a + b; }\n", 'a.ts': 'export const a = 1, b = 2;\n' });
  const why = "is not allowed in a domain's imports: the bundler would take the file for another one than the checks saw";
  for (const check of [true, false]) {
    await assert.rejects(buildIn(dir, { check }), {
      name: 'BuildError',
      message: `src/domains/suffix/index.ts:1:19: import './a.ts?x': a query or hash suffix (?x) ${why}\n` +
        `src/domains/suffix/index.ts:2:19: import './a.ts#y': a query or hash suffix (#y) ${why}`,
    });
  }
});

test('a file of the domain that cannot be read is refused, naming it and why', async (t) => {
  const dir = domain(t, 'huge', { 'index.ts': "import { a } from './big.ts';\nexport function init(): unknown { return a; }\n" });
  // (a sparse file over 2 GiB: Node's readFileSync refuses it)
  const fd = openSync(join(dir, 'big.ts'), 'w');
  fs.ftruncateSync(fd, 2 ** 31 + 1);
  closeSync(fd);
  await assert.rejects(buildIn(dir), { name: 'BuildError', message: 'src/domains/huge/index.ts:1:19: src/domains/huge/big.ts: cannot be read (ERR_FS_FILE_TOO_LARGE)' });
});

test('finishBundle refuses sources without esbuild output (the script or its map missing), naming the folder', async (t) => {
  const broken = domain(t, 'noout', { 'index.ts': "import { a } from './missing.ts';\nexport function init(): unknown { return a; }\n" });
  const failed = await bundleSources(broken, R, { allow: [], check: false, name: 'noout' });
  assert.deepEqual([failed.js, failed.map, failed.refused.length], [null, null, 1]);
  const message = 'src/domains/noout: esbuild produced no output';
  assert.throws(() => finishBundle(broken, failed, { meter: true }), { message });
  const ok = domain(t, 'out', { 'index.ts': init('1') });
  const src = await bundleSources(ok, R, { allow: [], check: false, name: 'out' });
  assert.ok(src.js !== null && src.map !== null);
  assert.throws(() => finishBundle(ok, { ...src, map: null }, { meter: true }), { message: 'src/domains/out: esbuild produced no output' });
  assert.throws(() => finishBundle(ok, { ...src, js: null }, { meter: true }), { message: 'src/domains/out: esbuild produced no output' });
  assert.equal(finishBundle(ok, src, { meter: true }).name, 'out');
});

test('esbuild itself prints nothing (the build reports every problem), and its own failure is reported as such, not as a problem of the domain', async (t) => {
  // In a child process whose esbuild runs through a wrapper that refuses to start once asked to.
  const d = mkdtempSync(join(tmpdir(), 'frond-survivors-child-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const req = createRequire(import.meta.url);
  const esbuildBin = join(dirname(req.resolve('esbuild/package.json')), 'bin', 'esbuild');
  const wrapper = join(d, 'esbuild');
  writeFileSync(wrapper, `#!/bin/sh\nif [ -n "$FROND_TEST_ESBUILD_DOWN" ]; then exit 1; fi\nexec '${esbuildBin}' "$@"\n`, { mode: 0o755 });
  const broken = domain(t, 'unresolved', { 'index.ts': "import { a } from './missing.ts';\nexport function init(): unknown { return a; }\n" });
  const fine = domain(t, 'fine', { 'index.ts': init('1') });
  const script = join(d, 'child.mts');
  writeFileSync(script, [
    `import { stop } from ${JSON.stringify(req.resolve('esbuild'))};`,
    `const { buildAll, ephemeralKey } = await import(${JSON.stringify(join(REPO, 'src/tools/domainc/build.ts'))});`,
    `const opts = { root: ${JSON.stringify(R)}, key: ephemeralKey(), outDir: ${JSON.stringify(join(d, 'out'))}, force: true };`,
    `const message = async (dir) => { try { await buildAll(opts, [dir]); return 'built'; } catch (e) { return e.message; } };`,
    `const out = [await message(${JSON.stringify(broken)})];`,
    `await stop();`,
    `process.env.FROND_TEST_ESBUILD_DOWN = '1';`,
    `out.push(await message(${JSON.stringify(fine)}));`,
    `console.log(JSON.stringify(out));`,
  ].join('\n'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
    cwd: REPO, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ESBUILD_BINARY_PATH: wrapper },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /ERROR|Could not resolve|missing\.ts/, 'nothing from esbuild on stderr');
  const [unresolved, down] = JSON.parse(r.stdout) as [string, string];
  assert.equal(unresolved, 'src/domains/unresolved/index.ts:1:19: Could not resolve "./missing.ts"');
  assert.match(down, /^src\/domains\/fine: The service (was stopped|is no longer running)/);
});

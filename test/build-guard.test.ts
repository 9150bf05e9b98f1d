// Tests that the build's source checks run on exactly what esbuild bundles (src/tools/domainc/
// guard.ts, bundle.ts, check.ts): the files it loads, from where, with which loader. Each attack
// is first shown to work on esbuild without the guard (so the refusal is not a test artefact),
// then shown refused, naming the file and the line of the import. The fixture-based cases
// (x.d.ts as code, loaders, import attributes, package code) are in test/build-check.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { build } from 'esbuild';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bundleSources, type Sources } from '../src/tools/domainc/bundle.ts';
import { BuildError, buildDomain, ephemeralKey } from '../src/tools/domainc/build.ts';
import { checkDomain, checkLoaded, formatCheckError } from '../src/tools/domainc/check.ts';
import { makeScope } from '../src/tools/domainc/scope.ts';
import { ROOT } from './helpers.ts';

type Files = Record<string, string | Uint8Array>;

/** A throwaway repository root: the build's own inputs (package.json, allowlist, the entry glue's import) plus `files`. */
function tempRoot(t: { after(fn: () => void): void }, files: Files, allow: readonly string[] = []): string {
  const root = mkdtempSync(join(tmpdir(), 'frond-guard-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const packages = allow.map((name) => ({ name, why: 'test stand-in' }));
  const all: Files = {
    'package.json': '{ "name": "guard-test", "version": "0.0.0", "type": "module" }\n',
    'src/tools/domainc/allowlist.json': JSON.stringify({ packages }),
    'src/idl/generated/structs.ts': 'export function bindHeap(_h: unknown): void {}\n',
    ...files,
  };
  for (const [p, text] of Object.entries(all)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

const INIT = 'export function init(): unknown { return null; }\n';

async function refusals(root: string, dir = 'd', allow: readonly string[] = []): Promise<string[]> {
  return (await checkDomain(join(root, dir), root, allow)).map(formatCheckError);
}

/** What the guard alone refuses (as in a `--no-check` build), and the files esbuild loaded. */
async function guardOnly(root: string, dir = 'd', allow: readonly string[] = []): Promise<{ errors: string[]; src: Sources }> {
  const src = await bundleSources(join(root, dir), root, { allow, check: false });
  return { errors: [...src.refused, ...src.failed].map(formatCheckError), src };
}

/** Plain esbuild, as bundle.ts used it before the guard: what it bundles from `entry`. */
async function unguarded(root: string, entry: string): Promise<{ inputs: string[]; js: string }> {
  const out = await build({
    entryPoints: [join(root, entry)], absWorkingDir: root, bundle: true, write: false, metafile: true,
    format: 'cjs', platform: 'neutral', mainFields: ['module', 'main'], logLevel: 'silent',
  });
  return { inputs: Object.keys(out.metafile.inputs).sort(), js: out.outputFiles[0]!.text };
}

const rels = (src: Sources): string[] => src.files.map((f) => f.rel).sort();

// ---- the file set is esbuild's ---------------------------------------------------------------------

test('a .d.ts file esbuild loads is compiled as code, and the build refuses it at its line (and --no-check signs it, recording so)', async (t) => {
  const root = tempRoot(t, {
    'd/domain.json': '{ "name": "dts" }\n',
    'd/index.ts': `import { leak } from './evil.d.ts';\nexport const x = leak;\n${INIT}`,
    'd/evil.d.ts': "declare const ambient: number;\nexport const leak = eval('1 + 1');\nglobalThis.stolen = process;\n",
  });
  const plain = await unguarded(root, 'd/index.ts');
  assert.ok(plain.inputs.includes('d/evil.d.ts') && plain.js.includes("eval(\"1 + 1\")"), 'premise: esbuild compiles evil.d.ts as code');
  const out = join(root, 'out');
  await assert.rejects(buildDomain(join(root, 'd'), { root, outDir: out, key: ephemeralKey() }), (e: unknown) => {
    assert.ok(e instanceof BuildError, String(e));
    assert.deepEqual(e.message.split('\n').map((l) => l.replace(/: .*$/, '')), ['d/evil.d.ts:2:21', 'd/evil.d.ts:3:1', 'd/evil.d.ts:3:21']);
    assert.match(e.message, /^d\/evil\.d\.ts:2:21: eval is not allowed in domains/m);
    return true;
  });
  assert.throws(() => readdirSync(out), /ENOENT/, 'nothing was written');
  const unchecked = await buildDomain(join(root, 'd'), { root, outDir: out, key: ephemeralKey(), check: false });
  assert.equal(unchecked.manifest.tool.flags.checked, false);
  assert.ok(Object.hasOwn(unchecked.manifest.inputs, 'd/evil.d.ts'), 'the manifest lists the file esbuild bundled');
  assert.match(JSON.parse(readFileSync(unchecked.file, 'utf8')).code, /eval\("1 \+ 1"\)/);
});

test('the checks get the text handed to esbuild, and the manifest hashes the bytes it came from', async (t) => {
  const root = tempRoot(t, { 'd/domain.json': '{ "name": "same" }\n', 'd/index.ts': `import { y } from './y.ts';\nexport const x = y;\n${INIT}`, 'd/y.ts': 'export const y = 1;\n' });
  const { src } = await guardOnly(root);
  const y = src.files.find((f) => f.rel === 'd/y.ts')!;
  assert.equal(y.text, 'export const y = 1;\n');
  const built = await buildDomain(join(root, 'd'), { root, outDir: join(root, 'out'), key: ephemeralKey() });
  assert.equal(built.manifest.inputs['d/y.ts'], y.sha256);
  assert.deepEqual(Object.keys(built.manifest.inputs).sort(), ['d/domain.json', 'd/index.ts', 'd/y.ts', 'src/idl/generated/structs.ts']);
});

test('files the domain does not import are not checked; files it does, wherever they are, are', async (t) => {
  const root = tempRoot(t, {
    'd/index.ts': `import { deep } from './a/b/c/deep.js';\nexport const x = deep;\n${INIT}`,
    'd/a/b/c/deep.js': 'export const deep = fetch;\n',
    'd/unused.ts': 'export const u = process;\n',
  });
  assert.deepEqual(await refusals(root), ["d/a/b/c/deep.js:1:21: 'fetch' is a host global, not available to domains: the kernel gives domains what they need as capabilities (sys.*)"]);
});

// ---- symbolic links -------------------------------------------------------------------------------

test('a symbolic link to a file outside the folder: refused at the import (and the link named), with or without the checks', async (t) => {
  const root = tempRoot(t, {
    'outside.ts': "export const o = eval('x');\n",
    'd/index.ts': `import { o } from './link.ts';\nexport const x = o;\n${INIT}`,
  });
  symlinkSync(join(root, 'outside.ts'), join(root, 'd/link.ts'));
  assert.ok((await unguarded(root, 'd/index.ts')).inputs.includes('outside.ts'), 'premise: esbuild follows the link');
  assert.deepEqual(await refusals(root), [
    "d/index.ts:1:19: import './link.ts': it resolves outside this domain's folder, to outside.ts: a domain may import only its own files (d/), src/idl/, src/lib/ and src/machine/common/",
    'd/link.ts:1:1: symbolic links are not allowed in a domain folder: the bundler would follow them to code this check does not see',
  ]);
  const g = await guardOnly(root);
  assert.deepEqual(g.errors, ["d/index.ts:1:19: import './link.ts': it resolves to outside.ts, outside this domain's folder (d/), src/idl/, src/lib/ and src/machine/common/, and the reviewed packages: a domain's bundle may hold nothing else"]);
  assert.ok(!rels(g.src).includes('outside.ts'), 'the guard never loaded it');
});

test('a symbolic link to a folder outside, reached through an ordinary-looking path', async (t) => {
  const root = tempRoot(t, {
    'shared/util.ts': 'export const u = process.env;\n',
    'd/index.ts': `import { u } from './lib/util.ts';\nexport const x = u;\n${INIT}`,
  });
  symlinkSync(join(root, 'shared'), join(root, 'd/lib'));
  assert.ok((await unguarded(root, 'd/index.ts')).inputs.includes('shared/util.ts'), 'premise: esbuild follows the link');
  const got = await refusals(root);
  assert.deepEqual(got.map((l) => l.replace(/: .*$/, '')), ['d/index.ts:1:19', 'd/lib:1:1']);
  assert.match(got[0]!, /resolves outside this domain's folder, to shared\/util\.ts/);
  assert.deepEqual((await guardOnly(root)).errors.map((l) => l.replace(/: import.*$/, '')), ['d/index.ts:1:19']);
});

test('a reviewed package whose folder is a symbolic link out of node_modules is refused at the import', async (t) => {
  const root = tempRoot(t, {
    'elsewhere/pkg/index.js': "export const p = eval('x');\n",
    'd/index.ts': `import { p } from 'pure-link';\nexport const x = p;\n${INIT}`,
  }, ['pure-link']);
  mkdirSync(join(root, 'node_modules'));
  symlinkSync(join(root, 'elsewhere/pkg'), join(root, 'node_modules/pure-link'));
  assert.ok((await unguarded(root, 'd/index.ts')).inputs.includes('elsewhere/pkg/index.js'), 'premise');
  assert.deepEqual(await refusals(root, 'd', ['pure-link']), [
    "d/index.ts:1:19: import 'pure-link': it resolves to elsewhere/pkg/index.js, outside this domain's folder (d/), src/idl/, src/lib/ and src/machine/common/, and the reviewed packages: a domain's bundle may hold nothing else",
  ]);
});

// ---- resolution settings on disk ------------------------------------------------------------------

test('a tsconfig.json above the domain cannot redirect an import (paths), and one inside is refused', async (t) => {
  const root = tempRoot(t, {
    'tsconfig.json': JSON.stringify({ compilerOptions: { baseUrl: '.', paths: { 'pure-pad': ['./evil.ts'] } } }),
    'evil.ts': "export const pad = eval('x');\n",
    'node_modules/pure-pad/index.js': 'export const pad = (s) => s;\n',
    'd/index.ts': `import { pad } from 'pure-pad';\nexport const x = pad;\n${INIT}`,
  }, ['pure-pad']);
  assert.ok((await unguarded(root, 'd/index.ts')).inputs.includes('evil.ts'), 'premise: esbuild follows tsconfig paths');
  assert.deepEqual(await refusals(root, 'd', ['pure-pad']), []);
  const { src } = await guardOnly(root, 'd', ['pure-pad']);
  assert.deepEqual(rels(src), ['d/index.ts', 'node_modules/pure-pad/index.js', 'src/idl/generated/structs.ts']);
  writeFileSync(join(root, 'd/tsconfig.json'), '{}\n');
  assert.deepEqual(await refusals(root, 'd', ['pure-pad']), [
    "d/tsconfig.json:1:1: tsconfig.json is not allowed in a domain folder: it would change how the bundler resolves the domain's imports",
  ]);
});

test('package.json exports and main cannot lead a reviewed package\'s import outside it', async (t) => {
  const root = tempRoot(t, {
    'secret.js': "export const s = eval('x');\n",
    'node_modules/pure-exports/package.json': JSON.stringify({ exports: { '.': './lib/index.js' } }),
    'node_modules/pure-exports/lib/index.js': "export * from '../../../secret.js';\n",
    'node_modules/pure-main/package.json': JSON.stringify({ main: '../../secret.js' }),
    'd/index.ts': `import { s } from 'pure-exports';\nimport { s as t } from 'pure-main';\nexport const x = [s, t];\n${INIT}`,
  }, ['pure-exports', 'pure-main']);
  assert.ok((await unguarded(root, 'd/index.ts')).inputs.includes('secret.js'), 'premise');
  const allow = ['pure-exports', 'pure-main'];
  assert.deepEqual(await refusals(root, 'd', allow), [
    "d/index.ts:2:24: import 'pure-main': it resolves to secret.js, outside this domain's folder (d/), src/idl/, src/lib/ and src/machine/common/, and the reviewed packages: a domain's bundle may hold nothing else",
    "node_modules/pure-exports/lib/index.js:1:15: import '../../../secret.js': it resolves outside package 'pure-exports', to secret.js: a reviewed package may import only its own files and other reviewed packages by name",
  ]);
  assert.deepEqual((await guardOnly(root, 'd', allow)).errors.map((l) => l.replace(/: import.*$/, '')), ['d/index.ts:2:24', 'node_modules/pure-exports/lib/index.js:1:15']);
});

// ---- loaders, attributes and data: the guard alone ---------------------------------------------------------

test('without the checks the guard still refuses other loaders, import attributes and data: URLs, at the import', async (t) => {
  const root = tempRoot(t, {
    'd/index.ts': [
      "import a from './a.txt';",
      "import b from './b.ts' with { type: 'text' };",
      "import c from 'data:text/javascript,export default eval(1)';",
      "import e from './e.cjs';",
      'export const x = [a, b, c, e];',
      INIT,
    ].join('\n'),
    'd/a.txt': 'text',
    'd/b.ts': 'export default 1;\n',
    'd/e.cjs': 'module.exports = 1;\n',
  });
  const plain = await unguarded(root, 'd/index.ts');
  assert.match(plain.js, /eval\(1\)/, 'premise: esbuild bundles a data: URL as code');
  const { errors, src } = await guardOnly(root);
  assert.deepEqual(errors, [
    "d/index.ts:1:15: d/a.txt: '.txt' files cannot be bundled into a domain: only .ts and .js (code) and .json (data)",
    "d/index.ts:2:15: import './b.ts' with { ... }: import attributes are not allowed in domains: they would make the bundler load the file as something other than the code the checks saw",
    "d/index.ts:3:15: import 'data:text/javascript,export default eval(1)': it is not a file (dataurl); domains may import only files",
    "d/index.ts:4:15: d/e.cjs: '.cjs' files cannot be bundled into a domain: only .ts and .js (code) and .json (data)",
  ]);
  assert.deepEqual(rels(src), ['d/index.ts', 'src/idl/generated/structs.ts']);
});

test('JSON is bundled as data, and a .json file holding code fails to bundle, at its line', async (t) => {
  const root = tempRoot(t, {
    'd/index.ts': `import data from './data.json';\nexport const x = data;\n${INIT}`,
    'd/data.json': '{ "a": [1, 2] }\n',
  });
  const { errors, src } = await guardOnly(root);
  assert.deepEqual(errors, []);
  assert.deepEqual(src.files.map((f) => [f.rel, f.loader]).sort(), [['d/data.json', 'json'], ['d/index.ts', 'ts'], ['src/idl/generated/structs.ts', 'ts']]);
  assert.deepEqual(await refusals(root), []);
  writeFileSync(join(root, 'd/data.json'), '{ "a": 1 }\nexport default eval("x");\n');
  const bad = await refusals(root);
  assert.equal(bad.length, 1, bad.join('\n'));
  assert.match(bad[0]!, /^d\/data\.json:2:1: /);
});

test('a file that is not UTF-8 is refused, naming it', async (t) => {
  const root = tempRoot(t, {
    'd/index.ts': `import { y } from './y.ts';\nexport const x = y;\n${INIT}`,
    'd/y.ts': new Uint8Array([...Buffer.from('export const y = "'), 0xff, 0xfe, ...Buffer.from('";\n')]),
  });
  assert.deepEqual(await refusals(root), ['d/index.ts:1:19: d/y.ts: not valid UTF-8: save the file as UTF-8']);
});

test('an import the guard left for the checks to report fails the build even if the checks said nothing', () => {
  const scope = makeScope(join(ROOT, 'test/fixtures/build/good'), ROOT, []);
  const src: Sources = { scope, files: [], refused: [], failed: [], deferred: [{ file: 'x/index.ts', spec: 'node:fs' }], js: '', map: '{}' };
  assert.deepEqual(checkLoaded(src).map(formatCheckError), ["x/index.ts: import 'node:fs' was left for the source checks to refuse, and they did not: refused"]);
});

test('a domain folder\'s name is data in the entry glue, never code', async (t) => {
  const dir = 'd\';eval("injected");\'';
  const root = tempRoot(t, { [`${dir}/index.ts`]: INIT, 'd/index.ts': INIT });
  const { errors, src } = await guardOnly(root, dir);
  assert.deepEqual(errors, []);
  const code = (src.js ?? '').split('\n').filter((l) => !l.trimStart().startsWith('//')).join('\n'); // esbuild names files in comments
  assert.ok(src.js !== null && !code.includes('injected'), 'nothing of the name became code');
  assert.ok(rels(src).includes(`${dir}/index.ts`) && !rels(src).includes('d/index.ts'));
});

test('the repository\'s domains load only from their folder, src/idl/, src/lib/ and nothing else', async () => {
  for (const dir of ['src/domains/apps/counter', 'src/domains/shadows/counter', 'bench/domains/tax']) {
    const { errors, src } = await guardOnly(ROOT, dir);
    assert.deepEqual(errors, [], dir);
    for (const f of src.files) assert.ok([`${dir}/`, 'src/idl/', 'src/lib/'].some((p) => f.rel.startsWith(p)), `${dir}: ${f.rel}`);
    const lib = src.files.filter((f) => f.rel.startsWith('src/lib/'));
    assert.ok(lib.every((f) => f.zone.kind === 'shared'), `${dir}: src/lib/ is shared code, checked like the domain's own`);
    assert.ok(src.files.some((f) => f.rel === `${dir}/index.ts`), dir);
  }
});

test('a real domain built in another root lists only its folder, src/idl/ and src/lib/ as inputs', async (t) => {
  const root = tempRoot(t, {});
  cpSync(join(ROOT, 'src/idl'), join(root, 'src/idl'), { recursive: true });
  cpSync(join(ROOT, 'src/lib'), join(root, 'src/lib'), { recursive: true });
  cpSync(join(ROOT, 'src/domains/apps/counter'), join(root, 'src/domains/apps/counter'), { recursive: true });
  const built = await buildDomain(join(root, 'src/domains/apps/counter'), { root, outDir: join(root, 'out'), key: ephemeralKey() });
  assert.equal(built.manifest.tool.flags.checked, true);
  assert.ok(Object.keys(built.manifest.inputs).every((f) => ['src/domains/apps/counter/', 'src/idl/', 'src/lib/'].some((p) => f.startsWith(p))));
  assert.ok(Object.keys(built.manifest.inputs).includes('src/lib/result.ts'));
});

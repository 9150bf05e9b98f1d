// Edge cases of the trusted build's source checks (src/tools/domainc/check.ts), its scope rules
// (scope.ts) and its guard (guard.ts), found by mutation testing: each test pins one rule's exact
// behaviour on a small source, both the refusal (exact `path:line:col: message`) and the near miss
// that must pass. The checks run directly on source text (checkSources on hand-made LoadedFiles),
// the guard as a plugin driven by a stand-in for esbuild's PluginBuild, the scope rules as
// functions; everything on disk is in a temporary root removed afterwards. (Fixture-based cases:
// test/build-check.test.ts; the guard against real esbuild: test/build-guard.test.ts.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { OnLoadArgs, OnLoadResult, OnResolveArgs, OnResolveResult, Plugin, PluginBuild, ResolveResult } from 'esbuild';
import type { Sources } from '../src/tools/domainc/bundle.ts';
import { checkFolder, checkLoaded, checkSources, formatCheckError, loadAllowlist, type CheckError } from '../src/tools/domainc/check.ts';
import { guard, type GuardState, type LoadedFile } from '../src/tools/domainc/guard.ts';
import { importProblem, isChecked, isInside, makeScope, realpath, zoneOf, type Scope, type Zone } from '../src/tools/domainc/scope.ts';

// ---- a temporary repository root -----------------------------------------------------------------

const ROOT = realpathSync(mkdtempSync(join(tmpdir(), 'frond-edges-')));
after(() => rmSync(ROOT, { recursive: true, force: true }));

function put(files: Record<string, string>): void {
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(ROOT, p)), { recursive: true });
    writeFileSync(join(ROOT, p), text);
  }
}

put({
  'd/domain.json': '{ "name": "d" }\n',
  'd/a.ts': 'export const a = 1;\n',
  'other/domain.json': '{ "name": "other" }\n',
  'other/x.ts': 'export const x = 1;\n',
  'src/idl/i.ts': 'export const i = 1;\n',
  'src/lib/l.ts': 'export const l = 1;\n',
  'src/machine/common/m.ts': 'export const m = 1;\n',
  'node_modules/pure-pad/index.js': 'export const pad = 1;\n',
  'node_modules/@pure/kit/deep/path.js': 'export const deep = 1;\n',
  'node_modules/evil/index.js': 'export const e = 1;\n',
  'outside.ts': 'export const o = 1;\n',
});

const ALLOW = ['pure-pad', '@pure/kit'];
const S: Scope = makeScope(join(ROOT, 'd'), ROOT, ALLOW);
const DOMAIN: Zone = { kind: 'domain' };

const IMPORTABLE = 'src/idl/, src/lib/ and src/machine/common/';
const CAPS = 'the kernel gives domains what they need as capabilities (sys.*)';
const HOST = `is a host global, not available to domains: ${CAPS}`;
const ALIAS = 'globalThis may only be read as globalThis.name: aliasing it (storing, passing or returning it) would hide mutation from this check';
const MUTATES = '(globalThis, ...) would mutate the global object, which is read-only for domains';
const WRITE = "is not allowed: the global object is read-only for domains; keep state in the domain's own variables";
const EVALUATES = 'is not allowed in domains: code it evaluates escapes this check and the CPU meter';

function loaded(rel: string, text: string, zone: Zone = DOMAIN): LoadedFile {
  return { path: join(ROOT, rel), rel, text, loader: rel.endsWith('.js') ? 'js' : 'ts', zone, sha256: '' };
}

/** The checks' refusals for the given sources (`rel` -> text), in the order checkSources returns them. */
function check(sources: Record<string, string>): string[] {
  return checkSources(Object.entries(sources).map(([rel, text]) => loaded(rel, text)), S).map(formatCheckError);
}

/** The refusals for one file d/a.ts whose lines are `lines`. */
function checkLines(...lines: string[]): string[] {
  return check({ 'd/a.ts': `${lines.join('\n')}\n` });
}

// ---- rule 3: every host global -------------------------------------------------------------------

test('every host global is refused as a free identifier, at its position', () => {
  const names = [
    ['process', 'require', 'module', 'exports', '__dirname', '__filename', 'Buffer', 'global'],
    ['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate'],
    ['queueMicrotask', 'fetch', 'WebAssembly', 'SharedArrayBuffer', 'Atomics', 'performance'],
    ['navigator', 'window', 'self', 'XMLHttpRequest', 'Worker'],
  ];
  const want: string[] = [];
  names.forEach((row, i) => {
    let col = 7;
    for (const n of row) { want.push(`d/a.ts:${i + 1}:${col}: '${n}' ${HOST}`); col += n.length + 2; }
  });
  assert.deepEqual(checkLines(...names.map((row) => `void [${row.join(', ')}];`)), want);
});

test('a property written on an evaluator or a host global, or on top-level this, in a .js file, binds no name: their later uses are still refused', () => {
  // (In JavaScript TypeScript records such assignments as declarations of the name they write to.)
  assert.deepEqual(check({ 'd/a.js': [
    'eval.x = 1;',
    'process.y = 2;',
    'this.Function = 0;',
    'Object.defineProperty(setTimeout, "z", { value: 3 });',
    'export const run = (s) => [eval(s), process.exit(), Function(s), setTimeout(s)];',
  ].join('\n') + '\n' }), [
    `d/a.js:1:1: eval ${EVALUATES}`,
    `d/a.js:2:1: 'process' ${HOST}`,
    `d/a.js:4:23: 'setTimeout' ${HOST}`,
    `d/a.js:5:28: eval ${EVALUATES}`,
    `d/a.js:5:37: 'process' ${HOST}`,
    `d/a.js:5:53: the Function constructor ${EVALUATES}`,
    `d/a.js:5:66: 'setTimeout' ${HOST}`,
  ]);
});

test('host-global names used as property names, destructuring keys, labels and export aliases are not references', () => {
  assert.deepEqual(checkLines(
    "export { process, fetch as f } from './u.ts';",
    'const x = 1;',
    'export { x as setTimeout };',
    'const { fetch: f2 } = o;',
    'self: for (;;) break self;',
    'o.setTimeout(f2);',
    'namespace Ns { export const process = 1; }',
    'import P = Ns.process;',
  ), []);
});

test('an import-equals of a qualified name reads its left-most name', () => {
  assert.deepEqual(checkLines('import C = Buffer.from;'), [`d/a.ts:1:12: 'Buffer' ${HOST}`]);
});

// ---- what is erased, and what binds -------------------------------------------------------------------

test('class extends and instantiation expressions are values; implements and interface extends are types', () => {
  assert.deepEqual(checkLines(
    'class A extends Buffer {}',
    'class B implements fetch {}',
    'const g = setTimeout<string>;',
    'interface I extends process {}',
  ), [`d/a.ts:1:17: 'Buffer' ${HOST}`, `d/a.ts:3:11: 'setTimeout' ${HOST}`]);
});

test('ambient declarations, type-only exports and type-only import-equals are erased; decorated classes are not', () => {
  assert.deepEqual(checkLines(
    'declare const y = process;',
    'export declare const z = fetch;',
    'export type { self };',
    'export { type window };',
    'import type B = Buffer;',
    'declare namespace N { debugger; }',
    '@dec class K { x = process; }',
    'function dec(..._a: unknown[]): void {}',
  ), [`d/a.ts:7:20: 'process' ${HOST}`]);
});

test('an exported ambient declaration binds nothing at run time', () => {
  assert.deepEqual(checkLines('export declare const fetch: number;', 'void fetch;'), [`d/a.ts:2:6: 'fetch' ${HOST}`]);
});

test('an interface, a type alias or a type parameter merged with an ambient value binds nothing', () => {
  assert.deepEqual(checkLines('declare const fetch: number;', 'interface fetch { }', 'void fetch;'), [`d/a.ts:3:6: 'fetch' ${HOST}`]);
  assert.deepEqual(checkLines('type fetch = number;', 'declare const fetch: fetch;', 'void fetch;'), [`d/a.ts:3:6: 'fetch' ${HOST}`]);
  assert.deepEqual(checkLines('export function g<fetch>(): unknown { declare const fetch: number; return fetch; }'), [`d/a.ts:1:75: 'fetch' ${HOST}`]);
});

test('type-only imports of every form bind nothing; their value forms bind', () => {
  assert.deepEqual(checkLines(
    "import type process from './x.ts';",
    "import fetch from './x.ts';",
    "import type * as self from './x.ts';",
    "import * as window from './x.ts';",
    "import type Buffer = require('./x.ts');",
    "import performance = require('./x.ts');",
    'void [process, fetch, self, window, Buffer, performance];',
  ), [`d/a.ts:7:7: 'process' ${HOST}`, `d/a.ts:7:23: 'self' ${HOST}`, `d/a.ts:7:37: 'Buffer' ${HOST}`]);
});

test('a name imported from a loaded file binds, whatever that file exports (files are not resolved against each other)', () => {
  for (const spec of ['./1.ts', './1']) {
    assert.deepEqual(check({ 'd/0.ts': `import { process } from '${spec}';\nvoid process;\n`, 'd/1.ts': 'export type process = number;\n' }), [], spec);
  }
});

test('files of the trusted zone are not checked', () => {
  assert.equal(isChecked({ kind: 'trusted' }), false);
  for (const kind of ['domain', 'shared'] as const) assert.equal(isChecked({ kind }), true);
  assert.equal(isChecked({ kind: 'package', name: 'pure-pad', dir: ROOT }), true);
  assert.deepEqual(checkSources([loaded('src/idl/t.ts', 'eval("x");\n', { kind: 'trusted' })], S), []);
});

// ---- rule 2 ----------------------------------------------------------------------------------------

test('new.target is not import.meta; a require() of a non-constant is not an import; wrapped require and keys are seen through', () => {
  assert.deepEqual(checkLines(
    'function F(): unknown { return new.target; }',
    'const require = (s: string): string => s;',
    'const name = "fs";',
    'require(name);',
    'require(`node:fs`);',
  ), [`d/a.ts:5:9: import 'node:fs': host modules are not available to domains; ${CAPS}`]);
  assert.deepEqual(checkLines("(require as any)('node:fs');", "void globalThis[('eval')];"), [
    `d/a.ts:1:2: 'require' ${HOST}`,
    `d/a.ts:1:18: import 'node:fs': host modules are not available to domains; ${CAPS}`,
    `d/a.ts:2:6: globalThis.eval: eval ${EVALUATES}`,
  ]);
});

// ---- rule 4: globalThis ------------------------------------------------------------------------------

test('a .js file is checked as JavaScript: a free require() call in it is a host global, and its specifier an import', () => {
  // (In a .js file TypeScript resolves a free `require` in a call to a symbol of its own, with no declarations.)
  assert.deepEqual(check({ 'd/a.js': "require('./b.js');\nconst fs = require('node:fs');\nexport const r = require;\n" }), [
    `d/a.js:1:1: 'require' ${HOST}`,
    `d/a.js:2:12: 'require' ${HOST}`,
    `d/a.js:2:20: import 'node:fs': host modules are not available to domains; ${CAPS}`,
    `d/a.js:3:18: 'require' ${HOST}`,
  ]);
});

test('every mutator of the global object is refused; other calls are aliasing', () => {
  assert.deepEqual(checkLines(
    'Object.defineProperties(globalThis, {});',
    'Object.setPrototypeOf(globalThis, null);',
    'Reflect.defineProperty(globalThis, "x", {});',
    'Reflect.setPrototypeOf(globalThis, null);',
    'Object.keys(globalThis);',
    'Object.assign(o, globalThis);',
    "('Object' as any).assign(globalThis, {});",
    'Math.max(globalThis);',
    '(Object).assign(globalThis, {});',
  ), [
    `d/a.ts:1:25: Object.defineProperties${MUTATES}`,
    `d/a.ts:2:23: Object.setPrototypeOf${MUTATES}`,
    `d/a.ts:3:24: Reflect.defineProperty${MUTATES}`,
    `d/a.ts:4:24: Reflect.setPrototypeOf${MUTATES}`,
    `d/a.ts:5:13: ${ALIAS}`,
    `d/a.ts:6:18: ${ALIAS}`,
    `d/a.ts:7:26: ${ALIAS}`,
    `d/a.ts:8:10: ${ALIAS}`,
    `d/a.ts:9:17: Object.assign${MUTATES}`,
  ]);
});

test('globalThis itself: assigned, used as a key, combined or compared', () => {
  assert.deepEqual(checkLines(
    'o[globalThis];',
    'globalThis = 1;',
    'const a = globalThis || 1;',
    'void (globalThis in o);',
    'const b = c ?? globalThis;',
    'let g; g = globalThis;',
    "const ok = globalThis !== o && 'x' in globalThis && typeof globalThis;",
  ), [
    `d/a.ts:1:3: ${ALIAS}`,
    'd/a.ts:2:1: assigning globalThis is not allowed: the global object is read-only for domains',
    `d/a.ts:3:11: ${ALIAS}`,
    `d/a.ts:4:7: ${ALIAS}`,
    `d/a.ts:5:16: ${ALIAS}`,
    `d/a.ts:6:12: ${ALIAS}`,
  ]);
});

test('writes to globalThis.name by every operator and loop; reads beside them pass', () => {
  assert.deepEqual(checkLines(
    'let h = 0; h = globalThis.x;',
    'void (globalThis.Array instanceof Object);',
    'globalThis.x ^= 1;',
    'const n = -globalThis.x + +globalThis.y;',
    '--globalThis.y;',
    'globalThis.z--;',
    'for (globalThis.p of arr) {}',
    'for (globalThis.q in o) {}',
    'for (const k of globalThis.arr) {}',
    'for (const k in globalThis.obj) {}',
    'for (globalThis.i; false;) break;',
  ), [
    `d/a.ts:3:1: writing globalThis.x ${WRITE}`,
    `d/a.ts:5:3: writing globalThis.y ${WRITE}`,
    `d/a.ts:6:1: writing globalThis.z ${WRITE}`,
    `d/a.ts:7:6: writing globalThis.p ${WRITE}`,
    `d/a.ts:8:6: writing globalThis.q ${WRITE}`,
  ]);
});

test('destructuring into globalThis.name (spread, rest, property) is a write; reads in literals, spreads and keys are not', () => {
  assert.deepEqual(checkLines(
    '[globalThis.o.p] = [1];',
    '[...globalThis.s] = [1];',
    '({ ...globalThis.t } = o);',
    'f(...globalThis.u);',
    '({ k: globalThis.v } = o);',
    'const o2 = { k: globalThis.w, ...globalThis.w2 };',
    '({ [globalThis.key]: vv } = o);',
    'const o3 = [globalThis.a1, ...globalThis.a2];',
  ), [
    `d/a.ts:2:5: writing globalThis.s ${WRITE}`,
    `d/a.ts:3:7: writing globalThis.t ${WRITE}`,
    `d/a.ts:5:7: writing globalThis.v ${WRITE}`,
  ]);
});

// ---- ordering and de-duplication ------------------------------------------------------------------------

test('globalThis.name spread into call or constructor arguments is a read, even under delete; into an array being destructured, a write', () => {
  assert.deepEqual(check({ 'd/a.ts': 'delete f(...globalThis.x);\ndelete new F(...globalThis.y);\n[...globalThis.s] = [1];\n' }), [
    "d/a.ts:3:5: writing globalThis.s is not allowed: the global object is read-only for domains; keep state in the domain's own variables",
  ]);
});

test('checkSources sorts across files, whatever order they were loaded in', () => {
  assert.deepEqual(check({ 'd/b.ts': 'void process;\n', 'd/a.ts': 'void fetch;\n' }), [`d/a.ts:1:6: 'fetch' ${HOST}`, `d/b.ts:1:6: 'process' ${HOST}`]);
});

function sources(over: Partial<Sources>): Sources {
  return { scope: S, files: [], refused: [], failed: [], deferred: [], js: null, map: null, ...over };
}

test('checkLoaded orders errors at one position by message and drops exact duplicates', () => {
  const at = (message: string, line = 1): CheckError => ({ file: 'd/a.ts', line, col: 1, message });
  for (const order of [['b', 'a', 'c', 'a'], ['c', 'b', 'a'], ['a', 'c', 'b', 'c'], ['b', 'c', 'a']]) {
    assert.deepEqual(checkLoaded(sources({ refused: [...order.map((m) => at(m)), at('a', 2)] })).map(formatCheckError), [
      'd/a.ts:1:1: a', 'd/a.ts:1:1: b', 'd/a.ts:1:1: c', 'd/a.ts:2:1: a',
    ], order.join());
  }
});

test('checkLoaded: esbuild\'s own errors and the deferred imports count only when nothing else is refused', () => {
  const failed = [{ file: 'd/a.ts', line: 1, col: 1, message: 'esbuild' }];
  assert.deepEqual(checkLoaded(sources({ failed })).map(formatCheckError), ['d/a.ts:1:1: esbuild']);
  const files = [loaded('d/a.ts', 'void fetch;\n')];
  assert.deepEqual(checkLoaded(sources({ failed, files, deferred: [{ file: 'd/a.ts', spec: 'x' }] })).map(formatCheckError), [`d/a.ts:1:6: 'fetch' ${HOST}`]);
});

test('checkFolder reports in name order (UTF-16, as errors are sorted), however the folder lists', (t) => {
  const dir = mkdtempSync(join(ROOT, 'folder-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // (Node lists a folder sorted by UTF-8 bytes, where U+FF37 comes before U+1F600; in UTF-16 it comes after.)
  for (const [sub, name] of [['m', 'package.json'], ['z', 'jsconfig.json'], ['\uff37', 'package.json'], ['\u{1f600}', 'tsconfig.json'], ['b', 'tsconfig.json'], ['y', 'package.json'], ['a', 'package.json']]) {
    mkdirSync(join(dir, sub!));
    writeFileSync(join(dir, sub!, name!), '{}\n');
  }
  const s = makeScope(dir, ROOT, []);
  const base = dir.slice(ROOT.length + 1);
  assert.deepEqual(checkFolder(s).map((e) => `${e.file.slice(base.length + 1)}:${e.line}:${e.col}`), [
    'a/package.json:1:1', 'b/tsconfig.json:1:1', 'm/package.json:1:1', 'y/package.json:1:1', 'z/jsconfig.json:1:1',
    '\u{1f600}/tsconfig.json:1:1', '\uff37/package.json:1:1',
  ]);
});

// ---- the guard, driven by a stand-in for esbuild ---------------------------------------------------

type Resolve = (args: OnResolveArgs) => Promise<OnResolveResult | undefined>;
type Load = (args: OnLoadArgs) => OnLoadResult;

const ENTRY = join(ROOT, 'd/<entry>');

/** The guard's two callbacks, with esbuild's own resolution answering `answer`; the resolve calls made are recorded. */
function driven(check: boolean, answer: Partial<ResolveResult> = {}): { resolve: Resolve; load: Load; state: GuardState; asked: string[] } {
  const state: GuardState = { files: new Map(), deferred: [] };
  const asked: string[] = [];
  let resolve: Resolve | undefined;
  let load: Load | undefined;
  const build = {
    onResolve: (_o: unknown, f: Resolve): void => { resolve = f; },
    onLoad: (_o: unknown, f: Load): void => { load = f; },
    resolve: (spec: string): Promise<ResolveResult> => {
      asked.push(spec);
      return Promise.resolve({ errors: [], warnings: [], path: join(ROOT, 'd/a.ts'), external: false, sideEffects: true, namespace: 'file', suffix: '', pluginData: undefined, ...answer });
    },
  };
  const plugin: Plugin = guard(S, ENTRY, check, state);
  void plugin.setup(build as unknown as PluginBuild);
  return { resolve: resolve!, load: load!, state, asked };
}

function resolveArgs(path: string, importer: string, over: Partial<OnResolveArgs> = {}): OnResolveArgs {
  return { path, importer, namespace: 'file', resolveDir: dirname(importer), kind: 'import-statement', pluginData: undefined, with: {}, ...over };
}

function loadArgs(path: string, over: Partial<OnLoadArgs> = {}): OnLoadArgs {
  return { path, namespace: 'file', suffix: '', pluginData: undefined, with: {}, ...over };
}

test('guard: an import the checks will refuse is left external and recorded, exactly', async () => {
  const g = driven(true);
  assert.deepEqual(await g.resolve(resolveArgs('node:fs', join(ROOT, 'd/a.ts'))), { path: 'node:fs', external: true });
  assert.deepEqual(g.state.deferred, [{ file: 'd/a.ts', spec: 'node:fs' }]);
  assert.deepEqual(g.asked, []);
});

test('guard: the entry glue is trusted (its imports are not deferred), and a resolved file comes back as esbuild resolved it', async () => {
  const g = driven(true);
  assert.deepEqual(await g.resolve(resolveArgs('node:fs', ENTRY)), { path: join(ROOT, 'd/a.ts'), namespace: 'file', sideEffects: true });
  assert.deepEqual(g.state.deferred, []);
  assert.deepEqual(g.asked, ['node:fs']);
});

test('guard: a file esbuild resolves with a query or hash suffix is refused (esbuild would take it for another file)', async () => {
  for (const suffix of ['?x', '#y']) {
    const g = driven(false, { suffix });
    assert.deepEqual(await g.resolve(resolveArgs(`./a.ts${suffix}`, join(ROOT, 'd/a.ts'))), {
      errors: [{ text: `import './a.ts${suffix}': a query or hash suffix (${suffix}) is not allowed in a domain's imports: the bundler would take the file for another one than the checks saw` }],
    });
  }
});

test('guard: other import kinds, esbuild\'s resolution errors and non-files are refused with their words', async () => {
  const importer = join(ROOT, 'd/a.ts');
  assert.deepEqual(await driven(false).resolve(resolveArgs('./a.ts', importer, { kind: 'require-resolve' })), {
    errors: [{ text: "import './a.ts': a require-resolve import cannot be bundled into a domain" }],
  });
  const errors = [{ id: '', pluginName: '', text: 'Could not resolve', location: null, notes: [], detail: undefined }];
  assert.deepEqual(await driven(false, { errors }).resolve(resolveArgs('./nope.ts', importer)), { errors });
  assert.deepEqual(await driven(false, { external: true }).resolve(resolveArgs('./a.ts', importer)), {
    errors: [{ text: "import './a.ts': it is not a file (external); domains may import only files" }],
  });
  assert.deepEqual(await driven(false, { namespace: 'dataurl' }).resolve(resolveArgs('./a.ts', importer)), {
    errors: [{ text: "import './a.ts': it is not a file (dataurl); domains may import only files" }],
  });
});

test('guard: loading refuses other namespaces, attributes and files outside every zone, with their words', () => {
  const g = driven(true);
  const long = `text/javascript,${'x'.repeat(100)}`;
  assert.deepEqual(g.load(loadArgs(long, { namespace: 'dataurl' })), {
    errors: [{ text: `dataurl:${long.slice(0, 80)}: only files can be bundled into a domain` }],
  });
  assert.deepEqual(g.load(loadArgs(join(ROOT, 'd/a.ts'), { with: { type: 'text' } })), {
    errors: [{ text: "d/a.ts: import 'd/a.ts' with { ... }: import attributes are not allowed in domains: they would make the bundler load the file as something other than the code the checks saw" }],
  });
  assert.deepEqual(g.load(loadArgs(join(ROOT, 'outside.ts'))), {
    errors: [{ text: `outside.ts: it lies outside this domain's folder (d/), ${IMPORTABLE}, and the reviewed packages` }],
  });
  assert.equal(g.state.files.size, 0);
});

test('guard: a file without an extension is named by its base name', () => {
  put({ 'd/sub/Makefile': 'all:\n', 'd/.env': 'X=1\n' });
  const g = driven(true);
  assert.deepEqual(g.load(loadArgs(join(ROOT, 'd/sub/Makefile'))), {
    errors: [{ text: "d/sub/Makefile: 'Makefile' files cannot be bundled into a domain: only .ts and .js (code) and .json (data)" }],
  });
  assert.deepEqual(g.load(loadArgs(join(ROOT, 'd/.env'))), {
    errors: [{ text: "d/.env: '.env' files cannot be bundled into a domain: only .ts and .js (code) and .json (data)" }],
  });
});

test('guard: a file loaded twice is the same file, unless it changed in between', () => {
  put({ 'd/twice.ts': 'export const t = 1;\n' });
  const g = driven(true);
  const ok = { contents: 'export const t = 1;\n', loader: 'ts', resolveDir: join(ROOT, 'd') };
  assert.deepEqual(g.load(loadArgs(join(ROOT, 'd/twice.ts'))), ok);
  assert.deepEqual(g.load(loadArgs(join(ROOT, 'd/twice.ts'))), ok);
  put({ 'd/twice.ts': 'export const t = 2;\n' });
  assert.deepEqual(g.load(loadArgs(join(ROOT, 'd/twice.ts'))), { errors: [{ text: 'd/twice.ts: changed while the domain was being bundled; build again' }] });
  assert.equal(g.state.files.get(join(ROOT, 'd/twice.ts'))!.text, 'export const t = 1;\n');
});

// ---- zones -------------------------------------------------------------------------------------------

test('zoneOf: each zone, exactly', () => {
  assert.deepEqual(zoneOf(S, join(ROOT, 'd/a.ts')), { kind: 'domain' });
  assert.deepEqual(zoneOf(S, join(ROOT, 'src/idl/i.ts')), { kind: 'trusted' });
  assert.deepEqual(zoneOf(S, join(ROOT, 'src/machine/common/m.ts')), { kind: 'shared' });
  assert.deepEqual(zoneOf(S, join(ROOT, 'node_modules/pure-pad/index.js')), { kind: 'package', name: 'pure-pad', dir: join(ROOT, 'node_modules/pure-pad') });
  assert.deepEqual(zoneOf(S, join(ROOT, 'node_modules/@pure/kit/deep/path.js')), { kind: 'package', name: '@pure/kit', dir: join(ROOT, 'node_modules/@pure/kit') });
  assert.deepEqual(zoneOf(S, join(ROOT, 'x/node_modules/pure-pad/a/b.js')), { kind: 'package', name: 'pure-pad', dir: join(ROOT, 'x/node_modules/pure-pad') });
});

test('zoneOf: no zone outside the root, outside node_modules, for a package folder itself, or for an unreviewed package', () => {
  const withSrc = makeScope(join(ROOT, 'd'), ROOT, ['pure-pad', 'src', 'node_modules']);
  for (const p of [
    join(dirname(ROOT), 'elsewhere/node_modules/pure-pad/index.js'),
    join(ROOT, 'src/kernel/kernel.ts'),
    join(ROOT, 'outside.ts'),
    join(ROOT, 'node_modules'),
    join(ROOT, 'node_modules/pure-pad'),
    join(ROOT, 'node_modules/@pure'),
    join(ROOT, 'node_modules/evil/index.js'),
  ]) assert.equal(zoneOf(withSrc, p), null, p);
  assert.equal(zoneOf(S, join(ROOT, 'node_modules/@pure/kit')), null);
});

test('zoneOf: any of several trusted folders', () => {
  const s: Scope = { ...S, trusted: [join(ROOT, 'src/idl'), join(ROOT, 'gen')] };
  assert.deepEqual(zoneOf(s, join(ROOT, 'gen/g.ts')), { kind: 'trusted' });
  assert.deepEqual(zoneOf(s, join(ROOT, 'src/idl/i.ts')), { kind: 'trusted' });
});

test('isInside: a folder holds itself and names starting with "..", never its parent or a sibling', () => {
  assert.equal(isInside('/a/b', '/a/b'), true);
  assert.equal(isInside('/a/b', '/a/b/..c'), true);
  assert.equal(isInside('/a/b', '/a'), false);
  assert.equal(isInside('/a/b', '/a/bc'), false);
  assert.equal(isInside('/a/b', '/a/c/d'), false);
});

test('realpath resolves links in the part of a path that exists', (t) => {
  const link = join(ROOT, 'link-to-other');
  symlinkSync(join(ROOT, 'other'), link);
  t.after(() => rmSync(link));
  assert.equal(realpath(join(link, 'missing/deeper.ts')), join(ROOT, 'other/missing/deeper.ts'));
  assert.equal(realpath(join(link, 'x.ts')), join(ROOT, 'other/x.ts'));
});

// ---- import rules --------------------------------------------------------------------------------------

const FROM = join(ROOT, 'd/a.ts');
const WHERE = `a domain may import only its own files (d/), ${IMPORTABLE}`;

test('importProblem: host modules, including node: names Node does not have', () => {
  for (const spec of ['node:frond-nothing', 'node:fs', 'fs/promises']) {
    assert.equal(importProblem(S, spec, FROM, DOMAIN), `host modules are not available to domains; ${CAPS}`, spec);
  }
});

test('importProblem: relative and absolute paths, "." and ".." included', () => {
  assert.equal(importProblem(S, '.', FROM, DOMAIN), null);
  assert.equal(importProblem(S, './a.ts', FROM, DOMAIN), null);
  assert.equal(importProblem(S, '..', join(ROOT, 'd/sub/x.ts'), DOMAIN), null);
  assert.equal(importProblem(S, join(ROOT, 'd/a.ts'), FROM, DOMAIN), null);
  assert.equal(importProblem(S, '../src/lib/l.ts', FROM, DOMAIN), null);
  assert.equal(importProblem(S, join(ROOT, 'outside.ts'), FROM, DOMAIN), `it resolves outside this domain's folder, to outside.ts: ${WHERE}`);
  assert.equal(importProblem(S, '../other/x.ts', FROM, DOMAIN),
    `it is outside this domain's folder, in another domain (other): ${WHERE}; domains share no code: reach another domain through a capability passed to init`);
});

test('importProblem: a path resolving to the repository root itself names it', () => {
  const why = importProblem(S, '..', FROM, DOMAIN);
  assert.ok(why !== null && why.startsWith("it resolves outside this domain's folder, to the repository root: "), String(why));
});

test('importProblem: shared code may import shared and trusted code, never a domain\'s', () => {
  const shared: Zone = { kind: 'shared' };
  const lib = join(ROOT, 'src/lib/l.ts');
  assert.equal(importProblem(S, '../idl/i.ts', lib, shared), null);
  assert.equal(importProblem(S, '../machine/common/m.ts', lib, shared), null);
  assert.equal(importProblem(S, '../../d/a.ts', lib, shared), `it resolves to d/a.ts: shared code may import only ${IMPORTABLE}, never a domain's files`);
});

test('importProblem: a package file may import inside its package only', () => {
  const z = zoneOf(S, join(ROOT, 'node_modules/pure-pad/index.js'))!;
  const file = join(ROOT, 'node_modules/pure-pad/index.js');
  assert.equal(importProblem(S, './lib/x.js', file, z), null);
  assert.equal(importProblem(S, '../evil/index.js', file, z),
    "it resolves outside package 'pure-pad', to node_modules/evil/index.js: a reviewed package may import only its own files and other reviewed packages by name");
});

test('importProblem: package names and subpaths', () => {
  const SEGMENTS = "a package subpath may not contain empty, '.' or '..' segments";
  assert.equal(importProblem(S, 'pure-pad', FROM, DOMAIN), null);
  assert.equal(importProblem(S, 'pure-pad/deep/x.js', FROM, DOMAIN), null);
  assert.equal(importProblem(S, 'pure-pad/x:y', FROM, DOMAIN), null);
  assert.equal(importProblem(S, 'pure-pad/x.y/..z/.w', FROM, DOMAIN), null);
  assert.equal(importProblem(S, '@pure/kit/deep/path.js', FROM, DOMAIN), null);
  for (const spec of ['pure-pad/./x', 'pure-pad/../x', 'pure-pad//x', 'pure-pad/', '@pure/kit/../../evil', 'pure-pad/x/.']) {
    assert.equal(importProblem(S, spec, FROM, DOMAIN), SEGMENTS, spec);
  }
  assert.equal(importProblem(S, 'https://x.example/m.js', FROM, DOMAIN), 'URL specifiers are not allowed in domains: import files of the domain or reviewed packages');
  assert.equal(importProblem(S, 'evil/pure-pad', FROM, DOMAIN),
    "package 'evil' is not on the reviewed allowlist (src/tools/domainc/allowlist.json); domains may use only packages reviewed as pure");
});

test('importProblem: another-domain lookup stops at a root of /', () => {
  const s: Scope = { ...S, root: '/' };
  const target = join(ROOT, 'no-such-folder/x.ts');
  assert.equal(importProblem(s, target, FROM, DOMAIN), `it resolves outside this domain's folder, to ${target.slice(1)}: a domain may import only its own files (d/), ${IMPORTABLE}`);
});

// ---- the allowlist --------------------------------------------------------------------------------

test('loadAllowlist refuses null where an object belongs, with its own words', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'frond-edges-allow-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const file = join(root, 'src/tools/domainc/allowlist.json');
  mkdirSync(dirname(file), { recursive: true });
  for (const [text, msg] of [
    ['null', 'must be an object { "review": "...", "packages": [...] }'],
    ['{ "packages": [null] }', 'packages[0] must be an object { "name": ..., "why": ... }'],
    ['{ "packages": [{ "name": 7, "why": "x" }] }', 'packages[0].name must be an npm package name (no subpath)'],
  ] as const) {
    writeFileSync(file, text);
    assert.throws(() => loadAllowlist(root), (e: unknown) => e instanceof Error && e.message === `${file}: ${msg}`, text);
  }
});

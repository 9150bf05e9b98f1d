// Tests for the build's pre-bundle safety check (src/tools/domainc/check.ts): every rule is reported
// as `path:line:col: message` at the offending node and nothing else is; a well-behaved domain full
// of near misses passes; every real domain in the repository passes (the hostile probe domain
// excepted, see KNOWN); folder-level rules; and loadAllowlist on good and malformed files.
//
// The bad fixtures live in test/fixtures/build/<case>/, one domain folder per rule or import case.
// Many are not valid TypeScript on purpose, so tsconfig.json and eslint.config.js exclude them.
// test/fixtures/build/node_modules/ holds stand-ins for reviewed packages (allowlisted below).
// The checks run on what esbuild loads from each folder's index.ts (test/build-guard.test.ts tests
// that side: symbolic links, resolution, loaders).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkDomain, formatCheckError, loadAllowlist, type CheckError } from '../src/tools/domainc/check.ts';

const ROOT = join(fileURLToPath(import.meta.url), '../..');
const FIX = 'test/fixtures/build';
/** The allowlist the fixtures are checked against: the good domain imports the first two packages. */
const ALLOW = ['pure-pad', '@pure/kit', 'pure-evil', 'pure-escape', 'pure-wander'];

async function check(dir: string, allow: readonly string[] = ALLOW): Promise<string[]> {
  return (await checkDomain(join(ROOT, dir), ROOT, allow)).map(formatCheckError);
}

/** [file:line:col relative to the fixture folder, a key phrase of the message] */
type Expected = readonly [at: string, msg: string];

async function assertReports(dir: string, expected: readonly Expected[]): Promise<void> {
  const got = await check(dir);
  const want = expected.map(([at, msg]) => `${posix.normalize(`${dir}/${at}`)}: …${msg}…`);
  assert.equal(got.length, expected.length, `expected:\n${want.join('\n')}\ngot:\n${got.join('\n')}`);
  expected.forEach(([at, msg], i) => {
    const prefix = `${posix.normalize(`${dir}/${at}`)}: `;
    assert.ok(got[i]!.startsWith(prefix), `error ${i}: expected ${prefix}…, got ${got[i]}`);
    assert.ok(got[i]!.includes(msg), `error ${i}: expected a message containing '${msg}', got ${got[i]}`);
  });
}

// ---- one fixture per rule ------------------------------------------------------------------------

const HOST_MODULE = 'host modules are not available to domains; the kernel gives domains what they need as capabilities (sys.*)';
const HOST_GLOBAL = 'is a host global, not available to domains: the kernel gives domains what they need as capabilities (sys.*)';
const EVALUATES = 'is not allowed in domains: code it evaluates escapes this check and the CPU meter';
const WRITE = 'is not allowed: the global object is read-only for domains';
const MUTATES = '(globalThis, ...) would mutate the global object, which is read-only for domains';
const ALIAS = 'globalThis may only be read as globalThis.name: aliasing it (storing, passing or returning it) would hide mutation from this check';
const ATTRIBUTES = 'with { ... }: import attributes are not allowed in domains: they would make the bundler load the file as something other than the code the checks saw';
const RESERVED = 'identifiers starting with __frond are reserved for the build\'s CPU meter; a domain shadowing or assigning them could switch metering off';

const CASES: Record<string, { rule: string; errors: readonly Expected[] }> = {
  'import-node': { rule: '1: a node: module', errors: [['index.ts:2:30', `import 'node:fs': ${HOST_MODULE}`]] },
  'import-builtin': {
    rule: '1: builtins by bare name, incl. a subpath and export ... from',
    errors: [['index.ts:2:23', `import 'path': ${HOST_MODULE}`], ['index.ts:3:26', `import 'fs/promises': ${HOST_MODULE}`]],
  },
  'import-package': {
    rule: '1: a scoped package with a subpath, not on the allowlist',
    errors: [['index.ts:2:23', "import '@lodash/array/chunk.js': package '@lodash/array' is not on the reviewed allowlist (src/tools/domainc/allowlist.json)"]],
  },
  'import-outside': {
    rule: '1: a path outside the domain and src/idl/',
    errors: [['index.ts:2:24', "import '../../../../src/kernel/kernel.ts': it resolves outside this domain's folder, to src/kernel/kernel.ts: a domain may import only its own files (test/fixtures/build/import-outside/), src/idl/, src/lib/ and src/machine/common/"]],
  },
  'import-other-domain': {
    rule: "1: another domain's folder",
    errors: [['index.ts:2:22', "import '../good/index.ts': it is outside this domain's folder, in another domain (test/fixtures/build/good)"]],
  },
  'import-type': {
    rule: '1: import type and an import() type are checked too',
    errors: [
      ['index.ts:2:27', "import '../../../../src/kernel/heap.ts': it resolves outside this domain's folder"],
      ['index.ts:3:31', `import 'node:fs': ${HOST_MODULE}`],
    ],
  },
  'import-equals': { rule: '1: import x = require()', errors: [['index.ts:2:21', `import 'fs': ${HOST_MODULE}`]] },
  'require-call': {
    rule: '1 and 3: a require() call',
    errors: [['index.ts:2:18', `'require' ${HOST_GLOBAL}`], ['index.ts:2:26', "import 'left-pad': package 'left-pad' is not on the reviewed allowlist"]],
  },
  'export-from': { rule: '1: export * from outside', errors: [['index.ts:2:15', "import '../../../../src/kernel/heap.ts': it resolves outside this domain's folder"]] },
  'import-url': {
    rule: '1: URL and #subpath specifiers',
    errors: [['index.ts:2:8', 'URL specifiers are not allowed in domains'], ['index.ts:3:8', "import '#internal': package subpath imports (#name) are not allowed in domains"]],
  },
  'eval': { rule: '2: eval, direct and indirect', errors: [['index.ts:2:18', `eval ${EVALUATES}`], ['index.ts:3:22', `eval ${EVALUATES}`]] },
  'function-ctor': {
    rule: '2: Function called, constructed and aliased (not as a type)',
    errors: [
      ['index.ts:2:28', `the Function constructor ${EVALUATES}`],
      ['index.ts:3:22', `the Function constructor ${EVALUATES}`],
      ['index.ts:4:11', `the Function constructor ${EVALUATES}`],
    ],
  },
  'evaluators-via-global': {
    rule: '2: evaluators read from globalThis, computed globalThis keys, Compartment',
    errors: [
      ['index.ts:2:18', `globalThis.eval: eval ${EVALUATES}`],
      ['index.ts:3:18', `globalThis.Function: the Function constructor ${EVALUATES}`],
      ['index.ts:5:19', 'globalThis[...] with a computed key cannot be checked'],
      ['index.ts:6:22', `SES's Compartment ${EVALUATES}`],
    ],
  },
  'dynamic-import': { rule: '2: import()', errors: [['index.ts:2:46', 'dynamic import() is not allowed in domains']] },
  'import-meta': { rule: '2: import.meta', errors: [['index.ts:2:20', 'import.meta is not available to domains']] },
  'with': { rule: '2: with', errors: [['index.ts:3:3', 'with statements are not allowed in domains']] },
  'debugger': { rule: '2: debugger', errors: [['index.ts:3:3', 'debugger statements are not allowed in domains']] },
  'host-globals': {
    rule: '3: host globals read, called, in a shorthand property and re-exported',
    errors: [
      ['index.ts:2:20', `'process' ${HOST_GLOBAL}`],
      ['index.ts:3:18', `'setTimeout' ${HOST_GLOBAL}`],
      ['index.ts:5:11', `'Buffer' ${HOST_GLOBAL}`],
      ['index.ts:5:19', `'__dirname' ${HOST_GLOBAL}`],
      ['index.ts:5:30', `'fetch' ${HOST_GLOBAL}`],
      ['index.ts:5:39', `'self' ${HOST_GLOBAL}`],
      ['index.ts:7:10', `'queueMicrotask' ${HOST_GLOBAL}`],
    ],
  },
  'host-global-ambient': {
    rule: '3: a declare const or an import type does not bind a name at run time',
    errors: [['index.ts:4:1', `'process' ${HOST_GLOBAL}`], ['index.ts:5:18', `'fetch' ${HOST_GLOBAL}`]],
  },
  'js-file': { rule: '3: JavaScript files of the domain are checked too', errors: [['helper.js:2:20', `'process' ${HOST_GLOBAL}`]] },
  'globalthis-write': {
    rule: '4: assignment, compound assignment, delete, ++ and destructuring into globalThis',
    errors: [
      ['index.ts:2:2', `writing globalThis.a ${WRITE}`],
      ['index.ts:3:2', `writing globalThis.b ${WRITE}`],
      ['index.ts:4:9', `writing globalThis.c ${WRITE}`],
      ['index.ts:5:2', `writing globalThis.d ${WRITE}`],
      ['index.ts:6:3', `writing globalThis.e ${WRITE}`],
    ],
  },
  'globalthis-mutator': {
    rule: '4: Object.assign / defineProperty, Reflect.set / deleteProperty on globalThis',
    errors: [
      ['index.ts:2:15', `Object.assign${MUTATES}`],
      ['index.ts:3:23', `Object.defineProperty${MUTATES}`],
      ['index.ts:4:13', `Reflect.set${MUTATES}`],
      ['index.ts:5:24', `Reflect.deleteProperty${MUTATES}`],
    ],
  },
  'globalthis-alias': {
    rule: '4: storing, passing and returning globalThis',
    errors: [['index.ts:2:11', ALIAS], ['index.ts:4:3', ALIAS], ['index.ts:5:33', ALIAS]],
  },
  'reserved': {
    rule: '5: __frond names declared, used and as a property name',
    errors: [
      ['index.ts:2:5', `'__frondFuel': ${RESERVED}`],
      ['index.ts:3:38', `'__frondFuel': ${RESERVED}`],
      ['index.ts:4:20', `'__frondTick': ${RESERVED}`],
    ],
  },
  'parse-error': { rule: '6: a syntax error', errors: [['index.ts:2:18', 'syntax error: Expression expected.']] },
  'dts-code': {
    rule: '2 and 3: files named like declaration files (x.d.ts, x.d.css.ts) are code to esbuild, so they are checked as code',
    errors: [
      ['evil.d.ts:2:21', `eval ${EVALUATES}`],
      ['evil.d.ts:3:20', `'process' ${HOST_GLOBAL}`],
      ['sneaky.d.css.ts:2:21', `the Function constructor ${EVALUATES}`],
    ],
  },
  'import-attributes': {
    rule: '1: import attributes (with { type }) on imports and re-exports',
    errors: [['index.ts:2:30', `import './code.ts' ${ATTRIBUTES}`], ['index.ts:3:32', `import './data.json' ${ATTRIBUTES}`], ['index.ts:4:35', `import './code.ts' ${ATTRIBUTES}`]],
  },
  'loaders': {
    rule: 'the guard: only .ts, .js and .json files can be bundled (refused at the import, naming the file)',
    errors: [
      ['index.ts:2:18', "test/fixtures/build/loaders/payload.txt: '.txt' files cannot be bundled into a domain"],
      ['index.ts:3:18', "test/fixtures/build/loaders/view.tsx: '.tsx' files cannot be bundled into a domain"],
      ['index.ts:4:17', "test/fixtures/build/loaders/lib.mjs: '.mjs' files cannot be bundled into a domain"],
    ],
  },
  'package-code': {
    rule: '1 and 2: allowlisted packages are checked like domain code and stay in their folder; package.json main cannot lead out',
    errors: [
      ['../node_modules/pure-evil/index.js:2:18', `eval ${EVALUATES}`],
      ['../node_modules/pure-wander/index.js:2:28', "import '../../good/util.ts': it resolves outside package 'pure-wander', to test/fixtures/build/good/util.ts"],
      ['index.ts:3:19', "import 'pure-escape': it resolves to src/kernel/verify.ts, outside this domain's folder (test/fixtures/build/package-code/), src/idl/, src/lib/ and src/machine/common/, and the reviewed packages"],
    ],
  },
};

for (const [dir, c] of Object.entries(CASES)) {
  test(`rule ${c.rule} (${dir})`, () => assertReports(`${FIX}/${dir}`, c.errors));
}

test('every fixture folder has a case', () => {
  const folders = readdirSync(join(ROOT, FIX)).filter((d) => d !== 'good' && d !== 'node_modules' && !d.startsWith('.')).sort();
  assert.deepEqual(folders, Object.keys(CASES).sort());
});

test('a well-behaved domain full of near misses passes', async () => {
  assert.deepEqual(await check(`${FIX}/good`), []);
});

test('the good domain\'s packages are admitted by the allowlist, and only by it', async () => {
  assert.deepEqual((await check(`${FIX}/good`, [])).map((e) => e.replace(/ \(src.*$/, '')), [
    `${FIX}/good/index.ts:8:21: import 'pure-pad': package 'pure-pad' is not on the reviewed allowlist`,
    `${FIX}/good/index.ts:9:22: import '@pure/kit/deep/path.js': package '@pure/kit' is not on the reviewed allowlist`,
  ]);
});

test('formatCheckError is path:line:col: message', () => {
  assert.equal(formatCheckError({ file: 'a/b.ts', line: 3, col: 7, message: 'no' }), 'a/b.ts:3:7: no');
});

// ---- the real domains ------------------------------------------------------------------------

/**
 * Violations real domains are known to have. The probe is a hostile test domain: it tries
 * Function('return this') and a write to globalThis to prove the compartment refuses them at run
 * time. It can be loaded only as a prebuilt bundle, or with this check relaxed for test domains.
 */
const PROBE = 'test/domains/probe/index.ts';
/** The 1-based line of `PROBE` that contains `needle` (so editing the probe does not break this). */
const probeLine = (needle: string): number => readFileSync(join(ROOT, PROBE), 'utf8').split('\n').findIndex((l) => l.includes(needle)) + 1;
const KNOWN: Record<string, string[]> = {
  'test/domains/probe': [
    `${PROBE}:${probeLine('.stolen = 1')}:45: writing globalThis.stolen is not allowed: the global object is read-only for domains; keep state in the domain's own variables`,
    `${PROBE}:${probeLine('typeof globalThis.eval')}:21: globalThis.eval: eval is not allowed in domains: code it evaluates escapes this check and the CPU meter`,
    `${PROBE}:${probeLine('typeof globalThis.eval')}:63: globalThis.Function: the Function constructor is not allowed in domains: code it evaluates escapes this check and the CPU meter`,
    `${PROBE}:${probeLine('Compartment?: unknown')}:20: globalThis.Compartment: SES's Compartment is not allowed in domains: code it evaluates escapes this check and the CPU meter`,
  ],
};

/** Every domain folder in the repository: src/domains/<group>/<name>, bench/domains/<name>, test/domains/<name>. */
function realDomains(): string[] {
  const under = (dir: string, depth: number): string[] => {
    if (!existsSync(join(ROOT, dir))) return [];
    if (depth === 0) return existsSync(join(ROOT, dir, 'domain.json')) ? [dir] : [];
    return readdirSync(join(ROOT, dir), { withFileTypes: true })
      .filter((e) => e.isDirectory()).flatMap((e) => under(`${dir}/${e.name}`, depth - 1));
  };
  return [...under('src/domains', 2), ...under('bench/domains', 1), ...under('test/domains', 1)].sort();
}

test('every real domain passes the check (quickly)', async () => {
  const dirs = realDomains();
  assert.ok(dirs.length >= 6, `found only ${dirs.join(', ')}`);
  for (const d of dirs) {
    const t = performance.now();
    const got = await check(d, loadAllowlist(ROOT));
    const ms = performance.now() - t;
    assert.deepEqual(got, KNOWN[d] ?? [], d);
    assert.ok(ms < 2000, `${d} took ${ms.toFixed(0)} ms`);
  }
});

// ---- folder-level rules, in a temporary root --------------------------------------------------

function tempRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'frond-check-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

/** The generated glue every domain's entry imports (bundle.ts), for a temporary root. */
const GLUE = { 'src/idl/generated/structs.ts': 'export function bindHeap(_h: unknown): void {}\n' };

test('symbolic links and resolution config files are refused; src/idl/ of the given root is importable', async (t) => {
  const root = tempRoot({
    ...GLUE,
    'src/idl/x.ts': 'export const x = 1;\n',
    'outside.ts': 'export const o = process;\n',
    'd/index.ts': "import { x } from '../src/idl/x.ts';\nimport { b } from './b/b.ts';\nexport const y = x + b;\n",
    'd/b/b.ts': 'export const b = 2;\n',
    'd/b/package.json': '{ "main": "../../outside.ts" }\n',
    'd/tsconfig.json': '{}\n',
  });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  symlinkSync(join(root, 'outside.ts'), join(root, 'd/link.ts'));
  const got = await checkDomain(join(root, 'd'), root, []);
  assert.deepEqual(got.map(formatCheckError), [
    'd/b/package.json:1:1: package.json is not allowed in a domain folder: it would change how the bundler resolves the domain\'s imports',
    'd/link.ts:1:1: symbolic links are not allowed in a domain folder: the bundler would follow them to code this check does not see',
    'd/tsconfig.json:1:1: tsconfig.json is not allowed in a domain folder: it would change how the bundler resolves the domain\'s imports',
  ]);
});

test('errors are sorted by file, line and column across a domain\'s files', async (t) => {
  const root = tempRoot({
    ...GLUE,
    'd/index.ts': "import './z.ts';\nimport './a.ts';\nimport './m/index.ts';\nexport function init(): void {}\n",
    'd/z.ts': 'export const a = process;\n',
    'd/a.ts': 'export const b = fetch; export const c = Buffer;\nexport const d = self;\n',
    'd/m/index.ts': 'debugger;\n',
  });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const got: CheckError[] = await checkDomain(join(root, 'd'), root, []);
  assert.deepEqual(got.map((e) => `${e.file}:${e.line}:${e.col}`), ['d/a.ts:1:18', 'd/a.ts:1:42', 'd/a.ts:2:18', 'd/m/index.ts:1:1', 'd/z.ts:1:18']);
});

// ---- loadAllowlist ---------------------------------------------------------------------------

function allowlistRoot(t: { after(fn: () => void): void }, text: string | null): string {
  const root = tempRoot(text === null ? {} : { 'src/tools/domainc/allowlist.json': text });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

test('the repository allowlist loads', () => {
  assert.deepEqual(loadAllowlist(ROOT), []);
});

test('loadAllowlist returns the package names', (t) => {
  const root = allowlistRoot(t, JSON.stringify({
    review: 'policy',
    packages: [{ name: 'pure-pad', why: 'reviewed: pure' }, { name: '@pure/kit', why: 'reviewed: pure' }],
  }));
  assert.deepEqual(loadAllowlist(root), ['pure-pad', '@pure/kit']);
});

const MALFORMED: [what: string, text: string | null, msg: RegExp][] = [
  ['a missing file', null, /allowlist\.json: ENOENT/],
  ['not JSON', '{ "packages": [', /allowlist\.json: .*JSON/],
  ['an array at the top', '[]', /must be an object/],
  ['no packages', '{ "review": "x" }', /"packages" must be an array/],
  ['packages not an array', '{ "packages": {} }', /"packages" must be an array/],
  ['an unknown top-level key', '{ "package": [], "packages": [] }', /unknown key "package"/],
  ['review not a string', '{ "review": 1, "packages": [] }', /"review" must be a string/],
  ['an entry that is a string', '{ "packages": ["left-pad"] }', /packages\[0\] must be an object/],
  ['an entry without why', '{ "packages": [{ "name": "left-pad" }] }', /packages\[0\]\.why must say why/],
  ['an empty why', '{ "packages": [{ "name": "left-pad", "why": " " }] }', /packages\[0\]\.why must say why/],
  ['a name with a subpath', '{ "packages": [{ "name": "a/b", "why": "x" }] }', /packages\[0\]\.name must be an npm package name/],
  ['an upper-case name', '{ "packages": [{ "name": "Left", "why": "x" }] }', /packages\[0\]\.name must be an npm package name/],
  ['a builtin', '{ "packages": [{ "name": "fs", "why": "x" }] }', /'fs' is a Node builtin module/],
  ['an unknown entry key', '{ "packages": [{ "name": "a", "why": "x", "version": "1" }] }', /packages\[0\]: unknown key "version"/],
  ['a duplicate', '{ "packages": [{ "name": "a", "why": "x" }, { "name": "a", "why": "y" }] }', /package "a" is listed twice/],
];

for (const [what, text, msg] of MALFORMED) {
  test(`loadAllowlist refuses ${what}`, (t) => {
    const root = allowlistRoot(t, text);
    assert.throws(() => loadAllowlist(root), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /allowlist\.json: /);
      assert.match(e.message, msg);
      return true;
    });
  });
}

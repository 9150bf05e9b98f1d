// Tests for idlc (src/tools/idlc/): every exchangeability rule is reported as `path:line:col:
// message` at the offending node, errors are collected rather than stopping at the first, output
// is deterministic, the committed generated code is up to date, the CLI fails with a diagnostic
// on a bad IDL file, and interface fingerprints follow the signatures and struct layouts.
//
// The bad fixtures live in test/fixtures/idl/bad/, one rule each. They are valid TypeScript (idlc
// is stricter than tsc), so they pass the project's type check and lint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile, idlFiles, runIdlc, IdlError } from '../src/tools/idlc/main.ts';
import { parseIdl } from '../src/tools/idlc/parse.ts';
import { fingerprint } from '../src/tools/idlc/emit.ts';

const ROOT = join(fileURLToPath(import.meta.url), '../..');
const BAD = 'test/fixtures/idl/bad';

/** The diagnostics of compiling `files` (repo-relative); fails if idlc accepts them. */
function diagnostics(...files: string[]): string[] {
  try {
    compile(files.map((f) => join(ROOT, f)), ROOT);
  } catch (e) {
    if (e instanceof IdlError) return e.diagnostics;
    throw e;
  }
  return assert.fail(`idlc accepted ${files.join(', ')}`);
}

interface Diagnostic { path: string; line: number; col: number; message: string }
function parseDiagnostic(d: string): Diagnostic {
  const m = /^(.+?):(\d+):(\d+): (.+)$/s.exec(d);
  assert.ok(m, `not a path:line:col: message diagnostic: ${d}`);
  return { path: m[1]!, line: Number(m[2]), col: Number(m[3]), message: m[4]! };
}

// ---- one rule per fixture --------------------------------------------------------------------

interface Case {
  /** file name in test/fixtures/idl/bad/ */
  file: string;
  rule: string;
  line: number;
  col: number;
  /** a key phrase of the message */
  msg: string;
}

const CASES: Case[] = [
  { file: 'function-param.ts', rule: 'a function type as a parameter', line: 5, col: 9, msg: 'functions are not exchangeable' },
  { file: 'class.ts', rule: 'a class declaration', line: 8, col: 1, msg: 'classes are not exchangeable' },
  { file: 'function-decl.ts', rule: 'a function declaration', line: 4, col: 1, msg: 'functions are not exchangeable: IDL files declare types only' },
  { file: 'object-literal-param.ts', rule: 'a mutable object literal type as a parameter', line: 5, col: 8, msg: 'object literal types are mutable objects' },
  { file: 'copy-mutable-field.ts', rule: 'a Copy record field that is not readonly', line: 6, col: 3, msg: 'Bad.b: Copy record fields must be readonly' },
  { file: 'any.ts', rule: 'any', line: 5, col: 8, msg: 'any is not exchangeable' },
  { file: 'unknown.ts', rule: 'unknown', line: 5, col: 8, msg: 'unknown is not exchangeable' },
  { file: 'array.ts', rule: 'a plain array u32[]', line: 5, col: 9, msg: 'arrays are not exchangeable' },
  { file: 'array-generic.ts', rule: 'Array<u32>', line: 5, col: 9, msg: 'arrays are not exchangeable' },
  { file: 'tuple.ts', rule: 'a tuple', line: 5, col: 9, msg: 'arrays are not exchangeable' },
  { file: 'return-plain.ts', rule: 'a method returning u32', line: 5, col: 8, msg: 'Bad.f: methods must return RpcResult<T> or Promise<RpcResult<T>>, not u32' },
  { file: 'return-promise-plain.ts', rule: 'a method returning Promise<u32>', line: 5, col: 8, msg: 'methods must return RpcResult<T> or Promise<RpcResult<T>>, not Promise<u32>' },
  { file: 'iface-property.ts', rule: 'a property in an Interface', line: 6, col: 3, msg: 'Bad: interfaces have methods only' },
  { file: 'number.ts', rule: 'bare number', line: 5, col: 8, msg: 'number is ambiguous' },
  { file: 'bigint.ts', rule: 'bare bigint', line: 5, col: 8, msg: 'bigint is ambiguous' },
  { file: 'union.ts', rule: 'a union other than Option', line: 5, col: 8, msg: 'unions are not exchangeable' },
  { file: 'borrow-result.ts', rule: 'Borrow<T> as a result type', line: 9, col: 18, msg: 'Borrow<T> is only a parameter type' },
  // (reported at the u32 inside RRef<u32>)
  { file: 'rref-scalar.ts', rule: 'RRef<u32> (RRef of a non-exchange type)', line: 5, col: 13, msg: 'u32 cannot live in the exchange heap on its own' },
  { file: 'struct-by-value.ts', rule: 'a struct passed by value', line: 9, col: 8, msg: 'Pkt is an exchange-heap struct: pass it as RRef<Pkt>' },
  { file: 'bytes-param.ts', rule: 'Bytes<N> passed directly', line: 5, col: 8, msg: 'pass it as RRef<Bytes<16>>' },
  { file: 'bytes-zero.ts', rule: 'Bytes<0>', line: 5, col: 19, msg: 'Bytes<N>: N must be an integer from 1 to' },
  { file: 'bytes-nonliteral.ts', rule: 'Bytes<number> (N not a literal)', line: 5, col: 19, msg: 'Bytes<N>: N must be a numeric literal' },
  { file: 'struct-string-field.ts', rule: 'a struct field of type string', line: 6, col: 9, msg: 'Bad.name: strings have no fixed layout' },
  { file: 'struct-rref-field.ts', rule: 'a struct field RRef<T> not in Option', line: 6, col: 9, msg: 'Bad.next: nested RRefs are optional fields: use Option<RRef<Bad>>' },
  { file: 'optional-param.ts', rule: 'an optional parameter', line: 5, col: 5, msg: 'Bad.f: optional parameters are not supported' },
  { file: 'rest-param.ts', rule: 'a rest parameter', line: 5, col: 5, msg: 'Bad.f: rest parameters are not supported' },
  { file: 'generic-method.ts', rule: 'a generic method', line: 5, col: 5, msg: 'Bad.f: generic methods are not exchangeable' },
  { file: 'no-marker.ts', rule: 'an interface extending no marker', line: 4, col: 18, msg: 'interface Bad must extend exactly one of Interface, Struct or Copy' },
  { file: 'redeclare-vocabulary.ts', rule: 'redeclaring a vocabulary name', line: 4, col: 13, msg: 'u32 is part of the IDL vocabulary and cannot be redeclared' },
  { file: 'unknown-name.ts', rule: 'an unknown type name', line: 5, col: 8, msg: 'unknown type Date: not declared in the IDL' },
  { file: 'uint8array.ts', rule: 'a Uint8Array parameter', line: 5, col: 8, msg: 'Uint8Array is a raw buffer' },
  { file: 'map.ts', rule: 'a Map parameter', line: 5, col: 8, msg: 'Map is a mutable object' },
  { file: 'value-import.ts', rule: 'a value (not type-only) import', line: 3, col: 1, msg: 'IDL files may only use `import type`' },
  { file: 'enum.ts', rule: 'an enum', line: 4, col: 1, msg: 'enums are not supported' },
];

for (const c of CASES) {
  test(`idlc rejects ${c.rule} (${c.file}) at ${c.line}:${c.col}`, () => {
    const path = `${BAD}/${c.file}`;
    const ds = diagnostics(path);
    assert.equal(ds.length, 1, `expected exactly one diagnostic, got:\n${ds.join('\n')}`);
    const d = parseDiagnostic(ds[0]!);
    assert.equal(d.path, path);
    assert.deepEqual([d.line, d.col], [c.line, c.col], ds[0]);
    assert.ok(d.message.includes(c.msg), `message ${JSON.stringify(d.message)} lacks ${JSON.stringify(c.msg)}`);
  });
}

test('every bad fixture has a case and every case a fixture', () => {
  const files = readdirSync(join(ROOT, BAD)).filter((f) => f.endsWith('.ts')).sort();
  assert.deepEqual(files, CASES.map((c) => c.file).sort());
});

// ---- collecting ------------------------------------------------------------------------------

test('idlc reports every error of a file, not only the first', () => {
  const p = 'test/fixtures/idl/many-errors.ts';
  assert.deepEqual(diagnostics(p).map(parseDiagnostic).map((d) => `${d.line}:${d.col}`).sort(), [
    '12:9',  // Msg.name: string field
    '16:16', // b: number
    '16:25', // returns u32
    '16:8',  // a: any
    '4:1',   // class Widget
    '7:3',   // Rec.count not readonly
  ]);
  for (const d of diagnostics(p)) assert.ok(d.startsWith(`${p}:`), d);
});

test('idlc collects errors across files', () => {
  const files = ['any.ts', 'class.ts', 'struct-string-field.ts'].map((f) => `${BAD}/${f}`);
  const paths = diagnostics(...files).map((d) => parseDiagnostic(d).path);
  assert.deepEqual(paths.sort(), files.sort());
});

// ---- the real IDL ----------------------------------------------------------------------------

test('the real IDL compiles, and compiling twice gives byte-identical output', () => {
  const files = idlFiles(ROOT);
  assert.ok(files.length > 0);
  const a = compile(files, ROOT);
  const b = compile(files, ROOT);
  assert.deepEqual([...a.keys()], ['types.ts', 'structs.ts', 'proxies.ts', 'shadows.ts']);
  assert.deepEqual([...b.keys()], [...a.keys()]);
  for (const [name, text] of a) assert.ok(b.get(name) === text, `${name} differs between two runs`);
});

test('idl --check: the committed generated code is up to date', () => {
  const { changed } = runIdlc(ROOT, { check: true });
  assert.deepEqual(changed, []);
});

// ---- the CLI ---------------------------------------------------------------------------------

test('runIdlc throws IdlError on a bad file and writes nothing', () => {
  const out = mkdtempSync(join(tmpdir(), 'frond-idlc-out-'));
  try {
    assert.throws(
      () => runIdlc(ROOT, { files: [join(ROOT, BAD, 'any.ts')], out }),
      (e: unknown) => {
        assert.ok(e instanceof IdlError);
        assert.deepEqual(e.diagnostics, [`${BAD}/any.ts:5:8: any is not exchangeable`]);
        return true;
      });
    assert.deepEqual(readdirSync(out), []);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

const frond = (cwd: string, ...args: string[]) =>
  spawnSync(process.execPath, [join(cwd, 'bin/frond.mjs'), ...args], { cwd, encoding: 'utf8', timeout: 60_000 });

test('`frond idl --check` exits 1 and prints path:line:col: for a bad IDL file', () => {
  // The CLI compiles <root>/src/idl/*.ts, so run a copy of it whose src/idl holds one bad file.
  const dir = mkdtempSync(join(tmpdir(), 'frond-idlc-cli-'));
  try {
    cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
    cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
    for (const f of ['package.json', 'tsconfig.json']) cpSync(join(ROOT, f), join(dir, f));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    for (const f of readdirSync(join(dir, 'src/idl'))) if (f.endsWith('.ts')) rmSync(join(dir, 'src/idl', f));
    cpSync(join(ROOT, BAD, 'map.ts'), join(dir, 'src/idl/bad.ts'));
    const r = frond(dir, 'idl', '--check');
    assert.equal(r.status, 1, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.equal(r.stderr.trim(), 'src/idl/bad.ts:5:8: Map is a mutable object and not exchangeable');
    assert.equal(r.stdout, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('`frond idl --check` exits 0 on the repository', () => {
  const r = frond(ROOT, 'idl', '--check');
  assert.equal(r.status, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stderr, '');
});

// ---- fingerprints ----------------------------------------------------------------------------

const BASE = `import type { Interface, Option, RRef, RpcResult, Struct, i32, u16, u32, u8 } from '../src/idl/lib/types.ts';

export interface Hdr extends Struct {
  kind: u8;
}

export interface Pkt extends Struct {
  len: u32;
  flags: u8;
  hdr: Option<RRef<Hdr>>;
}

export interface Svc extends Interface {
  put(p: RRef<Pkt>, n: u32): RpcResult<void>;
}
`;

/** Compiles an IDL text; returns Svc's fingerprint, checked against the emitted FINGERPRINTS. */
function svcFingerprint(dir: string, name: string, text: string): string {
  const file = join(dir, `${name}.ts`);
  writeFileSync(file, text);
  const model = parseIdl([file], ROOT);
  const svc = model.ifaces.find((i) => i.name === 'Svc');
  assert.ok(svc);
  const fp = fingerprint(svc, model);
  assert.match(fp, /^[0-9a-f]{64}$/);
  const types = compile([file], ROOT).get('types.ts')!;
  assert.ok(types.includes(`  Svc: '${fp}',`), `types.ts FINGERPRINTS lacks Svc: '${fp}'`);
  return fp;
}

test('a fingerprint follows parameter types and struct layouts, and nothing else', () => {
  const dir = mkdtempSync(join(tmpdir(), 'frond-idlc-fp-'));
  const variant = (from: string, to: string): string => {
    assert.ok(BASE.includes(from));
    return BASE.replace(from, to);
  };
  try {
    const fp = (name: string, text: string): string => svcFingerprint(dir, name, text);
    const base = fp('base', BASE);
    assert.equal(fp('again', BASE), base, 'deterministic');
    // Changes that must change the fingerprint.
    assert.notEqual(fp('param', variant('n: u32)', 'n: i32)')), base, 'parameter type u32 -> i32');
    assert.notEqual(fp('field', variant('len: u32;', 'len: u16;')), base, 'field type (and so offsets) changed');
    assert.notEqual(fp('order', variant('len: u32;\n  flags: u8;', 'flags: u8;\n  len: u32;')), base, 'fields reordered');
    assert.notEqual(fp('nested', variant('kind: u8;', 'kind: u32;')), base, 'layout of a struct reached through an Option<RRef> field');
    // Changes that must not.
    assert.equal(fp('cosmetic', `// a comment\n${variant('put(p: RRef<Pkt>, n: u32)', 'put(p: RRef<Pkt>,   n: u32)')}`), base, 'comments and whitespace');
    assert.equal(fp('other', `${BASE}\nexport interface Other extends Interface {\n  get(): RpcResult<i32>;\n}\n`), base, 'an unrelated interface');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

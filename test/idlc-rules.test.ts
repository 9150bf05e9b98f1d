// Tests for idlc (src/tools/idlc/), rule by rule, with IDL written inline to a temporary directory
// (test/idlc.test.ts covers the committed fixtures, the real IDL, the CLI and fingerprints):
//   - every check of parse.ts: an input that breaks exactly that rule is refused with the exact
//     `path:line:col: message` list, and a near miss is accepted;
//   - the generated code, loaded and run: the proxies' argument and result validators at the
//     boundaries of every scalar (u8 255/256, i8 -128/-129, u64 2^64-1/2^64, null for Option…),
//     the order of checks, moves and borrows against a recording proxy runtime, the shadows'
//     retry rule, the struct accessors' layout against a recording heap, and the type table;
//   - runIdlc and idlFiles on a scratch tree.
// idlc resolves names syntactically (closed world), so the inline sources do not import the
// vocabulary (u32, RRef, Struct…): idlc does not need it, and they are never type-checked.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compile, idlFiles, runIdlc, IdlError } from '../src/tools/idlc/main.ts';

const TMP = mkdtempSync(join(tmpdir(), 'frond-idlc-rules-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

let serial = 0;
/** Writes `text` to a new file directly in TMP; returns its name (the path diagnostics show). */
function idlFile(text: string): string {
  const name = `case${++serial}.ts`;
  writeFileSync(join(TMP, name), text);
  return name;
}

/** The IdlError `run` throws (any other error is rethrown); fails if it throws nothing. */
function idlError(run: () => unknown): IdlError {
  try {
    run();
  } catch (e) {
    if (e instanceof IdlError) return e;
    throw e;
  }
  return assert.fail('idlc accepted its input');
}

/** idlc's diagnostics for one IDL text; fails if idlc accepts it. */
function refuse(text: string): { file: string; diags: string[] } {
  const file = idlFile(text);
  return { file, diags: idlError(() => compile([join(TMP, file)], TMP)).diagnostics };
}

/** The generated files for one IDL text; fails (with the diagnostics) if idlc refuses it. */
function accept(text: string): Map<string, string> {
  const file = idlFile(text);
  try {
    return compile([join(TMP, file)], TMP);
  } catch (e) {
    if (e instanceof IdlError) assert.fail(`idlc refused:\n${text}\n${e.diagnostics.join('\n')}`);
    throw e;
  }
}

/** `line:col` (1-based) of the caret in `needle`: 'f(a: |u32' is where u32 starts after 'f(a: '. */
function pos(text: string, needle: string): string {
  const caret = needle.indexOf('|');
  const plain = needle.replace('|', '');
  const i = text.indexOf(plain);
  assert.ok(i >= 0, `${JSON.stringify(plain)} is not in the source`);
  assert.equal(text.lastIndexOf(plain), i, `${JSON.stringify(plain)} is not unique in the source`);
  const before = text.slice(0, i + Math.max(caret, 0)).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

/** A refused input: each error is [needle with a caret at the reported position, message]. */
interface Bad { rule: string; src: string; errors: [string, string][] }
/** An accepted input, near a refused one. */
interface Good { rule: string; src: string }

function checkBad(c: Bad): void {
  const { file, diags } = refuse(c.src);
  assert.deepEqual(diags, c.errors.map(([at, msg]) => `${file}:${pos(c.src, at)}: ${msg}`));
}

function table(kind: string, bad: Bad[], good: Good[]): void {
  for (const c of bad) test(`idlc refuses ${c.rule} (${kind})`, () => checkBad(c));
  for (const c of good) test(`idlc accepts ${c.rule} (${kind})`, () => { accept(c.src); });
}

// Declarations used by many inputs: a struct, a Copy record and an interface.
const DECLS = `export interface P extends Struct {
  len: u32;
}
export interface C extends Copy {
  readonly n: u32;
}
export interface I extends Interface {
  ping(): RpcResult<void>;
}
`;
/** An interface S with one method taking `a: T`, after DECLS. */
const param = (t: string): string => `${DECLS}export interface S extends Interface {\n  f(a: ${t}): RpcResult<void>;\n}\n`;
/** A struct S with the given field lines, after DECLS. */
const struct = (...fields: string[]): string => `${DECLS}export interface S extends Struct {\n${fields.map((f) => `  ${f}\n`).join('')}}\n`;
/** A Copy record R with the given field lines, after DECLS. */
const copy = (...fields: string[]): string => `${DECLS}export interface R extends Copy {\n${fields.map((f) => `  ${f}\n`).join('')}}\n`;
/** An interface S with the given member lines, after DECLS. */
const iface = (...members: string[]): string => `${DECLS}export interface S extends Interface {\n${members.map((m) => `  ${m}\n`).join('')}}\n`;

// ---- files and statements ----------------------------------------------------------------

test('idlc reports a file it cannot read at 1:1', () => {
  assert.deepEqual(idlError(() => compile([join(TMP, 'missing.ts')], TMP)).diagnostics, ['missing.ts:1:1: cannot read file']);
});

test('idlc reports syntax errors at their position, with the parser\'s message, then its own', () => {
  // The parser's errors come first (they are collected as each file is read).
  checkBad({
    rule: 'syntax errors', src: iface('f(a: u32): RpcResult<void>;;', 'g(a u32): RpcResult<void>;'),
    errors: [
      [';|;', 'Property or signature expected.'],
      ['g(a |u32', '\',\' expected.'],
      ['g(|a u32', 'S.g: parameter a needs a type'],
      ['g(a |u32', 'S.g: parameter u32 needs a type'],
    ],
  });
});

test('the IdlError message is the diagnostics, one per line (what `frond idl` prints)', () => {
  const file = idlFile(`${param('number')}export class K {}\n`);
  const e = idlError(() => compile([join(TMP, file)], TMP));
  assert.equal(e.diagnostics.length, 2);
  assert.equal(e.message, `${e.diagnostics[0]}\n${e.diagnostics[1]}`);
});

const VOCABULARY = ['u8', 'u16', 'u32', 'i8', 'i16', 'i32', 'f64', 'u64', 'i64', 'bool', 'RRef', 'Borrow', 'Ref', 'Option',
  'Bytes', 'RRefArray', 'RRefDeque', 'Interface', 'Struct', 'Copy', 'RpcResult', 'RpcError', 'RpcErrorKind'];

test('idlc refuses to redeclare any name of the vocabulary', () => {
  const src = VOCABULARY.map((v) => `export type ${v} = string;\n`).join('');
  checkBad({
    rule: 'vocabulary', src,
    errors: VOCABULARY.map((v) => [`export type |${v} =`, `${v} is part of the IDL vocabulary and cannot be redeclared`]),
  });
});

table('statements', [
  { rule: 'a side-effect import', src: `import './lib.ts';\n${DECLS}`, errors: [['|import', 'IDL files may only use `import type`']] },
  { rule: 'a variable', src: `${DECLS}export const x = 1;\n`, errors: [['|export const', 'IDL files may contain only type-only imports, interfaces and type aliases']] },
  { rule: 'an interface extending a non-marker', src: 'export interface B extends Base {\n  n: u32;\n}\n', errors: [['interface |B', 'interface B must extend exactly one of Interface, Struct or Copy']] },
  { rule: 'an interface extending a marker and another', src: 'export interface B extends Struct, Base {\n  n: u32;\n}\n', errors: [['interface |B', 'interface B must extend exactly one of Interface, Struct or Copy']] },
  { rule: 'a generic interface', src: 'export interface G<T> extends Struct {\n  n: u32;\n}\n', errors: [['G<|T>', 'G: generic declarations are not exchangeable']] },
  { rule: 'a generic type alias', src: 'export type A<T> = u32;\n', errors: [['A<|T>', 'A: generic type aliases are not exchangeable']] },
  { rule: 'a type alias naming itself', src: 'export type A = A;\n', errors: [['= |A;', 'type alias A refers to itself']] },
  { rule: 'a declaration declared twice', src: `${DECLS}export type P = u32;\n`, errors: [['type |P', 'P is declared twice']] },
], [
  { rule: 'type-only imports and re-exports', src: `import type { u32 } from './lib.ts';\n${DECLS}export type { P };\nexport {};\n` },
  { rule: 'parenthesized types', src: `${DECLS}export interface S extends Interface {\n  f(a: (u32), b: ((RRef<(P)>))): (RpcResult<(void)>);\n}\n` },
  { rule: 'an alias of an alias', src: `${DECLS}export type A = B;\nexport type B = u32;\nexport interface S extends Interface {\n  f(a: A): RpcResult<A>;\n}\n` },
]);

// ---- types -------------------------------------------------------------------------------

table('types', [
  { rule: 'void as a parameter', src: param('void'), errors: [['f(a: |void', 'void is only a result type']] },
  { rule: 'object', src: param('object'), errors: [['f(a: |object', 'object is not exchangeable']] },
  { rule: 'symbol', src: param('symbol'), errors: [['f(a: |symbol', 'symbols are not exchangeable']] },
  { rule: 'never', src: param('never'), errors: [['f(a: |never', 'never is not a useful exchangeable type']] },
  { rule: 'undefined', src: param('undefined'), errors: [['f(a: |undefined', 'use Option<T> for an absent value']] },
  // (TypeScript parses the type `null` as a literal type: idlc gives it the same advice as undefined)
  { rule: 'null', src: param('null'), errors: [['f(a: |null', 'use Option<T> for an absent value']] },
  { rule: 'a number literal type', src: param('1'), errors: [['f(a: |1', 'literal types are not supported: use the scalar or string type']] },
  { rule: 'a template literal type', src: param('`x${string}`'), errors: [['f(a: |`', 'literal types are not supported: use the scalar or string type']] },
  { rule: 'keyof', src: param('keyof P'), errors: [['f(a: |keyof', 'keyof P: computed types are not supported in the IDL']] },
  { rule: 'an indexed access type', src: param('P[\'len\']'), errors: [['f(a: |P[', 'P[\'len\']: computed types are not supported in the IDL']] },
  { rule: 'a mapped type', src: param('{ [K in u32]: u32 }'), errors: [['f(a: |{', '{ [K in u32]: u32 }: computed types are not supported in the IDL']] },
  { rule: 'a conditional type', src: param('u32 extends u8 ? u32 : u8'), errors: [['f(a: |u32 extends', 'u32 extends u8 ? u32 : u8: computed types are not supported in the IDL']] },
  { rule: 'a typeof type', src: param('typeof x'), errors: [['f(a: |typeof', 'typeof x: computed types are not supported in the IDL']] },
  { rule: 'this', src: param('this'), errors: [['f(a: |this', 'this is not an exchangeable type']] },
  { rule: 'RRefArray passed directly', src: param('RRefArray<P, 4>'), errors: [['f(a: |RRefArray', 'RRefArray lives in the exchange heap: pass it as RRef<RRefArray<P, 4>>']] },
  { rule: 'RRefDeque passed directly', src: param('RRefDeque<P, 4>'), errors: [['f(a: |RRefDeque', 'RRefDeque lives in the exchange heap: pass it as RRef<RRefDeque<P, 4>>']] },
  { rule: 'RpcResult as a parameter', src: param('RpcResult<u32>'), errors: [['f(a: |RpcResult', 'RpcResult<T> is only the result of a method']] },
  { rule: 'Option<Option<T>>', src: param('Option<Option<u32>>'), errors: [['Option<|Option<u32>>', 'Option<Option<T>> is not supported']] },
  { rule: 'Option without its argument', src: param('Option'), errors: [['f(a: |Option', 'Option takes 1 type argument']] },
  { rule: 'RRef without its argument', src: param('RRef'), errors: [['f(a: |RRef', 'RRef takes 1 type argument']] },
  { rule: 'RRef with two arguments', src: param('RRef<P, P>'), errors: [['f(a: |RRef', 'RRef takes 1 type argument']] },
  { rule: 'Borrow without its argument', src: param('Borrow'), errors: [['f(a: |Borrow', 'Borrow takes 1 type argument']] },
], [
  { rule: 'every scalar, string, and boolean as parameters and results', src: iface(
    ...['u8', 'u16', 'u32', 'i8', 'i16', 'i32', 'f64', 'u64', 'i64', 'bool', 'boolean', 'string'].map((t, k) => `m${k}(a: ${t}, b: Option<${t}>): RpcResult<${t}>;`)) },
  { rule: 'Option<T> of a record, an interface and an RRef', src: iface('f(a: Option<C>, b: Option<I>, c: Option<RRef<P>>): RpcResult<Option<C>>;') },
]);

// A parameter of each of these types is refused with the message of unknownMsg.
const UNKNOWN: [string, string][] = [
  ['ReadonlyArray<u32>', 'arrays are not exchangeable: use RRefArray<T, N>, RRefDeque<T, N> or Bytes<N>'],
  ['Promise<u32>', 'Promise<T> may only wrap the RpcResult of an async method'],
  ['Function', 'functions are not exchangeable'],
  ['Set<u32>', 'Set is a mutable object and not exchangeable'],
  ['Record<string, u32>', 'Record is a mutable object and not exchangeable'],
  ['Object', 'Object is a mutable object and not exchangeable'],
  ['ArrayBuffer', 'ArrayBuffer is a raw buffer and not exchangeable: use RRef<Bytes<N>>'],
  ['SharedArrayBuffer', 'SharedArrayBuffer is a raw buffer and not exchangeable: use RRef<Bytes<N>>'],
  ['DataView', 'DataView is a raw buffer and not exchangeable: use RRef<Bytes<N>>'],
  ['Date', 'unknown type Date: not declared in the IDL'],
];

test('idlc names the reason a well-known non-IDL type is refused', () => {
  const src = iface(...UNKNOWN.map(([t], k) => `m${k}(a: ${t}): RpcResult<void>;`));
  checkBad({ rule: 'unknown names', src, errors: UNKNOWN.map(([t, msg], k) => [`m${k}(a: |${t}`, msg]) });
});

// ---- exchange-heap types (the T of RRef<T>) ------------------------------------------------

table('exchange heap', [
  { rule: 'RRef of an object literal', src: param('RRef<{ n: u32 }>'), errors: [['RRef<|{', '{ n: u32 } cannot live in the exchange heap: use a Struct, Bytes<N>, RRefArray or RRefDeque']] },
  { rule: 'RRef of a scalar', src: param('RRef<u32>'), errors: [['RRef<|u32', 'u32 cannot live in the exchange heap on its own: use a Struct, Bytes<N>, RRefArray or RRefDeque']] },
  { rule: 'RRef of an unknown name', src: param('RRef<Date>'), errors: [['RRef<|Date', 'unknown type Date: not declared in the IDL']] },
  { rule: 'RRef of a Copy record', src: param('RRef<C>'), errors: [['RRef<|C>', 'C is a Copy record, not an exchange-heap type: RRef<T> needs a Struct, Bytes<N>, RRefArray or RRefDeque']] },
  { rule: 'RRef of an Interface', src: param('RRef<I>'), errors: [['RRef<|I>', 'I is an Interface, not an exchange-heap type: RRef<T> needs a Struct, Bytes<N>, RRefArray or RRefDeque']] },
  { rule: 'a struct with type arguments', src: param('RRef<P<u32>>'), errors: [['RRef<|P<u32>', 'P takes no type arguments']] },
  { rule: 'Bytes without N', src: param('RRef<Bytes>'), errors: [['RRef<|Bytes', 'Bytes takes 1 type argument']] },
  { rule: 'Bytes<N> over 2^24', src: param('RRef<Bytes<16777217>>'), errors: [['Bytes<|16777217', 'Bytes<N>: N must be an integer from 1 to 16777216']] },
  { rule: 'Bytes<N> of a fraction', src: param('RRef<Bytes<1.5>>'), errors: [['Bytes<|1.5', 'Bytes<N>: N must be an integer from 1 to 16777216']] },
  { rule: 'RRefArray with one argument', src: param('RRef<RRefArray<P>>'), errors: [['RRef<|RRefArray', 'RRefArray takes 2 type arguments']] },
  { rule: 'RRefArray over 2^16', src: param('RRef<RRefArray<P, 65537>>'), errors: [['P, |65537', 'RRefArray<T, N>: N must be an integer from 1 to 65536']] },
  { rule: 'RRefDeque of 0', src: param('RRef<RRefDeque<P, 0>>'), errors: [['P, |0', 'RRefDeque<T, N>: N must be an integer from 1 to 65536']] },
  { rule: 'RRefDeque of a bad element and a bad N', src: param('RRef<RRefDeque<u8, 0>>'), errors: [
    ['RRefDeque<|u8', 'u8 cannot live in the exchange heap on its own: use a Struct, Bytes<N>, RRefArray or RRefDeque'],
    ['u8, |0', 'RRefDeque<T, N>: N must be an integer from 1 to 65536']] },
  { rule: 'Borrow as a result', src: iface('f(): RpcResult<Borrow<P>>;'), errors: [['RpcResult<|Borrow', 'Borrow<T> is only a parameter type: a borrow lasts for one call']] },
], [
  { rule: 'Bytes<N> for N = 1 and N = 2^24', src: iface('f(a: RRef<Bytes<1>>, b: Borrow<Bytes<16777216>>): RpcResult<void>;') },
  { rule: 'RRefArray and RRefDeque for N = 1 and N = 2^16, nested', src: iface('f(a: RRef<RRefArray<RRefDeque<P, 65536>, 1>>): RpcResult<RRef<RRefDeque<Bytes<8>, 1>>>;') },
]);

// ---- interfaces --------------------------------------------------------------------------

table('interfaces', [
  { rule: 'a quoted method name (and nothing more about that method)', src: iface('\'f\'(a: number): RpcResult<void>;'), errors: [['|\'f\'(', 'member names must be plain identifiers']] },
  { rule: 'a computed method name', src: iface('[k](): RpcResult<void>;'), errors: [['|[k]', 'member names must be plain identifiers']] },
  { rule: 'a call signature', src: iface('(): RpcResult<void>;'), errors: [['\n  |(): RpcResult<void>;', 'S: only method signatures are allowed in an Interface']] },
  { rule: 'an optional method', src: iface('f?(): RpcResult<void>;'), errors: [['|f?()', 'S.f: optional methods are not supported']] },
  { rule: 'a destructured parameter', src: iface('f({ a }: u32): RpcResult<void>;'), errors: [['f(|{', 'parameters must be plain identifiers']] },
  { rule: 'an untyped parameter', src: iface('f(a): RpcResult<void>;'), errors: [['f(|a)', 'S.f: parameter a needs a type']] },
  { rule: 'a method without a result type', src: iface('f(a: u32);'), errors: [['|f(a: u32);', 'S.f: methods must return RpcResult<T> or Promise<RpcResult<T>>']] },
  { rule: 'Promise without its argument', src: iface('f(): Promise;'), errors: [['f(): |Promise', 'Promise takes 1 type argument']] },
  { rule: 'RpcResult without its argument', src: iface('f(): RpcResult;'), errors: [['f(): |RpcResult', 'RpcResult takes 1 type argument']] },
  { rule: 'Promise<RpcResult> without its argument', src: iface('f(): Promise<RpcResult>;'), errors: [['Promise<|RpcResult', 'RpcResult takes 1 type argument']] },
  { rule: 'an overloaded method', src: iface('f(): RpcResult<void>;', 'g(): RpcResult<void>;', 'f(a: u32): RpcResult<void>;'), errors: [['interface |S', 'S: f is declared twice (overloads are not supported)']] },
  { rule: 'errors in parameters and result of one method', src: iface('f(a: number, b: u32, c: object): RpcResult<bigint>;'), errors: [
    ['f(a: |number', 'number is ambiguous: use u8, u16, u32, i8, i16, i32 or f64'],
    ['c: |object', 'object is not exchangeable'],
    ['RpcResult<|bigint', 'bigint is ambiguous: use u64 or i64']] },
], [
  { rule: 'an async method and an interface-typed parameter', src: iface('f(a: I, b: C): Promise<RpcResult<I>>;') },
]);

// ---- structs -----------------------------------------------------------------------------

table('structs', [
  { rule: 'an empty struct', src: struct(), errors: [['interface |S', 'S: a struct needs at least one field']] },
  { rule: 'a method in a struct', src: struct('n: u32;', 'f(): u32;'), errors: [['|f(): u32', 'S: structs have typed fields only']] },
  { rule: 'an untyped field', src: struct('n: u32;', 'm;'), errors: [['|m;', 'S: structs have typed fields only']] },
  { rule: 'a quoted field name', src: struct('n: u32;', '\'m\': u32;'), errors: [['|\'m\'', 'member names must be plain identifiers']] },
  { rule: 'an optional field', src: struct('n?: u32;'), errors: [['|n?', 'S.n: optional fields are not supported: use Option<RRef<T>>']] },
  { rule: 'a field Bytes<0>', src: struct('b: Bytes<0>;'), errors: [['Bytes<|0>', 'Bytes<N>: N must be an integer from 1 to 16777216']] },
  { rule: 'a field Option without its argument', src: struct('o: Option;'), errors: [['o: |Option', 'Option takes 1 type argument']] },
  { rule: 'a field Option of a scalar', src: struct('o: Option<u32>;'), errors: [['Option<|u32>', 'S.o: a struct\'s Option fields hold RRef<T> only']] },
  { rule: 'a field Option<RRef> without its argument', src: struct('o: Option<RRef>;'), errors: [['Option<|RRef>', 'RRef takes 1 type argument']] },
  { rule: 'a field Option<RRef> of a Copy record', src: struct('o: Option<RRef<C>>;'), errors: [['RRef<|C>', 'C is a Copy record, not an exchange-heap type: RRef<T> needs a Struct, Bytes<N>, RRefArray or RRefDeque']] },
  { rule: 'a field of a Copy record type', src: struct('c: C;'), errors: [['c: |C', 'S.c: C cannot be a struct field: fields are scalars, Bytes<N> or Option<RRef<T>>']] },
  { rule: 'a field of a borrowed struct', src: struct('b: Borrow<P>;'), errors: [['b: |Borrow', 'S.b: Borrow<P> cannot be a struct field: fields are scalars, Bytes<N> or Option<RRef<T>>']] },
  { rule: 'a field of an unknown type', src: struct('d: Date;'), errors: [['d: |Date', 'unknown type Date: not declared in the IDL']] },
  { rule: 'a field of type number (one diagnostic)', src: struct('n: number;'), errors: [['n: |number', 'number is ambiguous: use u8, u16, u32, i8, i16, i32 or f64']] },
  { rule: 'accessors colliding with typeId, alloc and free', src: struct('typeId: u32;', 'alloc: u8;', 'free: bool;'), errors: [
    ['|typeId:', 'S.typeId: its accessor typeId collides with the type id'],
    ['|alloc:', 'S.alloc: its accessor alloc collides with alloc()'],
    ['|free:', 'S.free: its accessor free collides with free()']] },
  { rule: 'a scalar field colliding with a setter', src: struct('len: u32;', 'setLen: u32;'), errors: [['|setLen', 'S.setLen: its accessor setLen collides with the accessor of field len']] },
  { rule: 'a setter colliding with a later scalar field', src: struct('setLen: u32;', 'len: u32;'), errors: [['setLen: u32;\n  |len', 'S.len: its accessor setLen collides with the accessor of field setLen']] },
  { rule: 'fields colliding with the accessors of a Bytes field', src: struct('body: Bytes<4>;', 'bodyOffset: u32;', 'bodyLength: u32;', 'readBody: u32;', 'writeBody: u32;', 'bodyByte: u32;', 'setBodyByte: u32;'), errors: [
    ['|bodyOffset', 'S.bodyOffset: its accessor bodyOffset collides with the accessor of field body'],
    ['|bodyLength', 'S.bodyLength: its accessor bodyLength collides with the accessor of field body'],
    ['|readBody', 'S.readBody: its accessor readBody collides with the accessor of field body'],
    ['|writeBody', 'S.writeBody: its accessor writeBody collides with the accessor of field body'],
    ['|bodyByte', 'S.bodyByte: its accessor bodyByte collides with the accessor of field body'],
    ['|setBodyByte', 'S.setBodyByte: its accessor setBodyByte collides with the accessor of field body']] },
  { rule: 'fields colliding with the accessors of a child field', src: struct('next: Option<RRef<P>>;', 'takeNext: u32;', 'putNext: u32;'), errors: [
    ['|takeNext', 'S.takeNext: its accessor takeNext collides with the accessor of field next'],
    ['|putNext', 'S.putNext: its accessor putNext collides with the accessor of field next']] },
], [
  // Field names that would collide under another naming rule (lower-case setters, no Offset…).
  { rule: 'fields next to the accessors of other kinds of field', src: struct('len: u32;', 'setlen: u32;', 'lenOffset: u32;', 'takeLen: u32;', 'body: Bytes<4>;', 'setBody: u32;', 'takeBody: u32;', 'next: Option<RRef<P>>;', 'setNext: u32;', 'nextOffset: u32;', 'flag: boolean;', 'typeid: u8;') },
]);

// ---- Copy records ------------------------------------------------------------------------

table('Copy records', [
  { rule: 'a method in a Copy record', src: copy('readonly n: u32;', 'f(): u32;'), errors: [['|f(): u32', 'R: Copy records have fields only']] },
  { rule: 'an untyped Copy field', src: copy('readonly n;'), errors: [['|readonly n;', 'R: Copy records have fields only']] },
  { rule: 'a quoted Copy field name', src: copy('\'n\': u32;'), errors: [['|\'n\'', 'member names must be plain identifiers']] },
  { rule: 'a Copy field with a modifier other than readonly', src: copy('public n: u32;'), errors: [['|public', 'R.n: Copy record fields must be readonly (a mutable object is not exchangeable)']] },
  { rule: 'an optional Copy field', src: copy('readonly n?: u32;'), errors: [['|readonly n?', 'R.n: optional fields are not supported: use Option<T>']] },
  { rule: 'a string in a Copy record', src: copy('readonly s: string;'), errors: [['s: |string', 'Copy records hold scalars only']] },
  { rule: 'an Option<string> in a Copy record', src: copy('readonly s: Option<string>;'), errors: [['Option<|string', 'Copy records hold scalars only']] },
  { rule: 'an RRef in a Copy record', src: copy('readonly p: RRef<P>;'), errors: [['p: |RRef', 'Copy records hold scalars only: put RRefs in a Struct']] },
  { rule: 'a Copy record in a Copy record', src: copy('readonly c: C;'), errors: [['c: |C', 'Copy records hold scalars only']] },
  { rule: 'an Interface in a Copy record', src: copy('readonly i: I;'), errors: [['i: |I', 'Copy records hold scalars only']] },
], [
  { rule: 'readonly scalars, booleans and Options of scalars, readonly among other modifiers', src: copy('readonly a: u8;', 'readonly b: Option<i64>;', 'readonly c: boolean;', 'public readonly d: f64;') },
]);

// ---- type aliases ------------------------------------------------------------------------

table('type aliases', [
  { rule: 'an alias of number', src: 'export type A = number;\n', errors: [['= |number', 'number is ambiguous: use u8, u16, u32, i8, i16, i32 or f64']] },
  { rule: 'an alias of an unknown name', src: 'export type A = Date;\n', errors: [['= |Date', 'unknown type Date: not declared in the IDL']] },
  { rule: 'an alias of void', src: 'export type A = void;\n', errors: [['= |void', 'void is only a result type']] },
  { rule: 'an alias of a container of an unknown type', src: 'export type A = RRefArray<Date, 4>;\n', errors: [['<|Date', 'unknown type Date: not declared in the IDL']] },
  { rule: 'an alias of a deque of a scalar', src: 'export type A = RRefDeque<u16, 4>;\n', errors: [['<|u16', 'u16 cannot live in the exchange heap on its own: use a Struct, Bytes<N>, RRefArray or RRefDeque']] },
  { rule: 'an alias of Bytes<0>', src: 'export type A = Bytes<0>;\n', errors: [['<|0>', 'Bytes<N>: N must be an integer from 1 to 16777216']] },
], [
  { rule: 'aliases of string, boolean, scalars, vocabulary, declarations and containers', src: `${DECLS}export type A = string;\nexport type B = boolean;\nexport type N = u32;\nexport type Q = P;\nexport type O = Option<u8>;\nexport type K = Bytes<4>;\nexport type L = RRefArray<P, 2>;\nexport type D = RRefDeque<K, 2>;\n` },
]);

test('an unused container alias is checked once the declarations are clean', () => {
  // Container aliases are checked in a second pass, over a clean model: while other errors are
  // reported, theirs are not.
  const alias = 'export type A = Bytes<0>;\n';
  checkBad({ rule: 'two errors', src: `${param('number')}${alias}`, errors: [['f(a: |number', 'number is ambiguous: use u8, u16, u32, i8, i16, i32 or f64']] });
  checkBad({ rule: 'one error', src: `${param('u32')}${alias}`, errors: [['<|0>', 'Bytes<N>: N must be an integer from 1 to 16777216']] });
});

// ---- no follow-on diagnostics -----------------------------------------------------------

// A member with an error is left out of the model, so it causes no further diagnostics: its
// accessors take no names, and it is no overload of a method of the same name.
table('follow-on', [
  { rule: 'a Bytes<0> field, and a field named like its accessor', src: struct('body: Bytes<0>;', 'bodyOffset: u32;'), errors: [['Bytes<|0>', 'Bytes<N>: N must be an integer from 1 to 16777216']] },
  { rule: 'a child RRefArray<P, 0> field, and a field named like its accessor', src: struct('next: Option<RRef<RRefArray<P, 0>>>;', 'takeNext: u32;'), errors: [['P, |0', 'RRefArray<T, N>: N must be an integer from 1 to 65536']] },
  { rule: 'a child field of an unknown type, and a field named like its accessor', src: struct('next: Option<RRef<Date>>;', 'takeNext: u32;'), errors: [['<|Date', 'unknown type Date: not declared in the IDL']] },
  { rule: 'a method with a bad parameter, and another of the same name', src: iface('f(a: number): RpcResult<void>;', 'f(): RpcResult<void>;'), errors: [['f(a: |number', 'number is ambiguous: use u8, u16, u32, i8, i16, i32 or f64']] },
  { rule: 'a method with a bad result, and another of the same name', src: iface('f(): RpcResult<number>;', 'f(a: u32): RpcResult<void>;'), errors: [['RpcResult<|number', 'number is ambiguous: use u8, u16, u32, i8, i16, i32 or f64']] },
], []);

// ---- generated code: loading -------------------------------------------------------------

interface Generated {
  types: { TYPES: { name: string }[]; FINGERPRINTS: Record<string, string> };
  structs: Record<string, any>;
  proxies: { IFACES: Record<string, { name: string; methods: string[]; make: (rt: object, link: object) => Record<string, (...a: unknown[]) => unknown> }> };
  shadows: Record<string, (s: object) => Record<string, (...a: unknown[]) => unknown>>;
}

/** Compiles `text` as <dir>/src/idl/svc.ts, writes the four generated modules and imports them. */
async function generate(text: string): Promise<Generated> {
  const root = join(TMP, `gen${++serial}`);
  mkdirSync(join(root, 'src/idl'), { recursive: true });
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(join(root, 'src/idl/svc.ts'), text);
  const files = compile([join(root, 'src/idl/svc.ts')], root);
  const out = join(root, 'src/idl/generated');
  mkdirSync(out);
  for (const [name, t] of files) writeFileSync(join(out, name), t);
  const load = (name: string) => import(pathToFileURL(join(out, name)).href);
  return { types: await load('types.ts'), structs: await load('structs.ts'), proxies: await load('proxies.ts'), shadows: await load('shadows.ts') };
}

// ---- generated code: proxies -------------------------------------------------------------

const SCALAR_CASES: { t: string; ok: unknown[]; bad: unknown[] }[] = [
  { t: 'u8', ok: [0, 255], bad: [256, -1, 1.5, '1', null] },
  { t: 'u16', ok: [0, 65535], bad: [65536, -1, 0.5] },
  { t: 'u32', ok: [0, 2 ** 32 - 1], bad: [2 ** 32, -1, 0.5] },
  { t: 'i8', ok: [-128, 127, 0], bad: [128, -129, 0.5, 1n] },
  { t: 'i16', ok: [-32768, 32767], bad: [32768, -32769, 0.5] },
  { t: 'i32', ok: [-(2 ** 31), 2 ** 31 - 1], bad: [2 ** 31, -(2 ** 31) - 1, 0.5] },
  { t: 'f64', ok: [0.5, -1e300, Number.NaN], bad: [1n, '0'] },
  { t: 'u64', ok: [0n, 2n ** 64n - 1n], bad: [2n ** 64n, -1n, 1] },
  { t: 'i64', ok: [-(2n ** 63n), 2n ** 63n - 1n], bad: [2n ** 63n, -(2n ** 63n) - 1n, 1] },
  { t: 'bool', ok: [true, false], bad: [1, null] },
  { t: 'boolean', ok: [true, false], bad: [0, 'true'] },
  { t: 'string', ok: ['', 'x'], bad: [1, null] },
];

const SVC = `export interface P extends Struct {
  len: u32;
}
export interface Rec extends Copy {
  readonly a: u8;
  readonly b: Option<i16>;
}
export interface Svc extends Interface {
${SCALAR_CASES.map(({ t }) => `  ${t}(a: ${t}): RpcResult<void>;\n  opt${t}(a: Option<${t}>): RpcResult<void>;\n  ret${t}(): RpcResult<${t}>;\n`).join('')}
  rec(a: Rec): RpcResult<Rec>;
  move1(a: Option<RRef<P>>): RpcResult<void>;
  move2(a: Option<RRef<P>>, b: RRef<P>): RpcResult<void>;
  moveLend(a: RRef<P>, b: Borrow<P>): RpcResult<void>;
  lendMove(a: Borrow<P>, b: RRef<P>): RpcResult<void>;
  lend2(a: Borrow<P>, b: Borrow<P>): RpcResult<void>;
  plainAsync(a: u32): Promise<RpcResult<u32>>;
  lendAsync(a: Borrow<P>): Promise<RpcResult<void>>;
}
`;

let svc: Promise<Generated> | undefined;
const svcGenerated = (): Promise<Generated> => (svc ??= generate(SVC));

/**
 * A proxy for Svc over a recording runtime. Handles are positive numbers; a check returns the
 * handle as its slot, a move adds 100 and a borrow 200; anything else is not a handle. The callee
 * records its calls and returns `results[method]` (default: an ok result with no value).
 */
async function connect(results: Record<string, unknown> = {}, state = 0) {
  const { proxies } = await svcGenerated();
  const log: string[] = [];
  const handle = (h: unknown): h is number => typeof h === 'number' && h > 0;
  const fail = (kind: string) => ({ ok: false, error: { kind } });
  const rt = {
    BAD: Symbol('BAD'),
    depth: 0,
    refused: () => { log.push('refused'); return fail('dead'); },
    invalid: (_l: unknown, m: string, what: string, want: string) => { log.push(`invalid ${m} ${what}: ${want}`); return fail('invalid-argument'); },
    notOk: (_l: unknown, m: string, ok: unknown, _r: unknown, want: string) => { log.push(`notOk ${m} ${String(ok)} ${want}`); return fail('bad-return'); },
    fault: (_l: unknown, m: string) => { log.push(`fault ${m}`); return fail('crashed'); },
    enter: () => { log.push('enter'); return rt.depth++; },
    returned: () => { log.push('returned'); },
    checkMove: (_from: number, h: unknown, t: number) => { log.push(`checkMove ${String(h)} as ${t}`); return handle(h) ? h : -1; },
    moveChecked: (s: number) => { log.push(`moveChecked ${s}`); return s + 100; },
    heap: { moveAs: (_from: number, h: unknown, t: number) => { log.push(`moveAs ${String(h)} as ${t}`); return handle(h) ? h + 100 : 0; } },
    checkBorrow: (_from: number, h: unknown, t: number, k: number) => { log.push(`checkBorrow ${String(h)} as ${t} #${k}`); return handle(h) ? h : -1; },
    borrowChecked: (s: number) => { log.push(`borrowChecked ${s}`); return s + 200; },
    unborrow: (h: number) => { log.push(`unborrow ${h}`); },
    wrap: () => assert.fail('no interface crosses in these tests'),
    track: (l: unknown, m: string, p: unknown, ret: (rt: unknown, l: unknown, r: unknown) => unknown, done: unknown) => {
      log.push(`track ${m} done=${done === null ? 'null' : typeof done}`);
      return Promise.resolve(p).then((r) => { const out = ret(rt, l, r); if (typeof done === 'function') done(); return out; });
    },
  };
  const calls: unknown[][] = [];
  const impl = new Proxy({}, {
    get: (_t, name: string) => (...args: unknown[]) => {
      calls.push([name, ...args]);
      log.push(`call ${name}`);
      const r = name in results ? results[name] : { ok: true, value: undefined };
      return name.endsWith('Async') ? Promise.resolve(r) : r;
    },
  });
  const link = { state, impl, caller: 1, callee: 2 };
  return { proxy: proxies.IFACES.Svc!.make(rt, link), log, calls, link };
}

test('generated proxies pass every valid scalar and refuse every invalid one, before the callee runs', async () => {
  for (const { t, ok, bad } of SCALAR_CASES) {
    for (const v of ok) {
      const { proxy, calls } = await connect();
      assert.deepEqual(proxy[t]!(v), { ok: true, value: undefined }, `${t}(${String(v)})`);
      assert.deepEqual(calls, [[t, v]]);
      const o = await connect();
      assert.deepEqual(o.proxy[`opt${t}`]!(v), { ok: true, value: undefined }, `opt${t}(${String(v)})`);
      assert.deepEqual(o.calls, [[`opt${t}`, v]]);
      const r = await connect({ [`ret${t}`]: { ok: true, value: v } });
      assert.deepEqual(r.proxy[`ret${t}`]!(), { ok: true, value: v }, `ret${t} -> ${String(v)}`);
    }
    for (const v of bad) {
      const { proxy, calls, log } = await connect();
      assert.deepEqual(proxy[t]!(v), { ok: false, error: { kind: 'invalid-argument' } }, `${t}(${String(v)})`);
      assert.deepEqual(log, [`invalid Svc.${t} a: ${t === 'boolean' ? 'bool' : t}`]);
      assert.deepEqual(calls, []);
      if (v !== null) {
        const o = await connect();
        assert.deepEqual(o.proxy[`opt${t}`]!(v), { ok: false, error: { kind: 'invalid-argument' } }, `opt${t}(${String(v)})`);
        assert.deepEqual(o.calls, []);
      }
      const r = await connect({ [`ret${t}`]: { ok: true, value: v } });
      assert.deepEqual(r.proxy[`ret${t}`]!(), { ok: false, error: { kind: 'bad-return' } }, `ret${t} -> ${String(v)}`);
      assert.deepEqual(r.log, ['enter', `call ret${t}`, `notOk Svc.ret${t} true ${t === 'boolean' ? 'bool' : t}`]);
    }
    // An Option is null or a valid value; undefined is neither.
    const n = await connect();
    assert.deepEqual(n.proxy[`opt${t}`]!(null), { ok: true, value: undefined });
    assert.deepEqual(n.calls, [[`opt${t}`, null]]);
    const u = await connect();
    assert.deepEqual(u.proxy[`opt${t}`]!(undefined), { ok: false, error: { kind: 'invalid-argument' } });
  }
});

test('a generated proxy copies a Copy record field by field, checking each', async () => {
  const good = await connect({ rec: { ok: true, value: { a: 0, b: -32768 } } });
  assert.deepEqual(good.proxy.rec!({ a: 255, b: null, c: 'dropped' }), { ok: true, value: { a: 0, b: -32768 } });
  const [[, passed]] = good.calls as [[string, object]];
  assert.deepEqual(passed, { a: 255, b: null });
  assert.ok(Object.isFrozen(passed));
  for (const bad of [{ a: 256, b: null }, { a: 1, b: 32768 }, { a: 1 }, null, 7]) {
    const { proxy, calls } = await connect();
    assert.deepEqual(proxy.rec!(bad), { ok: false, error: { kind: 'invalid-argument' } }, JSON.stringify(bad));
    assert.deepEqual(calls, []);
  }
});

test('a lone Option<RRef> is moved in one step, after the link is checked live', async () => {
  let c = await connect();
  c.proxy.move1!(5);
  assert.deepEqual(c.log, ['moveAs 5 as 0', 'enter', 'call move1']);
  assert.deepEqual(c.calls, [['move1', 105]]);
  c = await connect();
  c.proxy.move1!(null);
  assert.deepEqual(c.log, ['enter', 'call move1']);
  assert.deepEqual(c.calls, [['move1', null]]);
  c = await connect();
  assert.deepEqual(c.proxy.move1!(0), { ok: false, error: { kind: 'invalid-argument' } });
  assert.deepEqual(c.log, ['moveAs 0 as 0', 'invalid Svc.move1 a: Option<RRef<P>>']);
  // A dead link: nothing is moved (the handle stays with the caller).
  c = await connect({}, 1);
  assert.deepEqual(c.proxy.move1!(5), { ok: false, error: { kind: 'dead' } });
  assert.deepEqual(c.log, ['refused']);
});

test('several moved handles are all checked before any moves; a null Option<RRef> is not checked', async () => {
  let c = await connect();
  c.proxy.move2!(5, 6);
  assert.deepEqual(c.log, ['checkMove 5 as 0', 'checkMove 6 as 0', 'moveChecked 5', 'moveChecked 6', 'enter', 'call move2']);
  assert.deepEqual(c.calls, [['move2', 105, 106]]);
  c = await connect();
  c.proxy.move2!(null, 6);
  assert.deepEqual(c.log, ['checkMove 6 as 0', 'moveChecked 6', 'enter', 'call move2']);
  assert.deepEqual(c.calls, [['move2', null, 106]]);
  c = await connect();
  c.proxy.move2!(5, 0);
  assert.deepEqual(c.log, ['checkMove 5 as 0', 'checkMove 0 as 0', 'invalid Svc.move2 b: RRef<P>']);
  c = await connect();
  c.proxy.move2!(5, 5);
  assert.deepEqual(c.log, ['checkMove 5 as 0', 'checkMove 5 as 0', 'invalid Svc.move2 b: RRef<P> other than a']);
  c = await connect({}, 1);
  c.proxy.move2!(5, 6);
  assert.deepEqual(c.log, ['checkMove 5 as 0', 'checkMove 6 as 0', 'refused']);
});

test('a handle may be lent twice in one call, but not moved and lent', async () => {
  let c = await connect();
  c.proxy.moveLend!(5, 6);
  assert.deepEqual(c.log, ['checkBorrow 6 as 0 #0', 'moveAs 5 as 0', 'borrowChecked 6', 'enter', 'call moveLend', 'unborrow 206']);
  assert.deepEqual(c.calls, [['moveLend', 105, 206]]);
  c = await connect();
  c.proxy.moveLend!(5, 5);
  assert.deepEqual(c.log, ['checkBorrow 5 as 0 #0', 'invalid Svc.moveLend b: Borrow<P> other than a']);
  c = await connect();
  c.proxy.lendMove!(5, 5);
  assert.deepEqual(c.log, ['checkBorrow 5 as 0 #0', 'invalid Svc.lendMove b: RRef<P> other than a']);
  c = await connect();
  c.proxy.lend2!(5, 5);
  assert.deepEqual(c.log, ['checkBorrow 5 as 0 #0', 'checkBorrow 5 as 0 #1', 'borrowChecked 5', 'borrowChecked 5', 'enter', 'call lend2', 'unborrow 205', 'unborrow 205']);
  assert.deepEqual(c.calls, [['lend2', 205, 205]]);
});

test('an async call hands the runtime its unborrows to run when it settles, or null', async () => {
  let c = await connect({ plainAsync: { ok: true, value: 7 } });
  assert.deepEqual(await c.proxy.plainAsync!(3), { ok: true, value: 7 });
  assert.deepEqual(c.log, ['enter', 'call plainAsync', 'track Svc.plainAsync done=null']);
  c = await connect();
  const p = c.proxy.lendAsync!(5);
  assert.deepEqual(c.log, ['checkBorrow 5 as 0 #0', 'borrowChecked 5', 'enter', 'call lendAsync', 'track Svc.lendAsync done=function']);
  assert.deepEqual(await p, { ok: true, value: undefined });
  assert.equal(c.log.at(-1), 'unborrow 205');
});

// ---- generated code: shadows -------------------------------------------------------------

test('a shadow retries a failed call unless it moved an RRef (an Option<RRef> included)', async () => {
  const { shadows } = await svcGenerated();
  const E = { kind: 'crashed', domain: 'd', message: 'm' };
  const attempts = async (method: string, arg: unknown): Promise<{ result: unknown; calls: number; recovers: unknown[][] }> => {
    let calls = 0;
    const recovers: unknown[][] = [];
    const target = { [method]: () => (++calls === 1 ? { ok: false, error: E } : { ok: true, value: undefined }) };
    const s = { target, recover: (...a: unknown[]) => { recovers.push(a); return true; } };
    const result = await shadows.shadowSvc!(s)[method]!(arg);
    return { result, calls, recovers };
  };
  for (const m of ['u32', 'optu8', 'lend2']) {
    assert.deepEqual(await attempts(m, 1), { result: { ok: true, value: undefined }, calls: 2, recovers: [[E, 0]] }, m);
  }
  for (const m of ['move1', 'moveLend']) {
    assert.deepEqual(await attempts(m, 1), { result: { ok: false, error: E }, calls: 1, recovers: [[E]] }, m);
  }
});

// ---- generated code: structs and the type table ------------------------------------------

test('struct accessors read and write each field at its offset, as its type', async () => {
  const { structs, types } = await generate(`export interface L extends Struct {
  a: u8;
  b: u16;
  c: bool;
  d: boolean;
  e: i8;
  f: i16;
  g: u32;
  h: i32;
  i: f64;
  j: u64;
  k: i64;
  m: Bytes<3>;
  n: Option<RRef<L>>;
}
`);
  assert.deepEqual(types.TYPES, [{ id: 0, name: 'L', kind: 'struct', meta: 0, children: [0], data: 56 }]);
  const log: unknown[][] = [];
  structs.bindHeap(new Proxy({}, { get: (_t, op: string) => (...args: unknown[]) => { log.push([op, ...args]); return 1; } }));
  const L = structs.L;
  const fields: [string, string, number][] = [['a', 'u8', 0], ['b', 'u16', 2], ['e', 'i8', 6], ['f', 'i16', 8], ['g', 'u32', 12], ['h', 'i32', 16], ['i', 'f64', 24], ['j', 'u64', 32], ['k', 'i64', 40]];
  for (const [f, op, at] of fields) {
    log.length = 0;
    assert.equal(L[f](9), 1);
    L[`set${f.toUpperCase()}`](9, 2);
    assert.deepEqual(log, [[op, 9, at], [`set${op[0]!.toUpperCase()}${op.slice(1)}`, 9, at, 2]], f);
  }
  for (const [f, at] of [['c', 4], ['d', 5]] as const) {
    log.length = 0;
    assert.equal(L[f](9), true);
    L[`set${f.toUpperCase()}`](9, false);
    assert.deepEqual(log, [['u8', 9, at], ['setU8', 9, at, 0]], f);
  }
  assert.deepEqual([L.mOffset, L.mLength], [48, 3]);
  log.length = 0;
  L.takeN(9);
  assert.deepEqual(log, [['take', 9, 0]]);
});

test('the type table lists every exchange type reachable from the IDL, with layouts and children', async () => {
  const files = accept(`export interface P extends Struct {
  a: u8;
}
export interface Q extends Struct {
  p: Option<RRef<P>>;
  b: Option<RRef<Bytes<5>>>;
}
export interface Five extends Struct {
  k1: Option<RRef<P>>;
  k2: Option<RRef<P>>;
  k3: Option<RRef<P>>;
  k4: Option<RRef<P>>;
  k5: Option<RRef<P>>;
}
export interface Mixed extends Struct {
  k1: Option<RRef<P>>;
  k2: Option<RRef<P>>;
  k3: Option<RRef<P>>;
  k4: Option<RRef<P>>;
  k5: Option<RRef<Q>>;
}
export type A4 = RRefArray<P, 4>;
export type A5 = RRefArray<P, 5>;
export type Buf = Bytes<7>;
export type N = u32;
export interface Svc extends Interface {
  a(x: RRef<Bytes<1>>): RpcResult<void>;
  b(x: Borrow<Bytes<2>>): RpcResult<void>;
  c(x: Option<RRef<Bytes<3>>>): RpcResult<void>;
  d(): RpcResult<RRef<Bytes<4>>>;
  e(x: RRef<RRefArray<Bytes<6>, 2>>): RpcResult<void>;
  f(x: RRef<RRefDeque<Bytes<8>, 3>>): RpcResult<void>;
}
`);
  const rows = files.get('types.ts')!.split('\n').filter((l) => l.startsWith('  { id:'));
  const bytes = (n: number) => `  { id: ${n - 1}, name: 'Bytes<${n}>', kind: 'bytes', meta: 0, children: [], data: ${n} },`;
  assert.deepEqual(rows, [
    ...[1, 2, 3, 4, 5, 6, 7, 8].map(bytes),
    `  { id: 8, name: 'Five', kind: 'struct', meta: 0, children: Array(5).fill(10), data: 0 },`,
    `  { id: 9, name: 'Mixed', kind: 'struct', meta: 0, children: [10, 10, 10, 10, 11], data: 0 },`,
    `  { id: 10, name: 'P', kind: 'struct', meta: 0, children: [], data: 1 },`,
    `  { id: 11, name: 'Q', kind: 'struct', meta: 0, children: [10, 4], data: 0 },`,
    `  { id: 12, name: 'RRefArray<Bytes<6>, 2>', kind: 'array', meta: 0, children: [5, 5], data: 0 },`,
    `  { id: 13, name: 'RRefArray<P, 4>', kind: 'array', meta: 0, children: [10, 10, 10, 10], data: 0 },`,
    `  { id: 14, name: 'RRefArray<P, 5>', kind: 'array', meta: 0, children: Array(5).fill(10), data: 0 },`,
    `  { id: 15, name: 'RRefDeque<Bytes<8>, 3>', kind: 'deque', meta: 8, children: [7, 7, 7], data: 0 },`,
  ]);
});

test('generated code lists declarations by name, and imports them by relative path', () => {
  const root = join(TMP, `order${++serial}`);
  mkdirSync(join(root, 'src/idl/generated/sub'), { recursive: true });
  // Declared out of order; the second file sits below the output directory.
  writeFileSync(join(root, 'src/idl/zoo.ts'), ['Zeta', 'Mu', 'Alpha'].map((n) => `export interface ${n} extends Struct {\n  n: u8;\n}\nexport interface ${n}Svc extends Interface {\n  f(): RpcResult<void>;\n}\n`).join(''));
  writeFileSync(join(root, 'src/idl/generated/sub/near.ts'), 'export interface Near extends Struct {\n  n: u8;\n}\nexport interface NearSvc extends Interface {\n  f(): RpcResult<void>;\n}\n');
  const files = compile([join(root, 'src/idl/zoo.ts'), join(root, 'src/idl/generated/sub/near.ts')], root);
  const imports = (name: string) => files.get(name)!.split('\n').filter((l) => l.startsWith('import type {') && !l.includes('/lib/'));
  assert.deepEqual(imports('structs.ts'), [
    `import type { Alpha as Alpha$, Mu as Mu$, Zeta as Zeta$ } from '../zoo.ts';`,
    `import type { Near as Near$ } from './sub/near.ts';`,
  ]);
  assert.deepEqual(imports('shadows.ts'), [
    `import type { AlphaSvc, MuSvc, ZetaSvc } from '../zoo.ts';`,
    `import type { NearSvc } from './sub/near.ts';`,
  ]);
});

// ---- runIdlc and idlFiles ----------------------------------------------------------------

test('idlFiles lists the .ts files of src/idl in JavaScript string order', () => {
  const root = join(TMP, `files${++serial}`);
  mkdirSync(join(root, 'src/idl/lib'), { recursive: true });
  // libuv lists a directory in byte (UTF-8) order, which differs from JavaScript's UTF-16 order
  // for characters above U+FFFF: sorting is idlc's own, so the output is the same on every system.
  for (const f of ['ｚ.ts', '😀.ts', 'b.ts', 'a.ts', 'notes.md']) writeFileSync(join(root, 'src/idl', f), '');
  assert.deepEqual(idlFiles(root), ['a.ts', 'b.ts', '😀.ts', 'ｚ.ts'].map((f) => join(root, 'src/idl', f)));
});

test('runIdlc writes the generated files (creating the output directory), then reports nothing to do', () => {
  const file = join(TMP, idlFile(param('u32')));
  const out = join(TMP, `out${++serial}`, 'a', 'b');
  const names = ['types.ts', 'structs.ts', 'proxies.ts', 'shadows.ts'];
  // --check on a missing output: everything is stale, and nothing is written.
  assert.deepEqual(runIdlc(TMP, { files: [file], out, check: true }).changed, names.map((n) => join(out, n)));
  assert.equal(existsSync(out), false);
  const first = runIdlc(TMP, { files: [file], out });
  assert.deepEqual(first.changed, names.map((n) => join(out, n)));
  assert.deepEqual(readdirSync(out).sort(), [...names].sort());
  for (const n of names) assert.equal(readFileSync(join(out, n), 'utf8'), first.files.get(n));
  assert.deepEqual(runIdlc(TMP, { files: [file], out }).changed, []);
  assert.deepEqual(runIdlc(TMP, { files: [file], out, check: true }).changed, []);
  // One stale file: --check reports it and leaves it alone; a run rewrites only it.
  writeFileSync(join(out, 'shadows.ts'), 'stale\n');
  assert.deepEqual(runIdlc(TMP, { files: [file], out, check: true }).changed, [join(out, 'shadows.ts')]);
  assert.equal(readFileSync(join(out, 'shadows.ts'), 'utf8'), 'stale\n');
  assert.deepEqual(runIdlc(TMP, { files: [file], out }).changed, [join(out, 'shadows.ts')]);
  assert.equal(readFileSync(join(out, 'shadows.ts'), 'utf8'), first.files.get('shadows.ts'));
});

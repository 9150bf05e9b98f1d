// idlc front end: reads IDL files with the TypeScript compiler API and checks exchangeability.
//
// The check is syntactic and closed-world: a type is accepted only if it is one of the forms in
// idl/types.ts, or names a declaration in the IDL files that is itself accepted. Every rejection
// is reported as `path:line:col: message`; the parser collects them all before failing.
import ts from 'typescript';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import {
  SCALARS, exName, IdlError,
  type CopyDef, type ExType, type Field, type FieldType, type Iface, type Method, type Model,
  type Scalar, type StructDef, type TypeRef,
} from './model.ts';

type Decl =
  | { kind: 'iface' | 'struct' | 'copy'; node: ts.InterfaceDeclaration; file: string }
  | { kind: 'alias'; node: ts.TypeAliasDeclaration; file: string };

const MARKERS = { Interface: 'iface', Struct: 'struct', Copy: 'copy' } as const;
/** Names idl/types.ts defines; IDL files may use them but not redefine them. */
const VOCABULARY = new Set<string>([
  ...SCALARS, 'RRef', 'Borrow', 'Ref', 'Option', 'Bytes', 'RRefArray', 'RRefDeque',
  'Interface', 'Struct', 'Copy', 'RpcResult', 'RpcError', 'RpcErrorKind',
]);
const MAX_BYTES = 1 << 24;
const MAX_CONTAINER = 1 << 16;

export function parseIdl(files: string[], root: string): Model {
  const errors: string[] = [];
  const decls = new Map<string, Decl>();
  const read = (f: string): ts.SourceFile | undefined => {
    try {
      return ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    } catch { return undefined; }
  };

  const at = (node: ts.Node, msg: string): void => {
    const sf = node.getSourceFile();
    const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    errors.push(`${relative(root, sf.fileName)}:${line + 1}:${character + 1}: ${msg}`);
  };

  for (const f of files) {
    const sf = read(f);
    if (!sf) { errors.push(`${relative(root, f)}:1:1: cannot read file`); continue; }
    const syntax = (sf as unknown as { parseDiagnostics: ts.DiagnosticWithLocation[] }).parseDiagnostics;
    for (const d of syntax) {
      const { line, character } = sf.getLineAndCharacterOfPosition(d.start ?? 0);
      errors.push(`${relative(root, f)}:${line + 1}:${character + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
    }
    for (const st of sf.statements) collect(st, relative(root, f));
  }

  function collect(st: ts.Statement, file: string): void {
    if (ts.isImportDeclaration(st)) {
      if (!st.importClause?.isTypeOnly) at(st, 'IDL files may only use `import type`');
      return;
    }
    if (ts.isInterfaceDeclaration(st)) {
      const marker = st.heritageClauses?.flatMap((h) => h.types).map((t) => t.expression.getText());
      const kinds = (marker ?? []).filter((m): m is keyof typeof MARKERS => m in MARKERS);
      if (kinds.length !== 1 || marker!.length !== 1) {
        at(st.name, `interface ${st.name.text} must extend exactly one of Interface, Struct or Copy`);
        return;
      }
      if (st.typeParameters) at(st.typeParameters[0], `${st.name.text}: generic declarations are not exchangeable`);
      declare(st.name, { kind: MARKERS[kinds[0]], node: st, file });
      return;
    }
    if (ts.isTypeAliasDeclaration(st)) {
      if (st.typeParameters) at(st.typeParameters[0], `${st.name.text}: generic type aliases are not exchangeable`);
      declare(st.name, { kind: 'alias', node: st, file });
      return;
    }
    if (ts.isClassDeclaration(st)) { at(st, 'classes are not exchangeable: declare an interface extending Struct, Copy or Interface'); return; }
    if (ts.isFunctionDeclaration(st)) { at(st, 'functions are not exchangeable: IDL files declare types only'); return; }
    if (ts.isEnumDeclaration(st)) { at(st, 'enums are not supported: use u32 constants documented in the interface'); return; }
    if (ts.isExportDeclaration(st)) return;
    at(st, 'IDL files may contain only type-only imports, interfaces and type aliases');
  }

  function declare(name: ts.Identifier, d: Decl): void {
    if (VOCABULARY.has(name.text)) { at(name, `${name.text} is part of the IDL vocabulary and cannot be redeclared`); return; }
    if (decls.has(name.text)) { at(name, `${name.text} is declared twice`); return; }
    decls.set(name.text, d);
  }

  // ---- resolution ------------------------------------------------------------------------

  const resolving = new Set<string>();
  /** Follows type aliases to the node that finally names a type. */
  function unalias(node: ts.TypeNode): ts.TypeNode {
    while (ts.isParenthesizedTypeNode(node)) node = node.type;
    if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName)) {
      const d = decls.get(node.typeName.text);
      if (d?.kind === 'alias') {
        if (resolving.has(node.typeName.text)) { at(node, `type alias ${node.typeName.text} refers to itself`); return node; }
        resolving.add(node.typeName.text);
        try { return unalias(d.node.type); } finally { resolving.delete(node.typeName.text); }
      }
    }
    return node;
  }

  function refName(node: ts.TypeNode): string | null {
    return ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName) ? node.typeName.text : null;
  }

  function literalNumber(node: ts.TypeNode | undefined, what: string, max: number): number | null {
    if (node && ts.isLiteralTypeNode(node) && ts.isNumericLiteral(node.literal)) {
      const n = Number(node.literal.text);
      if (Number.isInteger(n) && n >= 1 && n <= max) return n;
      at(node, `${what} must be an integer from 1 to ${max}`);
      return null;
    }
    if (node) at(node, `${what} must be a numeric literal`);
    return null;
  }

  function typeArgs(node: ts.TypeReferenceNode, n: number, name: string): ts.TypeNode[] | null {
    const args = node.typeArguments ?? [];
    if (args.length !== n) { at(node, `${name} takes ${n} type argument${n === 1 ? '' : 's'}`); return null; }
    return [...args];
  }

  /** An object kind that can live in the exchange heap (the T of RRef<T>). */
  function exType(node0: ts.TypeNode): ExType | null {
    const node = unalias(node0);
    const name = refName(node);
    if (name === null) { at(node, `${node.getText()} cannot live in the exchange heap: use a Struct, Bytes<N>, RRefArray or RRefDeque`); return null; }
    const r = node as ts.TypeReferenceNode;
    if (name === 'Bytes') {
      const a = typeArgs(r, 1, 'Bytes'); if (!a) return null;
      const n = literalNumber(a[0], 'Bytes<N>: N', MAX_BYTES);
      return n === null ? null : { k: 'bytes', n };
    }
    if (name === 'RRefArray' || name === 'RRefDeque') {
      const a = typeArgs(r, 2, name); if (!a) return null;
      const elem = exType(a[0]);
      const n = literalNumber(a[1], `${name}<T, N>: N`, MAX_CONTAINER);
      if (!elem || n === null) return null;
      return { k: name === 'RRefArray' ? 'array' : 'deque', elem, n };
    }
    const d = decls.get(name);
    if (d?.kind === 'struct') {
      if (r.typeArguments) at(r, `${name} takes no type arguments`);
      return { k: 'struct', name };
    }
    if (d) at(node, `${name} is ${d.kind === 'copy' ? 'a Copy record' : 'an Interface'}, not an exchange-heap type: RRef<T> needs a Struct, Bytes<N>, RRefArray or RRefDeque`);
    else if ((SCALARS as readonly string[]).includes(name)) at(node, `${name} cannot live in the exchange heap on its own: use a Struct, Bytes<N>, RRefArray or RRefDeque`);
    else at(node, unknownMsg(name));
    return null;
  }

  function unknownMsg(name: string): string {
    if (name === 'Array' || name === 'ReadonlyArray') return 'arrays are not exchangeable: use RRefArray<T, N>, RRefDeque<T, N> or Bytes<N>';
    if (name === 'Promise') return 'Promise<T> may only wrap the RpcResult of an async method';
    if (name === 'Function') return 'functions are not exchangeable';
    if (name === 'Map' || name === 'Set' || name === 'Record' || name === 'Object') return `${name} is a mutable object and not exchangeable`;
    if (name === 'Uint8Array' || name === 'ArrayBuffer' || name === 'SharedArrayBuffer' || name === 'DataView') return `${name} is a raw buffer and not exchangeable: use RRef<Bytes<N>>`;
    return `unknown type ${name}: not declared in the IDL`;
  }

  /** A type that may appear as a parameter, a result, an Option's content or a Copy field. */
  function typeRef(node0: ts.TypeNode, where: 'param' | 'result' | 'copy' | 'option'): TypeRef | null {
    const node = unalias(node0);
    switch (node.kind) {
      case ts.SyntaxKind.StringKeyword:
        if (where === 'copy') { at(node, 'Copy records hold scalars only'); return null; }
        return { k: 'string' };
      case ts.SyntaxKind.BooleanKeyword: return { k: 'scalar', s: 'bool' };
      case ts.SyntaxKind.VoidKeyword:
        if (where !== 'result') { at(node, 'void is only a result type'); return null; }
        return { k: 'void' };
      case ts.SyntaxKind.NumberKeyword: at(node, 'number is ambiguous: use u8, u16, u32, i8, i16, i32 or f64'); return null;
      case ts.SyntaxKind.BigIntKeyword: at(node, 'bigint is ambiguous: use u64 or i64'); return null;
      case ts.SyntaxKind.AnyKeyword: at(node, 'any is not exchangeable'); return null;
      case ts.SyntaxKind.UnknownKeyword: at(node, 'unknown is not exchangeable'); return null;
      case ts.SyntaxKind.ObjectKeyword: at(node, 'object is not exchangeable'); return null;
      case ts.SyntaxKind.SymbolKeyword: at(node, 'symbols are not exchangeable'); return null;
      case ts.SyntaxKind.NeverKeyword: at(node, 'never is not a useful exchangeable type'); return null;
      case ts.SyntaxKind.UndefinedKeyword: at(node, 'use Option<T> for an absent value'); return null;
    }
    if (ts.isLiteralTypeNode(node) && node.literal.kind === ts.SyntaxKind.NullKeyword) { at(node, 'use Option<T> for an absent value'); return null; } // (TypeScript parses the type null as a literal)
    if (ts.isFunctionTypeNode(node) || ts.isConstructorTypeNode(node)) { at(node, 'functions are not exchangeable: pass an Interface instead'); return null; }
    if (ts.isTypeLiteralNode(node)) { at(node, 'object literal types are mutable objects and not exchangeable: declare a Copy record or a Struct'); return null; }
    if (ts.isArrayTypeNode(node) || ts.isTupleTypeNode(node)) { at(node, 'arrays are not exchangeable: use RRefArray<T, N>, RRefDeque<T, N> or Bytes<N>'); return null; }
    if (ts.isUnionTypeNode(node)) { at(node, 'unions are not exchangeable: use Option<T> for an optional value'); return null; }
    if (ts.isLiteralTypeNode(node) || ts.isTemplateLiteralTypeNode(node)) { at(node, 'literal types are not supported: use the scalar or string type'); return null; }
    if (ts.isTypeOperatorNode(node) || ts.isIndexedAccessTypeNode(node) || ts.isMappedTypeNode(node) || ts.isConditionalTypeNode(node) || ts.isTypeQueryNode(node)) {
      at(node, `${node.getText()}: computed types are not supported in the IDL`); return null;
    }
    const name = refName(node);
    if (name === null) { at(node, `${node.getText()} is not an exchangeable type`); return null; }
    const r = node as ts.TypeReferenceNode;
    if ((SCALARS as readonly string[]).includes(name)) return { k: 'scalar', s: name as Scalar };
    if (name === 'RRef' || name === 'Borrow') {
      const a = typeArgs(r, 1, name); if (!a) return null;
      if (name === 'Borrow' && where !== 'param') { at(node, 'Borrow<T> is only a parameter type: a borrow lasts for one call'); return null; }
      if (where === 'copy') { at(node, 'Copy records hold scalars only: put RRefs in a Struct'); return null; }
      const t = exType(a[0]);
      return t && { k: name === 'RRef' ? 'rref' : 'borrow', t };
    }
    if (name === 'Option') {
      const a = typeArgs(r, 1, 'Option'); if (!a) return null;
      if (where === 'option') { at(node, 'Option<Option<T>> is not supported'); return null; }
      const inner = typeRef(a[0], where === 'copy' ? 'copy' : 'option');
      return inner && { k: 'option', inner };
    }
    if (name === 'Bytes' || name === 'RRefArray' || name === 'RRefDeque') {
      at(node, `${name} lives in the exchange heap: pass it as RRef<${node.getText()}>`); return null;
    }
    if (name === 'RpcResult') { at(node, 'RpcResult<T> is only the result of a method'); return null; }
    const d = decls.get(name);
    if (d?.kind === 'struct') { at(node, `${name} is an exchange-heap struct: pass it as RRef<${name}> or Borrow<${name}>`); return null; }
    if (d?.kind === 'copy') {
      if (where === 'copy') { at(node, 'Copy records hold scalars only'); return null; }
      return { k: 'copy', name };
    }
    if (d?.kind === 'iface') {
      if (where === 'copy') { at(node, 'Copy records hold scalars only'); return null; }
      return { k: 'iface', name };
    }
    at(node, unknownMsg(name));
    return null;
  }

  // ---- declarations ----------------------------------------------------------------------

  function members(node: ts.InterfaceDeclaration): ts.TypeElement[] {
    return [...node.members];
  }

  function memberName(m: ts.TypeElement): string | null {
    if (m.name && ts.isIdentifier(m.name)) return m.name.text;
    at(m, 'member names must be plain identifiers');
    return null;
  }

  function method(m: ts.TypeElement, iface: string): Method | null {
    if (!ts.isMethodSignature(m)) {
      if (ts.isPropertySignature(m)) at(m, `${iface}: interfaces have methods only; a property would be shared mutable state`);
      else at(m, `${iface}: only method signatures are allowed in an Interface`);
      return null;
    }
    const name = memberName(m); if (!name) return null;
    if (m.questionToken) at(m, `${iface}.${name}: optional methods are not supported`);
    if (m.typeParameters) at(m.typeParameters[0], `${iface}.${name}: generic methods are not exchangeable`);
    const params: Method['params'] = [];
    for (const p of m.parameters) {
      const pn = ts.isIdentifier(p.name) ? p.name.text : null;
      if (!pn) { at(p, 'parameters must be plain identifiers'); continue; }
      if (p.dotDotDotToken) { at(p, `${iface}.${name}: rest parameters are not supported`); continue; }
      if (p.questionToken || p.initializer) { at(p, `${iface}.${name}: optional parameters are not supported: use Option<T>`); continue; }
      if (!p.type) { at(p, `${iface}.${name}: parameter ${pn} needs a type`); continue; }
      const t = typeRef(p.type, 'param');
      if (t) params.push({ name: pn, type: t });
    }
    if (!m.type) { at(m, `${iface}.${name}: methods must return RpcResult<T> or Promise<RpcResult<T>>`); return null; }
    let ret = unalias(m.type);
    let isAsync = false;
    if (refName(ret) === 'Promise') {
      const a = typeArgs(ret as ts.TypeReferenceNode, 1, 'Promise'); if (!a) return null;
      ret = unalias(a[0]);
      isAsync = true;
    }
    if (refName(ret) !== 'RpcResult') {
      at(m.type, `${iface}.${name}: methods must return RpcResult<T> or Promise<RpcResult<T>>, not ${m.type.getText()}`);
      return null;
    }
    const a = typeArgs(ret as ts.TypeReferenceNode, 1, 'RpcResult'); if (!a) return null;
    const rt = typeRef(a[0], 'result');
    if (!rt || params.length !== m.parameters.length) return null;
    return { name, params, ret: rt, async: isAsync };
  }

  function field(m: ts.TypeElement, struct: string): Field | null {
    if (!ts.isPropertySignature(m) || !m.type) { at(m, `${struct}: structs have typed fields only`); return null; }
    const name = memberName(m); if (!name) return null;
    if (m.questionToken) { at(m, `${struct}.${name}: optional fields are not supported: use Option<RRef<T>>`); return null; }
    const node = unalias(m.type);
    const rn = refName(node);
    let type: FieldType | null = null;
    if (node.kind === ts.SyntaxKind.BooleanKeyword) type = { k: 'scalar', s: 'bool' };
    else if (rn && (SCALARS as readonly string[]).includes(rn)) type = { k: 'scalar', s: rn as Scalar };
    else if (rn === 'Bytes') {
      const t = exType(node);
      if (t?.k === 'bytes') type = { k: 'bytes', n: t.n };
    } else if (rn === 'Option') {
      const a = typeArgs(node as ts.TypeReferenceNode, 1, 'Option');
      const inner = a && unalias(a[0]);
      if (inner && refName(inner) === 'RRef') {
        const b = typeArgs(inner as ts.TypeReferenceNode, 1, 'RRef');
        const t = b && exType(b[0]);
        if (t) type = { k: 'child', t };
      } else if (a) at(a[0], `${struct}.${name}: a struct's Option fields hold RRef<T> only`);
    } else if (rn === 'RRef') {
      at(node, `${struct}.${name}: nested RRefs are optional fields: use Option<${node.getText()}>`);
    } else if (node.kind === ts.SyntaxKind.StringKeyword) {
      at(node, `${struct}.${name}: strings have no fixed layout: use Bytes<N>`);
    } else {
      const t = typeRef(node, 'param'); // reports the precise reason
      if (t) at(node, `${struct}.${name}: ${node.getText()} cannot be a struct field: fields are scalars, Bytes<N> or Option<RRef<T>>`);
    }
    return type && { name, type };
  }

  const ifaces: Iface[] = [];
  const structs: StructDef[] = [];
  const copies: CopyDef[] = [];
  for (const [name, d] of decls) {
    if (d.kind === 'alias') {
      const target = unalias(d.node.type);
      const rn = refName(target);
      const known = rn !== null && (VOCABULARY.has(rn) || decls.has(rn));
      if (!known && target.kind !== ts.SyntaxKind.StringKeyword && target.kind !== ts.SyntaxKind.BooleanKeyword) {
        typeRef(d.node.type, 'param');
      }
      continue;
    }
    const ms = members(d.node);
    if (d.kind === 'iface') {
      const methods = ms.map((m) => method(m, name)).filter((m): m is Method => m !== null);
      checkUnique(methods.map((m) => m.name), d.node, name);
      ifaces.push({ name, file: d.file, methods });
    } else if (d.kind === 'struct') {
      const fields = ms.map((m) => field(m, name)).filter((f): f is Field => f !== null);
      if (ms.length === 0) at(d.node.name, `${name}: a struct needs at least one field`);
      checkAccessorNames(name, fields, ms);
      structs.push({ name, file: d.file, fields });
    } else {
      const fields: CopyDef['fields'] = [];
      for (const m of ms) {
        if (!ts.isPropertySignature(m) || !m.type) { at(m, `${name}: Copy records have fields only`); continue; }
        const fn = memberName(m); if (!fn) continue;
        const ro = m.modifiers?.some((x) => x.kind === ts.SyntaxKind.ReadonlyKeyword);
        if (!ro) { at(m, `${name}.${fn}: Copy record fields must be readonly (a mutable object is not exchangeable)`); continue; }
        if (m.questionToken) { at(m, `${name}.${fn}: optional fields are not supported: use Option<T>`); continue; }
        const t = typeRef(m.type, 'copy');
        if (t) fields.push({ name: fn, type: t });
      }
      copies.push({ name, file: d.file, fields });
    }
  }

  /** Generated accessor objects hold typeId/alloc/free plus per-field names: none may collide. */
  function checkAccessorNames(struct: string, fields: Field[], ms: ts.TypeElement[]): void {
    const cap = (x: string): string => x[0].toUpperCase() + x.slice(1);
    const taken = new Map<string, string>([['typeId', 'the type id'], ['alloc', 'alloc()'], ['free', 'free()']]);
    fields.forEach((f, i) => {
      const names = f.type.k === 'scalar' ? [f.name, `set${cap(f.name)}`]
        : f.type.k === 'bytes' ? [`${f.name}Offset`, `${f.name}Length`, `read${cap(f.name)}`, `write${cap(f.name)}`, `${f.name}Byte`, `set${cap(f.name)}Byte`]
          : [`take${cap(f.name)}`, `put${cap(f.name)}`];
      for (const n of names) {
        const prev = taken.get(n);
        if (prev) { at(ms[i], `${struct}.${f.name}: its accessor ${n} collides with ${prev}`); return; }
        taken.set(n, `the accessor of field ${f.name}`);
      }
    });
  }

  function checkUnique(names: string[], node: ts.InterfaceDeclaration, owner: string): void {
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) at(node.name, `${owner}: ${n} is declared twice (overloads are not supported)`);
      seen.add(n);
    }
  }

  if (errors.length) throw new IdlError(errors);

  // Every exchange type reachable from the declarations, deduplicated, in a deterministic order.
  const ex = new Map<string, ExType>();
  const addEx = (t: ExType): void => {
    if (t.k === 'array' || t.k === 'deque') addEx(t.elem);
    ex.set(exName(t), t);
  };
  const addRef = (t: TypeRef): void => {
    if (t.k === 'rref' || t.k === 'borrow') addEx(t.t);
    else if (t.k === 'option') addRef(t.inner);
  };
  for (const s of structs) {
    addEx({ k: 'struct', name: s.name });
    for (const f of s.fields) if (f.type.k === 'child') addEx(f.type.t);
  }
  for (const i of ifaces) for (const m of i.methods) { m.params.forEach((p) => addRef(p.type)); addRef(m.ret); }
  for (const d of decls.values()) {
    if (d.kind !== 'alias') continue;
    const target = unalias(d.node.type);
    if (['Bytes', 'RRefArray', 'RRefDeque'].includes(refName(target) ?? '')) {
      const t = exType(target);
      if (t) addEx(t);
    }
  }
  if (errors.length) throw new IdlError(errors);
  const exTypes = [...ex.keys()].sort().map((k) => ex.get(k)!);
  const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return { ifaces: ifaces.sort(byName), structs: structs.sort(byName), copies: copies.sort(byName), exTypes };
}

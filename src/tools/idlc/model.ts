// idlc's model of an interface definition, built by parse.ts and consumed by the emitters.
//
// Types that may appear in a method signature (TypeRef) are exchangeable by construction: the
// parser produces a TypeRef only after checking every rule, and reports anything else.

export type Scalar = 'u8' | 'u16' | 'u32' | 'i8' | 'i16' | 'i32' | 'f64' | 'u64' | 'i64' | 'bool';
export const SCALARS: readonly Scalar[] = ['u8', 'u16', 'u32', 'i8', 'i16', 'i32', 'f64', 'u64', 'i64', 'bool'];
export const SCALAR_BYTES: Record<Scalar, number> = {
  u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f64: 8, u64: 8, i64: 8,
};

/** An object kind that lives in the exchange heap. */
export type ExType =
  | { k: 'struct'; name: string }
  | { k: 'bytes'; n: number }
  | { k: 'array'; elem: ExType; n: number }
  | { k: 'deque'; elem: ExType; n: number };

export type TypeRef =
  | { k: 'scalar'; s: Scalar }
  | { k: 'string' }
  | { k: 'void' }
  | { k: 'rref'; t: ExType }
  | { k: 'borrow'; t: ExType }
  | { k: 'option'; inner: TypeRef }
  | { k: 'copy'; name: string }
  | { k: 'iface'; name: string };

export interface Param { name: string; type: TypeRef }
export interface Method { name: string; params: Param[]; ret: TypeRef; async: boolean }
export interface Iface { name: string; file: string; methods: Method[] }

export type FieldType =
  | { k: 'scalar'; s: Scalar }
  | { k: 'bytes'; n: number }
  | { k: 'child'; t: ExType };
export interface Field { name: string; type: FieldType }
export interface StructDef { name: string; file: string; fields: Field[] }
export interface CopyDef { name: string; file: string; fields: { name: string; type: TypeRef }[] }

export interface Model {
  ifaces: Iface[];
  structs: StructDef[];
  copies: CopyDef[];
  /** Every exchange type used anywhere, in type-id order. */
  exTypes: ExType[];
}

export function exName(t: ExType): string {
  switch (t.k) {
    case 'struct': return t.name;
    case 'bytes': return `Bytes<${t.n}>`;
    case 'array': return `RRefArray<${exName(t.elem)}, ${t.n}>`;
    case 'deque': return `RRefDeque<${exName(t.elem)}, ${t.n}>`;
  }
}

/** The identifier of an exchange type's accessor object in generated code. */
export function exIdent(t: ExType): string {
  switch (t.k) {
    case 'struct': return t.name;
    case 'bytes': return `Bytes${t.n}`;
    case 'array': return `Array${exIdent(t.elem)}${t.n}`;
    case 'deque': return `Deque${exIdent(t.elem)}${t.n}`;
  }
}

export function refName(t: TypeRef): string {
  switch (t.k) {
    case 'scalar': return t.s;
    case 'string': return 'string';
    case 'void': return 'void';
    case 'rref': return `RRef<${exName(t.t)}>`;
    case 'borrow': return `Borrow<${exName(t.t)}>`;
    case 'option': return `Option<${refName(t.inner)}>`;
    case 'copy': return t.name;
    case 'iface': return t.name;
  }
}

export class IdlError extends Error {
  constructor(readonly diagnostics: string[]) {
    super(diagnostics.join('\n'));
  }
}

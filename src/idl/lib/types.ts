// The vocabulary of Frond interface definitions.
//
// Every file directly in src/idl/ is an interface definition read by idlc (lib/ is support code
// and generated/ is its output). A definition file may declare:
//   - interfaces extending `Interface`: capabilities, whose methods all return RpcResult<T> or
//     Promise<RpcResult<T>>; calls to them always go through a generated proxy;
//   - interfaces extending `Struct`: fixed-layout objects that live in the exchange heap and are
//     reached through RRef<T> handles and generated accessors;
//   - interfaces extending `Copy`: small by-value records of scalars, copied field by field across
//     a boundary (every field readonly);
//   - type aliases naming one of the above or a container.
// Anything else that could carry a reference into a domain's private heap (functions, classes,
// mutable objects, any/unknown, plain arrays) is rejected by idlc with file:line:col.

export type u8 = number;
export type u16 = number;
export type u32 = number;
export type i8 = number;
export type i16 = number;
export type i32 = number;
export type f64 = number;
export type u64 = bigint;
export type i64 = bigint;
export type bool = boolean;

declare const rrefBrand: unique symbol;
declare const borrowBrand: unique symbol;

/** An owned handle (slot + generation) to an object of type T in the exchange heap. Passing it to a
 *  proxy moves it: the sender's handle becomes invalid and the receiver gets a new one. */
export type RRef<T> = number & { readonly [rrefBrand]: T; readonly [borrowBrand]: T };

/** A read-only handle the callee holds for the duration of one call; it cannot write, move, free or
 *  keep it. In an IDL method parameter, `Borrow<T>` means "lend the caller's RRef<T> immutably"
 *  (an RRef<T> carries both brands, so the caller passes its own handle). */
export type Borrow<T> = number & { readonly [borrowBrand]: T };

/** Anything an accessor can read through: an owned handle or a borrowed one. */
export type Ref<T> = RRef<T> | Borrow<T>;

export type Option<T> = T | null;

/** N bytes laid out inline in an exchange struct, or a heap object of its own (RRef<Bytes<N>>). */
export interface Bytes<N extends number> { readonly __bytes: N }
/** A fixed array of N optional owned RRefs, itself an exchange-heap object. */
export interface RRefArray<T, N extends number> { readonly __array: [T, N] }
/** A fixed-capacity FIFO of N owned RRefs, itself an exchange-heap object; batches of driver I/O. */
export interface RRefDeque<T, N extends number> { readonly __deque: [T, N] }

/** Marker: a capability interface. */
export interface Interface { readonly __interface?: never }
/** Marker: a fixed-layout exchange-heap struct. */
export interface Struct { readonly __struct?: never }
/** Marker: a by-value record of scalars. */
export interface Copy { readonly __copy?: never }

export type RpcErrorKind =
  | 'crashed'           // the callee crashed during this call
  | 'dead'              // the callee was already dead
  | 'revoked'           // the capability was revoked
  | 'invalid-argument'  // an argument was not of the declared type; the callee never ran
  | 'bad-return'        // the callee returned a value not of the declared type; it was crashed
  | 'failed';           // a domain reported failure (e.g. a shadow gave up)

export interface RpcError {
  readonly kind: RpcErrorKind;
  readonly domain: string;
  readonly message: string;
}

export type RpcResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: RpcError };

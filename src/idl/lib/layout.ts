// Exchange-heap type descriptors, shared by idlc's generated tables, the kernel and domains.
//
// Every object in the exchange heap has this layout (offsets from the object's header):
//
//   +0   header (16 bytes, little endian)   owner u32 | type id u32 | borrow count u32 | payload size u32
//   +16  meta bytes     kernel-private container state (a deque's head and count)
//   ...  child slots    4 bytes each: header offset of an owned child RRef, 0 for None
//   ...  data bytes     what accessors read and write (scalars, Bytes<N>)
//
// Meta and child slots are never reachable through data accessors, so a domain cannot forge a
// child pointer; children move in and out only through the kernel's take/put/push/pop.

export const HEADER_BYTES = 16;

export type TypeKind = 'struct' | 'bytes' | 'array' | 'deque';

export interface TypeInfo {
  readonly id: number;
  readonly name: string;
  readonly kind: TypeKind;
  /** kernel-private bytes before the child slots (8 for a deque: head, count) */
  readonly meta: number;
  /** declared type id of each child slot (struct Option<RRef<T>> fields, or N copies of T) */
  readonly children: readonly number[];
  /** bytes visible to accessors */
  readonly data: number;
}

export function payloadBytes(t: TypeInfo): number {
  return t.meta + 4 * t.children.length + t.data;
}

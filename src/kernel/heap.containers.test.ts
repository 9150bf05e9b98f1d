// The exchange heap's containers, accessors, pins, salvage and statistics, checked to the exact
// value and message at the heap's own interface:
//
//   - children: put and take (None included, a child in slot 0, wrong types, index at the
//     capacity), the size of a taken subtree (whatever its shape), nested counts;
//   - header(): the owner it reports is settled for roots and borrows alike;
//   - accessors: every signed width round-trips, little-endian; read/write/copy/fill of exactly the
//     object's size pass and one byte more is refused; lengths and byte arrays are checked;
//   - pins: nothing pinned for an empty child slot or an object without data; unpin refuses what
//     it did not pin; the last unpin restores the root (or frees it, its owner being dead);
//   - reclaim and salvage: exactly the dead domain's objects, exactly the roots that go back;
//   - stats(): exact, orphans included.
//
// Most tests use the generated type table; those about the shape of a tree use MINI below, which
// has a container with two children and a deque as a child (TYPES has neither).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExchangeHeap, HeapViolation, SLOTS } from './heap.ts';
import { TYPES } from '../idl/generated/types.ts';
import type { TypeInfo } from '../idl/lib/layout.ts';

const id = (name: string): number => TYPES.find((t) => t.name === name)!.id;
const REQ = id('BlockReq');
const PACKET = id('Packet');
const RING = id('RRefArray<Packet, 8>');
const DEQUE = id('RRefDeque<Packet, 32>');
const PAGE = id('Bytes<4096>');
const A = 1;
const B = 2;
const C = 3;
/** The slot of a handle (what pin returns first). */
const slot = (x: number): number => x & (SLOTS - 1);

/** Tree shapes TYPES lacks. Payloads: Leaf 80 (a header and 80 bytes fill a 96-byte cell exactly),
 *  Pair 16, Queue 20 (8 meta bytes, 3 child slots), Holder 12. */
const MINI: readonly TypeInfo[] = [
  { id: 0, name: 'Leaf', kind: 'struct', meta: 0, children: [], data: 80 },
  { id: 1, name: 'Pair', kind: 'struct', meta: 0, children: [0, 0], data: 8 },
  { id: 2, name: 'Queue<Leaf, 3>', kind: 'deque', meta: 8, children: [0, 0, 0], data: 0 },
  { id: 3, name: 'Holder', kind: 'struct', meta: 0, children: [1, 2], data: 4 },
];
const [LEAF, PAIR, QUEUE, HOLDER] = [0, 1, 2, 3];

function heap(types: readonly TypeInfo[] = TYPES): { h: ExchangeHeap; violations: [number, string][] } {
  const h = new ExchangeHeap(1 << 20, types);
  const violations: [number, string][] = [];
  h.onViolation = (d, e) => violations.push([d, e.message]);
  return { h, violations };
}

/** Asserts that `f` throws a HeapViolation with exactly `message`. */
function refused(f: () => unknown, message: string): void {
  assert.throws(f, (e: unknown) => e instanceof HeapViolation && e.message === message);
}

// ---- children --------------------------------------------------------------------------------

test('put None: empties a child slot and hands back what was there; into an empty slot it returns null', () => {
  const { h } = heap();
  const parent = h.allocate(A, PACKET);
  const child = h.allocate(A, PACKET);
  h.setU32(A, child, 8, 5);
  assert.equal(h.put(A, parent, 0, null), null, 'nothing there yet');
  assert.equal(h.put(A, parent, 0, child), null);
  assert.deepEqual(h.stats().nested, { objects: 1, bytes: 84 });
  const back = h.put(A, parent, 0, null)!;
  assert.equal(h.u32(A, back, 8), 5, 'the previous child, now a root of the caller');
  assert.deepEqual(h.stats().nested, { objects: 0, bytes: 0 });
  assert.equal(h.take(A, parent, 0), null, 'the slot is empty');
  assert.deepEqual(h.stats().perOwner.get(A), { objects: 2, bytes: 168 });
  assert.deepEqual(h.audit(), []);
});

test('put a child that lives in slot 0 (the first handle ever issued): it moves in like any other', () => {
  const { h } = heap();
  const child = h.allocate(A, PACKET);
  assert.equal(slot(child), 0);
  const parent = h.allocate(A, PACKET);
  assert.equal(h.put(A, parent, 0, child), null);
  assert.throws(() => h.u32(A, child, 0), /stale handle/, 'the child moved into its parent');
  assert.deepEqual(h.stats().nested, { objects: 1, bytes: 84 });
  const back = h.take(A, parent, 0);
  assert.notEqual(back, null);
  assert.deepEqual(h.header(A, back), { owner: A, typeId: PACKET, borrows: 0, size: 84 });
  assert.deepEqual(h.audit(), []);
});

test('child slots: the last index is accepted, the capacity refused; a child of the wrong type is refused and stays with its owner', () => {
  const { h, violations } = heap();
  const ring = h.allocate(A, RING);
  assert.equal(h.put(A, ring, 7, h.allocate(A, PACKET)), null);
  refused(() => h.put(A, ring, 8, h.allocate(A, PACKET)), 'exchange heap: RRefArray<Packet, 8> has no child slot 8');
  refused(() => h.take(A, ring, 8), 'exchange heap: RRefArray<Packet, 8> has no child slot 8');
  const page = h.allocate(A, PAGE);
  refused(() => h.put(A, ring, 0, page), 'exchange heap: RRefArray<Packet, 8> holds Packet here, not Bytes<4096>');
  assert.equal(h.size(A, page), 4096, 'the refused child is still its owner\'s');
  const req = h.allocate(A, REQ);
  refused(() => h.put(A, req, 0, h.allocate(A, PACKET)), 'exchange heap: BlockReq holds Bytes<4096> here, not Packet');
  assert.equal(h.put(A, req, 0, page), null, 'the declared type is accepted');
  assert.equal(violations.length, 4);
  assert.deepEqual(h.stats().nested, { objects: 2, bytes: 84 + 4096 });
  assert.deepEqual(h.audit(), []);
});

test('a deque\'s slots are changed only by push and pop: put and take by index are refused and change nothing', () => {
  // (put into slot 0 and then push used to overwrite the put child's pointer: it leaked, and the
  // freed deque's block was never handed back; take after a push left count 1 and pop null)
  const { h, violations } = heap();
  const q = h.allocate(A, DEQUE);
  const p = h.allocate(A, PACKET);
  refused(() => h.put(A, q, 0, p), 'exchange heap: RRefDeque<Packet, 32> is an RRefDeque: use push and pop');
  assert.equal(h.size(A, p), 80, 'the refused child is still its owner\'s');
  assert.equal(h.push(A, q, p), true);
  refused(() => h.take(A, q, 0), 'exchange heap: RRefDeque<Packet, 32> is an RRefDeque: use push and pop');
  assert.equal(violations.length, 2);
  assert.equal(h.count(A, q), 1);
  assert.equal(h.size(A, h.pop(A, q)!), 80);
  assert.deepEqual(h.audit(), []);
  h.free(A, q);
  assert.deepEqual(h.stats().perOwner.get(A), { objects: 1, bytes: 84 });
  assert.deepEqual(h.audit(), []);
});

test('nested counts are exact through put, push, take and pop', () => {
  const { h } = heap();
  const q = h.allocate(A, DEQUE);
  const p = h.allocate(A, PACKET);
  h.put(A, p, 0, h.allocate(A, PACKET));
  assert.deepEqual(h.stats().nested, { objects: 1, bytes: 84 });
  assert.equal(h.push(A, q, p), true);
  assert.deepEqual(h.stats().nested, { objects: 2, bytes: 168 });
  assert.equal(h.count(A, q), 1);
  const out = h.pop(A, q)!;
  assert.deepEqual(h.stats().nested, { objects: 1, bytes: 84 });
  h.take(A, out, 0);
  assert.deepEqual(h.stats().nested, { objects: 0, bytes: 0 });
  assert.deepEqual(h.stats().perOwner.get(A), { objects: 3, bytes: 136 + 84 + 84 });
  assert.deepEqual(h.audit(), []);
});

test('a child taken out of a chain takes its whole subtree: charged exactly where it goes', () => {
  const { h } = heap();
  const [p1, p2, p3] = [1, 2, 3].map(() => h.allocate(A, PACKET));
  h.put(A, p2, 0, p3);
  h.put(A, p1, 0, p2); // p1 -> p2 -> p3
  const sub = h.take(A, p1, 0)!; // p2 with p3 inside
  const moved = h.move(A, sub, B);
  assert.deepEqual(h.stats().perOwner.get(A), { objects: 1, bytes: 84 });
  assert.deepEqual(h.stats().perOwner.get(B), { objects: 2, bytes: 168 });
  assert.deepEqual(h.reclaim(B), { objects: 2, bytes: 168, deferred: 0, salvaged: 0 });
  void moved;
  assert.deepEqual(h.stats().nested, { objects: 0, bytes: 0 });
  assert.deepEqual(h.audit(), []);
});

test('a taken subtree is measured whatever its shape: two children, and a deque (meta bytes before its child slots)', () => {
  const { h } = heap(MINI);
  const holder = h.allocate(A, HOLDER);
  const pair = h.allocate(A, PAIR);
  h.put(A, pair, 0, h.allocate(A, LEAF));
  h.put(A, pair, 1, h.allocate(A, LEAF));
  const queue = h.allocate(A, QUEUE);
  assert.equal(h.push(A, queue, h.allocate(A, LEAF)), true);
  assert.equal(h.push(A, queue, h.allocate(A, LEAF)), true);
  assert.equal(h.pop(A, queue) !== null, true); // the head moves: the deque's meta bytes are not 0
  assert.equal(h.push(A, queue, h.allocate(A, LEAF)), true);
  h.put(A, holder, 0, pair);
  h.put(A, holder, 1, queue);
  const q = h.move(A, h.take(A, holder, 1)!, B);
  const p = h.move(A, h.take(A, holder, 0)!, C);
  assert.deepEqual(h.stats().perOwner.get(B), { objects: 3, bytes: 20 + 160 }, 'the deque and its two leaves');
  assert.deepEqual(h.stats().perOwner.get(C), { objects: 3, bytes: 16 + 160 }, 'the pair and both its leaves');
  assert.deepEqual(h.stats().perOwner.get(A), { objects: 2, bytes: 12 + 80 }, 'the holder, and the leaf popped');
  assert.equal(h.count(B, q), 2);
  assert.deepEqual(h.reclaim(C), { objects: 3, bytes: 176, deferred: 0, salvaged: 0 });
  assert.deepEqual(h.reclaim(B), { objects: 3, bytes: 180, deferred: 0, salvaged: 0 });
  void p;
  assert.deepEqual(h.audit(), []);
});

// ---- header ------------------------------------------------------------------------------------

test('header(): the owner is settled first, for a root and for a borrow of a root just moved', () => {
  const { h } = heap();
  h.allocate(A, PACKET); // takes slot 0, the slot a root's (unused) borrow link names
  const q = h.move(A, h.allocate(A, PACKET), B);
  assert.deepEqual(h.header(B, q), { owner: B, typeId: PACKET, borrows: 0, size: 84 });
  const r = h.move(A, h.allocate(A, PACKET), B);
  const b = h.borrow(B, r, C);
  assert.deepEqual(h.header(C, b), { owner: B, typeId: PACKET, borrows: 1, size: 84 }, 'the lender, though nothing settled the move yet');
  assert.equal(h.typeOf(C, b), PACKET);
  assert.equal(h.size(C, b), 80);
});

// ---- accessors -----------------------------------------------------------------------------------

test('signed accessors round-trip and store little-endian', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  const bytes = (off: number, n: number): number[] => Array.from({ length: n }, (_, i) => h.u8(A, p, off + i));
  h.setI8(A, p, 0, -2);
  assert.deepEqual([h.i8(A, p, 0), h.u8(A, p, 0)], [-2, 0xfe]);
  h.setI8(A, p, 1, 0x17f);
  assert.equal(h.i8(A, p, 1), 0x7f, 'wraps like an Int8Array');
  h.setI16(A, p, 2, 0x1234);
  assert.deepEqual(bytes(2, 2), [0x34, 0x12]);
  h.setI16(A, p, 4, -2);
  assert.equal(h.i16(A, p, 4), -2);
  h.setU16(A, p, 6, 0x8001);
  assert.equal(h.i16(A, p, 6), -32767);
  h.setI64(A, p, 8, 0x0102030405060708n);
  assert.deepEqual(bytes(8, 8), [8, 7, 6, 5, 4, 3, 2, 1]);
  h.setI64(A, p, 16, -2n);
  assert.equal(h.i64(A, p, 16), -2n);
  h.setU64(A, p, 24, 0xff00000000000001n);
  assert.equal(h.i64(A, p, 24), BigInt.asIntN(64, 0xff00000000000001n));
  h.setI64(A, p, 72, -1n);
  assert.equal(h.u64(A, p, 72), 0xffffffffffffffffn, 'the last 8 bytes');
});

test('stores take numbers (bigints for 64 bits) only, and write nothing otherwise', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  const wrong = (f: () => unknown, message: string): void => {
    assert.throws(f, (e: unknown) => e instanceof TypeError && e.message === message);
  };
  wrong(() => h.setU8(A, p, 0, '5' as unknown as number), 'exchange heap: expected a number, got string');
  wrong(() => h.setI16(A, p, 0, 5n as unknown as number), 'exchange heap: expected a number, got bigint');
  wrong(() => h.setI64(A, p, 0, 5 as unknown as bigint), 'exchange heap: expected a bigint, got number');
  assert.equal(h.u64(A, p, 0), 0n);
});

test('read/write/copy/fill: exactly the data region passes, one byte more is refused', () => {
  const { h, violations } = heap();
  const p = h.allocate(A, PACKET);
  const q = h.allocate(A, PACKET);
  const buf = new Uint8Array(81).fill(9);
  h.write(A, p, 0, buf, 0, 80);
  h.read(A, p, 0, buf, 1, 80);
  h.copy(A, q, 0, p, 0, 80);
  h.fill(A, q, 0, 1, 80);
  h.write(A, p, 80, buf, 0, 0); // nothing, at the very end
  const outside = (n: number, at: number): string => `exchange heap: access of ${n} bytes at ${at} is outside Packet (80 data bytes)`;
  refused(() => h.write(A, p, 0, buf, 0, 81), outside(81, 0));
  refused(() => h.write(A, p, 1, buf, 0, 80), outside(80, 1));
  refused(() => h.read(A, p, 0, buf, 0, 81), outside(81, 0));
  refused(() => h.copy(A, q, 0, p, 0, 81), outside(81, 0));
  refused(() => h.copy(A, q, 1, p, 0, 80), outside(80, 1));
  refused(() => h.copy(A, q, 0, p, 1, 80), outside(80, 1));
  refused(() => h.fill(A, q, 0, 1, 81), outside(81, 0));
  refused(() => h.fill(A, q, 80, 1, 1), outside(1, 80));
  refused(() => h.fill(A, q, 2 ** 32, 1, 0), outside(0, 4294967296));
  assert.equal(violations.length, 9);
});

test('lengths of copy and fill must be non-negative integers', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  const q = h.allocate(A, PACKET);
  for (const len of [-1, 1.5, NaN, 2 ** 32, '4', null]) {
    refused(() => h.copy(A, q, 0, p, 0, len), 'exchange heap: copy length must be a non-negative integer');
    refused(() => h.fill(A, q, 0, 1, len), 'exchange heap: fill length must be a non-negative integer');
  }
});

test('fill writes exactly its range, with the low byte of the value', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  h.fill(A, p, 10, 0x1ab, 5);
  const got = Array.from({ length: 8 }, (_, i) => h.u8(A, p, 8 + i));
  assert.deepEqual(got, [0, 0, 0xab, 0xab, 0xab, 0xab, 0xab, 0]);
  h.fill(A, p, 12, 7, 0);
  assert.equal(h.u8(A, p, 12), 0xab, 'a zero-length fill writes nothing');
});

test('byte arrays: a plain Uint8Array of any length, even 0; one with its own constructor is refused; ranges are checked', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  h.read(A, p, 0, new Uint8Array(0), 0, 0);
  h.write(A, p, 80, new Uint8Array(0), 0, 0);
  const own = new Uint8Array(4);
  Object.defineProperty(own, 'constructor', { value: Uint8Array });
  refused(() => h.read(A, p, 0, own, 0, 4), 'exchange heap: expected a plain Uint8Array (not a subclass, look-alike or Proxy)');
  refused(() => h.write(A, p, 0, own, 0, 4), 'exchange heap: expected a plain Uint8Array (not a subclass, look-alike or Proxy)');
  const four = new Uint8Array(4);
  refused(() => h.read(A, p, 0, four, 0, 5), 'exchange heap: range 0+5 is outside the Uint8Array (4 bytes)');
  refused(() => h.read(A, p, 0, four, 1, 4), 'exchange heap: range 1+4 is outside the Uint8Array (4 bytes)');
  refused(() => h.write(A, p, 0, four, -1, 1), 'exchange heap: range -1+1 is outside the Uint8Array (4 bytes)');
  refused(() => h.write(A, p, 0, four, 0, 0.5), 'exchange heap: range 0+0.5 is outside the Uint8Array (4 bytes)');
  h.read(A, p, 0, four, 0, 4);
});

// ---- pins --------------------------------------------------------------------------------------

test('pin maps nothing, and pins nothing, for an empty child slot or an object without data', () => {
  const { h } = heap();
  const req = h.allocate(A, REQ);
  assert.deepEqual(h.pin(A, req, 0), [slot(req), req, 0, 0], 'no page in the request yet');
  const q = h.allocate(A, DEQUE);
  assert.deepEqual(h.pin(A, q, -1), [slot(q), q, 0, 0], 'a deque has no data region');
  h.setU32(A, req, 0, 1); // still writable: not pinned
  assert.equal(h.push(A, q, h.allocate(A, PACKET)), true);
  const moved = h.move(A, req, B);
  h.free(A, q);
  h.free(B, moved);
  assert.deepEqual(h.audit(), []);
});

test('pin a child: the device gets the child\'s data, the root is pinned (its children stay in) until unpinned', () => {
  const { h } = heap();
  const req = h.allocate(A, REQ);
  h.put(A, req, 0, h.allocate(A, PAGE));
  const [s, ph, off, len] = h.pin(A, req, 0);
  assert.deepEqual([s, ph, off % 4096, len], [slot(req), req, 0, 4096]);
  refused(() => h.take(A, req, 0), 'exchange heap: this RRef is mapped for DMA: it cannot be written, moved or freed until it is unmapped');
  refused(() => h.put(A, req, 0, null), 'exchange heap: this RRef is mapped for DMA: it cannot be written, moved or freed until it is unmapped');
  assert.equal(h.unpin(s, ph), true);
  assert.notEqual(h.take(A, req, 0), null);
  assert.deepEqual(h.audit(), []);
});

test('unpin refuses what it did not pin: no such slot, another handle of the slot, a root not pinned', () => {
  const { h } = heap();
  const p = h.allocate(A, PAGE);
  const other = h.allocate(A, PAGE);
  const [s, ph] = h.pin(A, p, -1);
  assert.equal(h.unpin(1 << 20, ph), false, 'a slot never used');
  assert.equal(h.unpin(s, ph + SLOTS), false, 'a later handle of the slot');
  assert.equal(h.unpin(s, ph - SLOTS), false, 'an earlier one');
  assert.equal(h.unpin(s, other), false, 'another root\'s handle');
  assert.equal(h.unpin(slot(other), other), false, 'a root that is not pinned');
  refused(() => h.setU8(A, p, 0, 1), 'exchange heap: this RRef is mapped for DMA: it cannot be written, moved or freed until it is unmapped');
  assert.equal(h.unpin(s, ph), true);
  h.setU8(A, p, 0, 1);
  h.unborrow(h.borrow(A, p, B));
  assert.deepEqual(h.audit(), []);
});

test('the last unpin makes the root OWNED again, or frees it if its owner died, whatever the arena holds before its header', () => {
  // Two leaves in adjacent 96-byte cells: the bytes just before the second's header are the
  // first's data, set to all ones.
  const { h } = heap(MINI);
  const first = h.allocate(A, LEAF);
  const second = h.allocate(A, LEAF);
  h.fill(A, first, 0, 0xff, 80);
  const [s, ph, , len] = h.pin(A, second, -1);
  assert.equal(len, 80);
  assert.equal(h.unpin(s, ph), true);
  h.setU8(A, second, 0, 1); // writable: OWNED, not LENT
  h.move(A, second, B);
  // Pinned when its owner dies: kept while mapped, freed by the last unpin.
  const third = h.allocate(A, LEAF);
  const fourth = h.allocate(A, LEAF);
  h.fill(A, third, 0, 0xff, 80);
  const [s4, h4] = h.pin(A, fourth, -1);
  h.pin(A, fourth, -1);
  assert.deepEqual(h.reclaim(A), { objects: 2, bytes: 160, deferred: 1, salvaged: 0 });
  assert.equal(h.unpin(s4, h4), true);
  assert.equal(h.stats().objects, 2, 'one mapping left');
  assert.equal(h.unpin(s4, h4), true);
  assert.equal(h.stats().objects, 1, 'freed with its last mapping; only B\'s leaf is left');
  assert.equal(h.unpin(s4, h4), false);
  assert.deepEqual(h.audit(), []);
});

// ---- reclaim, salvage, statistics ----------------------------------------------------------------

test('reclaim frees exactly the dead domain\'s objects: the kernel (domain 0) too, whose id freed slots carry', () => {
  const { h } = heap();
  const kept = h.allocate(0, PACKET);
  h.free(0, h.allocate(0, PACKET));
  h.free(A, h.allocate(A, PACKET));
  const a = h.allocate(A, PACKET);
  h.put(A, a, 0, h.allocate(A, PACKET));
  void kept;
  assert.deepEqual(h.reclaim(0), { objects: 1, bytes: 84, deferred: 0, salvaged: 0 });
  assert.deepEqual([...h.stats().perOwner], [[A, { objects: 2, bytes: 168 }]]);
  assert.deepEqual(h.reclaim(A), { objects: 2, bytes: 168, deferred: 0, salvaged: 0 });
  assert.equal(h.stats().objects, 0);
  assert.deepEqual(h.audit(), []);
});

test('salvage returns only what another domain sent: a root a domain sent to itself is freed with it', () => {
  const { h } = heap();
  const self = h.move(A, h.allocate(A, PACKET), A);
  const fromB = h.move(B, h.allocate(B, PACKET), A);
  void self; void fromB;
  assert.deepEqual(h.reclaim(A, () => true), { objects: 1, bytes: 84, deferred: 0, salvaged: 1 });
  assert.deepEqual(h.salvaged(A), []);
  assert.equal(h.salvaged(B).length, 1);
  assert.deepEqual(h.salvaged(B), [], 'read once');
  assert.deepEqual([...h.stats().perOwner], [[B, { objects: 1, bytes: 84 }]]);
  assert.deepEqual(h.audit(), []);
});

test('salvaged() returns exactly the roots moved back, even when a reclaim stopped part way', () => {
  const { h } = heap();
  const x1 = h.move(A, h.allocate(A, PACKET), B);
  const x2 = h.move(A, h.allocate(A, PACKET), B);
  h.setU32(B, x1, 8, 1);
  h.setU32(B, x2, 8, 2);
  // The second move back throws (as at the engine's stack limit: see heap.hostile.test.ts).
  const moveSlot = ExchangeHeap.prototype.moveSlot;
  let calls = 0;
  Object.defineProperty(h, 'moveSlot', {
    configurable: true, writable: true,
    value(this: ExchangeHeap, s: number, to: number): number {
      if (++calls === 2) throw new RangeError('injected');
      return moveSlot.call(this, s, to);
    },
  });
  assert.throws(() => h.reclaim(B, (from) => from === A), /injected/);
  delete (h as unknown as Record<string, unknown>).moveSlot;
  const first = h.salvaged(A);
  assert.equal(first.length, 1, 'the one moved before the throw, and no room left for the other');
  assert.equal(h.u32(A, first[0]!, 8), 1);
  assert.deepEqual(h.reclaim(B, (from) => from === A), { objects: 0, bytes: 0, deferred: 0, salvaged: 1 });
  const second = h.salvaged(A);
  assert.equal(second.length, 1);
  assert.equal(h.u32(A, second[0]!, 8), 2);
  assert.deepEqual(h.audit(), []);
});

test('stats(): exact counts per owner; a root orphaned while lent is listed under -2 until its borrow returns', () => {
  const { h } = heap();
  const base = h.stats();
  assert.deepEqual([base.objects, base.bytes, base.handles, base.perOwner.size], [0, 0, 0, 0]);
  const p = h.allocate(A, PACKET);
  h.put(A, p, 0, h.allocate(A, PACKET));
  const g = h.allocate(B, PAGE);
  const b = h.borrow(A, p, C);
  const s = h.stats();
  assert.equal(s.capacity, 1 << 20);
  assert.deepEqual([s.objects, s.bytes, s.handles], [3, 168 + 4096, 3]);
  assert.deepEqual(s.nested, { objects: 1, bytes: 84 });
  assert.deepEqual([...s.perOwner], [[A, { objects: 2, bytes: 168 }], [B, { objects: 1, bytes: 4096 }]]);
  assert.deepEqual(h.reclaim(A), { objects: 0, bytes: 0, deferred: 1, salvaged: 0 });
  assert.deepEqual([...h.stats().perOwner], [[-2, { objects: 2, bytes: 168 }], [B, { objects: 1, bytes: 4096 }]]);
  h.unborrow(b);
  assert.deepEqual([...h.stats().perOwner], [[B, { objects: 1, bytes: 4096 }]]);
  h.free(B, g);
  const end = h.stats();
  assert.deepEqual([end.objects, end.bytes, end.handles, end.perOwner.size], [0, 0, 0, 0]);
  assert.deepEqual(end.nested, { objects: 0, bytes: 0 });
  assert.deepEqual(h.audit(), []);
});

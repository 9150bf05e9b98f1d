// The exchange heap's bookkeeping, checked exactly from outside (heap.test.ts shows the mechanisms
// work; this file pins their figures and edges):
//
//   - refusals: the error classes' names, and the exact reason for every kind of bad handle; a
//     handle that is stale is refused even when its slot has come back to the same owner;
//   - the type table: checked for order; which types are page buffers (only non-empty `bytes` of
//     whole pages); where an object's data begins (after header, meta and child slots), for roots
//     and for children taken out, page buffers included; page buffers are zeroed when reused;
//   - quotas: set aside to the byte, changed, released; what the kernel (no quota) may use; a quota
//     lowered under what a domain holds; blocks a throw left behind are given back before the next
//     allocation; "arena full" when the arena is too fragmented for a large object;
//   - usage: nested objects and bytes through put, take, pop and free;
//   - handles: a reused slot gets the next generation (the last wraps to the first), in the order
//     slots were freed, by every operation that takes one; a move keeps the slot until its last
//     generation; the slot table running out; unborrow of anything but a live borrow; re-lent
//     borrows ending in any order, of live and of orphaned roots;
//   - the list of moved roots not yet charged to their new owner stays bounded.
// Every scenario ends with audit() returning [].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExchangeHeap, HeapViolation, HeapExhausted, SLOTS, GENERATIONS, REUSE_DISTANCE, MAX_LENT } from './heap.ts';
import { TYPES } from '../idl/generated/types.ts';
import type { TypeInfo } from '../idl/lib/layout.ts';

const id = (name: string): number => TYPES.find((t) => t.name === name)!.id;
const PACKET = id('Packet'); // 84 payload bytes: a 128-byte cell
const PAGE = id('Bytes<4096>'); // a page buffer: a 32-byte header cell and a 4096-byte data cell
const REQ = id('BlockReq'); // holds a Bytes<4096>
const RING = id('RRefArray<Packet, 8>'); // 32 payload bytes: a 64-byte cell
const DEQUE = id('RRefDeque<Packet, 32>'); // 136 payload bytes: a 192-byte cell
const A = 1;
const B = 2;
const C = 3;
const S = 1 << 16; // a slab: what opening a size class costs a domain's quota
const MiB = 1 << 20;
const LAST = GENERATIONS * SLOTS; // the first handle of a slot's last generation

/** Types the generated table lacks: other layouts, sizes that are (not) page buffers, large objects. */
const CUSTOM: TypeInfo[] = [
  { id: 0, name: 'Small', kind: 'struct', meta: 0, children: [], data: 8 },
  { id: 1, name: 'Big', kind: 'struct', meta: 0, children: [], data: 100_000 },
  { id: 2, name: 'Bytes<131072>', kind: 'bytes', meta: 0, children: [], data: 131_072 },
  { id: 3, name: 'Bytes<8192>', kind: 'bytes', meta: 0, children: [], data: 8192 },
  { id: 4, name: 'Bytes<100>', kind: 'bytes', meta: 0, children: [], data: 100 },
  { id: 5, name: 'Bytes<0>', kind: 'bytes', meta: 0, children: [], data: 0 },
  { id: 6, name: 'Sheet', kind: 'struct', meta: 0, children: [], data: 4096 },
  { id: 7, name: 'Cell', kind: 'struct', meta: 8, children: [7], data: 8 },
  { id: 8, name: 'Pair', kind: 'struct', meta: 0, children: [8, 8], data: 8 },
];
const [SMALL, BIG, BYTES128K, BYTES8K, BYTES100, BYTES0, SHEET, CELL, PAIR] = CUSTOM.map((t) => t.id);

function heap(bytes = MiB, types: readonly TypeInfo[] = TYPES): { h: ExchangeHeap; violations: [number, string][] } {
  const h = new ExchangeHeap(bytes, types);
  const violations: [number, string][] = [];
  h.onViolation = (d, e) => violations.push([d, e.message]);
  return { h, violations };
}

/** The arena offset of an object's data (pin maps it; unpin at once). */
function dataAt(h: ExchangeHeap, dom: number, x: number, child = -1): number {
  const [s, ph, off] = h.pin(dom, x, child);
  h.unpin(s, ph);
  return off;
}

/** Makes the next `n` calls of the allocator's free throw, as at the engine's stack limit. */
function failFrees(h: ExchangeHeap, n: number): () => void {
  const alloc = (h as unknown as { alloc: { free(off: number): void } }).alloc;
  const free = alloc.free;
  Object.defineProperty(alloc, 'free', {
    configurable: true, writable: true,
    value(this: unknown, off: number) {
      if (n-- > 0) throw new RangeError('Maximum call stack size exceeded (injected)');
      free.call(this, off);
    },
  });
  return () => { delete (alloc as { free?: unknown }).free; };
}

const quotaExceeded = (held: number, limit: number, name: string, cost: number): string =>
  `exchange heap: quota exceeded: its allocations hold ${held} of its ${limit} bytes and ${name} needs ${cost} more`;
const cannotSetAside = (bytes: number, free: number): string =>
  `exchange heap: cannot set aside ${bytes} bytes: ${free} of the arena's ${MiB} are not promised to another domain or in use`;

// ---- refusals ---------------------------------------------------------------------------------

test('refusals: the errors are named, and each bad handle is refused with its exact reason', () => {
  const { h, violations } = heap();
  const p = h.allocate(A, PACKET);
  const moved = h.allocate(A, PACKET);
  h.move(A, moved, B);
  const lent = h.allocate(A, PACKET);
  const b = h.borrow(A, lent, B);
  const cases: [unknown, number, string][] = [
    ['x', A, 'not an RRef handle (string)'],
    [null, A, 'not an RRef handle (object)'],
    [undefined, A, 'not an RRef handle (undefined)'],
    [1n, A, 'not an RRef handle (bigint)'],
    [1.5, A, 'not an RRef handle (1.5)'],
    [NaN, A, 'not an RRef handle (NaN)'],
    [-1, A, 'not an RRef handle (-1)'],
    [0, A, 'not an RRef handle (0)'],
    [2 ** 60, A, `not an RRef handle (${String(2 ** 60)})`],
    [p + SLOTS, A, 'forged handle: no such RRef'], // a generation its slot has not reached
    [SLOTS - 1, A, 'forged handle: no such RRef'], // a slot never used
    [moved, A, 'stale handle: the RRef was moved or freed (use after move)'],
    [p, B, 'this handle belongs to another domain'],
    [b, B, 'a borrowed RRef is read-only: it cannot be written, moved, freed or kept'],
    [lent, A, 'this RRef is lent to a call in progress: it cannot be written, moved or freed until the call returns'],
  ];
  for (const [x, dom, why] of cases) {
    assert.throws(() => h.setU32(dom, x, 8, 1), { name: 'HeapViolation', message: `exchange heap: ${why}` }, `${String(x)}`);
  }
  assert.deepEqual(violations.map((v) => v[0]), cases.map((c) => c[1]), 'each reported to the kernel, against the domain that used it');
  assert.throws(() => h.allocate(A, 99), { name: 'HeapViolation', message: 'exchange heap: no exchange type with id 99' });
  h.setQuota(C, S);
  for (let i = 0; i < 512; i++) h.allocate(C, PACKET);
  assert.throws(() => h.allocate(C, PACKET), (e: unknown) => e instanceof HeapExhausted && e.name === 'HeapExhausted' && !(e instanceof HeapViolation));
  assert.deepEqual(h.audit(), []);
});

test('a stale handle is refused even when its slot has come back to the same owner', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  const back = h.move(B, h.move(A, p, B), A); // the same slot, two generations on, A's again
  assert.equal(back, p + 2 * SLOTS);
  const stale = 'exchange heap: stale handle: the RRef was moved or freed (use after move)';
  assert.throws(() => h.setU32(A, p, 8, 1), { message: stale });
  assert.throws(() => h.moveAs(A, p, PACKET, B), { message: stale });
  assert.throws(() => h.move(A, p, B), { message: stale });
  assert.throws(() => h.free(A, p), { message: stale });
  h.setU32(A, back, 8, 5);
  assert.equal(h.moveAs(A, back, PACKET, B), back + SLOTS);
  assert.deepEqual(h.audit(), []);
});

// ---- the type table and the layout of objects ---------------------------------------------------

test('the type table must list types in id order', () => {
  const bad = [CUSTOM[0]!, CUSTOM[2]!];
  assert.throws(() => new ExchangeHeap(MiB, bad), { message: 'exchange heap: type table out of order at Bytes<131072>' });
  assert.doesNotThrow(() => new ExchangeHeap(MiB, CUSTOM));
});

test('only non-empty bytes types of whole pages are page buffers (a header cell and a data block: two slabs to open)', () => {
  const { h } = heap(MiB, CUSTOM);
  // [type, what a page buffer of it costs (0: not one)]: a fresh domain with a quota of one slab
  // can allocate one only if it is not a page buffer.
  const cases: [number, number][] = [
    [SHEET, 0], [BYTES0, 0], [BYTES100, 0], [SMALL, 0],
    [BYTES8K, S + S], // a header cell, and an 8 KiB cell: two slabs
    [BYTES128K, S + 131_072], // a header cell, and a block of its own
  ];
  let dom = 10;
  for (const [t, cost] of cases) {
    const name = CUSTOM[t]!.name;
    h.setQuota(++dom, S);
    if (cost > 0) {
      assert.throws(() => h.allocate(dom, t), { message: quotaExceeded(0, S, name, cost) }, name);
      h.setQuota(++dom, cost);
    }
    const x = h.allocate(dom, t);
    assert.equal(h.size(dom, x), CUSTOM[t]!.data, name);
    if (CUSTOM[t]!.data > 0) {
      const at = dataAt(h, dom, x);
      assert.equal(at % 4096 === 0, cost > 0, `${name}: data at ${at}`);
    }
  }
  assert.deepEqual(h.audit(), []);
});

test('a page buffer of 8 KiB gets a data block of 8 KiB: writing all of one leaves the next untouched', () => {
  const { h } = heap(MiB, CUSTOM);
  const x = h.allocate(A, BYTES8K);
  const y = h.allocate(A, BYTES8K);
  assert.equal(dataAt(h, A, x) % 8192, 0);
  assert.equal(dataAt(h, A, y) % 8192, 0);
  h.fill(A, x, 0, 0xaa, 8192);
  const out = new Uint8Array(8192);
  h.read(A, y, 0, out, 0, 8192);
  assert.ok(out.every((v) => v === 0), 'y is still zero');
  h.fill(A, y, 0, 0x55, 8192);
  h.read(A, x, 0, out, 0, 8192);
  assert.ok(out.every((v) => v === 0xaa), 'x is still 0xaa');
  assert.deepEqual(h.audit(), []);
});

test('data begins after the header, the meta bytes and the child slots: for roots, and for children taken out', () => {
  const { h } = heap(MiB, CUSTOM);
  for (const t of [CELL, PAIR]) {
    const type = CUSTOM[t]!;
    const payload = type.meta + 4 * type.children.length + type.data;
    const parent = h.allocate(A, t);
    const child = h.allocate(A, t);
    const grand = h.allocate(A, t);
    h.setU64(A, grand, 0, 0x0102030405060708n);
    h.setU64(A, child, 0, 0x1122334455667788n);
    h.put(A, child, 0, grand);
    h.put(A, parent, 0, child);
    if (type.children.length > 1) h.put(A, parent, 1, h.allocate(A, t));
    h.fill(A, parent, 0, 0xff, 8); // all of its data: nothing else may change
    assert.deepEqual(h.header(A, parent), { owner: A, typeId: t, borrows: 0, size: payload }, type.name);
    assert.equal(h.u64(A, parent, 0), 0xffffffffffffffffn);
    const c = h.take(A, parent, 0)!;
    assert.equal(h.u64(A, c, 0), 0x1122334455667788n, `${type.name}: the child's data, found again`);
    const g = h.take(A, c, 0)!;
    assert.equal(h.u64(A, g, 0), 0x0102030405060708n);
    if (type.children.length > 1) assert.equal(h.u64(A, h.take(A, parent, 1)!, 0), 0n);
    assert.deepEqual(h.audit(), [], type.name);
  }
  assert.equal(h.stats().objects, 7);
});

test('a page buffer taken out of (or mapped through) its parent has the same data block', () => {
  const { h } = heap();
  const first = h.allocate(A, PAGE);
  const page = h.allocate(A, PAGE); // its header cell follows the first one's
  h.fill(A, first, 0, 0x11, 4096);
  h.fill(A, page, 0, 0x22, 4096);
  const at = dataAt(h, A, page);
  const req = h.allocate(A, REQ);
  h.put(A, req, 0, page);
  assert.equal(dataAt(h, A, req, 0), at, 'mapped through the parent');
  const back = h.take(A, req, 0)!;
  assert.equal(dataAt(h, A, back), at);
  assert.equal(h.u8(A, back, 4095), 0x22);
  assert.deepEqual(h.audit(), []);
});

test('a page buffer reusing freed cells is zeroed: its data and its header (borrow count included)', () => {
  const { h } = heap();
  const p = h.allocate(A, PAGE);
  const at = dataAt(h, A, p);
  h.fill(A, p, 0, 0xff, 4096);
  h.free(A, p);
  const q = h.allocate(A, PAGE);
  assert.equal(dataAt(h, A, q), at, 'the same data cell');
  const out = new Uint8Array(4096).fill(7);
  h.read(A, q, 0, out, 0, 4096);
  assert.ok(out.every((v) => v === 0));
  h.free(A, q);
  // A page freed as an orphan, when its last borrow ends, leaves its header with a borrow count of
  // one: the next page buffer in that cell must not inherit it.
  const r = h.allocate(A, PAGE);
  const b = h.borrow(A, r, B);
  assert.deepEqual(h.reclaim(A), { objects: 0, bytes: 0, deferred: 1, salvaged: 0 });
  h.unborrow(b);
  assert.equal(h.stats().objects, 0);
  const s = h.allocate(C, PAGE);
  assert.deepEqual(h.header(C, s), { owner: C, typeId: PAGE, borrows: 0, size: 4096 });
  assert.deepEqual(h.audit(), []);
});

// ---- quotas ---------------------------------------------------------------------------------------

test('quotas are set aside to the byte: changed, released, and counting what the kernel and the dead hold', () => {
  const { h } = heap(); // 16 slabs; the kernel's reserved block holds one
  const K = 9; // no quota: it may use what nobody is promised
  h.allocate(K, PAGE); // two slabs
  assert.throws(() => h.setQuota(A, 13 * S + 1), { name: 'HeapExhausted', message: cannotSetAside(13 * S + 1, 13 * S) });
  h.setQuota(A, 5 * S);
  h.setQuota(A, 3 * S); // changed: 3 slabs set aside, not 8
  assert.throws(() => h.setQuota(B, 10 * S + 1), { message: cannotSetAside(10 * S + 1, 10 * S) });
  h.setQuota(B, 8 * S);
  // K may now grow by the 2 slabs nobody is promised, and no further.
  h.allocate(K, PACKET);
  h.allocate(K, RING);
  assert.throws(() => h.allocate(K, DEQUE), { name: 'HeapExhausted', message: quotaExceeded(4 * S, 4 * S, 'RRefDeque<Packet, 32>', S) });
  assert.ok(h.allocate(K, PACKET) > 0, 'a free cell in a slab it holds costs nothing');
  // Releasing a domain that set nothing aside changes nothing.
  h.release(7);
  assert.throws(() => h.setQuota(C, 1), { message: cannotSetAside(1, 0) });
  // A released domain's quota is free again, less what its objects still hold (one slab here).
  h.move(A, h.allocate(A, PACKET), B);
  h.release(A);
  assert.throws(() => h.setQuota(C, 2 * S + 1), { message: cannotSetAside(2 * S + 1, 2 * S) });
  h.setQuota(C, 2 * S);
  assert.deepEqual(h.audit(), []);
});

test('a quota changed later: never under what the domain holds, never past what nobody else is promised; at exactly what it holds, it fills its slabs and opens no new one', () => {
  const { h } = heap();
  h.setQuota(A, 4 * S);
  h.setQuota(B, 2 * S);
  const got: number[] = [];
  for (let i = 0; i < 513; i++) got.push(h.allocate(A, PACKET)); // two slabs, the second nearly empty
  got.push(h.allocate(A, PAGE)); // two more
  assert.throws(() => h.setQuota(A, 4 * S - 1), { name: 'HeapExhausted', message: `exchange heap: cannot set a quota of ${4 * S - 1} bytes: domain ${A}'s allocations hold ${4 * S}` });
  // (the arena less B's quota and the kernel's own slab; A's own quota counts as free)
  assert.throws(() => h.setQuota(A, 13 * S + 1), { name: 'HeapExhausted', message: cannotSetAside(13 * S + 1, 13 * S) });
  h.setQuota(A, 13 * S);
  assert.throws(() => h.setQuota(C, 1), { message: cannotSetAside(1, 0) });
  h.setQuota(A, 4 * S);
  got.push(h.allocate(A, PACKET));
  got.push(h.allocate(A, PAGE));
  assert.throws(() => h.allocate(A, RING), { message: quotaExceeded(4 * S, 4 * S, 'RRefArray<Packet, 8>', S) });
  h.setQuota(C, 9 * S); // what A gave back
  for (const x of got) h.free(A, x);
  assert.equal(h.stats().objects, 0);
  assert.deepEqual(h.audit(), []);
});

test('blocks a throw left on the dead list are given back before the next allocation (which the quota would refuse otherwise)', () => {
  for (const [t, n, quota] of [[PACKET, 512, S], [PAGE, 16, 2 * S]] as const) { // exactly full slabs
    const { h } = heap();
    h.setQuota(A, quota);
    const got: number[] = [];
    for (let i = 0; i < n; i++) got.push(h.allocate(A, t));
    const undo = failFrees(h, 1);
    assert.throws(() => h.free(A, got[0]), RangeError);
    undo();
    assert.throws(() => h.typeOf(A, got[0]), /stale handle/, 'freed all the same');
    assert.equal(h.stats().objects, n - 1);
    assert.deepEqual(h.audit(), []);
    got[0] = h.allocate(A, t);
    assert.equal(h.stats().objects, n);
    for (const x of got) h.free(A, x);
    assert.deepEqual(h.audit(), []);
  }
});

test('an object too large for any free block of a fragmented arena: an ordinary HeapExhausted, and nothing is lost', () => {
  const { h, violations } = heap(MiB, CUSTOM);
  // One small object in each of the 15 free slabs, each of its own domain; free every other slab,
  // so that no two free slabs make an aligned 128 KiB block.
  const small = new Map<number, [number, number]>(); // slab index -> [domain, handle]
  for (let dom = 10; dom < 25; dom++) {
    const x = h.allocate(dom, SMALL);
    small.set(dataAt(h, dom, x) >>> 16, [dom, x]);
  }
  assert.deepEqual([...small.keys()].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  for (const [slab, [dom, x]] of small) if (slab % 2 === 1) h.free(dom, x);
  const K = 5;
  const before = h.stats();
  assert.throws(() => h.allocate(K, BIG), { name: 'HeapExhausted', message: 'exchange heap: cannot allocate Big (100000 bytes): arena full' });
  assert.throws(() => h.allocate(K, BYTES128K), { name: 'HeapExhausted', message: 'exchange heap: cannot allocate Bytes<131072> (131072 bytes): arena full' });
  assert.deepEqual(violations, []);
  assert.deepEqual(h.stats(), before);
  assert.deepEqual(h.audit(), []);
  // Free one more slab next to a free one: 128 KiB, aligned.
  const [dom, x] = small.get(2)!;
  h.free(dom, x);
  const big = h.allocate(K, BIG);
  assert.equal(h.size(K, big), 100_000);
  assert.deepEqual(h.audit(), []);
});

// ---- usage ----------------------------------------------------------------------------------------

test('nested objects and bytes are exact through put, take, push, pop and free', () => {
  const { h } = heap();
  const nested = (): [number, number] => [h.stats().nested.objects, h.stats().nested.bytes];
  const p1 = h.allocate(A, PACKET);
  const p2 = h.allocate(A, PACKET);
  h.put(A, p2, 0, h.allocate(A, PACKET));
  h.put(A, p1, 0, p2);
  assert.deepEqual(nested(), [2, 168]);
  assert.deepEqual(h.stats().perOwner.get(A), { objects: 3, bytes: 252 });
  const t = h.take(A, p1, 0)!;
  assert.deepEqual(nested(), [1, 84]);
  h.free(A, p1);
  assert.deepEqual(nested(), [1, 84]);
  h.free(A, t);
  assert.deepEqual(nested(), [0, 0]);
  const ring = h.allocate(A, RING); // 32 payload bytes of its own
  const p = h.allocate(A, PACKET);
  h.put(A, p, 0, h.allocate(A, PACKET));
  h.put(A, ring, 0, p);
  for (let i = 1; i < 3; i++) h.put(A, ring, i, h.allocate(A, PACKET));
  const d = h.allocate(A, DEQUE);
  for (let i = 0; i < 2; i++) h.push(A, d, h.allocate(A, PACKET));
  assert.deepEqual(nested(), [6, 6 * 84]);
  const popped = h.pop(A, d)!;
  assert.deepEqual(nested(), [5, 5 * 84]);
  const taken = h.take(A, ring, 0)!; // with its child
  assert.deepEqual(nested(), [4, 4 * 84]);
  h.free(A, ring);
  assert.deepEqual(nested(), [2, 2 * 84]);
  h.free(A, d);
  assert.deepEqual(nested(), [1, 84]);
  h.free(A, taken);
  assert.deepEqual(nested(), [0, 0]);
  assert.deepEqual(h.stats().perOwner.get(A), { objects: 1, bytes: 84 });
  h.free(A, popped);
  assert.deepEqual(h.audit(), []);
});

// ---- handles --------------------------------------------------------------------------------------

for (const how of ['allocate', 'allocate a page', 'borrow'] as const) {
  for (const lastGen of [false, true]) {
    test(`${how} in a reused slot: the next generation${lastGen ? ' (after the last: the first)' : ''}, oldest freed slot first`, () => {
      const { h } = heap();
      const xs = [h.allocate(A, PACKET), h.allocate(A, PACKET), h.allocate(A, PACKET)]; // slots 0, 1, 2
      const r = h.allocate(A, PACKET); // slot 3: what the borrows lend
      if (lastGen) {
        for (let i = 0; i < GENERATIONS - 1; i++) xs[0] = h.move(i % 2 === 0 ? A : B, xs[0]!, i % 2 === 0 ? B : A);
        assert.equal(xs[0], LAST, 'slot 0 in its last generation, A\'s');
      }
      const fill: number[] = [];
      for (let i = 0; i < REUSE_DISTANCE; i++) fill.push(h.allocate(A, PACKET)); // slots 4 .. 4099
      for (const x of [...xs, ...fill]) h.free(A, x);
      const take = (): number => how === 'allocate' ? h.allocate(A, PACKET) : how === 'allocate a page' ? h.allocate(A, PAGE) : h.borrow(A, r, B);
      const got = [take(), take(), take(), take()];
      assert.deepEqual(got, [
        lastGen ? SLOTS : xs[0]! + SLOTS, xs[1]! + SLOTS, xs[2]! + SLOTS,
        SLOTS + 4 + REUSE_DISTANCE, // REUSE_DISTANCE slots wait again: a new one
      ]);
      assert.equal(h.stats().handles, 5);
      assert.deepEqual(h.audit(), []);
      if (how === 'borrow') {
        // A lender that dies with borrows out: its root goes with the last of them (here the one in slot 0).
        h.reclaim(A);
        for (const b of got.slice(1).reverse()) h.unborrow(b);
        assert.equal(h.stats().objects, 1);
        h.unborrow(got[0]!);
        assert.deepEqual([h.stats().objects, h.stats().handles], [0, 0]);
        assert.throws(() => h.u32(B, got[0]!, 8), /stale handle/);
        assert.deepEqual(h.audit(), []);
      }
    });
  }
}

for (const how of ['move', 'moveAs'] as const) {
  test(`${how}: the next generation of the same slot, until the last; then a fresh slot, and the old one is freed`, () => {
    const { h } = heap();
    let x = h.allocate(A, PACKET); // slot 0 (its last handle is LAST itself)
    h.allocate(A, PACKET); // slot 1, kept
    const gone = [h.allocate(A, PACKET), h.allocate(A, PACKET)]; // slots 2 and 3, freed: the ring holds two
    for (const g of gone) h.free(A, g);
    let slot = 0;
    for (let i = 0; i < 2 * GENERATIONS + 3; i++) {
      const [from, to] = i % 2 === 0 ? [A, B] : [B, A];
      const next = how === 'move' ? h.move(from, x, to) : h.moveAs(from, x, PACKET, to);
      assert.ok(next < 2 ** 31);
      if (x < LAST) {
        assert.equal(next, x + SLOTS, `move ${i}`);
      } else {
        slot = slot === 0 ? 4 : slot + 1; // (fewer than REUSE_DISTANCE slots wait: a new one)
        assert.equal(next, SLOTS + slot, `move ${i}: a fresh slot`);
      }
      x = next;
    }
    assert.equal(slot, 5);
    assert.equal(h.stats().handles, 2);
    assert.deepEqual(h.stats().perOwner.get(B), { objects: 1, bytes: 84 });
    assert.deepEqual(h.audit(), []);
  });
}

test('the slot table runs out at SLOTS handles; a slot freed then is reused at once', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  // Borrows take slots and no arena: each domain lends MAX_LENT, the last one of them re-lent by the next.
  let dom = A;
  let cur = p;
  let last = 0;
  let made = 0;
  const out = (): boolean => {
    try { last = h.borrow(dom, cur, dom + 1); made++; return false; } catch (e) {
      assert.ok(e instanceof HeapExhausted && e.message === 'exchange heap: out of handles', String(e));
      return true;
    }
  };
  for (;;) {
    let done = false;
    for (let i = 0; i < MAX_LENT && !done; i++) done = out();
    if (done) break;
    cur = last;
    dom++;
  }
  assert.equal(made, SLOTS - 1);
  assert.equal(h.stats().handles, SLOTS);
  h.unborrow(last);
  const again = h.borrow(dom, cur, dom + 1);
  assert.equal(again, last + SLOTS, 'the slot just freed, in its next generation');
  assert.throws(() => h.borrow(dom, cur, dom + 1), { name: 'HeapExhausted', message: 'exchange heap: out of handles' });
  assert.equal(h.u32(dom + 1, again, 8), 0);
});

test('unborrow ignores anything but a live borrow', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  const q = h.allocate(A, PACKET);
  const b = h.borrow(A, p, B);
  h.unborrow(q); // an owned root
  h.unborrow(p); // a lent root
  h.unborrow(b + SLOTS); // a generation the borrow's slot has not reached
  h.unborrow(SLOTS - 1); // a slot never used
  assert.equal(h.header(A, p).borrows, 1);
  assert.throws(() => h.setU32(A, p, 8, 1), /lent to a call in progress/);
  assert.equal(h.u32(B, b, 8), 0, 'the borrow is still live');
  h.setU32(A, q, 8, 2);
  assert.equal(h.lendable(A, p, PAGE, 0), -1, 'another type');
  assert.equal(h.lendable(A, p, PACKET, 0), p & (SLOTS - 1));
  h.unborrow(b);
  h.unborrow(b); // ended already
  assert.equal(h.header(A, p).borrows, 0);
  h.setU32(A, p, 8, 1);
  assert.deepEqual(h.audit(), []);
});

test('re-lent borrows: the root stays lent until the last ends, in any order; an orphan goes with its last borrow', () => {
  for (const order of ['lender first', 'callee first'] as const) {
    const { h } = heap();
    const p = h.allocate(A, PACKET);
    const b1 = h.borrow(A, p, B);
    const b2 = h.borrow(B, b1, C);
    h.unborrow(order === 'lender first' ? b1 : b2);
    assert.equal(h.header(A, p).borrows, 1);
    assert.throws(() => h.setU32(A, p, 8, 1), /lent/);
    h.unborrow(order === 'lender first' ? b2 : b1);
    h.setU32(A, p, 8, 1);
    assert.deepEqual(h.audit(), [], order);
  }
  for (const relent of [false, true]) {
    const { h } = heap();
    const p = h.allocate(A, PACKET);
    h.setU32(A, p, 8, 9);
    const b1 = h.borrow(A, p, B);
    const b2 = relent ? h.borrow(B, b1, C) : h.borrow(A, p, C);
    assert.equal(h.reclaim(A).deferred, 1);
    h.unborrow(b1);
    assert.equal(h.stats().objects, 1, 'kept for the borrow still out');
    assert.equal(h.u32(C, b2, 8), 9);
    assert.deepEqual(h.audit(), []);
    h.unborrow(b2);
    assert.deepEqual([h.stats().objects, h.stats().handles], [0, 0]);
    assert.deepEqual(h.audit(), []);
  }
});

test('moved roots wait to be charged in a bounded list, and every charge lands', () => {
  // (MAX_UNSETTLED in heap.ts: 4096 roots may wait. Only the kernel's memory shows the bound, so
  // this looks at the private counter.)
  const MAX_UNSETTLED = 1 << 12;
  const waiting = (h: ExchangeHeap): number => (h as unknown as { unsettledCount: number }).unsettledCount;
  {
    const { h } = heap(1 << 22);
    const xs: number[] = [];
    for (let i = 0; i < MAX_UNSETTLED + 904; i++) xs.push(h.allocate(A, PACKET));
    for (const x of xs) {
      h.moveAs(A, x, PACKET, B);
      assert.ok(waiting(h) <= MAX_UNSETTLED, `${waiting(h)} waiting`);
    }
    assert.deepEqual(h.stats().perOwner.get(B), { objects: MAX_UNSETTLED + 904, bytes: (MAX_UNSETTLED + 904) * 84 });
    assert.deepEqual(h.audit(), []);
  }
  for (const how of ['move', 'moveAs'] as const) {
    // A root already waiting is not listed again however often it moves; retired to a fresh slot,
    // it is listed anew without a move of a new root.
    const { h } = heap(1 << 22);
    const mv = (from: number, x: number, to: number): number => how === 'move' ? h.move(from, x, to) : h.moveAs(from, x, PACKET, to);
    let r = h.allocate(A, PACKET);
    const xs: number[] = [];
    for (let i = 0; i < MAX_UNSETTLED - 1; i++) xs.push(h.allocate(A, PACKET));
    for (let i = 0; i < GENERATIONS - 1; i++) r = mv(i % 2 === 0 ? A : B, r, i % 2 === 0 ? B : A);
    assert.equal(r, LAST);
    for (const x of xs) mv(A, x, B);
    assert.equal(waiting(h), MAX_UNSETTLED, `${how}: each root listed once`);
    r = mv(A, r, B);
    assert.ok(waiting(h) <= MAX_UNSETTLED, `${how}: ${waiting(h)} waiting`);
    assert.deepEqual(h.stats().perOwner.get(B), { objects: MAX_UNSETTLED, bytes: MAX_UNSETTLED * 84 });
    assert.deepEqual(h.audit(), []);
  }
});

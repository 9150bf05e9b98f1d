import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExchangeHeap, HeapViolation, HeapExhausted, SLOTS, GENERATIONS, REUSE_DISTANCE, QUOTA_STRIKES, OWNER_ORPHAN, MAX_CAPACITY, MAX_LENT, MIN_FOOTPRINT, PAGE_BYTES } from './heap.ts';
import { TYPES } from '../idl/generated/types.ts';

const id = (name: string): number => TYPES.find((t) => t.name === name)!.id;
const PACKET = id('Packet');
const DEQUE = id('RRefDeque<Packet, 32>');
const RING = id('RRefArray<Packet, 8>');
const PAGE = id('Bytes<4096>');
const A = 1;
const B = 2;

function heap(bytes = 1 << 20): { h: ExchangeHeap; violations: [number, string][] } {
  const h = new ExchangeHeap(bytes, TYPES);
  const violations: [number, string][] = [];
  h.onViolation = (d, e) => violations.push([d, e.message]);
  return { h, violations };
}

test('allocate, write, read: scalars land little-endian at their offsets', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  assert.equal(h.typeOf(A, p), PACKET);
  assert.equal(h.size(A, p), 80);
  h.setU64(A, p, 0, 0x0102030405060708n);
  h.setU32(A, p, 8, 0xdeadbeef);
  h.setI32(A, p, 16, -5);
  h.setF64(A, p, 24, 1.5);
  assert.equal(h.u64(A, p, 0), 0x0102030405060708n);
  assert.equal(h.u8(A, p, 0), 0x08);
  assert.equal(h.u32(A, p, 8), 0xdeadbeef);
  assert.equal(h.i32(A, p, 16), -5);
  assert.equal(h.f64(A, p, 24), 1.5);
  assert.equal(h.u32(A, h.allocate(A, PACKET), 8), 0, 'new objects are zeroed');
});

test('bounds: every access must stay inside the data region', () => {
  const { h, violations } = heap();
  const p = h.allocate(A, PACKET);
  assert.throws(() => h.u32(A, p, 77), /outside Packet \(80 data bytes\)/);
  assert.throws(() => h.setU8(A, p, -1, 0), HeapViolation);
  assert.throws(() => h.u8(A, p, 1.5), HeapViolation);
  assert.throws(() => h.u8(A, p, '0' as unknown as number), HeapViolation);
  assert.equal(violations.length, 4);
  assert.equal(h.u32(A, p, 76), 0);
});

test('move: the receiver gets a new handle and the sender\'s goes stale (use after move)', () => {
  const { h, violations } = heap();
  const p = h.allocate(A, PACKET);
  h.setU32(A, p, 8, 42);
  const q = h.move(A, p, B);
  assert.notEqual(q, p);
  assert.equal(h.u32(B, q, 8), 42);
  assert.throws(() => h.u32(A, p, 8), /stale handle: the RRef was moved or freed \(use after move\)/);
  assert.throws(() => h.u32(A, q, 8), /belongs to another domain/);
  assert.throws(() => h.move(A, p, B), /stale/);
  assert.deepEqual(violations.map((v) => v[0]), [A, A, A]);
  assert.equal(h.stats().perOwner.get(B)?.objects, 1);
  assert.equal(h.stats().perOwner.get(A), undefined);
});

test('handles stay small integers: a slot whose generations run out is retired, and no old handle comes back', () => {
  const { h } = heap();
  let p = h.allocate(A, PACKET);
  h.setU32(A, p, 8, 7);
  const seen = new Set<number>([p]);
  const moves = 3 * GENERATIONS + 5; // the object passes through at least three slots
  for (let i = 0; i < moves; i++) {
    p = i % 2 === 0 ? h.moveAs(A, p, PACKET, B) : h.moveAs(B, p, PACKET, A);
    assert.ok(p > 0 && p < 2 ** 31, `handle ${p} is not below 2^31`);
    assert.ok(!seen.has(p), `handle ${p} was issued twice`);
    seen.add(p);
  }
  const owner = moves % 2 === 1 ? B : A;
  assert.equal(h.u32(owner, p, 8), 7, 'the data moved with it');
  let stale = 0;
  for (const old of seen) {
    if (old === p) continue;
    assert.throws(() => h.u32(owner, old, 8), /stale handle/);
    stale++;
  }
  assert.equal(stale, moves);
  assert.equal(h.stats().handles, 1, 'retired slots are free, not leaked');
});

test('a freed slot is reused only after REUSE_DISTANCE others were freed', () => {
  const { h } = heap(1 << 24);
  const first = h.allocate(A, PACKET);
  h.free(A, first);
  for (let i = 0; i < REUSE_DISTANCE; i++) {
    const q = h.allocate(A, PACKET);
    assert.notEqual(q % SLOTS, first % SLOTS, `slot reused after ${i} allocations`);
    h.free(A, q);
  }
  const later = [];
  for (let i = 0; i < 4; i++) later.push(h.allocate(A, PACKET));
  assert.ok(later.some((q) => q % SLOTS === first % SLOTS), 'the oldest freed slot is reused first once the ring is full');
  assert.ok(later.every((q) => q !== first), 'with a new generation');
});

test('moveAs: a handle of another type is not moved; an unusable one is a violation', () => {
  const { h, violations } = heap();
  const p = h.allocate(A, PACKET);
  assert.equal(h.moveAs(A, p, PAGE, B), 0);
  assert.equal(h.typeOf(A, p), PACKET, 'still with its owner');
  const q = h.moveAs(A, p, PACKET, B);
  assert.throws(() => h.moveAs(A, p, PACKET, B), /stale/);
  assert.throws(() => h.moveAs(A, q, PACKET, B), /another domain/);
  assert.deepEqual(violations.map((v) => v[0]), [A, A]);
});

test('forged handles are refused: numbers never issued, other types, another domain\'s', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  for (const bad of [0, -1, 1.5, NaN, p + 1, p + SLOTS, 12345678, '1', {}, null, 2 ** 60]) {
    assert.throws(() => h.u32(A, bad, 0), /forged handle|not an RRef handle|stale/, String(bad));
  }
  assert.throws(() => h.u32(B, p, 0), /another domain/);
  assert.throws(() => h.free(B, p), /another domain/);
  h.free(A, p);
  assert.throws(() => h.u32(A, p, 0), /stale/, 'use after free');
  assert.throws(() => h.free(A, p), /stale/, 'double free');
});

test('borrow: callee reads, cannot write, move, free or keep; the owner cannot write while lent', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  h.setU32(A, p, 8, 7);
  const b = h.borrow(A, p, B);
  assert.equal(h.u32(B, b, 8), 7);
  assert.throws(() => h.setU32(B, b, 8, 9), /borrowed RRef is read-only/);
  assert.throws(() => h.move(B, b, A), /read-only/);
  assert.throws(() => h.free(B, b), /read-only/);
  assert.throws(() => h.setU32(A, p, 8, 9), /lent to a call in progress/);
  assert.throws(() => h.move(A, p, B), /lent/);
  assert.equal(h.u32(A, p, 8), 7, 'the owner may still read');
  h.unborrow(b);
  assert.throws(() => h.u32(B, b, 8), /stale/, 'a kept borrow is dead after the call');
  h.setU32(A, p, 8, 9);
  assert.equal(h.u32(A, p, 8), 9);
});

test('nested borrows (re-lending) end independently', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  const b1 = h.borrow(A, p, B);
  const b2 = h.borrow(B, b1, 3);
  assert.equal(h.u32(3, b2, 8), 0);
  h.unborrow(b2);
  assert.throws(() => h.setU32(A, p, 8, 1), /lent/, 'still lent to B');
  h.unborrow(b1);
  h.setU32(A, p, 8, 1);
});

test('children: put moves in, take moves out, types and self-nesting are checked', () => {
  const { h } = heap();
  const parent = h.allocate(A, PACKET);
  const child = h.allocate(A, PACKET);
  h.setU32(A, child, 8, 5);
  assert.equal(h.put(A, parent, 0, child), null);
  assert.throws(() => h.u32(A, child, 8), /stale/, 'the child moved into its parent');
  assert.equal(h.stats().nested.objects, 1);
  const page = h.allocate(A, PAGE);
  assert.throws(() => h.put(A, parent, 0, page), /holds Packet here, not Bytes<4096>/);
  assert.throws(() => h.put(A, parent, 0, parent), /inside itself/);
  assert.throws(() => h.put(A, parent, 1, null), /no child slot 1/);
  const back = h.take(A, parent, 0)!;
  assert.equal(h.u32(A, back, 8), 5);
  assert.equal(h.take(A, parent, 0), null);
  assert.equal(h.stats().nested.objects, 0);
});

test('deque: FIFO order, full and empty, only via the kernel', () => {
  const { h } = heap();
  const q = h.allocate(A, DEQUE);
  assert.equal(h.size(A, q), 0, 'no data region: head and count are kernel-private');
  const ps = [];
  for (let i = 0; i < 32; i++) {
    const p = h.allocate(A, PACKET);
    h.setU32(A, p, 8, i);
    ps.push(p);
    assert.equal(h.push(A, q, p), true);
  }
  const extra = h.allocate(A, PACKET);
  assert.equal(h.push(A, q, extra), false, 'full');
  assert.equal(h.u32(A, extra, 8), 0, 'a refused push leaves the child with its owner');
  assert.equal(h.count(A, q), 32);
  for (let i = 0; i < 32; i++) assert.equal(h.u32(A, h.pop(A, q)!, 8), i);
  assert.equal(h.pop(A, q), null);
  assert.throws(() => h.push(A, h.allocate(A, PACKET), extra), /not an RRefDeque/);
});

test('free drops the whole tree; reclaim frees everything a dead domain owns', () => {
  const { h } = heap();
  const base = h.stats();
  const ring = h.allocate(A, RING);
  for (let i = 0; i < 8; i++) {
    const p = h.allocate(A, PACKET);
    h.put(A, p, 0, h.allocate(A, PACKET));
    h.put(A, ring, i, p);
  }
  assert.equal(h.stats().objects, base.objects + 17);
  h.free(A, ring);
  assert.deepEqual([h.stats().objects, h.stats().bytes, h.stats().nested.objects], [base.objects, base.bytes, 0]);

  const q = h.allocate(B, DEQUE);
  for (let i = 0; i < 5; i++) h.push(B, q, h.allocate(B, PACKET));
  h.allocate(B, PAGE);
  const lent = h.allocate(B, PACKET);
  const b = h.borrow(B, lent, A);
  const r = h.reclaim(B);
  assert.equal(r.objects, 7);
  assert.equal(r.deferred, 1);
  assert.equal(h.u32(A, b, 8), 0, 'the borrower can still read until its call returns');
  h.unborrow(b);
  const s = h.stats();
  assert.deepEqual([s.objects, s.bytes, s.nested.objects, s.handles], [base.objects, base.bytes, 0, base.handles]);
  assert.equal(s.largestFree, base.largestFree, 'the arena coalesced back');
});

test('copy-in/copy-out with genuine Uint8Arrays only; no view of the arena escapes', () => {
  const { h } = heap();
  const pg = h.allocate(A, PAGE);
  const src = new Uint8Array([1, 2, 3, 4]);
  h.write(A, pg, 100, src, 1, 3);
  const dst = new Uint8Array(8);
  h.read(A, pg, 99, dst, 0, 5);
  assert.deepEqual([...dst], [0, 2, 3, 4, 0, 0, 0, 0]);
  const fake = { length: 8, set() { throw new Error('called a look-alike'); } };
  assert.throws(() => h.read(A, pg, 0, fake, 0, 4), /expected a plain Uint8Array/);
  assert.throws(() => h.read(A, pg, 0, new Proxy(dst, {}), 0, 4), /expected a plain Uint8Array/);
  assert.throws(() => h.read(A, pg, 0, new Uint16Array(4), 0, 4), /expected a plain Uint8Array/);
  assert.throws(() => h.read(A, pg, 4094, dst, 0, 4), /outside Bytes<4096>/);
  assert.throws(() => h.write(A, pg, 0, dst, 6, 4), /outside the Uint8Array/);
  const other = h.allocate(A, PAGE);
  h.copy(A, other, 0, pg, 100, 3);
  assert.equal(h.u8(A, other, 2), 4);
});

test('exhaustion is an ordinary error, and the heap works again after frees', () => {
  const { h, violations } = heap(1 << 20);
  const got: number[] = [];
  assert.throws(() => { for (;;) got.push(h.allocate(A, PAGE)); }, HeapExhausted);
  assert.ok(got.length >= 100, `only ${got.length} pages fit`); // 4096 + header rounds to an 8 KiB buddy block
  assert.equal(violations.length, 0, 'running out is not a violation');
  for (const g of got) h.free(A, g);
  h.allocate(A, PAGE);
});

test('an owner is charged for whole trees: put and take keep the charge, a move carries the tree', () => {
  const { h } = heap();
  const q = h.allocate(A, DEQUE);
  for (let i = 0; i < 3; i++) {
    const p = h.allocate(A, PACKET);
    h.put(A, p, 0, h.allocate(A, PACKET)); // each packet holds a child
    assert.equal(h.push(A, q, p), true);
  }
  const mine = h.stats().perOwner.get(A)!;
  assert.equal(mine.objects, 7);
  const moved = h.move(A, q, B);
  assert.equal(h.stats().perOwner.get(A), undefined, 'the whole tree left A');
  assert.deepEqual(h.stats().perOwner.get(B), mine);
  const p = h.pop(B, moved)!;
  const c = h.take(B, p, 0)!;
  assert.deepEqual(h.stats().perOwner.get(B), mine, 'taking children out changes nothing owned');
  h.free(B, c);
  h.free(B, p);
  h.free(B, moved);
  assert.equal(h.stats().perOwner.get(B), undefined);
  assert.equal(h.stats().objects, 0);
});

test('moves charge owners lazily, but every figure read is exact: quota checks, statistics, reclaim', () => {
  const { h } = heap(1 << 22);
  // Statistics see objects just moved in, with nothing settled in between.
  for (let i = 0; i < 2; i++) h.move(A, h.allocate(A, PACKET), B);
  assert.deepEqual(h.stats().perOwner.get(B), { objects: 2, bytes: 168 });
  // More moved roots than the kernel lets wait (the list settles itself and stays bounded).
  const many: number[] = [];
  for (let i = 0; i < 5000; i++) many.push(h.move(A, h.allocate(A, PACKET), B));
  assert.deepEqual(h.stats().perOwner.get(B), { objects: 5002, bytes: 5002 * 84 });
  assert.equal(h.stats().perOwner.get(A), undefined);
  for (const m of many) h.free(B, m);
  // A root bounced through its slot's generations into fresh slots ends up charged once.
  let x = h.allocate(A, PACKET);
  h.put(A, x, 0, h.allocate(A, PACKET));
  for (let i = 0; i < 2 * GENERATIONS + 3; i++) x = i % 2 === 0 ? h.move(A, x, B) : h.move(B, x, A);
  assert.deepEqual(h.stats().perOwner.get(B), { objects: 4, bytes: 4 * 84 }, 'the bounced tree and the two packets');
  // Taking a child out of a moved tree and moving it back: each part charged where it is.
  const child = h.take(B, x, 0)!;
  h.move(B, child, A);
  assert.deepEqual(h.stats().perOwner.get(A), { objects: 1, bytes: 84 });
  assert.deepEqual(h.stats().perOwner.get(B), { objects: 3, bytes: 3 * 84 });
  // Reclaim right after a move, with nothing settled in between.
  const y = h.move(A, h.allocate(A, PACKET), B);
  void y;
  assert.deepEqual(h.reclaim(B), { objects: 4, bytes: 4 * 84, deferred: 0, salvaged: 0 });
  assert.deepEqual(h.stats().perOwner.get(A), { objects: 1, bytes: 84 });
  assert.equal(h.stats().perOwner.get(B), undefined);
});

test('the header records owner, type, borrows and size; a move updates the owner by the time it is read', () => {
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  assert.deepEqual(h.header(A, p), { owner: A, typeId: PACKET, borrows: 0, size: 84 });
  let q = h.move(A, p, B);
  q = h.move(B, q, 3);
  assert.deepEqual(h.header(3, q), { owner: 3, typeId: PACKET, borrows: 0, size: 84 });
  const b = h.borrow(3, q, A);
  assert.deepEqual(h.header(A, b), { owner: 3, typeId: PACKET, borrows: 1, size: 84 }, 'a borrower sees the lender as owner');
  h.reclaim(3);
  assert.equal(h.header(A, b).owner, OWNER_ORPHAN, 'lent out when its owner died');
});

test('a root moved and then lent out when its owner dies is charged right until its borrow returns', () => {
  const { h } = heap();
  const z = h.move(A, h.allocate(A, PACKET), B);
  const bz = h.borrow(B, z, 3);
  assert.deepEqual(h.reclaim(B), { objects: 0, bytes: 0, deferred: 1, salvaged: 0 });
  assert.equal(h.stats().perOwner.get(A), undefined, 'nothing left charged to the first owner');
  assert.equal(h.stats().perOwner.get(B), undefined);
  assert.equal(h.stats().objects, 1, 'still lent');
  h.unborrow(bz);
  assert.equal(h.stats().objects, 0);
  assert.equal(h.stats().perOwner.size, 0);
});

test('quota: allocations past it fail as ordinary errors; QUOTA_STRIKES in a row are a violation', () => {
  const { h, violations } = heap();
  h.setQuota(A, 64 * 1024); // one slab: 512 packets (100 bytes each take a 128-byte cell)
  const got: number[] = [];
  for (let i = 0; i < 512; i++) got.push(h.allocate(A, PACKET));
  assert.throws(() => h.allocate(A, PACKET), (e: unknown) => e instanceof HeapExhausted && /quota exceeded: its allocations hold 65536 of its 65536 bytes and Packet needs 65536 more/.test(e.message));
  assert.throws(() => h.allocate(A, PAGE), /quota exceeded/, 'another size needs another slab');
  assert.equal(violations.length, 0);
  h.free(A, got.pop()!);
  got.push(h.allocate(A, PACKET)); // room again, and the strikes start over
  for (let i = 1; i < QUOTA_STRIKES; i++) assert.throws(() => h.allocate(A, PACKET), HeapExhausted);
  assert.throws(() => h.allocate(A, PACKET), HeapViolation);
  assert.deepEqual(violations.map((v) => v[0]), [A]);
  assert.equal(h.allocate(B, PACKET) > 0, true, 'another domain is not affected');
  // Receiving costs nothing of the quota: what an object takes stays charged to the allocator.
  const moved = h.move(B, h.allocate(B, PACKET), A);
  assert.equal(h.stats().perOwner.get(A)!.objects, 513, 'A owns what it was sent');
  h.free(A, got.pop()!);
  assert.ok(h.allocate(A, PACKET) > 0, 'and may still allocate what its quota promises');
  void moved;
});

test('quotas are set aside from the arena: they add up, and what one domain does never makes another\'s allocation within quota fail', () => {
  const { h } = heap(1 << 20); // 16 slabs, one of them reserved (offset 0)
  const C = 3;
  h.setQuota(A, 5 << 16);
  h.setQuota(B, 5 << 16);
  assert.throws(() => h.setQuota(C, 6 << 16), /cannot set aside 393216 bytes: 327680 of the arena's 1048576 are not promised/);
  h.setQuota(C, 4 << 16);
  // A and B fragment what they can: one object left in each of six slabs of different sizes.
  const sizes = [PACKET, PAGE, id('RRefDeque<Packet, 32>'), id('RRefArray<Packet, 8>')];
  for (const dom of [A, B]) {
    for (const t of sizes) {
      const keep: number[] = [];
      for (let i = 0; i < 40; i++) { try { keep.push(h.allocate(dom, t)); } catch { break; } }
      for (const k of keep.slice(1)) h.free(dom, k);
    }
    for (let i = 0; i < 100; i++) { try { h.allocate(dom, PACKET); } catch { break; } }
  }
  // C can still allocate its whole quota, in any of the sizes (a page buffer takes two slabs:
  // its header's and its data's).
  assert.ok(h.allocate(C, PAGE) > 0);
  assert.ok(h.allocate(C, PACKET) > 0);
  assert.ok(h.allocate(C, id('RRefDeque<Packet, 32>')) > 0);
  assert.throws(() => h.allocate(C, id('RRefArray<Packet, 8>')), /quota exceeded/, 'a fourth size would need a fifth slab');
  // The kernel (no quota) may use only what nobody is promised; a released quota is free again.
  h.release(C);
  assert.deepEqual(h.audit(), []);
});

test('handles cannot run out before the arena: every object takes at least 64 bytes; borrows out are capped per lender', () => {
  assert.ok(SLOTS / 2 >= MAX_CAPACITY / MIN_FOOTPRINT);
  assert.throws(() => new ExchangeHeap(MAX_CAPACITY * 2, TYPES), /at most/);
  const { h } = heap();
  const p = h.allocate(A, PACKET);
  const out: number[] = [];
  for (let i = 0; i < MAX_LENT; i++) out.push(h.borrow(A, p, B));
  assert.throws(() => h.borrow(A, p, B), /has 1024 borrows out already/);
  assert.throws(() => h.lendable(A, p, PACKET, 0), /borrows out already/);
  h.unborrow(out.pop()!);
  assert.ok(h.lendable(A, p, PACKET, 0) >= 0);
  assert.throws(() => h.lendable(A, p, PACKET, 1), /borrows out already/, 'the second borrow of one call would be one too many');
  for (const b of out) h.unborrow(b);
  assert.deepEqual(h.audit(), []);
});

test('page buffers: data 4 KiB-aligned in a block of its own, header out of line; 4128 bytes of arena each', () => {
  const { h } = heap(1 << 22);
  const held = (): number => (h as unknown as { alloc: { stats(): { bytesInUse: number } } }).alloc.stats().bytesInUse;
  const base = held();
  const pages: number[] = [];
  for (let i = 0; i < 256; i++) pages.push(h.allocate(A, PAGE));
  assert.equal((held() - base) / pages.length, PAGE_BYTES + 32, 'arena bytes per 4 KiB buffer');
  const slot = (x: number): { data: number; header: number } => (h as unknown as { slots: { data: number; header: number }[] }).slots[x & (SLOTS - 1)];
  for (const p of pages) {
    assert.equal(slot(p).data % PAGE_BYTES, 0, 'page-aligned');
    assert.notEqual(slot(p).header + 16, slot(p).data, 'header out of line');
  }
  // Data goes where it should and survives moves, children and deques.
  h.write(A, pages[0], 0, new Uint8Array(4096).fill(7), 0, 4096);
  const moved = h.move(A, pages[0], B);
  const out = new Uint8Array(4096);
  h.read(B, moved, 0, out, 0, 4096);
  assert.ok(out.every((b) => b === 7));
  assert.deepEqual(h.header(B, moved), { owner: B, typeId: PAGE, borrows: 0, size: 4096 });
  for (const p of pages.slice(1)) h.free(A, p);
  h.free(B, moved);
  assert.equal(held(), base, 'every block is back');
  assert.deepEqual(h.audit(), []);
});

test('pins: a pinned root is readable, but not writable, movable, freeable or lendable; the last unpin restores it', () => {
  const { h, violations } = heap();
  const p = h.allocate(A, PAGE);
  const [s, ph, off, len] = h.pin(A, p, -1);
  assert.equal(len, 4096);
  assert.equal(off % PAGE_BYTES, 0);
  const [s2] = h.pin(A, p, -1);
  assert.equal(s2, s);
  assert.equal(h.u8(A, p, 0), 0, 'readable');
  assert.throws(() => h.setU8(A, p, 0, 1), /mapped for DMA/);
  assert.throws(() => h.move(A, p, B), /mapped for DMA/);
  assert.throws(() => h.free(A, p), /mapped for DMA/);
  assert.throws(() => h.pin(B, p, -1), /another domain/);
  assert.throws(() => h.borrow(A, p, B), /cannot be lent until it is unmapped/, 'a device may be writing it');
  assert.equal(h.unpin(s, ph), true);
  assert.throws(() => h.setU8(A, p, 0, 1), /mapped for DMA/, 'pinned twice, unpinned once');
  assert.equal(h.unpin(s, ph), true);
  assert.equal(h.unpin(s, ph), false, 'no pin left');
  h.setU8(A, p, 0, 1);
  h.unborrow(h.borrow(A, p, B));
  assert.equal(violations.length, 6);
  // A pinned root whose owner dies is not freed until its mapping goes.
  const q = h.allocate(A, PAGE);
  const [qs, qh] = h.pin(A, q, -1);
  assert.deepEqual(h.reclaim(A), { objects: 1, bytes: 4096, deferred: 1, salvaged: 0 });
  assert.equal(h.stats().objects, 1, 'the pinned page is kept while a device may write it');
  assert.equal(h.unpin(qs, qh), true);
  assert.equal(h.stats().objects, 0);
  assert.deepEqual(h.audit(), []);
});

test('salvage never hands a sender what it did not send: a container the crashed domain put its own object (or a third domain\'s) into is freed', () => {
  const { h } = heap();
  const C = 3;
  const d1 = h.move(A, h.allocate(A, DEQUE), B);
  h.push(B, d1, h.allocate(B, PACKET)); // B's own packet in A's deque
  const d2 = h.move(A, h.allocate(A, DEQUE), B);
  h.push(B, d2, h.move(C, h.allocate(C, PACKET), B)); // C's packet in A's deque
  const d3 = h.move(A, h.allocate(A, DEQUE), B);
  const own = h.allocate(B, PACKET);
  h.push(B, d3, own);
  const back = h.pop(B, d3)!; // taken out again: the deque stays MIXED, the packet too
  void back;
  const clean = h.move(A, h.allocate(A, DEQUE), B);
  h.push(B, clean, h.pop(B, clean) ?? h.move(A, h.allocate(A, PACKET), B)); // A's packet in A's deque
  const r = h.reclaim(B, (from) => from === A || from === C);
  assert.equal(r.salvaged, 1, 'only the deque holding nothing but what A sent');
  const got = h.salvaged(A);
  assert.equal(got.length, 1);
  assert.equal(h.count(A, got[0]!), 1);
  assert.deepEqual(h.salvaged(C), []);
  h.free(A, got[0]!);
  assert.equal(h.stats().objects, 0);
  assert.deepEqual(h.audit(), []);
});

test('salvage: roots a crashed domain received go back to their sender if it asks; children taken out follow their container', () => {
  const { h } = heap();
  const C = 3;
  const kept = h.move(A, h.allocate(A, PACKET), B);
  const d = h.allocate(A, DEQUE);
  h.push(A, d, h.allocate(A, PACKET));
  h.push(A, d, h.allocate(A, PACKET));
  const dq = h.move(A, d, B);
  const popped = h.pop(B, dq)!;
  h.setU32(B, popped, 8, 99);
  const own = h.allocate(B, PACKET);
  const fromC = h.move(C, h.allocate(C, PACKET), B);
  void kept; void own; void fromC;
  const r = h.reclaim(B, (from) => from === A);
  assert.equal(r.salvaged, 3, 'the packet, the deque (with its other packet) and the popped packet');
  assert.equal(r.objects, 2, 'B\'s own packet and the one from C (which did not ask) are freed');
  const back = h.salvaged(A);
  assert.equal(back.length, 3);
  assert.deepEqual(h.salvaged(A), [], 'read once');
  const values = back.map((x) => h.typeOf(A, x) === PACKET ? h.u32(A, x, 8) : -h.count(A, x));
  assert.deepEqual(values.sort((x, y) => x - y), [-1, 0, 99]);
  for (const x of back) h.free(A, x);
  assert.equal(h.stats().objects, 0);
  assert.deepEqual(h.audit(), []);
});

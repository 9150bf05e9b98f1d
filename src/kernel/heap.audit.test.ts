// audit(), the exchange heap's self-check, must report each kind of inconsistency, exactly.
//
// A consistent heap has none to report, and no public operation makes one (heap.hostile.test.ts
// checks that), so each case below corrupts one thing in a heap that audits clean: a slot-table
// field, a word of an object's header written through the arena, a count, the allocator or the
// free ring, reached through a cast to the heap's private fields (here only). Each case checks
// audit() is [] before, and returns exactly the listed messages after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExchangeHeap, SLOTS } from './heap.ts';
import { TYPES } from '../idl/generated/types.ts';

const id = (name: string): number => TYPES.find((t) => t.name === name)!.id;
const PACKET = id('Packet');
const PAGE = id('Bytes<4096>');
const A = 1;
const B = 2;
const slot = (x: number): number => x & (SLOTS - 1);

/** The private state the cases corrupt. */
interface SlotRecord { handle: number; mode: number; header: number; type: number; data: number; link: number; treeObjects: number; treeBytes: number; chargedTo: number; pins: number }
interface Inside {
  slots: SlotRecord[];
  owners: { objects: number; bytes: number; lent: number; quota: number; reserved: boolean }[];
  ring: number[];
  freeHead: number;
  freeCount: number;
  objects: number;
  bytes: number;
  nestedObjects: number;
  alloc: { alloc(size: number): number };
}
const inside = (h: ExchangeHeap): Inside => h as unknown as Inside;

/**
 * A heap with one of everything, all A's: p (a packet holding the packet c), q (a packet lent to
 * B as b), g (a pinned page), k (a packet); x (a packet) and y (a page) freed. Five objects,
 * 4 * 84 + 4096 bytes, one nested, six allocator blocks (a page has two).
 */
function world(): { h: ExchangeHeap; dv: DataView; at: (x: number) => number; x: Record<string, number> } {
  const h = new ExchangeHeap(1 << 20, TYPES);
  h.onViolation = () => {};
  const p = h.allocate(A, PACKET);
  const c = h.allocate(A, PACKET);
  h.put(A, p, 0, c);
  const q = h.allocate(A, PACKET);
  const b = h.borrow(A, q, B);
  const g = h.allocate(A, PAGE);
  h.pin(A, g, -1);
  const k = h.allocate(A, PACKET);
  const x = h.allocate(A, PACKET);
  const y = h.allocate(A, PAGE);
  const yData = inside(h).slots[slot(y)].data;
  h.free(A, x);
  h.free(A, y);
  const at = (handle: number): number => inside(h).slots[slot(handle)].header;
  return { h, dv: new DataView(h.buffer), at, x: { p, c, q, b, g, k, x, y, yData } };
}
type World = ReturnType<typeof world>;

/** Appends slot `s` to the free ring. */
function listFree(h: ExchangeHeap, s: number): void {
  const i = inside(h);
  i.ring[(i.freeHead + i.freeCount) & (i.ring.length - 1)] = s;
  i.freeCount++;
}

/** What audit() says when p's child c is unreadable: it and its subtree go uncounted. */
const uncountedChild = ({ x, at }: World): string[] => [
  `object at ${at(x.c)}: bad type or size`,
  `slot ${slot(x.p)}: tree is 1/84, slot says 2/168`,
  'counts 5/4432, reachable 4/4348',
  'nested count 1, reachable 0',
  'allocator has 6 blocks, 4 objects (1 with a page of their own) are reachable',
  `owner ${A}: charged 5/4432, owns 4/4348`,
];

/** [what is wrong, how to make it so, what audit() must say]; slot numbers and header offsets come
 *  from the world. */
const CASES: [string, (w: World) => void, (w: World) => string[]][] = [
  ['a slot whose handle names another slot',
    ({ h, x }) => { inside(h).slots[slot(x.k)].handle++; },
    ({ x }) => [`slot ${slot(x.k)}: handle ${x.k + 1} names another slot`]],
  ['a borrow whose root slot does not exist',
    ({ h, x }) => { inside(h).slots[slot(x.b)].link = 1 << 20; },
    ({ x }) => [`slot ${slot(x.b)}: a borrow of a dead root`]],
  ['a borrow whose root slot was freed (it still names the object)',
    ({ h, x, at }) => { const s = inside(h).slots; s[slot(x.b)].link = slot(x.x); s[slot(x.x)].header = at(x.q); },
    ({ x }) => [`slot ${slot(x.b)}: a borrow of a dead root`]],
  ['a borrow whose root slot was freed with handle 0 (a free slot all the same)',
    ({ h, x, at }) => { const s = inside(h).slots; s[slot(x.b)].link = slot(x.x); s[slot(x.x)].header = at(x.q); s[slot(x.x)].handle = 0; },
    ({ x }) => [`slot ${slot(x.b)}: a borrow of a dead root`]],
  ['a borrow whose root slot holds another object',
    ({ h, x }) => { inside(h).slots[slot(x.b)].link = slot(x.k); },
    ({ x }) => [`slot ${slot(x.b)}: a borrow of a dead root`]],
  ['a header naming another owner than the slot',
    ({ dv, x, at }) => dv.setUint32(at(x.k), 7, true),
    ({ x }) => [`slot ${slot(x.k)}: header owner 7, slot owner ${A}`]],
  ['a slot recording another type than the header',
    ({ h, x }) => { inside(h).slots[slot(x.k)].type = PAGE; },
    ({ x }) => [`slot ${slot(x.k)}: header type differs from the slot's`]],
  ['an object that is the child of two parents',
    ({ dv, x, at }) => dv.setUint32(at(x.k) + 16, at(x.c), true),
    ({ x, at }) => [`object at ${at(x.c)} is reachable twice`]],
  ['a child whose header has the wrong size (it and its subtree are not counted)',
    ({ dv, x, at }) => dv.setUint32(at(x.c) + 12, 85, true),
    uncountedChild],
  ['a child whose header names no type',
    ({ dv, x, at }) => dv.setUint32(at(x.c) + 4, 99, true),
    uncountedChild],
  ['a child pointer left dangling to a freed object',
    ({ dv, x, at }) => dv.setUint32(at(x.k) + 16, at(x.x), true),
    ({ x, at }) => [
      `object at ${at(x.x)} is not an allocated block`,
      `child at ${at(x.x)}: owner field is not CHILD`,
      `slot ${slot(x.k)}: tree is 2/168, slot says 1/84`,
      'counts 5/4432, reachable 6/4516',
      'nested count 1, reachable 2',
      'allocator has 6 blocks, 6 objects (1 with a page of their own) are reachable',
      `owner ${A}: charged 5/4432, owns 6/4516`,
    ]],
  ['a child whose owner field is not CHILD',
    ({ dv, x, at }) => dv.setUint32(at(x.c), A, true),
    ({ x, at }) => [`child at ${at(x.c)}: owner field is not CHILD`]],
  ['a page buffer whose data is not page-aligned (an allocated block all the same)',
    ({ dv, x, at }) => dv.setUint32(at(x.g) + 16, at(x.c), true),
    ({ x, at }) => [`page buffer at ${at(x.g)}: data at ${at(x.c)} is not page-aligned`]],
  ['a page buffer whose data was freed',
    ({ dv, x, at }) => dv.setUint32(at(x.g) + 16, x.yData, true),
    ({ x, at }) => [`page buffer at ${at(x.g)}: its data is not an allocated block`]],
  ['a root recording more objects in its tree than it has',
    ({ h, x }) => { inside(h).slots[slot(x.k)].treeObjects = 3; },
    ({ x }) => [`slot ${slot(x.k)}: tree is 1/84, slot says 3/84`]],
  ['a root recording more bytes in its tree than it has',
    ({ h, x }) => { inside(h).slots[slot(x.k)].treeBytes = 85; },
    ({ x }) => [`slot ${slot(x.k)}: tree is 1/84, slot says 1/85`]],
  ['a root charged to another domain than its owner',
    ({ h, x }) => { inside(h).slots[slot(x.k)].chargedTo = 7; },
    ({ x }) => [`slot ${slot(x.k)}: charged to 7, owned by ${A}`]],
  ['a header borrow count that differs from the borrows out',
    ({ dv, x, at }) => dv.setUint32(at(x.q) + 8, 5, true),
    ({ x }) => [`slot ${slot(x.q)}: borrow count 5, 1 borrows`]],
  ['a PINNED root without pins',
    ({ h, x }) => { inside(h).slots[slot(x.g)].pins = 0; },
    ({ x }) => [`slot ${slot(x.g)}: PINNED without pins`]],
  ['pins on a root that is not PINNED',
    ({ h, x }) => { inside(h).slots[slot(x.k)].pins = 2; },
    ({ x }) => [`slot ${slot(x.k)}: 2 pins but not PINNED`]],
  ['a LENT root with no borrows out',
    ({ h, x }) => { inside(h).slots[slot(x.k)].mode = 1; },
    ({ x }) => [`slot ${slot(x.k)}: mode 1 with 0 borrows`]],
  ['an OWNED root with a borrow out',
    ({ h, x }) => { inside(h).slots[slot(x.q)].mode = 0; },
    ({ x }) => [`slot ${slot(x.q)}: mode 0 with 1 borrows`]],
  ['an object count that differs from the objects reachable',
    ({ h }) => { inside(h).objects++; },
    () => ['counts 6/4432, reachable 5/4432']],
  ['a byte count that differs from the bytes reachable',
    ({ h }) => { inside(h).bytes++; },
    () => ['counts 5/4433, reachable 5/4432']],
  ['a nested count that differs from the children reachable',
    ({ h }) => { inside(h).nestedObjects++; },
    () => ['nested count 2, reachable 1']],
  ['an allocator block no object holds (a leak)',
    ({ h }) => { inside(h).alloc.alloc(64); },
    () => ['allocator has 7 blocks, 5 objects (1 with a page of their own) are reachable']],
  ['an owner charged for more objects than it owns',
    ({ h }) => { inside(h).owners[A + 1].objects++; },
    () => [`owner ${A}: charged 6/4432, owns 5/4432`]],
  ['an owner charged for more bytes than it owns',
    ({ h }) => { inside(h).owners[A + 1].bytes++; },
    () => [`owner ${A}: charged 5/4433, owns 5/4432`]],
  ['a lender counting more borrows out than are held',
    ({ h }) => { inside(h).owners[A + 1].lent = 5; },
    () => [`owner ${A}: 5 borrows counted out, 1 held`]],
  ['an owner holding more arena than its quota (setQuota refuses to make one)',
    ({ h }) => { Object.assign(inside(h).owners[A + 1], { quota: 1 << 16, reserved: true }); },
    () => [`owner ${A}: holds 196608 bytes, over its quota of 65536`]],
  ['a free slot listed twice in the free ring',
    ({ h, x }) => listFree(h, slot(x.c)),
    ({ x }) => [`free ring: slot ${slot(x.c)} is listed twice or in use`]],
  ['a slot in use listed in the free ring',
    ({ h, x }) => listFree(h, slot(x.p)),
    ({ x }) => [`free ring: slot ${slot(x.p)} is listed twice or in use`]],
];

for (const [what, corrupt, want] of CASES) {
  test(`audit reports ${what}`, () => {
    const w = world();
    assert.deepEqual(w.h.audit(), [], 'consistent before');
    corrupt(w);
    assert.deepEqual(w.h.audit(), want(w));
  });
}

test('the world the cases corrupt holds what they assume', () => {
  const { h, x } = world();
  const s = h.stats();
  assert.deepEqual([s.objects, s.bytes, s.nested.objects, s.handles], [5, 4432, 1, 5]);
  assert.deepEqual(h.header(A, x.q), { owner: A, typeId: PACKET, borrows: 1, size: 84 });
  assert.deepEqual([x.p, x.c, x.q, x.b, x.g, x.k, x.x, x.y].map(slot), [0, 1, 2, 3, 4, 5, 6, 7], 'one slot each, none reused');
});

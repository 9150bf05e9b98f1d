// The arena allocator at its edges (alloc.ts), where alloc.test.ts does not look:
//
//   - every refusal with its exact message (capacity, size, and an offset that is not the start of
//     a live block: in a slab, in a large block, out of range), and the capacity limits themselves;
//   - offsets inside a large block (page-aligned or not, its head's page or a later one) are not
//     blocks: freeing one frees nothing;
//   - a freed cell is never taken for a live one (double free and blockSize after free), whatever
//     index its free-list link holds;
//   - spare slabs: an emptied slab stays with its class (and only its class) until the page
//     allocator runs short, then it is given back; a request the spares cannot satisfy still fails
//     cleanly;
//   - largestFree when no page is free counts every size class, down to the smallest;
//   - the buddy free lists against a reference model of the arena, over a seeded random sequence of
//     large allocations and frees (every list position, page 0 included).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArenaAllocator } from './alloc.ts';

const KiB = 1024;
const MiB = 1 << 20;
const SLAB = 64 * KiB;
const PAGE = 4 * KiB;

const notLive = (op: string, offset: number): string =>
  `ArenaAllocator.${op}: offset ${offset} is not the start of a live block (already freed, never allocated, or inside a block)`;

/** Asserts that neither free nor blockSize accepts `offset`, each with its exact message. */
function refused(a: ArenaAllocator, offset: number): void {
  assert.throws(() => a.free(offset), { name: 'Error', message: notLive('free', offset) }, `free(${offset})`);
  assert.throws(() => a.blockSize(offset), { name: 'Error', message: notLive('blockSize', offset) }, `blockSize(${offset})`);
}

/** Fills every free page of `a` with 64 KiB cells (one slab each); returns them. */
function fillWithSlabs(a: ArenaAllocator): number[] {
  const got: number[] = [];
  for (let off = a.alloc(SLAB); off >= 0; off = a.alloc(SLAB)) got.push(off);
  return got;
}

// xorshift32: deterministic, so a failure reproduces.
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

test('refusals carry their exact messages', () => {
  assert.throws(() => new ArenaAllocator(3 * MiB), {
    name: 'RangeError',
    message: 'ArenaAllocator: capacity must be a power of two between 1 MiB and 4 GiB, got 3145728',
  });
  const a = new ArenaAllocator(MiB);
  assert.throws(() => a.alloc(0), { name: 'RangeError', message: 'ArenaAllocator.alloc: size must be an integer >= 1, got 0' });
  assert.throws(() => a.alloc(2.5), { name: 'RangeError', message: 'ArenaAllocator.alloc: size must be an integer >= 1, got 2.5' });
  // Out of range or misaligned: refused before any slab or page is looked at.
  for (const off of [-16, MiB, 8]) refused(a, off);
  const cell = a.alloc(64);
  assert.throws(() => a.free(cell + 64), { message: notLive('free', cell + 64) }, 'a cell never carved');
  refused(a, cell + 16); // inside a cell
  a.free(cell);
  assert.throws(() => a.blockSize(cell), { message: notLive('blockSize', cell) });
  assert.equal(a.stats().blocks, 0);
});

test('the capacity may be anything from 1 MiB to 4 GiB, both included', () => {
  for (const capacity of [MiB, 2 ** 32]) {
    const a = new ArenaAllocator(capacity);
    assert.equal(a.stats().capacity, capacity);
    assert.equal(a.stats().largestFree, capacity);
    assert.equal(a.alloc(capacity), 0, 'the whole arena is one block');
    assert.equal(a.blockSize(0), capacity);
    assert.equal(a.alloc(SLAB), -1);
    a.free(0);
  }
  assert.throws(() => new ArenaAllocator(2 ** 33), RangeError);
});

test('no offset inside a large block is a block: freeing one frees nothing', () => {
  const a = new ArenaAllocator(MiB);
  const big = a.alloc(200_000); // 49 pages: a block of 64 pages (256 KiB) of its own
  assert.equal(big % (256 * KiB), 0);
  assert.equal(a.blockSize(big), 256 * KiB);
  for (const off of [big + 16, big + PAGE, big + PAGE + 16, big + SLAB, big + 2 * SLAB + 48]) refused(a, off);
  assert.equal(a.blockSize(big), 256 * KiB, 'still live');
  assert.deepEqual(a.stats(), { capacity: MiB, bytesInUse: 256 * KiB, blocks: 1, freeBytes: MiB - 256 * KiB, largestFree: MiB / 2 });
  // Free pages are no block either (a page that heads a free block, and one inside it).
  refused(a, MiB / 2);
  refused(a, MiB / 2 + PAGE);
  a.free(big);
  refused(a, big);
  assert.equal(a.stats().largestFree, MiB);
});

test('a freed cell is never taken for a live one, whatever its free-list link holds', () => {
  const a = new ArenaAllocator(MiB);
  const c = [a.alloc(64), a.alloc(64), a.alloc(64), a.alloc(64)]; // cells 0..3 of one slab
  assert.deepEqual(c.map((x) => x - c[0]!), [0, 64, 128, 192]);
  a.free(c[2]!); // the free list: 2
  a.free(c[1]!); // the free list: 1 -> 2 (cell 1 now holds the index 2)
  assert.throws(() => a.free(c[1]!), { message: `ArenaAllocator.free: double free of offset ${c[1]!}` });
  assert.throws(() => a.blockSize(c[1]!), { message: notLive('blockSize', c[1]!) });
  assert.throws(() => a.free(c[2]!), /double free/);
  assert.equal(a.stats().blocks, 2);
  assert.equal(a.alloc(64), c[1], 'the free list is last in, first out');
  assert.equal(a.alloc(64), c[2]);
  assert.equal(a.alloc(64), c[0]! + 256, 'then the next cell never carved');
});

test('an emptied slab stays a spare of its class: another class does not get its pages, its own class gets it back', () => {
  for (const size of [64, SLAB]) { // (a 64 KiB cell is a slab of one cell, a spare like any other)
    const a = new ArenaAllocator(MiB);
    const x = a.alloc(size);
    const y = a.alloc(100); // another class: a slab of its own
    assert.notEqual(x >>> 16, y >>> 16);
    a.free(x);
    const z = a.alloc(3000);
    assert.notEqual(z >>> 16, x >>> 16, `size ${size}: another class opened its slab elsewhere`);
    assert.equal(a.alloc(size), x, `size ${size}: the spare came back to its class, from its first cell`);
    assert.equal(a.stats().blocks, 3);
  }
});

test('spares are given back when the page allocator runs short, and what they cannot satisfy still fails cleanly', () => {
  // Two spares that are buddies: given back, they coalesce into a 128 KiB block, which serves a
  // 64 KiB slab of a third class.
  {
    const a = new ArenaAllocator(MiB);
    const x1 = a.alloc(16);
    const x2 = a.alloc(32);
    assert.equal(fillWithSlabs(a).length, 14);
    a.free(x1);
    a.free(x2);
    const r = a.alloc(100);
    assert.ok(r >= 0, 'a slab out of the spares');
    assert.equal(r >>> 17, x1 >>> 17, 'from the 128 KiB the two spares made');
    assert.equal(a.blockSize(r), 128);
  }
  // One spare: given back, but 64 KiB cannot hold a 128 KiB block.
  {
    const a = new ArenaAllocator(MiB);
    const x = a.alloc(16);
    const slabs = fillWithSlabs(a);
    assert.equal(slabs.length, 15);
    a.free(x);
    assert.equal(a.alloc(70_000), -1);
    assert.equal(a.alloc(2 * SLAB), -1);
    assert.equal(a.stats().largestFree, SLAB, 'the spare is a free 64 KiB block now');
    const r = a.alloc(3000);
    assert.equal(r >>> 16, x >>> 16, 'and serves any class');
    assert.deepEqual([a.stats().blocks, a.stats().bytesInUse], [16, 15 * SLAB + 3072]);
  }
});

test('largestFree with no free page is the largest class with a free cell, down to 16 bytes', () => {
  const a = new ArenaAllocator(MiB);
  const x = a.alloc(16);
  fillWithSlabs(a);
  assert.equal(a.stats().largestFree, 16);
  a.free(x); // the 16-byte slab is empty: back to the pages
  assert.equal(a.stats().largestFree, SLAB);
});

test('buddy free lists: seeded random large allocations and frees agree with a model of the arena', () => {
  // Large blocks only (orders 5 to 8 of a 1 MiB arena: 128 KiB to 1 MiB), counted in units of
  // 128 KiB. With eager coalescing, a block of 2^k units can be allocated exactly when some
  // 2^k-aligned run of units is free, and largestFree is the largest such run.
  const UNIT = 128 * KiB;
  const UNITS = MiB / UNIT;
  const fits = (used: boolean[], n: number): boolean => {
    for (let u = 0; u < UNITS; u += n) if (used.slice(u, u + n).every((b) => !b)) return true;
    return false;
  };
  for (const seed of [1, 7, 42, 1234, 99991]) {
    const r = rng(seed);
    const a = new ArenaAllocator(MiB);
    const used: boolean[] = new Array<boolean>(UNITS).fill(false);
    const live = new Map<number, number>(); // offset -> units
    for (let step = 0; step < 400; step++) {
      if (live.size > 0 && r() < 0.45) {
        const offs = [...live.keys()];
        const off = offs[Math.floor(r() * offs.length)]!;
        const n = live.get(off)!;
        a.free(off);
        live.delete(off);
        for (let u = off / UNIT; u < off / UNIT + n; u++) used[u] = false;
      } else {
        const n = 1 << Math.floor(r() * r() * 4); // 1, 2, 4 or 8 units, mostly small
        const size = n * UNIT - Math.floor(r() * (UNIT / 2)); // rounds up to n units
        const off = a.alloc(size);
        const where = `seed ${seed}, step ${step}: alloc(${size})`;
        assert.equal(off >= 0, fits(used, n), where);
        if (off >= 0) {
          assert.equal(off % (n * UNIT), 0, `${where} = ${off}: not aligned`);
          for (let u = off / UNIT; u < off / UNIT + n; u++) {
            assert.equal(used[u], false, `${where} = ${off}: overlaps a live block`);
            used[u] = true;
          }
          live.set(off, n);
        }
      }
      let largest = 0;
      for (let n = UNITS; n >= 1; n /= 2) if (fits(used, n)) { largest = n * UNIT; break; }
      assert.equal(a.stats().largestFree, largest, `seed ${seed}, step ${step}: largestFree`);
    }
    for (const off of live.keys()) a.free(off);
    assert.deepEqual(a.stats(), { capacity: MiB, bytesInUse: 0, blocks: 0, freeBytes: MiB, largestFree: MiB });
  }
});

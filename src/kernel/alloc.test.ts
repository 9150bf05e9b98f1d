import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArenaAllocator, Pool } from './alloc.ts';

const MiB = 1 << 20;

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

function assertNoOverlap(a: ArenaAllocator, offsets: Iterable<number>, capacity: number): void {
  const iv = [...offsets].map((o) => [o, o + a.blockSize(o)] as const).sort((x, y) => x[0] - y[0]);
  for (let i = 0; i < iv.length; i++) {
    const [lo, hi] = iv[i]!;
    assert.ok(lo >= 0 && hi <= capacity, `block [${lo}, ${hi}) outside arena`);
    if (i > 0) assert.ok(iv[i - 1]![1] <= lo, `blocks at ${iv[i - 1]![0]} and ${lo} overlap`);
  }
}

test('constructor rejects bad capacities', () => {
  for (const c of [0, -MiB, 1000, MiB / 2, MiB + 1, 1.5 * MiB, 3 * MiB, NaN, Infinity, 2 ** 33]) {
    assert.throws(() => new ArenaAllocator(c), RangeError, `capacity ${c}`);
  }
  const a = new ArenaAllocator(MiB);
  assert.deepEqual(a.stats(), {
    capacity: MiB, bytesInUse: 0, blocks: 0, freeBytes: MiB, largestFree: MiB,
  });
});

test('alloc rejects bad sizes, returns -1 for sizes over capacity', () => {
  const a = new ArenaAllocator(MiB);
  for (const s of [0, -1, 1.5, NaN, Infinity, '16' as unknown as number]) {
    assert.throws(() => a.alloc(s), RangeError, `size ${String(s)}`);
  }
  assert.equal(a.alloc(MiB + 1), -1);
  assert.equal(a.alloc(2 ** 60), -1);
  assert.equal(a.stats().blocks, 0);
});

test('alignment and usable size for boundary sizes', () => {
  const a = new ArenaAllocator(8 * MiB);
  const sizes = [1, 2, 15, 16, 17, 31, 32, 33, 48, 49, 100, 1000, 1536, 1537, 2047, 2048, 2049,
    3000, 4095, 4096, 4097, 8192, 65535, 65536, 65537, MiB];
  for (let s = 1; s <= 5000; s += 7) sizes.push(s);
  const live: number[] = [];
  let sum = 0;
  for (const s of sizes) {
    const off = a.alloc(s);
    assert.ok(off >= 0, `alloc(${s}) failed`);
    assert.equal(off % 16, 0, `alloc(${s}) = ${off} not 16-aligned`);
    const bs = a.blockSize(off);
    assert.ok(bs >= s, `blockSize ${bs} < requested ${s}`);
    if (s <= 65536) assert.ok(bs < 1.51 * s + 16, `size ${s} got wasteful class ${bs}`);
    else {
      assert.equal(off % 4096, 0, 'large blocks are page aligned');
      assert.ok(bs < 2 * s + 4096, `size ${s} got ${bs}`);
    }
    live.push(off);
    sum += bs;
  }
  assert.equal(a.blockSize(a.alloc(16)), 16);
  assert.equal(a.blockSize(a.alloc(17)), 32);
  assert.equal(a.blockSize(a.alloc(2048)), 2048);
  assert.equal(a.blockSize(a.alloc(2049)), 3072);
  assert.equal(a.blockSize(a.alloc(4097)), 4608);
  assert.equal(a.blockSize(a.alloc(65537)), 128 * 1024);
  assert.equal(a.blockSize(a.alloc(MiB)), MiB);
  const st = a.stats();
  assert.equal(st.blocks, live.length + 7);
  assert.equal(st.bytesInUse, sum + 16 + 32 + 2048 + 3072 + 4608 + 128 * 1024 + MiB);
  assert.equal(st.freeBytes, st.capacity - st.bytesInUse);
  assertNoOverlap(a, live, 8 * MiB);
});

test('random live blocks never overlap', () => {
  const cap = 16 * MiB;
  const a = new ArenaAllocator(cap);
  const r = rng(12345);
  const live = new Set<number>();
  for (let i = 0; i < 6000; i++) {
    const size = r() < 0.9 ? 1 + Math.floor(r() * 2048) : 2049 + Math.floor(r() * 30000);
    const off = a.alloc(size);
    assert.ok(off >= 0, `alloc(${size}) failed at step ${i}`);
    assert.ok(!live.has(off), `offset ${off} handed out twice`);
    live.add(off);
    if (r() < 0.3) {
      const victim = [...live][Math.floor(r() * live.size)]!;
      a.free(victim);
      live.delete(victim);
    }
  }
  assert.ok(live.size > 3000, `only ${live.size} live blocks`);
  assertNoOverlap(a, live, cap);
});

test('double free and bad offsets throw', () => {
  const a = new ArenaAllocator(MiB);
  const small = a.alloc(64);
  const small2 = a.alloc(64);
  const large = a.alloc(16384);
  assert.equal(a.blockSize(small), 64);

  // Inside a block, misaligned, out of range, garbage, never allocated.
  for (const bad of [small + 16, small + 1, large + 4096, large + 16, -16, -1, MiB, 2 * MiB, 3.5, NaN,
    small2 + 64, /* uncarved cell */ large + 32768, /* free pages */]) {
    assert.throws(() => a.free(bad), /not the start of a live block/, `free(${bad})`);
    assert.throws(() => a.blockSize(bad), /not the start of a live block/, `blockSize(${bad})`);
  }

  a.free(small);
  assert.throws(() => a.free(small), /double free/);
  assert.throws(() => a.blockSize(small), /not the start of a live block/);
  a.free(large);
  assert.throws(() => a.free(large), /not the start of a live block/);
  assert.throws(() => a.blockSize(large), /not the start of a live block/);

  // Last cell of a slab frees the slab; the old offset is then plain free space.
  a.free(small2);
  assert.throws(() => a.free(small2), Error);
  const st = a.stats();
  assert.equal(st.blocks, 0);
  assert.equal(st.largestFree, MiB);
});

test('exhaustion returns -1 and the allocator recovers', () => {
  const a = new ArenaAllocator(MiB);
  const all = a.alloc(MiB);
  assert.equal(all, 0);
  assert.equal(a.alloc(16), -1);
  assert.equal(a.alloc(4096), -1);
  assert.equal(a.stats().largestFree, 0);
  a.free(all);

  // Fill with small cells until the arena is exhausted.
  const cells: number[] = [];
  for (;;) {
    const off = a.alloc(100);
    if (off < 0) break;
    cells.push(off);
  }
  // 128-byte class: 512 cells per 64 KiB slab, 16 slabs.
  assert.equal(cells.length, 512 * 16);
  assert.equal(a.alloc(1), -1);
  assert.equal(a.alloc(5000), -1);
  assert.equal(a.stats().largestFree, 0);

  // Free one cell: exactly that class can allocate again.
  a.free(cells.pop()!);
  assert.equal(a.stats().largestFree, 128);
  assert.equal(a.alloc(16), -1);
  const again = a.alloc(128);
  assert.ok(again >= 0);
  cells.push(again);

  for (const c of cells) a.free(c);
  const st = a.stats();
  assert.equal(st.bytesInUse, 0);
  assert.equal(st.largestFree, MiB);
  assert.equal(a.alloc(MiB), 0);
});

test('churn: 200k mixed operations under 40% load never fail, then fully coalesce', () => {
  const cap = 32 * MiB;
  const a = new ArenaAllocator(cap);
  const r = rng(0x5eed);
  const live: number[] = [];
  let liveBytes = 0;
  let allocs = 0;
  for (let op = 0; op < 200_000; op++) {
    const wantAlloc = liveBytes < 0.4 * cap && (live.length === 0 || r() < 0.55);
    if (wantAlloc) {
      const k = r();
      const size = k < 0.85 ? 1 + Math.floor(r() * r() * 2048)       // mostly small, skewed low
        : k < 0.97 ? 2049 + Math.floor(r() * 30 * 1024)             // medium
          : 32 * 1024 + Math.floor(r() * 224 * 1024);               // large, up to 256 KiB
      const off = a.alloc(size);
      assert.ok(off >= 0, `op ${op}: alloc(${size}) failed with ${liveBytes} live bytes`);
      liveBytes += a.blockSize(off);
      live.push(off);
      allocs++;
    } else {
      const i = Math.floor(r() * live.length);
      const off = live[i]!;
      live[i] = live[live.length - 1]!;
      live.pop();
      liveBytes -= a.blockSize(off);
      a.free(off);
    }
    if (op % 50_000 === 0) {
      assert.equal(a.stats().bytesInUse, liveBytes);
      assert.equal(a.stats().blocks, live.length);
    }
  }
  assert.ok(allocs > 100_000);
  assertNoOverlap(a, live, cap);
  for (const off of live) a.free(off);
  const st = a.stats();
  assert.equal(st.bytesInUse, 0);
  assert.equal(st.blocks, 0);
  assert.equal(st.freeBytes, cap);
  assert.equal(st.largestFree, cap);
  assert.equal(a.alloc(cap), 0);
});

test('slab burst: empty slabs go back to the page allocator', () => {
  // 100k 32-byte cells fill 49 of the 64 slabs in a 4 MiB arena, so a
  // capacity/2 block is only possible if the emptied slabs were returned.
  const cap = 4 * MiB;
  const a = new ArenaAllocator(cap);
  const offs: number[] = [];
  for (let i = 0; i < 100_000; i++) {
    const off = a.alloc(32);
    assert.ok(off >= 0);
    offs.push(off);
  }
  assert.equal(a.alloc(cap / 2), -1);
  for (const off of offs) a.free(off);
  const big = a.alloc(cap / 2);
  assert.ok(big >= 0);
  assert.equal(a.blockSize(big), cap / 2);
  a.free(big);
  assert.equal(a.stats().largestFree, cap);
});

test('alloc/free of one small object in a loop does not leak or pin pages', () => {
  const a = new ArenaAllocator(MiB);
  for (let i = 0; i < 10_000; i++) a.free(a.alloc(64));
  for (let i = 0; i < 1_000; i++) a.free(a.alloc(8192));
  assert.equal(a.alloc(MiB), 0);
});

test('pools: a slab serves one pool only; held counts its slabs and large blocks; cost says what an allocation adds', () => {
  const a = new ArenaAllocator(4 * MiB);
  const p = new Pool();
  const q = new Pool();
  const x = a.alloc(100, p);
  const y = a.alloc(100, q);
  assert.notEqual(x >>> 16, y >>> 16, 'two pools never share a slab');
  assert.equal(p.held, 65536);
  assert.equal(q.held, 65536);
  assert.equal(a.cost(100, p), 0, 'a free cell in its own slab');
  assert.equal(a.cost(3000, p), 65536, 'another class: another slab');
  assert.equal(a.cost(200_000, p), 262144, 'a large block of its own');
  const big = a.alloc(200_000, p);
  assert.equal(p.held, 65536 + 262144);
  a.free(x);
  assert.equal(p.held, 262144, 'an emptied slab leaves the pool');
  a.free(big);
  a.free(y);
  assert.equal(p.held + q.held, 0);
});

test('pools: one pool\'s half-empty slabs are charged to it, and any 64 KiB it frees serves another pool in any class', () => {
  const a = new ArenaAllocator(MiB); // 16 slabs; the test's first cell opens one of them
  const hog = new Pool();
  const cells: number[] = [];
  for (let off = a.alloc(100, hog); off >= 0; off = a.alloc(100, hog)) cells.push(off);
  // Keep one cell in every slab: the hog holds the whole arena with a few hundred bytes live.
  const bySlab = new Map<number, number[]>();
  for (const c of cells) bySlab.set(c >>> 16, [...(bySlab.get(c >>> 16) ?? []), c]);
  for (const list of bySlab.values()) for (const c of list.slice(1)) a.free(c);
  assert.equal(hog.held, bySlab.size * 65536, 'charged a slab for each, however empty');
  const other = new Pool();
  assert.equal(a.alloc(5000, other), -1, 'nothing is free');
  assert.equal(a.alloc(100, other), -1, 'not even in the hog\'s half-empty slabs: they are its own');
  a.free(bySlab.values().next().value![0]!);
  for (const size of [5000, 40000]) {
    const off = a.alloc(size, other);
    assert.ok(off >= 0, `a freed slab serves another pool (${size} bytes)`);
    a.free(off);
  }
});

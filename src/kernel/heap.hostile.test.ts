// The exchange heap against hostile arguments and against a throw at every step.
//
// 1. Property tests (fast-check): every entry point a domain reaches (through sys.heap or a proxy)
//    gets arbitrary values mixed with hostile ones — objects whose toString, valueOf,
//    Symbol.toPrimitive, getters and Proxy traps free or move the object being used, typed arrays
//    whose species constructor does the same, look-alikes of Uint8Array. Whatever happens, none of
//    the hostile code runs, the call either succeeds or throws one of the heap's own errors (or a
//    TypeError for a value of the wrong type), and the heap passes its audit.
// 2. Fault injection: each operation is run again and again with a RangeError thrown at its 1st,
//    2nd, ... call of a heap or allocator method (what the engine does at its stack limit), and
//    the heap must pass its audit after every one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ExchangeHeap, HeapExhausted, HeapViolation } from './heap.ts';
import { ArenaAllocator } from './alloc.ts';
import { TYPES } from '../idl/generated/types.ts';

const id = (name: string): number => TYPES.find((t) => t.name === name)!.id;
const PACKET = id('Packet');
const DEQUE = id('RRefDeque<Packet, 32>');
const RING = id('RRefArray<Packet, 8>');
const PAGE = id('Bytes<4096>');
const A = 1;
const B = 2;

/** Hostile code that must never run: each records that it did, and tries to do harm. */
let ran = 0;
let victim: { h: ExchangeHeap; p: number } | null = null;
function harm(): void {
  ran++;
  if (victim) {
    try { victim.h.free(A, victim.p); } catch { /* already gone */ }
    try { victim.h.allocate(B, PAGE); } catch { /* full */ }
  }
}

function hostiles(): unknown[] {
  const trap = (): ProxyHandler<object> => new Proxy({}, { get: () => (...a: unknown[]) => { harm(); return Reflect.apply(Reflect.get as never, null, a); } });
  class Species extends Uint8Array {
    static get [Symbol.species](): Uint8ArrayConstructor { harm(); return Uint8Array; }
  }
  const ownCtor = new Uint8Array(64);
  Object.defineProperty(ownCtor, 'constructor', { get() { harm(); return Uint8Array; } });
  const ctorWithSpecies = new Uint8Array(64);
  Object.defineProperty(ctorWithSpecies, 'constructor', { value: { get [Symbol.species]() { harm(); return Uint8Array; } } });
  return [
    { valueOf() { harm(); return 0; }, toString() { harm(); return '0'; } },
    { [Symbol.toPrimitive]() { harm(); return 0; } },
    { get length() { harm(); return 8; } },
    new Proxy({}, trap()),
    new Proxy(new Uint8Array(64), trap()),
    new Proxy(() => 0, trap()),
    new Species(64),
    ownCtor,
    ctorWithSpecies,
    Object.create(Uint8Array.prototype),
    new Uint16Array(32),
    new DataView(new ArrayBuffer(64)),
    [0, 0, 0, 0],
    -0, NaN, Infinity, -1, 1.5, 2 ** 32, 2 ** 53, 1n, '0', null, undefined, Symbol('h'),
  ];
}

function heap(): ExchangeHeap {
  const h = new ExchangeHeap(1 << 20, TYPES);
  h.onViolation = () => {};
  return h;
}

/** The heap's own errors, and the TypeError a store of the wrong type of value gets. */
function expected(e: unknown): boolean {
  return e instanceof HeapViolation || e instanceof HeapExhausted || (e instanceof TypeError && /exchange heap: expected a/.test(e.message));
}

type Op = (h: ExchangeHeap, x: unknown[]) => unknown;
const OPS: Record<string, Op> = {
  allocate: (h, x) => h.allocate(A, x[0] as number),
  free: (h, x) => h.free(A, x[0]),
  typeOf: (h, x) => h.typeOf(A, x[0]),
  size: (h, x) => h.size(A, x[0]),
  u32: (h, x) => h.u32(A, x[0], x[1]),
  u64: (h, x) => h.u64(A, x[0], x[1]),
  setU8: (h, x) => h.setU8(A, x[0], x[1], x[2] as number),
  setF64: (h, x) => h.setF64(A, x[0], x[1], x[2] as number),
  setI64: (h, x) => h.setI64(A, x[0], x[1], x[2] as bigint),
  read: (h, x) => h.read(A, x[0], x[1], x[2], x[3], x[4]),
  write: (h, x) => h.write(A, x[0], x[1], x[2], x[3], x[4]),
  copy: (h, x) => h.copy(A, x[0], x[1], x[2], x[3], x[4]),
  fill: (h, x) => h.fill(A, x[0], x[1], x[2], x[3]),
  take: (h, x) => h.take(A, x[0], x[1]),
  put: (h, x) => h.put(A, x[0], x[1], x[2]),
  push: (h, x) => h.push(A, x[0], x[1]),
  pop: (h, x) => h.pop(A, x[0]),
  count: (h, x) => h.count(A, x[0]),
  move: (h, x) => h.move(A, x[0], B),
  moveAs: (h, x) => h.moveAs(A, x[0], x[1] as number, B),
  borrow: (h, x) => h.borrow(A, x[0], B),
  header: (h, x) => h.header(A, x[0]),
  pin: (h, x) => h.pin(A, x[0], x[1]),
};

test('every heap entry point: hostile values run no code, fail with the heap\'s own errors, and leave the heap consistent', () => {
  const bad = hostiles();
  for (const [name, op] of Object.entries(OPS)) {
    fc.assert(fc.property(
      fc.array(fc.oneof(
        fc.constantFrom(...bad),
        fc.constantFrom('P', 'D', 'G', 'R', 'Q', 'U'), // placeholders for real handles and arrays
        fc.integer({ min: -4, max: 5000 }),
        fc.anything(),
      ), { minLength: 5, maxLength: 5 }),
      (raw) => {
        const h = heap();
        const p = h.allocate(A, PACKET);
        const d = h.allocate(A, DEQUE);
        const g = h.allocate(A, PAGE);
        const r = h.allocate(A, RING);
        const q = h.allocate(B, PACKET);
        h.setU32(A, p, 8, 7);
        victim = { h, p };
        const real: Record<string, unknown> = { P: p, D: d, G: g, R: r, Q: q, U: new Uint8Array(64) };
        const args = raw.map((v) => (typeof v === 'string' && v in real ? real[v] : v));
        ran = 0;
        let error: unknown = null;
        try { op(h, args); } catch (e) { error = e; }
        victim = null;
        assert.equal(ran, 0, `${name}: hostile code ran`);
        if (error !== null && !expected(error)) assert.fail(`${name} threw ${String(error)}`);
        assert.deepEqual(h.audit(), [], name);
        assert.equal(h.u32(B, q, 8), 0, `${name}: another domain's object is untouched`);
      },
    ), { numRuns: 300 });
  }
});

test('copy-in from a Uint8Array whose species frees the target is refused before anything is written', () => {
  const h = heap();
  const p = h.allocate(A, PAGE);
  victim = { h, p };
  ran = 0;
  class Evil extends Uint8Array {
    static get [Symbol.species](): Uint8ArrayConstructor { harm(); return Uint8Array; }
  }
  assert.throws(() => h.write(A, p, 0, new Evil(4096).fill(0xee), 0, 4096), /expected a plain Uint8Array/);
  assert.equal(ran, 0);
  victim = null;
  assert.equal(h.u8(A, p, 0), 0, 'nothing was written');
  assert.deepEqual(h.audit(), []);
});

// ---- a throw at every step ------------------------------------------------------------------------

/** Makes the `n`th call of any heap or allocator method throw a RangeError; returns how to undo it
 *  and how many calls were made. */
function inject(h: ExchangeHeap, n: number): { undo: () => void; calls: () => number } {
  let calls = 0;
  const undo: (() => void)[] = [];
  const wrap = (obj: object, proto: object): void => {
    for (const k of Object.getOwnPropertyNames(proto)) {
      if (k === 'constructor' || k === 'audit' || k === 'stats') continue;
      const f = Object.getOwnPropertyDescriptor(proto, k)!.value as unknown;
      if (typeof f !== 'function') continue;
      Object.defineProperty(obj, k, {
        configurable: true, writable: true,
        value(this: unknown, ...args: unknown[]) {
          if (++calls === n) throw new RangeError('Maximum call stack size exceeded (injected)');
          return (f as (...a: unknown[]) => unknown).apply(this, args);
        },
      });
      undo.push(() => { delete (obj as Record<string, unknown>)[k]; });
    }
  };
  wrap(h, ExchangeHeap.prototype);
  wrap((h as unknown as { alloc: object }).alloc, ArenaAllocator.prototype);
  return { undo: () => undo.forEach((u) => u()), calls: () => calls };
}

/** A heap with some of everything: a packet with a chained child, a deque holding two packets, a
 *  page lent to B, a packet moved to B. */
function populated(): { h: ExchangeHeap; hs: Record<string, number> } {
  const h = heap();
  const p = h.allocate(A, PACKET);
  const c = h.allocate(A, PACKET);
  h.put(A, p, 0, c);
  const d = h.allocate(A, DEQUE);
  h.push(A, d, h.allocate(A, PACKET));
  h.push(A, d, h.allocate(A, PACKET));
  const g = h.allocate(A, PAGE);
  const bg = h.borrow(A, g, B);
  const m = h.moveAs(A, h.allocate(A, PACKET), PACKET, B);
  const loose = h.allocate(A, PACKET);
  const w = h.allocate(A, PAGE);
  const pg = h.allocate(A, PAGE);
  const [ps, ph] = h.pin(A, pg, -1);
  const sv = h.moveAs(B, h.moveAs(A, h.allocate(A, PACKET), PACKET, B), PACKET, A); // A's, from B
  return { h, hs: { p, d, g, bg, m, loose, w, ps, ph, sv } };
}

const STEPS: Record<string, (h: ExchangeHeap, x: Record<string, number>) => unknown> = {
  allocate: (h) => h.allocate(A, PACKET),
  'allocate a page': (h) => h.allocate(A, PAGE),
  free: (h, x) => h.free(A, x.p),
  'free a deque': (h, x) => h.free(A, x.d),
  moveAs: (h, x) => h.moveAs(A, x.p, PACKET, B),
  move: (h, x) => h.move(A, x.d, B),
  borrow: (h, x) => h.borrow(A, x.p, B),
  unborrow: (h, x) => h.unborrow(x.bg),
  take: (h, x) => h.take(A, x.p, 0),
  put: (h, x) => h.put(A, x.p, 0, x.loose),
  push: (h, x) => h.push(A, x.d, x.loose),
  pop: (h, x) => h.pop(A, x.d),
  write: (h, x) => h.write(A, x.w, 0, new Uint8Array(4096), 0, 4096),
  'reclaim A': (h) => h.reclaim(A),
  'reclaim B': (h) => h.reclaim(B),
  stats: (h) => h.stats(),
  pin: (h, x) => { [x.ws, x.wh] = h.pin(A, x.w, -1); },
  unpin: (h, x) => h.unpin(x.ps, x.ph),
  'reclaim A, salvaging for B': (h) => h.reclaim(A, (from) => from === B),
};

for (const [name, step] of Object.entries(STEPS)) {
  test(`a throw at any step of ${name} leaves the heap consistent`, () => {
    for (let n = 1; ; n++) {
      const { h, hs } = populated();
      const fault = inject(h, n);
      let threw = false;
      try { step(h, hs); } catch (e) {
        threw = true;
        assert.ok(e instanceof RangeError && /injected/.test(e.message), `${name} at ${n}: ${String(e)}`);
      }
      fault.undo();
      assert.deepEqual(h.audit(), [], `${name}, throwing at call ${n}`);
      // Whatever was left, everything can still be reclaimed, down to nothing (the pinned page
      // once its device mapping goes).
      h.reclaim(A);
      h.reclaim(B);
      h.unpin(hs.ps, hs.ph);
      if (hs.ws !== undefined) h.unpin(hs.ws, hs.wh);
      h.reclaim(B);
      assert.deepEqual(h.audit(), [], `${name}, throwing at call ${n}, after reclaiming`);
      assert.equal(h.stats().objects, 0, `${name}, throwing at call ${n}: objects leaked`);
      if (!threw) break;
    }
  });
}

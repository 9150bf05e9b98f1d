// The "language tax" workload: an open-addressing hash table, timed as plain TypeScript in the
// host, inside a domain (an SES Compartment after lockdown) and inside a CPU-metered domain, in the
// spirit of RedLeaf's (OSDI 2020) hash-table comparison against C.
//
// The table maps 8-byte keys to 8-byte values. Each key and value is passed as two u32 halves
// (lo, hi), never as a BigInt (BigInt arithmetic would dominate the figure). Slots are found with
// a 32-bit FNV-1a hash of the key's 8 little-endian bytes and linear probing; the capacity is a
// power of two fixed at construction, and there is no resizing and no deletion. The all-zero key
// (lo = 0, hi = 0) marks an empty slot, so it cannot be stored: `set` rejects it.
//
// Why DataView: the same code must be fast after SES lockdown(). On V8 11.3, once lockdown has
// frozen the shared intrinsics, indexed stores into typed arrays take a slow path (30-45x slower,
// endo#1563), and stores into ordinary arrays of numbers are slow too. DataView accessors with a
// constant endianness are inlined by the optimising compiler and are unaffected, so both the table
// and the workload's key list live in ArrayBuffers read and written through DataViews.
//
// This file must evaluate inside a Compartment whose globals are only the hardened intrinsics: it
// imports nothing and uses no host global (no process, Buffer, Date.now, Math.random, timers,
// SharedArrayBuffer, Atomics or typed arrays); keys come from a deterministic xorshift32 stream.
// Hot paths must not name globals either: a Compartment evaluates code inside `with` scopes, so
// each free reference to a global (`Math` in `Math.imul`, say) is a dynamic lookup that V8 cannot
// optimise, about 0.2 µs apiece (it made a lookup 70x slower). So `imul` is bound once at module
// level, and globals (Number, DataView, ArrayBuffer, RangeError) appear only in constructors and
// on error paths.
//
// Slot layout (16 bytes, little-endian u32s): +0 key lo, +4 key hi, +8 value lo, +12 value hi.

/** Bound once, so the hash never looks up the global `Math` (see above). */
const imul = Math.imul;

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const SLOT_BYTES = 16;
const MIN_LOG2 = 4;
const MAX_LOG2 = 26;
/** xorshift32's state must be nonzero; a zero seed is replaced by this. */
const ZERO_SEED_STATE = 0x9e3779b9;
/** The workload's values are derived from the keys: vlo = klo ^ VALUE_MIX, vhi = khi. */
const VALUE_MIX = 0x9e3779b9;
/** The workload visits inserted keys with a stride near n/φ (coprime with n), see scrambleStride. */
const INV_GOLDEN = 0.6180339887498949;

/** 32-bit FNV-1a over the 8 bytes of the key (klo's bytes first, each u32 little-endian). */
export function fnv1a64key(klo: number, khi: number): number {
  let h = FNV_OFFSET_BASIS;
  h = imul(h ^ (klo & 0xff), FNV_PRIME);
  h = imul(h ^ ((klo >>> 8) & 0xff), FNV_PRIME);
  h = imul(h ^ ((klo >>> 16) & 0xff), FNV_PRIME);
  h = imul(h ^ (klo >>> 24), FNV_PRIME);
  h = imul(h ^ (khi & 0xff), FNV_PRIME);
  h = imul(h ^ ((khi >>> 8) & 0xff), FNV_PRIME);
  h = imul(h ^ ((khi >>> 16) & 0xff), FNV_PRIME);
  h = imul(h ^ (khi >>> 24), FNV_PRIME);
  return h >>> 0;
}

/**
 * Deterministic xorshift32 (shifts 13, 17, 5) so every run, in every environment, uses the same
 * keys. The seed is taken modulo 2^32; seed 0 is replaced by a fixed nonzero state. Every result
 * is a nonzero u32, and the stream has period 2^32 - 1: no value repeats within that many draws.
 */
export function keyStream(seed: number): () => number {
  let x = (seed >>> 0) === 0 ? ZERO_SEED_STATE | 0 : seed | 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/**
 * Open addressing with linear probing over 2^log2Capacity slots of 8-byte keys and 8-byte values.
 *
 * Key and value halves are taken modulo 2^32 (ToUint32), so -1 and 0xffffffff name the same half.
 * The key (0, 0) is reserved as the empty-slot marker: `set` throws a RangeError for it, and
 * `get`, `getHi` and `has` report it absent. The table never grows; it can be filled completely,
 * after which `set` of a new key returns false (each operation probes at most `capacity` slots).
 */
export class HashTable {
  readonly capacity: number;
  private readonly mask: number;
  private readonly view: DataView;
  private count = 0;

  /** @throws RangeError unless log2Capacity is an integer in 4..26 */
  constructor(log2Capacity: number) {
    if (!Number.isInteger(log2Capacity) || log2Capacity < MIN_LOG2 || log2Capacity > MAX_LOG2) {
      throw new RangeError(`HashTable: log2Capacity must be an integer in ${MIN_LOG2}..${MAX_LOG2}, got ${log2Capacity}`);
    }
    this.capacity = 1 << log2Capacity;
    this.mask = this.capacity - 1;
    this.view = new DataView(new ArrayBuffer(this.capacity * SLOT_BYTES));
  }

  /** The number of keys stored. */
  get size(): number {
    return this.count;
  }

  /** Inserts or updates; false if the key is new and the table is full (never loops forever).
   *  @throws RangeError for the reserved key (0, 0) */
  set(klo: number, khi: number, vlo: number, vhi: number): boolean {
    klo >>>= 0;
    khi >>>= 0;
    if ((klo | khi) === 0) throw new RangeError('HashTable: key (0, 0) is reserved as the empty-slot marker');
    const v = this.view;
    const mask = this.mask;
    let i = fnv1a64key(klo, khi) & mask;
    for (let probes = 0; probes <= mask; probes++) {
      const off = i << 4;
      const a = v.getUint32(off, true);
      const b = v.getUint32(off + 4, true);
      if (a === klo && b === khi) {
        v.setUint32(off + 8, vlo, true);
        v.setUint32(off + 12, vhi, true);
        return true;
      }
      if ((a | b) === 0) {
        v.setUint32(off, klo, true);
        v.setUint32(off + 4, khi, true);
        v.setUint32(off + 8, vlo, true);
        v.setUint32(off + 12, vhi, true);
        this.count++;
        return true;
      }
      i = (i + 1) & mask;
    }
    return false;
  }

  /**
   * The value's low half (a u32), or -1 if the key is absent. -1 cannot be a stored low half, so
   * it is unambiguous; callers who need the high half call getHi.
   */
  get(klo: number, khi: number): number {
    const off = this.find(klo >>> 0, khi >>> 0);
    return off < 0 ? -1 : this.view.getUint32(off + 8, true);
  }

  /** The value's high half (a u32), or -1 if the key is absent. */
  getHi(klo: number, khi: number): number {
    const off = this.find(klo >>> 0, khi >>> 0);
    return off < 0 ? -1 : this.view.getUint32(off + 12, true);
  }

  has(klo: number, khi: number): boolean {
    return this.find(klo >>> 0, khi >>> 0) >= 0;
  }

  /** The byte offset of the key's slot, or -1. The empty test comes first, so (0, 0) is never found. */
  private find(klo: number, khi: number): number {
    const v = this.view;
    const mask = this.mask;
    let i = fnv1a64key(klo, khi) & mask;
    for (let probes = 0; probes <= mask; probes++) {
      const off = i << 4;
      const a = v.getUint32(off, true);
      const b = v.getUint32(off + 4, true);
      if ((a | b) === 0) return -1;
      if (a === klo && b === khi) return off;
      i = (i + 1) & mask;
    }
    return -1;
  }
}

/** An odd stride near n/φ that is coprime with n = 3·2^k (so also not a multiple of 3): stepping
 *  by it modulo n visits every index once, far from the previous one. */
function scrambleStride(n: number): number {
  let s = Math.floor(n * INV_GOLDEN) | 1;
  while (s % 3 === 0) s += 2;
  return s;
}

/**
 * The benchmark workload, identical in all three settings.
 *
 * Construction (untimed): n = 3/4 · 2^log2 keys are drawn from keyStream(seed), each as
 * lo = next(), hi = next(), and inserted with value (klo ^ 0x9e3779b9, khi). Then n more keys
 * are drawn the same way as misses. Neither set repeats a key or meets the other: a key's lo is
 * a distinct stream value (the stream does not repeat within 2^32 - 1 draws) and (0, 0) never
 * occurs. The lookup list holds 2n keys: entry 2j is inserted key number (j · s) mod n, with s the
 * stride from scrambleStride, and entry 2j + 1 is miss key number j. So lookups alternate hits
 * and misses, and the hits visit every inserted key once per cycle in a scrambled order, while
 * the list itself is read sequentially.
 *
 * run(ops) (timed) performs `ops` lookups, starting each time at entry 0 and wrapping after
 * 2n, and folds every result r of `get` (the value's low half, or -1 for a miss) into
 * c = (c · 31 + r) mod 2^32, starting from 0; it returns c as a u32.
 */
export class Workload {
  private readonly table: HashTable;
  /** the lookup list: 2n keys of 8 bytes (lo, hi as little-endian u32s) */
  private readonly lookups: DataView;
  private readonly lookupCount: number;

  constructor(log2: number, seed: number) {
    const table = new HashTable(log2);
    const n = (table.capacity >>> 2) * 3;
    const next = keyStream(seed);

    // The inserted keys in insertion order, only until they are copied into the lookup list.
    const inserted = new DataView(new ArrayBuffer(n * 8));
    for (let k = 0; k < n; k++) {
      const klo = next();
      const khi = next();
      inserted.setUint32(k * 8, klo, true);
      inserted.setUint32(k * 8 + 4, khi, true);
      table.set(klo, khi, klo ^ VALUE_MIX, khi);
    }
    if (table.size !== n) throw new Error(`Workload: expected ${n} distinct keys, got ${table.size}`);

    const lookups = new DataView(new ArrayBuffer(2 * n * 8));
    const stride = scrambleStride(n);
    let hit = 0;
    for (let j = 0; j < n; j++) {
      lookups.setUint32(j * 16, inserted.getUint32(hit * 8, true), true);
      lookups.setUint32(j * 16 + 4, inserted.getUint32(hit * 8 + 4, true), true);
      lookups.setUint32(j * 16 + 8, next(), true);
      lookups.setUint32(j * 16 + 12, next(), true);
      hit += stride;
      if (hit >= n) hit -= n;
    }
    this.table = table;
    this.lookups = lookups;
    this.lookupCount = 2 * n;
  }

  /** The timed part: `ops` lookups; returns the checksum (a u32). */
  run(ops: number): number {
    const t = this.table;
    const l = this.lookups;
    const len = this.lookupCount;
    let c = 0;
    let p = 0;
    for (let i = 0; i < ops; i++) {
      const off = p * 8;
      c = (imul(c, 31) + t.get(l.getUint32(off, true), l.getUint32(off + 4, true))) | 0;
      if (++p === len) p = 0;
    }
    return c >>> 0;
  }
}

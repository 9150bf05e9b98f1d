// Offset allocator for the exchange heap.
//
// ArenaAllocator hands out byte offsets inside [0, capacity). It never
// touches the memory those offsets name (the exchange heap's
// SharedArrayBuffer); all bookkeeping lives in ordinary JS arrays and
// objects. Typed arrays are deliberately avoided: after SES lockdown()
// indexed stores into them are 30-45x slower on this V8. Ordinary arrays
// suffer too (keyed stores ~5-8x slower once Array.prototype is frozen),
// so every metadata array is made with table(), which gives it a null
// prototype (table.ts); stores into such arrays stay at full speed. Consequence:
// no array methods (push, pop, ...) on them, only indexing and .length.
//
// Two layers:
//   pages  a binary buddy allocator over 4 KiB pages. A block of order o is
//          2^o pages long and starts at a page index that is a multiple of
//          2^o. Freed blocks coalesce with their buddy, so once everything
//          is freed the arena is again one free block of order maxOrder.
//   cells  sizes <= 64 KiB round up to one of 26 size classes. Each class
//          carves cells out of 64 KiB slabs, which are order-4 page blocks
//          (hence 64 KiB aligned). slabs[offset >>> 16] finds the slab owning
//          any offset in O(1); null there means "not a slab" (free pages or
//          large blocks), and the page tags decide. Larger sizes take a block
//          of pages of their own (at least 128 KiB, so aligned to 64 KiB too).
//
// Pools. A slab serves one pool only, and a large block belongs to the pool
// that asked for it: the exchange heap gives each domain its own pool, so the
// half-empty slabs one domain leaves behind are charged to it (Pool.held) and
// never stand in another domain's way. Every block the page allocator hands
// out is a multiple of 64 KiB and 64 KiB aligned, so any 64 KiB that is free
// anywhere can become a slab of any pool: an allocation of up to 64 KiB
// fails only when fewer than 64 KiB are free in all (what the heap's quotas,
// which add up to the arena, rule out).
//
// Invariants:
//   - bTag[p] is -1 unless page p heads a block; a free head holds its
//     order, an allocated head holds ALLOC | order. Every free block is on
//     exactly one list fHead[order], and bit `order` of freeMask is set iff
//     that list is non-empty.
//   - slabs[s] is non-null iff the order-4 block at page 16*s is a slab
//     (live or spare). A live slab belongs to one pool; one with a free cell
//     is on its pool's partial[cls]; full slabs are on no list. A pool's
//     `held` is 64 KiB per live slab plus its large blocks.
//   - Within a slab, cells[i] is LIVE iff cell i is allocated; otherwise it
//     links the slab's free-cell list. Cells with i >= cells.length have
//     never been handed out in this slab's life (lazy carving), so creating
//     a slab is O(1).
//   - An empty slab leaves its pool and goes straight back to the page
//     allocator, except that each class may keep one empty slab (of no pool)
//     as a spare to avoid thrashing
//     when a single object is allocated and freed in a loop. Spares are
//     released whenever the page allocator cannot satisfy a request, and
//     by stats(), so they never cause an alloc() to fail.
//   - bytesInUse is the sum of usable sizes of live blocks.
//
// Cost: small alloc/free are O(1) (amortised over slab creation, which is
// O(log n) in the buddy); large alloc/free are O(log n), n = pages.

import { table } from './table.ts';

export interface AllocStats {
  capacity: number;      // bytes managed
  bytesInUse: number;    // sum of usable sizes of live blocks
  blocks: number;        // live blocks
  freeBytes: number;     // capacity minus bytes handed to live blocks (usable sizes)
  largestFree: number;   // largest size a single alloc() could satisfy right now
}

const PAGE_SHIFT = 12;
const PAGE_SIZE = 1 << PAGE_SHIFT;          // 4 KiB
const SLAB_SHIFT = 16;
const SLAB_SIZE = 1 << SLAB_SHIFT;          // 64 KiB
const SLAB_ORDER = SLAB_SHIFT - PAGE_SHIFT; // slabs are order-4 page blocks
const MIN_CAPACITY = 2 ** 20;
const MAX_CAPACITY = 2 ** 32;               // offsets stay uint32 (>>> is safe)

// Roughly 1.5x steps (above 2 KiB, sizes that fill a slab well); every size is
// a multiple of 16, so cells are 16-aligned.
const CLASS_SIZES: readonly number[] = [
  16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048,
  3072, 4096, 4608, 6144, 8192, 10880, 13056, 16384, 21840, 32768, 43680, 65536,
];
const MAX_SMALL = 65536;

// SIZE_TO_CLASS[(size + 15) >>> 4] is the class index for 1 <= size <= MAX_SMALL.
const SIZE_TO_CLASS: number[] = [];
{
  let c = 0;
  for (let q = 0; q <= MAX_SMALL >>> 4; q++) {
    while (CLASS_SIZES[c]! < q * 16) c++;
    SIZE_TO_CLASS.push(c);
  }
}

const LIVE = -2;   // cell state; free cells hold the next free index or -1
const ALLOC = 64;  // page tag flag for an allocated block head

// A packed array of n copies of v with a null prototype (see the header).

/** The slabs and large blocks that serve one user (the exchange heap: one domain). */
export class Pool {
  /** per size class: the pool's slabs with a free cell */
  readonly partial: (Slab | null)[] = table<Slab | null>(CLASS_SIZES.length, null);
  /** bytes of arena the pool holds: 64 KiB per live slab, and its large blocks */
  held = 0;
}

class Slab {
  readonly base: number;
  readonly cls: number;
  pool: Pool | null = null;
  readonly cellSize: number;
  readonly ncells: number;
  live = 0;
  freeHead = -1;
  readonly cells: number[] = table(0, 0);
  next: Slab | null = null;
  prev: Slab | null = null;

  constructor(base: number, cls: number) {
    this.base = base;
    this.cls = cls;
    this.cellSize = CLASS_SIZES[cls]!;
    this.ncells = Math.floor(SLAB_SIZE / this.cellSize);
  }
}

export class ArenaAllocator {
  readonly #capacity: number;
  readonly #maxOrder: number;

  // Buddy allocator, indexed by page number.
  readonly #bTag: number[];
  readonly #fNext: number[];
  readonly #fPrev: number[];
  readonly #fHead: number[];   // per order; -1 when empty
  #freeMask = 0;

  // Slab layer.
  readonly #slabs: (Slab | null)[];     // indexed by offset >>> 16
  readonly #spare: (Slab | null)[];     // per class: at most one empty slab
  readonly #large: (Pool | null)[];     // indexed by page: the pool of a large block
  /** the pool of callers that name none */
  readonly shared = new Pool();
  #spares = 0;

  #bytesInUse = 0;
  #blocks = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY ||
        2 ** Math.round(Math.log2(capacity)) !== capacity) {
      throw new RangeError(
        `ArenaAllocator: capacity must be a power of two between 1 MiB and 4 GiB, got ${String(capacity)}`);
    }
    this.#capacity = capacity;
    const npages = capacity / PAGE_SIZE;
    this.#maxOrder = Math.round(Math.log2(npages));
    this.#bTag = table(npages, -1);
    this.#fNext = table(npages, -1);
    this.#fPrev = table(npages, -1);
    this.#fHead = table(this.#maxOrder + 1, -1);
    this.#slabs = table<Slab | null>(capacity / SLAB_SIZE, null);
    this.#large = table<Pool | null>(npages, null);
    this.#spare = table<Slab | null>(CLASS_SIZES.length, null);
    this.#pushFree(0, this.#maxOrder);
  }

  /** An offset for `size` bytes, from `pool`'s slabs (or a block of its own); -1 when the arena
   *  has no room. */
  alloc(size: number, pool: Pool = this.shared): number {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`ArenaAllocator.alloc: size must be an integer >= 1, got ${String(size)}`);
    }
    if (size <= MAX_SMALL) return this.#allocCell(SIZE_TO_CLASS[(size + 15) >>> 4]!, pool);
    if (size > this.#capacity) return -1;
    const order = this.#largeOrder(size);
    const p = this.#pageAlloc(order);
    if (p < 0) return -1;
    this.#large[p] = pool;
    pool.held += PAGE_SIZE * (1 << order);
    this.#bytesInUse += PAGE_SIZE * (1 << order);
    this.#blocks++;
    return p * PAGE_SIZE;
  }

  /** How much `pool.held` would grow if `size` bytes were allocated from it now. */
  cost(size: number, pool: Pool = this.shared): number {
    if (size <= MAX_SMALL) return pool.partial[SIZE_TO_CLASS[(size + 15) >>> 4]!] === null ? SLAB_SIZE : 0;
    return PAGE_SIZE * (1 << this.#largeOrder(size));
  }

  #largeOrder(size: number): number {
    const pages = Math.ceil(size / PAGE_SIZE);
    return pages === 1 ? 0 : 32 - Math.clz32(pages - 1);
  }

  free(offset: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.#capacity || (offset & 15) !== 0) {
      throw this.#notLive('free', offset);
    }
    const s = this.#slabs[offset >>> SLAB_SHIFT]!;
    if (s !== null) {
      const rel = offset - s.base;
      const i = (rel / s.cellSize) | 0;
      if (i * s.cellSize !== rel || i >= s.cells.length) throw this.#notLive('free', offset);
      const cells = s.cells;
      if (cells[i] !== LIVE) throw this.#doubleFree(offset);
      cells[i] = s.freeHead;
      s.freeHead = i;
      this.#bytesInUse -= s.cellSize;
      this.#blocks--;
      if (s.live-- === s.ncells) this.#linkPartial(s);
      if (s.live === 0) this.#emptySlab(s);
      return;
    }
    const p = offset >>> PAGE_SHIFT;
    const tag = (offset & (PAGE_SIZE - 1)) === 0 ? this.#bTag[p]! : -1;
    if (tag < ALLOC) throw this.#notLive('free', offset);
    const order = tag - ALLOC;
    const pool = this.#large[p]!;
    this.#large[p] = null;
    if (pool !== null) pool.held -= PAGE_SIZE * (1 << order);
    this.#bytesInUse -= PAGE_SIZE * (1 << order);
    this.#blocks--;
    this.#pageFree(p, order);
  }

  blockSize(offset: number): number {
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.#capacity || (offset & 15) !== 0) {
      throw this.#notLive('blockSize', offset);
    }
    const s = this.#slabs[offset >>> SLAB_SHIFT]!;
    if (s !== null) {
      const rel = offset - s.base;
      const i = (rel / s.cellSize) | 0;
      if (i * s.cellSize !== rel || i >= s.cells.length || s.cells[i] !== LIVE) {
        throw this.#notLive('blockSize', offset);
      }
      return s.cellSize;
    }
    const p = offset >>> PAGE_SHIFT;
    const tag = (offset & (PAGE_SIZE - 1)) === 0 ? this.#bTag[p]! : -1;
    if (tag < ALLOC) throw this.#notLive('blockSize', offset);
    return PAGE_SIZE * (1 << (tag - ALLOC));
  }

  stats(): AllocStats {
    // Spares are logically free; hand them back so largestFree is exact.
    this.#releaseSpares();
    let largestFree = 0;
    if (this.#freeMask !== 0) {
      largestFree = PAGE_SIZE * 2 ** (31 - Math.clz32(this.#freeMask));
    } else {
      for (let c = CLASS_SIZES.length - 1; c >= 0; c--) {
        if (this.shared.partial[c] !== null) { largestFree = CLASS_SIZES[c]!; break; }
      }
    }
    return {
      capacity: this.#capacity,
      bytesInUse: this.#bytesInUse,
      blocks: this.#blocks,
      freeBytes: this.#capacity - this.#bytesInUse,
      largestFree,
    };
  }

  // ---- cells ----

  #allocCell(cls: number, pool: Pool): number {
    let s = pool.partial[cls]!;
    if (s === null) {
      s = this.#spare[cls]!;
      if (s !== null) {
        this.#spare[cls] = null;
        this.#spares--;
      } else {
        const p = this.#pageAlloc(SLAB_ORDER);
        if (p < 0) return -1;
        s = new Slab(p * PAGE_SIZE, cls);
        this.#slabs[p >>> SLAB_ORDER] = s;
      }
      s.pool = pool;
      pool.held += SLAB_SIZE;
      this.#linkPartial(s);
    }
    let i = s.freeHead;
    if (i >= 0) {
      s.freeHead = s.cells[i]!;
      s.cells[i] = LIVE;
    } else {
      i = s.cells.length;
      s.cells[i] = LIVE;
    }
    if (++s.live === s.ncells) this.#unlinkPartial(s);
    this.#bytesInUse += s.cellSize;
    this.#blocks++;
    return s.base + i * s.cellSize;
  }

  #emptySlab(s: Slab): void {
    this.#unlinkPartial(s);
    s.pool!.held -= SLAB_SIZE;
    s.pool = null;
    s.cells.length = 0;
    s.freeHead = -1;
    if (this.#spare[s.cls] === null) {
      this.#spare[s.cls] = s;
      this.#spares++;
    } else {
      this.#releaseSlab(s);
    }
  }

  #releaseSlab(s: Slab): void {
    this.#slabs[s.base >>> SLAB_SHIFT] = null;
    this.#pageFree(s.base >>> PAGE_SHIFT, SLAB_ORDER);
  }

  #releaseSpares(): boolean {
    if (this.#spares === 0) return false;
    for (let c = 0; c < CLASS_SIZES.length; c++) {
      const s = this.#spare[c]!;
      if (s !== null) {
        this.#spare[c] = null;
        this.#releaseSlab(s);
      }
    }
    this.#spares = 0;
    return true;
  }

  #linkPartial(s: Slab): void {
    const partial = s.pool!.partial;
    const head = partial[s.cls]!;
    s.prev = null;
    s.next = head;
    if (head !== null) head.prev = s;
    partial[s.cls] = s;
  }

  #unlinkPartial(s: Slab): void {
    if (s.prev !== null) s.prev.next = s.next;
    else s.pool!.partial[s.cls] = s.next;
    if (s.next !== null) s.next.prev = s.prev;
    s.next = s.prev = null;
  }

  // ---- pages (binary buddy) ----

  // Returns the first page of a free block of 2^order pages, or -1.
  #pageAlloc(order: number): number {
    let m = this.#freeMask & (-1 << order);
    if (m === 0) {
      if (!this.#releaseSpares()) return -1;
      m = this.#freeMask & (-1 << order);
      if (m === 0) return -1;
    }
    let o = 31 - Math.clz32(m & -m); // smallest order that fits
    const p = this.#fHead[o]!;
    this.#unlinkFree(p, o);
    while (o > order) {
      o--;
      this.#pushFree(p + (1 << o), o);
    }
    this.#bTag[p] = ALLOC | order;
    return p;
  }

  #pageFree(p: number, order: number): void {
    const tag = this.#bTag;
    tag[p] = -1;
    let o = order;
    while (o < this.#maxOrder) {
      const b = p ^ (1 << o);
      if (tag[b] !== o) break; // buddy is not a free block of the same order
      this.#unlinkFree(b, o);
      tag[b] = -1;
      p &= ~(1 << o);
      o++;
    }
    this.#pushFree(p, o);
  }

  #pushFree(p: number, o: number): void {
    const head = this.#fHead[o]!;
    this.#bTag[p] = o;
    this.#fPrev[p] = -1;
    this.#fNext[p] = head;
    if (head >= 0) this.#fPrev[head] = p;
    this.#fHead[o] = p;
    this.#freeMask |= 1 << o;
  }

  #unlinkFree(p: number, o: number): void {
    const prev = this.#fPrev[p]!;
    const next = this.#fNext[p]!;
    if (prev >= 0) this.#fNext[prev] = next;
    else this.#fHead[o] = next;
    if (next >= 0) this.#fPrev[next] = prev;
    if (this.#fHead[o] === -1) this.#freeMask &= ~(1 << o);
  }

  // ---- errors ----

  #notLive(op: string, offset: unknown): Error {
    return new Error(
      `ArenaAllocator.${op}: offset ${String(offset)} is not the start of a live block ` +
      `(already freed, never allocated, or inside a block)`);
  }

  #doubleFree(offset: number): Error {
    return new Error(`ArenaAllocator.free: double free of offset ${offset}`);
  }
}

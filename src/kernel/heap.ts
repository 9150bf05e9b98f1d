// The exchange heap: one SharedArrayBuffer arena in which domains exchange data without copying.
//
// Objects are allocated by type (idl/layout.ts gives the layout) and reached only through handles.
// A handle is a number `generation * SLOTS + slot`; the kernel-side slot table says which object a
// slot names, which domain may use it, and how:
//
//   OWNED    the owner may read, write, move, free, take and put children
//   LENT     owned, but lent out to a running call: read-only until every borrow has returned
//   BORROW   a read-only alias held by a callee for the duration of one call
//   PINNED   owned, but mapped for a device's DMA (pin): readable and lendable, but it cannot be
//            written, moved or freed (nor its children taken) until its last mapping is undone
//
// Handles stay below 2^31, which V8 keeps as small integers (a larger number would be boxed in a
// fresh heap number on every move): a slot has GENERATIONS generations. A move gives the object
// the next generation of its slot, so the sender's handle goes stale; when a slot's generations
// are used up the object moves to a fresh slot and the old one is retired. Allocations and borrows
// take fresh slots. Freed and retired slots are reused first-in first-out, and only once
// REUSE_DISTANCE others are waiting, so a handle value can only come back after its slot has been
// through the whole ring. Isolation does not rest on generations: a slot is usable only by its
// owner, so a stale handle that did come back would name an object its holder owns anyway.
//
// Invariants:
//   - a live object is named by exactly one OWNED/LENT slot (its root owner), or by none when it is
//     a child of another object (its header owner is then CHILD); only roots have owners;
//   - every use of a handle checks that its slot holds that handle and belongs to that domain, so
//     a moved, freed, stale, forged or foreign handle is refused, and each refusal is a runtime
//     violation reported to the kernel (which crashes the offending domain) before it is thrown;
//   - moving bumps the slot's generation, so the sender's handle goes stale at once;
//   - each owner is charged for the whole trees it owns (objects and payload bytes). A move only
//     marks the root; the charge, and the owner field of the object's header, follow it when a
//     figure is next needed (quota check, statistics, reclaim, free, take/put, header: settle), so
//     they are exact whenever they are read; the slot table is what every check uses;
//   - domains never see the arena: they read and write through accessors that bounds-check against
//     the object's data region, or copy in and out of their own Uint8Arrays.
//
// Quotas. A domain's quota is arena set aside for it (setQuota; the quotas of live domains and
// what the kernel and dead domains' objects still hold never add up to more than the arena). Its
// allocations come from a pool of its own in the allocator (alloc.ts): slabs that serve nobody
// else, so its fragmentation is its own, and any 64 KiB free anywhere can serve another domain.
// The quota limits what its pool holds: every slab it has opened (64 KiB each, however full) and
// every larger block, including objects it has moved to others, which stay in its slabs until
// freed; receiving objects costs nothing. So a domain within its quota can always allocate
// objects of up to 64 KiB: nothing another domain does can take its room. Larger objects get
// blocks of their own and may find the arena too fragmented. Handles cannot run out first: an
// object takes at least MIN_FOOTPRINT bytes, so the arena holds at most half as many objects as
// there are slots; the other half is for borrows, of which each lender may have MAX_LENT out.
//
// Exception safety. A domain can call any operation with the engine's stack almost used up, so a
// RangeError can come at any call. Every operation that changes state is written in two parts:
// first everything that may throw (checks, settling charges, choosing a slot with pick/fresh,
// making room in the free ring, allocating the block, listing a tree), changing nothing that
// matters; then a commit that makes no call (claim, unclaim, commitDrop, commitAttach, ... are
// leaves; at most the first call of a commit is one, and a throw there means it never began).
// Freed blocks go back to the allocator from a list they leave only once the allocator has them
// (flushDead). src/kernel/heap.hostile.test.ts throws at every call of every operation and
// checks audit() after each.
//
// Page buffers. An object of a `bytes` type whose size is a multiple of 4 KiB (a disk block, a
// page) keeps its header out of line: a 32-byte header cell (the usual 16 bytes, then the data
// offset at +16) and a data block of its own, 4 KiB-aligned and rounded up to a power of two, so
// a 4 KiB buffer takes 4096 + 32 bytes of arena instead of a 4608-byte cell, and a device can DMA
// a whole page. `paged[type]` says which types do; dataOf reads the offset back for children.
//
// Salvage. A slot remembers which domain moved its root to the owner (`from`; a child taken out
// of a container inherits the container's). When a domain crashes holding roots that came from a
// domain that asked for it (the kernel's `salvage` predicate, a shadow's sys.heap.salvage), those
// roots go back to their sender instead of being freed, and the sender reads their new handles
// with salvaged(). So requests a shadow moved into a driver that crashed come back to it, whole
// and without a copy, and the shadow can re-submit them to the restarted driver. A sender gets
// back only what it sent: attaching a child whose `from` differs from its new root's (an object
// the crashed domain made itself, or one from a third domain) marks the root MIXED, and a MIXED
// root (and whatever is later taken out of it) is freed, never salvaged.
//
// Hot paths use DataView and plain JS arrays: after SES lockdown, indexed stores into typed arrays
// are an order of magnitude slower on V8 11.
import { ArenaAllocator, Pool } from './alloc.ts';
import { table } from './table.ts';
import { HEADER_BYTES, payloadBytes, type TypeInfo } from '../idl/lib/layout.ts';
import { show } from './safe.ts';

/** Handle layout. A const enum, so the values are literals in the compiled code: module-level
 *  constants cost a context load and a hole check each on the move path. */
const enum H {
  SLOT_BITS = 21,
  SLOTS = 1 << SLOT_BITS,
  MASK = SLOTS - 1,
  /** The largest generation: GENERATIONS * SLOTS + MASK < 2^31. */
  GENERATIONS = (1 << (31 - SLOT_BITS)) - 1,
  /** Handles of the last generation: a move retires their slot. */
  LAST = GENERATIONS * SLOTS,
}
export const SLOTS: number = H.SLOTS;
export const GENERATIONS: number = H.GENERATIONS;
/** How many moved roots may wait to be charged to their new owners (see settle). */
const MAX_UNSETTLED = 1 << 12;
/** How many freed slots wait before the oldest is reused. */
export const REUSE_DISTANCE = 1 << 12;

const enum Mode { OWNED = 0, LENT = 1, BORROW = 2, PINNED = 3 }


/** Header owner values that are not domain ids. */
export const OWNER_FREE = 0;
export const OWNER_CHILD = 0xfffffffe;
/** Header owner of a root whose owner died while it was lent out (slot owner ORPHAN). */
export const OWNER_ORPHAN = 0xfffffffd;
/** Slot owner of a root whose owner died while it was lent out: freed when the last borrow returns. */
const ORPHAN = -2;
/** Slot.from of a root holding objects that came from different senders, or from none: never
 *  salvaged (see Salvage in the header). */
const MIXED = -1;

/** Thrown in the domain that misused a handle. */
export class HeapViolation extends Error {
  override name = 'HeapViolation';
}
/** Thrown when an allocation cannot be satisfied; a domain may catch it and go on. */
export class HeapExhausted extends Error {
  override name = 'HeapExhausted';
}

export interface OwnerStats { objects: number; bytes: number }

/** What one domain owns (roots and everything nested in them), and what it may allocate. */
class Usage implements OwnerStats {
  /** what it owns now (roots and everything nested in them): statistics */
  objects = 0;
  bytes = 0;
  /** the arena its allocations hold (see Quotas in the header), and the most they may hold;
   *  `reserved`: the quota is set aside for it (setQuota), until release */
  readonly pool = new Pool();
  quota = Infinity;
  reserved = false;
  /** borrows it has lent that have not ended */
  lent = 0;
  /** allocations refused since the last one that succeeded */
  strikes = 0;
  /** handles of roots salvaged for it from crashed domains, not yet read (salvaged): the first
   *  salvagedCount entries (room is made before a move, so a throw leaves no half entry) */
  salvaged: number[] = [];
  salvagedCount = 0;
}

/** The arena an object takes at least: so that handles (one per root) can never run out before
 *  the arena does (SLOTS / 2 >= capacity / MIN_FOOTPRINT; the other half is for borrows). */
export const MIN_FOOTPRINT = 64;
/** Page buffers (see the header): their data is 4 KiB-aligned, their header out of line. */
export const PAGE_BYTES = 4096;
const PAGE_HEADER_BYTES = 32;
/** Where a page buffer's header keeps the offset of its data. */
const PAGE_DATA_AT = 16;
/** The most borrows one domain may have lent at once (async calls keep theirs until they settle). */
export const MAX_LENT = 1024;
/** The largest arena whose handles cannot run out (see MIN_FOOTPRINT). */
export const MAX_CAPACITY = (H.SLOTS / 2) * MIN_FOOTPRINT;

/** A domain whose allocations are refused this many times in a row is crashed. */
export const QUOTA_STRIKES = 64;
export interface HeapStats {
  capacity: number;
  objects: number;
  bytes: number;
  handles: number;
  nested: OwnerStats;
  perOwner: Map<number, OwnerStats>;
  largestFree: number;
}

// Intrinsics captured before any domain runs, so a domain cannot substitute its own. Between
// checking a domain's arguments and using them, the heap calls nothing a domain can override: a
// domain's Uint8Array is read through the intrinsic getters and copied through a view the kernel
// makes itself (`subarray` on it would look up its species, which a subclass or an own
// `constructor` property turns into a call of the domain's code, in which the domain could free
// the object the kernel is about to write).
const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
const getter = (k: PropertyKey): ((this: unknown) => unknown) => Object.getOwnPropertyDescriptor(TypedArrayProto, k)!.get!;
const taLength = getter('length') as (this: unknown) => number;
const taTag = getter(Symbol.toStringTag);
const taBuffer = getter('buffer') as (this: unknown) => ArrayBufferLike;
const taByteOffset = getter('byteOffset') as (this: unknown) => number;
const taSet: (this: Uint8Array, src: ArrayLike<number>, off?: number) => void = TypedArrayProto.set;
const taSubarray: (this: Uint8Array, a: number, b: number) => Uint8Array = TypedArrayProto.subarray;
const getPrototypeOf = Object.getPrototypeOf;
const hasOwn = Object.hasOwn;
const Uint8ArrayProto = Uint8Array.prototype;
const U8 = Uint8Array;

function isIndex(n: unknown): n is number {
  return typeof n === 'number' && (n >>> 0) === n;
}

/**
 * One slot of the handle table. Its fields sit together in one object, so a check reads one
 * array element and then fields of one object: fewer loads, and shorter bytecode on the move and
 * access paths, which V8 inlines only within a budget counted in bytecode.
 */
class Slot {
  /** the handle naming it now; <= 0 when free (the last handle, negated) */
  handle = 0;
  /** the domain that may use it (ORPHAN: a root whose owner died while it was lent) */
  owner = 0;
  mode: Mode = Mode.OWNED;
  /** the object's header offset in the arena */
  header = 0;
  /** the type id (also in the header; here for the move check) */
  type = 0;
  /** the data region: offset and length */
  data = 0;
  length = 0;
  /** BORROW: the root slot it aliases */
  link = 0;
  /** roots: objects and payload bytes in the tree (the root and its descendants) */
  treeObjects = 0;
  treeBytes = 0;
  /** roots: the domain that moved it to its owner (0: the owner made it); see salvage */
  from = 0;
  /** roots: DMA mappings of it (or of its children) in force; PINNED while nonzero */
  pins = 0;
  /** roots: the owner the tree is charged to now (see settle), and whether it moved since;
   *  borrows: the domain that lent it */
  chargedTo = 0;
  moved = 0;
}

export class ExchangeHeap {
  readonly buffer: SharedArrayBuffer;
  private readonly dv: DataView;
  private readonly mem: Uint8Array;
  private readonly alloc: ArenaAllocator;
  private readonly types: readonly TypeInfo[];
  /** per type id: a page buffer (header out of line, data 4 KiB-aligned) */
  private readonly paged: readonly boolean[];

  // The slot table: one Slot object per slot (see Slot), in a null-prototype array (table.ts:
  // keyed stores stay fast after lockdown). Roots moved since they were last settled are listed
  // once in `unsettled` (marked in Slot.moved) until the next operation that needs exact figures.
  private readonly slots = table<Slot>(0, null as unknown as Slot);
  private readonly unsettled = table(0, 0);
  private unsettledCount = 0;
  // Objects freed whose blocks the allocator has not taken back yet (flushDead).
  private readonly dead = table(0, 0);
  private deadCount = 0;
  /** the sum of the quotas set aside (setQuota) */
  private reservedBytes = 0;
  // Freed slots, oldest first: a ring of `ring.length` (a power of two) entries.
  private ring = table(1024, 0);
  private freeHead = 0;
  private freeCount = 0;

  private objects = 0;
  private bytes = 0;
  private nestedObjects = 0;
  private nestedBytes = 0;
  // Per-owner counts, indexed by domain id + 1 (a null-prototype table).
  private readonly owners = table<Usage>(0, null as unknown as Usage);

  /** Called with the offending domain before a HeapViolation is thrown in it. */
  onViolation: (domain: number, error: HeapViolation) => void = () => {};

  constructor(capacity: number, types: readonly TypeInfo[]) {
    this.buffer = new SharedArrayBuffer(capacity);
    this.dv = new DataView(this.buffer);
    this.mem = new Uint8Array(this.buffer);
    if (capacity > MAX_CAPACITY) throw new RangeError(`exchange heap: at most ${MAX_CAPACITY} bytes (its handles must outnumber what fits)`);
    this.alloc = new ArenaAllocator(capacity);
    // Offset 0 would be indistinguishable from "no child": reserve the first block.
    if (this.alloc.alloc(16) !== 0) throw new Error('exchange heap: offset 0 must be reserved first');
    this.types = types;
    this.paged = types.map((t) => t.kind === 'bytes' && t.data > 0 && t.data % PAGE_BYTES === 0);
    types.forEach((t, i) => {
      if (t.id !== i) throw new Error(`exchange heap: type table out of order at ${t.name}`);
    });
  }

  // ---- handles ---------------------------------------------------------------------------

  /** The slot of a handle `dom` may read through (owned, lent or borrowed). */
  private readable(dom: number, h: unknown): number {
    if (typeof h === 'number') {
      const s = h & H.MASK;
      const e = this.slots[s];
      if (e !== undefined && e.handle === h && e.owner === dom) return s;
    }
    throw this.refuse(dom, h);
  }

  /** The slot of a handle `dom` owns outright and may write, move or free. */
  private writable(dom: number, h: unknown): number {
    if (typeof h === 'number') {
      const s = h & H.MASK;
      const e = this.slots[s];
      if (e !== undefined && e.handle === h && e.owner === dom && e.mode === Mode.OWNED) return s;
    }
    throw this.refuse(dom, h);
  }

  private refuse(dom: number, h: unknown): HeapViolation {
    let why: string;
    if (typeof h !== 'number' || !Number.isSafeInteger(h) || h <= 0) {
      why = `not an RRef handle (${typeof h === 'number' ? String(h) : typeof h})`;
    } else {
      const e = this.slots[h & H.MASK] as Slot | undefined;
      const cur = e?.handle;
      if (e !== undefined && cur === h && e.owner === dom) {
        why = e.mode === Mode.BORROW
          ? 'a borrowed RRef is read-only: it cannot be written, moved, freed or kept'
          : e.mode === Mode.PINNED
            ? 'this RRef is mapped for DMA: it cannot be written, moved or freed until it is unmapped'
            : 'this RRef is lent to a call in progress: it cannot be written, moved or freed until the call returns';
      } else if (cur === h) {
        why = 'this handle belongs to another domain';
      } else if (cur !== undefined && Math.abs(cur) >= h) {
        why = 'stale handle: the RRef was moved or freed (use after move)';
      } else {
        why = 'forged handle: no such RRef';
      }
    }
    const e = new HeapViolation(`exchange heap: ${why}`);
    this.onViolation(dom, e);
    return e;
  }

  // Slots are taken and given back in two steps (see "Exception safety" in the header): `pick` and
  // `fresh` choose a slot and make its record, changing nothing; `claim` and `unclaim` change the
  // table and make no call, so a throw can only come before them.

  /** The slot the next `claim` takes: the oldest freed one once enough wait, else a new one. */
  private pick(): number {
    if (this.freeCount > REUSE_DISTANCE || (this.slots.length >= H.SLOTS && this.freeCount > 0)) return this.ring[this.freeHead];
    if (this.slots.length >= H.SLOTS) throw new HeapExhausted('exchange heap: out of handles');
    return this.slots.length;
  }

  /** The record of slot `s` (chosen by pick): a new one if the slot was never used. */
  private fresh(s: number): Slot {
    return s < this.slots.length ? this.slots[s] : new Slot();
  }

  /** Takes slot `s` with record `e` (pick, fresh) for the object at `hdr`; returns its handle.
   *  A root gets the size of its tree (objects, bytes). Makes no call. */
  private claim(s: number, e: Slot, owner: number, mode: number, hdr: number, typ: number, dat: number, len: number,
    link: number, objects: number, bytes: number): number {
    let g = 1;
    if (s === this.slots.length) {
      this.slots[s] = e;
    } else {
      g = -e.handle >> H.SLOT_BITS; // a freed slot holds its last handle, negated
      g = g === H.GENERATIONS ? 1 : g + 1;
      this.freeHead = (this.freeHead + 1) & (this.ring.length - 1);
      this.freeCount--;
    }
    const h = g * H.SLOTS + s;
    e.handle = h;
    e.owner = owner;
    e.mode = mode;
    e.header = hdr;
    e.type = typ;
    e.data = dat;
    e.length = len;
    e.link = link;
    e.treeObjects = objects;
    e.treeBytes = bytes;
    e.chargedTo = owner;
    e.moved = 0;
    e.from = 0;
    e.pins = 0;
    return h;
  }

  /** Gives slot `s` back to the free ring (which must have room: roomFor). Makes no call. */
  private unclaim(s: number): void {
    const e = this.slots[s];
    e.handle = -e.handle;
    e.owner = 0;
    e.moved = 0; // (an entry left in `unsettled` is skipped)
    this.ring[(this.freeHead + this.freeCount) & (this.ring.length - 1)] = s;
    this.freeCount++;
  }

  /** Makes room in the free ring for `n` more slots, so that unclaim need not. */
  private roomFor(n: number): void {
    while (this.freeCount + n > this.ring.length) this.growFree();
  }

  /** Where the data region of an object of type `typ` at `hdr` begins. */
  private dataOf(hdr: number, typ: number): number {
    if (this.paged[typ]) return this.dv.getUint32(hdr + PAGE_DATA_AT, true);
    const t = this.types[typ];
    return hdr + HEADER_BYTES + t.meta + 4 * t.children.length;
  }

  private growFree(): void {
    const old = this.ring;
    const next = table(old.length * 2, 0);
    for (let i = 0; i < this.freeCount; i++) next[i] = old[(this.freeHead + i) & (old.length - 1)];
    this.ring = next;
    this.freeHead = 0;
  }

  private usage(owner: number): Usage {
    const i = owner === ORPHAN ? 0 : owner + 1; // index 0 holds roots orphaned while lent
    if (i >= this.owners.length) this.addOwners(i);
    return this.owners[i];
  }

  /**
   * Charges a moved root's tree to its owner now. A move only marks the root (defer), because
   * charging on every move (four read-modify-writes on two owners) was a fifth of an RRef call;
   * every operation whose figures must be exact settles first: allocation (the quota check),
   * statistics, crash reclaim, freeing, and taking or putting children. Idempotent: the mark is
   * cleared only once the charge has moved.
   */
  private settle(s: number): void {
    const e = this.slots[s];
    if (e.moved === 0) return;
    if (e.chargedTo !== e.owner) this.recharge(e, e.owner);
    e.moved = 0;
  }

  /** Moves the charge for root `e`'s tree to `o`, and writes `o` into the object's header. */
  private recharge(e: Slot, o: number): void {
    this.shift(e, this.usage(e.chargedTo), this.usage(o), o);
  }

  /** recharge's commit. Makes no call. */
  private shift(e: Slot, from: Usage, to: Usage, o: number): void {
    from.objects -= e.treeObjects;
    from.bytes -= e.treeBytes;
    to.objects += e.treeObjects;
    to.bytes += e.treeBytes;
    e.chargedTo = o;
    this.dv.setUint32(e.header, o === ORPHAN ? OWNER_ORPHAN : o, true);
  }

  private settleAll(): void {
    for (let i = 0; i < this.unsettledCount; i++) this.settle(this.unsettled[i]);
    this.unsettledCount = 0;
  }

  /** Marks slot `s` moved; settles everything first when the list is long (so it stays bounded).
   *  (Settling after marking would settle `s` too, before the move it marks has set its owner.) */
  private defer(s: number): void {
    if (this.unsettledCount >= MAX_UNSETTLED) this.settleAll();
    this.slots[s].moved = 1;
    this.unsettled[this.unsettledCount++] = s;
  }

  /** Limits what `dom` may allocate: allocations that would take what it owns past `bytes` fail.
   *  A quota is set aside from arena nobody else is promised or holds, and is never below what
   *  `dom`'s allocations already hold (so the quotas of all domains always fit in the arena). */
  setQuota(dom: number, bytes: number): void {
    const u = this.usage(dom);
    const own = u.reserved ? u.quota : 0; // (what is set aside for dom already)
    const free = this.capacity - this.reservedBytes - this.unreservedHeld() + own;
    if (bytes > free) {
      throw new HeapExhausted(`exchange heap: cannot set aside ${bytes} bytes: ${Math.max(0, free)} of the arena's ${this.capacity} are not promised to another domain or in use`);
    }
    if (bytes < u.pool.held) {
      throw new HeapExhausted(`exchange heap: cannot set a quota of ${bytes} bytes: domain ${dom}'s allocations hold ${u.pool.held}`);
    }
    this.reservedBytes += bytes - own;
    u.reserved = true;
    u.quota = bytes;
    u.strikes = 0;
  }

  /** Gives back what setQuota set aside for `dom` (it died). Whatever its allocations still hold
   *  (objects it moved to others) stays counted until they are freed. */
  release(dom: number): void {
    const u = this.usage(dom);
    if (!u.reserved) return;
    this.reservedBytes -= u.quota;
    u.reserved = false;
    u.quota = Infinity;
  }

  /** Arena held by pools with nothing set aside for them (the kernel's, dead domains'). */
  private unreservedHeld(): number {
    let n = this.alloc.shared.held;
    for (let i = 0; i < this.owners.length; i++) {
      const u = this.owners[i];
      if (!u.reserved) n += u.pool.held;
    }
    return n;
  }

  /** The most `u`'s pool may hold: its quota if one is set aside, else what nobody is promised. */
  private limitOf(u: Usage): number {
    if (u.reserved) return u.quota;
    return this.capacity - this.reservedBytes - this.unreservedHeld() + u.pool.held;
  }

  get capacity(): number {
    return this.buffer.byteLength;
  }

  private addOwners(i: number): void {
    while (this.owners.length <= i) {
      this.owners[this.owners.length] = new Usage();
    }
  }

  // ---- allocation and ownership --------------------------------------------------------

  allocate(dom: number, typeId: number): number {
    const t = isIndex(typeId) ? this.types[typeId] : undefined;
    if (t === undefined) throw this.refuseType(dom, typeId);
    const size = payloadBytes(t);
    if (this.paged[typeId]) return this.allocatePage(dom, typeId, t);
    const footprint = Math.max(MIN_FOOTPRINT, HEADER_BYTES + size);
    if (this.unsettledCount !== 0) this.settleAll();
    if (this.deadCount !== 0) this.flushDead();
    const u = this.usage(dom);
    const cost = this.alloc.cost(footprint, u.pool);
    const limit = this.limitOf(u);
    if (cost > 0 && u.pool.held + cost > limit) {
      throw this.refuseAlloc(dom, u, `quota exceeded: its allocations hold ${u.pool.held} of its ${limit} bytes and ${t.name} needs ${cost} more`);
    }
    const s = this.pick();
    const e = this.fresh(s);
    const off = this.alloc.alloc(footprint, u.pool);
    if (off < 0) throw this.refuseAlloc(dom, u, `cannot allocate ${t.name} (${size} bytes): arena full`);
    // The commit: the block is ours now, so from here on nothing may throw, and nothing is called
    // (not even claim, whose body this repeats: a throw at its entry would lose the block).
    let g = 1;
    if (s === this.slots.length) {
      this.slots[s] = e;
    } else {
      g = -e.handle >> H.SLOT_BITS;
      g = g === H.GENERATIONS ? 1 : g + 1;
      this.freeHead = (this.freeHead + 1) & (this.ring.length - 1);
      this.freeCount--;
    }
    const h = g * H.SLOTS + s;
    e.handle = h;
    e.owner = dom;
    e.mode = Mode.OWNED;
    e.header = off;
    e.type = typeId;
    e.data = off + HEADER_BYTES + t.meta + 4 * t.children.length;
    e.length = t.data;
    e.link = 0;
    e.treeObjects = 1;
    e.treeBytes = size;
    e.chargedTo = dom;
    e.moved = 0;
    e.from = 0;
    e.pins = 0;
    u.strikes = 0;
    this.mem.fill(0, off, off + HEADER_BYTES + size);
    this.dv.setUint32(off, dom, true);
    this.dv.setUint32(off + 4, typeId, true);
    this.dv.setUint32(off + 12, size, true);
    this.objects++;
    this.bytes += size;
    u.objects++;
    u.bytes += size;
    return h;
  }

  /** allocate() for a page buffer: a header cell and a data block of its own (see the header).
   *  The header waits on the dead list while the data block is allocated, so a throw there
   *  (or a full arena) gives it back. */
  private allocatePage(dom: number, typeId: number, t: TypeInfo): number {
    const size = t.data;
    let block = PAGE_BYTES;
    while (block < size) block *= 2;
    if (this.unsettledCount !== 0) this.settleAll();
    if (this.deadCount !== 0) this.flushDead();
    const u = this.usage(dom);
    const cost = this.alloc.cost(PAGE_HEADER_BYTES, u.pool) + this.alloc.cost(block, u.pool);
    const limit = this.limitOf(u);
    if (cost > 0 && u.pool.held + cost > limit) {
      throw this.refuseAlloc(dom, u, `quota exceeded: its allocations hold ${u.pool.held} of its ${limit} bytes and ${t.name} needs ${cost} more`);
    }
    const s = this.pick();
    const e = this.fresh(s);
    while (this.dead.length <= this.deadCount) this.dead[this.dead.length] = 0;
    const hdr = this.alloc.alloc(PAGE_HEADER_BYTES, u.pool);
    if (hdr < 0) throw this.refuseAlloc(dom, u, `cannot allocate ${t.name} (${size} bytes): arena full`);
    this.dead[this.deadCount++] = hdr; // given back by flushDead unless the commit below happens
    const off = this.alloc.alloc(block, u.pool);
    if (off < 0) {
      this.flushDead();
      throw this.refuseAlloc(dom, u, `cannot allocate ${t.name} (${size} bytes): arena full`);
    }
    // The commit: no call (claim's body, as in allocate).
    this.deadCount--;
    let g = 1;
    if (s === this.slots.length) {
      this.slots[s] = e;
    } else {
      g = -e.handle >> H.SLOT_BITS;
      g = g === H.GENERATIONS ? 1 : g + 1;
      this.freeHead = (this.freeHead + 1) & (this.ring.length - 1);
      this.freeCount--;
    }
    const h = g * H.SLOTS + s;
    e.handle = h;
    e.owner = dom;
    e.mode = Mode.OWNED;
    e.header = hdr;
    e.type = typeId;
    e.data = off;
    e.length = size;
    e.link = 0;
    e.treeObjects = 1;
    e.treeBytes = size;
    e.chargedTo = dom;
    e.moved = 0;
    e.from = 0;
    e.pins = 0;
    u.strikes = 0;
    this.mem.fill(0, hdr, hdr + PAGE_HEADER_BYTES);
    this.mem.fill(0, off, off + size);
    this.dv.setUint32(hdr, dom, true);
    this.dv.setUint32(hdr + 4, typeId, true);
    this.dv.setUint32(hdr + 12, size, true);
    this.dv.setUint32(hdr + PAGE_DATA_AT, off, true);
    this.objects++;
    this.bytes += size;
    u.objects++;
    u.bytes += size;
    return h;
  }

  /** A failed allocation: an ordinary error the domain may handle, until it has failed
   *  QUOTA_STRIKES times in a row; then a runtime violation. */
  private refuseAlloc(dom: number, u: Usage, why: string): Error {
    if (++u.strikes < QUOTA_STRIKES) return new HeapExhausted(`exchange heap: ${why}`);
    const e = new HeapViolation(`exchange heap: ${why}, and ${QUOTA_STRIKES} allocations in a row were refused`);
    this.onViolation(dom, e);
    return e;
  }

  private refuseType(dom: number, typeId: unknown): HeapViolation {
    const e = new HeapViolation(`exchange heap: no exchange type with id ${show(typeId)}`);
    this.onViolation(dom, e);
    return e;
  }

  /** Frees a root and, through the type table, everything it owns. */
  free(dom: number, h: unknown): void {
    const s = this.writable(dom, h);
    this.dropRoot(dom, s);
  }

  /** Frees the root in slot `s` and its tree, and the slot (and, if `borrow` is a slot, that
   *  borrow of it too: a root orphaned while lent goes when its last borrow ends). */
  private dropRoot(owner: number, s: number, borrow = -1, lender: Usage | null = null): void {
    this.settle(s);
    const e = this.slots[s];
    const u = this.usage(owner);
    const tree = this.treeList(e.header);
    this.roomFor(2);
    while (this.dead.length < this.deadCount + 2 * tree.length) this.dead[this.dead.length] = 0;
    this.commitDrop(s, e, u, tree, borrow, lender);
    this.flushDead();
  }

  /** dropRoot's commit: the tree is gone at once (counts, charges, slot, owner fields); its
   *  blocks go back to the allocator from the dead list (flushDead). Makes no call. */
  private commitDrop(s: number, e: Slot, u: Usage, tree: number[], borrow: number, lender: Usage | null): void {
    if (lender !== null) lender.lent--;
    const rootBytes = this.dv.getUint32(e.header + 12, true);
    u.objects -= e.treeObjects;
    u.bytes -= e.treeBytes;
    this.objects -= e.treeObjects;
    this.bytes -= e.treeBytes;
    this.nestedObjects -= e.treeObjects - 1;
    this.nestedBytes -= e.treeBytes - rootBytes;
    for (let i = 0; i < tree.length; i++) {
      const o = tree[i];
      this.dv.setUint32(o, OWNER_FREE, true);
      this.dead[this.deadCount++] = o;
      if (this.paged[this.dv.getUint32(o + 4, true)]) this.dead[this.deadCount++] = this.dv.getUint32(o + PAGE_DATA_AT, true);
    }
    for (let k = borrow < 0 ? 1 : 0; k < 2; k++) {
      const x = k === 0 ? borrow : s;
      const f = this.slots[x];
      f.handle = -f.handle;
      f.owner = 0;
      f.moved = 0;
      this.ring[(this.freeHead + this.freeCount) & (this.ring.length - 1)] = x;
      this.freeCount++;
    }
  }

  /** Hands the blocks of freed objects back to the allocator. Each leaves the list only once the
   *  allocator has it, so a throw part way leaves the rest for the next call. */
  private flushDead(): void {
    while (this.deadCount > 0) {
      this.alloc.free(this.dead[this.deadCount - 1]);
      this.deadCount--;
    }
  }

  /** The header offsets of every object in the tree at `off`, the root first. */
  private treeList(off: number): number[] {
    const out = [off];
    for (let i = 0; i < out.length; i++) {
      const o = out[i];
      const t = this.types[this.dv.getUint32(o + 4, true)];
      const base = o + HEADER_BYTES + t.meta;
      for (let k = 0; k < t.children.length; k++) {
        const c = this.dv.getUint32(base + 4 * k, true);
        if (c !== 0) out.push(c);
      }
    }
    return out;
  }

  /** Moves a root from one domain to another; the old handle goes stale. */
  move(from: number, h: unknown, to: number): number {
    return this.moveSlot(this.writable(from, h), to);
  }

  /** Moves the root in slot `s` (checked by writable or movable, with nothing run since) to `to`.
   *  The tail of moveAs, which repeats it inline because it is the hot path. */
  moveSlot(s: number, to: number): number {
    const e = this.slots[s];
    if (e.moved === 0) this.defer(s); // charged to `to` when next needed (settle)
    const h = e.handle;
    if (h >= H.LAST) return this.relocate(s, to); // generations used up: retire the slot
    e.from = e.owner;
    e.owner = to;
    return (e.handle = h + H.SLOTS);
  }

  /**
   * Moves `h` from `from` to `to` if it is a `typeId`, returning the new handle; returns 0 (and
   * moves nothing) if it is another type. A handle `from` cannot move is a violation. The proxies'
   * fused check-and-move.
   */
  moveAs(from: number, h: unknown, typeId: number, to: number): number {
    // The hottest path of the heap: V8 inlines a call's whole path only while it fits its inlining
    // budget (bytecode bytes), so it is kept short and calls out only on the rare paths.
    if (typeof h === 'number') {
      const s = h & H.MASK;
      const e = this.slots[s];
      if (e !== undefined && e.handle === h && e.owner === from && e.mode === Mode.OWNED) {
        if (e.type !== typeId) return 0;
        if (e.moved === 0) this.defer(s); // charged to `to` when next needed (settle)
        if (h >= H.LAST) return this.relocate(s, to); // generations used up: retire the slot
        e.from = from;
        e.owner = to;
        return (e.handle = h + H.SLOTS); // the next generation of the same slot
      }
    }
    throw this.refuse(from, h);
  }

  /** Moves the root in slot `s` to a fresh slot owned by `to`, and frees `s`. */
  private relocate(s: number, to: number): number {
    const d = this.pick();
    const b = this.fresh(d);
    this.roomFor(1);
    const n = this.commitRelocate(s, d, b, to);
    if (this.unsettledCount >= MAX_UNSETTLED) this.settleAll();
    return n;
  }

  /** relocate's commit: no call but the first. */
  private commitRelocate(s: number, d: number, b: Slot, to: number): number {
    const a = this.slots[s];
    const n = this.claim(d, b, to, Mode.OWNED, a.header, a.type, a.data, a.length, 0, a.treeObjects, a.treeBytes);
    b.chargedTo = a.chargedTo; // s was marked moved by moveAs; d carries the mark (settle)
    b.moved = 1;
    b.from = a.owner;
    this.unsettled[this.unsettledCount++] = d;
    a.handle = -a.handle;
    a.owner = 0;
    a.moved = 0;
    this.ring[(this.freeHead + this.freeCount) & (this.ring.length - 1)] = s;
    this.freeCount++;
    return n;
  }

  /** Lends a root (or re-lends a borrow) read-only to `to`; returns the borrow handle. */
  borrow(from: number, h: unknown, to: number): number {
    return this.lendSlot(this.readable(from, h), from, to);
  }

  /** Lends what slot `s` names (checked by readable or lendable, with nothing run since). */
  lendSlot(s: number, from: number, to: number): number {
    const e = this.slots[s];
    const root = e.mode === Mode.BORROW ? e.link : s;
    const lender = this.usage(from);
    if (lender.lent >= MAX_LENT) throw this.tooManyLent(from);
    if (this.slots[root].mode === Mode.PINNED) throw this.pinnedLend(from);
    const d = this.pick();
    const b = this.fresh(d);
    const bh = this.claim(d, b, to, Mode.BORROW, e.header, e.type, e.data, e.length, root, 0, 0);
    b.chargedTo = from; // a borrow's `chargedTo` names its lender
    lender.lent++;
    this.dv.setUint32(e.header + 8, this.dv.getUint32(e.header + 8, true) + 1, true);
    const r = this.slots[root];
    if (r.mode === Mode.OWNED) r.mode = Mode.LENT;
    return bh;
  }

  /** Ends a borrow. A borrow already ended (its holder died) is ignored. */
  unborrow(bh: number): void {
    const s = bh & H.MASK;
    const e = this.slots[s];
    if (e === undefined || e.handle !== bh || e.mode !== Mode.BORROW) return;
    this.endBorrow(s);
  }

  /** The slot of `h` if `from` may lend it as a `typeId`, the `k`th borrow of one call; -1 for
   *  another type; HeapExhausted if it has too many borrows out already; a violation for a bad
   *  handle. (For lendSlot.) */
  lendable(from: number, h: unknown, typeId: number, k: number): number {
    const s = this.readable(from, h);
    if (this.usage(from).lent + k >= MAX_LENT) throw this.tooManyLent(from);
    return this.slots[s].type === typeId ? s : -1;
  }

  /** A device may be writing a pinned root: lending it would let a borrower see it change. */
  private pinnedLend(from: number): HeapViolation {
    const e = new HeapViolation('exchange heap: this RRef is mapped for DMA: it cannot be lent until it is unmapped');
    this.onViolation(from, e);
    return e;
  }

  private tooManyLent(from: number): HeapExhausted {
    return new HeapExhausted(`exchange heap: domain ${from} has ${MAX_LENT} borrows out already; wait for calls to return`);
  }

  private endBorrow(s: number): void {
    const b = this.slots[s];
    const r = this.slots[b.link];
    const lender = this.usage(b.chargedTo);
    const left = this.dv.getUint32(b.header + 8, true) - 1;
    if (left === 0 && r.owner === ORPHAN && r.pins === 0) {
      this.dropRoot(ORPHAN, b.link, s, lender);
      return;
    }
    this.roomFor(1);
    this.commitEndBorrow(s, b, r, left, lender);
  }

  /** endBorrow's commit: no call but the first. */
  private commitEndBorrow(s: number, b: Slot, r: Slot, left: number, lender: Usage): void {
    this.unclaim(s);
    lender.lent--;
    this.dv.setUint32(b.header + 8, left, true);
    if (left === 0 && r.mode === Mode.LENT) r.mode = Mode.OWNED; // (a PINNED root stays so)
  }

  // ---- children and containers ---------------------------------------------------------

  private childAt(s: number, index: unknown, dom: number): number {
    const off = this.slots[s].header;
    const t = this.types[this.dv.getUint32(off + 4, true)];
    if (!isIndex(index) || index >= t.children.length) {
      const e = new HeapViolation(`exchange heap: ${t.name} has no child slot ${show(index)}`);
      this.onViolation(dom, e);
      throw e;
    }
    return off + HEADER_BYTES + t.meta + 4 * index;
  }

  /** childAt for take and put, which change what a slot holds: a deque's slots are a ring behind
   *  its head and count, changed only by push and pop. (A pin may map a deque's child: it changes
   *  nothing, and the pinned deque refuses push and pop until it is unmapped.) */
  private slotToChange(s: number, index: unknown, dom: number): number {
    const t = this.types[this.slots[s].type];
    if (t.kind !== 'deque') return this.childAt(s, index, dom);
    const e = new HeapViolation(`exchange heap: ${t.name} is an RRefDeque: use push and pop`);
    this.onViolation(dom, e);
    throw e;
  }

  /** Takes child `index` out of its parent: the caller owns it (or gets null for None). */
  take(dom: number, h: unknown, index: unknown): number | null {
    const s = this.writable(dom, h);
    return this.detach(dom, s, this.slotToChange(s, index, dom));
  }

  /** Takes the child at pointer `p` out of the tree rooted in slot `s`: it becomes a root of
   *  `dom`'s (which owned it already, through `s`). Linear in the size of the child's tree. */
  private detach(dom: number, s: number, p: number): number | null {
    const c = this.dv.getUint32(p, true);
    if (c === 0) return null;
    this.settle(s);
    const [objects, bytes] = this.treeOf(c);
    const typ = this.dv.getUint32(c + 4, true);
    const dat = this.dataOf(c, typ);
    const d = this.pick();
    const b = this.fresh(d);
    // The commit: no call but the first.
    const h = this.claim(d, b, dom, Mode.OWNED, c, typ, dat, this.types[typ].data, 0, objects, bytes);
    const size = this.dv.getUint32(c + 12, true);
    this.dv.setUint32(p, 0, true);
    this.dv.setUint32(c, dom, true);
    this.nestedObjects--;
    this.nestedBytes -= size;
    const root = this.slots[s];
    root.treeObjects -= objects;
    root.treeBytes -= bytes;
    b.from = root.from;
    return h;
  }

  /** Objects and payload bytes in the tree of the object at `off`. */
  private treeOf(off: number): [number, number] {
    let objects = 0;
    let bytes = 0;
    const stack = [off];
    while (stack.length > 0) {
      const o = stack.pop()!;
      objects++;
      bytes += this.dv.getUint32(o + 12, true);
      const t = this.types[this.dv.getUint32(o + 4, true)];
      const base = o + HEADER_BYTES + t.meta;
      for (let i = 0; i < t.children.length; i++) {
        const c = this.dv.getUint32(base + 4 * i, true);
        if (c !== 0) stack.push(c);
      }
    }
    return [objects, bytes];
  }

  /** Puts `child` (moved in; null for None) into slot `index`; returns the previous child. */
  put(dom: number, h: unknown, index: unknown, child: unknown): number | null {
    const s = this.writable(dom, h);
    const p = this.slotToChange(s, index, dom);
    const cs = child === null ? -1 : this.writable(dom, child);
    if (cs >= 0) {
      this.checkChildType(dom, s, cs, index as number);
      this.readyAttach(s, cs);
    }
    const prev = this.detach(dom, s, p);
    if (cs >= 0) this.commitAttach(s, p, cs);
    return prev;
  }

  private checkChildType(dom: number, s: number, cs: number, index: number): void {
    const parent = this.types[this.slots[s].type];
    const want = parent.children[index];
    const got = this.slots[cs].type;
    let why = '';
    if (cs === s) why = `cannot put ${parent.name} inside itself`;
    else if (got !== want) why = `${parent.name} holds ${this.types[want].name} here, not ${this.types[got].name}`;
    if (why === '') return;
    const e = new HeapViolation(`exchange heap: ${why}`);
    this.onViolation(dom, e);
    throw e;
  }

  /** Puts the root in slot `cs` at pointer `p` of the tree rooted in slot `s` (same owner). */
  private attach(s: number, p: number, cs: number): void {
    this.readyAttach(s, cs);
    this.commitAttach(s, p, cs);
  }

  /** attach's preparation: everything that may throw. */
  private readyAttach(s: number, cs: number): void {
    this.settle(s);
    this.settle(cs);
    this.roomFor(1);
  }

  /** attach's commit: no call but the first. */
  private commitAttach(s: number, p: number, cs: number): void {
    this.unclaim(cs);
    const root = this.slots[s];
    const child = this.slots[cs];
    if (child.from !== root.from) root.from = MIXED; // (see Salvage in the header)
    const c = child.header;
    root.treeObjects += child.treeObjects;
    root.treeBytes += child.treeBytes;
    this.dv.setUint32(c, OWNER_CHILD, true);
    this.dv.setUint32(p, c, true);
    const size = this.dv.getUint32(c + 12, true);
    this.nestedObjects++;
    this.nestedBytes += size;
  }

  /** Appends `child` to a deque; false (and the child stays with the caller) when full. */
  push(dom: number, h: unknown, child: unknown): boolean {
    const s = this.writable(dom, h);
    const off = this.slots[s].header;
    const t = this.dequeType(dom, off);
    const cs = this.writable(dom, child);
    this.checkChildType(dom, s, cs, 0);
    const head = this.dv.getUint32(off + HEADER_BYTES, true);
    const count = this.dv.getUint32(off + HEADER_BYTES + 4, true);
    const n = t.children.length;
    if (count === n) return false;
    this.attach(s, off + HEADER_BYTES + t.meta + 4 * ((head + count) % n), cs);
    this.dv.setUint32(off + HEADER_BYTES + 4, count + 1, true);
    return true;
  }

  /** Removes the oldest child of a deque; null when empty. */
  pop(dom: number, h: unknown): number | null {
    const s = this.writable(dom, h);
    const off = this.slots[s].header;
    const t = this.dequeType(dom, off);
    const head = this.dv.getUint32(off + HEADER_BYTES, true);
    const count = this.dv.getUint32(off + HEADER_BYTES + 4, true);
    if (count === 0) return null;
    const taken = this.detach(dom, s, off + HEADER_BYTES + t.meta + 4 * head);
    this.dv.setUint32(off + HEADER_BYTES, (head + 1) % t.children.length, true);
    this.dv.setUint32(off + HEADER_BYTES + 4, count - 1, true);
    return taken;
  }

  /** Number of children in a deque. */
  count(dom: number, h: unknown): number {
    const off = this.slots[this.readable(dom, h)].header;
    this.dequeType(dom, off);
    return this.dv.getUint32(off + HEADER_BYTES + 4, true);
  }

  private dequeType(dom: number, off: number): TypeInfo {
    const t = this.types[this.dv.getUint32(off + 4, true)];
    if (t.kind === 'deque') return t;
    const e = new HeapViolation(`exchange heap: ${t.name} is not an RRefDeque`);
    this.onViolation(dom, e);
    throw e;
  }

  /** The slot of `h` if `dom` could move it now as a `typeId`; -1 for another type; a violation
   *  for an unusable handle. (For moveSlot.) */
  movable(dom: number, h: unknown, typeId: number): number {
    const s = this.writable(dom, h);
    return this.slots[s].type === typeId ? s : -1;
  }

  // ---- data access ---------------------------------------------------------------------

  /** The object's header as the arena holds it (for inspection and tests): its owner (settled
   *  first, so exact), type id, borrow count and payload size (data and child pointers). */
  header(dom: number, h: unknown): { owner: number; typeId: number; borrows: number; size: number } {
    const s = this.readable(dom, h);
    const e = this.slots[s];
    this.settle(e.mode === Mode.BORROW ? e.link : s);
    const off = e.header;
    return {
      owner: this.dv.getUint32(off, true),
      typeId: this.dv.getUint32(off + 4, true),
      borrows: this.dv.getUint32(off + 8, true),
      size: this.dv.getUint32(off + 12, true),
    };
  }

  typeOf(dom: number, h: unknown): number {
    return this.slots[this.readable(dom, h)].type;
  }

  /** Size in bytes of the object's data region. */
  size(dom: number, h: unknown): number {
    return this.slots[this.readable(dom, h)].length;
  }

  /** Absolute offset of `n` data bytes at `off` in a readable object (bounds-checked). */
  private rd(dom: number, h: unknown, off: unknown, n: number): number {
    const s = this.readable(dom, h);
    const e = this.slots[s];
    if (isIndex(off) && off + n <= e.length) return e.data + off;
    throw this.outOfBounds(dom, s, off, n);
  }

  private wr(dom: number, h: unknown, off: unknown, n: number): number {
    const s = this.writable(dom, h);
    const e = this.slots[s];
    if (isIndex(off) && off + n <= e.length) return e.data + off;
    throw this.outOfBounds(dom, s, off, n);
  }

  private outOfBounds(dom: number, s: number, off: unknown, n: unknown): HeapViolation {
    const { type: typ, length: len } = this.slots[s];
    const e = new HeapViolation(
      `exchange heap: access of ${show(n)} bytes at ${show(off)} is outside ${this.types[typ].name} (${len} data bytes)`);
    this.onViolation(dom, e);
    return e;
  }

  u8(dom: number, h: unknown, off: unknown): number { return this.dv.getUint8(this.rd(dom, h, off, 1)); }
  i8(dom: number, h: unknown, off: unknown): number { return this.dv.getInt8(this.rd(dom, h, off, 1)); }
  u16(dom: number, h: unknown, off: unknown): number { return this.dv.getUint16(this.rd(dom, h, off, 2), true); }
  i16(dom: number, h: unknown, off: unknown): number { return this.dv.getInt16(this.rd(dom, h, off, 2), true); }
  u32(dom: number, h: unknown, off: unknown): number { return this.dv.getUint32(this.rd(dom, h, off, 4), true); }
  i32(dom: number, h: unknown, off: unknown): number { return this.dv.getInt32(this.rd(dom, h, off, 4), true); }
  f64(dom: number, h: unknown, off: unknown): number { return this.dv.getFloat64(this.rd(dom, h, off, 8), true); }
  u64(dom: number, h: unknown, off: unknown): bigint { return this.dv.getBigUint64(this.rd(dom, h, off, 8), true); }
  i64(dom: number, h: unknown, off: unknown): bigint { return this.dv.getBigInt64(this.rd(dom, h, off, 8), true); }

  // Stores coerce like the typed-array element types do (ToNumber / ToBigInt, then wrap).
  setU8(dom: number, h: unknown, off: unknown, v: number): void { this.dv.setUint8(this.wr(dom, h, off, 1), num(v)); }
  setI8(dom: number, h: unknown, off: unknown, v: number): void { this.dv.setInt8(this.wr(dom, h, off, 1), num(v)); }
  setU16(dom: number, h: unknown, off: unknown, v: number): void { this.dv.setUint16(this.wr(dom, h, off, 2), num(v), true); }
  setI16(dom: number, h: unknown, off: unknown, v: number): void { this.dv.setInt16(this.wr(dom, h, off, 2), num(v), true); }
  setU32(dom: number, h: unknown, off: unknown, v: number): void { this.dv.setUint32(this.wr(dom, h, off, 4), num(v), true); }
  setI32(dom: number, h: unknown, off: unknown, v: number): void { this.dv.setInt32(this.wr(dom, h, off, 4), num(v), true); }
  setF64(dom: number, h: unknown, off: unknown, v: number): void { this.dv.setFloat64(this.wr(dom, h, off, 8), num(v), true); }
  setU64(dom: number, h: unknown, off: unknown, v: bigint): void { this.dv.setBigUint64(this.wr(dom, h, off, 8), big(v), true); }
  setI64(dom: number, h: unknown, off: unknown, v: bigint): void { this.dv.setBigInt64(this.wr(dom, h, off, 8), big(v), true); }

  /** Copy-out: `len` data bytes at `off` into the domain's own Uint8Array at `dstOff`. */
  read(dom: number, h: unknown, off: unknown, dst: unknown, dstOff: unknown, len: unknown): void {
    const n = this.checkBytes(dom, dst, dstOff, len);
    const a = this.rd(dom, h, off, n);
    taSet.call(dst as Uint8Array, taSubarray.call(this.mem, a, a + n), dstOff as number);
  }

  /** Copy-in: `len` bytes of the domain's Uint8Array at `srcOff` into data bytes at `off`. */
  write(dom: number, h: unknown, off: unknown, src: unknown, srcOff: unknown, len: unknown): void {
    const n = this.checkBytes(dom, src, srcOff, len);
    const a = this.wr(dom, h, off, n);
    taSet.call(this.mem, new U8(taBuffer.call(src), taByteOffset.call(src) + (srcOff as number), n), a);
  }

  /** Copy between two exchange objects (the source may be borrowed). */
  copy(dom: number, dst: unknown, dstOff: unknown, src: unknown, srcOff: unknown, len: unknown): void {
    if (!isIndex(len)) throw this.badArg(dom, 'copy length must be a non-negative integer');
    const from = this.rd(dom, src, srcOff, len);
    const to = this.wr(dom, dst, dstOff, len);
    this.mem.copyWithin(to, from, from + len);
  }

  fill(dom: number, h: unknown, off: unknown, byte: unknown, len: unknown): void {
    if (!isIndex(len)) throw this.badArg(dom, 'fill length must be a non-negative integer');
    const a = this.wr(dom, h, off, len);
    this.mem.fill(num(byte as number) & 0xff, a, a + len);
  }

  /** Checks a domain-supplied byte array and a range in it: a genuine Uint8Array (the intrinsic
   *  tag getter answers only for real typed arrays, never running a Proxy's trap), exactly of the
   *  intrinsic class (no subclass, no own `constructor`), so nothing of the domain's runs later. */
  private checkBytes(dom: number, arr: unknown, at: unknown, len: unknown): number {
    let size = -1;
    if (taTag.call(arr) === 'Uint8Array' && getPrototypeOf(arr) === Uint8ArrayProto && !hasOwn(arr as object, 'constructor')) {
      size = taLength.call(arr);
    }
    if (size < 0) throw this.badArg(dom, 'expected a plain Uint8Array (not a subclass, look-alike or Proxy)');
    if (!isIndex(at) || !isIndex(len) || at + len > size) {
      throw this.badArg(dom, `range ${show(at)}+${show(len)} is outside the Uint8Array (${size} bytes)`);
    }
    return len;
  }

  private badArg(dom: number, msg: string): HeapViolation {
    const e = new HeapViolation(`exchange heap: ${msg}`);
    this.onViolation(dom, e);
    return e;
  }

  // ---- DMA pins ----------------------------------------------------------------------------

  /**
   * Pins the root `h`, which `dom` owns outright, for a device mapping, and returns the region the
   * device may use: the root's data, or (child >= 0) the data of the object in its child slot
   * `child`. While pinned the root is PINNED (see the header). Returns [slot, handle, offset,
   * length] for unpin and the IOMMU; length 0, and nothing pinned, if there is no data to map
   * (an empty child slot, an object without data).
   */
  pin(dom: number, h: unknown, child: unknown): [number, number, number, number] {
    const s = this.readable(dom, h);
    const e = this.slots[s];
    if (e.mode !== Mode.OWNED && e.mode !== Mode.PINNED) throw this.refuse(dom, h);
    let off = e.data;
    let len = e.length;
    if (child !== -1) {
      const c = this.dv.getUint32(this.childAt(s, child, dom), true);
      if (c === 0) return [s, e.handle, 0, 0];
      const typ = this.dv.getUint32(c + 4, true);
      off = this.dataOf(c, typ);
      len = this.types[typ].data;
    }
    if (len === 0) return [s, e.handle, 0, 0];
    e.pins++;
    e.mode = Mode.PINNED;
    return [s, e.handle, off, len];
  }

  /** Undoes one pin of slot `s` (which named `handle` when pinned). When the last goes, the root
   *  is OWNED again (LENT while borrows of it are out), or freed if its owner died meanwhile.
   *  False if `s` holds no such pin. */
  unpin(s: number, handle: number): boolean {
    const e = this.slots[s] as Slot | undefined;
    if (e === undefined || e.handle !== handle || e.mode !== Mode.PINNED || e.pins === 0) return false;
    if (e.pins > 1) {
      e.pins--;
      return true;
    }
    const lent = this.dv.getUint32(e.header + 8, true);
    if (e.owner === ORPHAN && lent === 0) {
      this.dropRoot(ORPHAN, s);
      return true;
    }
    e.pins = 0;
    e.mode = lent > 0 ? Mode.LENT : Mode.OWNED;
    return true;
  }

  /** Handles of the roots salvaged for `dom` since the last call (see Salvage in the header). */
  salvaged(dom: number): number[] {
    const u = this.usage(dom);
    const out = u.salvaged.slice(0, u.salvagedCount);
    u.salvaged = [];
    u.salvagedCount = 0;
    return out;
  }

  // ---- crash cleanup and statistics ----------------------------------------------------

  /**
   * Frees everything `dom` owns and ends the borrows it holds. Roots lent out are freed when their
   * borrows return, and roots still pinned when their last DMA mapping goes (the kernel stops the
   * device and unpins first; a pin left means the device could not be stopped, and then the buffer
   * is never reused). A root that came from a domain for which `salvage(from)` is true goes back to
   * it instead (see Salvage in the header). Returns what was reclaimed now (children included):
   * freed, salvaged, and deferred.
   */
  reclaim(dom: number, salvage: (from: number) => boolean = () => false): { objects: number; bytes: number; deferred: number; salvaged: number } {
    const before = { objects: this.objects, bytes: this.bytes };
    this.settleAll();
    let deferred = 0;
    let salvaged = 0;
    for (let s = 0; s < this.slots.length; s++) {
      const e = this.slots[s];
      if (e.handle <= 0 || e.owner !== dom) continue;
      if (e.mode === Mode.BORROW) {
        this.endBorrow(s);
      } else if (e.mode === Mode.LENT || e.mode === Mode.PINNED) {
        this.recharge(e, ORPHAN); // (settled above: it was charged to dom)
        e.owner = ORPHAN;
        deferred++;
      } else if (e.from > 0 && e.from !== dom && salvage(e.from)) {
        const to = this.usage(e.from);
        to.salvaged[to.salvagedCount] = 0; // room first (not counted yet): the move must not be lost
        const h = this.moveSlot(s, e.from);
        to.salvaged[to.salvagedCount++] = h;
        salvaged++;
      } else {
        this.dropRoot(dom, s);
      }
    }
    if (salvaged !== 0) this.settleAll();
    return { objects: before.objects - this.objects, bytes: before.bytes - this.bytes, deferred, salvaged };
  }

  /**
   * Checks every invariant in the header comment against the arena and the allocator, and returns
   * what is wrong (nothing, when the heap is consistent). For tests that throw at every step of an
   * operation: whatever stopped where, the heap must still pass.
   */
  audit(): string[] {
    const bad: string[] = [];
    this.settleAll();
    const seen = new Set<number>();
    const owned = new Map<number, { objects: number; bytes: number }>();
    const borrows = new Map<number, number>();
    const lent = new Map<number, number>();
    let objects = 0;
    let bytes = 0;
    let nested = 0;
    let pagedObjects = 0;
    for (let s = 0; s < this.slots.length; s++) {
      const e = this.slots[s];
      if (e.handle <= 0) continue;
      if ((e.handle & H.MASK) !== s) bad.push(`slot ${s}: handle ${e.handle} names another slot`);
      if (e.mode === Mode.BORROW) {
        const r = this.slots[e.link];
        if (r === undefined || r.handle <= 0 || r.header !== e.header) bad.push(`slot ${s}: a borrow of a dead root`);
        borrows.set(e.header, (borrows.get(e.header) ?? 0) + 1);
        lent.set(e.chargedTo, (lent.get(e.chargedTo) ?? 0) + 1);
        continue;
      }
      const want = e.owner === ORPHAN ? OWNER_ORPHAN : e.owner;
      if (this.dv.getUint32(e.header, true) !== want) bad.push(`slot ${s}: header owner ${this.dv.getUint32(e.header, true)}, slot owner ${e.owner}`);
      if (this.dv.getUint32(e.header + 4, true) !== e.type) bad.push(`slot ${s}: header type differs from the slot's`);
      let tobj = 0;
      let tbyt = 0;
      const stack = [e.header];
      while (stack.length > 0) {
        const o = stack.pop()!;
        if (seen.has(o)) { bad.push(`object at ${o} is reachable twice`); continue; }
        seen.add(o);
        const size = this.dv.getUint32(o + 12, true);
        const t = this.types[this.dv.getUint32(o + 4, true)];
        if (t === undefined || payloadBytes(t) !== size) { bad.push(`object at ${o}: bad type or size`); continue; }
        try { this.alloc.blockSize(o); } catch { bad.push(`object at ${o} is not an allocated block`); }
        if (this.paged[this.dv.getUint32(o + 4, true)]) {
          pagedObjects++;
          const at = this.dv.getUint32(o + PAGE_DATA_AT, true);
          if (at % PAGE_BYTES !== 0) bad.push(`page buffer at ${o}: data at ${at} is not page-aligned`);
          try { this.alloc.blockSize(at); } catch { bad.push(`page buffer at ${o}: its data is not an allocated block`); }
        }
        if (o !== e.header) {
          nested++;
          if (this.dv.getUint32(o, true) !== OWNER_CHILD) bad.push(`child at ${o}: owner field is not CHILD`);
        }
        tobj++;
        tbyt += size;
        for (let i = 0; i < t.children.length; i++) {
          const c = this.dv.getUint32(o + HEADER_BYTES + t.meta + 4 * i, true);
          if (c !== 0) stack.push(c);
        }
      }
      if (tobj !== e.treeObjects || tbyt !== e.treeBytes) bad.push(`slot ${s}: tree is ${tobj}/${tbyt}, slot says ${e.treeObjects}/${e.treeBytes}`);
      if (e.chargedTo !== e.owner) bad.push(`slot ${s}: charged to ${e.chargedTo}, owned by ${e.owner}`);
      const u = owned.get(e.owner) ?? { objects: 0, bytes: 0 };
      u.objects += tobj;
      u.bytes += tbyt;
      owned.set(e.owner, u);
      objects += tobj;
      bytes += tbyt;
    }
    for (let s = 0; s < this.slots.length; s++) {
      const e = this.slots[s];
      if (e.handle <= 0 || e.mode === Mode.BORROW) continue;
      const n = borrows.get(e.header) ?? 0;
      if (this.dv.getUint32(e.header + 8, true) !== n) bad.push(`slot ${s}: borrow count ${this.dv.getUint32(e.header + 8, true)}, ${n} borrows`);
      if (e.mode === Mode.PINNED) {
        if (e.pins === 0) bad.push(`slot ${s}: PINNED without pins`);
      } else {
        if (e.pins !== 0) bad.push(`slot ${s}: ${e.pins} pins but not PINNED`);
        if ((e.mode === Mode.LENT) !== (n > 0) && e.owner !== ORPHAN) bad.push(`slot ${s}: mode ${e.mode} with ${n} borrows`);
      }
    }
    if (objects !== this.objects || bytes !== this.bytes) bad.push(`counts ${this.objects}/${this.bytes}, reachable ${objects}/${bytes}`);
    if (nested !== this.nestedObjects) bad.push(`nested count ${this.nestedObjects}, reachable ${nested}`);
    const blocks = this.alloc.stats().blocks - 1 - this.deadCount; // (the reserved block, and freed ones not handed back yet)
    if (blocks !== objects + pagedObjects) bad.push(`allocator has ${blocks} blocks, ${objects} objects (${pagedObjects} with a page of their own) are reachable`);
    for (let i = 0; i < this.owners.length; i++) {
      const o = i === 0 ? ORPHAN : i - 1;
      const u = this.owners[i];
      const want = owned.get(o) ?? { objects: 0, bytes: 0 };
      if (u.objects !== want.objects || u.bytes !== want.bytes) bad.push(`owner ${o}: charged ${u.objects}/${u.bytes}, owns ${want.objects}/${want.bytes}`);
      if (u.lent !== (lent.get(o) ?? 0)) bad.push(`owner ${o}: ${u.lent} borrows counted out, ${lent.get(o) ?? 0} held`);
      if (u.reserved && u.pool.held > u.quota) bad.push(`owner ${o}: holds ${u.pool.held} bytes, over its quota of ${u.quota}`);
    }
    const ring = new Set<number>();
    for (let i = 0; i < this.freeCount; i++) {
      const s = this.ring[(this.freeHead + i) & (this.ring.length - 1)];
      if (ring.has(s) || this.slots[s].handle > 0) bad.push(`free ring: slot ${s} is listed twice or in use`);
      ring.add(s);
    }
    return bad;
  }

  stats(): HeapStats {
    this.settleAll();
    const perOwner = new Map<number, OwnerStats>();
    for (let i = 0; i < this.owners.length; i++) {
      const u = this.owners[i];
      if (u.objects !== 0) perOwner.set(i === 0 ? ORPHAN : i - 1, { objects: u.objects, bytes: u.bytes });
    }
    return {
      capacity: this.buffer.byteLength,
      objects: this.objects,
      bytes: this.bytes,
      handles: this.slots.length - this.freeCount,
      nested: { objects: this.nestedObjects, bytes: this.nestedBytes },
      perOwner,
      largestFree: this.alloc.stats().largestFree,
    };
  }

}

function num(v: number): number {
  if (typeof v !== 'number') throw new TypeError(`exchange heap: expected a number, got ${typeof v}`);
  return v;
}
function big(v: bigint): bigint {
  if (typeof v !== 'bigint') throw new TypeError(`exchange heap: expected a bigint, got ${typeof v}`);
  return v;
}

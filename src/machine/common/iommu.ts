// The IOMMU: which parts of the DMA area (the kernel's exchange-heap arena) a device may touch.
// A device never sees arena offsets: a command names its buffer by an IOVA, and the device turns
// that IOVA into an offset through a table only the kernel writes. A driver can name a buffer, but
// only the kernel can make a name mean memory, so a driver domain (or a device it programs) cannot
// reach exchange-heap memory the kernel did not hand out for I/O. Runtime-neutral.
//
// The table is a SharedArrayBuffer shared by the kernel and the device's thread only (never a
// driver). Entry i, IOMMU_ENTRY_BYTES, 32-bit words:
//   IOVA    the iova mapped at i, 0 = none                   written by the kernel only
//   OFFSET  start of the mapping in the DMA area             written by the kernel only
//   LENGTH  bytes mapped                                     written by the kernel only
//   ACCESS  Access bits: DEVICE_READS (the device may read memory: WRITE commands), DEVICE_WRITES
//           (the device may write memory: READ commands)     written by the kernel only
//   BUSY    0, or BUSY_IN_TRANSFER while the device is inside a transfer through i, or
//           BUSY_WAITED if the kernel waits for that transfer's end      the device sets 0 and 1
//
// An iova is generation << 16 | index: index < MAX_IOMMU_ENTRIES, generation in [1, MAX_GENERATION],
// bumped each time the kernel maps index i again, so an iova is a positive int32, never 0, and a
// stale iova (one unmapped, its index since reused) or a forged one is refused. The kernel reuses
// indices first-in first-out, so one index is remapped only after every other free one has been,
// and an iova repeats only after MAX_GENERATION remaps of its index.
//
// Protocol (every access to IOVA and BUSY is an Atomics operation, sequentially consistent):
//   device, per transfer (iommuBegin ... iommuEnd): store BUSY := 1; load IOVA; if it is not the
//                 command's iova (or the length or access does not fit), end at once and refuse;
//                 else transfer; end: exchange BUSY := 0, and notify BUSY if it held 2;
//   kernel, unmap: store IOVA := 0; while load BUSY != 0: compareExchange BUSY 1 -> 2, then
//                 Atomics.wait while BUSY is 2 (1 ms slices, UNMAP_WAIT_MS in all). If BUSY is
//                 still nonzero then, the entry is hung (below).
// Proof sketch. The device's first two steps are "store BUSY, then load IOVA", the kernel's are
// "store IOVA, then load BUSY". In the single total order of these four, either the device's load
// of IOVA comes after the kernel's store (it reads 0 and refuses: it touches no memory), or it
// comes before it, and then so does the device's store of BUSY, which therefore precedes the
// kernel's load of BUSY: the kernel reads nonzero and waits until the device's end stores 0,
// after its last access to the buffer. So once unmap returns 'done', no transfer through the
// mapping is running and none can start. No lost wake-up: the kernel sleeps only while BUSY is 2, and the
// device's exchange that ends the transfer then sees 2 and notifies; a transfer not waited for
// costs no notify (a notify takes a process-wide lock in V8, which doorbells contend for). A
// device does one transfer at a time and a table serves one device, so when the device stores 1
// every BUSY word is 0 (the kernel only ever turns a 1 into a 2). OFFSET, LENGTH and ACCESS are
// written with plain stores before IOVA is published with Atomics.store, and read by the device
// after its Atomics.load of IOVA returned that iova, so the device sees the values of that mapping; they cannot change under a running transfer, since the
// kernel rewrites them only after an unmap of the index returned 'done'.
//
// Hung entries. An unmap that gives up (the device stayed in a transfer through the entry for
// UNMAP_WAIT_MS) leaves the entry hung: its IOVA is 0, so no new transfer can start through it,
// but the one running may still touch the memory. The mapper remembers the entry's iova; it
// reports 'hung' for it (unmap) and lists it (unmapAll, hungMappings) until a later look finds
// BUSY 0 (the transfer ended, or stop() cleared the words of a dead device), and it never reuses
// the index before that. Its caller must not reuse the memory of a mapping reported hung (the
// kernel leaves it pinned for good). A hung entry is only looked at again, never waited for, so
// the kernel's thread waits at most UNMAP_WAIT_MS per unmap or unmapAll call.
//
// A throw part way. The kernel calls map and unmap for a driver at whatever depth the driver is,
// so a call inside them may fail for want of stack (a RangeError at the engine's limit). map makes
// no call once it has changed anything. unmap records the entry as hung before it clears the
// IOVA, and settle frees the index before it clears that record: an unmap cut short leaves a hung
// entry, which the next unmap of its iova or unmapAll finishes, never an index lost to both the
// table and the free list.
//
// Invariants:
//   - table words are written by the kernel (IommuMapper) except BUSY, which the device sets to
//     1 and back to 0 and the kernel only turns from 1 into 2;
//   - an index is on the kernel's free list exactly when its IOVA word is 0 and it is not
//     recorded hung (an unmap running, or cut short, counts as hung);
//   - map and unmap are O(1): a ring of free indices, no search; unmapAll is one pass.

/** Bytes per table entry. */
export const IOMMU_ENTRY_BYTES = 32;
/** 32-bit words per table entry. */
export const IOMMU_ENTRY_WORDS = IOMMU_ENTRY_BYTES / 4;
/** Most entries a table may have (an iova's index has 16 bits). */
export const MAX_IOMMU_ENTRIES = 65536;
/** Largest generation: generation << 16 must stay a positive int32. */
export const MAX_GENERATION = 32767;
/** How long unmap (or one unmapAll) waits for a transfer to end before it gives up (the device is hung). */
export const UNMAP_WAIT_MS = 5000;

/** BUSY values: the device is in a transfer; and in one while the kernel waits for its end (wants a notify). */
export const BUSY_IN_TRANSFER = 1;
export const BUSY_WAITED = 2;

/** What a mapping lets the device do with the memory. */
export const Access = { DEVICE_READS: 1, DEVICE_WRITES: 2 } as const;

/** Word indices inside an entry. */
export const IommuWord = { IOVA: 0, OFFSET: 1, LENGTH: 2, ACCESS: 3, BUSY: 4 } as const;

/** Bytes of a table of `entries` entries. */
export function iommuBytes(entries: number): number {
  if (!Number.isInteger(entries) || entries < 1 || entries > MAX_IOMMU_ENTRIES) {
    throw new RangeError(`iommu: entries must be an integer in [1, ${MAX_IOMMU_ENTRIES}], got ${entries}`);
  }
  return entries * IOMMU_ENTRY_BYTES;
}

/** The entries of a table, or a RangeError if it cannot be one. */
export function iommuEntries(table: SharedArrayBuffer): number {
  if (!(table instanceof SharedArrayBuffer)) throw new TypeError('iommu: the table must be a SharedArrayBuffer');
  const entries = table.byteLength / IOMMU_ENTRY_BYTES;
  if (!Number.isInteger(entries) || entries < 1 || entries > MAX_IOMMU_ENTRIES) {
    throw new RangeError(`iommu: a table is 1 to ${MAX_IOMMU_ENTRIES} entries of ${IOMMU_ENTRY_BYTES} bytes, got ${table.byteLength} bytes`);
  }
  return entries;
}

/** What an unmap found: the mapping is gone and no transfer through it is running ('done'); no such
 *  mapping ('not-mapped'); or the device is still inside a transfer through it ('hung'). */
export type UnmapResult = 'done' | 'not-mapped' | 'hung';

/** What unmapAll did: how many mappings it removed for good, and the iovas of the hung ones. */
export interface UnmapAllResult {
  done: number;
  hung: number[];
}

/** A hung mapping, as the kernel made it. */
export interface HungMapping {
  iova: number;
  offset: number;
  length: number;
}

/**
 * The kernel's side: makes and removes mappings. It is the only writer of the table's IOVA,
 * OFFSET, LENGTH and ACCESS words. unmap and unmapAll may block (Atomics.wait) for as long as one
 * device transfer lasts, UNMAP_WAIT_MS at most; neither throws.
 */
export class IommuMapper {
  readonly entries: number;
  private readonly words: Int32Array;
  private readonly generation: Uint16Array;
  /** per index, the iova of a hung entry (see the header), else 0 */
  private readonly hungIova: Int32Array;
  /** free indices, a FIFO ring: free[(freeHead + k) % entries] for k < freeCount */
  private readonly free: Int32Array;
  private freeHead = 0;
  private freeCount = 0;
  private live = 0;

  /** Takes an empty table (every IOVA word 0: a fresh SharedArrayBuffer). `waitMs` bounds each
   *  unmap's and unmapAll's wait (tests shorten it). */
  constructor(table: SharedArrayBuffer, private readonly waitMs = UNMAP_WAIT_MS) {
    this.entries = iommuEntries(table);
    this.words = new Int32Array(table);
    this.generation = new Uint16Array(this.entries);
    this.hungIova = new Int32Array(this.entries);
    this.free = new Int32Array(this.entries);
    for (let i = 0; i < this.entries; i++) {
      if (Atomics.load(this.words, i * IOMMU_ENTRY_WORDS + IommuWord.IOVA) !== 0) throw new Error('iommu: the table already holds mappings');
      this.release(i);
    }
  }

  /** Number of live mappings (hung ones not included). */
  get mapped(): number {
    return this.live;
  }

  /** Maps [offset, offset + length) of the DMA area with `access` (Access bits): the iova, or 0 if the table is full. */
  map(offset: number, length: number, access: number): number {
    checkMapping(offset, length, access);
    if (this.freeCount === 0) return 0;
    const index = this.free[this.freeHead];
    this.freeHead = (this.freeHead + 1) % this.entries;
    this.freeCount--;
    const gen = (this.generation[index] % MAX_GENERATION) + 1;
    this.generation[index] = gen;
    const base = index * IOMMU_ENTRY_WORDS;
    this.words[base + IommuWord.OFFSET] = offset;
    this.words[base + IommuWord.LENGTH] = length;
    this.words[base + IommuWord.ACCESS] = access;
    const iova = (gen << 16) | index;
    Atomics.store(this.words, base + IommuWord.IOVA, iova);
    this.live++;
    return iova;
  }

  /**
   * Removes a mapping. 'done': no device transfer through it is running or can start, and its
   * index is free again. 'hung': the device stayed inside a transfer through it for UNMAP_WAIT_MS
   * (or, for an iova already hung, still is): no new transfer can start, but the memory must not
   * be reused. 'not-mapped': `iova` names no mapping (stale, forged, or unmapped already).
   */
  unmap(iova: number): UnmapResult {
    const index = this.indexOf(iova);
    if (index >= 0) {
      this.hungIova[index] = iova; // (until settled: see "A throw part way")
      Atomics.store(this.words, index * IOMMU_ENTRY_WORDS + IommuWord.IOVA, 0);
      this.live--;
      return this.settle(index, iova, Date.now() + this.waitMs) ? 'done' : 'hung';
    }
    const hung = this.hungIndexOf(iova);
    if (hung < 0) return 'not-mapped';
    return this.settle(hung, iova, 0) ? 'done' : 'hung';
  }

  /**
   * Unmaps every mapping (the crash path), waiting UNMAP_WAIT_MS in all, however many transfers
   * it waits for: `done` counts the mappings removed for good (hung ones found ended included),
   * `hung` lists the iovas still hung, those of earlier calls included.
   */
  unmapAll(): UnmapAllResult {
    const out: UnmapAllResult = { done: 0, hung: [] };
    const gone: number[] = [];
    for (let i = 0; i < this.entries; i++) {
      const w = i * IOMMU_ENTRY_WORDS + IommuWord.IOVA;
      const iova = this.words[w];
      if (iova !== 0) {
        this.hungIova[i] = iova; // (until settled)
        Atomics.store(this.words, w, 0);
        this.live--;
        gone.push(i, iova);
      } else if (this.hungIova[i] !== 0) {
        // hung by an earlier call: one look, no wait
        if (this.settle(i, this.hungIova[i], 0)) out.done++;
        else out.hung.push(this.hungIova[i]);
      }
    }
    // Every IOVA is 0 before the first wait, so the device cannot start a transfer through any of them.
    const deadline = Date.now() + this.waitMs;
    for (let k = 0; k < gone.length; k += 2) {
      if (this.settle(gone[k], gone[k + 1], deadline)) out.done++;
      else out.hung.push(gone[k + 1]);
    }
    return out;
  }

  /** The hung mappings (see the header): their memory must not be reused while they are listed. */
  hungMappings(): HungMapping[] {
    const out: HungMapping[] = [];
    for (let i = 0; i < this.entries; i++) {
      const iova = this.hungIova[i];
      if (iova === 0) continue;
      const base = i * IOMMU_ENTRY_WORDS;
      out.push({ iova, offset: this.words[base + IommuWord.OFFSET], length: this.words[base + IommuWord.LENGTH] });
    }
    return out;
  }

  /** The index `iova` names if it is mapped now, else -1. */
  private indexOf(iova: number): number {
    if (!Number.isInteger(iova) || iova <= 0 || iova > 0x7fffffff) return -1;
    const index = iova & 0xffff;
    if (index >= this.entries) return -1;
    return this.words[index * IOMMU_ENTRY_WORDS + IommuWord.IOVA] === iova ? index : -1;
  }

  /** The index `iova` names if it is hung, else -1. */
  private hungIndexOf(iova: number): number {
    if (!Number.isInteger(iova) || iova <= 0 || iova > 0x7fffffff) return -1;
    const index = iova & 0xffff;
    return index < this.entries && this.hungIova[index] === iova ? index : -1;
  }

  /**
   * For entry `index`, whose IOVA is already 0: waits until the device is out of any transfer
   * through it or `deadline` (Date.now() time; 0 = one look) passes. Out: frees the index, true.
   * Still in: records the entry as hung, false.
   */
  private settle(index: number, iova: number, deadline: number): boolean {
    const busy = index * IOMMU_ENTRY_WORDS + IommuWord.BUSY;
    while (Atomics.load(this.words, busy) !== 0) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.hungIova[index] = iova;
        return false;
      }
      Atomics.compareExchange(this.words, busy, BUSY_IN_TRANSFER, BUSY_WAITED);
      Atomics.wait(this.words, busy, BUSY_WAITED, Math.min(left, 1));
    }
    this.release(index);
    this.hungIova[index] = 0;
    return true;
  }

  private release(index: number): void {
    this.free[(this.freeHead + this.freeCount) % this.entries] = index;
    this.freeCount++;
  }
}

function checkMapping(offset: number, length: number, access: number): void {
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(length) || length < 1 || offset + length > 0x7fffffff) {
    throw new RangeError(`iommu: a mapping is a non-empty range below 2^31, got offset ${offset}, length ${length}`);
  }
  if (access !== Access.DEVICE_READS && access !== Access.DEVICE_WRITES && access !== (Access.DEVICE_READS | Access.DEVICE_WRITES)) {
    throw new RangeError(`iommu: access must be DEVICE_READS, DEVICE_WRITES or both, got ${access}`);
  }
}

// ---- the device's side: shipped to the device thread as source text (see machine/node/thread.ts),
// so these use only each other and the constants IOMMU_ENTRY_WORDS and IommuWord.

/**
 * Starts a transfer of `length` bytes through `iova` needing `access`: the buffer's offset in the
 * DMA area, or -1 (refused: not mapped, stale, too short, access not allowed). After a non-negative
 * result the caller must call iommuEnd(words, iova) once the transfer is over, even if it failed.
 */
export function iommuBegin(words: Int32Array, iova: number, length: number, access: number): number {
  if (!(iova > 0 && iova <= 0x7fffffff && length >= 0)) return -1;
  const base = (iova & 0xffff) * IOMMU_ENTRY_WORDS;
  if (base + IOMMU_ENTRY_WORDS > words.length) return -1;
  Atomics.store(words, base + IommuWord.BUSY, BUSY_IN_TRANSFER);
  if (Atomics.load(words, base + IommuWord.IOVA) !== iova
    || length > words[base + IommuWord.LENGTH]
    || (words[base + IommuWord.ACCESS] & access) !== access) {
    iommuEnd(words, iova);
    return -1;
  }
  return words[base + IommuWord.OFFSET];
}

/** Ends the transfer iommuBegin started (and wakes an unmap waiting for it). */
export function iommuEnd(words: Int32Array, iova: number): void {
  const busy = (iova & 0xffff) * IOMMU_ENTRY_WORDS + IommuWord.BUSY;
  if (Atomics.exchange(words, busy, 0) === BUSY_WAITED) Atomics.notify(words, busy);
}

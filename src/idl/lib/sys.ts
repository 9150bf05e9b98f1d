// The kernel services a domain may be given, as seen from inside the domain.
//
// These are capabilities, not IDL interfaces: the kernel implements them directly and binds each
// instance to the domain it was given to, so every call is checked against that domain (its heap
// handles, its quota, whether it is still alive). After the domain dies they are revoked: any
// further call throws.
import type { RpcResult } from './types.ts';

/** The exchange heap, raw. Generated accessors (idl/generated/structs.ts) wrap these calls. */
export interface HeapCap {
  alloc(typeId: number): number;
  free(h: number): void;
  typeOf(h: number): number;
  /** bytes in the object's data region */
  size(h: number): number;
  u8(h: number, off: number): number;
  u16(h: number, off: number): number;
  u32(h: number, off: number): number;
  i8(h: number, off: number): number;
  i16(h: number, off: number): number;
  i32(h: number, off: number): number;
  f64(h: number, off: number): number;
  u64(h: number, off: number): bigint;
  i64(h: number, off: number): bigint;
  setU8(h: number, off: number, v: number): void;
  setU16(h: number, off: number, v: number): void;
  setU32(h: number, off: number, v: number): void;
  setI8(h: number, off: number, v: number): void;
  setI16(h: number, off: number, v: number): void;
  setI32(h: number, off: number, v: number): void;
  setF64(h: number, off: number, v: number): void;
  setU64(h: number, off: number, v: bigint): void;
  setI64(h: number, off: number, v: bigint): void;
  /** copy-out into the domain's own memory */
  read(h: number, off: number, dst: Uint8Array, dstOff: number, len: number): void;
  /** copy-in from the domain's own memory */
  write(h: number, off: number, src: Uint8Array, srcOff: number, len: number): void;
  copy(dst: number, dstOff: number, src: number, srcOff: number, len: number): void;
  fill(h: number, off: number, byte: number, len: number): void;
  take(h: number, index: number): number | null;
  put(h: number, index: number, child: number | null): number | null;
  push(h: number, child: number): boolean;
  pop(h: number): number | null;
  count(h: number): number;
  /** From now on, roots this domain moves into another domain that then crashes holding them come
   *  back to it (how a shadow gets back the requests its target had: kernel/heap.ts, Salvage). */
  salvage(): void;
  /** the handles of roots that came back since the last call (see salvage), oldest first */
  salvaged(): number[];
}

export type LogArg = string | number | bigint | boolean | null | undefined;
export type Log = (...parts: LogArg[]) => void;

export interface Clock {
  /** milliseconds since boot, monotonic, sub-millisecond resolution */
  now(): number;
}

export interface Timers {
  /** calls `fn` once after `ms`; returns an id for cancel */
  after(ms: number, fn: () => void): number;
  /** calls `fn` every `ms` until cancelled */
  every(ms: number, fn: () => void): number;
  cancel(id: number): boolean;
  sleep(ms: number): Promise<void>;
}

export interface Threads {
  /** starts a kernel-tracked task in this domain; a rejection crashes the domain */
  spawn(name: string, body: () => Promise<void>): number;
  /** names of this domain's running threads */
  list(): string[];
}

export interface Irq {
  /** routes interrupt `line` to `handler` (one handler per line) */
  register(line: number, handler: () => void): void;
  unregister(line: number): boolean;
}

/** The atomic operations on a device's memory (machine/common/device.ts AtomicOps; a domain's
 *  compartment has no Atomics). */
export interface DeviceAtomics {
  load(a: Int32Array, i: number): number;
  store(a: Int32Array, i: number, v: number): number;
  add(a: Int32Array, i: number, v: number): number;
  sub(a: Int32Array, i: number, v: number): number;
  exchange(a: Int32Array, i: number, v: number): number;
  compareExchange(a: Int32Array, i: number, expected: number, v: number): number;
  notify(a: Int32Array, i: number, count?: number): number;
}

/** A device this domain drives (Devices.open). */
export interface DeviceCap {
  readonly name: string;
  /** the device's registers and queues */
  readonly memory: SharedArrayBuffer;
  readonly atomics: DeviceAtomics;
  /**
   * Maps data of the exchange-heap object `h` (a root this domain owns) for the device's DMA: its
   * own data (child -1) or the data of the object in its child slot `child`. `access`: 1 the device
   * reads it, 2 the device writes it, 3 both. `h` is PINNED (readable, not writable, movable or
   * freeable) until every mapping of it is undone. Returns the I/O address for the device's
   * commands, or 0 if there is no data to map (an empty child slot); throws if the IOMMU table is
   * full, or if the device does no DMA (the console).
   */
  map(h: number, child: number, access: number): number;
  /** undoes a mapping once the device is done with it; false if `iova` is not one of ours */
  unmap(iova: number): boolean;
  /** routes the device's interrupts to `handler` (runs as this domain) */
  onInterrupt(handler: () => void): void;
}

/** The devices this domain was granted. */
export interface Devices {
  /** binds device `name` to this domain (one driver at a time) */
  open(name: string): DeviceCap;
  /** names of the devices granted */
  list(): string[];
}

/** What a creator grants a domain beyond capabilities: devices it holds itself, and a CPU budget
 *  and heap quota no larger than its own (its own when not given). */
export interface Grant {
  readonly devices?: readonly string[];
  readonly budgetMs?: number;
  readonly quotaBytes?: number;
}

/** Privileged: create domains from bundles the kernel has loaded. */
export interface Domains {
  /** creates a domain from a loaded bundle, handing it `imports` (capabilities this domain holds,
   *  or its own implementations of the interfaces the bundle imports); returns the interface it
   *  exports, proxied for this domain */
  create<I>(bundle: string, imports?: Readonly<Record<string, unknown>>, config?: Config, grant?: Grant): RpcResult<I>;
  /**
   * Verifies a signed bundle given as its bytes (read from a file system, say) and makes it
   * available to create(); returns the name to create it by. Throws the kernel's refusal
   * (unsigned, tampered, untrusted key, …: BundleRefused) if it may not run.
   */
  load(bytes: Uint8Array): string;
  /** Stops a domain this domain created, named by a capability to it; false if it is not one of
   *  ours or is already dead. */
  kill(cap: unknown, reason?: string): boolean;
}

export interface Sys {
  readonly self: { readonly id: number; readonly name: string };
  readonly log: Log;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly threads: Threads;
  readonly heap: HeapCap;
  readonly irq?: Irq;
  readonly domains?: Domains;
  /** for a domain granted devices */
  readonly devices?: Devices;
}

/** Plain data a domain is created with (its "command line"): copied in, frozen. */
export type Config = null | boolean | number | string | readonly Config[] | { readonly [k: string]: Config };


// Interfaces of the demonstration and test domains: small enough to read in one go, and
// exercising every kind of exchangeable type. (The benchmarks' are in bench.ts; each subsystem has
// its own file, as RedLeaf's interface/ does.)
import type {
  Borrow, Bytes, Copy, Interface, Option, RRef, RRefArray, RRefDeque, RpcResult, Struct, bool, f64, i32, u32, u64, u8,
} from './lib/types.ts';

/** A fixed-layout message in the exchange heap, with an optional chained successor. */
export interface Packet extends Struct {
  seq: u64;
  len: u32;
  flags: u8;
  urgent: bool;
  payload: Bytes<64>;
  next: Option<RRef<Packet>>;
}

export type PacketBatch = RRefDeque<Packet, 32>;
export type PacketRing = RRefArray<Packet, 8>;
export type Page = Bytes<4096>;

export interface CounterStats extends Copy {
  readonly calls: u32;
  readonly total: f64;
}

/** The workhorse of the tests and the call benchmark. */
export interface Counter extends Interface {
  /** does nothing: the cost of a crossing */
  nop(): RpcResult<void>;
  add(n: i32): RpcResult<i32>;
  stats(): RpcResult<CounterStats>;
  /** takes a packet and hands it back (moved in, moved out) */
  bounce(p: RRef<Packet>): RpcResult<RRef<Packet>>;
  /** reads a packet's length through an immutable borrow */
  peek(p: Borrow<Packet>): RpcResult<u32>;
  /** adds after a timer tick, asynchronously */
  addLater(n: i32): Promise<RpcResult<i32>>;
  /** resolves at once: the cost of an async crossing */
  echoLater(n: i32): Promise<RpcResult<i32>>;
  /** two RRefs moved in one call: `b` becomes `a`'s successor, and `a` comes back */
  chain(a: RRef<Packet>, b: RRef<Packet>): RpcResult<RRef<Packet>>;
  /** sums a batch of packets' lengths and hands the batch back */
  sum(batch: RRef<PacketBatch>): RpcResult<RRef<PacketBatch>>;
  name(): RpcResult<string>;
  /** a callback interface crossing the boundary */
  subscribe(l: Listener): RpcResult<void>;
  notify(v: i32): RpcResult<u32>;
}

export interface Listener extends Interface {
  event(v: i32): RpcResult<void>;
}

/** Things a test domain can be asked to do, each exercising one mechanism. */
export interface Probe extends Interface {
  run(what: string, arg: i32): RpcResult<i32>;
  runAsync(what: string, arg: i32): Promise<RpcResult<i32>>;
  /** keeps a borrowed packet past the call (to be caught later); with write, also writes to it */
  keep(p: Borrow<Packet>, write: bool): RpcResult<void>;
  hold(p: RRef<Packet>): RpcResult<void>;
  page(): RpcResult<Option<RRef<Page>>>;
  ring(r: RRef<PacketRing>): RpcResult<RRef<PacketRing>>;
}

/** A fault plan shared with a flaky driver: whether the next call should crash it. */
export interface FaultPlan extends Interface {
  crashNow(): RpcResult<bool>;
}

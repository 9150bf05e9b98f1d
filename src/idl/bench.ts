// Interfaces of the benchmark domains (bench/): what `npm run bench` drives from the host.
import type { Interface, RpcResult, f64, u32 } from './lib/types.ts';

/** Runs a benchmark loop inside a domain: n iterations of one kind of call; returns a checksum. */
export interface Bench extends Interface {
  run(what: string, n: u32): RpcResult<f64>;
  runAsync(what: string, n: u32): Promise<RpcResult<f64>>;
}

/** The language-tax workload (bench/tax.ts): an open-addressing hash table inside a domain. */
export interface TaxBench extends Interface {
  /** builds a table of 2^log2 entries and fills it to 75% (untimed) */
  prepare(log2: u32, seed: u32): RpcResult<void>;
  /** ops lookups, half hits and half misses; returns their checksum */
  run(ops: u32): RpcResult<u32>;
}

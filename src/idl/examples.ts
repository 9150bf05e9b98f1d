// Interfaces of the examples (examples/, docs/guide.md): what a first domain of your own looks like.
import type { Interface, RpcResult, u32 } from './lib/types.ts';

/** A greeter that counts its greetings (examples/hello). */
export interface Greeter extends Interface {
  greet(name: string): RpcResult<string>;
  /** greetings made by this instance (a restarted greeter starts again from 0) */
  count(): RpcResult<u32>;
}

// Transparent recovery: the state a shadow keeps about the domain it wraps.
//
// A shadow (RedLeaf §4.4) holds what it needs to re-create its target: how to create it and how to
// replay its set-up. The generated wrapper (idl/generated/shadows.ts, `shadowX(shadow)`) forwards
// every call to `target`; when a call fails because the target crashed, it asks `recover`, which
// re-creates the target, replays set-up, and says whether to retry. Immutable borrows make retries
// safe; calls that moved an RRef into the crashed target cannot be retried (it went down with the
// target) and report the error, but the target is still re-created for the next call.
import type { RpcError, RpcResult } from './types.ts';

export interface ShadowOptions<I> {
  /** creates a fresh target (usually `sys.domains.create(...)`) */
  create(): RpcResult<I>;
  /** replays set-up on a fresh target (registrations, configuration) */
  setup?(target: I): void;
  /** give up on a call after restarting the target this many times for it (default 8) */
  maxRetries?: number;
  /** told about every restart */
  onRestart?(error: RpcError, restarts: number): void;
}

export class Shadow<I> {
  target: I;
  /** restarts so far */
  restarts = 0;
  private readonly opts: ShadowOptions<I>;

  constructor(opts: ShadowOptions<I>) {
    this.opts = opts;
    this.target = this.fresh();
  }

  private fresh(): I {
    const r = this.opts.create();
    if (!r.ok) throw new Error(`shadow: cannot create target: ${r.error.kind}: ${r.error.message}`);
    this.opts.setup?.(r.value);
    return r.value;
  }

  /** Called by the wrapper after the `attempt`-th failure of one call: true if the target was
   *  re-created and the call should be retried. Errors that are not crashes (invalid-argument,
   *  revoked) are not retried, nor is a call whose retries are used up. */
  recover(e: RpcError, attempt = 0): boolean {
    if (e.kind !== 'crashed' && e.kind !== 'dead' && e.kind !== 'bad-return') return false;
    this.restarts++;
    this.opts.onRestart?.(e, this.restarts);
    this.target = this.fresh();
    return attempt < (this.opts.maxRetries ?? 8);
  }
}

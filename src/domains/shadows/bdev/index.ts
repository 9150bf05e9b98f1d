// The block-driver shadow: exports BDev and forwards every call to a block driver it creates (config
// `target`, a bundle such as 'nvme', granted the device `device`); when the driver crashes it
// starts a new one and hands it again every request the old one held, so callers see neither the
// crash nor a lost or doubled write (RedLeaf §4.4, and the part RedLeaf left open: requests that
// were inside the driver when it died).
//
// How the requests come back. The shadow calls sys.heap.salvage() once: from then on, when a
// domain it moved RRefs into crashes holding them, the kernel gives those roots back to the shadow
// instead of freeing them (kernel/heap.ts, Salvage). The kernel does this only after it has reset
// the device and removed the dead driver's IOMMU entries (kernel/services/devices.ts), so a
// request that comes back can no longer be written by a late DMA. Nothing is copied on any call:
// the only bookkeeping on the normal path is a sequence number the shadow writes into each request
// it passes on (BlockReq.seq) and a count of the requests inside the driver.
//
// The rule, as the code keeps it:
//   - every request handed to the driver is, at any moment, in the driver or back with the caller;
//     when the driver dies, the ones in it come back to the shadow (salvaged: loose, or inside the
//     deques that carried them), and are counted against `inDriver`;
//   - the shadow re-submits them to the new driver in the order they were first submitted
//     (ascending seq), before anything new, so two writes to one block land in their order;
//   - a request that completed on the device but had not been returned yet is simply done again:
//     a read reads the same block, and a write writes the same data, in the same order;
//   - completions of re-submitted requests are kept in `ready` and returned by the next
//     submitAndPoll calls, before the driver's own; a synchronous read or write gets its own
//     request back (found by its seq).
//   - a recovery that fails (no driver could start, or one refused the re-submission) keeps what it
//     salvaged in `unsent`, counted by pending(), for the next recovery;
//   - a read or write that fails for good frees its request: the caller moved it in, and gets an
//     error, not the request, back.
// If requests did not come back (`inDriver` exceeds what was salvaged: a driver that freed them),
// they are reported in `lost`, once, and the call fails; this never happens with the nvme driver.
import type { BDev, BlockBatch, BlockReq as BlockReqT } from '../../../idl/block.ts';
import type { Config, Sys } from '../../../idl/lib/sys.ts';
import type { RpcError, RpcResult, RRef } from '../../../idl/lib/types.ts';
import { BlockReq, DequeBlockReq32 } from '../../../idl/generated/structs.ts';
import { fail, ok } from '../../../lib/result.ts';

type Req = RRef<BlockReqT>;
type Batch = RRef<BlockBatch>;

const CAPACITY = DequeBlockReq32.capacity;

function recoverable(e: RpcError): boolean {
  return e.kind === 'crashed' || e.kind === 'dead' || e.kind === 'bad-return';
}

/** Whether a failed call had moved its arguments into the driver: a call into a driver already
 *  dead ('dead'), or refused for its arguments, never reached it. */
function movedIn(e: RpcError): boolean {
  return e.kind === 'crashed' || e.kind === 'bad-return';
}

/** Empty deques kept for re-submission; more are freed. */
const MAX_SPARES = 4;

export function init(sys: Sys, _imports: Readonly<Record<string, unknown>>, config: Config): BDev {
  const c = (typeof config === 'object' && config !== null && !Array.isArray(config) ? config : {}) as Record<string, Config>;
  const target = typeof c.target === 'string' ? c.target : 'nvme';
  const device = typeof c.device === 'string' ? c.device : 'nvme0';
  const driverConfig: Config = c.driver ?? { device };
  const maxRetries = typeof c.maxRetries === 'number' ? c.maxRetries : 8;
  const domains = sys.domains;
  if (!domains) throw new Error('bdev-shadow: needs the privileged domains capability');
  sys.heap.salvage();

  function create(): BDev {
    const r = domains!.create<BDev>(target, {}, driverConfig, { devices: [device] });
    if (!r.ok) throw new Error(`bdev-shadow: cannot start ${target}: ${r.error.message}`);
    return r.value;
  }

  let drv = create();
  let seq = 0;
  /** requests handed to the driver and not yet returned by it */
  let inDriver = 0;
  /** completed requests recovered from a crash, to be returned by submitAndPoll */
  const ready: Req[] = [];
  /** empty deques salvaged, for re-submission */
  const spares: Batch[] = [];
  let lost = 0;
  /** requests salvaged and not handed to a driver yet (a recovery that failed leaves them here) */
  const unsent: Req[] = [];

  const nextSeq = (): number => (seq = (seq + 1) >>> 0);

  /** Gives every request in `batch` its sequence number. */
  function stamp(batch: Batch): void {
    for (let n = DequeBlockReq32.count(batch); n > 0; n--) {
      const r = DequeBlockReq32.pop(batch)!;
      BlockReq.setSeq(r, nextSeq());
      DequeBlockReq32.push(batch, r);
    }
  }

  /** What came back from a dead driver: its requests (in submission order) and empty deques. */
  function salvage(into: Req[]): void {
    let count = 0;
    for (const h of sys.heap.salvaged()) {
      const t = sys.heap.typeOf(h);
      if (t === BlockReq.typeId) {
        into.push(h as Req);
        count++;
      } else if (t === DequeBlockReq32.typeId) {
        for (let r = DequeBlockReq32.pop(h as Batch); r !== null; r = DequeBlockReq32.pop(h as Batch)) {
          into.push(r);
          count++;
        }
        if (spares.length < MAX_SPARES) spares.push(h as Batch);
        else DequeBlockReq32.free(h as Batch);
      } else {
        sys.heap.free(h);
      }
    }
    if (count < inDriver) lost += inDriver - count;
    inDriver = 0;
    const keyed = into.map((r) => [BlockReq.seq(r), r] as const);
    keyed.sort((a, b) => a[0] - b[0]);
    for (let i = 0; i < keyed.length; i++) into[i] = keyed[i][1];
  }

  /** Hands `todo` (in order) to the driver; completions go to `ready`. On the driver's failure,
   *  returns it, with the requests not handed over still in `todo`. */
  function resubmit(todo: Req[]): RpcError | null {
    let i = 0;
    while (i < todo.length) {
      const d = spares.pop() ?? DequeBlockReq32.alloc();
      const first = i;
      while (i < todo.length && DequeBlockReq32.count(d) < CAPACITY) DequeBlockReq32.push(d, todo[i++]);
      inDriver += i - first;
      const r = drv.submitAndPoll(d);
      if (!r.ok) {
        todo.splice(0, i);
        return r.error;
      }
      inDriver -= DequeBlockReq32.count(r.value);
      for (let q = DequeBlockReq32.pop(r.value); q !== null; q = DequeBlockReq32.pop(r.value)) ready.push(q);
      if (spares.length < MAX_SPARES) spares.push(r.value);
      else DequeBlockReq32.free(r.value);
    }
    todo.length = 0;
    return null;
  }

  /**
   * After the driver failed with `e`: if it crashed, restarts it and re-submits what it held.
   * `own` is the seq of a synchronous call's request, taken out of the re-submission and returned
   * (null if it did not come back). Returns the error to give the caller if recovery is impossible.
   */
  function recover(e: RpcError, own: number): { error: RpcError | null; req: Req | null } {
    if (!recoverable(e)) return { error: e, req: null };
    let mine: Req | null = null;
    let error: RpcError | null = e;
    for (let attempt = 0; attempt < maxRetries && error !== null; attempt++) {
      salvage(unsent);
      const at = own === 0 ? -1 : unsent.findIndex((r) => BlockReq.seq(r) === own);
      if (at >= 0) mine = unsent.splice(at, 1)[0];
      try {
        drv = create();
      } catch (x) {
        error = { kind: 'failed', domain: sys.self.name, message: (x as Error).message };
        continue;
      }
      error = resubmit(unsent);
      if (error !== null && !recoverable(error)) break;
    }
    if (error === null && lost > 0) {
      error = { kind: 'failed', domain: sys.self.name, message: `${lost} requests were lost with the driver` };
      lost = 0;
    }
    return { error, req: mine };
  }

  /** A synchronous one-request call, retried on a fresh driver until it completes. */
  function sync(r: Req, call: (d: BDev, r: Req) => RpcResult<Req>): RpcResult<Req> {
    const own = nextSeq();
    BlockReq.setSeq(r, own);
    let cur: Req = r;
    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      inDriver++;
      const res = call(drv, cur);
      if (res.ok) {
        inDriver--;
        return res;
      }
      const moved = movedIn(res.error);
      if (!moved) inDriver--; // (cur is still ours)
      const { error, req } = recover(res.error, moved ? own : 0);
      if (error !== null) {
        if (req !== null) BlockReq.free(req);
        return { ok: false, error };
      }
      if (moved) {
        if (req === null) return fail('failed', sys.self.name, 'the request was lost with the driver');
        cur = req;
      }
    }
    BlockReq.free(cur);
    return fail('failed', sys.self.name, `the driver crashed ${maxRetries + 1} times on one request`);
  }

  /** Any other call: retried on a fresh driver. */
  function retry<T>(call: (d: BDev) => RpcResult<T>): RpcResult<T> {
    for (let attempt = 0; ; attempt++) {
      const res = call(drv);
      if (res.ok || attempt >= maxRetries) return res;
      const { error } = recover(res.error, 0);
      if (error !== null) return { ok: false, error };
    }
  }

  return {
    info: () => retry((d) => d.info()),
    read: (r) => sync(r, (d, q) => d.read(q)),
    write: (r) => sync(r, (d, q) => d.write(q)),
    flush: () => retry((d) => d.flush()),
    pending: () => ok(inDriver + ready.length + unsent.length),
    submitAndPoll: (batch) => {
      stamp(batch);
      const handed = DequeBlockReq32.count(batch);
      inDriver += handed;
      let res = drv.submitAndPoll(batch);
      for (let attempt = 0; !res.ok && attempt < maxRetries; attempt++) {
        const moved = movedIn(res.error);
        if (!moved) inDriver -= handed; // (the batch is still ours)
        const { error } = recover(res.error, 0);
        if (error !== null) return { ok: false, error };
        if (moved) {
          // The batch came back with the rest and was re-submitted: answer with what is ready.
          res = drv.submitAndPoll(spares.pop() ?? DequeBlockReq32.alloc());
        } else {
          inDriver += handed;
          res = drv.submitAndPoll(batch);
        }
      }
      if (!res.ok) return res;
      const out = res.value;
      inDriver -= DequeBlockReq32.count(out);
      if (ready.length > 0) {
        // (what was ready is older than what the driver just completed: it goes first)
        for (let q = DequeBlockReq32.pop(out); q !== null; q = DequeBlockReq32.pop(out)) ready.push(q);
        while (ready.length > 0 && DequeBlockReq32.count(out) < CAPACITY) DequeBlockReq32.push(out, ready.shift()!);
      }
      return ok(out);
    },
    wait: async () => {
      if (ready.length > 0) return ok(ready.length);
      const res = await drv.wait();
      if (res.ok) return res;
      const { error } = recover(res.error, 0);
      return error !== null ? { ok: false, error } : ok(ready.length);
    },
  };
}

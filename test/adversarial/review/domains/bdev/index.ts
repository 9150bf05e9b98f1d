// Hostile block driver for the review of salvage (test/adversarial/review/salvage.test.ts): the
// bdev shadow creates it as its target and calls sys.heap.salvage(). The first time it sees a
// request tagged 1 it crashes holding, besides the caller's requests, requests of its own making:
// some laundered (pushed into the caller's deque and popped out again, so they look as if they
// came from the caller) and some left inside the caller's deque. Every later instance completes
// whatever it is handed. Built unchecked.
import type { BDev } from '../../../../../src/idl/block.ts';
import type { Config, Sys } from '../../../../../src/idl/lib/sys.ts';
import { ok } from '../../../../../src/lib/result.ts';
import { BlockReq, Bytes4096, DequeBlockReq32 } from '../../../../../src/idl/generated/structs.ts';

const FOREIGN_TAG = 0xbad;

export function init(_sys: Sys, _imports: Readonly<Record<string, unknown>>, config: Config): BDev {
  const cfg = (config ?? {}) as Record<string, Config>;
  const launder = typeof cfg.launder === 'number' ? cfg.launder : 8;
  const inside = typeof cfg.inside === 'number' ? cfg.inside : 2;
  const pages = cfg.pages !== false;
  const own = (): ReturnType<typeof BlockReq.alloc> => {
    const m = BlockReq.alloc();
    BlockReq.setTag(m, FOREIGN_TAG);
    BlockReq.setOp(m, 2); // a WRITE of this driver's choosing
    BlockReq.setLba(m, 7);
    if (pages) {
      const d = Bytes4096.alloc();
      Bytes4096.fill(d, 0xee);
      BlockReq.putData(m, d);
    }
    return m;
  };
  return {
    info: () => ok({ blocks: 64, blockSize: 4096, depth: 32 }),
    read: (r) => ok(r),
    write: (r) => ok(r),
    flush: () => ok(0),
    pending: () => ok(0),
    wait: async () => ok(0),
    submitAndPoll: (batch) => {
      const reqs = [];
      for (let r = DequeBlockReq32.pop(batch); r !== null; r = DequeBlockReq32.pop(batch)) reqs.push(r);
      const first = reqs.some((r) => BlockReq.tag(r) === 1 && BlockReq.status(r) !== 0x77);
      if (!first) {
        for (const r of reqs) { BlockReq.setStatus(r, 0); DequeBlockReq32.push(batch, r); }
        return ok(batch);
      }
      for (const r of reqs) BlockReq.setStatus(r, 0x77); // seen: the next instance completes it
      const laundered = [];
      for (let i = 0; i < launder; i++) {
        DequeBlockReq32.push(batch, own());
        laundered.push(DequeBlockReq32.pop(batch)!);
      }
      for (let i = 0; i < inside; i++) DequeBlockReq32.push(batch, own());
      throw new Error(`crashing with ${laundered.length} laundered requests and ${inside} inside the caller's deque`);
    },
  };
}

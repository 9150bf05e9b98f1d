// A scriptable block driver, for the tests of the block-driver shadow (test/bdev-shadow.test.ts).
// It drives no disk: it opens the device it was granted only for the device's memory, which the
// test writes and which outlives every instance of the driver, so one script reaches the driver
// the shadow has now, whichever restart that is. Memory layout (Int32 words; the test names
// them): word 0 counts starts; word 1, if not 0, makes the next starts fail (counting
// down; -1: every start); words 2 and 3 are the head and tail of the script, entries of three
// words [method, action, arg] from word 16. A call takes the head entry if it names its method
// (or 0: any) and does what it says; without one it does its work:
//   - submitAndPoll keeps every request handed to it (in order) and returns as many of those it
//     keeps as the deque holds, oldest first, each with status = this driver's start number;
//   - read and write set the status and return the request; info answers blocks = 1000 + start
//     number; flush answers its start number; pending the requests it keeps; wait (at once) 100 +
//     the requests it keeps.
import type { BDev, BlockBatch, BlockReq as BlockReqT } from '../../../src/idl/block.ts';
import type { Config, Sys } from '../../../src/idl/lib/sys.ts';
import type { RpcErrorKind, RpcResult, RRef } from '../../../src/idl/lib/types.ts';
import { ok } from '../../../src/lib/result.ts';
import { BlockReq, DequeBlockReq32 } from '../../../src/idl/generated/structs.ts';

type Req = RRef<BlockReqT>;
type Batch = RRef<BlockBatch>;

const METHOD = { info: 1, read: 2, write: 3, flush: 4, submitAndPoll: 5, pending: 6, wait: 7 } as const;
/** actions; `arg` as noted */
const CRASH = 1; // throws before touching its arguments
const CRASH_AFTER = 2; // takes the requests (sets a read's or write's status), then throws
const BAD = 3; // returns a value not of the declared type (read, write, submitAndPoll: a new object of another type)
const ERROR = 4; // returns an error of kind KINDS[arg], keeping what it was handed
const HOLD = 5; // submitAndPoll: takes the requests, completes at most arg of the kept ones
const LOSE = 6; // takes the requests, frees arg of the kept ones (oldest first; read/write: the request), throws
const RESEQ = 7; // takes the requests, sets the seq of every one it keeps (read/write: the request) to arg, throws
const STRIP = 8; // submitAndPoll: takes the requests, takes the block out of every one it keeps, throws
const SWAP_DEQUE = 9; // submitAndPoll: keeps the deque it was handed, answers in one of its own
const KINDS: readonly RpcErrorKind[] = ['crashed', 'dead', 'revoked', 'invalid-argument', 'bad-return', 'failed'];

export function init(sys: Sys, _imports: Readonly<Record<string, unknown>>, config: Config): BDev {
  const cfg = (config ?? {}) as Record<string, Config>;
  const dev = sys.devices!.open(typeof cfg.device === 'string' ? cfg.device : 'fake0');
  const w = new Int32Array(dev.memory);
  const me = ++w[0];
  if (w[1] !== 0) {
    if (w[1] > 0) w[1]--;
    throw new Error(`fake-bdev: start ${me} refused by the script`);
  }
  /** the requests handed to this driver and not returned yet, oldest first */
  const kept: Req[] = [];
  /** deques kept (SWAP_DEQUE) */
  const deques: Batch[] = [];

  /** The action the script has for this call of `method` (0: none) and its argument. */
  function next(method: number): [number, number] {
    const at = 16 + 3 * w[2];
    if (w[2] >= w[3] || (w[at] !== 0 && w[at] !== method)) return [0, 0];
    w[2]++;
    return [w[at + 1], w[at + 2]];
  }
  const error = (arg: number): RpcResult<never> => ({ ok: false, error: { kind: KINDS[arg], domain: 'fake-bdev', message: `scripted ${KINDS[arg]}` } });
  const bad = <T>(value: unknown = 'not a value'): RpcResult<T> => ({ ok: true, value: value as T });
  const fault = (what: string): never => { throw new Error(`fake-bdev ${me}: scripted crash in ${what}`); };

  function one(r: Req, method: number, what: string): RpcResult<Req> {
    const [action, arg] = next(method);
    if (action === CRASH) fault(what);
    if (action === BAD) return bad(DequeBlockReq32.alloc());
    if (action === ERROR) return error(arg);
    if (action === LOSE) { BlockReq.free(r); fault(what); }
    if (action === RESEQ) { BlockReq.setSeq(r, arg); fault(what); }
    BlockReq.setStatus(r, me);
    if (action === CRASH_AFTER) fault(what);
    return ok(r);
  }

  function plain<T>(method: number, what: string, value: () => T): RpcResult<T> {
    const [action, arg] = next(method);
    if (action === CRASH || action === CRASH_AFTER || action === LOSE) fault(what);
    if (action === BAD) return bad();
    if (action === ERROR) return error(arg);
    return ok(value());
  }

  return {
    info: () => plain(METHOD.info, 'info', () => ({ blocks: 1000 + me, blockSize: 4096, depth: 32 })),
    read: (r) => one(r, METHOD.read, 'read'),
    write: (r) => one(r, METHOD.write, 'write'),
    flush: () => plain(METHOD.flush, 'flush', () => me),
    pending: () => plain(METHOD.pending, 'pending', () => kept.length),
    submitAndPoll: (batch: Batch) => {
      const [action, arg] = next(METHOD.submitAndPoll);
      if (action === CRASH) fault('submitAndPoll');
      if (action === BAD) return bad(BlockReq.alloc());
      if (action === ERROR) return error(arg);
      for (let r = DequeBlockReq32.pop(batch); r !== null; r = DequeBlockReq32.pop(batch)) kept.push(r);
      if (action === CRASH_AFTER) fault('submitAndPoll');
      if (action === RESEQ) {
        for (const r of kept) BlockReq.setSeq(r, arg);
        fault('submitAndPoll');
      }
      if (action === STRIP) {
        const blocks = kept.map((r) => BlockReq.takeData(r));
        fault(`submitAndPoll, holding ${blocks.length} blocks`);
      }
      if (action === LOSE) {
        for (let i = 0; i < arg && kept.length > 0; i++) BlockReq.free(kept.shift()!);
        fault('submitAndPoll');
      }
      const limit = action === HOLD ? arg : DequeBlockReq32.capacity;
      let out = batch;
      if (action === SWAP_DEQUE) {
        deques.push(batch);
        out = DequeBlockReq32.alloc();
      }
      while (kept.length > 0 && DequeBlockReq32.count(out) < limit) {
        const r = kept.shift()!;
        BlockReq.setStatus(r, me);
        DequeBlockReq32.push(out, r);
      }
      return ok(out);
    },
    wait: () => {
      const [action, arg] = next(METHOD.wait);
      if (action === CRASH) fault('wait');
      if (action === BAD) return bad() as unknown as Promise<RpcResult<number>>; // (not even a promise)
      if (action === CRASH_AFTER) return sys.timers.sleep(0).then(() => fault('wait, later'));
      if (action === ERROR) return Promise.resolve(error(arg));
      return Promise.resolve(ok(100 + kept.length));
    },
  };
}

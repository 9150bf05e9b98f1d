// The block-driver shadow (src/domains/shadows/bdev), call by call, in front of a driver whose every
// move a script decides (test/domains/fake-bdev): which call crashes, before or after taking its
// requests, which returns a bad value or an error, which keeps or frees requests, which start
// fails. What is checked is what a caller of the shadow sees: the answers, the requests that come
// back (their tag, the seq the shadow gave them, and the status: the number of the driver that
// completed them, 1 for the first), errors word for word, pending(), and how many drivers were
// started (the device's memory counts them).
import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { boot } from './helpers.ts';
import type { BDev, BlockBatch, BlockReq as BlockReqT } from '../src/idl/block.ts';
import type { RpcResult, RRef } from '../src/idl/lib/types.ts';
import type { Domain } from '../src/kernel/domain.ts';
import { BlockReq, Bytes4096, DequeBlockReq32, bindHeap } from '../src/idl/generated/structs.ts';

type Req = RRef<BlockReqT>;
type Batch = RRef<BlockBatch>;

const b = await boot(['src/domains/shadows/bdev', 'test/domains/fake-bdev']);
bindHeap(b.k.heapCap());
after(() => b.k.shutdown());
/** what a test started: killed after it (each shadow and driver holds a share of the heap) */
const started: { shadow: Domain; device: string }[] = [];
afterEach(() => {
  for (const { shadow, device: name } of started.splice(0)) {
    if (shadow.alive) b.k.kill(shadow, 'test over');
    const d = b.k.driverOf(name);
    if (d) b.k.kill(d, 'test over');
  }
});

// ---- the script (test/domains/fake-bdev/index.ts) --------------------------------------------

const M = { any: 0, info: 1, read: 2, write: 3, flush: 4, submitAndPoll: 5, pending: 6, wait: 7 } as const;
const CRASH = 1;
const CRASH_AFTER = 2;
const BAD = 3;
const ERROR = 4;
const HOLD = 5;
const LOSE = 6;
const RESEQ = 7;
const STRIP = 8;
const SWAP_DEQUE = 9;
/** ERROR's argument: the kind of the error the driver returns */
const KIND = { crashed: 0, dead: 1, revoked: 2, 'invalid-argument': 3, 'bad-return': 4, failed: 5 } as const;

/** [method, action, arg]: no action (0) is the driver's ordinary work */
type Step = readonly [method: number, action?: number, arg?: number];

interface Rig {
  readonly api: BDev;
  readonly domain: Domain;
  /** drivers started (or refused) so far */
  starts(): number;
  /** appends steps to the driver's script */
  script(...steps: Step[]): void;
  /** steps not taken yet */
  left(): number;
  /** the next n starts of the driver fail (-1: all of them; 0: none) */
  failStarts(n: number): void;
  /** crashes the driver between calls (Kernel.injectCrash) */
  crash(): void;
  /** exchange-heap objects the shadow owns */
  objects(): number;
}

let line = 40;
function device(): { name: string; w: Int32Array } {
  const name = `fake${line}`;
  const memory = new SharedArrayBuffer(4096);
  b.k.attachDevice(name, { memory, reset: () => true, onInterrupt: () => {} }, { irq: line++ });
  return { name, w: new Int32Array(memory) };
}

function createShadow(name: string, config: Record<string, unknown>): { domain: Domain; api: BDev } {
  const s = b.k.create<BDev>('bdev-shadow', {}, { privileged: true, devices: [name], budgetMs: 5000, config: config as never });
  started.push({ shadow: s.domain, device: name });
  return s;
}

function rig(config: Record<string, unknown> = {}): Rig {
  const { name, w } = device();
  const s = createShadow(name, { target: 'fake-bdev', device: name, driver: { device: name }, maxRetries: 3, ...config });
  return {
    api: s.api,
    domain: s.domain,
    starts: () => w[0],
    script(...steps) {
      for (const [method, action = 0, arg = 0] of steps) {
        const at = 16 + 3 * w[3]++;
        w[at] = method;
        w[at + 1] = action;
        w[at + 2] = arg;
      }
    },
    left: () => w[3] - w[2],
    failStarts: (n) => { w[1] = n; },
    crash: () => assert.equal(b.k.injectCrash(name), true),
    objects: () => b.k.heap.stats().perOwner.get(s.domain.id)?.objects ?? 0,
  };
}

// ---- requests --------------------------------------------------------------------------------

function req(tag: number, block = false): Req {
  const r = BlockReq.alloc();
  BlockReq.setTag(r, tag);
  BlockReq.setOp(r, 2);
  if (block) BlockReq.putData(r, Bytes4096.alloc());
  return r;
}

function batch(...tags: number[]): Batch {
  const d = DequeBlockReq32.alloc();
  for (const t of tags) assert.equal(DequeBlockReq32.push(d, req(t)), true, 'a deque holds 32');
  return d;
}

function range(from: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

/** A request as the caller sees it: `tag:seq@status` (the status is the number of the driver
 *  that completed it); freed. */
function seen(r: Req): string {
  const s = `${BlockReq.tag(r)}:${BlockReq.seq(r)}@${BlockReq.status(r)}`;
  BlockReq.free(r);
  return s;
}

/** What a submitAndPoll answered: its requests, oldest first (each freed, with the deque). */
function got(res: RpcResult<Batch>): string[] {
  if (!res.ok) assert.fail(`submitAndPoll failed: ${res.error.kind}: ${res.error.message}`);
  const out: string[] = [];
  for (let r = DequeBlockReq32.pop(res.value); r !== null; r = DequeBlockReq32.pop(res.value)) out.push(seen(r));
  DequeBlockReq32.free(res.value);
  return out;
}

function one(res: RpcResult<Req>): string {
  if (!res.ok) assert.fail(`the call failed: ${res.error.kind}: ${res.error.message}`);
  return seen(res.value);
}

const poll = (s: Rig): string[] => got(s.api.submitAndPoll(DequeBlockReq32.alloc()));
const pending = (s: Rig): number => {
  const p = s.api.pending();
  if (!p.ok) assert.fail(`pending failed: ${p.error.message}`);
  return p.value;
};
const failed = (res: RpcResult<unknown>): unknown => (res.ok ? 'ok' : { ...res.error });
const shadowError = (message: string): unknown => ({ kind: 'failed', domain: 'bdev-shadow', message });
const crashed = (method: string, start: number, where = method): unknown => ({
  kind: 'crashed', domain: 'fake-bdev', message: `BDev.${method}: domain fake-bdev crashed: Error: fake-bdev ${start}: scripted crash in ${where}`,
});
const refused = (start: number): string =>
  `bdev-shadow: cannot start fake-bdev: domain fake-bdev failed to start: Error: fake-bdev: start ${start} refused by the script`;

// ---- a driver that does not crash -------------------------------------------------------------

test('a driver that does not crash: each call is passed on and answered as the driver answered; each request gets the next seq', async () => {
  const s = rig();
  assert.deepEqual(s.api.info(), { ok: true, value: { blocks: 1001, blockSize: 4096, depth: 32 } });
  assert.deepEqual(s.api.flush(), { ok: true, value: 1 });
  assert.equal(one(s.api.write(req(7))), '7:1@1');
  assert.equal(one(s.api.read(req(8))), '8:2@1');
  assert.equal(pending(s), 0);
  s.script([M.submitAndPoll, HOLD, 1]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(10, 11, 12))), ['10:3@1'], 'what the driver completed');
  assert.equal(pending(s), 2, 'the two the driver keeps');
  assert.deepEqual(await s.api.wait(), { ok: true, value: 102 }, 'the driver\'s own answer');
  assert.deepEqual(got(s.api.submitAndPoll(batch(13))), ['11:4@1', '12:5@1', '13:6@1']);
  assert.equal(pending(s), 0);
  assert.deepEqual(await s.api.wait(), { ok: true, value: 100 });
  assert.deepEqual(poll(s), []);
  assert.equal(s.starts(), 1);
  assert.equal(s.objects(), 0, 'the shadow keeps nothing');
});

// ---- submitAndPoll and crashes ---------------------------------------------------------------

test('submitAndPoll on a driver that crashes before taking the batch, after taking it, or by a bad return: the batch is done by a new driver, in the same call', () => {
  const s = rig();
  s.script([M.submitAndPoll, CRASH]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(1, 2, 3))), ['1:1@2', '2:2@2', '3:3@2']);
  assert.equal(s.starts(), 2);
  s.script([M.submitAndPoll, CRASH_AFTER]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(4, 5))), ['4:4@3', '5:5@3']);
  s.script([M.submitAndPoll, BAD]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(6))), ['6:6@4'], 'a bad return crashed the driver: recovered');
  assert.equal(s.starts(), 4);
  assert.equal(pending(s), 0);
  assert.deepEqual(poll(s), []);
  assert.equal(s.left(), 0);
});

test('the requests a crashed driver held are re-submitted with the crashing batch, in submission order (seq), across a second crash during the re-submission', () => {
  const s = rig();
  s.script([M.submitAndPoll, HOLD, 0], [M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(6, 5))), []);
  assert.deepEqual(got(s.api.submitAndPoll(batch(4, 3))), []);
  assert.equal(pending(s), 4);
  // The first driver takes 2 and 1 and crashes; the second takes the six and crashes too.
  s.script([M.submitAndPoll, CRASH_AFTER], [M.submitAndPoll, CRASH_AFTER]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(2, 1))), ['6:1@3', '5:2@3', '4:3@3', '3:4@3', '2:5@3', '1:6@3']);
  assert.equal(s.starts(), 3);
  assert.equal(pending(s), 0);
  // Over a deque's worth: the second driver crashes on the second deque of the re-submission.
  s.script([M.submitAndPoll, HOLD, 0], [M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(...range(100, 30)))), []);
  assert.deepEqual(got(s.api.submitAndPoll(batch(...range(130, 5)))), []);
  s.script([M.submitAndPoll, CRASH_AFTER], [M.submitAndPoll], [M.submitAndPoll, CRASH_AFTER]);
  const first = got(s.api.submitAndPoll(batch(135, 136)));
  const done = (tag: number, by: number): string => `${tag}:${tag - 93}@${by}`;
  assert.deepEqual(first, range(100, 32).map((t) => done(t, 4)), 'the first deque, done by driver 4, answers the call');
  assert.equal(pending(s), 5);
  assert.deepEqual(poll(s), range(132, 5).map((t) => done(t, 5)), 'the rest, done by driver 5');
  assert.equal(s.starts(), 5);
  assert.equal(pending(s), 0);
});

test('submitAndPoll on a driver that died between calls: the batch did not reach it; what the dead one held comes back first', () => {
  const s = rig();
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(1, 2))), []);
  s.crash();
  // The new driver completes the re-submitted two, then keeps the batch.
  s.script([M.submitAndPoll], [M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(3))), ['1:1@2', '2:2@2']);
  assert.equal(pending(s), 1, 'the batch is in the new driver');
  assert.deepEqual(poll(s), ['3:3@2']);
  assert.equal(pending(s), 0);
  s.crash();
  assert.deepEqual(got(s.api.submitAndPoll(batch(4))), ['4:4@3']);
  assert.equal(s.starts(), 3);
});

test('ready completions: as many as a deque holds (32) come with a call, the rest with the next; pending() counts them with those in the driver, and wait() answers with them at once', async () => {
  const s = rig();
  s.script([M.submitAndPoll, HOLD, 0], [M.submitAndPoll, HOLD, 0], [M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(...range(1, 32)))), []);
  assert.deepEqual(got(s.api.submitAndPoll(batch(...range(33, 32)))), []);
  assert.deepEqual(got(s.api.submitAndPoll(batch(...range(65, 8)))), []);
  assert.equal(pending(s), 72);
  s.crash();
  assert.deepEqual(poll(s), range(1, 32).map((t) => `${t}:${t}@2`));
  assert.equal(pending(s), 40);
  assert.deepEqual(await s.api.wait(), { ok: true, value: 40 }, 'the shadow\'s answer: 40 ready');
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(73))), range(33, 32).map((t) => `${t}:${t}@2`));
  assert.equal(pending(s), 8 + 1, '8 ready, 1 in the driver');
  assert.deepEqual(await s.api.wait(), { ok: true, value: 8 });
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(poll(s), range(65, 8).map((t) => `${t}:${t}@2`));
  assert.equal(pending(s), 1);
  assert.deepEqual(await s.api.wait(), { ok: true, value: 101 }, 'nothing ready: the driver\'s answer');
  assert.deepEqual(poll(s), ['73:73@2']);
  assert.equal(pending(s), 0);
  assert.equal(s.left(), 0);
});

test('submitAndPoll on a driver that keeps crashing after the re-submission: maxRetries recoveries, then the driver\'s error; what was done is kept for the next call', () => {
  const s = rig({ maxRetries: 2 });
  // 1: crashes holding the batch; 2: completes it (ready), then crashes on the poll; 3: crashes on the poll.
  s.script([M.submitAndPoll, CRASH], [M.submitAndPoll], [M.submitAndPoll, CRASH], [M.submitAndPoll, CRASH]);
  assert.deepEqual(failed(s.api.submitAndPoll(batch(1))), crashed('submitAndPoll', 3));
  assert.equal(s.starts(), 3);
  assert.equal(pending(s), 1);
  assert.deepEqual(poll(s), ['1:1@2']);
  assert.equal(s.starts(), 4);
});

test('a request the shadow did not number (seq 0) that comes back from a crash is re-submitted like the others', () => {
  const s = rig();
  s.script([M.submitAndPoll, RESEQ, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(1, 2))), ['1:0@2', '2:0@2']);
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(3))), []);
  s.script([M.write, RESEQ, 0]);
  assert.deepEqual(failed(s.api.write(req(4))), shadowError('the request was lost with the driver'));
  assert.equal(pending(s), 2);
  assert.deepEqual(poll(s), ['4:0@3', '3:3@3'], 'ordered by seq');
});

// ---- read and write -------------------------------------------------------------------------

test('read and write on a driver that crashes: the call is done again by a new driver and returns its own request; what the driver held is ready for the next poll', async () => {
  const s = rig();
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(1, 2))), []);
  s.script([M.write, CRASH]);
  assert.equal(one(s.api.write(req(3))), '3:3@2');
  assert.equal(pending(s), 2);
  assert.deepEqual(await s.api.wait(), { ok: true, value: 2 }, 'ready: answered by the shadow');
  assert.deepEqual(poll(s), ['1:1@2', '2:2@2']);
  s.script([M.read, CRASH_AFTER]);
  assert.equal(one(s.api.read(req(4))), '4:4@3');
  s.script([M.read, BAD]);
  assert.equal(one(s.api.read(req(5))), '5:5@4');
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(6))), []);
  s.crash();
  assert.equal(one(s.api.write(req(7))), '7:7@5', 'a driver dead before the call');
  assert.equal(pending(s), 1);
  assert.deepEqual(poll(s), ['6:6@5']);
  s.script([M.write, CRASH], [M.write, CRASH], [M.write, CRASH]);
  assert.equal(one(s.api.write(req(8))), '8:8@8', 'three crashes on one request: maxRetries (3) recoveries');
  assert.equal(s.starts(), 8);
  assert.equal(pending(s), 0);
  assert.equal(s.objects(), 1, 'the deque of the re-submission, kept as a spare');
});

test('read and write on a driver that crashes on every attempt: "the driver crashed N times on one request" after maxRetries + 1 attempts', () => {
  const s = rig({ maxRetries: 2 });
  s.script([M.write, CRASH], [M.write, CRASH], [M.write, CRASH]);
  assert.deepEqual(failed(s.api.write(req(1))), shadowError('the driver crashed 3 times on one request'));
  assert.equal(s.starts(), 4, 'a new driver after each crash');
  s.script([M.read, CRASH], [M.read, CRASH]);
  assert.equal(one(s.api.read(req(2))), '2:2@6', 'two crashes: done by the third driver');
  assert.equal(s.starts(), 6);
  assert.equal(pending(s), 0);
});

test('read and write: a request the driver freed or renumbered is reported lost', () => {
  const s = rig();
  s.script([M.write, LOSE]);
  assert.deepEqual(failed(s.api.write(req(1))), shadowError('1 requests were lost with the driver'));
  assert.equal(s.starts(), 2);
  const u = rig();
  u.script([M.write, LOSE]);
  u.failStarts(-1);
  assert.deepEqual(failed(u.api.write(req(1))), shadowError(refused(4)), 'no new driver: that is the error');
  const t = rig();
  t.script([M.read, RESEQ, 77]);
  assert.deepEqual(failed(t.api.read(req(2))), shadowError('the request was lost with the driver'));
  assert.equal(pending(t), 1, 'it came back as someone else\'s');
  assert.deepEqual(poll(t), ['2:77@2']);
});

// ---- info, flush, wait -----------------------------------------------------------------------

test('info and flush: retried on a new driver; after maxRetries recoveries the driver\'s error is returned; a dead driver is replaced', () => {
  const s = rig({ maxRetries: 2 });
  s.script([M.info, CRASH]);
  assert.deepEqual(s.api.info(), { ok: true, value: { blocks: 1002, blockSize: 4096, depth: 32 } });
  s.script([M.flush, BAD]);
  assert.deepEqual(s.api.flush(), { ok: true, value: 3 });
  s.script([M.info, CRASH], [M.info, CRASH], [M.info, CRASH]);
  assert.deepEqual(failed(s.api.info()), crashed('info', 5));
  assert.equal(s.starts(), 5);
  assert.deepEqual(s.api.flush(), { ok: true, value: 6 }, 'the last driver was dead: replaced');
  s.crash();
  assert.deepEqual(s.api.info(), { ok: true, value: { blocks: 1007, blockSize: 4096, depth: 32 } });
  s.script([M.flush, CRASH_AFTER], [M.flush, CRASH]);
  assert.deepEqual(s.api.flush(), { ok: true, value: 9 });
  assert.equal(s.starts(), 9);
});

test('maxRetries is 8 unless configured', () => {
  const s = rig({ maxRetries: 'many' });
  s.script(...Array.from({ length: 9 }, () => [M.info, CRASH] as const));
  assert.deepEqual(failed(s.api.info()), crashed('info', 9));
  assert.equal(s.starts(), 9);
});

test('wait: answered by the driver; a crash inside it (or a dead driver) is recovered, and it answers with what is ready', async () => {
  const s = rig();
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(1, 2))), []);
  assert.deepEqual(await s.api.wait(), { ok: true, value: 102 });
  s.script([M.wait, CRASH_AFTER]);
  assert.deepEqual(await s.api.wait(), { ok: true, value: 2 }, 'the two held are ready');
  assert.equal(s.starts(), 2);
  assert.equal(pending(s), 2);
  assert.deepEqual(poll(s), ['1:1@2', '2:2@2']);
  s.script([M.wait, CRASH]);
  assert.deepEqual(await s.api.wait(), { ok: true, value: 0 });
  s.script([M.wait, BAD]);
  assert.deepEqual(await s.api.wait(), { ok: true, value: 0 });
  s.crash();
  assert.deepEqual(await s.api.wait(), { ok: true, value: 0 });
  assert.equal(s.starts(), 5);
  assert.deepEqual(await s.api.wait(), { ok: true, value: 100 });
  s.failStarts(-1);
  s.script([M.wait, CRASH]);
  assert.deepEqual(failed(await s.api.wait()), shadowError(refused(8)));
});

// ---- errors that are not crashes ---------------------------------------------------------------

test('errors that are not crashes are returned as the driver gave them, with no new driver', async () => {
  const s = rig();
  const theirs = (kind: keyof typeof KIND): unknown => ({ kind, domain: 'fake-bdev', message: `scripted ${kind}` });
  s.script([M.info, ERROR, KIND.failed]);
  assert.deepEqual(failed(s.api.info()), theirs('failed'));
  s.script([M.flush, ERROR, KIND.revoked]);
  assert.deepEqual(failed(s.api.flush()), theirs('revoked'));
  s.script([M.read, ERROR, KIND['invalid-argument']]);
  assert.deepEqual(failed(s.api.read(req(1))), theirs('invalid-argument'));
  s.script([M.write, ERROR, KIND.failed]);
  assert.deepEqual(failed(s.api.write(req(2))), theirs('failed'));
  s.script([M.submitAndPoll, ERROR, KIND.revoked]);
  assert.deepEqual(failed(s.api.submitAndPoll(batch(3))), theirs('revoked'));
  s.script([M.wait, ERROR, KIND.failed]);
  assert.deepEqual(failed(await s.api.wait()), theirs('failed'));
  assert.equal(s.starts(), 1);
  assert.equal(pending(s), 0);
  assert.equal(s.left(), 0);
});

test('a batch the driver kept in a call it failed comes back after its crash, done again; it does not make up for a request lost later', () => {
  const s = rig();
  s.script([M.submitAndPoll, ERROR, KIND.failed]);
  assert.deepEqual(failed(s.api.submitAndPoll(batch(1))), { kind: 'failed', domain: 'fake-bdev', message: 'scripted failed' });
  assert.equal(pending(s), 0, 'the shadow counts the batch as not handed over');
  s.script([M.submitAndPoll, CRASH]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(2))), ['1:1@2', '2:2@2']);
  s.script([M.write, LOSE]);
  assert.deepEqual(failed(s.api.write(req(3))), shadowError('1 requests were lost with the driver'));
});

test('an error that is not a crash during a recovery ends it: returned as it is', () => {
  const s = rig();
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(1))), []);
  s.script([M.submitAndPoll, CRASH], [M.submitAndPoll, ERROR, KIND.failed]);
  assert.deepEqual(failed(s.api.submitAndPoll(batch(2))), { kind: 'failed', domain: 'fake-bdev', message: 'scripted failed' });
  assert.equal(s.starts(), 2);
});

// ---- lost requests, and drivers that cannot start -------------------------------------------

test('submitAndPoll: requests the driver freed before it crashed are reported lost; the others are still done', () => {
  const s = rig();
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(1, 2, 3))), []);
  s.script([M.submitAndPoll, LOSE, 2]);
  assert.deepEqual(failed(s.api.submitAndPoll(batch(4))), shadowError('2 requests were lost with the driver'));
  assert.equal(pending(s), 2);
  assert.deepEqual(poll(s), ['3:3@2', '4:4@2']);
  assert.equal(s.starts(), 2);
});

test('a driver that cannot be started: the error says why, after maxRetries attempts; the next call starts one', () => {
  const s = rig();
  s.failStarts(-1);
  s.crash();
  assert.deepEqual(failed(s.api.info()), shadowError(refused(4)));
  assert.equal(s.starts(), 4, 'maxRetries (3) attempts');
  s.failStarts(1);
  assert.deepEqual(s.api.info(), { ok: true, value: { blocks: 1006, blockSize: 4096, depth: 32 } }, 'start 5 refused, 6 started');
  s.failStarts(2);
  s.script([M.write, CRASH]);
  assert.equal(one(s.api.write(req(1))), '1:1@9');
});

test('a shadow whose first driver cannot start does not start', () => {
  const { name, w } = device();
  w[1] = 1;
  assert.throws(() => createShadow(name, { target: 'fake-bdev', device: name, driver: { device: name } }),
    { message: `domain bdev-shadow failed to start: Error: ${refused(1)}` });
});

// ---- spares --------------------------------------------------------------------------------

test('spare deques: at most 4 are kept, and used before new ones; blocks that come back out of their requests are freed', () => {
  const s = rig();
  // The driver keeps six of the shadow's deques (answering in its own), then dies.
  for (let k = 1; k <= 6; k++) {
    s.script([M.submitAndPoll, SWAP_DEQUE]);
    assert.deepEqual(got(s.api.submitAndPoll(batch(k))), [`${k}:${k}@1`]);
  }
  assert.equal(s.objects(), 0);
  s.crash();
  assert.deepEqual(poll(s), []);
  assert.equal(s.objects(), 4, 'four of the six came back as spares');
  // A re-submission of 40 requests takes a spare (and gives it back) for each deque it hands on.
  s.script([M.submitAndPoll, HOLD, 0], [M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(...range(7, 32)))), []);
  assert.deepEqual(got(s.api.submitAndPoll(batch(...range(39, 8)))), []);
  s.crash();
  assert.equal(poll(s).length, 32);
  assert.equal(s.objects(), 8 + 4, '8 requests ready, 4 spares');
  assert.deepEqual(poll(s), range(39, 8).map((t) => `${t}:${t}@3`));
  assert.equal(s.objects(), 4);
  // A crash holding a batch: the batch comes back as a 5th spare (freed); the re-submission takes
  // one and gives it back; the poll after it takes one, to answer the call.
  s.script([M.submitAndPoll, CRASH]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(47))), ['47:47@4']);
  assert.equal(s.objects(), 3);
  // A crash holding a block taken out of its request: the block is freed, the request done again.
  s.script([M.submitAndPoll, HOLD, 0]);
  const d = DequeBlockReq32.alloc();
  DequeBlockReq32.push(d, req(48, true));
  assert.deepEqual(got(s.api.submitAndPoll(d)), []);
  s.script([M.submitAndPoll, STRIP]);
  const back = s.api.submitAndPoll(DequeBlockReq32.alloc());
  if (!back.ok) assert.fail(back.error.message);
  const r = DequeBlockReq32.pop(back.value)!;
  assert.equal(BlockReq.takeData(r), null, 'the block stayed with the driver');
  assert.deepEqual([seen(r), DequeBlockReq32.count(back.value)], ['48:48@5', 0]);
  DequeBlockReq32.free(back.value);
  assert.equal(s.objects(), 3, 'the caller\'s deque came back as a spare and a spare answered the call');
});

// ---- configuration -----------------------------------------------------------------------------

test('configuration: the driver\'s config is passed on (default { device }); target nvme and device nvme0 by default; the domains capability is needed', () => {
  const { name } = device();
  const s = createShadow(name, { target: 'fake-bdev', device: name });
  assert.deepEqual(s.api.flush(), { ok: true, value: 1 }, 'the driver opened the device: it was its config');
  const other = device();
  assert.throws(() => createShadow(other.name, { target: 'fake-bdev', device: other.name, driver: { device: 'fake-none' } }),
    { message: 'domain bdev-shadow failed to start: Error: bdev-shadow: cannot start fake-bdev: domain fake-bdev failed to start: Error: devices: "fake-none" is not a device domain fake-bdev was granted' });
  const start = (config: unknown, privileged = true): string => {
    try {
      b.k.create<BDev>('bdev-shadow', {}, { privileged, devices: [], config: config as never });
      return 'started';
    } catch (e) {
      return (e as Error).message;
    }
  };
  const nvme = 'domain bdev-shadow failed to start: Error: bdev-shadow: cannot start nvme: cannot grant device nvme0: domain bdev-shadow does not hold it';
  assert.equal(start(null), nvme);
  assert.equal(start({}), nvme);
  assert.equal(start(['x']), nvme);
  assert.equal(start({ target: 7, device: 7 }), nvme);
  assert.equal(start({ target: 'fake-bdev', device: 'fake-none' }),
    'domain bdev-shadow failed to start: Error: bdev-shadow: cannot start fake-bdev: cannot grant device fake-none: domain bdev-shadow does not hold it');
  assert.equal(start({}, false), 'domain bdev-shadow failed to start: Error: bdev-shadow: needs the privileged domains capability');
});

// ---- found by these tests (each failed before its fix) ----------------------------------------

test('completions of re-submitted requests come before the driver\'s own (BDev: oldest first)', () => {
  const s = rig();
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(1, 2))), []);
  s.crash();
  // The new driver completes the two re-submitted, then the new batch, at once.
  assert.deepEqual(got(s.api.submitAndPoll(batch(3))), ['1:1@2', '2:2@2', '3:3@2']);
});

test('a loss is reported once: a later recovery that loses nothing succeeds, and a read or write in it gets its request back', () => {
  const s = rig();
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(1, 2, 3))), []);
  s.script([M.submitAndPoll, LOSE, 2]);
  assert.deepEqual(failed(s.api.submitAndPoll(batch(4))), shadowError('2 requests were lost with the driver'));
  assert.deepEqual(poll(s), ['3:3@2', '4:4@2']);
  // A later crash that loses nothing.
  s.script([M.write, CRASH]);
  assert.equal(one(s.api.write(req(5))), '5:5@3');
});

test('requests salvaged in a recovery that failed (no driver could start) stay pending, and are done by the next driver', () => {
  const s = rig();
  s.script([M.submitAndPoll, HOLD, 0]);
  assert.deepEqual(got(s.api.submitAndPoll(batch(1, 2))), []);
  s.failStarts(-1);
  s.crash();
  assert.deepEqual(failed(s.api.info()), shadowError(refused(4)));
  s.failStarts(0);
  assert.equal(pending(s), 2, 'the two requests are still the shadow\'s to complete');
  assert.deepEqual(poll(s), ['1:1@5', '2:2@5']);
});

test('a read or write that fails with "the driver crashed N times on one request" leaves nothing of the caller\'s in the shadow', () => {
  const s = rig({ maxRetries: 1 });
  s.script([M.write, CRASH], [M.write, CRASH]);
  assert.deepEqual(failed(s.api.write(req(1))), shadowError('the driver crashed 2 times on one request'));
  assert.equal(s.objects(), 0, 'the shadow keeps nothing of the caller\'s');
});

test('a read or write whose recovery fails after its request came back (no driver can start) leaves nothing of the caller\'s in the shadow', () => {
  const s = rig({ maxRetries: 2 });
  s.script([M.write, CRASH_AFTER]);
  s.failStarts(-1);
  assert.deepEqual(failed(s.api.write(req(1))), shadowError(refused(3)));
  assert.equal(s.objects(), 0, 'the shadow keeps nothing of the caller\'s');
  s.failStarts(0);
});

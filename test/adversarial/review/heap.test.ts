// Review of the exchange heap's new parts, at the heap's own interface: salvage (what comes back
// to whom when a domain dies), DMA pins against every other operation and every order of clean-up,
// and page buffers as children. Domain ids are plain numbers here (S: a salvaging sender, T: the
// domain that crashes, W: a third domain).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExchangeHeap, HeapViolation } from '../../../src/kernel/heap.ts';
import { TYPES } from '../../../src/idl/generated/types.ts';

const id = (name: string): number => TYPES.find((t) => t.name === name)!.id;
const REQ = id('BlockReq');
const PAGE = id('Bytes<4096>');
const PACKET = id('Packet');
const REQS = id('RRefDeque<BlockReq, 32>');
const S = 1;
const T = 2;
const W = 3;

function heap(): ExchangeHeap {
  const h = new ExchangeHeap(1 << 23, TYPES);
  h.onViolation = () => {};
  return h;
}

/** A BlockReq with its page, owned by `dom`, tagged. */
function request(h: ExchangeHeap, dom: number, tag: number): number {
  const r = h.allocate(dom, REQ);
  h.setU32(dom, r, 8, tag);
  h.put(dom, r, 0, h.allocate(dom, PAGE));
  return r;
}

/** Every object (roots and children) a domain owns: [tag of each request, ...] for requests, by walking its handles. */
function tagsOf(h: ExchangeHeap, dom: number, handles: number[]): number[] {
  const out: number[] = [];
  for (const x of handles) {
    const t = h.typeOf(dom, x);
    if (t === REQ) out.push(h.u32(dom, x, 8));
    else if (t === REQS) {
      for (let r = h.pop(dom, x); r !== null; r = h.pop(dom, x)) out.push(h.u32(dom, r, 8));
    }
  }
  return out.sort((a, b) => a - b);
}

// ---- salvage: only what the salvaging domain sent comes back to it ----------------------------
// (The heap's rule is conservative: a container T put anything of its own, or of a third domain,
// into is MIXED and is freed with what is in it, never salvaged; so S may get back less than it
// sent from a malicious T, but never anything it did not send.)

test('salvage: a root the crashed domain allocated itself is not "salvaged" to S after passing through S\'s deque (laundering by push + pop)', () => {
  const h = heap();
  const batch = h.allocate(S, REQS);
  h.push(S, batch, request(h, S, 1));
  const inT = h.move(S, batch, T); // S hands its batch (one request) to T
  // T, the crashing domain, launders requests of its own making through S's deque.
  const laundered: number[] = [];
  const own = request(h, T, 0xbad);
  h.push(T, inT, own);
  const s1 = h.pop(T, inT)!; // S's own request: came from S
  const s2 = h.pop(T, inT)!; // T's request: now looks as if it came from S
  laundered.push(s2);
  void s1;
  for (let i = 0; i < 5; i++) { h.push(T, inT, request(h, T, 0xbad)); laundered.push(h.pop(T, inT)!); }
  const sOwnedBefore = h.stats().perOwner.get(S)?.objects ?? 0;
  h.reclaim(T, (from) => from === S);
  const back = h.salvaged(S);
  assert.deepEqual(h.audit(), []);
  const tags = tagsOf(h, S, back);
  assert.ok(tags.every((t) => t === 1), `S sent one request and got back requests tagged ${tags.map((t) => t.toString(16))}: T's own allocations came with it`);
  assert.ok((h.stats().perOwner.get(S)?.objects ?? 0) - sOwnedBefore <= 3, 'S owns no more than the 3 objects it sent (deque, request, page)');
});

test('salvage: objects the crashed domain put inside S\'s container do not go to S', () => {
  const h = heap();
  const batch = h.allocate(S, REQS);
  h.push(S, batch, request(h, S, 1));
  const inT = h.move(S, batch, T);
  h.push(T, inT, request(h, T, 0xbad)); // T's own request, left inside S's deque
  h.reclaim(T, (from) => from === S);
  const back = h.salvaged(S);
  assert.deepEqual(h.audit(), []);
  assert.ok(tagsOf(h, S, back).every((t) => t === 1), 'S gets back only what it sent, not T\'s request inside it');
});

test('salvage: a request W (also salvaging) sent to T, which T put in S\'s deque, goes back to W, not to S', () => {
  const h = heap();
  const wReq = h.move(W, request(h, W, 0x77), T); // W's request, in T (a driver shared by W and S)
  const batch = h.move(S, h.allocate(S, REQS), T); // S's (empty) batch, in T
  h.push(T, batch, wReq); // T answers S's poll with W's completed request, and crashes
  h.reclaim(T, (from) => from === S || from === W);
  const toS = tagsOf(h, S, h.salvaged(S));
  const toW = tagsOf(h, W, h.salvaged(W));
  assert.deepEqual(h.audit(), []);
  assert.deepEqual(toS, [], 'W\'s request went to S');
  assert.ok(toW.every((t) => t === 0x77), 'W gets back nothing but its own');
});

// ---- salvage: what held ------------------------------------------------------------------------

test('salvage goes only to a live sender that asked; charges stay exact; receiving costs the receiver no quota', () => {
  const h = heap();
  h.setQuota(S, 1 << 20);
  // Objects S sent to T; objects W (not salvaging) sent to T; T's own; a borrow T holds; a root T lent.
  const fromS = [h.move(S, request(h, S, 1), T), h.move(S, request(h, S, 2), T)];
  const fromW = h.move(W, request(h, W, 3), T);
  const own = request(h, T, 4);
  const lentByS = request(h, S, 5);
  const b = h.borrow(S, lentByS, T);
  const tLends = h.move(S, request(h, S, 6), T);
  const bt = h.borrow(T, tLends, W); // T lends what S sent: it is LENT when T dies
  void fromS; void fromW; void own; void b;
  const r = h.reclaim(T, (from) => from === S);
  assert.equal(r.salvaged, 2);
  assert.equal(r.deferred, 1, 'the lent root waits for its borrow');
  assert.deepEqual(tagsOf(h, S, h.salvaged(S)), [1, 2]);
  assert.deepEqual(h.salvaged(W), [], 'W did not ask: what it sent is freed');
  assert.deepEqual(h.audit(), []);
  h.unborrow(bt); // the orphan goes with its last borrow (not salvaged)
  assert.deepEqual(h.audit(), []);
  // S can still fill its whole quota: what came back is not charged to its pool.
  const mine: number[] = [];
  for (;;) { try { mine.push(h.allocate(S, PACKET)); } catch { break; } }
  assert.ok(mine.length >= 6000, `S allocated ${mine.length} packets in its 1 MiB`);
  assert.deepEqual(h.audit(), []);
});

test('salvage never moves anything to the crashed domain itself, to a dead sender, or to the kernel (from 0)', () => {
  const h = heap();
  const x = h.move(0, h.allocate(0, REQ), T);
  const y = h.move(S, h.allocate(S, REQ), T);
  void x; void y;
  const r = h.reclaim(T, (from) => from === 0 || from === T); // S is not asking (dead)
  assert.equal(r.salvaged, 0);
  assert.deepEqual(h.stats().perOwner.get(T), undefined);
  assert.deepEqual(h.audit(), []);
});

// ---- pins ---------------------------------------------------------------------------------------

test('a pinned root (its child mapped, or a deque\'s child) refuses take, put, pop, push, free, move, write, fill, copy-into and lending; reads work', () => {
  const h = heap();
  let violations = 0;
  h.onViolation = () => { violations++; };
  const r = request(h, T, 9);
  const [s, hd, off, len] = h.pin(T, r, 0);
  assert.equal(len, 4096);
  assert.equal(off % 4096, 0, 'the page is mapped page-aligned');
  const d = h.allocate(T, REQS);
  const tries: [string, () => unknown][] = [
    ['take', () => h.take(T, r, 0)],
    ['put', () => h.put(T, r, 0, null)],
    ['push', () => h.push(T, d, r)],
    ['free', () => h.free(T, r)],
    ['move', () => h.move(T, r, S)],
    ['moveAs', () => h.moveAs(T, r, REQ, S)],
    ['setU32', () => h.setU32(T, r, 0, 1)],
    ['fill', () => h.fill(T, r, 0, 1, 4)],
    ['write', () => h.write(T, r, 0, new Uint8Array(4), 0, 4)],
    ['copy', () => h.copy(T, r, 0, d, 0, 0)],
  ];
  const dq = h.allocate(T, REQS);
  h.push(T, dq, request(h, T, 10));
  const [ds, dh, , dlen] = h.pin(T, dq, 0); // the request inside the deque, mapped through the deque
  assert.equal(dlen, 16);
  tries.push(['pop', () => h.pop(T, dq)], ['take from deque', () => h.take(T, dq, 0)]);
  for (const [what, f] of tries) assert.throws(f, HeapViolation, what);
  assert.equal(violations, tries.length);
  assert.equal(h.u32(T, r, 8), 9);
  assert.throws(() => h.borrow(T, r, S), /cannot be lent until it is unmapped/, 'a device may be writing it');
  assert.equal(h.unpin(ds, dh), true);
  assert.notEqual(h.pop(T, dq), null);
  assert.equal(h.unpin(s, hd), true);
  assert.equal(h.unpin(s, hd), false, 'no second unpin');
  h.free(T, r);
  h.free(T, d);
  h.reclaim(T);
  assert.deepEqual(h.audit(), []);
  assert.equal(h.stats().objects, 0);
});

test('a root is never pinned and lent at once (a device could change what a borrower reads); a pinned root of a dead domain is freed exactly once, whatever the order of unpin and reclaim', () => {
  const lentFirst = heap();
  const q = request(lentFirst, T, 2);
  const b = lentFirst.borrow(T, q, S);
  assert.throws(() => lentFirst.pin(T, q, 0), HeapViolation, 'a lent root cannot be pinned');
  lentFirst.unborrow(b);
  for (const order of [['reclaim', 'unpin'], ['unpin', 'reclaim']]) {
    for (const twice of [false, true]) {
      const h = heap();
      const r = request(h, T, 1);
      const pins = [h.pin(T, r, 0), ...(twice ? [h.pin(T, r, -1)] : [])];
      assert.throws(() => h.borrow(T, r, S), HeapViolation);
      for (const step of order) {
        if (step === 'reclaim') h.reclaim(T, () => true);
        else for (const [s, hd] of pins) assert.equal(h.unpin(s, hd), true);
        assert.deepEqual(h.audit(), [], `${order.join(' ')} (${twice ? 'two pins' : 'one pin'}) after ${step}`);
      }
      assert.equal(h.stats().objects, 0, `${order.join(' ')}: objects left`);
    }
  }
});

test('page buffers as children: moved, taken, put, freed, reclaimed and salvaged, the heap audits clean and the arena comes back whole', () => {
  const h = heap();
  const free0 = h.stats().largestFree;
  for (let round = 0; round < 50; round++) {
    const a = request(h, S, round);
    const inT = h.move(S, a, T);
    const page = h.take(T, inT, 0)!;
    h.setU8(T, page, 4095, 7);
    const other = h.allocate(T, PAGE);
    assert.equal(h.put(T, inT, 0, other), null);
    const back = h.move(T, inT, S);
    const [s, hd] = h.pin(S, back, 0);
    assert.deepEqual(h.audit(), []);
    h.unpin(s, hd);
    const again = h.move(S, back, T);
    void again;
    if (round % 3 === 0) h.reclaim(T, (from) => from === S);
    else if (round % 3 === 1) h.reclaim(T);
    else { h.free(T, page); h.free(T, again); }
    for (const x of h.salvaged(S)) h.free(S, x);
    assert.deepEqual(h.audit(), [], `round ${round}`);
  }
  assert.equal(h.stats().objects, 0);
  assert.equal(h.stats().largestFree, free0, 'freeing everything coalesces back');
});

// ---- lazy charges ---------------------------------------------------------------------------------

test('charges stay exact however many distinct roots are moved in a row (the 4096th move must not be lost by the settle its own defer triggers)', () => {
  const found: Record<string, string[]> = {};
  for (const how of ['moveAs', 'move', 'salvage'] as const) {
    const h = heap();
    const hs: number[] = [];
    for (let i = 0; i < 4200; i++) hs.push(h.allocate(S, PACKET));
    if (how === 'salvage') {
      for (const x of hs) h.moveAs(S, x, PACKET, T);
      h.stats(); // (settles them all, so the reclaim's moves are the only ones pending)
      h.reclaim(T, (from) => from === S);
      h.salvaged(S);
    } else {
      for (const x of hs) {
        if (how === 'moveAs') h.moveAs(S, x, PACKET, T);
        else h.move(S, x, T);
      }
    }
    found[how] = h.audit();
  }
  assert.deepEqual(found, { moveAs: [], move: [], salvage: [] });
});

test('salvage under a throw (the engine\'s stack limit) in the middle of a reclaim: the retried reclaim leaves the salvager only handles it can use', () => {
  const h = heap();
  const LAST = 1023 * 2 ** 21;
  // A root S sent to T, whose handle is in its slot's last generation (the move back to S relocates it).
  let x = h.allocate(S, PACKET);
  for (;;) {
    x = h.move(S, x, T);
    if (x >= LAST) break;
    x = h.move(T, x, S);
  }
  const heapAny = h as unknown as { pick: () => number };
  const pick = heapAny.pick;
  let armed = true;
  heapAny.pick = function (this: unknown) {
    if (armed) { armed = false; throw new RangeError('Maximum call stack size exceeded (injected)'); }
    return pick.call(this);
  };
  assert.throws(() => h.reclaim(T, (from) => from === S), RangeError);
  h.reclaim(T, (from) => from === S); // the crash path's retry
  heapAny.pick = pick;
  const back = h.salvaged(S);
  assert.deepEqual(h.audit(), []);
  const usable = back.filter((y) => { try { h.typeOf(S, y); return true; } catch { return false; } });
  assert.deepEqual({ back: back.length, usable: usable.length }, { back: 1, usable: 1 },
    `salvaged() gave S ${JSON.stringify(back)}: the slot reserved before the move that threw is left as handle 0, and using it is a violation that crashes S`);
});

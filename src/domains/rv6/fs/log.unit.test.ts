// Unit tests of the log (log.ts) in plain Node: the real Log over the real Cache (bio.ts) on an
// in-memory disk with a volatile write cache (testdisk.ts), fake time, no kernel. What is checked:
//   - logCapacity and the constructor's refusal of a log too small for one call;
//   - transactions: begin/end/abort/split, the writers (write, setU32, zero, copyIn), the errors
//     for a block changed outside a transaction, outside the inode/bitmap/data blocks, or one
//     block too many; absorption (a block logged once however often it changes);
//   - group commit: when the group is committed (a begin that might not fit, sync, the timer at
//     COMMIT_MS and not before), the exact device commands of a commit, in order, the header at
//     the commit point and the slots' contents; a failing commit, kept and tried again;
//   - the pins: with a two-page cache, nothing of the group or the log is evicted, and what the log
//     no longer needs is;
//   - recovery: a committed group installed, an empty log left alone, corrupt headers refused with
//     the exact message, and a power cut after every device command of a workload (keeping none,
//     all, or any one of the writes not yet flushed): the disk then holds exactly the blocks of a
//     prefix of the transactions, the group whose header reached the disk included, and no other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bytes4096, bindHeap } from '../../../idl/generated/structs.ts';
import { TYPES } from '../../../idl/generated/types.ts';
import type { Domain } from '../../../kernel/domain.ts';
import { ExchangeHeap } from '../../../kernel/heap.ts';
import { heapFor } from '../../../kernel/services/heap.ts';
import { Errno } from '../../../lib/rv6/abi.ts';
import {
  BSIZE, LOG_HEADER_MAX, MAXOPBLOCKS, decodeLogHeader, encodeLogHeader, encodeSuperblock, mkfsLayout, superblockOf,
  type Superblock,
} from '../../../lib/xv6fs/format.ts';
import { mkfs } from '../../../tools/fs/mkfs.ts';
import { pageOf } from './bio.ts';
import { logCapacity } from './log.ts';
import { COMMIT_MS, FsError, RETRY_MS } from './param.ts';
import { Bench, Disk, type Mounted } from './testdisk.ts';

const DOM = 1;
const heap = new ExchangeHeap(32 << 20, TYPES);
const cap = heapFor(heap, { id: DOM, name: 'fs', alive: true, salvages: false } as Domain);
bindHeap(cap);
const bench = new Bench(cap, () => { heap.reclaim(DOM); });

// xv6's default geometry: log 2..31 (header 2, slots 3..31), inodes 32..44, bitmap 45, data 46..1999.
const IMAGE = mkfs();
const LOGSTART = 2;
const INODESTART = 32;
const SIZE = 2000;

const mount = (d: Disk = new Disk(IMAGE), o: Parameters<Bench['mount']>[1] = {}): Mounted => bench.mount(d, o);
const filled = (byte: number, n = BSIZE): Uint8Array => new Uint8Array(n).fill(byte);
const pattern = (seed: number, n = BSIZE): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) & 0xff);
const zeros = filled(0);

/** The device commands from `from` on: W<page> for a write, F for a flush. */
function shape(d: Disk, from = 0): string {
  return d.trace.slice(from).map((c) => (c.op === 'flush' ? 'F' : `W${c.lba}`)).join(' ');
}

/** The log header a write of the header's page carried. */
function headerIn(d: Disk, i: number, logstart = LOGSTART): { n: number; blocks: number[] } {
  const c = d.trace[i]!;
  assert.equal(c.op, 'write');
  if (c.op !== 'write') throw new Error('not a write');
  assert.equal(c.lba, pageOf(logstart));
  const off = (logstart % 4) * BSIZE;
  return decodeLogHeader(c.data.subarray(off, off + BSIZE));
}

function throwsFs(fn: () => unknown, errno: number, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FsError, `expected an FsError, got ${String(e)}`);
    assert.equal(e.errno, errno);
    assert.equal(e.message, message);
    return true;
  });
}

/** Throws a plain Error (a bug in the caller, not an FsError) with exactly `message`. */
function throwsBug(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error && !(e instanceof FsError), `expected a plain Error, got ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

/** A zeroed image holding only superblock `sb` (enough for the log: it reads its own blocks). */
function bare(sb: Superblock): Uint8Array {
  const img = new Uint8Array(Math.ceil(sb.size / 4) * 4 * BSIZE);
  encodeSuperblock(sb, img.subarray(BSIZE, 2 * BSIZE));
  return img;
}

/** A disk of the default image with a log header (and slot contents) written on it. */
function withHeader(n: number, blocks: number[], slots: Uint8Array[] = []): Disk {
  const d = new Disk(IMAGE);
  const head = new Uint8Array(BSIZE);
  const v = new DataView(head.buffer);
  v.setInt32(0, n, true);
  blocks.forEach((b, i) => v.setInt32(4 + i * 4, b, true));
  d.poke(LOGSTART, 0, head);
  slots.forEach((s, i) => d.poke(LOGSTART + 1 + i, 0, s));
  return d;
}

// ---- capacity ------------------------------------------------------------------------------------

test('logCapacity: the usable slots, bounded by the pages shared with inodes and by LOG_HEADER_MAX', () => {
  const sb = (logstart: number, nlog: number): Superblock => ({ ...superblockOf(mkfsLayout(2000, 200, 30)), logstart, nlog });
  assert.equal(logCapacity(sb(2, 30)), 29, "xv6's default: every slot (blocks 3..31, pages 0..7)");
  assert.equal(logCapacity(sb(2, 29)), 25, 'the log ends at block 30: page 7 (blocks 28..31) holds an inode block, so slots 26..28 are unusable');
  assert.equal(logCapacity(sb(3, 30)), 28, 'a log from block 3 to 32: its last page is whole');
  assert.equal(logCapacity(sb(5, 11)), 10, 'blocks 5..15: slots 6..15, pages 1..3');
  assert.equal(logCapacity(sb(5, 10)), 6, 'blocks 5..14: page 3 holds block 15, past the log');
  assert.equal(logCapacity(sb(3, 13)), 12, 'every slot of blocks 3..15');
  assert.equal(logCapacity(sb(3, 257)), LOG_HEADER_MAX, 'a header names at most LOG_HEADER_MAX blocks');
  assert.equal(logCapacity(sb(2, 400)), LOG_HEADER_MAX);
  assert.equal(logCapacity(sb(3, 2)), 0, 'one slot, sharing its page with the inodes');
});

test('a log with room for fewer blocks than one system call is refused; exactly MAXOPBLOCKS is enough', () => {
  const l = mkfsLayout(2000, 200, 11);
  const small = superblockOf(l); // log 2..12: capacity 9
  assert.throws(() => mount(new Disk(bare(small))), (e: unknown) => {
    assert.ok(e instanceof Error && !(e instanceof FsError));
    assert.equal(e.message, `fs: bad superblock: the log (11 blocks from block 2) has room for 9 blocks; a system call needs ${MAXOPBLOCKS}`);
    return true;
  });
  const shifted = (nlog: number): Superblock => ({ ...superblockOf(mkfsLayout(2000, 200, 30)), logstart: 5, nlog });
  const m = mount(new Disk(bare(shifted(11))));
  assert.equal(m.log.capacity, 10);
  assert.throws(() => mount(new Disk(bare(shifted(10)))), { message: 'fs: bad superblock: the log (10 blocks from block 5) has room for 6 blocks; a system call needs 10' });
});

// ---- one commit, command by command --------------------------------------------------------------

test('a commit: slot pages, flush, the header (the commit point), flush, home pages, flush, a cleared header, flush', () => {
  const m = mount();
  const d = m.disk;
  const inodeBlock = INODESTART + 8;
  const before40 = d.block(inodeBlock);
  m.log.begin();
  m.log.write(101, 0, filled(0xa1));
  m.log.write(inodeBlock, 64, pattern(3, 64));
  m.log.write(102, 0, filled(0xa2));
  m.log.end();
  assert.equal(d.trace.length, 0, 'nothing is written when a transaction ends');
  assert.deepEqual(d.block(101), zeros);
  const got = new Uint8Array(BSIZE);
  m.cache.read(101, 0, got);
  assert.deepEqual(got, filled(0xa1), 'the change is in the cache');
  assert.equal(m.log.commit(), true);
  // slots 3, 4, 5 are on pages 0 and 1; the homes 101, 40, 102 on pages 25 and 10
  assert.equal(shape(d), 'W0 W1 F W0 F W10 W25 F W0 F');
  assert.deepEqual(headerIn(d, 3), { n: 3, blocks: [101, inodeBlock, 102] }, 'slot i holds the i-th block first logged');
  assert.deepEqual(headerIn(d, 0), { n: 0, blocks: [] }, 'the slot write of page 0 carries the old, empty header');
  assert.deepEqual(headerIn(d, 8), { n: 0, blocks: [] });
  assert.deepEqual(d.durableBlock(LOGSTART), zeros, 'the cleared header is all zeros');
  const home40 = before40.slice();
  home40.set(pattern(3, 64), 64);
  assert.deepEqual(d.durableBlock(LOGSTART + 1), filled(0xa1));
  assert.deepEqual(d.durableBlock(LOGSTART + 2), home40, 'a slot holds the whole block');
  assert.deepEqual(d.durableBlock(LOGSTART + 3), filled(0xa2));
  assert.deepEqual(d.durableBlock(101), filled(0xa1));
  assert.deepEqual(d.durableBlock(102), filled(0xa2));
  assert.deepEqual(d.durableBlock(inodeBlock), home40);
  assert.equal(d.unflushed(), 0);
  assert.equal(m.log.commit(), false, 'an empty group: nothing to commit');
  assert.equal(d.trace.length, 10, 'and nothing written');
});

test('absorption: a block changed many times, in one transaction or several of a group, is logged once', () => {
  const m = mount();
  m.tx(() => {
    m.log.write(100, 0, filled(1));
    m.log.write(100, 10, filled(2, 5));
    m.log.setU32(100, 20, 0xdeadbeef);
    assert.equal(m.log.touched(), 1);
  });
  m.tx(() => {
    m.log.write(101, 0, filled(3));
    m.log.write(100, 0, filled(4, 1));
  });
  m.log.sync();
  assert.equal(shape(m.disk), 'W0 W1 F W0 F W25 F W0 F');
  assert.deepEqual(headerIn(m.disk, 3), { n: 2, blocks: [100, 101] });
  const want = filled(1);
  want[0] = 4;
  want.fill(2, 10, 15);
  want.set([0xef, 0xbe, 0xad, 0xde], 20);
  assert.deepEqual(m.disk.durableBlock(100), want);
  assert.deepEqual(m.disk.durableBlock(LOGSTART + 1), want, 'slot 0 holds the last contents');
  assert.deepEqual(m.disk.durableBlock(101), filled(3));
});

test('the writers: write (a part of a source), setU32 (little-endian), zero, copyIn (from a heap object)', () => {
  const m = mount();
  const src = pattern(9, 300);
  const h = Bytes4096.alloc();
  Bytes4096.write(h, 0, pattern(5, 4096));
  m.tx(() => {
    m.log.write(200, 1000, src, 100, 24);
    m.log.write(201, 0, src);
    m.log.write(205, 0, src, 250);
    m.log.setU32(202, 1020, 0x01020304);
    m.log.write(203, 0, filled(0xee));
    m.log.zero(203);
    m.log.copyIn(204, 10, h, 4000, 96);
  });
  m.log.sync();
  const b200 = new Uint8Array(BSIZE);
  b200.set(src.subarray(100, 124), 1000);
  assert.deepEqual(m.disk.durableBlock(200), b200);
  const b201 = new Uint8Array(BSIZE);
  b201.set(src);
  assert.deepEqual(m.disk.durableBlock(201), b201);
  const b202 = new Uint8Array(BSIZE);
  b202.set([4, 3, 2, 1], 1020);
  assert.deepEqual(m.disk.durableBlock(202), b202);
  assert.deepEqual(m.disk.durableBlock(203), zeros);
  const b204 = new Uint8Array(BSIZE);
  b204.set(pattern(5, 4096).subarray(4000, 4096), 10);
  assert.deepEqual(m.disk.durableBlock(204), b204);
  const b205 = new Uint8Array(BSIZE);
  b205.set(src.subarray(250));
  assert.deepEqual(m.disk.durableBlock(205), b205, 'from srcOff to the end of the source');
  assert.deepEqual(headerIn(m.disk, 4), { n: 6, blocks: [200, 201, 205, 202, 203, 204] });
});

// ---- the rules of a transaction ------------------------------------------------------------------

test('changes outside a transaction, nested transactions and a commit inside one are bugs, not errors', () => {
  const m = mount();
  throwsBug(() => m.log.write(100, 0, filled(1)), 'fs: block 100 changed outside a transaction');
  throwsBug(() => m.log.setU32(101, 0, 1), 'fs: block 101 changed outside a transaction');
  throwsBug(() => m.log.zero(102), 'fs: block 102 changed outside a transaction');
  throwsBug(() => m.log.copyIn(103, 0, Bytes4096.alloc(), 0, 1), 'fs: block 103 changed outside a transaction');
  m.log.begin();
  throwsBug(() => m.log.begin(), 'fs: a transaction began inside another');
  throwsBug(() => m.log.commit(), 'fs: commit inside a transaction');
  m.log.write(100, 0, filled(7));
  m.log.end();
  throwsBug(() => m.log.write(100, 0, filled(8)), 'fs: block 100 changed outside a transaction');
  m.log.begin(); // (ended: a new one may begin)
  m.log.end();
  m.log.sync();
  assert.deepEqual(m.disk.durableBlock(100), filled(7));
});

test('only inode, bitmap and data blocks may change: the boot block, superblock and log are EIO', () => {
  const m = mount();
  m.log.begin();
  for (const b of [0, 1, LOGSTART, LOGSTART + 1, INODESTART - 1, SIZE, SIZE + 3, -1]) {
    throwsFs(() => m.log.write(b, 0, filled(1)), Errno.EIO, `block ${b} is not an inode, bitmap or data block`);
  }
  assert.equal(m.log.touched(), 0);
  m.log.write(INODESTART, 0, filled(1, 1));
  m.log.write(SIZE - 1, 0, filled(2, 1));
  assert.equal(m.log.touched(), 2, 'the first and last of them may');
  m.log.end();
  m.log.sync();
  assert.deepEqual(headerIn(m.disk, 3), { n: 2, blocks: [INODESTART, SIZE - 1] });
});

test('a transaction may add MAXOPBLOCKS blocks to the group, not one more; blocks already in the group are free', () => {
  const m = mount();
  m.tx(() => { for (let b = 100; b < 110; b++) m.log.write(b, 0, filled(b & 0xff)); });
  m.tx(() => {
    for (let b = 100; b < 110; b++) m.log.write(b, 0, filled(1)); // in the group already: not counted
    for (let b = 110; b < 120; b++) m.log.write(b, 0, filled(b & 0xff));
    assert.equal(m.log.touched(), 20);
  });
  assert.throws(() => m.tx(() => {
    // (its begin committed the group: every block is new to the next one)
    m.log.write(100, 0, filled(2));
    for (let b = 300; b < 309; b++) m.log.write(b, 0, filled(3));
    assert.equal(m.log.touched(), MAXOPBLOCKS);
    m.log.write(309, 0, filled(3));
  }), (e: unknown) => e instanceof FsError && e.errno === Errno.EIO && e.message === `a transaction would log more than ${MAXOPBLOCKS} blocks`);
  assert.deepEqual(headerIn(m.disk, 7), { n: 20, blocks: Array.from({ length: 20 }, (_, i) => 100 + i) });
  const got = new Uint8Array(BSIZE);
  m.cache.read(100, 0, got);
  assert.deepEqual(got, filled(1), 'the failed transaction was undone');
  m.cache.read(305, 0, got);
  assert.deepEqual(got, zeros);
  const n = m.disk.trace.length;
  m.log.sync();
  assert.equal(shape(m.disk, n), 'F', 'the undone blocks left the group');
});

test('abort puts back what the transaction found (not what the group had first) and drops only the blocks it added', () => {
  const m = mount();
  m.tx(() => { m.log.write(100, 0, filled(1)); });
  m.log.begin();
  m.log.write(100, 0, filled(2));
  m.log.write(100, 0, filled(3)); // (saved once: the contents before this transaction)
  m.log.write(101, 5, filled(4, 10));
  m.log.zero(102);
  assert.equal(m.log.touched(), 3);
  m.log.abort();
  assert.equal(m.log.touched(), 0);
  const got = new Uint8Array(BSIZE);
  m.cache.read(100, 0, got);
  assert.deepEqual(got, filled(1));
  m.cache.read(101, 0, got);
  assert.deepEqual(got, zeros);
  throwsBug(() => m.log.write(100, 0, filled(9)), 'fs: block 100 changed outside a transaction');
  m.log.begin(); // (abort ended it)
  m.log.write(103, 0, filled(5));
  m.log.write(101, 0, filled(6)); // (out of the group: it joins it again)
  m.log.end();
  m.log.sync();
  assert.deepEqual(headerIn(m.disk, 3), { n: 3, blocks: [100, 103, 101] });
  assert.deepEqual(m.disk.durableBlock(100), filled(1));
  assert.deepEqual(m.disk.durableBlock(101), filled(6));
  assert.deepEqual(m.disk.durableBlock(102), zeros);
});

test('split ends the transaction and begins the next: its changes stay, a later abort undoes only the next', () => {
  const m = mount();
  m.log.begin();
  m.log.write(100, 0, filled(1));
  m.log.split();
  assert.equal(m.log.touched(), 0);
  assert.deepEqual(m.time.deadlines(), [COMMIT_MS], 'the first part ended: its group is timed');
  m.log.write(100, 0, filled(2));
  m.log.write(101, 0, filled(2));
  m.log.abort();
  m.log.sync();
  assert.deepEqual(headerIn(m.disk, 2), { n: 1, blocks: [100] });
  assert.deepEqual(m.disk.durableBlock(100), filled(1));
});

// ---- when the group is committed ---------------------------------------------------------------

test('group commit: a begin commits first only when the group plus MAXOPBLOCKS would not fit the log', () => {
  const m = mount();
  assert.equal(m.log.capacity, 29);
  m.tx(() => { for (let b = 100; b < 110; b++) m.log.write(b, 0, filled(b)); });
  m.tx(() => { for (let b = 110; b < 119; b++) m.log.write(b, 0, filled(b)); });
  m.log.begin(); // group 19: 19 + 10 fits in 29
  assert.equal(m.disk.trace.length, 0);
  m.log.write(119, 0, filled(119));
  m.log.end();
  m.log.begin(); // group 20: 30 > 29
  assert.equal(shape(m.disk), 'W0 W1 W2 W3 W4 W5 F W0 F W25 W26 W27 W28 W29 F W0 F');
  assert.deepEqual(headerIn(m.disk, 7), { n: 20, blocks: Array.from({ length: 20 }, (_, i) => 100 + i) });
  m.log.write(120, 0, filled(1));
  m.log.end();
  for (let b = 100; b < 120; b++) assert.deepEqual(m.disk.durableBlock(b), filled(b), `block ${b}`);
  assert.deepEqual(m.disk.durableBlock(120), zeros, 'the new group is not committed');
});

test('the timer commits COMMIT_MS after the first change of a group, not before, and not again', () => {
  const m = mount();
  m.tx(() => {}); // nothing changed: no timer
  assert.deepEqual(m.time.deadlines(), []);
  m.tx(() => { m.log.write(100, 0, filled(1)); });
  assert.deepEqual(m.time.deadlines(), [COMMIT_MS]);
  m.time.advance(10);
  m.tx(() => { m.log.write(101, 0, filled(2)); });
  assert.deepEqual(m.time.deadlines(), [COMMIT_MS], 'a later change does not move the deadline');
  m.time.advance(COMMIT_MS - 11);
  assert.equal(m.disk.trace.length, 0);
  m.time.advance(1);
  assert.equal(shape(m.disk), 'W0 W1 F W0 F W25 F W0 F');
  assert.deepEqual(m.time.deadlines(), []);
  m.tx(() => { m.log.write(102, 0, filled(3)); });
  assert.deepEqual(m.time.deadlines(), [m.time.now + COMMIT_MS], 'the next group gets a timer of its own');
  m.log.sync();
  assert.deepEqual(m.time.deadlines(), [], 'a commit cancels the timer');
  assert.deepEqual(m.disk.durableBlock(102), filled(3));
  const n = m.disk.trace.length;
  m.time.advance(1000);
  assert.equal(m.disk.trace.length, n);
  m.tx(() => { m.log.write(103, 0, filled(4)); });
  assert.deepEqual(m.time.deadlines(), [m.time.now + COMMIT_MS], 'after a sync too');
});

test('the timer does not commit inside a transaction (the next end sets it again), nor with a broken cache', () => {
  const m = mount();
  m.tx(() => { m.log.write(100, 0, filled(1)); });
  m.log.begin();
  m.log.write(101, 0, filled(2));
  m.time.advance(COMMIT_MS);
  assert.equal(m.disk.trace.length, 0);
  assert.deepEqual(m.time.deadlines(), []);
  m.log.end();
  assert.deepEqual(m.time.deadlines(), [2 * COMMIT_MS]);
  m.cache.broken = true;
  m.time.advance(COMMIT_MS);
  assert.equal(m.disk.trace.length, 0, 'nothing written through a cache that lost pages');
  assert.deepEqual(m.logged, []);
});

test('sync commits the group, or only flushes when it is empty; a broken cache is EIO', () => {
  const m = mount();
  m.log.sync();
  assert.equal(shape(m.disk), 'F');
  m.tx(() => { m.log.write(100, 0, filled(1)); });
  m.log.sync();
  assert.equal(shape(m.disk, 1), 'W0 F W0 F W25 F W0 F', 'a commit flushes already: no extra flush');
  m.cache.broken = true;
  const why = 'the file system lost cached blocks with a driver; restart it';
  throwsFs(() => m.log.sync(), Errno.EIO, why);
  throwsFs(() => m.log.begin(), Errno.EIO, why);
  m.cache.broken = false;
  m.log.begin(); // (the refused begin opened nothing)
  m.log.end();
});

// ---- a commit that fails -------------------------------------------------------------------------

test('a failed commit keeps the group: every begin tries it again first, the timer in RETRY_MS; then it lands whole', () => {
  for (const failing of [1, 2, 3, 4]) { // the flush after the slots, after the header, after the homes, after the cleared header
    const m = mount();
    m.tx(() => { m.log.write(100, 0, filled(1)); m.log.write(INODESTART + 1, 0, filled(2)); });
    let flushes = 0;
    m.disk.fault = (op) => (op === 'flush' && ++flushes >= failing ? 6 : undefined);
    throwsFs(() => m.log.sync(), Errno.EIO, 'flush: status 6');
    assert.deepEqual(m.time.deadlines(), [RETRY_MS], `flush ${failing}: tried again by the timer`);
    throwsFs(() => m.log.begin(), Errno.EIO, 'flush: status 6');
    m.disk.fault = null;
    const before = m.disk.trace.length;
    m.log.begin(); // commits first, although the group is small
    assert.equal(shape(m.disk, before), 'W0 W1 F W0 F W8 W25 F W0 F');
    assert.deepEqual(headerIn(m.disk, before + 3), { n: 2, blocks: [100, INODESTART + 1] });
    assert.deepEqual(m.time.deadlines(), [], 'the retry timer was cancelled');
    m.log.write(101, 0, filled(3));
    m.log.end();
    m.log.sync();
    assert.deepEqual(m.disk.durableBlock(100), filled(1));
    assert.deepEqual(m.disk.durableBlock(INODESTART + 1), filled(2));
    assert.deepEqual(m.disk.durableBlock(101), filled(3));
    assert.deepEqual(m.disk.durableBlock(LOGSTART), zeros);
  }
});

test('the retry timer logs a failed commit and tries again; a write status fails the commit too', () => {
  const m = mount();
  m.tx(() => { m.log.write(100, 0, filled(1)); });
  m.disk.fault = (op, lba) => (op === 'write' && lba === 25 ? 0x81 : undefined);
  m.time.advance(COMMIT_MS);
  assert.deepEqual(m.logged, [`fs: commit failed (tried again in ${RETRY_MS} ms): writing device block 25: status 129`]);
  assert.deepEqual(m.time.deadlines(), [COMMIT_MS + RETRY_MS]);
  m.time.advance(RETRY_MS);
  assert.equal(m.logged.length, 2, 'failed again');
  m.disk.fault = null;
  m.time.advance(RETRY_MS);
  assert.equal(m.logged.length, 2);
  assert.deepEqual(m.disk.durableBlock(100), filled(1));
  assert.deepEqual(m.time.deadlines(), []);
});

test('a driver lost mid-commit breaks the cache: no retry timer, and every later call is EIO', () => {
  const m = mount();
  m.tx(() => { m.log.write(100, 0, filled(1)); });
  m.disk.fault = (op) => (op === 'write' ? 'rpc' : undefined);
  assert.throws(() => m.log.commit(), (e: unknown) => e instanceof FsError && e.errno === Errno.EIO && /^writing: submitAndPoll: the driver crashed; 1 cached pages were lost with the driver$/.test(e.message));
  assert.equal(m.cache.broken, true);
  assert.deepEqual(m.time.deadlines(), []);
  throwsFs(() => m.log.begin(), Errno.EIO, 'the file system lost cached blocks with a driver; restart it');
});

test('the timer lets anything but an FsError through (a bug is a crash, not a log line)', () => {
  const m = mount();
  m.tx(() => { m.log.write(100, 0, filled(1)); });
  m.disk.fault = () => { throw new TypeError('driver bug'); };
  assert.throws(() => m.time.advance(COMMIT_MS), { name: 'TypeError', message: 'driver bug' });
  assert.deepEqual(m.logged, []);
  assert.deepEqual(m.time.deadlines(), [], 'no retry timer either');
});

// ---- the pins ------------------------------------------------------------------------------------

test('with a two-page cache, the group and the log stay cached until committed, and are evictable after', () => {
  const m = mount(new Disk(IMAGE), { cachePages: 2, reserve: false });
  const atMount = m.disk.reads.length;
  const blocks = Array.from({ length: 29 }, (_, i) => 100 + i * 4); // one per page, pages 25..53
  m.tx(() => { for (const b of blocks.slice(0, 10)) m.log.write(b, 0, filled(b & 0xff)); });
  m.tx(() => { for (const b of blocks.slice(10, 19)) m.log.write(b, 0, filled(b & 0xff)); });
  m.tx(() => { for (const b of blocks.slice(19)) m.log.write(b, 0, filled(b & 0xff)); }); // a full log
  const got = new Uint8Array(BSIZE);
  for (let b = 600; b < 800; b += 4) m.cache.read(b, 0, got); // 50 other pages through the cache
  for (const b of blocks) {
    m.cache.read(b, 0, got);
    assert.deepEqual(got, filled(b & 0xff), `block ${b} kept its change`);
  }
  m.log.sync(); // (slot and header pages evicted would be "not cached" here)
  assert.deepEqual(headerIn(m.disk, 9), { n: 29, blocks });
  for (const b of blocks) assert.deepEqual(m.disk.durableBlock(b), filled(b & 0xff));
  for (let b = 600; b < 800; b += 4) m.cache.read(b, 0, got);
  const reads = m.disk.reads.length;
  m.cache.read(blocks[0]!, 0, got);
  assert.deepEqual(got, filled(blocks[0]! & 0xff));
  assert.deepEqual(m.disk.reads.slice(reads), [pageOf(blocks[0]!)], 'committed: unpinned, evicted, read again');
  // an undone transaction unpins what it added
  m.log.begin();
  m.log.write(900, 0, filled(9));
  m.log.abort();
  for (let b = 600; b < 800; b += 4) m.cache.read(b, 0, got);
  const r2 = m.disk.reads.length;
  m.cache.read(900, 0, got);
  assert.deepEqual(got, zeros);
  assert.deepEqual(m.disk.reads.slice(r2), [pageOf(900)]);
  assert.deepEqual(m.disk.reads.slice(atMount).filter((p) => p < pageOf(INODESTART)), [], 'the log\'s pages (0..7) stayed cached for good');
  const r3 = m.disk.reads.length;
  m.cache.read(INODESTART, 0, got);
  assert.deepEqual(m.disk.reads.slice(r3), [pageOf(INODESTART)], 'and only those: the first inode page was evicted');
});

test('recovery with a two-page cache installs a group spread over many pages', () => {
  const homes = Array.from({ length: 20 }, (_, i) => 100 + i * 8);
  const d = withHeader(20, homes, homes.map((b) => filled(b & 0xff)));
  const m = mount(d, { cachePages: 2, reserve: false });
  assert.equal(m.replayed, 20);
  for (const b of homes) assert.deepEqual(d.durableBlock(b), filled(b & 0xff));
  const got = new Uint8Array(BSIZE);
  for (let b = 600; b < 800; b += 4) m.cache.read(b, 0, got);
  const reads = d.reads.length;
  m.cache.read(homes[3]!, 0, got);
  assert.deepEqual(d.reads.slice(reads), [pageOf(homes[3]!)], 'the home pages were unpinned after recovery');
});

// ---- recovery ------------------------------------------------------------------------------------

test('recovery installs a committed group: slot i to home block i, homes flushed before the header is cleared', () => {
  const inodeBlock = INODESTART + 8;
  const d = withHeader(2, [50, inodeBlock], [filled(0x5a), pattern(7)]);
  const m = mount(d);
  assert.equal(m.replayed, 2);
  assert.equal(shape(d), 'W10 W12 F W0 F');
  assert.deepEqual(d.durableBlock(50), filled(0x5a));
  assert.deepEqual(d.durableBlock(inodeBlock), pattern(7));
  assert.deepEqual(d.durableBlock(LOGSTART), zeros);
  assert.deepEqual(d.durableBlock(LOGSTART + 1), filled(0x5a), 'the slots are left as they were');
  // and the log works on
  m.tx(() => { m.log.write(51, 0, filled(1)); });
  m.log.sync();
  assert.deepEqual(headerIn(d, 7), { n: 1, blocks: [51] });
});

test('recovery of an empty log writes nothing, whatever follows n = 0', () => {
  const d = withHeader(0, [7, 7, 99999]);
  const m = mount(d);
  assert.equal(m.replayed, 0);
  assert.equal(d.trace.length, 0);
});

test('recovery accepts a full log (n = nlog - 1) and the first and last block it may name', () => {
  const homes = Array.from({ length: 29 }, (_, i) => (i === 0 ? INODESTART : i === 28 ? SIZE - 1 : 100 + i));
  const m = mount(withHeader(29, homes, homes.map((_, i) => filled(i + 1))));
  assert.equal(m.replayed, 29);
  homes.forEach((b, i) => assert.deepEqual(m.disk.durableBlock(b), filled(i + 1)));
});

test('a corrupt log header is refused with the exact reason, and nothing is written', () => {
  const at = 'fs: corrupt log header at block 2: ';
  const tail = '; refusing to replay it';
  const cases: [number, number[], string][] = [
    [-1, [], 'it names -1 blocks; the log has 29 slots'],
    [-2147483648, [], 'it names -2147483648 blocks; the log has 29 slots'],
    [30, Array.from({ length: 30 }, (_, i) => 100 + i), 'it names 30 blocks; the log has 29 slots'],
    [1, [INODESTART - 1], `home block ${INODESTART - 1} is outside the inode, bitmap and data blocks (32..1999)`],
    [1, [LOGSTART], 'home block 2 is outside the inode, bitmap and data blocks (32..1999)'],
    [1, [1], 'home block 1 is outside the inode, bitmap and data blocks (32..1999)'],
    [2, [100, SIZE], 'home block 2000 is outside the inode, bitmap and data blocks (32..1999)'],
    [1, [-5], 'home block -5 is outside the inode, bitmap and data blocks (32..1999)'],
    [3, [40, 41, 40], 'home block 40 appears twice'],
  ];
  for (const [n, blocks, why] of cases) {
    const d = withHeader(n, blocks);
    throwsBug(() => mount(d), `${at}${why}${tail}`);
    assert.equal(d.trace.length, 0, why);
  }
  // n past LOG_HEADER_MAX, in a log long enough for it
  const big = superblockOf(mkfsLayout(2000, 200, 300));
  const img = bare(big);
  const head = new Uint8Array(BSIZE);
  new DataView(head.buffer).setInt32(0, LOG_HEADER_MAX + 1, true);
  img.set(head, big.logstart * BSIZE);
  throwsBug(() => mount(new Disk(img)), `${at}it names ${LOG_HEADER_MAX + 1} blocks; the log has 299 slots${tail}`);
  // and LOG_HEADER_MAX blocks are replayed
  const homes = Array.from({ length: LOG_HEADER_MAX }, (_, i) => big.inodestart + i);
  encodeLogHeader({ n: LOG_HEADER_MAX, blocks: homes }, img.subarray(big.logstart * BSIZE, (big.logstart + 1) * BSIZE));
  img.fill(0x77, (big.logstart + LOG_HEADER_MAX) * BSIZE, (big.logstart + LOG_HEADER_MAX + 1) * BSIZE); // the last slot
  const m = mount(new Disk(img));
  assert.equal(m.replayed, LOG_HEADER_MAX);
  assert.deepEqual(m.disk.durableBlock(homes[LOG_HEADER_MAX - 1]!), filled(0x77));
});

test('recovery cut short by a power cut is done again from the start, with the same result', () => {
  const homes = [60, 61, 200, INODESTART + 3];
  const d = withHeader(4, homes, homes.map((b) => pattern(b)));
  mount(d);
  assert.equal(shape(d), 'W8 W15 W50 F W0 F');
  for (let k = 0; k <= d.trace.length; k++) {
    for (const keep of [() => false, () => true, (i: number) => i % 2 === 0]) {
      const again = mount(d.crash(k, keep));
      const durableHead = decodeLogHeader(d.crash(k, keep).durableBlock(LOGSTART));
      assert.equal(again.replayed, durableHead.n, `cut after ${k}`);
      for (const b of homes) assert.deepEqual(again.disk.durableBlock(b), pattern(b), `cut after ${k}: block ${b}`);
      assert.deepEqual(again.disk.durableBlock(LOGSTART), zeros);
    }
  }
});

// ---- power cuts during commits -------------------------------------------------------------------

/** Transactions on raw blocks of a mount, with a model of what each block holds after each, and
 *  the number of transactions done when each device command ran. */
class Recorder {
  readonly states: Map<number, Uint8Array>[] = [new Map()];
  readonly txAt: number[] = [];

  constructor(readonly m: Mounted, readonly image: Uint8Array) {
    m.disk.onCommand = () => { this.txAt.push(this.states.length - 1); };
  }

  tx(changes: [number, number, Uint8Array][]): void {
    const next = new Map(this.states[this.states.length - 1]);
    this.m.tx(() => {
      for (const [b, off, bytes] of changes) {
        this.m.log.write(b, off, bytes);
        const blk = (next.get(b) ?? this.image.slice(b * BSIZE, (b + 1) * BSIZE)).slice();
        blk.set(bytes, off);
        next.set(b, blk);
      }
    });
    this.states.push(next);
  }

  /** `n` whole blocks from `first`, each a pattern. */
  blocks(first: number, n: number, seed: number): [number, number, Uint8Array][] {
    return Array.from({ length: n }, (_, i): [number, number, Uint8Array] => [first + i, 0, pattern(seed + i)]);
  }
}

/**
 * Cuts the power after each command of `r`'s trace, keeping none, all, all but one or only one of
 * the writes not yet flushed; recovers; checks that every block the transactions touched (and the
 * boot block, the superblock and the blocks up to `upTo` they did not) holds exactly what it held
 * after the transactions of the last group whose commit header reached the disk, and that the log
 * is empty. Returns the trace indices of the commit headers and the outcomes met (-1: no group).
 */
function everyCut(r: Recorder, upTo: number): { commitsAt: number[]; outcomes: Set<number>; cuts: number } {
  const d = r.m.disk;
  const sb = r.m.sb;
  const image = r.image;
  const commitsAt = d.trace.flatMap((c, i) => (c.op === 'write' && c.lba === 0 && headerIn(d, i).n > 0 ? [i] : []));
  const touched = new Set<number>();
  for (const s of r.states) for (const b of s.keys()) touched.add(b);
  const original = (b: number): Uint8Array => image.subarray(b * BSIZE, (b + 1) * BSIZE);
  let cuts = 0;
  const outcomes = new Set<number>();
  for (let k = 0; k <= d.trace.length; k++) {
    const open = d.openWrites(k);
    const firstOpen = k - open;
    const keeps: [string, (i: number) => boolean][] = [['none', () => false], ['all', () => true]];
    for (let j = 0; j < open; j++) keeps.push([`only ${j}`, (i) => i === j], [`all but ${j}`, (i) => i !== j]);
    for (const [what, keep] of keeps) {
      // the last commit header on the crashed disk: flushed before the cut, or kept of the open writes
      let last = -1;
      for (const i of commitsAt) if (i < firstOpen || (i < k && keep(i - firstOpen))) last = i;
      const want = r.states[last < 0 ? 0 : r.txAt[last]!]!;
      outcomes.add(last);
      const crashed = d.crash(k, keep);
      const durableN = decodeLogHeader(crashed.durableBlock(sb.logstart)).n;
      const m = mount(crashed);
      const at = `cut after ${k} commands, keeping ${what}`;
      assert.equal(m.replayed, durableN, at);
      assert.deepEqual(crashed.durableBlock(sb.logstart), zeros, `${at}: the log is empty after recovery`);
      for (const b of touched) assert.deepEqual(crashed.durableBlock(b), want.get(b) ?? original(b), `${at}: block ${b}`);
      for (const b of [0, 1]) assert.deepEqual(crashed.durableBlock(b), original(b), `${at}: block ${b}`);
      for (let b = sb.inodestart; b < upTo; b++) {
        if (!touched.has(b)) assert.deepEqual(crashed.durableBlock(b), original(b), `${at}: untouched block ${b}`);
      }
      cuts++;
    }
  }
  return { commitsAt, outcomes, cuts };
}

test('a power cut after any device command of any commit: the disk holds exactly the groups whose header reached it', () => {
  const r = new Recorder(mount(), IMAGE);
  r.tx([[100, 0, filled(1)], [INODESTART + 2, 128, pattern(1, 64)]]);
  r.tx([[101, 0, filled(2)], [100, 512, filled(3, 512)]]);
  r.m.log.sync(); // commit 1: 3 blocks
  r.tx(r.blocks(102, 10, 0));
  r.tx(r.blocks(112, 10, 10));
  r.tx([[122, 0, filled(4)], [100, 0, filled(5, 8)]]); // its begin commits the 20 blocks before
  r.m.time.advance(COMMIT_MS); // commit 3, by the timer
  r.tx([[45, 0, filled(0xff, 16)]]); // the bitmap block
  r.m.log.sync();
  const { commitsAt, outcomes, cuts } = everyCut(r, 130);
  assert.deepEqual(commitsAt.map((i) => headerIn(r.m.disk, i).n), [3, 20, 2, 1]);
  assert.ok(cuts > 150, `${cuts} cuts`);
  assert.deepEqual([...outcomes].sort((a, b) => a - b), [-1, ...commitsAt], 'every outcome was met: no group, and each group');
  assert.deepEqual(commitsAt.map((i) => r.txAt[i]), [2, 4, 5, 6], 'the groups: transactions 1-2, 3-4, 5 and 6');
});

test('a log whose last page holds an inode block: a full group never writes that page before its commit point', () => {
  // log 2..30 (slots 3..30), inodes from 31: page 7 holds slots 25..27 and inode block 31
  const image = mkfs({ nlog: 29 });
  const r = new Recorder(mount(new Disk(image)), image);
  assert.equal(r.m.log.capacity, 25);
  r.tx([[31, 64, pattern(1, 64)], ...r.blocks(100, 9, 1)]);
  r.tx(r.blocks(110, 5, 2));
  r.tx(r.blocks(120, 10, 3)); // 25 blocks: the log is full
  r.m.log.sync();
  const d = r.m.disk;
  const commit = d.trace.findIndex((c, i) => c.op === 'write' && c.lba === 0 && headerIn(d, i).n > 0);
  assert.deepEqual(headerIn(d, commit).n, 25);
  assert.equal(shape(d).split(' F ')[0], 'W0 W1 W2 W3 W4 W5 W6', 'the slot pages: 0..6, not 7');
  const { outcomes } = everyCut(r, 140);
  assert.deepEqual([...outcomes].sort((a, b) => a - b), [-1, commit]);
});

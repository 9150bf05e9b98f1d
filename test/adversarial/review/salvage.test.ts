// Review of salvage and the block path's requests end to end: the bdev shadow (which asks for
// salvage) in front of a hostile driver (test/adversarial/review/domains/bdev) that crashes
// holding requests of its own making.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { boot } from '../../helpers.ts';
import type { BDev } from '../../../src/idl/block.ts';
import type { Probe } from '../../../src/idl/demo.ts';
import { BlockReq, Bytes4096, DequeBlockReq32, Packet, bindHeap } from '../../../src/idl/generated/structs.ts';
import { BlockOp } from '../../../src/lib/block.ts';
import type { NvmeDevice } from '../../../src/machine/node/nvme.ts';

const b = await boot(['src/domains/drivers/nvme', 'src/domains/shadows/bdev', 'test/adversarial/review/domains/bdev',
  'test/adversarial/review/domains/driver']);
bindHeap(b.k.heapCap());
const devs: NvmeDevice[] = [];
after(async () => {
  b.k.shutdown();
  for (const d of devs) await d.stop();
});

function request(tag: number, op: number, fill: number): ReturnType<typeof BlockReq.alloc> {
  const r = BlockReq.alloc();
  BlockReq.setTag(r, tag);
  BlockReq.setOp(r, op);
  BlockReq.setLba(r, 3);
  const d = Bytes4096.alloc();
  Bytes4096.fill(d, fill);
  BlockReq.putData(r, d);
  return r;
}

/** Tags of the requests in a deque (each freed, with the deque). */
function drain(batch: ReturnType<typeof DequeBlockReq32.alloc>): number[] {
  const tags: number[] = [];
  for (let x = DequeBlockReq32.pop(batch); x !== null; x = DequeBlockReq32.pop(batch)) {
    tags.push(BlockReq.tag(x));
    BlockReq.free(x);
  }
  DequeBlockReq32.free(batch);
  return tags;
}

test('salvage through the bdev shadow: a driver that crashes cannot hand the shadow (and its caller) requests it made itself', () => {
  const base = b.k.heap.stats().objects;
  const s = b.k.create<BDev>('bdev-shadow', {}, {
    privileged: true, devices: ['rv-none'], config: { target: 'hostile-review-bdev', device: 'rv-none', driver: { launder: 8, inside: 2 } },
  });
  const batch = DequeBlockReq32.alloc();
  DequeBlockReq32.push(batch, request(1, BlockOp.WRITE, 0x11));
  const res = s.api.submitAndPoll(batch);
  assert.ok(res.ok, 'the shadow hid the crash');
  const tags = drain(res.value);
  const crashed = b.k.crashes.filter((c) => c.domain === 'hostile-review-bdev');
  assert.deepEqual(crashed.map((c) => c.reclaimed.salvaged), [1], 'the driver crashed once, and its report counts the one root it gave back: the deque the shadow moved in');
  const driver = b.k.list().find((d) => d.name === 'hostile-review-bdev');
  b.k.kill(s.domain);
  if (driver) b.k.kill(driver);
  assert.deepEqual(b.k.heap.audit(), []);
  assert.equal(b.k.heap.stats().objects, base);
  assert.deepEqual(tags.map((t) => t.toString(16)), ['1'],
    'the caller submitted one request; the others are the crashed driver\'s own, salvaged to the shadow as if the shadow had sent them, and re-submitted and returned as completed');
});

// (A BDev serves one client: requests come back to whoever polls, so two domains sharing one
// BDev capability could receive each other's completions. Both can read the whole disk anyway;
// SECURITY.md lists this as a limitation. No test asserts it.)

test('salvage through the bdev shadow: a driver that crashes holding a flood of requests of its own cannot get the shadow crashed', () => {
  const base = b.k.heap.stats().objects;
  const s = b.k.create<BDev>('bdev-shadow', {}, {
    privileged: true, devices: ['rv-none'], config: { target: 'hostile-review-bdev', device: 'rv-none', driver: { launder: 20000, inside: 0, pages: false } },
  });
  const batch = DequeBlockReq32.alloc();
  DequeBlockReq32.push(batch, request(1, BlockOp.WRITE, 0x11));
  const res = s.api.submitAndPoll(batch);
  const alive = s.domain.alive;
  const report = b.k.crashes.filter((c) => c.id === s.domain.id).pop()?.text ?? '';
  if (res.ok) drain(res.value);
  const driver = b.k.list().find((d) => d.name === 'hostile-review-bdev');
  if (s.domain.alive) b.k.kill(s.domain);
  if (driver) b.k.kill(driver);
  assert.deepEqual({ ok: res.ok, alive }, { ok: true, alive: true }, `the shadow: ${report.split('\n')[0]}`);
  assert.equal(b.k.heap.stats().objects, base);
});

test('the heap audits clean after a caller hands 4200 packets, one per call, to a domain that keeps them', () => {
  const keeper = b.k.create<Probe>('hostile-review-driver', {}, { config: { device: 'none', open: false } });
  const ps: ReturnType<typeof Packet.alloc>[] = [];
  for (let i = 0; i < 4200; i++) ps.push(Packet.alloc());
  for (const p of ps) assert.ok(keeper.api.hold(p).ok);
  const audit = b.k.heap.audit();
  b.k.kill(keeper.domain);
  assert.deepEqual(audit, [], 'the 4096th root moved in a row stays charged to its sender, whose header it keeps');
  assert.deepEqual(b.k.heap.audit(), [], 'and after the keeper is reclaimed, the charges are off for good');
});

test('a domain that did not ask for salvage gets nothing back: what it moved into a domain that crashed is freed', () => {
  const base = b.k.heap.stats().objects;
  const keeper = b.k.create<Probe>('hostile-review-driver', {}, { config: { device: 'none', open: false } });
  for (let i = 0; i < 3; i++) assert.ok(keeper.api.hold(Packet.alloc()).ok);
  b.k.crash(keeper.domain, 'test', new Error('crash holding the kernel\'s packets'));
  assert.deepEqual(b.k.heap.salvaged(0), [], 'the kernel (which never asked) got nothing');
  assert.equal(b.k.crashes[b.k.crashes.length - 1]!.reclaimed.salvaged, 0);
  assert.equal(b.k.heap.stats().objects, base, 'the packets were freed');
});

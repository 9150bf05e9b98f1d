// Tests for kernel/stamp.ts: stamps are hidden, per family, set once, and work on promises and
// frozen objects alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stamps } from './stamp.ts';

test('a stamp is read back, is invisible to reflection, and is set only once', () => {
  const s = stamps();
  const p = Promise.resolve(1);
  assert.equal(s.get(p), undefined);
  const keys = Reflect.ownKeys(p); // (Node's async_hooks may have put symbols there)
  s.init(p, 7);
  assert.equal(s.get(p), 7);
  assert.throws(() => s.init(p, 9), TypeError); // the first stamp stays: a promise has one creator
  assert.equal(s.get(p), 7);
  assert.deepEqual(Reflect.ownKeys(p), keys, 'nothing the stamped object\'s holder can see or change');
});

test('families are separate: two kernels stamp the same promise without colliding', () => {
  const a = stamps();
  const b = stamps();
  const p = new Promise(() => {});
  a.init(p, 1);
  assert.equal(b.get(p), undefined);
  b.init(p, 2);
  assert.equal(a.get(p), 1);
  assert.equal(b.get(p), 2);
});

test('frozen and null-prototype objects can be stamped; primitives are never asked', () => {
  const s = stamps();
  const frozen = Object.freeze({ x: 1 });
  s.init(frozen, 3);
  assert.equal(s.get(frozen), 3);
  const bare = Object.create(null) as object;
  s.init(bare, 4);
  assert.equal(s.get(bare), 4);
});

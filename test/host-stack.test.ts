// The host at the engine's stack limit: Node's timer queues are not safe to cut short, so a RangeError
// part way into setTimeout or clearTimeout could stop every later timer of the process, or keep it
// from ever exiting. A domain can reach the limit at will and call the kernel at every depth on the
// way back up; the host (src/machine/node/host.ts) must refuse there having touched nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { boot, tick } from './helpers.ts';
import type { Probe } from '../src/idl/demo.ts';
import { NodeHost } from '../src/machine/node/host.ts';

const b = await boot(['probe']);
after(() => b.k.shutdown());

/** Timers of this process still fire (a broken queue never would: the test would hang). */
async function timersFire(): Promise<void> {
  let fired = false;
  setTimeout(() => { fired = true; }, 5);
  for (let i = 0; i < 100 && !fired; i++) await new Promise((r) => setImmediate(r));
  await tick(10);
  assert.ok(fired, 'a timer set after the attack fired');
}

const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('a domain that sets and cancels timers at every depth up from the engine\'s stack limit, inside a timer callback of its own, breaks none of the host\'s timers', async () => {
  const p = b.k.create<Probe>('probe');
  const base = timeouts();
  for (let round = 1; round <= 5; round++) {
    assert.deepEqual(p.api.run('timers-at-limit', 0), { ok: true, value: 0 });
    for (let i = 0; i < 100 && (p.api.run('timers-fired', 0) as { value: number }).value < round; i++) await tick(2);
    assert.deepEqual(p.api.run('timers-fired', 0), { ok: true, value: round }, `round ${round}: the timer it set near the limit fired`);
    await timersFire();
  }
  assert.equal(p.domain.alive, true);
  assert.equal(p.domain.timers.size, 0, 'the spare timers it cancelled are off its record');
  assert.equal(timeouts(), base, 'no timer is left behind that would keep the process alive');
  b.k.kill(p.domain);
});

test('NodeHost at every depth up from the limit: each scheduling call works or throws a RangeError having done nothing', async () => {
  const host = new NodeHost(() => undefined);
  const base = timeouts();
  let ran = 0;
  const outcomes = { set: 0, refused: 0 };
  let kept: unknown = null;
  await new Promise<void>((resolve) => {
    setTimeout(() => {
      let done = false;
      const down = (): void => {
        try { down(); } catch { /* the limit */ }
        if (done) return;
        try {
          kept = host.setTimer(1, () => { ran++; });
          host.clearTimer(kept);
          host.nextTurn(() => { ran++; });
          outcomes.set++;
          done = true;
        } catch (e) {
          assert.ok(e instanceof RangeError, String(e));
          outcomes.refused++;
        }
      };
      down();
      resolve();
    }, 0);
  });
  await timersFire();
  assert.ok(outcomes.refused > 0, 'the deepest calls were refused');
  assert.equal(outcomes.set, 1);
  assert.equal(ran, 1, 'the immediate queued by the call that worked ran; the timer it cancelled did not');
  assert.equal(timeouts(), base);
});

test('NodeHost\'s doorbell at every depth up from the limit: each ring that returned calls back once, from the event loop; after detach none does', async () => {
  const host = new NodeHost(() => undefined);
  let heard = 0;
  const ring = host.doorbell(() => { heard++; });
  let rung = 0;
  await new Promise<void>((resolve) => {
    setTimeout(() => {
      const down = (n: number): void => {
        try { down(n + 1); } catch { /* the limit */ }
        try { ring(); rung++; } catch { /* (only a call into the ring itself can fail, before it posts) */ }
      };
      down(0);
      resolve();
    }, 0);
  });
  assert.equal(heard, 0, 'not called back from inside the ring');
  for (let i = 0; i < 500 && heard < rung; i++) await tick(2);
  assert.ok(rung > 1);
  assert.equal(heard, rung);
  host.detach();
  ring();
  await tick(10);
  assert.equal(heard, rung, 'a ring after detach does nothing');
  await timersFire();
});

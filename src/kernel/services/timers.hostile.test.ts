// sys.timers.after cut short at the engine's stack limit after the host's timer exists: the domain
// is told the call failed, so that timer must never run its callback. The host here makes the
// timer and then throws, as a call inside Node's setTimeout can at the limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Domain } from '../domain.ts';
import type { ServiceKernel } from './common.ts';
import { timersFor } from './timers.ts';

test('a timer whose sys.timers.after threw once the host timer existed never runs its callback; one that did not throw runs once', () => {
  const fired: (() => void)[] = [];
  let cutShort = true;
  const ran: string[] = [];
  const d = { id: 1, name: 'd', alive: true, timers: new Map<number, unknown>() } as unknown as Domain;
  let id = 0;
  const k = {
    host: {
      setTimer: (_ms: number, fn: () => void): unknown => {
        fired.push(fn);
        if (cutShort) throw new RangeError('Maximum call stack size exceeded (injected)');
        return fired.length;
      },
    },
    rpc: { toEventLoop: () => {}, run: (_id: number, fn: () => unknown) => fn() },
    nextId: () => ++id,
    overBudget: () => false,
    isPlainPromise: () => false,
    crash: () => assert.fail('no crash expected'),
  } as unknown as ServiceKernel;
  const timers = timersFor(k, d);
  assert.throws(() => timers.after(10, () => { ran.push('cut short'); }), /injected/);
  assert.equal(d.timers.size, 0, 'the failed call left nothing on the domain\'s record');
  cutShort = false;
  const t = timers.after(10, () => { ran.push('kept'); });
  assert.equal(d.timers.size, 1);
  for (const fn of fired) fn();
  assert.deepEqual(ran, ['kept']);
  assert.equal(d.timers.has(t), false, 'a timer that ran is off the record');
});

// Tests for kernel/crash.ts: `describe` of every kind of thrown value (primitives, Proxies,
// non-Error objects, Errors with odd or missing stacks and messages, a host that throws) without
// running the thrown value's code; `frameDomain` and `SourceMaps.frame` on real and forged stack
// frames; and the exact lines of `formatReport`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { types } from 'node:util';
import type { Host } from '../machine/common/host.ts';
import { describe, formatReport, frameDomain, SourceMaps, type Described, type Reclaimed } from './crash.ts';

const host = { isProxy: (v: unknown) => types.isProxy(v), isError: (v: unknown) => types.isNativeError(v) } as unknown as Host;

test('describe of primitives: a string is JSON-quoted, anything else goes through String', () => {
  const cases: [unknown, string][] = [
    ['boom', 'thrown value: "boom"'],
    ['a"b', 'thrown value: "a\\"b"'],
    [5, 'thrown value: 5'],
    [NaN, 'thrown value: NaN'],
    [5n, 'thrown value: 5'],
    [true, 'thrown value: true'],
    [undefined, 'thrown value: undefined'],
    [null, 'thrown value: null'],
    [Symbol('s'), 'thrown value: Symbol(s)'],
  ];
  for (const [v, message] of cases) assert.deepEqual(describe(host, v), { message, stack: [] });
});

test('describe of a Proxy or a non-Error object reads none of it', () => {
  let traps = 0;
  const handler: ProxyHandler<object> = {};
  for (const t of ['get', 'has', 'ownKeys', 'getOwnPropertyDescriptor', 'getPrototypeOf', 'apply'] as const) {
    (handler as Record<string, unknown>)[t] = () => { traps++; throw new Error('trap ran'); };
  }
  const noun = (v: unknown): Described => describe(host, v);
  assert.deepEqual(noun(new Proxy(new Error('x'), handler)), { message: 'thrown value: a Proxy (not inspected)', stack: [] });
  assert.deepEqual(noun(new Proxy(() => 1, handler)), { message: 'thrown value: a Proxy (not inspected)', stack: [] });
  assert.equal(traps, 0);
  let calls = 0;
  const fn = Object.assign(() => 1, { toString: () => { calls++; return 'f'; } });
  const obj = { message: 'm', stack: 'Error: m\n    at x (y:1:1)', toString: () => { calls++; return 'o'; } };
  assert.deepEqual(noun(fn), { message: 'thrown value: a non-Error function', stack: [] });
  assert.deepEqual(noun(obj), { message: 'thrown value: a non-Error object', stack: [] });
  assert.deepEqual(noun([1]), { message: 'thrown value: a non-Error object', stack: [] });
  assert.equal(calls, 0);
});

test('describe of an Error: first line of its stack, and its frames', () => {
  const e = new Error('bad');
  e.stack = 'TypeError: bad thing\n    at f (frond-domain://a/1:2:3)\n  not a frame\n\tat g (x.js:4:5)';
  assert.deepEqual(describe(host, e), { message: 'TypeError: bad thing', stack: ['at f (frond-domain://a/1:2:3)', 'at g (x.js:4:5)'] });
  const real = describe(host, new RangeError('real'));
  assert.equal(real.message, 'RangeError: real');
  assert.ok(real.stack.length > 0 && real.stack.every((f) => f.startsWith('at ')));
});

test('describe of an Error whose stack is not a string or starts with a frame', () => {
  const withStack = (stack: unknown, message?: unknown): Error => {
    const e = new Error();
    Object.defineProperty(e, 'stack', { value: stack, configurable: true });
    if (message !== undefined) Object.defineProperty(e, 'message', { value: message, configurable: true });
    return e;
  };
  const cases: [Error, Described][] = [
    [withStack(undefined, 'msg'), { message: 'Error: msg', stack: [] }],
    [withStack(42, 'msg'), { message: 'Error: msg', stack: [] }],
    [withStack(undefined), { message: 'Error: ', stack: [] }],
    [withStack(undefined, 7), { message: 'Error: ', stack: [] }],
    [withStack('    at f (a.js:1:1)\n    at g (b.js:2:2)', 'msg'), { message: 'Error: msg', stack: ['at f (a.js:1:1)', 'at g (b.js:2:2)'] }],
    [withStack('    at f (a.js:1:1)', 5), { message: 'Error: ', stack: ['at f (a.js:1:1)'] }],
    [withStack('', 'msg'), { message: '', stack: [] }],
    [withStack('CustomError: look   at this\n    at f (a.js:1:1)', 'other'), { message: 'CustomError: look   at this', stack: ['at f (a.js:1:1)'] }],
  ];
  for (const [e, want] of cases) assert.deepEqual(describe(host, e), want);
});

test('describe runs no getter of an Error\'s own stack or message', () => {
  let calls = 0;
  const e = new Error('x');
  Object.defineProperty(e, 'stack', { get: () => { calls++; throw new Error('stack getter'); } });
  Object.defineProperty(e, 'message', { get: () => { calls++; throw new Error('message getter'); } });
  assert.deepEqual(describe(host, e), { message: 'Error: ', stack: [] });
  assert.equal(calls, 0);
});

test('describe answers "could not be described" when anything throws', () => {
  const throwing = { isProxy: () => { throw new RangeError('no stack'); }, isError: () => true } as unknown as Host;
  assert.deepEqual(describe(throwing, new Error('x')), { message: 'thrown value: (could not be described)', stack: [] });
  const badError = { isProxy: () => false, isError: () => { throw new Error('message getter threw'); } } as unknown as Host;
  assert.deepEqual(describe(badError, {}), { message: 'thrown value: (could not be described)', stack: [] });
});

test('frameDomain reads the instance id of a domain frame', () => {
  const cases: [string, number | undefined][] = [
    ['at f (frond-domain://log/7:3:5)', 7],
    ['    at async g (frond-domain://net-stack/123:10:2)', 123],
    ['at h (file:///x.js:1:2)', undefined],
    ['frond-domain://log/x:1:1', undefined],
    ['', undefined],
  ];
  for (const [line, want] of cases) assert.equal(frameDomain(line), want, line);
});

test('SourceMaps.frame rewrites mapped positions and leaves anything else as it was', () => {
  const maps = new SourceMaps();
  maps.add('good', JSON.stringify({ version: 3, sources: ['src/a.ts'], names: [], mappings: 'AAAA;AACE' }));
  maps.add('bad', '{ not json');
  maps.add('none', undefined);
  maps.add('replaced', JSON.stringify({ version: 3, sources: ['src/old.ts'], names: [], mappings: 'AAAA' }));
  maps.add('replaced', undefined); // (a version loaded later without a map: the old one's is not used)
  const cases: [string, string][] = [
    ['at f (frond-domain://good/1:1:1)', 'at f (src/a.ts:1:1)'],
    ['at f (frond-domain://good/1:2:3)', 'at f (src/a.ts:2:3)'],
    ['at f (frond-domain://good/1:2:13)', 'at f (src/a.ts:2:3)'], // (a column of two digits, all of it replaced)
    ['at f (frond-domain://replaced/1:1:1)', 'at f (frond-domain://replaced/1:1:1)'],
    ['at f (frond-domain://good/1:0:1)', 'at f (frond-domain://good/1:0:1)'], // line 0: the map throws
    ['at f (frond-domain://good/1:1:0)', 'at f (frond-domain://good/1:1:0)'], // column -1: the map throws
    ['at f (frond-domain://good/1:9:1)', 'at f (frond-domain://good/1:9:1)'], // no mapping there
    ['at f (frond-domain://bad/1:1:1)', 'at f (frond-domain://bad/1:1:1)'],
    ['at f (frond-domain://bad/1:1:1)', 'at f (frond-domain://bad/1:1:1)'],
    ['at f (frond-domain://none/1:1:1)', 'at f (frond-domain://none/1:1:1)'],
    ['at f (frond-domain://other/1:1:1)', 'at f (frond-domain://other/1:1:1)'],
    ['at f (x.js:1:1)', 'at f (x.js:1:1)'],
  ];
  for (const [line, want] of cases) assert.equal(maps.frame(line), want, line);
});

const zero: Reclaimed = { objects: 0, bytes: 0, deferred: 0, timers: 0, threads: 0, irqs: 0, devices: 0, salvaged: 0, inflight: 0, revoked: 0 };

test('formatReport: the header, at most 12 frames, and what was reclaimed', () => {
  const frames = Array.from({ length: 14 }, (_, i) => `at f${i} (x.js:${i}:1)`);
  const r: Reclaimed = { objects: 3, bytes: 96, deferred: 2, timers: 4, threads: 5, irqs: 6, devices: 7, salvaged: 8, inflight: 9, revoked: 10 };
  assert.equal(formatReport('log', 3, 'threw', { message: 'Error: boom', stack: frames }, r), [
    'domain log#3 crashed (threw): Error: boom',
    ...frames.slice(0, 12).map((f) => `    ${f}`),
    '  reclaimed: 3 exchange objects (96 bytes), 2 lent out (freed when returned), 8 given back to their senders, '
      + '4 timers, 5 threads, 6 interrupt lines, 7 devices stopped, 9 calls in flight failed, 10 capabilities revoked',
  ].join('\n'));
  assert.equal(formatReport('net', 12, 'killed: restart', null, zero), [
    'domain net#12 stopped (killed: restart)',
    '  reclaimed: 0 exchange objects (0 bytes), 0 timers, 0 threads, 0 interrupt lines, 0 calls in flight failed, 0 capabilities revoked',
  ].join('\n'));
  assert.equal(formatReport('d', 1, 'c', { message: 'm', stack: [] }, { ...zero, deferred: 1 }),
    'domain d#1 crashed (c): m\n  reclaimed: 0 exchange objects (0 bytes), 1 lent out (freed when returned), 0 timers, 0 threads, 0 interrupt lines, 0 calls in flight failed, 0 capabilities revoked');
  assert.equal(formatReport('d', 1, 'c', { message: 'm', stack: [] }, { ...zero, salvaged: 1 }),
    'domain d#1 crashed (c): m\n  reclaimed: 0 exchange objects (0 bytes), 1 given back to their senders, 0 timers, 0 threads, 0 interrupt lines, 0 calls in flight failed, 0 capabilities revoked');
  assert.equal(formatReport('d', 1, 'c', { message: 'm', stack: [] }, { ...zero, devices: 1 }),
    'domain d#1 crashed (c): m\n  reclaimed: 0 exchange objects (0 bytes), 0 timers, 0 threads, 0 interrupt lines, 1 devices stopped, 0 calls in flight failed, 0 capabilities revoked');
});

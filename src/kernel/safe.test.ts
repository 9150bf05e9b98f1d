// Tests for kernel/safe.ts: `show` names every kind of value (strings cut at 40 characters),
// `inspect` prints objects and arrays to a fixed depth and width (nested strings cut at 80, keys
// quoted only when they are not identifiers, at most 20 parts) without running getters or Proxy
// traps, and `hasStack` answers false, not throws, when the engine's stack is nearly spent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { types } from 'node:util';
import { hasStack, inspect, show } from './safe.ts';

const isProxy = (v: unknown): boolean => types.isProxy(v);
const s40 = 'a'.repeat(40);
const s41 = `${'b'.repeat(40)}c`;
const s80 = 'd'.repeat(80);
const s81 = `${'e'.repeat(80)}f`;

test('show names every typeof, cutting strings longer than 40 characters', () => {
  const cases: [unknown, string][] = [
    [5, '5'],
    [-0.5, '-0.5'],
    [NaN, 'NaN'],
    [true, 'true'],
    [false, 'false'],
    [undefined, 'undefined'],
    [5n, '5n'],
    ['', '""'],
    ['x"y', '"x\\"y"'],
    [s40, `"${s40}"`],
    [s41, `"${'b'.repeat(40)}…"`],
    [Symbol('s'), 'a symbol'],
    [() => 1, 'a function'],
    [null, 'null'],
    [{}, 'an object'],
    [[1], 'an object'],
  ];
  for (const [v, want] of cases) assert.equal(show(v), want, `show of ${typeof v}`);
});

test('show runs none of an object\'s code', () => {
  let calls = 0;
  const o = { toString: () => { calls++; return 'x'; }, valueOf: () => { calls++; return 1; } };
  const p = new Proxy({}, { get: () => { calls++; return undefined; }, getPrototypeOf: () => { calls++; return null; } });
  assert.equal(show(o), 'an object');
  assert.equal(show(p), 'an object');
  assert.equal(calls, 0);
});

test('inspect of a top-level value', () => {
  const cases: [unknown, string][] = [
    ['top level string is bare', 'top level string is bare'],
    [s81, s81], // not cut at the top level
    [5, '5'],
    [true, 'true'],
    [undefined, 'undefined'],
    [null, 'null'],
    [7n, '7n'],
    [Symbol('q'), 'a symbol'],
    [() => 1, '[function]'],
    [{}, '{  }'],
    [[], '[]'],
    [{ a: 1, b: 'x' }, '{ a: 1, b: "x" }'],
    [[1, 'x', null], '[1, "x", null]'],
    [[() => 1, undefined, 2n], '[[function], undefined, 2n]'],
  ];
  for (const [v, want] of cases) assert.equal(inspect(v, isProxy), want);
});

test('inspect quotes nested strings and cuts them past 80 characters', () => {
  assert.equal(inspect([s80], isProxy), `["${s80}"]`);
  assert.equal(inspect([s81], isProxy), `["${'e'.repeat(80)}…"]`);
  assert.equal(inspect({ s: s81 }, isProxy), `{ s: "${'e'.repeat(80)}…" }`);
  assert.equal(inspect({ s: 'q"' }, isProxy), '{ s: "q\\"" }');
});

test('inspect stops at its depth: {…} and […]', () => {
  const cases: [unknown, string][] = [
    [{ a: { b: { c: 1 } } }, '{ a: { b: {…} } }'],
    [{ a: { b: [1] } }, '{ a: { b: […] } }'],
    [[[[1]]], '[[[…]]]'],
    [[[{ c: 1 }]], '[[{…}]]'],
    [{ a: { b: 1, c: 's' } }, '{ a: { b: 1, c: "s" } }'],
    [{ a: [1, 2] }, '{ a: [1, 2] }'],
  ];
  for (const [v, want] of cases) assert.equal(inspect(v, isProxy), want);
  assert.equal(inspect({ a: { b: 1 } }, isProxy, 1), '{ a: {…} }');
  assert.equal(inspect({ a: 1 }, isProxy, 0), '{…}');
  assert.equal(inspect([1], isProxy, 0), '[…]');
});

test('inspect quotes keys that are not identifiers', () => {
  const cases: [string, string][] = [
    ['ab1', 'ab1'],
    ['_x', '_x'],
    ['$y$', '$y$'],
    ['A9_', 'A9_'],
    ['a-b', '"a-b"'],
    ['1a', '"1a"'],
    ['a b', '"a b"'],
    ['', '""'],
    ['-', '"-"'],
    ['é', '"é"'],
  ];
  for (const [key, want] of cases) assert.equal(inspect({ [key]: 1 }, isProxy), `{ ${want}: 1 }`, key);
});

test('inspect skips symbol keys and an array\'s length', () => {
  assert.equal(inspect({ [Symbol('s')]: 1, a: 2 }, isProxy), '{ a: 2 }');
  assert.equal(inspect([1, 2], isProxy), '[1, 2]');
  const arr: unknown[] = [3];
  (arr as unknown as Record<string, unknown>).extra = 4;
  assert.equal(inspect(arr, isProxy), '[3, 4]');
});

test('inspect shows at most 20 parts, and … when there are more than 20 keys', () => {
  const obj = (n: number): Record<string, number> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
  const parts = (n: number): string => Array.from({ length: n }, (_, i) => `k${i}: ${i}`).join(', ');
  assert.equal(inspect(obj(19), isProxy), `{ ${parts(19)} }`);
  assert.equal(inspect(obj(20), isProxy), `{ ${parts(20)} }`);
  assert.equal(inspect(obj(21), isProxy), `{ ${parts(20)}, … }`);
  assert.equal(inspect(obj(25), isProxy), `{ ${parts(20)}, … }`);
  const nums = (n: number): string => Array.from({ length: n }, (_, i) => String(i)).join(', ');
  // an array's keys count its `length` too
  assert.equal(inspect(Array.from({ length: 19 }, (_, i) => i), isProxy), `[${nums(19)}]`);
  assert.equal(inspect(Array.from({ length: 20 }, (_, i) => i), isProxy), `[${nums(20)}, …]`);
  assert.equal(inspect(Array.from({ length: 30 }, (_, i) => i), isProxy), `[${nums(20)}, …]`);
});

test('inspect shows accessors as [getter] and never runs them', () => {
  let calls = 0;
  const o = {
    a: 1,
    get g(): number { calls++; throw new Error('ran'); },
    set w(_: number) { calls++; },
  };
  assert.equal(inspect(o, isProxy), '{ a: 1, g: [getter], w: [getter] }');
  const arr: unknown[] = [];
  Object.defineProperty(arr, 0, { get: () => { calls++; return 1; }, enumerable: true });
  assert.equal(inspect(arr, isProxy), '[[getter]]');
  assert.equal(calls, 0);
});

test('inspect shows Proxies as [Proxy] and runs none of their traps', () => {
  let traps = 0;
  const handler: ProxyHandler<object> = {};
  for (const t of ['get', 'has', 'ownKeys', 'getOwnPropertyDescriptor', 'getPrototypeOf', 'apply', 'defineProperty'] as const) {
    (handler as Record<string, unknown>)[t] = () => { traps++; throw new Error('trap ran'); };
  }
  const p = new Proxy({ a: 1 }, handler);
  const pa = new Proxy([1], handler);
  assert.equal(inspect(p, isProxy), '[Proxy]');
  assert.equal(inspect(pa, isProxy), '[Proxy]');
  assert.equal(inspect({ x: p, y: [pa] }, isProxy), '{ x: [Proxy], y: [[Proxy]] }');
  assert.equal(inspect(p, isProxy, 0), '[Proxy]');
  assert.equal(traps, 0);
});

test('hasStack is true with an empty stack and false, never a throw, near its end', () => {
  assert.equal(hasStack(), true);
  let depth = 0;
  const dive = (): unknown => {
    depth++;
    const h = hasStack();
    return h === true ? dive() : h;
  };
  assert.equal(dive(), false);
  assert.ok(depth > 1);
  assert.equal(hasStack(), true);
});

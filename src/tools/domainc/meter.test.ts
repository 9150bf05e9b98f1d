// Tests for the CPU-budget instrumentation (meter.ts), run in plain Node with a fake meter: every
// runaway shape (loops of each kind, recursion through every kind of function, catch and finally
// blocks that try to swallow or outlive the abort) ends with the abort; each construct that runs
// code without a function entry or loop of its own (field initializers, parameter defaults,
// generators and async functions resumed from outside, for-await) gets the text its rule in the
// header of meter.ts prescribes, checks as often as the argument there says, and is stopped when it
// runs away; ordinary programs compute the same results metered as plain; lines are preserved;
// reserved names and bad syntax are rejected with line:col; the real domain bundles instrument
// cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { meter, meterPrologue, METER_NAMES, METER_PREFIX, type MeterNames } from './meter.ts';
import { bundleDomain } from './bundle.ts';

const ROOT = join(fileURLToPath(import.meta.url), '../../../..');

/** What the kernel's abort is to these tests. */
class Abort extends Error {}

interface FakeMeter {
  readonly pending: DataView;
  readonly tick: () => void;
  readonly live: () => void;
  readonly state: { ticks: number; lives: number; aborted: boolean };
}

/** A meter whose interrupt word stays raised (so every check ticks, unless `clear`: then each tick
 *  lowers it, as the kernel's does) and that aborts on tick number `abortAfter + 1`; once aborted,
 *  every tick and live throws, like the kernel's. */
function fakeMeter(abortAfter = Infinity, clear = false): FakeMeter {
  const state = { ticks: 0, lives: 0, aborted: false };
  const pending = new DataView(new ArrayBuffer(4));
  pending.setInt32(0, 1);
  return {
    state,
    pending,
    tick: () => {
      state.ticks++;
      if (state.aborted || state.ticks > abortAfter) {
        state.aborted = true;
        throw new Abort('aborted');
      }
      if (clear) pending.setInt32(0, 0);
    },
    live: () => {
      state.lives++;
      if (state.aborted) throw new Abort('aborted again');
    },
  };
}

/** Runs `js` as a function body, instrumented, inside the prologue. */
function metered(js: string, m: FakeMeter, names: MeterNames = METER_NAMES): unknown {
  const body = meterPrologue('m', names) + meter(js, names).code;
  return new Function('m', body)(m);
}

function plain(js: string): unknown {
  return new Function(js)();
}

const isAbort = (e: unknown): boolean => e instanceof Abort;

/** Asserts that `js` runs until the fake meter aborts it, and that the abort is what escapes. */
function assertAborts(js: string, abortAfter = 20): FakeMeter {
  const m = fakeMeter(abortAfter);
  assert.throws(() => metered(js, m), isAbort);
  assert.ok(m.state.aborted, 'the meter aborted');
  return m;
}

async function assertAbortsAsync(js: string, abortAfter = 20): Promise<FakeMeter> {
  const m = fakeMeter(abortAfter);
  await assert.rejects(async () => metered(js, m), isAbort);
  assert.ok(m.state.aborted, 'the meter aborted');
  return m;
}

const lines = (s: string): number => s.split('\n').length;

// ---- runaway code is stopped ----------------------------------------------------------------

test('loops of every kind are stopped', () => {
  assertAborts('while (true) {}');
  assertAborts('for (;;);');
  assertAborts('for (;;) {}');
  assertAborts('do {} while (true)');
  assertAborts('do ; while (true);');
  assertAborts('let i = 0; while (true) i++');
  assertAborts('const o = { a: 1 }; for (;;) for (const k in o) {}');
  assertAborts('function* nat() { for (let i = 0; ; i++) yield i; } for (const n of nat()) {}');
  assertAborts('const it = { [Symbol.iterator]() { return this; }, next: () => ({ done: false, value: 1 }) };'
    + ' let n = 0; for (const x of it) n += x;');
});

test('a for-await loop over an infinite async generator is stopped', async () => {
  await assertAbortsAsync(`
    async function* ones() { for (;;) yield 1; }
    async function f() { let n = 0; for await (const x of ones()) n += x; return n; }
    return f();`);
  await assertAbortsAsync('async function f() { for (;;) await null; } return f();');
});

test('labeled loops with continue are stopped, and keep their labels', () => {
  assertAborts(`
    let n = 0;
    outer: for (let i = 0; ; i++) {
      inner: for (let j = 0; ; j++) {
        if (j > 2) continue outer;
        if (j > 5) break inner;
        n++;
      }
    }`);
  assertAborts('a: while (true) { b: do { continue a; } while (false); }');
});

test('infinite recursion is stopped at function entry, before the stack overflows', () => {
  assertAborts('function f(n) { return f(n + 1) + 1; } return f(0);');
  assertAborts('const g = function (n) { return g(n) + 1; }; return g(0);');
  // Mutual recursion through arrow functions with expression bodies.
  assertAborts(`
    const even = (n) => n === 0 ? true : odd(n - 1);
    const odd = (n) => n === 0 ? false : even(n - 1);
    return even(Infinity);`);
  assertAborts('const f = (n) => ({ next: f(n + 1) }); return f(0);');
});

test('recursion through getters, setters, constructors, methods and static blocks is stopped', () => {
  assertAborts('const o = { get x() { return this.x; } }; return o.x;');
  assertAborts('const o = { set x(v) { this.x = v; } }; o.x = 1;');
  assertAborts('class A { constructor() { new A(); } } new A();');
  assertAborts('class A { m() { return this.m(); } } new A().m();');
  assertAborts('class A { static s() { return A.s(); } } A.s();');
  assertAborts('class A { get g() { return this.g; } set g(v) { this.g = v; } } new A().g = 1;');
  assertAborts('class B { constructor(x) { this.x = x; } } class C extends B { constructor() { super(new C()); } } new C();');
  assertAborts('function make() { return class { static { make(); } }; } make();');
});

test('every function entry and every loop iteration runs one check', () => {
  // With the word left raised, every check ticks: the tick count is the check count.
  const count = (js: string): number => {
    const m = fakeMeter();
    metered(js, m);
    return m.state.ticks;
  };
  assert.equal(count('class A { static { } }'), 1);
  assert.equal(count('class A { static { } static { } }'), 2);
  assert.equal(count('class A { constructor() {} } new A(); new A();'), 2);
  assert.equal(count('class A { get x() { return 1; } set x(v) {} } const a = new A(); a.x = a.x;'), 2);
  assert.equal(count('const o = { m() {}, get g() { return 0; } }; o.m(); o.g;'), 2);
  assert.equal(count('function f() { "use strict"; } f(); f(); f();'), 3);
  assert.equal(count('const f = (x) => x; f(1);'), 1);
  assert.equal(count('function* g() { yield 1; } const it = g();'), 0); // a generator body runs on next()
  assert.equal(count('function* g() { yield 1; } g().next();'), 1);
  assert.equal(count('for (let i = 0; i < 7; i++);'), 7);
  assert.equal(count('let i = 0; do i++; while (i < 4)'), 4);
  assert.equal(count('for (const x of [1, 2, 3]) {}'), 3);
  assert.equal(count('for (const k in { a: 1, b: 2 }) {}'), 2);
});

// ---- catch and finally cannot swallow or outlive the abort -----------------------------------

test('a catch-all around a loop, inside an outer loop, does not swallow the abort', () => {
  const m = assertAborts('for (;;) { try { while (true) {} } catch (e) {} }');
  assert.ok(m.state.lives >= 1, 'the catch block re-checked');
  assertAborts('for (;;) { try { for (;;) {} } catch {} }');
});

test('a catch that returns normally still re-throws the abort', () => {
  // No loop or call follows the catch: without its live() check the abort would be swallowed.
  const js = 'function f() { try { for (;;) {} } catch { return "swallowed"; } } return f();';
  const m = assertAborts(js);
  assert.equal(m.state.lives, 1);
  assert.throws(() => metered('try { for (;;) {} } catch { return "swallowed"; }', fakeMeter(5)), isAbort);
});

test('a finally block cannot outlive the abort', () => {
  const m = assertAborts('try { for (;;) {} } finally { for (;;) {} }');
  assert.equal(m.state.lives, 1, 'finally re-threw first thing, without looping');
  assertAborts('try { return 1; } finally { while (true) {} }');
  assertAborts('function f() { try { for (;;) {} } finally { return "swallowed"; } } return f();');
  assertAborts('try { for (;;) {} } catch { } finally { return 2; }');
});

test('an abort is not swallowed by a promise rejection handler', async () => {
  await assertAbortsAsync(`
    async function spin() { for (;;) {} }
    return spin().catch(() => 'swallowed');`);
});

// ---- constructs that run domain code without a function entry or loop of their own -------------
//
// The header of meter.ts argues that every entry into domain code checks before it can do more than
// bounded work. Each test below takes one construct that runs code with no function body or loop
// of its own (or resumes in the middle of one), shows the text the pass inserts, counts the checks
// it runs (with the word left raised, ticks are checks), and where it can, lets it run away.

/** The checks as the pass prints them with the default names. */
const CHECK = 'if (__frond_pending.getInt32(0)) __frond_tick();';
const CHECKX = '__frond_pending.getInt32(0) && __frond_tick()';
const RESUMED = (e: string): string => `(__frond_temp = ${e}, ${CHECKX}, __frond_temp)`;

/** Ticks while `js` runs with the word left raised: the number of checks it passed. */
function ticks(js: string): number {
  const m = fakeMeter();
  metered(js, m);
  return m.state.ticks;
}

async function ticksAsync(js: string): Promise<number> {
  const m = fakeMeter();
  await metered(js, m);
  return m.state.ticks;
}

test('instance field initializers: the first one that is not inert checks, once per construction', () => {
  assert.equal(meter('class A { a = 0; x = f(); y = g(); }').code, `class A { a = 0; x = (${CHECKX}, f()); y = g(); }`);
  assert.equal(meter('class A { #x = f(); }').code, `class A { #x = (${CHECKX}, f()); }`);
  assert.equal(meter('class B extends A { x = f(); }').code, `class B extends A { x = (${CHECKX}, f()); }`);
  // A base class's fields run before its constructor's body: they check too.
  assert.equal(meter('class A { x = f(); constructor() {} }').code, `class A { x = (${CHECKX}, f()); constructor() { ${CHECK}} }`);
  // A derived class's fields run when super() returns, inside its checked constructor.
  assert.equal(meter('class B extends A { x = f(); constructor() { super(); } }').code,
    `class B extends A { x = f(); constructor() { ${CHECK} super(); } }`);
  // Static fields run once per class definition, as straight-line code of whoever defines it.
  assert.equal(meter('class A { static x = f(); }').code, 'class A { static x = f(); }');
  // One check per construction, however many fields: `[].length` runs no domain function.
  assert.equal(ticks('class A { a = 1; x = [].length; y = [].length; } new A(); new A();'), 2);
  assert.equal(ticks('class A { #x = [].length; } new A();'), 1);
  assert.equal(ticks('class A {} class B extends A { x = [].length; } new B();'), 1);
  assert.equal(ticks('class A {} class B extends A { x = [].length; constructor() { super(); } } new B();'), 1);
  assert.equal(ticks('class A { static x = [].length; }'), 0);
  assert.equal(ticks('const o = {}; class A { x = Reflect.construct(Object, []); } Reflect.construct(A, []); new (A.bind(o))();'), 2);
});

test('inert initializers cost nothing; anything that could run code is not inert', () => {
  const inert = ['0', '-1', '~1', '1n', '"s"', '`t`', '/r/g', 'true', 'null', 'this', '[]', '[1, , "a"]', '{}',
    '{ a: 1, "b": [], 2: {}, __proto__: null, m() {}, get g() { return 1; } }', 'function () {}', '!0', 'void 0', '(1)'];
  for (const e of inert) {
    assert.equal(meter(`class A { x = ${e}; }`).stats.initializers, 0, e);
    assert.equal(meter(`function f(x = ${e}) {}`).stats.initializers, 0, e);
  }
  assert.equal(meter('class A { f = () => 1; }').code, `class A { f = () => (${CHECKX}, 1); }`);
  const live = ['x', 'undefined', 'new A()', 'f()', 'a.b', 'a[0]', '[...a]', '{ ...a }', '{ a }', '{ [k]: 1 }', '`${a}`',
    'f`t`', 'a + 1', '-a', 'typeof a', 'a ? 1 : 2', 'class {}', '(a, 1)', 'a?.()', '!a.b', 'super.x'];
  for (const e of live) assert.equal(meter(`class A extends B { x = ${e}; }`).stats.initializers, 1, e);
});

test('recursion and exponential work through field initializers of implicit constructors are stopped', () => {
  assertAborts('class A { x = new A(); } new A();');
  assertAborts('let d = 0; class T { a = d < 40 ? (d++, new T(), new T(), d--) : 0; } new T();');
  assertAborts('let d = 0; class T { #a = d < 40 ? (d++, new T(), new T(), d--) : 0; } new T();');
  assertAborts('let d = 0; class A {} class T extends A { a = d < 40 ? (d++, new T(), new T(), d--) : 0; } new T();');
  // A base class's fields run before its constructor's parameters and body: they are the check.
  assertAborts('class A { x = new A(); constructor(a = 1) {} } new A();');
  // Constructed by a built-in, with no domain function in between.
  assertAborts('class A { x = Reflect.construct(A, []); } new A();');
  assertAborts('let d = 0; class T { a = d < 40 ? (d++, Array.from([T, T], (C) => new C()), d--) : 0; } new T();');
});

test('parameter defaults and computed keys that are not inert check before they run', () => {
  assert.equal(meter('function f(a, b = g(), c = 1) {}').code, `function f(a, b = (${CHECKX}, g()), c = 1) { ${CHECK}}`);
  assert.equal(meter('const f = ({ a = g(), [k()]: b, c: [d = h()] = i() }) => a;').code,
    `const f = ({ a = (${CHECKX}, g()), [(${CHECKX}, k())]: b, c: [d = (${CHECKX}, h())] = (${CHECKX}, i()) }) => (${CHECKX}, a);`);
  assert.equal(meter('class A { m(a = g()) {} set s(v = g()) {} constructor(x = g()) {} }').stats.initializers, 3);
  // A default runs only when its argument is undefined: each one checks.
  assert.equal(ticks('function f(a = [].length, b = [].length) {} f(); f(1); f(1, 2);'), 3 + 2 + 1);
  assert.equal(ticks('function f({ [[].length]: a }) {} f({});'), 2);
  // Recursion through defaults alone, until the stack overflows, is stopped by the meter first.
  assertAborts('function f(a = f()) {} f();');
  assertAborts('const f = (a = f()) => 0; f();');
});

test('a chain of promise jobs through parameter defaults that never reach the body checks at every job', async () => {
  // Each job calls f, whose default schedules the next job and whose last parameter then throws
  // (a pattern given undefined): f's body never runs, and no domain function is entered in
  // between. `it` bounds the chain to 50 + 1 jobs; the arrow that waits for them ticks once.
  const js = `
    const it = Array(50).keys(), p = Promise.resolve();
    function f(v, a = it.next().done ? 0 : p.then(f).catch(Object), { b }) {}
    p.then(f).catch(Object);
    return new Promise((resolve) => setTimeout(resolve, 5));`;
  assert.equal(await ticksAsync(js), 51 + 1);
  // Unbounded, it is stopped: the check comes before the next job is scheduled.
  const m = fakeMeter(20);
  await metered(js.replace('it.next().done ? 0 : ', ''), m);
  assert.ok(m.state.aborted);
  assert.equal(m.state.ticks, 21);
});

test('generators check at every resumption: next(), throw() into catch, return() into finally', () => {
  assert.equal(meter('function* g() { yield 1; const x = yield; f(yield* h()); }').code,
    `function* g() { ${CHECK} yield 1, ${CHECKX}; const x = ${RESUMED('yield')}; f(${RESUMED('yield* h()')}); }`);
  assert.equal(meter('function* g() { try { yield; } catch ({ a = f() }) {} finally {} }').code,
    `function* g() { ${CHECK} try { yield, ${CHECKX}; } catch ({ a = (${CHECKX}, f()) }) { __frond_live(); ${CHECK}} finally { __frond_live(); ${CHECK}} }`);
  // Catch and finally blocks of ordinary functions are reached only from their own activation.
  assert.equal(meter('function f() { try {} catch ({ a = f() }) {} }').code, `function f() { ${CHECK} try {} catch ({ a = f() }) { __frond_live();} }`);
  assert.equal(ticks('function* g() { yield 1; yield 2; yield 3; } const it = g(); for (let i = 0; i < 4; i++) it.next();'), 4 + 4);
  assert.equal(ticks('function* g() { yield 1; yield 2; } return [...g()];'), 3);
  assert.equal(ticks('function* g() { try { yield 1; } catch { yield 2; } } const it = g(); it.next(); it.throw(0); it.next();'), 3);
  assert.equal(ticks('function* g() { try { yield 1; } finally { yield 2; } } const it = g(); it.next(); it.return(); it.next();'), 3);
  assert.equal(ticks('function* g() { try { yield 1; } catch ({ a = [].length }) {} } const it = g(); it.next(); it.throw({});'), 3);
  // Driven by a built-in, with no domain function in between: forEach calls next.call(gen, ...).
  assert.equal(ticks(`function* g() { yield; yield; } const gens = [g(), g(), g()], next = gens[0].next;
    gens.forEach(Function.prototype.call, next); gens.forEach(Function.prototype.call, next); gens.forEach(Function.prototype.call, next);`), 9);
});

test('a pool of paused generators resumed by a built-in is stopped', () => {
  // A thousand generators were each entered (and checked) once; then forEach resumes every one
  // of them fifty times over, through bound built-ins only, so no function is entered and no loop
  // runs: only the checks after yield see it. (Aborts after the 1000 entry checks and 500 more.)
  const yields = 'yield; '.repeat(50);
  const m = assertAborts(`function* g() { ${yields} }
    const gens = Array.from(Array(1000), g), next = gens[0].next, call = Function.prototype.call;
    gens.forEach(call, next);
    Array(50).fill(0).forEach(call, Array.prototype.forEach.bind(gens, call, next));`, 1500);
  assert.equal(m.state.ticks, 1501);
  // The same through return(), which resumes each generator in its finally block (100 entry
  // checks, then the finally blocks' checks).
  assertAborts(`function* g() { try { yield; } finally { [].length; } }
    const gens = Array.from(Array(100), g), call = Function.prototype.call;
    gens.forEach(call, gens[0].next);
    gens.forEach(call, gens[0].return);`, 150);
});

test('async functions check after every await, in catch and finally after a rejection, and after for-await', async () => {
  assert.equal(meter('async function f() { await x; return (await y) + await z; }').code,
    `async function f() { ${CHECK} await x, ${CHECKX}; return (${RESUMED('await y')}) + ${RESUMED('await z')}; }`);
  assert.equal(meter('async function f() {\n  g()\n  await x + 1\n}').code,
    `async function f() { ${CHECK}\n  g()\n  ;${RESUMED('await x')} + 1\n}`);
  assert.equal(meter('async function f() { for await (const { a = g() } of x) h(); }').code,
    `async function f() { ${CHECK} { for await (const { a = (${CHECKX}, g()) } of x) { ${CHECK} h(); } ;${CHECK} } }`);
  assert.equal(meter('async function f() { L: M: for (;;) { for await (x.y of z) { break L; } } }').code,
    `async function f() { ${CHECK} { L: M: for (;;) { ${CHECK} { { for await ((${CHECKX}, x).y of z) { ${CHECK} { break L; } } ;${CHECK} } } } ;${CHECK} } }`);
  assert.equal(meter('const f = async () => await x;').code, `const f = async () => (${CHECKX}, ${RESUMED('await x')});`);
  assert.equal(await ticksAsync('async function f() { await 1; const x = await 2; return x; } return f();'), 3);
  assert.equal(await ticksAsync('async function f() { try { await Promise.reject(1); } catch { } } return f();'), 2);
  assert.equal(await ticksAsync('async function f() { try { await 1; } finally { } } return f();'), 3);
  assert.equal(await ticksAsync('async function f() { for await (const x of []) {} } return f();'), 2);
  assert.equal(await ticksAsync('async function f() { for await (const x of [1, 2]) {} } return f();'), 4);
  assert.equal(await ticksAsync('async function f() { for await (const { a = [].length } of [{}]) {} } return f();'), 4);
  assert.equal(await ticksAsync('async function f() { L: { for await (const x of [1, 2]) { break L; } } } return f();'), 3);
  // entry; per outer iteration: outer body, inner body, the update the continue resumes into; after L.
  assert.equal(await ticksAsync('async function f() { L: for (let i = 0; i < 2; i++) { for await (const x of [1]) { continue L; } } } return f();'), 1 + 2 * 3 + 1);
  assert.equal(meter('async function f() { L: while (g()) { for await (x of y) { continue L; } } }').code,
    `async function f() { ${CHECK} { L: while ((${CHECKX}, g())) { ${CHECK} { { for await (x of y) { ${CHECK} { continue L; } } ;${CHECK} } } } ;${CHECK} } }`);
  assert.equal(meter('async function f() { L: for (const { a = g() } of z) { for await (x of y) { continue L; } } }').stats.initializers, 1);
  assert.equal(meter('async function f() { L: for (;; i++) { for await (x of y) { if (c) continue L; continue; } } }').stats.initializers, 1);
  // main: entry and three awaits; g: entry at the first next(), then a resumption after each yield.
  assert.equal(await ticksAsync(`async function* g() { yield 1; yield 2; }
    async function main() { const it = g(); await it.next(); await it.next(); await it.next(); } return main();`), 4 + 3);
});

test('a pool of paused async functions resumed in one turn is stopped', async () => {
  // A thousand async functions wait on one promise; resolving it resumes them all in one run of
  // the microtask queue, twenty times each: only the checks after await and after for-await see
  // it. (Aborts after the executor's and the 1000 entry checks, and 500 more.)
  for (const wait of ['await gate', 'for await (const x of []) {}']) {
    const m = fakeMeter(1500);
    const js = `let open;
      const gate = new Promise((r) => { open = r; });
      async function f() { ${`${wait}; `.repeat(20)} }
      const all = Array.from(Array(1000), f);
      open();
      return Promise.all(all);`;
    await assert.rejects(async () => metered(js, m), isAbort, wait);
    assert.ok(m.state.aborted && m.state.ticks > 1500, wait);
  }
});

// ---- semantics are preserved ----------------------------------------------------------------

const PROGRAMS: Record<string, string> = {
  closures: `
    function counter(start) { let n = start; return { inc: () => ++n, get: function () { return n; } }; }
    const a = counter(1), b = counter(10);
    a.inc(); a.inc(); b.inc();
    return [a.get(), b.get()];`,
  generators: `
    function* inner() { yield 2; yield 3; return 'r'; }
    function* g() { const r = yield 1; const s = yield* inner(); yield r + s; }
    const it = g(); const out = [it.next().value];
    out.push(it.next('x').value, it.next().value, it.next().value, it.next().done);
    return out;`,
  classes: `
    class A {
      static #count = 0;
      #x;
      static { A.tag = 'A'; }
      constructor(x) { this.#x = x; A.#count++; }
      m() { return 'A' + this.#x; }
      get double() { return this.#x * 2; }
      set double(v) { this.#x = v / 2; }
      static count() { return A.#count; }
    }
    class B extends A {
      constructor() { const k = 5; super(k); }
      m() { return 'B' + super.m(); }
    }
    const b = new B(); b.double = 14;
    return [b.m(), b.double, A.count(), A.tag, b instanceof A];`,
  destructuring: `
    function f({ a = 1, b: [c = 2, ...d] = [] } = {}, e = a + c, ...rest) { return [a, c, d, e, rest]; }
    const g = ({ x = 'dx' } = {}, [y = 'dy'] = []) => x + y;
    return [f(), f({ a: 5, b: [undefined, 7, 8] }, undefined, 9, 10), g(), g({ x: 'X' }, ['Y'])];`,
  arrows: `
    let a = 0;
    const obj = (x) => ({ a: x });
    const seq = (x) => (a++, a + x);
    const nest = (p) => (q) => (r) => p + q + r;
    const cond = (x) => x > 0 ? 'pos' : x < 0 ? 'neg' : 'zero';
    let y;
    const assign = (x) => y = x * 3;
    const iife = (() => 42)();
    return [obj(1), seq(10), seq(10), nest(1)(2)(3), cond(-1), cond(0), assign(2), y, iife,
      [1, 2, 3].map((v) => v * v), [[1, 2]].map(([p, q]) => ({ p, q }))];`,
  strict: `
    function s1() { "use strict"; return this === undefined; }
    function s2() { 'use strict'
      return typeof this; }
    function s3() { 'a'; "use strict"; return (function () { return this === undefined; })(); }
    function sloppy() { ("use strict"); return this === undefined; }
    const o = { m() { "use strict"; return this === o; } };
    return [s1(), s2(), s3(), sloppy(), o.m()];`,
  labels: `
    const out = [];
    outer: for (let i = 0; i < 4; i++) {
      inner: for (let j = 0; j < 4; j++) {
        if (j === i) continue outer;
        if (i === 3) break outer;
        out.push(i * 10 + j);
      }
    }
    block: { out.push('in'); break block; }
    let k = 0;
    lbl: while (k < 10) { k++; do { if (k % 2) continue lbl; } while (false); out.push(k); }
    return out;`,
  handlers: `
    const log = [];
    function f(x) {
      try { if (x) throw new Error('e' + x); log.push('try'); return 't'; }
      catch ({ message }) { log.push(message); return 'c'; }
      finally { log.push('finally'); }
    }
    try { try { throw 1; } finally { log.push('f1'); } } catch (e) { log.push('caught' + e); }
    return [f(0), f(1), log];`,
  asi: `
    let i = 0, j = 0
    const log = []
    while (i < 3) i++
    log.push(i)
    for (; j < 2;) j++
    do i--
    while (i > 0)
    log.push(i, j)
    for (const x of [1, 2]) log.push(x)
    let f
    for (const x of [5]) f = (v) => v + x
    while (!f) f = () => 0
    log.push(f(1))
    return log`,
  fields: `
    let n = 0;
    class A { a = 1; b = ++n; #c = this.b * 2; static s = n; get c() { return this.#c; } }
    class B extends A { d = this.a + this.c; }
    class C extends A { e = [this.b]; constructor(x = n) { super(); this.x = x; } }
    const D = class extends B { f = super.c; };
    const objs = [new A(), new B(), new C(), new C(7), new D()];
    return [objs.map((o) => [o.a, o.b, o.c, o.d, o.e, o.x, o.f]), A.s, n];`,
  keys: `
    let k = 0;
    const key = () => 'k' + (k++);
    function f({ [key()]: a = 'da', [key()]: b = key() } = { k0: 'A' }, c = a + b) { return [a, b, c, k]; }
    return [f(), f({ k2: 'X', k3: 'Y' }), f(undefined, 'C')];`,
  generatorProtocol: `
    const log = [];
    function* g() {
      try {
        const x = yield 1; log.push(x);
        try { yield 2; } catch ({ message = 'none', extra = log.length }) { log.push(message, extra); yield 3; }
      } finally { log.push('fin'); yield 4; }
    }
    let it = g();
    log.push(it.next().value, it.next('a').value, it.throw({}).value, it.return(9).value, JSON.stringify(it.next()));
    it = g(); it.next();
    log.push(JSON.stringify(it.return(5)), JSON.stringify(it.next()));
    function* d() { const r = yield* g(); return r; }
    log.push([...d()].join());
    return log;`,
  yieldAsi: `
    function* g() {
      const a = 1
      yield a
      yield
      const b = yield a + 1
      ;[b].forEach(() => {})
      return (yield b) * 2
    }
    const it = g()
    it.next(); it.next(); it.next()
    return [it.next(5).value, it.next(4)]`,
  loops: `
    let sum = 0;
    for (let i = 0; i < 10; i++) sum += i;
    for (const k in { a: 1, b: 2 }) sum += k.length;
    const fns = [];
    for (let i = 0; i < 3; i++) fns.push(() => i);
    let n = 0; while (n < 5) { n++; if (n === 3) continue; sum += n; }
    return [sum, fns.map((f) => f())];`,
};

test('ordinary programs compute the same results metered as plain', () => {
  for (const [name, js] of Object.entries(PROGRAMS)) {
    const m = fakeMeter();
    assert.deepEqual(metered(js, m), plain(js), name);
    assert.ok(m.state.ticks > 0, `${name} was metered`);
  }
  const strict = metered(PROGRAMS.strict!, fakeMeter());
  assert.deepEqual(strict, [true, 'undefined', true, false, true], '"use strict" stays a directive');
});

test('async functions with await compute the same results metered as plain', async () => {
  const js = `
    const sleep = (v) => new Promise((r) => setTimeout(() => r(v), 1));
    async function sum(xs) { let s = 0; for (const x of xs) s += await sleep(x); return s; }
    const twice = async (x) => (await sum([x, x]));
    class A { async m() { return [await twice(2), await sum([1, 2, 3])]; } }
    async function* ag() { yield 1; yield await sleep(2); }
    async function collect() { const out = []; for await (const v of ag()) out.push(v); return out; }
    return Promise.all([new A().m(), collect()]);`;
  assert.deepEqual(await metered(js, fakeMeter()), await plain(js));
});

test('async code with every resumption point computes the same results metered as plain', async () => {
  const js = `
    const log = [];
    const later = (v, fail) => new Promise((ok, no) => setTimeout(() => (fail ? no : ok)(v), 1));
    async function* ag() {
      try { yield 1; yield await later(2); }
      catch ({ message = 'm', n = log.length }) { log.push('caught', message, n); yield 3; }
      finally { log.push('agfin'); }
    }
    async function main() {
      for await (const x of ag()) log.push(x);
      const it = ag();
      log.push((await it.next()).value, (await it.throw({})).value, JSON.stringify(await it.return(7)));
      try { await later('x', true); } catch (e) { log.push('rejected ' + e); } finally { log.push('fin') }
      outer: for (let i = 0; i < 3; i++) {
        for await (const { v = i * 10 } of [{}, { v: 'w' }]) { log.push(v); if (i === 1) continue outer; if (i === 2) break outer; }
        log.push('after inner ' + i);
      }
      blk: { for await (const x of [1, 2]) { log.push('blk' + x); break blk; } }
      const o = {};
      for await (o.p of [8, 9]) log.push(o.p);
      const v = await later(5)
      ;(await later(log)).push(v)
      return log;
    }
    return main();`;
  assert.deepEqual(await metered(js, fakeMeter()), await plain(js));
  assert.equal(lines(meter(js).code), lines(js));
});

test('instrumentation preserves every line break', () => {
  for (const [name, js] of Object.entries(PROGRAMS)) {
    const { code } = meter(js);
    assert.equal(lines(code), lines(js), name);
    // Each output line is its input line with text inserted: input characters stay in order.
    const inLines = js.split('\n');
    code.split('\n').forEach((line, i) => assert.ok(isSubsequence(inLines[i]!, line), `${name}:${i + 1}`));
  }
});

function isSubsequence(small: string, big: string): boolean {
  let i = 0;
  for (const c of big) if (i < small.length && c === small[i]) i++;
  return i === small.length;
}

test('stats count function bodies, loops, catch and finally blocks, initializers and resumption points', () => {
  const { stats } = meter(`
    function f() { for (;;) {} }
    const g = () => 1, h = async function* () {};
    class A { constructor() {} m() {} get x() { return 1; } set x(v) {} static { } }
    try { while (0); do ; while (0); } catch { } finally { }
    try { } finally { for (const a of []) for (const b in {}) ; }
    class B { a = 0; b = f(); c = f(); }
    function p(a = 1, b = f(), { c = f(), [f()]: d } = {}) {}
    async function q() { await 1; L: for await (const x of []) { break L; } }
    function* r() { yield 1; yield* r(); }`);
  assert.deepEqual(stats, { functions: 11, loops: 6, handlers: 3, initializers: 4, resumptions: 4 });
  assert.deepEqual(meter('const x = 1 + 2;'), { code: 'const x = 1 + 2;', stats: { functions: 0, loops: 0, handlers: 0, initializers: 0, resumptions: 0 } });
});

test('custom names are used throughout and must stay under the prefix', () => {
  const names: MeterNames = { pending: `${METER_PREFIX}P`, tick: `${METER_PREFIX}T`, live: `${METER_PREFIX}L`, temp: `${METER_PREFIX}V` };
  const { code } = meter('for (;;) { try {} catch {} } const f = () => 1; function* g() { const v = yield 1; }', names);
  assert.ok(!code.includes(METER_NAMES.pending) && code.includes('__frondP.getInt32(0)') && code.includes('__frondL();'));
  assert.ok(code.includes('const v = (__frondV = yield 1, __frondP.getInt32(0) && __frondT(), __frondV);'), code);
  assert.throws(() => metered('while (true) {}', fakeMeter(3), names), isAbort);
  assert.equal(metered('function* g() { const v = yield 1; return v * 2; } const it = g(); it.next(); return it.next(21).value;', fakeMeter(), names), 42);
  assert.equal(meterPrologue('meter', names), 'var __frondP = meter.pending; var __frondT = meter.tick; var __frondL = meter.live; var __frondV;');
  assert.throws(() => meter('1', { ...names, pending: 'pending' }), /must be an identifier starting with __frond/);
  assert.throws(() => meter('1', { ...names, live: names.tick }), /must differ/);
  assert.throws(() => meter('1', { ...names, temp: 'v' }), /must be an identifier starting with __frond/);
  assert.throws(() => meterPrologue('m.x'), /not an identifier/);
});

// ---- rejection ------------------------------------------------------------------------------

test('identifiers under the meter prefix are rejected with line:col', () => {
  assert.throws(() => meter('let a = 1;\nlet __frond_x = 2;'), /^Error: 2:5: identifier __frond_x is reserved/);
  assert.throws(() => meter('x = 1;\n  __frond_pending = null;'), /^Error: 2:3: identifier __frond_pending/);
  assert.throws(() => meter('let \\u005f_frond_tick;'), /^Error: 1:5: identifier __frond_tick/);
  assert.throws(() => meter('const o = {};\no.__frond_live = 1;'), /^Error: 2:3: /);
  assert.throws(() => meter('function f(__frondy) {}'), /^Error: 1:12: /);
  assert.throws(() => meter('label: for (;;) { __frond: ; }'), /^Error: 1:19: /);
});

test('code that does not parse is rejected with line:col', () => {
  assert.throws(() => meter('let a = 1;\nlet b = (;'), /^Error: 2:10: Expression expected/);
  assert.throws(() => meter('function f() {\n  return 1;\n'), /^Error: 3:1: '}' expected/);
  assert.throws(() => meter('let x: number = 1;'), /^Error: 1:8: Type annotations can only be used in TypeScript files/);
  assert.throws(() => meter('class A { m(); }'), /^Error: 1:11: /);
  assert.throws(() => meter('const e = <div/>;'), /^Error: 1:11: JSX is not JavaScript/);
});

test('syntax that could capture or hide the checks is rejected', () => {
  // With `with`, an object with a computed "__frond_pending" key would take over the checks' names.
  assert.throws(() => meter('with ({ ["__frond" + "_pending"]: null }) { while (true) {} }'), /^Error: 1:1: `with`/);
  // V8 may read these as comments where the TypeScript parser reads operators.
  assert.throws(() => meter('x = a <!--b'), /^Error: 1:7: '<!--' is rejected/);
  assert.throws(() => meter('x = a\n--> b'), /^Error: 2:1: '-->' is rejected/);
});

test('a check ticks only while the word is raised: the common case is a read and a branch', () => {
  const m = fakeMeter(Infinity, true);
  assert.equal(metered('let s = 0; for (let i = 0; i < 1000; i++) s += i; return s;', m), 499500);
  assert.equal(m.state.ticks, 1, 'the first check ticks and lowers the word; no other check ticks');
  assert.equal(metered('let s = 0; for (let i = 0; i < 1000; i++) s += i; return s;', m), 499500);
  assert.equal(m.state.ticks, 1, 'the word is down: a thousand iterations, no tick');
  m.pending.setInt32(0, 7); // any nonzero value is an interrupt
  metered('for (let i = 0; i < 3; i++);', m);
  assert.equal(m.state.ticks, 2);
});

// ---- the real bundles -----------------------------------------------------------------------

test('the repository\'s domain bundles instrument cleanly', async () => {
  // bundleDomain meters esbuild's output itself (its wrapper names the meter parameter under the
  // reserved prefix, so the finished bundle cannot be metered again): compare with an unmetered build.
  for (const dir of ['src/domains/apps/counter', 'test/domains/probe']) {
    const b = await bundleDomain(join(ROOT, dir), ROOT);
    const unmetered = await bundleDomain(join(ROOT, dir), ROOT, { meter: false });
    const stats = b.meter;
    assert.ok(b.metered && stats && stats.functions > 0 && stats.loops > 0, `${dir}: ${JSON.stringify(stats)}`);
    assert.equal(lines(b.code), lines(unmetered.code), dir);
    assert.ok(b.code.length > unmetered.code.length);
    // The bundle's completion value is a function of the meter; its module body runs metered.
    const m = fakeMeter();
    const exports = (new Function(`return ${b.code}`)() as (m: FakeMeter) => Record<string, unknown>)(m);
    assert.equal(typeof exports.start, 'function', dir);
    assert.ok(m.state.ticks > 0, `${dir} ticked`);
  }
});

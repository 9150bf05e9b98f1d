// Edge cases of the CPU-budget instrumentation (meter.ts) that meter.test.ts leaves open: the exact
// text the pass splices in where insertions meet at one position (their order decides whether the
// check lands inside or outside a construct), for-await heads that are assignment patterns rather
// than declarations, the loops a jump out of a for-await loop resumes into, which catch blocks
// count as resumable, which expressions are inert, directive prologues, and the order of parse
// errors. Where it is cheap, the instrumented code is also run with stub hooks and compared with
// the plain code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meter, meterPrologue } from './meter.ts';

/** The checks as the pass prints them with the default names. */
const CHECK = 'if (__frond_pending.getInt32(0)) __frond_tick();';
const CHECKX = '__frond_pending.getInt32(0) && __frond_tick()';
const LIVE = '__frond_live();';
const RESUMED = (e: string): string => `(__frond_temp = ${e}, ${CHECKX}, __frond_temp)`;
/** `(CHECK, e)`: a checked initializer (rules 3, 4, 5). */
const CHECKED = (e: string): string => `(${CHECKX}, ${e})`;
/** The entry of an async function `f` whose body is `body` (a leading space included). */
const ASYNC_F = (body: string): string => `async function f() { ${CHECK}${body} }`;
/** `for await (head of y);` as instrumented: the body's check, and the check after the loop. */
const FOR_AWAIT = (head: string): string => ` { for await (${head} of y){ ${CHECK} ; } ;${CHECK} }`;

const code = (js: string): string => meter(js).code;

interface Stub { readonly pending: DataView; readonly tick: () => void; readonly live: () => void; ticks: number; lives: number }

/** Hooks whose word stays raised (every check ticks) and that never abort. */
function stub(): Stub {
  const pending = new DataView(new ArrayBuffer(4));
  pending.setInt32(0, 1);
  const s: Stub = { pending, tick: () => { s.ticks++; }, live: () => { s.lives++; }, ticks: 0, lives: 0 };
  return s;
}

/** Runs `js` as a function body, instrumented, inside the prologue. */
function metered(js: string, m: Stub = stub()): unknown {
  return new Function('m', meterPrologue('m') + meter(js).code)(m);
}

function plain(js: string): unknown {
  return new Function(js)();
}

// ---- where insertions meet at one position --------------------------------------------------

test('a yield statement that is a loop body gets its check inside the loop body', () => {
  // The loop body's ` }` and the yield's `, CHECK` both go at the end of `yield x`: the yield's is
  // a closer too, and the deeper one, so it comes first.
  assert.equal(code('function* g() { while (c) yield x }'),
    `function* g() { ${CHECK} while (c) { ${CHECK} yield x, ${CHECKX} } }`);
  assert.equal(code('function* g() { for (;;) yield }'),
    `function* g() { ${CHECK} for (;;) { ${CHECK} yield, ${CHECKX} } }`);
  const js = 'function* g() { let i = 0; while (i < 3) yield i++ } return [...g()];';
  const m = stub();
  assert.deepEqual(metered(js, m), [0, 1, 2]);
  assert.equal(m.ticks, 1 + 3 + 3, 'entry, three loop bodies, three resumptions');
});

test('a checked initializer that is itself an await or yield: the check comes first, the resumption inside', () => {
  // The catch parameter's default is wrapped at its depth minus a half, the await at its own
  // depth: `(CHECK, (V = await x, CHECK, V))`, not `(V = (CHECK, await x), CHECK, V)`.
  assert.equal(code('async function f() { try {} catch ({ a = await x }) {} }'),
    ASYNC_F(` try {} catch ({ a = ${CHECKED(RESUMED('await x'))} }) { ${LIVE} ${CHECK}}`));
  assert.equal(code('function* g() { try {} catch ([a = yield]) {} }'),
    `function* g() { ${CHECK} try {} catch ([a = ${CHECKED(RESUMED('yield'))}]) { ${LIVE} ${CHECK}} }`);
  assert.equal(code('async function f() { for await (const { a = await x } of y); }'),
    ASYNC_F(FOR_AWAIT(`const { a = ${CHECKED(RESUMED('await x'))} }`)));
});

test('a for-await loop that is another loop\'s body: the check after it stays inside that body', () => {
  assert.equal(code('async function f() { while (c) for await (x of y); }'),
    ASYNC_F(` while (c) { ${CHECK}${FOR_AWAIT('x')} }`));
  assert.equal(code('async function f() { if (c) for await (x of y); else for await (z of y); }'),
    ASYNC_F(` if (c)${FOR_AWAIT('x')} else${FOR_AWAIT('z')}`));
  assert.equal(code('async function f() { for (;;) L: for await (x of y) { break L; } }'),
    ASYNC_F(` for (;;) { ${CHECK} { L: for await (x of y) { ${CHECK} { break L; } } ;${CHECK} } }`));
});

// ---- the loops a jump out of a for-await loop resumes into ------------------------------------

test('continue out of a for-await loop: the next iteration of the loop it continues checks first', () => {
  const jump = (outer: string, jumpTo = 'continue L'): string =>
    code(`async function f() { L: ${outer} { for await (x of y) { ${jumpTo}; } } }`);
  const expected = (outer: string, jumpTo = 'continue L'): string =>
    ASYNC_F(` { L: ${outer} { ${CHECK} { { for await (x of y) { ${CHECK} { ${jumpTo}; } } ;${CHECK} } } } ;${CHECK} }`);
  // A for loop without an update: its test.
  assert.equal(jump('for (; i < n;)'), expected(`for (; ${CHECKED('i < n')};)`));
  // An inert update: the test.
  assert.equal(jump('for (; i < n; 0)'), expected(`for (; ${CHECKED('i < n')}; 0)`));
  // A non-inert update comes first.
  assert.equal(jump('for (; i < n; i++)'), expected(`for (; i < n; ${CHECKED('i++')})`));
  // Neither: the body checks first anyway.
  assert.equal(jump('for (;;)'), expected('for (;;)'));
  assert.equal(jump('for (; true; 1)'), expected('for (; true; 1)'));
  // A while loop with an inert test; a do-while loop's test.
  assert.equal(jump('while (true)'), expected('while (true)'));
  assert.equal(code('async function f() { L: do { for await (x of y) { continue L; } } while (g()) }'),
    ASYNC_F(` { L: do { ${CHECK} { { for await (x of y) { ${CHECK} { continue L; } } ;${CHECK} } } } while (${CHECKED('g()')}) ;${CHECK} }`));
  // A for-of loop: its head's defaults and keys, not the iterated expression.
  assert.equal(jump('for (const x of xs)'), expected('for (const x of xs)'));
  assert.equal(jump('for (const [a = g()] of xs)'), expected(`for (const [a = ${CHECKED('g()')}] of xs)`));
  assert.equal(jump('for ([o.p] of xs)'), expected(`for ([${CHECKED('o')}.p] of xs)`));
  assert.equal(jump('for (const k in o)'), expected('for (const k in o)'));
  // A for-await loop checks its head anyway: it is not wrapped twice.
  assert.equal(code('async function f() { L: for await (const { a = g() } of z) { for await (x of y) { continue L; } } }'),
    ASYNC_F(` { L: for await (const { a = ${CHECKED('g()')} } of z) { ${CHECK} { { for await (x of y) { ${CHECK} { continue L; } } ;${CHECK} } } } ;${CHECK} }`));
  assert.equal(code('async function f() { L: for await (x of z) { for await (y of w) { continue L; } } }'),
    ASYNC_F(` { L: for await (x of z) { ${CHECK} { { for await (y of w) { ${CHECK} { continue L; } } ;${CHECK} } } } ;${CHECK} }`));
  // break does not continue the loop: nothing of it is wrapped, only the check after it.
  assert.equal(jump('for (let i = 0; i < n; i++)', 'break L'), expected('for (let i = 0; i < n; i++)', 'break L'));
});

test('an update or test that a continue resumes into and that is itself an await: the check comes first', async () => {
  // The initializer wrap is recorded last (when the pass finishes) but is the outer one: openers at
  // one position go outermost first, whatever order they were recorded in.
  const expected = (head: string): string =>
    ASYNC_F(` { L: for (${head}) { ${CHECK} { { for await (x of y) { ${CHECK} { continue L; } } ;${CHECK} } } } ;${CHECK} }`);
  assert.equal(code('async function f() { L: for (; await c;) { for await (x of y) { continue L; } } }'),
    expected(`; ${CHECKED(RESUMED('await c'))};`));
  assert.equal(code('async function f() { L: for (; c; await i) { for await (x of y) { continue L; } } }'),
    expected(`; c; ${CHECKED(RESUMED('await i'))}`));
  const js = `
    const log = [];
    async function main() {
      let i = 0;
      L: for (; i < 3; await i++) { for await (const x of [i]) { log.push(x); continue L; } }
      return log;
    }
    return main();`;
  assert.deepEqual(await metered(js), await plain(js));
});

test('jumps within a for-await loop, or inside a function in it, are not jumps out of it', () => {
  // Labels inside the loop's body: nothing to add (and nothing to crash on).
  assert.equal(code('async function f() { for await (x of y) { B: { break B; } I: for (;;) { continue I; } } }'),
    ASYNC_F(` { for await (x of y) { ${CHECK} { B: { break B; } I: for (;;) { ${CHECK} { continue I; } } } } ;${CHECK} }`));
  // A nested function may reuse an outer label: its `break L` is its own.
  assert.equal(code('async function f() { L: for (;;) { for await (x of y) { const h = () => { L: for (;;) break L; }; } } }'),
    ASYNC_F(` L: for (;;) { ${CHECK} { { for await (x of y) { ${CHECK} { const h = () => { ${CHECK} L: for (;;) { ${CHECK} break L; } }; } } ;${CHECK} } } }`));
  assert.equal(code('async function f() { L: for (; g();) { for await (x of y) { class A { m() { L: for (;;) continue L; } } } } }'),
    ASYNC_F(` L: for (; g();) { ${CHECK} { { for await (x of y) { ${CHECK} { class A { m() { ${CHECK} L: for (;;) { ${CHECK} continue L; } } } } } ;${CHECK} } } }`));
});

test('jumps out of for-await loops run as they do unmetered', async () => {
  const js = `
    const log = [];
    async function main() {
      let i = 0;
      L: for (; i < 3;) { i++; for await (const x of [1, 2]) { log.push('a' + i + x); continue L; } }
      let j = 0;
      M: while (j < 2) { j++; for await (const x of [1]) { log.push('b' + j); continue M; } }
      let k = 0;
      N: do { k++; for await (const x of [1]) { log.push('c' + k); continue N; } } while (k < 2)
      O: for (const [a = 'd'] of [[], ['e']]) { for await (const x of [1]) { log.push(a); continue O; } }
      P: for await (const { q = 'f' } of [{}, { q: 'g' }]) { for await (const x of [1, 2]) { log.push(q + x); continue P; } }
      return log;
    }
    return main();`;
  const m = stub();
  assert.deepEqual(await metered(js, m), await plain(js));
  assert.ok(m.ticks > 20);
});

// ---- for-await heads that are assignment targets ----------------------------------------------

test('for-await heads that are array patterns check their defaults and member objects', () => {
  assert.equal(code('async function f() { for await ([a = g(), , b = 1, c, ...o.p] of y); }'),
    ASYNC_F(FOR_AWAIT(`[a = ${CHECKED('g()')}, , b = 1, c, ...${CHECKED('o')}.p]`)));
  assert.equal(code('async function f() { for await ([[a = g()] = h()] of y); }'),
    ASYNC_F(FOR_AWAIT(`[[a = ${CHECKED('g()')}] = ${CHECKED('h()')}]`)));
  assert.equal(code('async function f() { for await ([, , a] of y); }'), ASYNC_F(FOR_AWAIT('[, , a]')));
  assert.equal(code('async function f() { for await ([...[a = g()]] of y); }'), ASYNC_F(FOR_AWAIT(`[...[a = ${CHECKED('g()')}]]`)));
  assert.equal(meter('async function f() { for await ([a = g(), b = h()] of y); }').stats.initializers, 2);
});

test('for-await heads that are object patterns check their defaults, computed keys and member objects', () => {
  assert.equal(code('async function f() { for await ({ a = g(), b = 1, c, [k()]: d, ["s"]: e, t: o.p, u: [v = h()], ...q.r } of y); }'),
    ASYNC_F(FOR_AWAIT(`{ a = ${CHECKED('g()')}, b = 1, c, [${CHECKED('k()')}]: d, ["s"]: e, t: ${CHECKED('o')}.p, u: [v = ${CHECKED('h()')}], ...${CHECKED('q')}.r }`)));
  assert.equal(code('async function f() { for await ({ a } of y); }'), ASYNC_F(FOR_AWAIT('{ a }')));
  assert.equal(code('async function f() { for await ({ a: b } of y); }'), ASYNC_F(FOR_AWAIT('{ a: b }')));
  assert.equal(code('async function f() { for await ({ ...r } of y); }'), ASYNC_F(FOR_AWAIT('{ ...r }')));
});

test('for-await heads that are member targets: the object is checked unless inert', () => {
  assert.equal(code('async function f() { for await ((o.p) of y); }'), ASYNC_F(FOR_AWAIT(`(${CHECKED('o')}.p)`)));
  assert.equal(code('async function f() { for await (o[k] of y); }'), ASYNC_F(FOR_AWAIT(`${CHECKED('o')}[k]`)));
  assert.equal(code('async function f() { for await (this.p of y); }'), ASYNC_F(FOR_AWAIT('this.p')));
  assert.equal(code('async function f() { for await (x of y); }'), ASYNC_F(FOR_AWAIT('x')));
});

test('for-await heads that are assignment patterns run as they do unmetered', async () => {
  const js = `
    const log = [], o = { p: 0 }, q = {}, key = () => 'k';
    const g = () => (log.push('g'), 'G');
    async function main() {
      let a, b, c, d, e;
      for await ([a = g(), , b = 1, ...o.p] of [[], [7, 8, 9, 10]]) log.push(a, b, o.p.join());
      for await ({ a = g(), b = 2, [key()]: c, t: q.t, ...d } of [{}, { a: 'A', k: 'K', t: 'T', z: 'Z' }]) log.push(a, b, c, q.t, JSON.stringify(d));
      for await ((o.p) of ['paren']) log.push(o.p);
      for await ([[e = g()] = [undefined]] of [[]]) log.push(e);
      return log;
    }
    return main();`;
  assert.deepEqual(await metered(js), await plain(js));
});

// ---- which functions can be resumed -----------------------------------------------------------

test('only catch and finally blocks of generators and async functions check on entry', () => {
  const handlers = 'try {} catch ({ a = g() }) {} finally {}';
  const ordinary = ` try {} catch ({ a = g() }) { ${LIVE}} finally { ${LIVE}}`;
  const resumable = ` try {} catch ({ a = ${CHECKED('g()')} }) { ${LIVE} ${CHECK}} finally { ${LIVE} ${CHECK}}`;
  // At the top level and in ordinary functions, methods, accessors, constructors and arrows.
  assert.equal(code(handlers), `try {} catch ({ a = g() }) { ${LIVE}} finally { ${LIVE}}`);
  assert.equal(code(`function f() { ${handlers} }`), `function f() { ${CHECK}${ordinary} }`);
  assert.equal(code(`const f = function () { ${handlers} };`), `const f = function () { ${CHECK}${ordinary} };`);
  assert.equal(code(`const f = () => { ${handlers} };`), `const f = () => { ${CHECK}${ordinary} };`);
  assert.equal(code(`class A { static m() { ${handlers} } }`), `class A { static m() { ${CHECK}${ordinary} } }`);
  assert.equal(code(`class A { constructor() { ${handlers} } }`), `class A { constructor() { ${CHECK}${ordinary} } }`);
  assert.equal(code(`class A { static { ${handlers} } }`), `class A { static { ${CHECK}${ordinary} } }`);
  assert.equal(code(`const o = { get x() { ${handlers} } };`), `const o = { get x() { ${CHECK}${ordinary} } };`);
  // In generators and async functions, with any other modifiers.
  assert.equal(code(`function* f() { ${handlers} }`), `function* f() { ${CHECK}${resumable} }`);
  assert.equal(code(`class A { static async m() { ${handlers} } }`), `class A { static async m() { ${CHECK}${resumable} } }`);
  assert.equal(code(`class A { static *m() { ${handlers} } }`), `class A { static *m() { ${CHECK}${resumable} } }`);
  assert.equal(code(`class A { static async *m() { ${handlers} } }`), `class A { static async *m() { ${CHECK}${resumable} } }`);
  assert.equal(code(`const f = async () => { ${handlers} };`), `const f = async () => { ${CHECK}${resumable} };`);
  // A static block in an async function is an activation of its own.
  assert.equal(code(`async function f() { class A { static { ${handlers} } } }`),
    ASYNC_F(` class A { static { ${CHECK}${ordinary} } }`));
  // A catch in a field initializer's arrow, in an async function.
  assert.equal(code(`async function f() { class A { x = () => { ${handlers} }; } }`),
    ASYNC_F(` class A { x = () => { ${CHECK}${ordinary} }; }`));
  assert.deepEqual(meter(`function f() { ${handlers} } function* g() { ${handlers} }`).stats,
    { functions: 2, loops: 0, handlers: 4, initializers: 1, resumptions: 0 });
});

// ---- field initializers of derived classes ----------------------------------------------------

test('a derived class without a constructor checks its first non-inert field, whatever other members it has', () => {
  assert.equal(code('class B extends A { x = f(); m() {} get g() { return 1; } static { } }'),
    `class B extends A { x = ${CHECKED('f()')}; m() { ${CHECK}} get g() { ${CHECK} return 1; } static { ${CHECK} } }`);
  assert.equal(code('class B extends A { static s = f(); x = 1; y = g(); }'),
    `class B extends A { static s = f(); x = 1; y = ${CHECKED('g()')}; }`);
  assert.equal(code('const B = class extends A { x = f(); constructor() { super(); } };'),
    `const B = class extends A { x = f(); constructor() { ${CHECK} super(); } };`);
});

// ---- patterns in parameters -------------------------------------------------------------------

test('parameter array patterns with holes and rest elements check every default', () => {
  assert.equal(code('function f([, a = g(), , [b = h()] = i(), ...[c = j()]]) {}'),
    `function f([, a = ${CHECKED('g()')}, , [b = ${CHECKED('h()')}] = ${CHECKED('i()')}, ...[c = ${CHECKED('j()')}]]) { ${CHECK}}`);
  const js = 'function f([, a = "A", , [b = "B"] = [], ...[c = "C"]]) { return [a, b, c]; } return [f([]), f([1, 2, 3, [4], 5])];';
  assert.deepEqual(metered(js), plain(js));
});

// ---- inert expressions ------------------------------------------------------------------------

test('inertness of prefix operators: `!` and `void` of inert operands, numeric signs of literals only', () => {
  const checked = (e: string): boolean => meter(`function f(a = ${e}) {}`).stats.initializers === 1;
  for (const e of ['!true', '!this', '!!0', '!(1)', '!function () {}', '-1', '+1', '~1', '-1n', 'void 0', 'void !null', '(((1)))', '!(void 0)']) {
    assert.equal(checked(e), false, `${e} is inert`);
  }
  for (const e of ['!x', '-x', '-"1"', '-(1)', '-[]', '+true', '~null', '!-x', '+{}', 'void x', '!(x)', '++x', '--x', '-+1']) {
    assert.equal(checked(e), true, `${e} is not inert`);
  }
  assert.equal(code('function f(a = !true, b = -"1") {}'), `function f(a = !true, b = ${CHECKED('-"1"')}) { ${CHECK}}`);
});

test('inertness of array and object literals: every element must be inert, spreads never are', () => {
  const checked = (e: string): boolean => meter(`function f(a = ${e}) {}`).stats.initializers === 1;
  for (const e of ['[]', '[, ,]', '[1, [2, [3]]]', '[() => 1]', '{ a: [1], b: { c: "d" } }', '{ m() {}, get g() { return 1; }, set s(v) {} }']) {
    assert.equal(checked(e), false, `${e} is inert`);
  }
  for (const e of ['[f()]', '[1, f()]', '[1, , x]', '[...[]]', '[...[1]]', '[1, ...[]]', '{ a: f() }', '{ a: [x] }', '{ ...{} }', '{ [1]: 1 }',
    '{ [1]() {} }', '{ get [1]() { return 1; } }', '{ set [1](v) {} }', '{ a }']) {
    assert.equal(checked(e), true, `${e} is not inert`);
  }
});

// ---- directive prologues ----------------------------------------------------------------------

test('the entry check goes after the directive prologue, joined by one space or by `; `', () => {
  assert.equal(code('function f() { "use strict"; }'), `function f() { "use strict"; ${CHECK} }`);
  assert.equal(code('function f() { \'use strict\';}'), `function f() { 'use strict'; ${CHECK}}`);
  assert.equal(code('function f() { "a";"b";x }'), `function f() { "a";"b"; ${CHECK}x }`);
  // No semicolon: one is added, so the check does not continue the directive's line.
  assert.equal(code('function f() { "use strict"\n}'), `function f() { "use strict"; ${CHECK}\n}`);
  assert.equal(code('function f() { "a"; "b"\n  return 1 }'), `function f() { "a"; "b"; ${CHECK}\n  return 1 }`);
  // A string statement after the first non-directive is not a directive.
  assert.equal(code('function f() { x; "use strict"; }'), `function f() { ${CHECK} x; "use strict"; }`);
  const js = 'function f() { "use strict"\n return this === undefined } function g() { "a"; "use strict"; return this === undefined } return [f(), g()];';
  assert.deepEqual(metered(js), [true, true]);
});

// ---- the guard before a resumption that starts a statement ------------------------------------

test('a `;` guard goes before a wrapped await only where it starts a statement in a statement list', async () => {
  const guarded = `;${RESUMED('await x')} + 1;`;
  const bare = `${RESUMED('await x')} + 1;`;
  assert.equal(code('async function f() { await x + 1; }'), ASYNC_F(` ${guarded}`));
  assert.equal(code('async function f() { switch (k) { case 1: await x + 1; default: await x + 1; } }'),
    ASYNC_F(` switch (k) { case 1: ${guarded} default: ${guarded} }`));
  // Not where the statement is the only body of an if, else, label or loop: `if (c) ;(...)` would
  // run the expression unconditionally.
  assert.equal(code('async function f() { if (c) await x + 1; else await x + 1; }'), ASYNC_F(` if (c) ${bare} else ${bare}`));
  assert.equal(code('async function f() { L: await x + 1; }'), ASYNC_F(` L: ${bare}`));
  assert.equal(code('async function f() { while (c) await x + 1; }'), ASYNC_F(` while (c) { ${CHECK} ${bare} }`));
  // Not where the await is not the statement's first token, or not in an expression statement.
  assert.equal(code('async function f() { a + await x; }'), ASYNC_F(` a + ${RESUMED('await x')};`));
  assert.equal(code('async function f() { const v = await x; return await x; }'), ASYNC_F(` const v = ${RESUMED('await x')}; return ${RESUMED('await x')};`));
  assert.equal(code('async function f() { g(async () => await x + 1); }'),
    ASYNC_F(` g(async () => ${CHECKED(`${RESUMED('await x')} + 1`)});`));
  const js = 'let n = 0; async function f(c) { if (c) await 1 + n++; return n; } return Promise.all([f(false), f(false), f(true)]);';
  assert.deepEqual(await metered(js), await plain(js));
});

// ---- parse errors -----------------------------------------------------------------------------

test('of several syntax errors, the first in the text is reported', () => {
  // The JavaScript-only diagnostics (type annotations) come after the parser's in TypeScript's list.
  assert.throws(() => meter('let x: number = 1;\nlet b = (;'), /^Error: 1:8: Type annotations can only be used in TypeScript files/);
  assert.throws(() => meter('let b = (;\nlet x: number = 1;'), /^Error: 1:10: Expression expected/);
  assert.throws(() => meter('let a = 1;\nlet x: number = 1; function f(y: string) {}\nlet b = (;'), /^Error: 2:8: Type annotations/);
  assert.throws(() => meter('let a = 1;\nfunction f(y?) {}\nlet b = (;\nlet x: T;'), /^Error: 2:13: The '\?' modifier can only be used in TypeScript files/);
});

// ---- a bug these found (failed before the fix in meter.ts firstFieldNeedingCheck) -----------------

test('a derived class whose only "constructor" is a static method checks its fields', () => {
  assert.equal(code('class T extends A { x = f(); static constructor() {} }'),
    `class T extends A { x = ${CHECKED('f()')}; static constructor() { ${CHECK}} }`);
  assert.equal(code('class T extends A { x = f(); static \'constructor\'() {} }'),
    `class T extends A { x = ${CHECKED('f()')}; static 'constructor'() { ${CHECK}} }`);
  // 100 constructions of T through its field initializer, none entering a domain function body:
  // each must check (without the `static constructor` method they do: 101 ticks).
  const m = stub();
  assert.equal(metered('let n = 0; class A {} class T extends A { a = n < 100 ? (n++, new T()) : 0; static constructor() {} } new T(); return n;', m), 100);
  assert.ok(m.ticks >= 100, `${m.ticks} checks for 100 constructions`);
});

// ---- names ------------------------------------------------------------------------------------

test('meter names must be distinct identifiers that start with the prefix', () => {
  const names = { pending: '__frondP', tick: '__frondT', live: '__frondL', temp: '__frondV' };
  assert.equal(meter('for (;;);', names).code, 'for (;;){ if (__frondP.getInt32(0)) __frondT(); ; }');
  assert.equal(meter('try {} finally {}', names).code, 'try {} finally { __frondL();}');
  for (const bad of ['x__frond', '__frond-x', '__frond x', '', '1__frond', '__fron']) {
    assert.throws(() => meter('1', { ...names, tick: bad }), new RegExp(`^Error: meter: name '${bad}' must be an identifier starting with __frond$`), bad);
    assert.throws(() => meterPrologue('m', { ...names, live: bad }), /must be an identifier starting with __frond/, bad);
  }
  assert.throws(() => meter('1', { ...names, temp: names.pending }), /^Error: meter: the pending, tick, live and temp names must differ$/);
  assert.throws(() => meterPrologue('m', { ...names, tick: names.live }), /must differ/);
  assert.equal(meter('1', { ...names, temp: '__frond$_9' }).code, '1');
  assert.throws(() => meterPrologue('1m'), /^Error: meter: '1m' is not an identifier$/);
  assert.throws(() => meterPrologue(''), /not an identifier/);
  assert.equal(meterPrologue('$m'), 'var __frond_pending = $m.pending; var __frond_tick = $m.tick; var __frond_live = $m.live; var __frond_temp;');
});

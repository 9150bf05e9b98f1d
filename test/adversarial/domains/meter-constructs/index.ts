// Hostile domain (meter-constructs): each `what` runs away through one construct that has no
// function entry or loop of its own, or that resumes a function in the middle: field initializers
// of classes constructed without a constructor body, parameter defaults that never reach the body,
// generators and async functions resumed from outside (next, return, a settled await, for-await).
// The CPU meter (src/tools/domainc/meter.ts) must still stop each within its budget. A second group
// drives domain callbacks from built-ins (sort, replace, JSON, Proxy, ...), which the function-entry
// checks have always stopped; it guards them.
// It is built, signed and loaded like any other domain (unchecked, like every hostile domain);
// test/adversarial/meter-constructs.test.ts checks that what it attempts is contained.
//
// `run(what, 1)` prepares a case that needs a pool of paused generators or async functions (each
// entered, and checked, once); `run(what, 0)` and `runAsync(what, 0)` attack.
import type { Counter, Probe } from '../../../../src/idl/demo.ts';
import type { Config, Sys } from '../../../../src/idl/lib/sys.ts';
import { ok } from '../../../../src/lib/result.ts';

/** 2^48 constructions: forever. */
const DEPTH = 48;
let d = 0;

// ---- field initializers of classes without a constructor body: an exponential tree ------------

class Tree {
  a = d < DEPTH ? (d++, new Tree(), new Tree(), d--) : 0;
}

class PrivateTree {
  #a = d < DEPTH ? (d++, new PrivateTree(), new PrivateTree(), d--) : 0;
  get a(): number { return this.#a; }
}

class Base {}
class DerivedTree extends Base {
  a = d < DEPTH ? (d++, new DerivedTree(), new DerivedTree(), d--) : 0;
}

class AccessorTree {
  accessor a = d < DEPTH ? (d++, new AccessorTree(), new AccessorTree(), d--) : 0;
}

/** Constructed by a built-in only: Reflect.construct and Array.from, no domain function between. */
class BuiltinTree {
  a = d < DEPTH ? (d++, Reflect.construct(BuiltinTree, []), Array.from([BuiltinTree], Reflect.construct.bind(null, BuiltinTree, [])), d--) : 0;
}

// ---- parameter defaults: a promise job that schedules the next, then fails before its body ----

const settled = Promise.resolve();
const NOTHING = null as unknown as { x: unknown };

function job(_v?: unknown, _next: unknown = settled.then(job).catch(Object), _fail: unknown = NOTHING.x): void {}

function patternJob({ next = settled.then(patternJob as () => void).catch(Object) }: { next?: unknown } = {}, _fail: unknown = NOTHING.x): void {
  void next;
}

// ---- pools of paused generators and async functions, resumed from outside ---------------------

/** Bounded native work for one resumption (a scan of 100,000 elements: some 50 µs). */
const big: number[] = new Array<number>(100_000).fill(0);
let sink = 0;
const POOL = 8000;
// Function.prototype.call (the global `Function` is not given to domains)
const call = (() => 0).call;

function* worker(): Generator<void, void, unknown> {
  // 25 resumptions, straight-line: no loop, no call of a domain function.
  yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1);
  yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1);
  yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1);
  yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1);
  yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1);
  yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1);
  yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1);
  yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1); yield; sink += big.indexOf(-1);
  yield; sink += big.indexOf(-1);
}

/** return() runs its finally blocks: five of them, nested, in one resumption, four scans each. */
function* closer(): Generator<void, void, unknown> {
  try {
    try {
      try {
        try {
          try { yield; } finally { sink += big.indexOf(-1) + big.indexOf(-2) + big.indexOf(-3) + big.indexOf(-4); }
        } finally { sink += big.indexOf(-1) + big.indexOf(-2) + big.indexOf(-3) + big.indexOf(-4); }
      } finally { sink += big.indexOf(-1) + big.indexOf(-2) + big.indexOf(-3) + big.indexOf(-4); }
    } finally { sink += big.indexOf(-1) + big.indexOf(-2) + big.indexOf(-3) + big.indexOf(-4); }
  } finally { sink += big.indexOf(-1) + big.indexOf(-2) + big.indexOf(-3) + big.indexOf(-4); }
}

let open: () => void = () => {};
let gate: Promise<void> = Promise.resolve();
const EMPTY: number[] = [];

async function waiter(): Promise<void> {
  await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1);
  await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1);
  await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1);
  await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1);
  await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1);
  await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1);
  await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1);
  await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1); await gate; sink += big.indexOf(-1);
  await gate; sink += big.indexOf(-1);
}

/** Waits at the gate once, then leaves 25 for-await loops over nothing (the implicit await of each
 *  resumes it after the loop). */
async function leaver(): Promise<void> {
  await gate;
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1); for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
  for await (const _ of EMPTY) sink++; sink += big.indexOf(-1);
}

let generators: Generator<void, void, unknown>[] = [];
let pending: Promise<void>[] = [];

/** A pool of POOL paused generators, each entered once (natively: no domain function in between). */
function startGenerators(make: () => Generator<void, void, unknown>): number {
  generators = Array.from(Array<undefined>(POOL), make);
  const next = generators[0]!.next;
  generators.forEach(call, next);
  return generators.length;
}

/** A pool of POOL async functions waiting at a closed gate. */
function startWaiters(make: () => Promise<void>): number {
  gate = new Promise<void>((resolve) => { open = resolve; });
  pending = Array.from(Array<undefined>(POOL), make);
  return pending.length;
}

// ---- callbacks driven by built-ins: exponential recursion, 2^48 calls, none deeper than 48 -------
// (Deep enough to run forever, shallow enough never to reach the stack's end.)

const pair = [2, 1];
function sortCompare(): number {
  if (d < DEPTH) { d++; pair.slice().sort(sortCompare); pair.slice().sort(sortCompare); d--; }
  return 0;
}
function replacer(): string {
  if (d < DEPTH) { d++; 'a'.replace('a', replacer); 'a'.replace('a', replacer); d--; }
  return '';
}
function reviver(_k: string, v: unknown): unknown {
  if (d < DEPTH) { d++; JSON.parse('0', reviver); JSON.parse('0', reviver); d--; }
  return v;
}
const viaGetter = {
  get g(): number {
    if (d < DEPTH) { d++; JSON.stringify(viaGetter); JSON.stringify(viaGetter); d--; }
    return 0;
  },
};
const viaProxy: Record<string, unknown> = new Proxy({}, {
  get(): unknown {
    if (d < DEPTH) { d++; void viaProxy.x; void viaProxy.x; d--; }
    return 0;
  },
});
const viaString = {
  toString(): string {
    if (d < DEPTH) { d++; void `${viaString}`; void `${viaString}`; d--; }
    return '';
  },
};
function* nested(): Generator<number, void, unknown> {
  if (d < DEPTH) { d++; yield* nested(); yield* nested(); d--; }
  yield 1;
}
class Constructed {
  constructor() {
    if (d < DEPTH) { d++; Reflect.construct(Constructed, []); Reflect.construct(Constructed, []); d--; }
  }
}
const thenable = { then(resolve: (v: unknown) => void): void { resolve(thenable); } };

const attacks: Record<string, (prepare: boolean) => number> = {
  // escaped the meter before it checked these constructs
  'field-tree': () => new Tree().a,
  'private-field-tree': () => new PrivateTree().a,
  'derived-field-tree': () => new DerivedTree().a,
  'accessor-field-tree': () => new AccessorTree().a,
  'builtin-field-tree': () => new BuiltinTree().a,
  'generator-pool': (prepare) => {
    if (prepare) return startGenerators(worker);
    const next = generators[0]!.next;
    Array(25).fill(0).forEach(call, Array.prototype.forEach.bind(generators, call, next));
    return sink;
  },
  'generator-return-pool': (prepare) => {
    if (prepare) return startGenerators(closer);
    generators.forEach(call, generators[0]!.return);
    return sink;
  },
  'async-pool': (prepare) => (prepare ? startWaiters(waiter) : 0),
  'for-await-pool': (prepare) => (prepare ? startWaiters(leaver) : 0),
  // always stopped by function-entry checks
  'sort': () => sortCompare(),
  'replace': () => replacer().length,
  'reviver': () => Number(reviver('', 0)),
  'getter': () => JSON.stringify(viaGetter).length,
  'proxy': () => Number(viaProxy.x),
  'to-string': () => `${viaString}`.length,
  'yield-star': () => new Set(nested()).size,
  'reflect-construct': () => (Reflect.construct(Constructed, []) ? 1 : 0),
};

const asyncAttacks: Record<string, () => Promise<number>> = {
  'param-jobs': () => {
    try { job(); } catch { /* the first call fails too, having scheduled the next */ }
    return new Promise<number>(() => {});
  },
  'pattern-param-jobs': () => {
    try { patternJob(); } catch { /* the first call fails too, having scheduled the next */ }
    return new Promise<number>(() => {});
  },
  'async-pool': async () => {
    open();
    await Promise.all(pending);
    return sink;
  },
  'for-await-pool': async () => {
    open();
    await Promise.all(pending);
    return sink;
  },
  'thenable': async () => {
    await thenable;
    return 0;
  },
};

export function init(sys: Sys, imports: { counter?: Counter }, _config: Config): Probe {
  void sys;
  void imports;
  return {
    run: (what, arg) => ok(attacks[what]!(arg === 1)),
    runAsync: async (what) => ok(await asyncAttacks[what]!()),
    keep: () => ok(undefined),
    hold: () => ok(undefined),
    page: () => ok(null),
    ring: (r) => ok(r),
  };
}

// CPU-budget instrumentation: the trusted build's pass that makes domain code stoppable.
//
// Input is the JavaScript esbuild printed for one domain (ES2022, a CommonJS body). TypeScript
// syntax, decorators, `accessor` fields and `using` are already lowered to plain JavaScript, and
// esbuild's helpers (__publicField, __decorateElement, __runInitializers, __using, __callDispose,
// ...) are part of the text: they are metered like the rest, and the argument below is about this
// output, whatever source syntax produced it. A check is `if (P.getInt32(0)) T();` (CHECK below), or
// `P.getInt32(0) && T()` as an expression, where P is the host's preemption timer word (a DataView
// over shared memory that another thread raises every millisecond, see kernel/budget.ts) and T the
// kernel's tick, which clears it, charges the time and returns or throws the kernel's abort; L is
// the kernel's liveness hook, which throws once the domain is dead; V is a temporary. (P, T, L, V
// are the names in MeterNames.) Checks are safe points in the compiler's sense: the only places a
// domain can be interrupted. The pass inserts:
//
//   1. entry       CHECK first in every function body, after its directive prologue (declarations,
//                  expressions, arrows, methods, accessors, constructors, generators, async
//                  functions), `(CHECK, e)` around an arrow's expression body, CHECK first in every
//                  class static block.
//   2. loops       `{ CHECK body }` around the body of every while, do-while, for, for-in, for-of
//                  and for-await loop.
//   3. parameters  `(CHECK, e)` around every default value and computed key in a parameter list
//                  (patterns included) whose expression e is not inert (below).
//   4. fields      `(CHECK, e)` around the first non-inert instance-field initializer of each
//                  class, unless the class is derived and has a constructor.
//   5. resumption  after every yield, yield* and await: `(V = yield e, CHECK, V)`, or
//                  `yield e, CHECK;` where the value is unused; `{ S ;CHECK }` around every
//                  for-await loop S (with its labels) and around every labeled statement S that a
//                  break or continue inside a for-await loop jumps to; `(CHECK, e)`, as in 3, around
//                  the non-inert defaults and keys of for-await heads and of catch parameters in
//                  generators and async functions, and around what the loop such a continue goes on
//                  with evaluates before its body (a for loop's update or else its test, a while
//                  loop's test, a for-of or for-in head's defaults and keys).
//   6. handlers    `L();` first in every catch and finally block; `L(); CHECK` in those of
//                  generators and async functions.
//
// An expression is *inert* if evaluating it can run no code but the engine's: a literal (number,
// string, bigint, boolean, null, regexp, template without substitutions, `-1`), `this`, a function
// or arrow expression (it only makes a closure), `!` or `void` of an inert expression, and array or
// object literals of inert parts (no spread, shorthand or computed key; methods and accessors
// allowed). Identifiers are not inert (a global can be an accessor). So `count = 0`, `items = []`,
// `opts = {}` or `onEvent = () => {}` cost nothing; `m = new Map()` costs a check per construction.
//
// ---- Why every piece of domain code reaches a check within a bounded amount of work ----------
//
// An *entry* is any way control comes into domain code from elsewhere: a call or a construction of
// a domain function or class, whoever makes it (domain code, a tagged template, an optional call,
// super(), a bound function, or a built-in calling back: sort comparators, replace callbacks,
// JSON.parse revivers and toJSON, Array.from's mapFn, Proxy traps, getters and setters run by any
// built-in, toString, valueOf and Symbol.toPrimitive, Symbol.hasInstance, a thenable's then,
// iterator protocols, Reflect.apply and Reflect.construct, promise jobs, the kernel); or a
// resumption of a suspended generator or async function (next(), throw(), return(), a settled
// await, for-await's implicit await).
//
// (E) Every entry runs a check before any loop, and before it evaluates any expression that is
//     not inert:
//   - a call: the parameters are bound left to right; a default or computed key that is not inert
//     starts with a check (3); then the body starts with one (1).
//   - a construction of a base class runs the instance fields, then the constructor's parameters
//     and body. The first non-inert field initializer starts with a check (4); those before it are
//     inert, and those after it run in the same straight line (a class's field initializers always
//     run together, in order). Of a derived class with a constructor: its body checks (1) before
//     super() can run, and the fields run when super() returns, inside that body (or inside an
//     arrow or a parameter default of the constructor: checked by 1 and 3). Of a derived class
//     without one: the implicit constructor constructs the parent (an entry), then its fields run
//     as for a base class. A class with neither a constructor nor a non-inert initializer runs no
//     domain expression at all. (This covers `#private` fields, `accessor` fields, which esbuild
//     lowers to private fields, and fields it lowers to __publicField calls in a constructor.)
//   - a generator: calling it binds the parameters (3) and runs nothing else; the first next()
//     enters the body (1); a later next() resumes after a yield (5); throw() and return() resume in
//     a catch or finally block (6), or complete the generator without running anything. A resumption
//     inside yield* only forwards to the inner iterator's next, throw or return (an entry: a domain
//     method or generator; or a built-in), and continues after yield* only when that is done (5).
//   - an async function: a call runs the body (1); a continuation resumes after an await (5), or in
//     a catch or finally block if the awaited promise rejected (6), or after for-await's implicit
//     await: into the loop's head (5) and body (2), or out of the loop to the check after it; if a
//     break or continue left the loop (awaiting the iterator's return()), to the check after the
//     statement it jumped to, or into the next iteration of the loop it continued, whose update,
//     test or head checks first (5). Async generators have both kinds of resumption points; their
//     yields await.
//   - class static blocks, static field initializers and computed member keys run once each time
//     a class definition is evaluated, as straight-line code of the activation evaluating it
//     (static blocks check anyway, 1). Catch and finally blocks of an ordinary function are reached
//     only by a throw within the same activation: straight-line code of it too.
//   Before its check an entry may only bind parameters (destructuring values it was given: the
//   getters, iterators and Proxy traps this runs are entries themselves, or built-ins), evaluate
//   inert expressions, and throw.
//
// (L) Every loop iteration runs a check (2); `continue`, labeled or not, starts an iteration.
//
// (S) Apart from loops, code within one activation runs forward only: the only backward jumps in
//     JavaScript are loop back-edges, and resumption, which is an entry.
//
// So between two consecutive checks the domain runs no more than: the straight-line rest of the
// activation that checked; the straight-line rest of each activation below it as calls return or
// throw (at most the engine's stack depth of them); and entries that complete or throw before their
// check, each doing at most what its parameter list does and entering nothing but entries. That is
// at most about (stack depth) x (code size) steps of domain code. Recursion is no exception: each
// recursive call is an entry and checks before it can recurse again, in its body, a parameter
// default or a field initializer. Only recursion through parameter destructuring alone (an
// argument whose getter is a bound built-in, such as Reflect.apply, calling the function again)
// evaluates no domain expression on the way: it is bounded by the stack, or is a loop of built-ins
// (below). Where the argument needs
// no check none is added: inert fields and defaults, catch and finally in ordinary functions,
// static initializers; every other check sits where the argument uses it.
//
// What remains outside is native code, where no inserted check can be: one built-in call that runs
// long by itself ('x'.repeat(2 ** 28), Array(n).fill(), a catastrophic regular expression,
// JSON.parse, sort or Array.from over a huge input, a call through a chain of a million bound
// functions or proxies), and loops made of built-ins alone: a promise job, forEach or Array.from
// whose callbacks and accessors are all built-ins (bound built-ins, e.g. a bound Reflect.get whose
// getter is a bound `then` that schedules it again, or Array.from over an array's iterator with a
// bound push as mapFn). Such a loop runs no domain code, or only entries that throw while binding
// their parameters. A worker-isolated domain, which can be terminated, is the answer to all of these
// (SECURITY.md). Code built at run time by an evaluator is not metered: the kernel gives domains none.
//
// ---- Design notes -------------------------------------------------------------------------------
//
// Why a shared word: the common case of a check is one load and a branch that is not taken, with
// nothing stored and the call almost never made. The first design decremented a counter in a
// closure variable at every check and called T every thousand, and cost clearly more on the
// language-tax hash table (the figures are in the README). A typed-array load measured the same as
// the DataView; DataView reads are not slowed by SES lockdown, unlike typed arrays (endo#1563). The prologue binds the names with
// `var`, not `let`: an inner function's access to an outer `let` carries a TDZ hole check, which on
// V8 11 made tight loops about twice as slow again. Domain code cannot name P, T, L or V: any
// identifier starting with METER_PREFIX is rejected, so it can neither read, assign nor shadow them.
// V is one variable for all of a domain's code: between its assignment and its read only the check
// runs, and T runs no code of the domain.
//
// Why catch and finally re-check: the abort is an ordinary exception, so `catch (e) {}` or a
// `finally { for (;;) {} }` would otherwise swallow it or outlive it. When T throws, it leaves the
// word raised, so the very next check ticks and throws again (the kernel's tick keeps throwing
// once a domain is dead); a handler with no check in it calls L first, which throws if the domain
// was aborted.
//
// Why splices: the pass parses with the TypeScript compiler API only to find positions, then
// inserts text into the original string (sorted, never re-printing the AST), and never inserts a
// line break. Each line of the output is its input line with some text added, so the esbuild source
// map for the input still names the right TypeScript line for every output line (columns within a
// line shift; crash reports name lines).
//
// What the checks assume:
//   - the code runs as strict code, as SES compartments evaluate it (a sloppy direct `eval` could
//     declare a variable that shadows P); `with` is rejected outright, since an object with a
//     computed `__frond_pending` key would capture the checks. HTML-like comments (`<!--`, `-->`) are
//     rejected as SES rejects them: V8 and the TypeScript parser read them differently.
//   - the engine's stack is bounded, and T can abort the domain wherever a check runs, near the end
//     of the stack too: a RangeError thrown by T (or by the crash it starts) instead of the abort is
//     an ordinary exception the domain can catch.
import ts from 'typescript';

/** Every identifier the meter uses starts with this; domain code may use none that do. */
export const METER_PREFIX = '__frond';

/** The meter's variables: the interrupt-pending word, the kernel's tick and live hooks, and the
 *  temporary that carries a resumed `yield`'s or `await`'s value across the check after it. */
export interface MeterNames { pending: string; tick: string; live: string; temp: string }

export const METER_NAMES: MeterNames = Object.freeze({
  pending: `${METER_PREFIX}_pending`,
  tick: `${METER_PREFIX}_tick`,
  live: `${METER_PREFIX}_live`,
  temp: `${METER_PREFIX}_temp`,
});

/** How many checks the pass inserted: function entries (1), loop bodies (2), catch and finally
 *  blocks (6), parameter, field, catch-parameter and for-await-head initializers (3, 4, 5), and
 *  resumption points: after each yield and await, and after for-await loops and the statements a
 *  jump out of one lands after (5). */
export interface MeterStats { functions: number; loops: number; handlers: number; initializers: number; resumptions: number }

/** One piece of text to insert. At one position, closers go before openers; openers go outermost
 *  (least deep) first and closers innermost first. A wrap around a node that is not itself an
 *  instrumented node's body uses the node's depth minus a half: inside its parent, outside it. */
interface Insertion { pos: number; text: string; depth: number; closes: boolean }

/** The texts the pass inserts, built once from the names. */
interface Checks { stmt: string; expr: string; live: string; temp: string }

type FunctionWithBody =
  | ts.FunctionDeclaration | ts.FunctionExpression | ts.ArrowFunction | ts.MethodDeclaration
  | ts.ConstructorDeclaration | ts.GetAccessorDeclaration | ts.SetAccessorDeclaration
  | ts.ClassStaticBlockDeclaration;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const HTML_COMMENT = /<!--|-->/;

/**
 * Instruments `js`. Throws an Error naming line:col if the code does not parse, or if any
 * identifier in it starts with METER_PREFIX (domain code must not be able to reach or shadow the
 * meter's variables). Also refuses `with`, HTML-like comments and JSX (see the header). Line
 * breaks are preserved exactly (insert text only within lines) so an esbuild source map for the
 * input stays line-accurate for the output.
 */
export function meter(js: string, names: MeterNames = METER_NAMES): { code: string; stats: MeterStats } {
  checkNames(names);
  const sf = ts.createSourceFile('domain.js', js, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const html = HTML_COMMENT.exec(js);
  if (html) fail(sf, html.index, `'${html[0]}' is rejected: V8 may read it as an HTML-like comment`);
  rejectSyntaxErrors(sf);
  const checks: Checks = {
    // (A number's truth is `!== 0`; without the comparison each check is a few bytes of bytecode
    // shorter, and V8's inlining budget is counted in bytecode.)
    stmt: `if (${names.pending}.getInt32(0)) ${names.tick}();`,
    expr: `${names.pending}.getInt32(0) && ${names.tick}()`,
    live: `${names.live}();`,
    temp: names.temp,
  };
  const pass = new Pass(sf, checks);
  const visit = (node: ts.Node, depth: number): void => {
    reject(sf, node);
    pass.instrument(node, depth);
    ts.forEachChild(node, (child) => visit(child, depth + 1));
  };
  visit(sf, 0);
  return { code: splice(js, pass.finish()), stats: pass.stats };
}

/**
 * The wrapper prologue the bundle puts around metered code: binds pending/tick/live from a meter
 * object parameter (MeterHooks in kernel/domain.ts) and declares the temporary, with `var`, not
 * `let` (see the header). It belongs at the top of the wrapper *function*, so the variables are
 * that function's locals. `tick` and `live` are called without a receiver.
 */
export function meterPrologue(meterParam: string, names: MeterNames = METER_NAMES): string {
  checkNames(names);
  if (!IDENTIFIER.test(meterParam)) throw new Error(`meter: '${meterParam}' is not an identifier`);
  return `var ${names.pending} = ${meterParam}.pending; var ${names.tick} = ${meterParam}.tick; var ${names.live} = ${meterParam}.live; var ${names.temp};`;
}

/** The names must be distinct identifiers under METER_PREFIX, or the prefix check protects nothing. */
function checkNames(names: MeterNames): void {
  const all = [names.pending, names.tick, names.live, names.temp];
  for (const n of all) {
    if (!IDENTIFIER.test(n) || !n.startsWith(METER_PREFIX)) {
      throw new Error(`meter: name '${n}' must be an identifier starting with ${METER_PREFIX}`);
    }
  }
  if (new Set(all).size !== all.length) throw new Error('meter: the pending, tick, live and temp names must differ');
}

function fail(sf: ts.SourceFile, pos: number, message: string): never {
  const { line, character } = sf.getLineAndCharacterOfPosition(pos);
  throw new Error(`${line + 1}:${character + 1}: ${message}`);
}

/** Parse errors, and TypeScript-only syntax (type annotations, signatures) the JS parser accepts. */
function rejectSyntaxErrors(sf: ts.SourceFile): void {
  const options: ts.CompilerOptions = { allowJs: true, noLib: true, noResolve: true, types: [] };
  const host = ts.createCompilerHost(options);
  host.getSourceFile = (name) => (name === sf.fileName ? sf : undefined);
  const diagnostics = ts.createProgram([sf.fileName], options, host).getSyntacticDiagnostics(sf);
  const first = [...diagnostics].sort((a, b) => (a.start ?? 0) - (b.start ?? 0))[0];
  if (first) fail(sf, first.start ?? 0, ts.flattenDiagnosticMessageText(first.messageText, ' '));
}

/** Nodes the pass refuses: reserved names, and syntax that could redirect or hide the checks. */
function reject(sf: ts.SourceFile, node: ts.Node): void {
  if (ts.isIdentifier(node) && node.text.startsWith(METER_PREFIX)) {
    fail(sf, node.getStart(sf), `identifier ${node.text} is reserved for the CPU meter (prefix ${METER_PREFIX})`);
  }
  if (ts.isWithStatement(node)) fail(sf, node.getStart(sf), '`with` is not allowed in metered code');
  if (ts.isJsxElement(node) || ts.isJsxSelfClosingElement(node) || ts.isJsxFragment(node)) {
    fail(sf, node.getStart(sf), 'JSX is not JavaScript');
  }
}

/** The insertions of one run over a file. */
class Pass {
  readonly stats: MeterStats = { functions: 0, loops: 0, handlers: 0, initializers: 0, resumptions: 0 };
  private readonly out: Insertion[] = [];
  /** statements that get a check after them (5): for-await loops and jump targets out of them */
  private readonly after = new Set<ts.Statement>();
  /** loops a continue out of a for-await loop goes on with (5) */
  private readonly continued = new Set<ts.Statement>();

  constructor(private readonly sf: ts.SourceFile, private readonly checks: Checks) {}

  /** Records the insertions one node needs, if any. */
  instrument(node: ts.Node, depth: number): void {
    const { checks } = this;
    if (isFunctionWithBody(node) && node.body) {
      this.stats.functions++;
      if (ts.isBlock(node.body)) this.out.push(entryCheck(this.sf, node.body, depth, checks));
      else this.out.push(...wrap(this.sf, node.body, depth, `(${checks.expr}, `, ')'));
      if (!ts.isClassStaticBlockDeclaration(node)) {
        for (const p of node.parameters) this.initializers(bindingExpressions(p.name, p.initializer));
      }
    } else if (ts.isClassLike(node)) {
      const first = firstFieldNeedingCheck(node);
      if (first) this.initializers([first]);
    } else if (ts.isIterationStatement(node, false)) {
      this.stats.loops++;
      this.out.push(...wrap(this.sf, node.statement, depth, `{ ${checks.stmt} `, ' }'));
      if (ts.isForOfStatement(node) && node.awaitModifier) this.forAwait(node);
    } else if (ts.isCatchClause(node)) {
      this.stats.handlers++;
      const resumable = isResumable(node);
      this.out.push(afterBrace(this.sf, node.block, depth, resumable ? `${checks.live} ${checks.stmt}` : checks.live));
      const v = node.variableDeclaration;
      if (resumable && v) this.initializers(bindingExpressions(v.name, undefined));
    } else if (ts.isTryStatement(node) && node.finallyBlock) {
      this.stats.handlers++;
      const text = isResumable(node) ? `${checks.live} ${checks.stmt}` : checks.live;
      this.out.push(afterBrace(this.sf, node.finallyBlock, depth, text));
    } else if (ts.isYieldExpression(node) || ts.isAwaitExpression(node)) {
      this.stats.resumptions++;
      if (ts.isExpressionStatement(node.parent)) {
        // The value is unused: `yield e, CHECK;` (yield and await bind tighter than the comma).
        this.out.push({ pos: node.end, text: `, ${checks.expr}`, depth, closes: true });
      } else {
        // A `(` that starts a statement in a statement list could join the line before it when that
        // line has no semicolon (`f()\n(...)` is a call): an empty statement first keeps them apart.
        const guard = startsListedStatement(this.sf, node) ? ';' : '';
        this.out.push(...wrap(this.sf, node, depth, `${guard}(${checks.temp} = `, `, ${checks.expr}, ${checks.temp})`));
      }
    }
  }

  /** Every insertion, the trailing checks of rule 5 included. */
  finish(): Insertion[] {
    for (const loop of this.continued) this.initializers(nextIteration(loop));
    for (const s of this.after) {
      this.stats.resumptions++;
      const depth = depthOf(s) - 0.5;
      // `;` first: the statement may end in an expression without one (`else f()`, `do ... while (x)`).
      this.out.push(...wrap(this.sf, s, depth, '{ ', ` ;${this.checks.stmt} }`));
    }
    return this.out;
  }

  /** Wraps the non-inert expressions of rule 3, 4 or 5 as `(CHECK, e)`. */
  private initializers(exprs: ts.Expression[]): void {
    for (const e of exprs) {
      this.stats.initializers++;
      this.out.push(...wrap(this.sf, e, depthOf(e) - 0.5, `(${this.checks.expr}, `, ')'));
    }
  }

  /** A for-await loop's implicit await resumes into its head, its body or the code after it. */
  private forAwait(loop: ts.ForOfStatement): void {
    this.initializers(headExpressions(loop.initializer));
    this.after.add(outermostLabeled(loop));
    // A labeled break or continue out of the body closes the iterator, awaiting its return(): the
    // continuation lands after the labeled statement (break), or in the next iteration of the
    // labeled loop (continue), whose update, test or head run before its body's check, or after
    // that loop.
    const outside = new Map<string, ts.LabeledStatement>();
    for (let p = loop.parent; !isFunctionBoundary(p) && !ts.isSourceFile(p); p = p.parent) {
      if (ts.isLabeledStatement(p) && !outside.has(p.label.text)) outside.set(p.label.text, p);
    }
    const jumps = (n: ts.Node): void => {
      if (isFunctionBoundary(n) || ts.isClassLike(n)) return;
      if ((ts.isBreakStatement(n) || ts.isContinueStatement(n)) && n.label) {
        const target = outside.get(n.label.text);
        if (target) this.after.add(outermostLabeled(target));
        if (target && ts.isContinueStatement(n)) this.continued.add(unlabeled(target));
      }
      ts.forEachChild(n, jumps);
    };
    jumps(loop.statement);
  }
}

/** What the next iteration of `loop` evaluates before its body, when it has to start with a check
 *  (5): the update, or else the test, of a for loop; the test of a while or do-while loop; the
 *  head's defaults and keys of a for-of or for-in loop. (A for-await loop's head is checked anyway.) */
function nextIteration(loop: ts.Statement): ts.Expression[] {
  if (ts.isForStatement(loop)) {
    const first = [loop.incrementor, loop.condition].find((e) => e !== undefined && !isInert(e));
    return first ? [first] : [];
  }
  if (ts.isWhileStatement(loop) || ts.isDoStatement(loop)) return isInert(loop.expression) ? [] : [loop.expression];
  if (ts.isForInStatement(loop) || (ts.isForOfStatement(loop) && !loop.awaitModifier)) return headExpressions(loop.initializer);
  return [];
}

/** The non-inert defaults and keys of a for-of or for-in head (a declaration or a target). */
function headExpressions(head: ts.ForInitializer): ts.Expression[] {
  if (!ts.isVariableDeclarationList(head)) return assignmentExpressions(head);
  const out: ts.Expression[] = [];
  for (const d of head.declarations) bindingExpressions(d.name, undefined, out);
  return out;
}

function unlabeled(s: ts.Statement): ts.Statement {
  while (ts.isLabeledStatement(s)) s = s.statement;
  return s;
}

function isFunctionWithBody(node: ts.Node): node is FunctionWithBody {
  return ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isArrowFunction(node)
    || ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isGetAccessorDeclaration(node)
    || ts.isSetAccessorDeclaration(node) || ts.isClassStaticBlockDeclaration(node);
}

/** Nodes whose code runs as its own activation: functions, static blocks, field initializers. */
function isFunctionBoundary(node: ts.Node): boolean {
  return isFunctionWithBody(node) || ts.isPropertyDeclaration(node);
}

/** Whether the function `node` is in can be resumed: a generator or an async function. */
function isResumable(node: ts.Node): boolean {
  let p: ts.Node = node.parent;
  while (!isFunctionBoundary(p) && !ts.isSourceFile(p)) p = p.parent;
  if (!isFunctionWithBody(p) || ts.isClassStaticBlockDeclaration(p)) return false;
  if (!ts.isArrowFunction(p) && !ts.isConstructorDeclaration(p) && p.asteriskToken) return true;
  return hasModifier(p, ts.SyntaxKind.AsyncKeyword);
}

function hasModifier(n: ts.Node, kind: ts.SyntaxKind): boolean {
  return ts.canHaveModifiers(n) && (ts.getModifiers(n)?.some((m) => m.kind === kind) ?? false);
}

function isStatic(m: ts.ClassElement): boolean {
  return hasModifier(m, ts.SyntaxKind.StaticKeyword);
}

/**
 * Rule 4: the initializer that must start with a check when the class is constructed, if any. A
 * construction runs the instance fields in order (DefineField): for a base class, before the
 * constructor's parameters and body; for a derived class, when super() returns.
 */
function firstFieldNeedingCheck(cls: ts.ClassLikeDeclaration): ts.Expression | undefined {
  const derived = cls.heritageClauses?.some((h) => h.token === ts.SyntaxKind.ExtendsKeyword) ?? false;
  // (TypeScript parses `static constructor() {}` as a constructor declaration: in JavaScript it is
  // a static method, and the class has an implicit constructor)
  const constructor = cls.members.some((m) => ts.isConstructorDeclaration(m) && m.body && !isStatic(m));
  // super() is evaluated inside the constructor (its body, or an arrow or parameter default in it),
  // each of which has checked already.
  if (derived && constructor) return undefined;
  for (const m of cls.members) {
    if (ts.isPropertyDeclaration(m) && !isStatic(m) && m.initializer && !isInert(m.initializer)) return m.initializer;
  }
  return undefined;
}

/** Rule 3: the non-inert defaults and computed keys of a binding (a parameter, a catch or for-await
 *  variable), patterns included. */
function bindingExpressions(name: ts.BindingName, init: ts.Expression | undefined, out: ts.Expression[] = []): ts.Expression[] {
  if (init && !isInert(init)) out.push(init);
  if (ts.isObjectBindingPattern(name)) {
    for (const el of name.elements) {
      const key = el.propertyName;
      if (key && ts.isComputedPropertyName(key) && !isInert(key.expression)) out.push(key.expression);
      bindingExpressions(el.name, el.initializer, out);
    }
  } else if (ts.isArrayBindingPattern(name)) {
    for (const el of name.elements) if (ts.isBindingElement(el)) bindingExpressions(el.name, el.initializer, out);
  }
  return out;
}

/** The same for an assignment target (a for-await head without a declaration): its defaults,
 *  computed keys, and the object of a member target (`(CHECK, o).x`, `(CHECK, o)[k]`). */
function assignmentExpressions(target: ts.Expression, out: ts.Expression[] = []): ts.Expression[] {
  if (ts.isParenthesizedExpression(target)) return assignmentExpressions(target.expression, out);
  if (ts.isBinaryExpression(target) && target.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
    if (!isInert(target.right)) out.push(target.right);
    return assignmentExpressions(target.left, out);
  }
  if (ts.isArrayLiteralExpression(target)) {
    for (const el of target.elements) {
      if (ts.isSpreadElement(el)) assignmentExpressions(el.expression, out);
      else if (!ts.isOmittedExpression(el)) assignmentExpressions(el, out);
    }
  } else if (ts.isObjectLiteralExpression(target)) {
    for (const p of target.properties) {
      if (ts.isShorthandPropertyAssignment(p)) {
        if (p.objectAssignmentInitializer && !isInert(p.objectAssignmentInitializer)) out.push(p.objectAssignmentInitializer);
      } else if (ts.isPropertyAssignment(p)) {
        if (ts.isComputedPropertyName(p.name) && !isInert(p.name.expression)) out.push(p.name.expression);
        assignmentExpressions(p.initializer, out);
      } else if (ts.isSpreadAssignment(p)) {
        assignmentExpressions(p.expression, out);
      }
    }
  } else if (ts.isPropertyAccessExpression(target) || ts.isElementAccessExpression(target)) {
    if (!isInert(target.expression)) out.push(target.expression);
  }
  return out;
}

/**
 * Whether evaluating `e` can run no code but the engine's own (see the header): a literal, `this`,
 * a closure, `!` or `void` of an inert expression, or an array or object literal of inert parts.
 */
function isInert(e: ts.Expression): boolean {
  switch (e.kind) {
    case ts.SyntaxKind.NumericLiteral:
    case ts.SyntaxKind.BigIntLiteral:
    case ts.SyntaxKind.StringLiteral:
    case ts.SyntaxKind.NoSubstitutionTemplateLiteral:
    case ts.SyntaxKind.RegularExpressionLiteral:
    case ts.SyntaxKind.TrueKeyword:
    case ts.SyntaxKind.FalseKeyword:
    case ts.SyntaxKind.NullKeyword:
    case ts.SyntaxKind.ThisKeyword:
    case ts.SyntaxKind.FunctionExpression:
    case ts.SyntaxKind.ArrowFunction:
      return true;
    case ts.SyntaxKind.ParenthesizedExpression:
      return isInert((e as ts.ParenthesizedExpression).expression);
    case ts.SyntaxKind.VoidExpression:
      return isInert((e as ts.VoidExpression).expression);
    case ts.SyntaxKind.PrefixUnaryExpression: {
      const u = e as ts.PrefixUnaryExpression;
      if (u.operator === ts.SyntaxKind.ExclamationToken) return isInert(u.operand);
      // -1, +1, ~1, -1n: ToNumeric of a primitive literal calls nothing.
      const numeric = ts.isNumericLiteral(u.operand) || ts.isBigIntLiteral(u.operand);
      return numeric && u.operator !== ts.SyntaxKind.PlusPlusToken && u.operator !== ts.SyntaxKind.MinusMinusToken;
    }
    case ts.SyntaxKind.ArrayLiteralExpression:
      return (e as ts.ArrayLiteralExpression).elements.every((el) => ts.isOmittedExpression(el) || (!ts.isSpreadElement(el) && isInert(el)));
    case ts.SyntaxKind.ObjectLiteralExpression:
      return (e as ts.ObjectLiteralExpression).properties.every((p) => {
        if (ts.isPropertyAssignment(p)) return !ts.isComputedPropertyName(p.name) && isInert(p.initializer);
        if (ts.isMethodDeclaration(p) || ts.isGetAccessorDeclaration(p) || ts.isSetAccessorDeclaration(p)) {
          return !ts.isComputedPropertyName(p.name);
        }
        return false; // shorthand (an identifier read), spread
      });
    default:
      return false;
  }
}

/** The entry check of a block body: after its directive prologue, so "use strict" stays one. */
function entryCheck(sf: ts.SourceFile, body: ts.Block, depth: number, checks: Checks): Insertion {
  let last: ts.Statement | undefined;
  for (const s of body.statements) {
    if (!isDirective(s)) break;
    last = s;
  }
  if (!last) return afterBrace(sf, body, depth, checks.stmt);
  // A directive ended by a line break has no semicolon; the check must not join its line.
  const sep = sf.text[last.end - 1] === ';' ? ' ' : '; ';
  return { pos: last.end, text: sep + checks.stmt, depth, closes: false };
}

function isDirective(s: ts.Statement): boolean {
  return ts.isExpressionStatement(s) && ts.isStringLiteral(s.expression);
}

function afterBrace(sf: ts.SourceFile, block: ts.Block, depth: number, text: string): Insertion {
  const pos = block.getStart(sf) + 1;
  if (sf.text[pos - 1] !== '{') fail(sf, pos - 1, 'internal error: expected a block');
  return { pos, text: ` ${text}`, depth, closes: false };
}

/** Text before and after a node (its tokens, not the comments around it). */
function wrap(sf: ts.SourceFile, node: ts.Node, depth: number, before: string, after: string): Insertion[] {
  return [
    { pos: node.getStart(sf), text: before, depth, closes: false },
    { pos: node.end, text: after, depth, closes: true },
  ];
}

function depthOf(node: ts.Node): number {
  let d = 0;
  for (let p = node.parent; p; p = p.parent) d++;
  return d;
}

/** The statement to wrap for a check after `s`: `s` with the labels in front of it. */
function outermostLabeled(s: ts.Statement): ts.Statement {
  while (ts.isLabeledStatement(s.parent)) s = s.parent;
  return s;
}

/** Whether `node` is the first token of a statement that sits in a list of statements. */
function startsListedStatement(sf: ts.SourceFile, node: ts.Node): boolean {
  const start = node.getStart(sf);
  let p: ts.Node = node.parent;
  while (!ts.isExpressionStatement(p)) {
    if (p.getStart(sf) !== start || isFunctionBoundary(p) || ts.isSourceFile(p) || isStatementLike(p)) return false;
    p = p.parent;
  }
  if (p.getStart(sf) !== start) return false;
  const list = p.parent;
  return ts.isBlock(list) || ts.isSourceFile(list) || ts.isCaseClause(list) || ts.isDefaultClause(list) || ts.isModuleBlock(list);
}

function isStatementLike(n: ts.Node): boolean {
  return ts.isStatement(n) || ts.isBlock(n) || ts.isVariableDeclarationList(n) || ts.isVariableDeclaration(n);
}

function splice(js: string, insertions: Insertion[]): string {
  const order = (a: Insertion, b: Insertion): number => a.pos - b.pos
    || Number(b.closes) - Number(a.closes)
    || (a.closes ? b.depth - a.depth : a.depth - b.depth);
  const parts: string[] = [];
  let at = 0;
  for (const ins of [...insertions].sort(order)) {
    parts.push(js.slice(at, ins.pos), ins.text);
    at = ins.pos;
  }
  parts.push(js.slice(at));
  return parts.join('');
}

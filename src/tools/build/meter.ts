// CPU-budget instrumentation: the trusted build's pass that makes domain code stoppable.
//
// Input is the JavaScript esbuild printed for one domain (ES2022, a CommonJS body). The pass puts
//
//   if (P.getInt32(0)) T();     at the start of every function body (after its directive prologue)
//                               and of every loop body, wrapped as `{ CHECK <body> }`;
//   (P.getInt32(0) && T(), e)   for an arrow function whose body is the expression e;
//   L();                        first thing in every catch block and finally block,
//
// where P, T and L are the names in MeterNames. Every unbounded computation written in JavaScript
// needs either a loop or a call, so it passes a check at least every few steps. P is the host's
// preemption timer word (a DataView over shared memory that another thread raises every
// millisecond, see kernel/budget.ts) and T the kernel's tick, which clears it, reads the clock and
// returns or throws the kernel's abort. These are safe points in the compiler's sense: the only
// places a domain can be interrupted.
//
// Why a shared word: the common case of a check is one load and a branch that is not taken, with
// nothing stored and the call almost never made. The first design decremented a counter in a
// closure variable at every check and called T every thousand: on the language-tax hash table it
// cost up to 1.33x plain code, the word 1.1-1.26x across runs. (Removing the store alone, with
// the frequent call kept, gained little; our reading is that a call taken that often makes V8
// keep less of a loop in registers.) A typed-array load measured the same as the DataView. DataView reads are not
// slowed by SES lockdown, unlike typed arrays (endo#1563). The prologue binds the names with
// `var`, not `let`: an inner function's access to an outer `let` carries a TDZ hole check, which on
// V8 11 made tight loops about twice as slow again. Domain code cannot name P, T or L: any
// identifier starting with METER_PREFIX is rejected, so it can neither read, assign nor shadow them.
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
// What the checks assume and cannot do:
//   - the code runs as strict code, as SES compartments evaluate it (a sloppy direct `eval` could
//     declare a variable that shadows F); `with` is rejected outright, since an object with a
//     computed `__frond_pending` key would capture the checks. HTML-like comments (`<!--`, `-->`) are
//     rejected as SES rejects them: V8 and the TypeScript parser read them differently.
//   - native code is not metered: one huge `'x'.repeat(n)`, `Array(n).fill()`, a catastrophic
//     regular expression or a JSON.parse of a huge string runs to completion (a worker-isolated
//     domain is the answer to that). Code built at run time by the compartment's `eval` or
//     `Function` is not metered either: the kernel must not give domains live evaluators.
//   - parameter default initializers and class field initializers run before the body's entry
//     check; recursion through them alone is bounded by the stack, not the budget.
import ts from 'typescript';

/** Every identifier the meter uses starts with this; domain code may use none that do. */
export const METER_PREFIX = '__frond';

/** The meter's variables: the interrupt-pending word and the kernel's tick and live hooks. */
export interface MeterNames { pending: string; tick: string; live: string }

export const METER_NAMES: MeterNames = Object.freeze({
  pending: `${METER_PREFIX}_pending`,
  tick: `${METER_PREFIX}_tick`,
  live: `${METER_PREFIX}_live`,
});

/** How many checks the pass inserted: function entries, loop bodies, catch and finally blocks. */
export interface MeterStats { functions: number; loops: number; handlers: number }

/** One piece of text to insert. At one position, openers go outermost first and closers innermost
 *  first (an opener and a closer never share a position: openers follow `{`, `)`, `do` or `=>`). */
interface Insertion { pos: number; text: string; depth: number; closes: boolean }

/** The texts the pass inserts, built once from the names. */
interface Checks { stmt: string; expr: string; live: string }

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
  };
  const stats: MeterStats = { functions: 0, loops: 0, handlers: 0 };
  const insertions: Insertion[] = [];
  const visit = (node: ts.Node, depth: number): void => {
    reject(sf, node);
    instrument(sf, node, depth, checks, stats, insertions);
    ts.forEachChild(node, (child) => visit(child, depth + 1));
  };
  visit(sf, 0);
  return { code: splice(js, insertions), stats };
}

/**
 * The wrapper prologue the bundle puts around metered code: binds pending/tick/live from a meter
 * object parameter (MeterHooks in kernel/domain.ts) with `var`, not `let` (see the header). It
 * belongs at the top of the wrapper *function*, so the variables are that function's locals.
 * `tick` and `live` are called without a receiver.
 */
export function meterPrologue(meterParam: string, names: MeterNames = METER_NAMES): string {
  checkNames(names);
  if (!IDENTIFIER.test(meterParam)) throw new Error(`meter: '${meterParam}' is not an identifier`);
  return `var ${names.pending} = ${meterParam}.pending; var ${names.tick} = ${meterParam}.tick; var ${names.live} = ${meterParam}.live;`;
}

/** The names must be distinct identifiers under METER_PREFIX, or the prefix check protects nothing. */
function checkNames(names: MeterNames): void {
  const all = [names.pending, names.tick, names.live];
  for (const n of all) {
    if (!IDENTIFIER.test(n) || !n.startsWith(METER_PREFIX)) {
      throw new Error(`meter: name '${n}' must be an identifier starting with ${METER_PREFIX}`);
    }
  }
  if (new Set(all).size !== all.length) throw new Error('meter: the pending, tick and live names must differ');
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

/** Records the insertions one node needs, if any. */
function instrument(sf: ts.SourceFile, node: ts.Node, depth: number, checks: Checks,
  stats: MeterStats, out: Insertion[]): void {
  if (isFunctionWithBody(node) && node.body) {
    stats.functions++;
    if (ts.isBlock(node.body)) out.push(entryCheck(sf, node.body, depth, checks));
    else out.push(...wrap(sf, node.body, depth, `(${checks.expr}, `, ')'));
  } else if (ts.isIterationStatement(node, false)) {
    stats.loops++;
    out.push(...wrap(sf, node.statement, depth, `{ ${checks.stmt} `, ' }'));
  } else if (ts.isCatchClause(node)) {
    stats.handlers++;
    out.push(afterBrace(sf, node.block, depth, checks.live));
  } else if (ts.isTryStatement(node) && node.finallyBlock) {
    stats.handlers++;
    out.push(afterBrace(sf, node.finallyBlock, depth, checks.live));
  }
}

function isFunctionWithBody(node: ts.Node): node is FunctionWithBody {
  return ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isArrowFunction(node)
    || ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isGetAccessorDeclaration(node)
    || ts.isSetAccessorDeclaration(node) || ts.isClassStaticBlockDeclaration(node);
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

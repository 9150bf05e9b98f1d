// The trusted build's pre-bundle safety check: what a domain's source may say before it is bundled.
//
// Domains are isolated by the language: each runs in its own SES compartment, reaches the rest of
// the system only through the capabilities the kernel hands to init (sys.*, imports), and is
// metered by counters the build injects into its code. This check refuses source that would step
// around any of that, before esbuild ever sees it. Every rule is an error reported as
// `path:line:col: message`; all of a domain's violations are collected, sorted by position.
//
//   1. Imports. `import`, `export ... from`, `import type`, `import x = require()`, `import('x').T`
//      and every `require('x')` call: a path must stay inside the domain's own folder or src/idl/
//      (interfaces, the idl/lib vocabulary, the idl/generated glue); a bare package must be on the
//      reviewed allowlist (allowlist.json); Node's own modules ('node:*', 'fs', ...) never are.
//      The folder itself may hold no symbolic link and no package.json, tsconfig.json or
//      jsconfig.json: each would make the bundler load code this check never saw.
//   2. Evaluators and escape hatches: eval, the Function constructor, SES's Compartment (code they
//      evaluate is neither checked nor metered), dynamic import(), import.meta, `with`, `debugger`.
//   3. Host globals (process, require, Buffer, setTimeout, fetch, ...) as free identifiers. The
//      compartment does not have them; the kernel gives domains what they need as capabilities.
//   4. globalThis is read-only: `globalThis.name` may be read, but nothing may write to it, and it
//      may not be aliased (stored, passed, returned), since mutation through an alias is invisible here.
//   5. Identifiers starting with `__frond`, which the CPU meter reserves for its closure variables.
//   6. Syntax errors, at the parser's position (nothing else is checked in a file that does not parse).
//
// Free identifiers are found by real scope resolution: one ts.Program per domain, holding only the
// domain's files (noResolve, noLib, no @types), asked through the checker's resolveName. A name is
// bound only if it resolves to a runtime declaration in the domain's own files: ambient (`declare`)
// declarations and type-only imports are erased by the bundler, so they bind nothing.
import ts from 'typescript';
import { isBuiltin } from 'node:module';
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';

export interface CheckError { file: string; line: number; col: number; message: string }

export function formatCheckError(e: CheckError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.message}`;
}

// ---- the allowlist -----------------------------------------------------------------------------

const ALLOWLIST = 'src/tools/build/allowlist.json';
/** npm's package name syntax (lower case, optionally scoped). */
const PACKAGE_NAME = /^(?:@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*$/;

/** The names of the reviewed packages domains may import; throws if the file is malformed. */
export function loadAllowlist(root: string): readonly string[] {
  const file = join(root, ALLOWLIST);
  const fail = (why: string): never => { throw new Error(`${file}: ${why}`); };
  let json: unknown;
  try { json = JSON.parse(readFileSync(file, 'utf8')); } catch (e) { return fail((e as Error).message); }
  if (!isRecord(json)) return fail('must be an object { "review": "...", "packages": [...] }');
  for (const k of Object.keys(json)) if (k !== 'review' && k !== 'packages') fail(`unknown key "${k}" (expected "review" and "packages")`);
  if (json.review !== undefined && typeof json.review !== 'string') fail('"review" must be a string');
  if (!Array.isArray(json.packages)) return fail('"packages" must be an array of { "name": ..., "why": ... }');
  const names: string[] = [];
  json.packages.forEach((p: unknown, i: number) => names.push(allowlistEntry(p, `packages[${i}]`, fail)));
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) fail(`package "${dup}" is listed twice`);
  return Object.freeze(names);
}

function allowlistEntry(p: unknown, at: string, fail: (why: string) => never): string {
  if (!isRecord(p)) return fail(`${at} must be an object { "name": ..., "why": ... }`);
  for (const k of Object.keys(p)) if (k !== 'name' && k !== 'why') fail(`${at}: unknown key "${k}"`);
  const { name, why } = p;
  if (typeof name !== 'string' || !PACKAGE_NAME.test(name)) return fail(`${at}.name must be an npm package name (no subpath)`);
  if (isBuiltin(name)) fail(`${at}: '${name}' is a Node builtin module, which domains can never use`);
  if (typeof why !== 'string' || why.trim() === '') fail(`${at}.why must say why the package passed review`);
  return name;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---- the rules' vocabulary ---------------------------------------------------------------------

const CAPABILITIES = 'the kernel gives domains what they need as capabilities (sys.*)';

const HOST_GLOBALS = new Set([
  'process', 'require', 'module', 'exports', '__dirname', '__filename', 'Buffer', 'global',
  'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate',
  'queueMicrotask', 'fetch', 'WebAssembly', 'SharedArrayBuffer', 'Atomics', 'performance',
  'navigator', 'window', 'self', 'XMLHttpRequest', 'Worker',
]);

/** Globals that turn strings into running code, which would be neither checked nor metered. */
const EVALUATORS: ReadonlyMap<string, string> = new Map([
  ['eval', 'eval'],
  ['Function', 'the Function constructor'],
  ['Compartment', "SES's Compartment"],
]);

function evaluatorMessage(what: string): string {
  return `${what} is not allowed in domains: code it evaluates escapes this check and the CPU meter`;
}

const RESERVED_PREFIX = '__frond';

/** Functions that mutate their first argument, by receiver. */
const MUTATORS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['Object', new Set(['assign', 'defineProperty', 'defineProperties', 'setPrototypeOf'])],
  ['Reflect', new Set(['set', 'defineProperty', 'deleteProperty', 'setPrototypeOf'])],
]);

const COMPARISONS = new Set([
  ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken,
  ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken,
]);

/** Files the bundler would compile as code; all of them are checked. */
const SOURCE_EXTENSIONS = new Set(['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs']);
/** Files that would change how the bundler resolves a domain's imports. */
const RESOLUTION_CONFIG = new Set(['package.json', 'tsconfig.json', 'jsconfig.json']);

const OPTIONS: ts.CompilerOptions = {
  noLib: true,
  types: [],
  noResolve: true,
  allowJs: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleDetection: ts.ModuleDetectionKind.Force,
  allowImportingTsExtensions: true,
  jsx: ts.JsxEmit.Preserve,
};

// ---- checking a domain -------------------------------------------------------------------------

/** One domain's check in progress. */
interface Ctx {
  root: string;
  /** the domain folder and src/idl/, both with symbolic links resolved */
  dir: string;
  idl: string;
  /** the domain folder as written in messages (relative to root) */
  dirName: string;
  allow: ReadonlySet<string>;
  checker: ts.TypeChecker;
  own: ReadonlySet<ts.SourceFile>;
  errors: CheckError[];
}

/** Checks every .ts file of the domain folder `dir` (recursively) and returns every violation, sorted by file, line, col. */
export function checkDomain(dir: string, root: string, allow: readonly string[]): CheckError[] {
  const absRoot = resolve(root);
  const absDir = resolve(dir);
  const errors: CheckError[] = [];
  const files = listFolder(absDir, absRoot, errors);
  const program = ts.createProgram({ rootNames: files, options: OPTIONS });
  const sources = files.map((f) => program.getSourceFile(f)).filter((sf) => sf !== undefined);
  const c: Ctx = {
    root: absRoot,
    dir: realpath(absDir),
    idl: realpath(join(absRoot, 'src', 'idl')),
    dirName: relPath(absRoot, absDir),
    allow: new Set(allow),
    checker: program.getTypeChecker(),
    own: new Set(sources),
    errors,
  };
  for (const sf of sources) checkFile(c, sf, program.getSyntacticDiagnostics(sf));
  return errors.sort(byPosition);
}

function byPosition(a: CheckError, b: CheckError): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1
    : a.line - b.line || a.col - b.col || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0);
}

/** The source files under `dir`, reporting symbolic links and resolution config files on the way. */
function listFolder(dir: string, root: string, errors: CheckError[], out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = lstatSync(p);
    const at = (message: string): void => { errors.push({ file: relPath(root, p), line: 1, col: 1, message }); };
    if (st.isSymbolicLink()) at('symbolic links are not allowed in a domain folder: the bundler would follow them to code this check does not see');
    else if (st.isDirectory()) listFolder(p, root, errors, out);
    else if (RESOLUTION_CONFIG.has(name)) at(`${name} is not allowed in a domain folder: it would change how the bundler resolves the domain's imports`);
    else if (SOURCE_EXTENSIONS.has(extname(name))) out.push(p);
  }
  return out;
}

function checkFile(c: Ctx, sf: ts.SourceFile, syntax: readonly ts.Diagnostic[]): void {
  if (syntax.length > 0) {
    for (const d of syntax) report(c, sf, d.start ?? 0, `syntax error: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
    return;
  }
  const visit = (node: ts.Node, erased: boolean): void => {
    const inner = erased || startsErased(node);
    checkNode(c, node, inner);
    ts.forEachChild(node, (child) => { visit(child, inner); });
  };
  visit(sf, sf.isDeclarationFile);
}

function report(c: Ctx, sf: ts.SourceFile, pos: number, message: string): void {
  const { line, character } = sf.getLineAndCharacterOfPosition(pos);
  c.errors.push({ file: relPath(c.root, sf.fileName), line: line + 1, col: character + 1, message });
}

function reportAt(c: Ctx, node: ts.Node, message: string): void {
  const sf = node.getSourceFile();
  report(c, sf, node.getStart(sf), message);
}

/**
 * Whether `node` begins code the bundler erases (types, ambient declarations, type-only
 * exports): references inside it never run, so only rules 1 and 5 apply there.
 */
function startsErased(node: ts.Node): boolean {
  if (ts.isExpressionWithTypeArguments(node)) return !isRuntimeHeritage(node);
  if (ts.isTypeNode(node) || ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) return true;
  if (ts.isExportDeclaration(node) || ts.isExportSpecifier(node) || ts.isImportEqualsDeclaration(node)) return node.isTypeOnly;
  return hasDeclare(node);
}

/** `class A extends B` and instantiation expressions `f<T>` are values; `implements` and interface `extends` are types. */
function isRuntimeHeritage(node: ts.ExpressionWithTypeArguments): boolean {
  const clause = node.parent;
  if (!ts.isHeritageClause(clause)) return true;
  return clause.token === ts.SyntaxKind.ExtendsKeyword && ts.isClassLike(clause.parent);
}

function hasDeclare(node: ts.Node): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword) ?? false);
}

function checkNode(c: Ctx, node: ts.Node, erased: boolean): void {
  if (ts.isIdentifier(node)) {
    if (node.text.startsWith(RESERVED_PREFIX)) {
      reportAt(c, node, `'${node.text}': identifiers starting with ${RESERVED_PREFIX} are reserved for the build's CPU meter; a domain shadowing or assigning them could switch metering off`);
    }
    if (!erased) checkIdentifier(c, node);
    return;
  }
  const spec = moduleSpecifierOf(node);
  if (spec) checkSpecifier(c, spec);
  if (!erased) checkSyntax(c, node);
}

/** Rule 2's syntactic forms. */
function checkSyntax(c: Ctx, node: ts.Node): void {
  if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
    reportAt(c, node, 'dynamic import() is not allowed in domains: a domain\'s code must all be in its bundle, checked at build time');
  } else if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword) {
    reportAt(c, node, 'import.meta is not available to domains: it describes a host module; ' + CAPABILITIES);
  } else if (ts.isWithStatement(node)) {
    reportAt(c, node, 'with statements are not allowed in domains: they hide which names are free from this check');
  } else if (node.kind === ts.SyntaxKind.DebuggerStatement) {
    reportAt(c, node, 'debugger statements are not allowed in domains: they would pause the whole system');
  }
}

// ---- rule 1: imports ---------------------------------------------------------------------------

/** The module specifier `node` imports, if it is an import of any kind with a constant specifier. */
function moduleSpecifierOf(node: ts.Node): ts.StringLiteralLike | undefined {
  let spec: ts.Node | undefined;
  if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) spec = node.moduleSpecifier;
  else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) spec = node.moduleReference.expression;
  else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) spec = node.argument.literal;
  else if (ts.isCallExpression(node) && isRequire(node.expression)) spec = node.arguments[0];
  return spec && ts.isStringLiteralLike(spec) ? spec : undefined;
}

function isRequire(callee: ts.Expression): boolean {
  const e = skipWrappers(callee);
  return ts.isIdentifier(e) && e.text === 'require';
}

function checkSpecifier(c: Ctx, node: ts.StringLiteralLike): void {
  const why = specifierProblem(c, node.text, node.getSourceFile().fileName);
  if (why !== null) reportAt(c, node, `import '${node.text}': ${why}`);
}

/** Why `spec`, imported by `file`, is refused, or null if it is fine. */
function specifierProblem(c: Ctx, spec: string, file: string): string | null {
  if (spec.startsWith('node:') || isBuiltin(spec)) return `host modules are not available to domains; ${CAPABILITIES}`;
  if (spec === '.' || spec === '..' || spec.startsWith('./') || spec.startsWith('../') || isAbsolute(spec)) {
    return pathProblem(c, resolve(dirname(file), spec));
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec)) return 'URL specifiers are not allowed in domains: import files of the domain or reviewed packages';
  if (spec.startsWith('#')) return 'package subpath imports (#name) are not allowed in domains';
  const name = packageName(spec);
  if (spec.split('/').some((s) => s === '.' || s === '..' || s === '')) return `a package subpath may not contain empty, '.' or '..' segments`;
  if (!c.allow.has(name)) {
    return `package '${name}' is not on the reviewed allowlist (${ALLOWLIST}); domains may use only packages reviewed as pure`;
  }
  return null;
}

/** `@a/b/c` -> `@a/b`, `x/y` -> `x`. */
function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function pathProblem(c: Ctx, target: string): string | null {
  const real = realpath(target);
  if (isInside(c.dir, real) || isInside(c.idl, real)) return null;
  const where = `a domain may import only its own files (${c.dirName}/) and src/idl/`;
  const other = owningDomain(c, target);
  if (other !== null) {
    return `it is outside this domain's folder, in another domain (${relPath(c.root, other)}): ${where}; ` +
      'domains share no code: reach another domain through a capability passed to init';
  }
  return `it resolves outside this domain's folder, to ${relPath(c.root, target)}: ${where}`;
}

/** The nearest folder holding a domain.json that contains `target`, up to the root. */
function owningDomain(c: Ctx, target: string): string | null {
  for (let d = target; isInside(c.root, d); d = dirname(d)) {
    if (existsSync(join(d, 'domain.json'))) return d;
    if (d === c.root) break;
  }
  return null;
}

function isInside(dir: string, p: string): boolean {
  const r = relative(dir, p);
  return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r));
}

/** `p` with symbolic links resolved as far as it exists. */
function realpath(p: string): string {
  try { return realpathSync(p); } catch { /* not there (yet) */ }
  const parent = dirname(p);
  return parent === p ? p : join(realpath(parent), basename(p));
}

function relPath(root: string, p: string): string {
  return relative(root, p).split(sep).join('/');
}

// ---- rules 2-4: free identifiers -----------------------------------------------------------------

function checkIdentifier(c: Ctx, id: ts.Identifier): void {
  const name = id.text;
  const evaluator = EVALUATORS.get(name);
  const watched = evaluator !== undefined || name === 'globalThis' || HOST_GLOBALS.has(name);
  if (!watched || !isValueReference(id) || isBoundLocally(c, id)) return;
  if (evaluator !== undefined) reportAt(c, id, evaluatorMessage(evaluator));
  else if (name === 'globalThis') checkGlobalThis(c, id);
  else reportAt(c, id, `'${name}' is a host global, not available to domains: ${CAPABILITIES}`);
}

/** Whether `id` names a variable (rather than a property, a label or a declaration's own name). */
function isValueReference(id: ts.Identifier): boolean {
  const p = id.parent;
  if (ts.isExportSpecifier(p)) return !p.parent.parent.moduleSpecifier && (p.propertyName ?? p.name) === id;
  if (ts.isShorthandPropertyAssignment(p)) return true; // `{ x }` reads x; `({ x } = o)` writes it
  if (ts.isQualifiedName(p)) return p.left === id;
  const named = p as { name?: ts.Node; propertyName?: ts.Node; label?: ts.Node };
  return named.name !== id && named.propertyName !== id && named.label !== id;
}

/** Whether `id` resolves, by scope, to a runtime declaration in the domain's own files. */
function isBoundLocally(c: Ctx, id: ts.Identifier): boolean {
  const sym = c.checker.resolveName(id.text, id, ts.SymbolFlags.Value, false);
  return sym?.declarations?.some((d) => c.own.has(d.getSourceFile()) && isRuntimeDeclaration(d)) ?? false;
}

function isRuntimeDeclaration(d: ts.Declaration): boolean {
  if (ts.isInterfaceDeclaration(d) || ts.isTypeAliasDeclaration(d) || ts.isTypeParameterDeclaration(d)) return false;
  if (ts.isImportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly)) return false;
  if (ts.isImportClause(d) && d.isTypeOnly) return false;
  if (ts.isNamespaceImport(d) && d.parent.isTypeOnly) return false;
  if (ts.isImportEqualsDeclaration(d) && d.isTypeOnly) return false;
  for (let n: ts.Node | undefined = d; n; n = n.parent) if (hasDeclare(n)) return false;
  return !d.getSourceFile().isDeclarationFile;
}

// ---- rule 4: globalThis ----------------------------------------------------------------------------

const ALIAS = 'globalThis may only be read as globalThis.name: aliasing it (storing, passing or returning it) would hide mutation from this check';

/** A free `globalThis`: allowed are `globalThis.name` reads, `typeof globalThis`, comparisons and `'name' in globalThis`. */
function checkGlobalThis(c: Ctx, id: ts.Identifier): void {
  const outer = outermostWrapper(id);
  const p = outer.parent;
  if ((ts.isPropertyAccessExpression(p) || ts.isElementAccessExpression(p)) && p.expression === outer) {
    checkGlobalMember(c, id, p);
  } else if (isWriteTarget(outer)) {
    reportAt(c, id, 'assigning globalThis is not allowed: the global object is read-only for domains');
  } else if (ts.isTypeOfExpression(p)) {
    // typeof globalThis: harmless
  } else if (ts.isBinaryExpression(p) && (COMPARISONS.has(p.operatorToken.kind) || (p.operatorToken.kind === ts.SyntaxKind.InKeyword && p.right === outer))) {
    // comparing it, or asking whether it has a property: harmless
  } else if (ts.isCallExpression(p) && p.arguments[0] === outer && mutatorName(p.expression) !== null) {
    reportAt(c, id, `${mutatorName(p.expression)}(globalThis, ...) would mutate the global object, which is read-only for domains`);
  } else {
    reportAt(c, id, ALIAS);
  }
}

function checkGlobalMember(c: Ctx, id: ts.Identifier, access: ts.PropertyAccessExpression | ts.ElementAccessExpression): void {
  const name = memberName(access);
  if (name === null) {
    reportAt(c, id, 'globalThis[...] with a computed key cannot be checked: read a named property (globalThis.name)');
  } else if (isWriteTarget(access)) {
    reportAt(c, id, `writing globalThis.${name} is not allowed: the global object is read-only for domains; keep state in the domain's own variables`);
  } else {
    const evaluator = EVALUATORS.get(name);
    if (evaluator !== undefined) reportAt(c, id, `globalThis.${name}: ${evaluatorMessage(evaluator)}`);
  }
}

/** The property an access names, if it is a constant. */
function memberName(access: ts.PropertyAccessExpression | ts.ElementAccessExpression): string | null {
  if (ts.isPropertyAccessExpression(access)) return access.name.text;
  const key = skipWrappers(access.argumentExpression);
  return ts.isStringLiteralLike(key) || ts.isNumericLiteral(key) ? key.text : null;
}

/** `Object.assign` etc. if `callee` is one of the MUTATORS, else null. */
function mutatorName(callee: ts.Expression): string | null {
  const e = skipWrappers(callee);
  if (!ts.isPropertyAccessExpression(e) && !ts.isElementAccessExpression(e)) return null;
  const recv = skipWrappers(e.expression);
  const name = memberName(e);
  if (!ts.isIdentifier(recv) || name === null) return null;
  return MUTATORS.get(recv.text)?.has(name) ? `${recv.text}.${name}` : null;
}

/** Whether the expression `node` is written: assigned, updated, deleted or destructured into. */
function isWriteTarget(node: ts.Expression): boolean {
  const outer = outermostWrapper(node);
  const p = outer.parent;
  if (ts.isBinaryExpression(p)) {
    const op = p.operatorToken.kind;
    return p.left === outer && op >= ts.SyntaxKind.FirstAssignment && op <= ts.SyntaxKind.LastAssignment;
  }
  if (ts.isPrefixUnaryExpression(p) || ts.isPostfixUnaryExpression(p)) {
    return p.operator === ts.SyntaxKind.PlusPlusToken || p.operator === ts.SyntaxKind.MinusMinusToken;
  }
  if (ts.isDeleteExpression(p)) return true;
  if (ts.isForInStatement(p) || ts.isForOfStatement(p)) return p.initializer === outer;
  // Destructuring assignment: [globalThis.x] = a, ({ k: globalThis.x } = o), [...globalThis.x] = a.
  if (ts.isArrayLiteralExpression(p)) return isWriteTarget(p);
  if (ts.isSpreadElement(p) || ts.isSpreadAssignment(p)) return ts.isArrayLiteralExpression(p.parent) || ts.isObjectLiteralExpression(p.parent) ? isWriteTarget(p.parent) : false;
  if (ts.isPropertyAssignment(p)) return p.initializer === outer && isWriteTarget(p.parent);
  return false;
}

type Wrapper = ts.ParenthesizedExpression | ts.AsExpression | ts.TypeAssertion | ts.SatisfiesExpression | ts.NonNullExpression;

function isWrapper(n: ts.Node): n is Wrapper {
  return ts.isParenthesizedExpression(n) || ts.isAsExpression(n) || ts.isTypeAssertionExpression(n) ||
    ts.isSatisfiesExpression(n) || ts.isNonNullExpression(n);
}

/** `e` with parentheses and type-only wrappers (as, satisfies, !, <T>) around it included. */
function outermostWrapper(e: ts.Expression): ts.Expression {
  let n = e;
  while (isWrapper(n.parent)) n = n.parent;
  return n;
}

/** `e` with parentheses and type-only wrappers removed. */
function skipWrappers(e: ts.Expression): ts.Expression {
  let n = e;
  while (isWrapper(n)) n = n.expression;
  return n;
}

// The trusted build's source checks: what the code of a domain may say. They run on exactly the
// files esbuild loaded for the domain's bundle (bundle.ts, guard.ts: its metafile is the authority),
// on the very text esbuild compiled, each parsed as the code esbuild compiled it as.
//
// Domains are isolated by the language: each runs in its own SES compartment, reaches the rest of
// the system only through the capabilities the kernel hands to init (sys.*, imports), and is
// metered by the checks the build inserts into its code (meter.ts). These checks refuse source that would step
// around any of that. Every rule is an error reported as `path:line:col: message`; all of a
// domain's violations are collected, sorted by position. Files of the domain folder, of the shared
// folders (src/lib/, src/machine/common/: src/tools/layout.json) and of allowlisted packages are
// checked; src/idl/ (interfaces and generated glue) is trusted.
//
//   1. Imports. `import`, `export ... from`, `import type`, `import x = require()`, `import('x').T`
//      and every `require('x')` call: a path must stay inside the domain's own folder, src/idl/ or
//      the shared folders (shared code: inside those; a package's: inside its package); a bare package must be on the reviewed allowlist
//      (allowlist.json); Node's own modules ('node:*', 'fs', ...) never are (scope.ts). No import
//      attributes (`with { type: ... }`): they would choose how the bundler loads a file.
//      The folder itself may hold no symbolic link and no package.json, tsconfig.json or
//      jsconfig.json: each would change how the bundler resolves the domain's imports.
//   2. Evaluators and escape hatches: eval, the Function constructor, SES's Compartment (code they
//      evaluate is neither checked nor metered), dynamic import(), import.meta, `with`, `debugger`.
//   3. Host globals (process, require, Buffer, setTimeout, fetch, ...) as free identifiers. The
//      compartment does not have them; the kernel gives domains what they need as capabilities.
//   4. globalThis is read-only: `globalThis.name` may be read, but nothing may write to it, and it
//      may not be aliased (stored, passed, returned), since mutation through an alias is invisible here.
//   5. Identifiers starting with `__frond`, which the CPU meter reserves for its closure variables.
//   6. Syntax errors, at the parser's position (nothing else is checked in a file that does not parse).
//
// Parsing as esbuild does: a file esbuild loaded with the ts loader is parsed as TypeScript and
// one loaded with the js loader as JavaScript, under a neutral name (TypeScript would take a name
// like x.d.ts or x.d.foo.ts for a declaration file and skip its statements as ambient; esbuild
// compiles them). JSON files are data and have nothing to check.
//
// Free identifiers are found by real scope resolution: one ts.Program per domain, holding only the
// loaded files (noResolve, noLib, no @types), asked through the checker's resolveName. A name is
// bound only if it resolves to a runtime declaration in those files: ambient (`declare`)
// declarations and type-only imports are erased by the bundler, so they bind nothing.
//
// When the checks report anything, esbuild's own errors (a syntax error it also found, an import
// the guard left unresolved for the checks to report) are left out: the checks say it better.
import ts from 'typescript';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bundleSources, type Sources } from './bundle.ts';
import { attributesMessage, type LoadedFile } from './guard.ts';
import { CAPABILITIES, formatCheckError, importProblem, isChecked, relPath, type CheckError, type Scope } from './scope.ts';

export { formatCheckError, loadAllowlist, type CheckError } from './scope.ts';

// ---- the rules' vocabulary ---------------------------------------------------------------------

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
  scope: Scope;
  checker: ts.TypeChecker;
  /** the loaded file each parsed file came from */
  files: ReadonlyMap<ts.SourceFile, LoadedFile>;
  errors: CheckError[];
}

/**
 * Bundles the domain folder `dir` behind the guard and checks what esbuild loaded; returns every
 * refusal (the guard's and the checks'), sorted by file, line, col. The build does the same
 * (build.ts), then meters and signs.
 */
export async function checkDomain(dir: string, root: string, allow: readonly string[]): Promise<CheckError[]> {
  return checkLoaded(await bundleSources(dir, root, { allow, check: true }));
}

/** Every refusal for what bundleSources loaded: the guard's, the folder's, the sources', and esbuild's own if nothing else. */
export function checkLoaded(src: Sources): CheckError[] {
  const found = [...checkFolder(src.scope), ...checkSources(src.files, src.scope)];
  if (found.length === 0 && src.deferred.length > 0) {
    for (const d of src.deferred) found.push({ file: d.file, line: 0, col: 0, message: `import '${d.spec}' was left for the source checks to refuse, and they did not: refused` });
  }
  const failed = found.length > 0 ? [] : src.failed;
  return dedupe([...src.refused, ...found, ...failed].sort(byPosition));
}

/** Runs rules 1-6 on the loaded files (src/idl/ and JSON data excepted). */
export function checkSources(files: readonly LoadedFile[], scope: Scope): CheckError[] {
  const code = files.filter((f) => isChecked(f.zone) && f.loader !== 'json');
  const { program, byName } = parse(code);
  const parsed = new Map<ts.SourceFile, LoadedFile>();
  for (const [name, f] of byName) parsed.set(program.getSourceFile(name)!, f);
  const c: Ctx = { scope, checker: program.getTypeChecker(), files: parsed, errors: [] };
  for (const sf of parsed.keys()) checkFile(c, sf, program.getSyntacticDiagnostics(sf));
  return c.errors.sort(byPosition);
}

/**
 * One program over `files`, each under a neutral name (`/frond-check/<n>.ts` or `.js`) that makes
 * TypeScript parse it as the loader esbuild used did: never as a declaration file.
 */
function parse(files: readonly LoadedFile[]): { program: ts.Program; byName: Map<string, LoadedFile> } {
  const byName = new Map<string, LoadedFile>(files.map((f, i) => [`/frond-check/${i}.${f.loader}`, f]));
  const host = ts.createCompilerHost(OPTIONS, true);
  host.getSourceFile = (name, language) => {
    const f = byName.get(name);
    return f === undefined ? undefined : ts.createSourceFile(name, f.text, language, true);
  };
  host.fileExists = (name) => byName.has(name);
  host.readFile = (name) => byName.get(name)?.text;
  // Imports resolve to nothing, whatever the machine holds (TypeScript would otherwise look for
  // /frond-check on the real disk first): a file is checked on its own text, its imports are the
  // guard's business.
  host.resolveModuleNameLiterals = (literals) => literals.map(() => ({ resolvedModule: undefined }));
  return { program: ts.createProgram({ rootNames: [...byName.keys()], options: OPTIONS, host }), byName };
}

function byPosition(a: CheckError, b: CheckError): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1
    : a.line - b.line || a.col - b.col || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0);
}

function dedupe(sorted: CheckError[]): CheckError[] {
  return sorted.filter((e, i) => i === 0 || formatCheckError(e) !== formatCheckError(sorted[i - 1]!));
}

/** The domain folder's own rules: no symbolic links, no resolution config files (package.json, tsconfig.json, jsconfig.json). */
export function checkFolder(s: Scope, dir = s.dir, errors: CheckError[] = []): CheckError[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = lstatSync(p);
    const at = (message: string): void => { errors.push({ file: relPath(s.root, p), line: 1, col: 1, message }); };
    if (st.isSymbolicLink()) at('symbolic links are not allowed in a domain folder: the bundler would follow them to code this check does not see');
    else if (st.isDirectory()) checkFolder(s, p, errors);
    else if (RESOLUTION_CONFIG.has(name)) at(`${name} is not allowed in a domain folder: it would change how the bundler resolves the domain's imports`);
  }
  return errors;
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
  visit(sf, false);
}

/** The loaded file `sf` was parsed from. */
function fileOf(c: Ctx, sf: ts.SourceFile): LoadedFile {
  return c.files.get(sf)!;
}

function report(c: Ctx, sf: ts.SourceFile, pos: number, message: string): void {
  const { line, character } = sf.getLineAndCharacterOfPosition(pos);
  c.errors.push({ file: fileOf(c, sf).rel, line: line + 1, col: character + 1, message });
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
  checkAttributes(c, node);
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
  const f = fileOf(c, node.getSourceFile());
  const why = importProblem(c.scope, node.text, f.path, f.zone);
  if (why !== null) reportAt(c, node, `import '${node.text}': ${why}`);
}

/** `import ... with { ... }` and `export ... from ... with { ... }`. */
function checkAttributes(c: Ctx, node: ts.Node): void {
  if (!ts.isImportDeclaration(node) && !ts.isExportDeclaration(node)) return;
  const spec = node.moduleSpecifier;
  if (node.attributes !== undefined && spec !== undefined && ts.isStringLiteralLike(spec)) reportAt(c, node.attributes, attributesMessage(spec.text));
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

/**
 * Whether `id` resolves, by scope, to a runtime declaration in the domain's own files. Globals are
 * left out: every file is a module and there is no lib, so a global can only be one a JavaScript
 * file made up by writing to it (`eval.x = 1`, `this.eval = 0` at its top level), which declares
 * nothing at run time.
 */
function isBoundLocally(c: Ctx, id: ts.Identifier): boolean {
  const sym = c.checker.resolveName(id.text, id, ts.SymbolFlags.Value, true);
  return sym?.declarations?.some((d) => c.files.has(d.getSourceFile()) && isRuntimeDeclaration(d)) ?? false;
}

function isRuntimeDeclaration(d: ts.Declaration): boolean {
  // (a JavaScript assignment TypeScript takes for a declaration: `x.y = …`, `this.x = …`,
  // `Object.defineProperty(x, …)`: it binds no name)
  if (ts.isBinaryExpression(d) || ts.isPropertyAccessExpression(d) || ts.isElementAccessExpression(d) || ts.isCallExpression(d) || ts.isIdentifier(d)) return false;
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

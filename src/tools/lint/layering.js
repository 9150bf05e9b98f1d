// frond/layering: keeps Frond's layers pointing downward and the runtime-neutral layers free of host APIs.
//
// Plain ESM JavaScript (not TypeScript) because eslint.config.js loads it directly, without tsx.
//
// For every file under src/ the rule finds its layer (idl, kernel, domains, user, machine/common,
// machine/node, machine/web, tools, boot, cli) and checks each module specifier it sees in
//   import ... from 's'      export ... from 's'      export * from 's'
//   import('s')              require('s')             import x = require('s')      typeof import('s')
// (string literals, or template literals without substitutions):
//   1. runtime-neutral layers (idl, kernel, domains, user, machine/common) may not import a host API:
//      any 'node:*' specifier, or a Node builtin by bare name ('fs', 'fs/promises', 'worker_threads', ...);
//   2. relative and absolute specifiers are resolved against the importing file, and the target's layer
//      must be one the importer may use (see ALLOWED); a domain may use only its own domain folder;
//   3. runtime-neutral layers may not use host globals (process, Buffer, require, __dirname, __filename,
//      global, setImmediate) as free identifiers, in value or type position.
// Bare package specifiers ('ses', 'esbuild') are only checked by (1).
// Type-only imports are checked like any other: a layer edge is a layer edge even if it is erased.

import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** src/, found from this file's own location (src/tools/lint/layering.js), so the cwd does not matter. */
const SRC_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What a domain folder is and what a domain may import: src/tools/layout.json, which the trusted
 *  build reads too. Its folders are written from the repository root ('src/lib'); layers from src/. */
const LAYOUT = JSON.parse(readFileSync(path.join(SRC_ROOT, 'tools', 'layout.json'), 'utf8'));
/** @param {string} dir e.g. 'src/machine/common' */
const layerOfDir = (dir) => dir.replace(/^src\//, '');
const DOMAIN_MAY_USE = [...LAYOUT.trusted, ...LAYOUT.shared].map(layerOfDir);

/** Layers that must run unchanged on any JavaScript engine. */
const NEUTRAL = new Set(['idl', 'kernel', 'domains', 'lib', 'user', 'machine/common']);

/** Which other layers each layer may import from (it may always import within itself, domains excepted). */
const ALLOWED = {
  'idl': [],
  'machine/common': [],
  'lib': DOMAIN_MAY_USE.filter((l) => l !== 'lib'),
  'kernel': ['idl', 'lib', 'machine/common'],
  'domains': DOMAIN_MAY_USE,
  'user': ['idl', 'lib'],
  'machine/node': ['machine/common', 'idl', 'lib'],
  'machine/web': ['machine/common', 'idl', 'lib'],
  'tools': ['idl', 'kernel', 'lib', 'machine/common'],
  'boot': ['kernel', 'machine/node', 'machine/common', 'idl', 'lib', 'tools'],
  'cli': null, // anything
};

const HOST_GLOBALS = new Set(['process', 'Buffer', 'require', '__dirname', '__filename', 'global', 'setImmediate']);

const BUILTINS = new Set(builtinModules);

/** @param {string} spec */
function isHostApi(spec) {
  return spec.startsWith('node:') || BUILTINS.has(spec);
}

/** @param {string} spec */
function isPathSpecifier(spec) {
  return spec === '.' || spec === '..' || spec.startsWith('./') || spec.startsWith('../') || spec.startsWith('/');
}

/**
 * Path of an absolute file name relative to src/, with '/' separators, or null if it is outside src/.
 * @param {string} file
 * @param {string} srcRoot
 */
function srcRelative(file, srcRoot) {
  const rel = path.relative(srcRoot, file);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return rel.split(path.sep).join('/');
}

/**
 * The layer of a path relative to src/, or null for files that belong to no layer.
 * @param {string} rel
 */
function layerOf(rel) {
  const [first, second] = rel.split('/');
  if (first === 'idl' || first === 'kernel' || first === 'domains' || first === 'lib' || first === 'user' ||
      first === 'tools' || first === 'boot' || first === 'cli') return first;
  if (first === 'machine' && (second === 'common' || second === 'node' || second === 'web')) return `machine/${second}`;
  return null;
}

/**
 * The domain folder of a file under src/domains/, relative to src/domains/: the nearest folder
 * holding the layout's marker (domain.json), as the trusted build decides. A file in no domain
 * folder gets '' (it belongs to no domain: no domain may import it, and it may import none).
 * @param {string} file absolute
 * @param {string} srcRoot
 * @param {(p: string) => boolean} [exists] the file system's answer (tests lint trees that are not on disk)
 */
function domainOf(file, srcRoot, exists = existsSync) {
  const top = path.join(srcRoot, 'domains');
  for (let d = path.dirname(file); d.startsWith(top + path.sep); d = path.dirname(d)) {
    if (exists(path.join(d, LAYOUT.marker))) return path.relative(top, d).split(path.sep).join('/');
  }
  return '';
}

/** @param {string} domain */
function describeDomain(domain) {
  return domain === '' ? 'domains/ (outside any domain folder)' : domain;
}

/**
 * The string value of a specifier node, or null if it is not a constant string.
 * @param {any} node
 * @returns {string | null}
 */
function stringValue(node) {
  if (!node) return null;
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'TemplateLiteral' && node.expressions.length === 0) return node.quasis[0].value.cooked ?? null;
  if (node.type === 'TSLiteralType') return stringValue(node.literal);
  return null;
}

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: {
    type: 'problem',
    docs: {
      description: 'Keep Frond layers pointing downward, domains apart, and runtime-neutral layers free of host APIs',
    },
    schema: [],
    messages: {
      hostApi: "{{layer}}/ must stay runtime-neutral: it may not import host API '{{spec}}'",
      hostGlobal: "{{layer}}/ must stay runtime-neutral: it may not use host global '{{name}}'",
      layer: '{{layer}}/ may not import from {{target}} (imports point downward: {{layer}} may use {{allowed}})',
      crossDomain: "domain '{{from}}' may not import another domain's code ('{{to}}'); reach it through a capability passed to init",
    },
  },

  create(context) {
    const filename = context.physicalFilename ?? context.filename;
    const srcRoot = SRC_ROOT;
    /** @type {((p: string) => boolean) | undefined} */
    const exists = context.settings?.frond?.exists;
    const rel = srcRelative(filename, srcRoot);
    if (rel === null) return {};
    const layer = layerOf(rel);
    if (layer === null) return {};
    const neutral = NEUTRAL.has(layer);
    const allowed = ALLOWED[/** @type {keyof typeof ALLOWED} */ (layer)];
    const allowedText = allowed === null ? 'anything'
      : allowed.length === 0 ? `nothing outside ${layer}/` : allowed.join(', ');

    /**
     * @param {any} node the node to report on
     * @param {string} spec
     */
    function checkSpecifier(node, spec) {
      if (isHostApi(spec)) {
        if (neutral) context.report({ node, messageId: 'hostApi', data: { layer, spec } });
        return;
      }
      if (!isPathSpecifier(spec) || allowed === null) return;

      const target = path.resolve(path.dirname(filename), spec);
      const targetRel = srcRelative(target, srcRoot);
      const targetLayer = targetRel === null ? null : layerOf(targetRel);

      if (layer === 'domains' && targetLayer === 'domains') {
        const from = domainOf(filename, srcRoot, exists);
        const to = domainOf(target, srcRoot, exists);
        if (from !== to) {
          context.report({
            node, messageId: 'crossDomain', data: { from: describeDomain(from), to: describeDomain(to) },
          });
        }
        return;
      }
      if (targetLayer === layer || (targetLayer !== null && allowed.includes(targetLayer))) return;

      const targetText = targetRel === null ? `outside src/ ('${spec}')`
        : targetLayer === null ? `src/${targetRel}`
        : `${targetLayer}/`;
      context.report({ node, messageId: 'layer', data: { layer, target: targetText, allowed: allowedText } });
    }

    /** @param {any} node a node with a `source` */
    function checkSource(node) {
      const spec = stringValue(node.source);
      if (spec !== null) checkSpecifier(node.source, spec);
    }

    /** @type {import('eslint').Rule.RuleListener} */
    const listeners = {
      ImportDeclaration: checkSource,
      ExportNamedDeclaration: checkSource,
      ExportAllDeclaration: checkSource,
      ImportExpression: checkSource,
      CallExpression(node) {
        if (node.callee.type !== 'Identifier' || node.callee.name !== 'require') return;
        const arg = node.arguments[0];
        const spec = stringValue(arg);
        if (spec !== null) checkSpecifier(arg, spec);
      },
      // TypeScript-only syntax (typescript-eslint node types, so keyed by string).
      /** @param {any} node */
      TSImportEqualsDeclaration(node) {
        const ref = node.moduleReference;
        if (ref && ref.type === 'TSExternalModuleReference') {
          const spec = stringValue(ref.expression);
          if (spec !== null) checkSpecifier(ref.expression, spec);
        }
      },
      /** @param {any} node */
      TSImportType(node) {
        const spec = stringValue(node.argument);
        if (spec !== null) checkSpecifier(node.argument, spec);
      },
    };

    if (neutral) {
      listeners['Program:exit'] = () => {
        const globalScope = context.sourceCode.scopeManager?.globalScope;
        if (!globalScope) return;
        /** @type {Set<import('estree').Identifier>} */
        const seen = new Set();
        /** @param {import('eslint').Scope.Reference} ref */
        const report = (ref) => {
          const id = ref.identifier;
          if (seen.has(id) || !HOST_GLOBALS.has(id.name)) return;
          seen.add(id);
          context.report({ node: id, messageId: 'hostGlobal', data: { layer, name: id.name } });
        };
        // Free identifiers nobody declared...
        for (const ref of globalScope.through) report(ref);
        // ...and ones resolved only to a configured global (languageOptions.globals), which has no definition.
        for (const name of HOST_GLOBALS) {
          const variable = globalScope.set.get(name);
          if (variable && variable.defs.length === 0) for (const ref of variable.references) report(ref);
        }
      };
    }

    return listeners;
  },
};

export default rule;

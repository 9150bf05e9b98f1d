// Loading a domain: its bundle evaluated in a fresh compartment, its init called, its exported
// implementation checked. Kernel.instantiate does the bookkeeping around it (the domain record,
// its imports, its quota, crash containment); this is what runs the domain's code for the first
// time, as the domain (the caller runs it inside rpc.run), so everything read of its values here
// is read while it is the current domain.
//
// The compartment holds the standard intrinsics, the domain's `console` (services/log.ts) and no
// evaluator: the compartment's own eval, Function and Compartment (and lockdown) are removed, since
// code they evaluated would be neither checked by the build nor metered; the constructors reachable
// from intrinsics (plain, async, generator functions) are SES's inert ones.
//
// Every domain's code is compiled afresh. V8 caches eval'd code by its source text, so everything
// evaluated from the same text in a realm shares its compiled functions, and every Compartment of
// a process lives in one realm: what V8 learnt from one instance's objects slowed the next
// (README, language tax). A realm-wide number in the source makes each text unique.
import type { Bundle, MeterHooks } from './domain.ts';

const EVALUATORS = ['eval', 'Function', 'Compartment', 'lockdown'];
let evaluations = 0;

function closeEvaluators(g: object, getters: Readonly<Record<string, () => unknown>>): void {
  for (const k of EVALUATORS) {
    delete (g as Record<string, unknown>)[k];
    if (Object.hasOwn(g, k)) throw new Error(`kernel: cannot remove ${k} from a domain's global object`);
  }
  for (const [k, get] of Object.entries(getters)) Object.defineProperty(g, k, { get, enumerable: false, configurable: false });
  harden(g);
}

/**
 * Evaluates bundle `b` in a fresh compartment (named `url`, with `globals`, and `getters`: the
 * host's mutation-testing globals, Host.mutationGlobals, empty in any real run), gives its code its
 * meter `hooks`, and calls its init with `sys`, `imports` and `config`. Returns the implementation
 * of the interface it exports, checked to have every method in `methods` (null if it exports none).
 * Throws whatever goes wrong; the caller crashes the domain.
 */
export function startDomain(b: Bundle, url: string, globals: Record<string, unknown>, hooks: MeterHooks,
  sys: object, imports: object, config: unknown, methods: readonly string[],
  getters: Readonly<Record<string, () => unknown>> = {}): object | null {
  const c = new Compartment({ __options__: true, globals, name: url } as never);
  closeEvaluators(c.globalThis, getters);
  const factory = c.evaluate(`${b.code}\n// frond evaluation ${++evaluations}\n//# sourceURL=${url}\n`) as unknown;
  if (typeof factory !== 'function') throw new TypeError('bundle did not evaluate to a function of its meter');
  const entry = factory(hooks) as { start?: unknown };
  if (entry === null || typeof entry !== 'object' || typeof entry.start !== 'function') {
    throw new TypeError('bundle did not evaluate to { start(sys, imports) }');
  }
  const impl = (entry.start as (s: unknown, i: unknown, c: unknown) => unknown)(harden(sys), imports, config);
  if (!b.exports) return null;
  if (impl === null || typeof impl !== 'object') throw new TypeError(`init must return an implementation of ${b.exports}`);
  for (const m of methods) {
    if (typeof (impl as Record<string, unknown>)[m] !== 'function') throw new TypeError(`init's result lacks ${b.exports}.${m}`);
  }
  return impl;
}

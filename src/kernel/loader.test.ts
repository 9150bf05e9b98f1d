// Tests for kernel/loader.ts: startDomain refuses a bundle that does not evaluate to a function of
// its meter, one whose function returns no `{ start }`, and an init whose result is not an
// implementation of the exported interface; the host's getters are reachable as globals of the
// domain, and the compartment has no evaluators.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureLockdown } from './lockdown.ts';
import { startDomain } from './loader.ts';
import type { Bundle, MeterHooks } from './domain.ts';

ensureLockdown();

const hooks: MeterHooks = { pending: new DataView(new ArrayBuffer(4)), tick: () => {}, live: () => {} };

function bundle(code: string, exports: string | undefined): Bundle {
  return { name: 't', code, map: '', exports, imports: {}, metered: false } as unknown as Bundle;
}

function start(b: Bundle, methods: readonly string[] = ['go'], getters: Record<string, () => unknown> = {}): object | null {
  return startDomain(b, 'frond-domain://t/1', {}, hooks, {}, {}, undefined, methods, getters);
}

test('startDomain refuses bundles and inits of the wrong shape, with exact messages', () => {
  const cases: [string, string | undefined, string][] = [
    ['42', 'Thing', 'bundle did not evaluate to a function of its meter'],
    ['({ start() { return {}; } })', 'Thing', 'bundle did not evaluate to a function of its meter'],
    ['(() => null)', 'Thing', 'bundle did not evaluate to { start(sys, imports) }'],
    ['(() => 5)', 'Thing', 'bundle did not evaluate to { start(sys, imports) }'],
    ['(() => ({}))', 'Thing', 'bundle did not evaluate to { start(sys, imports) }'],
    ['(() => ({ start: 1 }))', 'Thing', 'bundle did not evaluate to { start(sys, imports) }'],
    ['(() => Object.assign(() => 0, { start: () => ({ go() {} }) }))', 'Thing', 'bundle did not evaluate to { start(sys, imports) }'],
    ['(() => ({ start: () => null }))', 'Thing', 'init must return an implementation of Thing'],
    ['(() => ({ start: () => 3 }))', 'Thing', 'init must return an implementation of Thing'],
    ['(() => ({ start: () => ({}) }))', 'Thing', 'init\'s result lacks Thing.go'],
    ['(() => ({ start: () => ({ go: 1 }) }))', 'Thing', 'init\'s result lacks Thing.go'],
  ];
  for (const [code, exports, message] of cases) {
    assert.throws(() => start(bundle(code, exports)), (e: unknown) => e instanceof TypeError && e.message === message, code);
  }
});

test('startDomain returns the checked implementation, or null when nothing is exported', () => {
  const impl = start(bundle('(() => ({ start: () => ({ go() { return 7; } }) }))', 'Thing')) as { go(): number };
  assert.equal(impl.go(), 7);
  assert.equal(start(bundle('(() => ({ start: () => null }))', undefined)), null);
});

test('the host\'s getters are globals of the domain; its evaluators are gone', () => {
  let reads = 0;
  const code = '(() => ({ start: () => ({ go() {}, probe,'
    + ' evals: [typeof eval, typeof Function, typeof Compartment, typeof lockdown].join(),'
    + ' listed: Object.keys(globalThis).includes("probe") }) }))';
  const impl = start(bundle(code, 'Thing'), ['go'], { probe: () => { reads++; return 42; } }) as { probe: unknown; evals: string; listed: boolean };
  assert.equal(impl.probe, 42);
  assert.equal(impl.listed, false, 'a getter is not among the global object\'s enumerable keys');
  assert.equal(reads, 1);
  assert.equal(impl.evals, 'undefined,undefined,undefined,undefined');
});

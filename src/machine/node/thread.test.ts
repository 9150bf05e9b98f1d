// Tests that a device thread runs functions StrykerJS instrumented, under mutation testing only
// (thread.ts mutationPrelude): the mutant under test is switched on in the worker too, and each
// mutant the worker reaches is counted in the parent's namespace, where the test runner reads
// which test file reached which mutant. Without FROND_MUTATION=1 nothing is added to the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** Runs a thread whose shipped function is instrumented like StrykerJS does, in a fresh process with `env`; returns its output line. */
function run(env: Record<string, string>): { status: number | null; out: string; err: string } {
  const script = `
    const { startThread, threadSource } = await import(${JSON.stringify(new URL('./thread.ts', import.meta.url).href)});
    globalThis.__stryker__ = {}; // (as the test runner's hook leaves it)
    // (the shape of StrykerJS's instrumentation: each mutant's switch, and its coverage call)
    const pick = function pick(x) { return stryMutAct_ab12("7") ? x - 1 : (stryCov_ab12("7", "8"), x + 1); };
    const t = startThread(threadSource({}, { pick }, "require('node:worker_threads').parentPort.postMessage({ result: pick(41) });"), null);
    const result = await new Promise((resolve) => { t.worker.on('message', (m) => { if ('result' in m) resolve(m.result); }); t.worker.on('error', (e) => resolve(e.name)); });
    await new Promise((r) => setTimeout(r, 50)); // (the coverage messages were sent before the result)
    await t.stop();
    console.log(JSON.stringify({ result, covered: globalThis.__stryker__.mutantCoverage?.static ?? null }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8', timeout: 20_000, env: { ...process.env, FROND_MUTATION: '', __STRYKER_ACTIVE_MUTANT__: '', ...env },
  });
  return { status: r.status, out: r.stdout.trim(), err: r.stderr };
}

test('mutation testing: an instrumented function shipped to a device thread runs the mutant under test, and what it reaches is counted in the parent', () => {
  const original = run({ FROND_MUTATION: '1' });
  assert.equal(original.status, 0, original.err);
  assert.deepEqual(JSON.parse(original.out), { result: 42, covered: { 7: 1, 8: 1 } });

  const mutant = run({ FROND_MUTATION: '1', __STRYKER_ACTIVE_MUTANT__: '7' });
  assert.equal(mutant.status, 0, mutant.err);
  assert.deepEqual(JSON.parse(mutant.out), { result: 40, covered: null }, 'the mutant is on in the worker');

  const plain = run({});
  assert.equal(plain.status, 0, plain.err);
  assert.deepEqual(JSON.parse(plain.out), { result: 'ReferenceError', covered: null }, 'outside mutation testing the source is unchanged');
});

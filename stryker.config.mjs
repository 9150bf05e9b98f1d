// Mutation testing (npm run mutate): StrykerJS changes one thing at a time in a module (a
// condition, an operator, a statement removed…) and runs the tests that cover it; a change no test
// notices is a survivor: a test is missing, or the change is equivalent (explained in
// mutation/equivalent.json). The test runner is node's own, through Stryker's TAP runner, one test
// file at a time, with coverage per file, so each mutant runs only the files that reach it.
//
// Which modules, and which tests, are a profile (mutation/profiles.json); MUTATION_PROFILE picks
// one. Reports: reports/mutation/<profile>.html and .json; scripts/mutate.mjs writes the summary.
import { readFileSync } from 'node:fs';

// A domain folder whose code StrykerJS rewrote is built without the source checks (only such a
// folder: build.ts) and gets the tool's namespace (src/machine/node/host.ts mutationGlobals): the
// test processes inherit this.
process.env.FROND_MUTATION = '1';

const profiles = JSON.parse(readFileSync(new URL('./mutation/profiles.json', import.meta.url), 'utf8'));
const name = process.env.MUTATION_PROFILE ?? 'kernel-services';
const profile = profiles[name];
if (!profile) throw new Error(`no mutation profile '${name}' (mutation/profiles.json has: ${Object.keys(profiles).join(', ')})`);

export default {
  testRunner: 'tap',
  tap: { testFiles: profile.tests, nodeArgs: ['--import', 'tsx', '--expose-gc'], forceBail: true },
  mutate: profile.mutate,
  coverageAnalysis: 'perTest',
  checkers: [],
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 2),
  timeoutMS: 10_000,
  timeoutFactor: 2,
  // (the build's test fixtures include packages: Stryker leaves out every node_modules unless told;
  // it leaves out its own temporary folder, not the other profiles' sandboxes beside it)
  ignorePatterns: ['/build', '/bench/results', '/reports', '/scratch', '/tmp', '/keys', '/.stryker-tmp', '!/test/fixtures/build/node_modules'],
  // A run re-tests only the mutants whose code or covering tests changed since the last run of the
  // profile (the file is the last report, kept beside it).
  incremental: process.env.MUTATION_FRESH !== '1',
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  tempDirName: `.stryker-tmp/${name}`, // (profiles may run side by side)
  cleanTempDir: process.env.MUTATION_KEEP_SANDBOX !== '1',
  disableTypeChecks: false, // (tsx strips types without checking them; a '// @ts-nocheck' line would move the idlc fixtures' errors)
};

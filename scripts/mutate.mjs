// npm run mutate [-- PROFILE...]: mutation testing with StrykerJS (stryker.config.mjs), one profile
// at a time (mutation/profiles.json: the modules mutated and the test files that may kill them),
// then a summary per module, reports/mutation/summary.json (with the date and the commit), and a
// table. A survivor listed in mutation/equivalent.json (file, line, mutator, replacement, and the
// reason it changes no behaviour) counts as explained; every other survivor is printed, to be
// killed by a test. Exit code 1 if a module is under 90% or a survivor is unexplained.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '../..');
const profiles = JSON.parse(readFileSync(join(root, 'mutation/profiles.json'), 'utf8'));
const equivalent = JSON.parse(readFileSync(join(root, 'mutation/equivalent.json'), 'utf8'));
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const reuse = process.argv.includes('--report-only');
const names = wanted.length > 0 ? wanted : Object.keys(profiles);
for (const n of names) if (!profiles[n]) { console.error(`mutate: no profile '${n}' (there are: ${Object.keys(profiles).join(', ')})`); process.exit(2); }

const TARGET = 0.9;
// (an entry names a mutant by file, line, mutator and replacement, and by column where a line has
// two such mutants and only one is equivalent)
const explained = (file, m) => equivalent.find((e) => e.file === file && e.line === m.location.start.line && e.mutator === m.mutatorName
  && (e.replacement === undefined || e.replacement === m.replacement) && (e.column === undefined || e.column === m.location.start.column));

const head = () => execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
const summaryFile = join(root, 'reports/mutation/summary.json');
const before = existsSync(summaryFile) ? JSON.parse(readFileSync(summaryFile, 'utf8')) : { profiles: {}, modules: [] };
const measured = { ...before.profiles }; // profile -> { date, commit } of the run its report is from
const modules = [];
const open = [];
for (const name of names) {
  const report = join(root, 'reports/mutation', `${name}.json`);
  if (!reuse || !existsSync(report)) {
    measured[name] = { date: new Date().toISOString(), commit: head() };
    console.log(`mutate: profile ${name}: ${profiles[name].about}`);
    const r = spawnSync('npx', ['stryker', 'run'], { cwd: root, stdio: 'inherit', env: { ...process.env, MUTATION_PROFILE: name } });
    if (r.status !== 0) { console.error(`mutate: stryker failed on profile ${name}`); process.exit(1); }
  } else {
    // (a report newer than the recorded run came from a run made outside this script)
    const at = statSync(report).mtime.toISOString();
    if (!measured[name] || measured[name].date < at) measured[name] = { date: at, commit: `report of ${at.slice(0, 16)}, summarized at ${head()}` };
  }
  const json = JSON.parse(readFileSync(report, 'utf8'));
  for (const [file, f] of Object.entries(json.files)) {
    const c = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, invalid: 0 };
    for (const m of f.mutants) {
      if (m.status === 'Killed') c.killed++;
      else if (m.status === 'Timeout') c.timeout++;
      else if (m.status === 'CompileError' || m.status === 'RuntimeError' || m.status === 'Ignored') c.invalid++;
      else if (explained(file, m)) c.equivalent++;
      else {
        if (m.status === 'NoCoverage') c.noCoverage++; else c.survived++;
        open.push(`${file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} ${m.status}: ${JSON.stringify(m.replacement ?? '').slice(0, 80)}`);
      }
    }
    const valid = f.mutants.length - c.invalid - c.equivalent;
    modules.push({ profile: name, file, mutants: f.mutants.length, ...c, score: valid === 0 ? 1 : (c.killed + c.timeout) / valid });
  }
}

// (the summary keeps the other profiles' figures from earlier runs)
const kept = (before.modules ?? []).filter((m) => !names.includes(m.profile));
mkdirSync(join(root, 'reports/mutation'), { recursive: true });
writeFileSync(summaryFile, `${JSON.stringify({ target: TARGET, profiles: measured, modules: [...kept, ...modules], unexplained: open }, null, 2)}\n`);
const w = Math.max(...modules.map((m) => m.file.length));
console.log(`\n${'module'.padEnd(w)}  mutants  killed  survived  no-cov  equiv  score`);
for (const m of modules) {
  console.log(`${m.file.padEnd(w)}  ${String(m.mutants).padStart(7)}  ${String(m.killed + m.timeout).padStart(6)}  ${String(m.survived).padStart(8)}  ${String(m.noCoverage).padStart(6)}  ${String(m.equivalent).padStart(5)}  ${(m.score * 100).toFixed(1).padStart(5)}%${m.score < TARGET ? '  UNDER 90%' : ''}`);
}
if (open.length > 0) console.log(`\n${open.length} survivors neither killed nor explained:\n${open.join('\n')}`);
for (const n of names) console.log(`${n}: measured ${measured[n].date.slice(0, 10)} at ${measured[n].commit}`);
console.log('\nreports/mutation/summary.json (every profile measured so far); HTML per profile in reports/mutation/');
process.exit(open.length > 0 || modules.some((m) => m.score < TARGET) ? 1 : 0);

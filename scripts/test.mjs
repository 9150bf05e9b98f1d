// Runs every *.test.ts under src/ and test/ with node's test runner (Node 20 has no glob for --test).
// --expose-gc lets the isolation tests prove that a dead domain's private heap is collected.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = [...find('src'), ...find('test'), ...find('bench')].sort();
if (filter.length) files = files.filter((f) => filter.some((s) => f.includes(s)));
if (files.length === 0) { console.error('no test files matched'); process.exit(1); }
// Build (check, meter, sign) every domain the tests load, once, before the test files run in
// parallel: they share build/test/ (incremental, so this is quick when nothing changed).
// Test domains attack the run-time defences behind the source checks, so they are built without
// them (test/helpers.ts does the same).
const frondBuild = (...args) => spawnSync(process.execPath,
  ['bin/frond.mjs', 'build', '--out', 'build/test/domains', '--keys', 'build/test/keys', ...args],
  { stdio: 'inherit' }).status;
const prep = frondBuild('src/domains', 'bench/domains') || frondBuild('--no-check', 'test/domains', 'test/adversarial/domains');
if (prep !== 0) process.exit(prep ?? 1);
const r = spawnSync(process.execPath,
  ['--import', 'tsx', '--expose-gc', '--test', '--test-reporter=spec', ...files],
  { stdio: 'inherit' });
process.exit(r.status ?? 1);

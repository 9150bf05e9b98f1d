// The `frond` command: every verb answers --help, and `frond start` boots and recovers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers.ts';

const frond = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/frond.mjs'), ...args], { encoding: 'utf8', cwd: ROOT });

test('every verb has --help, and unknown verbs fail', () => {
  const top = frond('--help');
  assert.equal(top.status, 0);
  const verbs = [...top.stdout.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]);
  assert.ok(verbs.includes('idl') && verbs.includes('start') && verbs.includes('bench'), top.stdout);
  for (const v of verbs) {
    const r = frond(v, '--help');
    assert.equal(r.status, 0, v);
    assert.match(r.stdout, new RegExp(`^frond ${v}`), v);
  }
  assert.equal(frond('nonsense').status, 1);
});

test('frond start boots, contains a crash, and recovers through a shadow', () => {
  const r = frond('start');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /domain flaky#\d+ crashed \(exception in Counter.add\): Error: injected fault/);
  assert.match(r.stdout, /the counter is still fine: add\(1\) -> \{"ok":true,"value":43\}/);
  assert.match(r.stdout, /ok\(0\) ok\(1\) ok\(2\) ok\(3\) ok\(4\) ok\(5\)/);
  assert.match(r.stdout, /6 driver crashes recovered transparently/);
});

test('frond build signs into --out, is incremental, and refuses bad domains with path:line:col', () => {
  const out = mkdtempSync(join(tmpdir(), 'frond-cli-build-'));
  const keys = join(out, 'keys');
  try {
    const first = frond('build', '--out', out, '--keys', keys, 'src/domains/apps');
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /frond build: 2 built, 0 up to date, signed with key [0-9a-f]{16}/);
    const again = frond('build', '--out', out, '--keys', keys, 'src/domains/apps');
    assert.match(again.stdout, /frond build: 0 built, 2 up to date/);
    // A bundle made by another version of the build tool (its sources hash differently) is stale.
    const counterFile = join(out, 'counter.bundle.json');
    const doc = JSON.parse(readFileSync(counterFile, 'utf8')) as { manifest: { tool: { frond: string } } };
    assert.match(doc.manifest.tool.frond, /^\d+\.\d+\.\d+\+build\.[0-9a-f]{16}$/);
    doc.manifest.tool.frond = doc.manifest.tool.frond.replace(/build\.[0-9a-f]/, 'build.x');
    writeFileSync(counterFile, JSON.stringify(doc));
    const stale = frond('build', '--out', out, '--keys', keys, 'src/domains/apps');
    assert.match(stale.stdout, /frond build: 1 built, 1 up to date/);
    const v = frond('verify', '--keys', keys, join(out, 'counter.bundle.json'), join(out, 'plan.bundle.json'));
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /counter\.bundle\.json: ok \(counter, key [0-9a-f]{16}\)/);
    const untrusted = frond('verify', join(out, 'counter.bundle.json')); // keys/ of the tree: another key
    assert.equal(untrusted.status, 1);
    assert.match(untrusted.stdout, /counter\.bundle\.json: refused bundle counter: untrusted key/);
    const bad = frond('build', '--out', out, '--keys', keys, 'test/adversarial/refused/eval');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^test\/adversarial\/refused\/eval\/index\.ts:\d+:\d+: .*eval/m);
    assert.equal(frond('verify').status, 1, 'no file');
    assert.equal(frond('verify', join(out, 'missing.json')).status, 1);
    assert.equal(frond('build', '--bogus').status, 1);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

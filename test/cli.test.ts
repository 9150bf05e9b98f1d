// The `frond` command: every verb answers --help, and `frond start` boots and recovers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

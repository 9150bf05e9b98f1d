// A kernel attached to a Node process owns its uncaught-error events, but only domains' errors are
// its business: the host program's own errors behave as in any Node program (printed with their
// stack, exit status 1), instead of one line of 'unattributed' and exit 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.ts';

for (const how of ['throw', 'reject']) {
  test(`a host program's own ${how === 'throw' ? 'uncaught exception' : 'unhandled rejection'} ends it with its stack and status 1, kernel or not`, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/host-error.ts'), how], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /Error: the host program has a bug/);
    assert.match(r.stderr, /at .*host-error\.ts:\d+/, 'with its stack');
    assert.doesNotMatch(r.stdout, /still running/);
    assert.doesNotMatch(r.stderr + r.stdout, /unattributed/);
  });
}

// xv6's usertests, ported (src/user/usertests), run inside rv6 on a fresh disk: every test must
// pass, twice on the same disk (they clean up after themselves), and the disk must be fsck-clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { freshImage, runShell } from './rv6-helpers.ts';
import { fsck } from '../src/tools/fs/fsck.ts';

test('usertests: ALL TESTS PASSED, twice on one disk, then stressfs; the disk is consistent', async () => {
  const disk = await freshImage();
  const s = await runShell('usertests\nusertests -q\nstressfs\n', { disk, timeoutMs: 240_000 });
  const failed = s.output.split('\n').filter((l) => /FAILED/.test(l));
  assert.deepEqual(failed, [], s.output);
  assert.equal(s.output.match(/ALL TESTS PASSED/g)?.length, 2, s.output);
  assert.match(s.output, /stressfs ok/);
  const r = fsck(new Uint8Array(readFileSync(disk)));
  assert.ok(r.ok, r.errors.join('\n'));
});

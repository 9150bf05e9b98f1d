// docs/guide.md works when pasted: every ```sh block of it is run, in order, in a fresh copy of
// the repository (the clone and `npm install` steps aside: the copy shares this checkout's
// node_modules), and the program it builds prints what the guide says it will.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers.ts';

test('docs/guide.md: its commands, pasted in order into a fresh copy, build and run the component it describes', () => {
  const guide = readFileSync(join(ROOT, 'docs/guide.md'), 'utf8');
  const blocks = [...guide.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!)
    .filter((b) => !/^(git clone|npm install)/m.test(b));
  assert.ok(blocks.length >= 5, 'the guide has its steps');
  const dir = mkdtempSync(join(tmpdir(), 'frond-guide-'));
  try {
    for (const f of ['bin', 'src', 'package.json', 'tsconfig.json']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    let out = '';
    for (const b of blocks) {
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', b], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `this step of the guide failed:\n${b}\n${r.stdout}\n${r.stderr}`);
      out += r.stdout;
    }
    assert.match(out, /^add -> \{"ok":true,"value":1\}$/m);
    assert.match(out, /^ {2}\| domain my-notes#\d+ crashed \(exception in Notes\.add\): Error: a note exploded$/m);
    assert.match(out, /^add boom -> \{"ok":false,"error":\{"kind":"crashed"/m);
    assert.match(out, /^alive\? false \| calls into it now fail: \{"ok":false,"error":\{"kind":"dead"/m);
    assert.match(out, /^restarted: get\(0\) -> \{"ok":true,"value":""\}/m);
    assert.match(out, /^through the shadow: add\(one\) -> \{"ok":true,"value":1\}$/m);
    assert.match(out, /^through the shadow: add\(boom\) -> \{"ok":false/m);
    assert.match(out, /^through the shadow: add\(two\) -> \{"ok":true,"value":1\}$/m);
    assert.match(out, /restart 1: Notes\.add: domain my-notes crashed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

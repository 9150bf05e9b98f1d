// The examples run as a user would run them (docs/guide.md): examples/hello, Frond as a library,
// through the package's own entry point ('frond').
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.ts';

test('examples/hello: a greeter crashes and is contained, restarts with fresh state, and crashes unseen behind its shadow', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'examples/hello/main.ts')], { encoding: 'utf8', cwd: ROOT, timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^greet\(Ada\) -> \{"ok":true,"value":"Hello, Ada!"\}$/m);
  assert.match(out, /^ {2}\| domain hello-greeter#\d+ crashed \(exception in Greeter\.greet\): Error: the greeter tripped over Barbara$/m);
  assert.match(out, /^greet\(Barbara\) -> \{"ok":false,"error":\{"kind":"crashed","domain":"hello-greeter"/m);
  assert.match(out, /^the greeter is alive: false; crashes contained since boot: 1$/m);
  assert.match(out, /^after restart: greet\(Barbara\) -> \{"ok":true,"value":"Hello, Barbara!"\} count -> \{"ok":true,"value":1\}$/m);
  for (const name of ['Edsger', 'Leslie', 'Tony', 'Niklaus', 'Frances']) {
    assert.match(out, new RegExp(`^through the shadow: greet\\(${name}\\) -> \\{"ok":true,"value":"Hello, ${name}!"\\}$`, 'm'));
  }
  assert.equal(out.match(/restarted the greeter/g)?.length, 2, 'the shadow restarted it twice, unseen by its caller');
});

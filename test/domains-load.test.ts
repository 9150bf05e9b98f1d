// sys.domains.load, kill and own-implementation imports: how a privileged domain (rv6's core) runs
// programs it read from a disk. Bundles come in as a domain's bytes and are verified like any
// other; hostile byte arrays run nothing; a domain kills only what it created; an import may be the
// creator's own implementation of the interface, never a look-alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boot, signed } from './helpers.ts';
import type { Counter, Probe } from '../src/idl/demo.ts';

const b = await boot(['counter', 'probe', 'test/domains/loader']);
const bundle = await signed('src/domains/apps/counter');
const counter = b.k.create<Counter>('counter').api;
const loader = b.k.create<Probe>('loader', { counter }, { privileged: true, config: { bundle, probe: 'probe' } }).api;
const run = (what: string, n = 0): number => {
  const r = loader.run(what, n);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
};

test('domains.load: a signed bundle given as bytes is verified, registered under name@hash, and runs', () => {
  assert.equal(run('load-create', 7), 7);
});

test('domains.load: proxies, subclasses and own constructors are refused without running a trap; tampered, unsigned and garbage bytes are refused', () => {
  assert.equal(run('load-proxy'), 1, 'a Proxy is refused and no trap ran');
  assert.equal(run('load-subclass'), 1);
  assert.equal(run('load-own-constructor'), 1, 'refused and its getter never ran');
  assert.equal(run('load-tampered'), 1);
  assert.equal(run('load-unsigned'), 1);
  assert.equal(run('load-garbage'), 1);
});

test('domains.kill: only a domain the caller created; a killed domain refuses calls', () => {
  assert.equal(run('kill-import'), 0, 'the counter it was given is not its own');
  assert.ok(counter.add(1).ok, 'and still runs');
  assert.equal(run('kill-junk'), 0);
  assert.equal(run('load-create', 1), 1);
  assert.equal(run('kill-child'), 1, 'killed, and its next call failed');
});

test('imports: a creator may hand its own implementation of the interface; a look-alike missing methods is refused', () => {
  assert.equal(run('own-import', 5), 5000, "the child's call reached the creator's own Counter");
  assert.equal(run('own-import-wrong'), 0);
});

test('grants: a creator cannot give a child more CPU budget than its own', () => {
  assert.equal(run('grant-over'), 0);
});

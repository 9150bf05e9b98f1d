// Crash safety of rv6's file system, CrashMonkey-style (src/boot/fscrash.ts): power cut after
// every I/O command of a workload (every flush boundary and every write between), keeping none,
// all or a random part of the unflushed writes; a new fs domain recovers; fsck must find the disk
// consistent with an empty log, and the disk must hold exactly a prefix of the calls that
// returned, including every call before the last sync that returned. (npm run crash:fs runs
// hundreds of cuts; this is a few dozen.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { baseImage, commandsOf, cutOnce, judge, Model, run, machine, tempDir, treeOf, workload } from '../src/boot/fscrash.ts';
import type { Keep } from '../src/machine/node/nvme.ts';
import { imageReader, readSuperblock } from '../src/lib/xv6fs/image.ts';
import { built } from './rv6-helpers.ts';

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

test('power cut after every I/O command of a workload: fsck clean, and the disk holds a prefix of the calls, synced ones included', async () => {
  const b = await built();
  const base = baseImage();
  const ops = workload(7, 60);
  const n = await commandsOf(b.system, b.trust, base, ops, dir);
  assert.ok(n > 20, `the workload did I/O (${n} commands)`);
  const bad: string[] = [];
  let nonEmpty = 0;
  let synced = 0;
  for (let a = 1; a <= n; a++) {
    const keep: Keep = a % 3 === 0 ? 'none' : a % 3 === 1 ? 'all' : { seed: a };
    const r = await cutOnce(b.system, b.trust, base, ops, a, keep, dir);
    if (!r.ok) bad.push(`cut after ${a} (${JSON.stringify(keep)}): ${r.problems.join('; ')}`);
    if (r.prefix > 0) nonEmpty++;
    synced = Math.max(synced, r.synced);
  }
  assert.deepEqual(bad, []);
  assert.ok(nonEmpty > n / 3, `most cuts recovered some calls (${nonEmpty} of ${n})`);
  assert.ok(synced > 0, 'some cut came after a sync that returned');
});

test('the check can fail: a lost synced call, a tree that is no prefix, and a corrupt disk are each caught', async () => {
  const b = await built();
  const m = await machine(b.system, b.trust, baseImage(), dir);
  const { states, synced } = await run(m, [{ k: 'mkdir', path: '/x' }, { k: 'sync' }, { k: 'write', path: '/x/a', off: 0, len: 10, fill: 1 }, { k: 'sync' }], new Model());
  const image = await m.stop();
  assert.equal(synced, 3);
  assert.deepEqual(judge(image, states, synced), { problems: [], prefix: 3 });
  assert.match(judge(baseImage(), states, synced).problems.join(), /holds the tree after call 0, but call 3 had been synced/);
  assert.match(judge(image, states.slice(0, 2), 0).problems.join(), /no prefix of the calls/);
  const corrupt = image.slice();
  const bmap = readSuperblock(imageReader(image)).bmapstart;
  corrupt.fill(0xff, 1024 * bmap, 1024 * (bmap + 1)); // (every block marked used)
  assert.match(judge(corrupt, states, synced).problems.join(), /fsck: /);
  assert.ok(treeOf(image).includes('f /x/a 10 1'));
});

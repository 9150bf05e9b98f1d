// rv6 as a whole: programs are signed bundles on the disk that the kernel verifies before they
// run; a program that computes without system calls is stopped by its CPU budget and one that
// keeps calling is not; kill reaches processes blocked on the console or a pipe; a disk driver
// crashing under a workload is invisible; a bad disk is refused with a clear message; piped input
// makes `frond boot` halt by itself with the file system flushed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PassThrough, Writable } from 'node:stream';
import { join } from 'node:path';
import { freshImage, runShell, built } from './rv6-helpers.ts';
import { ROOT, testKey } from './helpers.ts';
import { bootRv6, buildRv6, defaultImage } from '../src/boot/rv6.ts';
import { buildDomain } from '../src/tools/domainc/build.ts';
import { fsck } from '../src/tools/fs/fsck.ts';
import { readFile } from '../src/lib/xv6fs/image.ts';

const program = async (name: string): Promise<Uint8Array> => (await buildDomain(join(ROOT, `test/programs/${name}`), { root: ROOT, outDir: join(ROOT, 'build/test/user'), key: testKey() })).bytes;
const spin = await program('spin');
const hostile = await program('hostile');
const clean = (disk: string): void => {
  const r = fsck(new Uint8Array(readFileSync(disk)));
  assert.ok(r.ok, r.errors.join('\n'));
};

test('a tampered, an unsigned and a non-bundle executable do not run, and the shell says why', async () => {
  const b = await built();
  const echo = b.programs.find((p) => p.name === 'echo')!.bytes;
  const text = new TextDecoder().decode(echo);
  const tampered = new TextEncoder().encode(text.replace('"code":"', '"code":"0;'));
  const doc = JSON.parse(text) as Record<string, unknown>;
  delete doc.signature;
  const unsigned = new TextEncoder().encode(JSON.stringify(doc));
  const disk = await freshImage([{ name: 'evil', data: tampered }, { name: 'bare', data: unsigned }, { name: 'notes', data: new TextEncoder().encode('hello\n') }]);
  const s = await runShell('evil hi\nbare hi\nnotes\necho still here\n', { disk });
  assert.match(s.output, /sh: evil: refused bundle echo: tampered code/);
  assert.match(s.output, /sh: bare: refused bundle echo: unsigned/);
  assert.match(s.output, /sh: notes: refused bundle \(from rv6-core\): malformed manifest/);
  assert.doesNotMatch(s.output, /^hi$/m, 'nothing of them ran');
  assert.match(s.output, /still here/);
  clean(disk);
});

test('CPU budget: a program computing without system calls is stopped with a message; one making calls runs on until killed', async () => {
  const disk = await freshImage([{ name: 'spin', data: spin }]);
  const t0 = performance.now();
  const s = await runShell('spin\necho after\nspin calls &\nsleep 150\nps\nkill 5\nsleep 10\nps\n', { disk });
  assert.match(s.output, /pid 3 spin: .*CPU budget exceeded: ran \d+ ms without yielding \(budget 1000 ms\)/);
  // (pids: spin 3, echo 4, the calling spinner 5, sleep 6, ps 7, kill 8)
  assert.match(s.output, /after/);
  const ps = s.output.split('PID PPID STATE NAME');
  assert.match(ps[1]!, /^5 2 run spin$/m, 'the calling spinner was still running after 1.5 s');
  assert.doesNotMatch(ps[2]!, /spin/, 'and was gone after kill');
  assert.ok(performance.now() - t0 < 30_000);
  clean(disk);
});

test('kill: a process blocked reading a pipe is killed and its reader sees end of file; a crashing program is reported and cleaned up', async () => {
  const disk = await freshImage([{ name: 'spin', data: spin }]);
  // `cat` with no arguments reads the console: it is the first process to ask, so it would take the
  // next lines; killed first (by the next command's kill), the lines go to the shell instead.
  const s = await runShell('sleep 1000 | cat &\nps\nkill 3\nsleep 20\nps\nspin throw\necho done\n', { disk, timeoutMs: 20_000 });
  const ps = s.output.split('PID PPID STATE NAME');
  assert.match(ps[1]!, /^3 2 run sleep$/m);
  assert.match(ps[1]!, /^4 2 run cat$/m);
  assert.doesNotMatch(ps[2]!, /sleep|cat/, 'the pipe reader saw end of file when its writer was killed, and exited');
  assert.match(s.output, /pid \d+ spin: .*spin: thrown on purpose/);
  assert.match(s.output, /done/);
  clean(disk);
});

test('the disk driver crashing every 20 ms under stressfs, usertests and a file copy is invisible to rv6', async () => {
  const disk = await freshImage();
  let crashes = 0;
  let timer: NodeJS.Timeout | undefined;
  const s = await runShell('stressfs 100\nusertests -q bigfile createtest\ncp README r2\ncat r2 | wc\ncat README | wc\nsync\n', {
    disk, timeoutMs: 60_000,
    during: (r) => { timer = setInterval(() => { if (r.block.inject(crashes % 2 ? 'now' : 'in-call')) crashes++; }, 20); },
  });
  clearInterval(timer);
  assert.match(s.output, /stressfs ok/);
  assert.match(s.output, /ALL TESTS PASSED/);
  const wc = s.output.match(/\d+ \d+ \d+ *$/gm) ?? [];
  assert.equal(wc.length, 2, s.output);
  assert.equal(wc[0], wc[1], 'the copy reads back the same');
  assert.ok(crashes >= 3, `the driver crashed ${crashes} times`);
  assert.deepEqual(s.crashes.filter((c) => c.domain !== 'nvme' && !c.killed).map((c) => c.domain), [], 'nothing but the driver crashed');
  clean(disk);
  assert.deepEqual(readFile(new Uint8Array(readFileSync(disk)), '/r2'), readFile(new Uint8Array(readFileSync(disk)), '/README'));
});

test('a disk with a bad superblock is refused with a clear message, and nothing else happens', async () => {
  const disk = await freshImage();
  const img = new Uint8Array(readFileSync(disk));
  img[1024] ^= 0xff; // (the magic number)
  writeFileSync(disk, img);
  await assert.rejects(bootRv6(await built(), { disk, input: process.stdin, raw: false }), /domain fs failed to start: .*superblock/);
});

test('printf … | frond boot: the shell runs the input, rv6 halts at its end, the process exits by itself, the disk is synced', async () => {
  // (frond boot trusts the development key: a disk of programs it signed)
  const dev = await buildRv6(ROOT);
  const disk = join(mkdtempSync(join(tmpdir(), 'frond-boot-')), 'disk.img');
  defaultImage(ROOT, dev.programs, disk);
  const r = spawnSync(process.execPath, ['bin/frond.mjs', 'boot', '--disk', disk], { cwd: ROOT, input: 'echo hi > f\ncat f\n', encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\$ \$ hi\n\$ $/);
  clean(disk);
  assert.equal(new TextDecoder().decode(readFile(new Uint8Array(readFileSync(disk)), '/f')), 'hi\n');
});

test('on a terminal: typing is echoed, ^C kills the foreground job blocked reading the console, the shell carries on; halt stops the machine', async () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true, setRawMode(): unknown { return tty; } });
  let out = '';
  const output = new Writable({ write(c: Buffer, _e, cb) { out += c.toString(); cb(); } });
  const until = async (re: RegExp): Promise<void> => {
    for (let i = 0; i < 500 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(out, re);
  };
  const r = await bootRv6(await built(), { disk: await freshImage(), input: tty, output, raw: true });
  await until(/\$ $/);
  tty.write('cat\r');
  await until(/\$ cat\r?\n$/);
  tty.write('abc\r');
  await until(/abc\r?\nabc\r?\n$/);
  tty.write('\x03');
  await until(/\^C\r?\n\$ $/);
  tty.write('echo back\r');
  await until(/back\r?\n\$ $/);
  tty.write('halt\r');
  assert.match(await r.halted, /halted by pid \d+ \(halt\)/);
});

test('a hostile program calling the core directly with bad values gets error values; the core and fs never crash and rv6 goes on', async () => {
  const disk = await freshImage([{ name: 'hostile', data: hostile }]);
  const s = await runShell('hostile\nhostile moved\nhostile forged\necho alive\nls README\n', { disk });
  const line = (name: string): string => (new RegExp(`^(?:\\$ )?${name}: (.*)$`, 'm').exec(s.output) ?? [])[1] ?? '(missing)';
  assert.equal(line('open-huge-path'), '-36');
  assert.equal(line('open-bad-flags'), '-22');
  assert.equal(line('close-bad'), '-9');
  assert.equal(line('close-huge'), '-9');
  assert.equal(line('spawn-huge-argv'), '-22');
  assert.equal(line('spawn-many-fds'), '-22');
  assert.equal(line('spawn-bad-fds'), '-22');
  assert.equal(line('spawn-fd-99'), '-9');
  assert.equal(line('spawn-self-dir'), '-8');
  assert.equal(line('kill-self-pid-0'), '-3');
  assert.equal(line('fg-not-child'), '-3');
  assert.match(line('wait-no-children'), /"pid":-10/);
  assert.equal(line('sleep-huge'), 'still asleep');
  assert.equal(line('write-negative-n'), '-22');
  assert.equal(line('write-huge-n'), '-22');
  assert.match(s.output, /pid 4 hostile: .*use after move/);
  assert.match(s.output, /pid 5 hostile: .*HeapViolation/);
  assert.equal(line('mknod-bad-major'), '-22');
  assert.equal(line('mknod-no-driver'), '0');
  assert.equal(line('open-dev-x'), '-19', 'a device with no driver: ENODEV');
  assert.equal(line('unlink-dev-x'), '0');
  assert.equal(line('link-huge'), '-36');
  assert.equal(line('chdir-file'), '-20');
  assert.match(s.output, /^(?:\$ )?alive$/m);
  assert.match(s.output, /README +2 \d+ \d+/);
  assert.deepEqual(s.crashes.filter((c) => !c.killed).map((c) => c.domain), ['hostile', 'hostile'], 'nothing crashed but the attacker, for its handles');
  clean(disk);
});

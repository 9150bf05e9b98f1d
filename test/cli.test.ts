// The `frond` command, run as a user runs it (a child process): every verb answers --help; every
// bad argument is one line on stderr and exit code 1; `frond build` is incremental per folder;
// `frond demo` shows each event of the demonstration in one line within 80 columns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './helpers.ts';

const frond = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/frond.mjs'), ...args], { encoding: 'utf8', cwd: ROOT });

/** `frond args...` in the background (many at once): its exit code and output. */
async function frondAsync(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin/frond.mjs'), ...args], { cwd: ROOT, encoding: 'utf8' });
    return { status: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { status: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

test('every verb has --help (also as `frond help VERB`), and unknown verbs fail', () => {
  const top = frond('--help');
  assert.equal(top.status, 0);
  const verbs = [...top.stdout.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]!);
  assert.deepEqual(verbs, ['idl', 'build', 'verify', 'start', 'boot', 'blkcheck', 'demo', 'bench', 'mkfs', 'fsck'], top.stdout);
  for (const v of verbs) {
    const r = frond(v, '--help');
    assert.equal(r.status, 0, v);
    assert.match(r.stdout, new RegExp(`^frond ${v}`), v);
  }
  assert.equal(frond('help', 'build').stdout, frond('build', '--help').stdout);
  const none = frond();
  assert.equal(none.status, 1, 'no command: the list of commands, and failure');
  assert.match(none.stdout, /^usage: frond <command>/);
});

test('every bad argument to every verb is one line on stderr and exit code 1, never a stack trace', async () => {
  const scratch = mkdtempSync(join(tmpdir(), 'frond-cli-args-'));
  const empty = join(scratch, 'empty');
  mkdirSync(empty);
  const emptyRel = relative(ROOT, empty);
  try {
    const cases: [string[], RegExp][] = [
      [['nonsense'], /^frond: unknown command 'nonsense' \(commands: idl, build, verify, start, boot, blkcheck, demo, bench, mkfs, fsck\)$/],
      [['--bogus'], /^frond: unknown option --bogus/],
      [['help', 'nonsense'], /^frond help: unknown command 'nonsense'/],
      // build: paths that are missing, files, empty; options unknown, missing their value, given one they do not take
      [['build', 'README.md'], /^frond build: README\.md: not a directory/],
      [['build', 'src/domains/apps/counter/index.ts'], /^frond build: src\/domains\/apps\/counter\/index\.ts: not a directory/],
      [['build', '/nonexistent'], /^frond build: \/nonexistent: no such directory$/],
      [['build', emptyRel], new RegExp(`^frond build: ${emptyRel}: no domain folders \\(with domain\\.json\\) in it$`)],
      [['build', '--frob'], /^frond build: unknown option --frob \(see --help\)$/],
      [['build', '--out'], /^frond build: --out needs a directory$/],
      [['build', '--out', '--force', 'src/domains/apps'], /^frond build: --out needs a directory$/],
      [['build', '--keys'], /^frond build: --keys needs a directory$/],
      [['build', '--force=yes'], /^frond build: --force takes no value$/],
      [['build', '--out', 'README.md', 'src/domains/apps/counter'], /^frond build: --out README\.md: not a directory$/],
      [['build', '--keys', 'README.md', 'src/domains/apps/counter'], /^frond build: --keys README\.md: not a directory$/],
      // verify
      [['verify'], /^frond verify: name a bundle file \(see --help\)$/],
      [['verify', '--keys'], /^frond verify: --keys needs a directory$/],
      [['verify', '--keys', 'README.md', 'x.json'], /^frond verify: --keys README\.md: not a directory$/],
      [['verify', '--keys', '/nonexistent', 'x.json'], /^frond verify: --keys \/nonexistent: no such directory$/],
      [['verify', '--keys', emptyRel, 'x.json'], /^frond verify: --keys .*: holds no public key/],
      [['verify', '--frob', 'x.json'], /^frond verify: unknown option --frob/],
      // idl
      [['idl', 'extra'], /^frond idl: unexpected argument extra$/],
      [['idl', '--frob'], /^frond idl: unknown option --frob/],
      [['idl', '--check=1'], /^frond idl: --check takes no value$/],
      // start
      [['start', 'extra'], /^frond start: unexpected argument extra$/],
      [['start', '--frob'], /^frond start: unknown option --frob/],
      [['demo', 'extra'], /^frond demo: unexpected argument extra$/],
      // boot
      [['boot', 'extra'], /^frond boot: unexpected argument extra$/],
      [['boot', '--disk'], /^frond boot: --disk needs an image file$/],
      [['blkcheck', 'extra'], /^frond blkcheck: unexpected argument extra$/],
      [['blkcheck', '--inject', 'disk:every=1'], /^frond blkcheck: --inject must look like nvme:every=100ms or nvme:every=1s, not 'disk:every=1'$/],
      [['blkcheck', '--seconds', '0'], /^frond blkcheck: --seconds must be a number of seconds in \(0, 86400\]$/],
      [['blkcheck', '--batch', '33'], /^frond blkcheck: --batch must be an integer in \[0, 32\], not '33'$/],
      [['blkcheck', '--blocks'], /^frond blkcheck: --blocks needs a block count$/],
      // bench
      [['bench'], /^frond bench: name a benchmark: calls or tax or blk/],
      [['bench', '--quick'], /^frond bench: name a benchmark: calls or tax or blk/],
      [['bench', 'nonsense'], /^frond bench: no benchmark named 'nonsense' \(there are: calls, tax, blk, fs\)$/],
      [['bench', 'calls', 'tax'], /^frond bench: unexpected argument tax/],
      [['bench', 'calls', '--frob'], /^frond bench: unknown option --frob/],
      // mkfs (IMAGE in the scratch folder: nothing is written when an argument is bad)
      [['mkfs'], /^frond mkfs: name an image file \(see --help\)$/],
      [['mkfs', join(scratch, 'x.img'), '--size', 'many'], /^frond mkfs: --size must be a whole number of blocks from 1 to 2097152, not 'many'$/],
      [['mkfs', join(scratch, 'x.img'), '--inodes'], /^frond mkfs: --inodes needs a number of inodes$/],
      [['mkfs', join(scratch, 'x.img'), '--log', '5'], /^frond mkfs: --log must be a whole number of log blocks from 11 to 256, not '5'$/],
      [['mkfs', join(scratch, 'x.img'), '/nonexistent'], /^frond mkfs: \/nonexistent: no such file or directory$/],
      [['mkfs', join(scratch, 'x.img'), emptyRel], new RegExp(`^frond mkfs: ${emptyRel}: is a directory \\(only files go in the image\\)$`)],
      [['mkfs', emptyRel], new RegExp(`^frond mkfs: ${emptyRel}: is a directory$`)],
      [['mkfs', join(scratch, 'x.img'), '--frob'], /^frond mkfs: unknown option --frob/],
      // fsck
      [['fsck'], /^frond fsck: name an image file \(see --help\)$/],
      [['fsck', 'a.img', 'b.img'], /^frond fsck: unexpected argument b\.img \(at most 1\)$/],
      [['fsck', '/nonexistent'], /^frond fsck: \/nonexistent: cannot read: no such file or directory$/],
      [['fsck', emptyRel], new RegExp(`^frond fsck: ${emptyRel}: is a directory$`)],
      [['fsck', '--frob', 'a.img'], /^frond fsck: unknown option --frob/],
    ];
    const results = await Promise.all(cases.map(([args]) => frondAsync(args)));
    results.forEach((r, i) => {
      const [args, want] = cases[i]!;
      const what = `frond ${args.join(' ')}`;
      assert.equal(r.status, 1, `${what}: exit code\n${r.stderr}`);
      assert.equal(r.stdout, '', `${what}: nothing on stdout`);
      assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1, `${what}: one line on stderr:\n${r.stderr}`);
      assert.match(r.stderr.trimEnd(), want, what);
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
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
    assert.match(bad.stderr, /^frond build: failed$/m);
    assert.doesNotMatch(bad.stderr, /^\s+at /m, 'no stack trace');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('frond build: a bundle is up to date only for the folder it was built from, not another with the same name', (t) => {
  // Two domain folders whose domain.json give the same name: their bundles go to the same file.
  const twins = mkdtempSync(join(ROOT, 'build', 'test', 'twins-'));
  t.after(() => rmSync(twins, { recursive: true, force: true }));
  const out = join(twins, 'out');
  const keys = join(twins, 'keys');
  const rel = (p: string): string => relative(ROOT, p).split('\\').join('/');
  for (const [dir, says] of [['a', 1], ['b', 2]] as const) {
    mkdirSync(join(twins, dir));
    writeFileSync(join(twins, dir, 'domain.json'), '{ "name": "twin" }\n');
    writeFileSync(join(twins, dir, 'index.ts'), `export function init(): unknown { return ${says}; }\n`);
  }
  const build = (dir: string): { summary: string; entry: string; code: string } => {
    const r = frond('build', '--out', out, '--keys', keys, join(twins, dir));
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(readFileSync(join(out, 'twin.bundle.json'), 'utf8')) as { manifest: { entry: string; inputs: Record<string, string> }; code: string };
    assert.deepEqual(Object.keys(doc.manifest.inputs).filter((f) => f.startsWith(rel(twins))).sort(),
      [`${rel(twins)}/${dir}/domain.json`, `${rel(twins)}/${dir}/index.ts`], 'the inputs recorded are this folder\'s');
    return { summary: /frond build: (\d+ built, \d+ up to date)/.exec(r.stdout)![1]!, entry: doc.manifest.entry, code: doc.code };
  };
  const a = build('a');
  assert.equal(a.summary, '1 built, 0 up to date');
  assert.equal(a.entry, `${rel(twins)}/a/index.ts`);
  const b = build('b');
  assert.equal(b.summary, '1 built, 0 up to date', 'folder b is built, not taken for a\'s bundle');
  assert.equal(b.entry, `${rel(twins)}/b/index.ts`);
  assert.match(b.code, /return 2/);
  assert.equal(build('b').summary, '0 built, 1 up to date', 'b again: unchanged');
  assert.equal(build('a').summary, '1 built, 0 up to date', 'back to a: rebuilt');
  // Both in one build: refused before either is written.
  const both = frond('build', '--out', out, '--keys', keys, twins);
  assert.equal(both.status, 1);
  assert.equal(both.stderr, `${rel(twins)}/b: domain name 'twin' is also used by ${rel(twins)}/a\nfrond build: failed\n`);
});

test('frond demo shows each event of the demonstration in one line within 80 columns', () => {
  const r = frond('demo');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const lines = r.stdout.trimEnd().split('\n');
  for (const l of lines) assert.ok(l.length <= 80 && !l.endsWith('…'), `fits 80 columns uncut: ${JSON.stringify(l)}`);
  assert.doesNotMatch(r.stdout, /^\s+at |kernel\|/m, 'no crash reports or stacks without --verbose');
  const events: [string, RegExp][] = [
    ['boot', /^boot +kernel up: 64 MiB exchange heap, 6 signed bundles loaded$/],
    // An RRef through the exchange heap, with the heap's counts at each step.
    ['allocated', /^rref +the kernel allocates packet p: heap 1 object, kernel owns 1$/],
    ['moved in', /^rref +keeper\.hold\(p\) moves p into keeper#(\d+): heap 1 object, keeper#\1 owns 1$/],
    ['stale', /^rref +the kernel's p is dead: using it again is refused \(stale handle\)$/],
    ['handed back', /^rref +keeper\.ring\(r\) hands p back inside ring r: heap 2 objects, kernel owns 2$/],
    ['freed', /^rref +p is back with flags=1 \(keeper's mark\); p and r freed: heap 0 objects$/],
    // The CPU budget stops the runaway loop, at its source line; the rest runs on.
    ['budget', /^budget +runaway#\d+\.run\(\) loops forever: stopped after \d+ ms \(budget 50 ms\)$/],
    ["budget line", /^ +in src\/domains\/demo\/runaway\/index\.ts:\d+; caller got error\(crashed\)$/],
    ['runs on', /^ +the rest runs on: counter\.add\(1\) -> ok\(1\)$/],
    // A crash contained: the packet moved into the driver is reclaimed with it.
    ['crash', /^crash +flaky#(\d+) crashed in bounce\(p\): Error: injected fault$/],
    ['contained', /^ +contained: caller got error\(crashed\); 1 object reclaimed; heap 0 objects$/],
    ['stays dead', /^ +flaky#\d+ stays dead: add\(1\) -> error\(dead\); counter\.add\(1\) -> ok\(2\)$/],
    // A shadow restarts the driver; its callers see only results.
    ['shadow', /^shadow +counter-shadow#\d+ wraps flaky#\d+, which now crashes once per call$/],
    ...[1, 2, 3].map((n): [string, RegExp] => [`shadowed add(${n})`, new RegExp(`^ +add\\(${n}\\) -> ok\\(${n}\\): flaky#(\\d+) crashed; restarted as flaky#\\d+ and retried$`)]),
    // A tampered bundle is refused at load.
    ['tampered', /^verify +counter's bundle, add\(\) edited to subtract: refused \(tampered code\)$/],
    ['done', /^done +6 domains alive, 5 crashes contained, heap 0 objects$/],
  ];
  let at = 0;
  for (const [what, re] of events) {
    const i = lines.findIndex((l, j) => j >= at && re.test(l));
    assert.ok(i >= 0, `${what}: no line after line ${at} matches ${re}\n${r.stdout}`);
    at = i + 1;
  }
  // Each restart makes a new driver: the shadowed calls name three different crashed instances.
  const crashed = lines.map((l) => /^ +add\(\d\) -> ok\(\d\): flaky#(\d+) crashed/.exec(l)?.[1]).filter((x) => x !== undefined);
  assert.equal(new Set(crashed).size, 3, r.stdout);
});

test('frond demo --verbose adds the full crash reports, with stacks at TypeScript source lines', () => {
  const r = frond('demo', '--verbose');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ {2}kernel\| domain runaway#\d+ crashed \(runtime violation\): BudgetExceeded: CPU budget exceeded/m);
  assert.match(r.stdout, /^ {2}kernel\| domain flaky#\d+ crashed \(exception in Counter\.bounce\): Error: injected fault\n {2}kernel\| {5}at fault \(src\/domains\/drivers\/flaky\/index\.ts:\d+:\d+\)/m);
  assert.match(r.stdout, /^ {2}kernel\| {3}reclaimed: 1 exchange objects/m);
  assert.match(r.stdout, /^done +6 domains alive/m);
});

// rv6's shell and user programs (src/user/*), as a user meets them: scripted sessions on a fresh
// disk (test/rv6-helpers.ts), each checking what the console printed and that the disk is clean
// afterwards. Pipes, redirection, ';', background jobs and wait, kill, cd and relative paths, the
// messages for unknown commands and files that are not programs, ls's format, grep's expressions,
// cp/mv/rm/ln/mkdir, history, exit and init restarting the shell.
//
// The console echoes nothing on a pipe, so the output is the prompts ("$ ", one per line read) and
// what the programs wrote. Pids are deterministic: init is 1, the shell 2, and each spawn takes the
// next (a background job's pid is known to the script that started it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { freshImage, runShell, type Session } from './rv6-helpers.ts';
import { fsck } from '../src/tools/fs/fsck.ts';
import { readFile } from '../src/lib/xv6fs/image.ts';

/** Runs `lines` (one command line each) on a fresh disk and checks the disk afterwards. */
async function session(lines: readonly string[], disk?: string): Promise<Session> {
  const s = await runShell(lines.map((l) => `${l}\n`).join(''), disk === undefined ? {} : { disk });
  const r = fsck(new Uint8Array(readFileSync(s.disk)));
  assert.ok(r.ok, r.errors.join('\n'));
  return s;
}

/** the README the default disk has (ASCII) */
function readme(): string {
  return readFileSync(new URL('../src/user/README', import.meta.url), 'utf8');
}

/** the output with the prompts taken out (a prompt is "$ " at the start of a line) */
function unprompted(out: string): string {
  return out.replace(/^(\$ )+/gm, '');
}

test('pipes: echo | wc, three stages, and a missing command in the middle', async () => {
  const s = await session([
    'echo a b c | wc',
    'cat README | grep xv6 | wc',
    'echo one two | cat | cat | wc',
    'echo x | nosuch | wc',
  ]);
  const out = unprompted(s.output);
  assert.match(out, /^1 3 6 $/m);
  const xv6 = readme().split('\n').filter((l) => l.includes('xv6')).length;
  assert.match(out, new RegExp(`^${xv6} \\d+ \\d+ $`, 'm'), 'the README\'s lines that mention xv6');
  assert.match(out, /^1 2 8 $/m);
  assert.match(out, /^sh: nosuch: command not found$/m);
  assert.match(out, /^0 0 0 $/m, 'wc saw the end of its input when the stage before it could not start');
});

test('redirection: > creates and truncates, >> appends, < reads; ; runs one job after another', async () => {
  const s = await session([
    'echo hi > f; cat < f',
    'echo there >> f; cat f',
    'echo new > f; cat f',
    '> empty; wc empty',
    'cat < missing',
    'wc < f > counts; cat counts',
    "echo 'a | b' \"c ; d\" > q; cat q",
  ]);
  const out = unprompted(s.output);
  assert.match(out, /^hi\nhi\nthere\nnew\n/m);
  assert.match(out, /^0 0 0 empty$/m);
  assert.match(out, /^sh: missing: no such file or directory$/m);
  assert.match(out, /^1 1 4 $/m);
  assert.match(out, /^a \| b c ; d$/m);
  const r = readFile(new Uint8Array(readFileSync(s.disk)), '/f');
  assert.equal(new TextDecoder().decode(r), 'new\n', 'the file is on the disk');
});

test('cd and relative paths; cd to something that is not a directory says so', async () => {
  const s = await session([
    'mkdir d',
    'cd d',
    'echo x > y',
    'mkdir e',
    'ls',
    'cd e',
    'cat ../y',
    'cd ../..',
    'cat d/y',
    'cd nowhere',
    'cd README',
    'ls d/y',
  ]);
  const out = unprompted(s.output);
  assert.match(out, /^\. {13} 1 \d+ 64\n\.\. {12} 1 1 \d+\ny {13} 2 \d+ 2\ne {13} 1 \d+ 32$/m);
  assert.match(out, /^x\nx$/m);
  assert.match(out, /^cd: nowhere: no such file or directory$/m);
  assert.match(out, /^cd: README: not a directory$/m);
  assert.match(out, /^y {13} 2 \d+ 2$/m);
});

test('unknown commands, paths that are not there, files that are not programs, syntax errors: a message, and the shell goes on', async () => {
  const s = await session([
    'frobnicate now',
    './frobnicate',
    'README',
    'echo a |',
    'cat > ',
    'echo "open',
    'echo still here',
  ]);
  const out = unprompted(s.output);
  assert.match(out, /^sh: frobnicate: command not found$/m);
  assert.match(out, /^sh: \.\/frobnicate: no such file or directory$/m);
  assert.match(out, /^sh: README: refused bundle/m);
  assert.match(out, /^sh: syntax error: no command after '\|'$/m);
  assert.match(out, /^sh: syntax error: no file name after '>'$/m);
  assert.match(out, /^sh: syntax error: unterminated quote$/m);
  assert.match(out, /^still here$/m);
});

test("ls: xv6's format (name padded to 14, type, inum, size), for a directory, a file and the console", async () => {
  const s = await session(['ls', 'ls README /README', 'ls nothing', 'ls / | grep ^console']);
  const out = unprompted(s.output);
  assert.match(out, /^\. {13} 1 1 \d+$/m);
  assert.match(out, /^\.\. {12} 1 1 \d+$/m);
  for (const p of ['sh', 'ls', 'cat', 'echo', 'grep', 'wc', 'mkdir', 'rm', 'ln', 'cp', 'mv', 'kill', 'ps', 'halt', 'sleep', 'init']) {
    assert.match(out, new RegExp(`^${p.padEnd(14)} 2 \\d+ \\d+$`, 'm'), `${p} is listed`);
  }
  const lines = out.match(new RegExp(`^README {8} 2 \\d+ ${Buffer.byteLength(readme())}$`, 'gm')) ?? [];
  assert.equal(lines.length, 3, 'README, in the listing and twice by name');
  assert.match(out, /^console {7} 3 \d+ 0$/m);
  assert.match(out, /^ls: cannot open nothing: no such file or directory$/m);
});

test("grep: xv6's expressions (^ $ . *) on files and on standard input", async () => {
  const s = await session([
    'grep ^Try README',
    'grep "k.ll" README',
    'echo abbbc > abc; echo ac >> abc; echo abd >> abc; grep "ab*c$" abc',
    'echo hello | grep ^h.l*o$',
    'grep',
    'grep x nothing',
  ]);
  const out = unprompted(s.output);
  assert.match(out, /^Try:$/m);
  assert.match(out, /sleep 500 &; ps; kill N/);
  assert.match(out, /^abbbc\nac\n/m);
  assert.doesNotMatch(out, /^abd$/m);
  assert.match(out, /^hello$/m);
  assert.match(out, /^usage: grep pattern \[file \.\.\.\]$/m);
  assert.match(out, /^grep: cannot open nothing: no such file or directory$/m);
});

test('mkdir, cp (into a directory too), mv, ln, rm, and their messages', async () => {
  const s = await session([
    'mkdir d e',
    'mkdir d',
    'echo data > a',
    'cp a b; cat b',
    'cp a d; cat d/a',
    'cp a a',
    'cp d x',
    'mv b c; cat c; cat b',
    'mv c e; ls e',
    'ln a l; echo more >> l; cat a',
    'ln nothing z',
    'rm l a; cat a',
    'rm d',
    'rm nothing',
    'rm d/a; rm d; ls d',
  ]);
  const out = unprompted(s.output);
  assert.match(out, /^mkdir: cannot create d: file exists$/m);
  assert.match(out, /^data\ndata\n/m, 'cp a b, cp a d');
  assert.match(out, /^cp: a and a are the same file$/m);
  assert.match(out, /^cp: d: is a directory$/m);
  assert.match(out, /^data\ncat: cannot open b: no such file or directory$/m, 'mv b c');
  assert.match(out, /^c {13} 2 \d+ 5$/m, 'mv c e');
  assert.match(out, /^data\nmore$/m, 'a link is the same file');
  assert.match(out, /^ln: cannot link z to nothing: no such file or directory$/m);
  assert.match(out, /^cat: cannot open a: no such file or directory$/m);
  assert.match(out, /^rm: cannot remove d: directory not empty$/m);
  assert.match(out, /^rm: cannot remove nothing: no such file or directory$/m);
  assert.match(out, /^ls: cannot open d: no such file or directory$/m);
});

test('background jobs: & does not wait, wait waits for them, a foreground job is waited for while one runs', async () => {
  const t0 = performance.now();
  const s = await session([
    'sleep 50 & echo started',
    'echo foreground',
    'wait',
    'echo waited',
    'sleep 20 &; sleep 1; echo second',
    'wait',
  ]);
  const out = unprompted(s.output);
  assert.match(out, /^started\nforeground\nwaited\nsecond\n/m);
  assert.ok(performance.now() - t0 >= 500, 'wait waited for the sleep');
});

test('kill: a background sleep is killed and reaped; ps shows it before and not after', async () => {
  const t0 = performance.now();
  // pids: sleep 3, ps 4, kill 5, ps 6
  const s = await session(['sleep 100000 &', 'ps', 'kill 3', 'wait', 'ps', 'kill 3']);
  const [, before, after] = s.output.split('PID PPID STATE NAME');
  assert.match(before!, /^3 2 \w+ sleep$/m);
  assert.doesNotMatch(after!, /sleep/);
  assert.match(unprompted(s.output), /^kill: 3: no such process$/m);
  assert.ok(performance.now() - t0 < 30_000);
});

test('history lists the lines; !! and !N run one again, printed first; an unknown one is an error', async () => {
  const s = await session(['echo one', 'echo two', 'history', '!!', '!1 | wc', '!99', 'history > h; grep wc h']);
  const out = unprompted(s.output);
  assert.match(out, /^ {4}1 {2}echo one\n {4}2 {2}echo two\n {4}3 {2}history\n/m);
  assert.match(out, /^history\n {4}1 {2}echo one\n/m, '!! printed, then run');
  assert.match(out, /^echo one \| wc\n1 1 4 $/m);
  assert.match(out, /^sh: !99: event not found$/m);
  assert.match(out, /^ {4}5 {2}echo one \| wc$/m, 'the expanded line is what history keeps');
});

test('exit ends the shell (init starts another after a non-zero status); sh FILE and sh -c run scripts', async () => {
  const disk = await freshImage([{ name: 'script', data: new TextEncoder().encode('echo from script\necho piped | wc\n') }]);
  const s = await session(['sh script', 'sh -c "echo c; exit 4"', 'exit 3', 'echo after restart'], disk);
  const out = unprompted(s.output);
  assert.match(out, /^from script\n1 1 6 $/m);
  assert.match(out, /^c$/m);
  assert.match(out, /^init: restarting sh\nafter restart$/m);
});

// The pure parts of rv6's user programs: the shell's parser and history expansion
// (src/user/sh/parse.ts) and grep's regular expressions (src/user/grep/match.ts), and the path
// helpers of ulib.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandHistory, parse, tokenize, type Job } from '../src/user/sh/parse.ts';
import { match } from '../src/user/grep/match.ts';
import { basename, joinPath } from '../src/lib/ulib/ulib.ts';

/** the jobs of a line that must parse */
function jobs(line: string): readonly Job[] {
  const p = parse(line);
  if (!p.ok) assert.fail(`${JSON.stringify(line)} did not parse: ${p.error}`);
  return p.jobs;
}

/** the error of a line that must not parse */
function error(line: string): string {
  const p = parse(line);
  if (p.ok) assert.fail(`${JSON.stringify(line)} parsed: ${JSON.stringify(p.jobs)}`);
  return p.error;
}

const cmd = (argv: string[], redirs: { op: '<' | '>' | '>>'; file: string }[] = []) => ({ argv, redirs });

test('sh: a simple command is its words; blank lines and comments are no jobs', () => {
  assert.deepEqual(jobs('echo a  b\tc'), [{ cmds: [cmd(['echo', 'a', 'b', 'c'])], background: false }]);
  assert.deepEqual(jobs(''), []);
  assert.deepEqual(jobs('   \t '), []);
  assert.deepEqual(jobs('# a comment | > ;'), []);
  assert.deepEqual(jobs('echo a # b c'), [{ cmds: [cmd(['echo', 'a'])], background: false }]);
  assert.deepEqual(jobs('echo a#b'), [{ cmds: [cmd(['echo', 'a#b'])], background: false }]);
});

test('sh: pipelines join commands', () => {
  assert.deepEqual(jobs('echo a b c | wc'), [{ cmds: [cmd(['echo', 'a', 'b', 'c']), cmd(['wc'])], background: false }]);
  assert.deepEqual(jobs('cat f|grep x|wc'), [{ cmds: [cmd(['cat', 'f']), cmd(['grep', 'x']), cmd(['wc'])], background: false }]);
});

test('sh: redirections, anywhere in a command, in order', () => {
  assert.deepEqual(jobs('cat < in > out'), [{ cmds: [cmd(['cat'], [{ op: '<', file: 'in' }, { op: '>', file: 'out' }])], background: false }]);
  assert.deepEqual(jobs('echo hi >>log'), [{ cmds: [cmd(['echo', 'hi'], [{ op: '>>', file: 'log' }])], background: false }]);
  assert.deepEqual(jobs('>f echo hi'), [{ cmds: [cmd(['echo', 'hi'], [{ op: '>', file: 'f' }])], background: false }]);
  assert.deepEqual(jobs('> f'), [{ cmds: [cmd([], [{ op: '>', file: 'f' }])], background: false }]);
  assert.deepEqual(jobs('grep a < f | wc > g'), [{
    cmds: [cmd(['grep', 'a'], [{ op: '<', file: 'f' }]), cmd(['wc'], [{ op: '>', file: 'g' }])], background: false,
  }]);
});

test('sh: ; separates jobs and & puts one in the background', () => {
  assert.deepEqual(jobs('echo hi > f; cat < f'), [
    { cmds: [cmd(['echo', 'hi'], [{ op: '>', file: 'f' }])], background: false },
    { cmds: [cmd(['cat'], [{ op: '<', file: 'f' }])], background: false },
  ]);
  assert.deepEqual(jobs('sleep 10 & echo x'), [
    { cmds: [cmd(['sleep', '10'])], background: true },
    { cmds: [cmd(['echo', 'x'])], background: false },
  ]);
  assert.deepEqual(jobs('a | b &'), [{ cmds: [cmd(['a']), cmd(['b'])], background: true }]);
  assert.deepEqual(jobs('a;'), [{ cmds: [cmd(['a'])], background: false }]);
  assert.deepEqual(jobs('sleep 500 &; ps'), [{ cmds: [cmd(['sleep', '500'])], background: true }, { cmds: [cmd(['ps'])], background: false }]);
  assert.deepEqual(jobs('a&b&'), [{ cmds: [cmd(['a'])], background: true }, { cmds: [cmd(['b'])], background: true }]);
});

test('sh: quotes and backslashes make one word of what they hold', () => {
  assert.deepEqual(jobs(`echo 'a | b;c > d' "x  'y'" z`)[0]!.cmds[0]!.argv, ['echo', 'a | b;c > d', "x  'y'", 'z']);
  assert.deepEqual(jobs(`echo "a\\"b\\\\c" 'no\\escape'`)[0]!.cmds[0]!.argv, ['echo', 'a"b\\c', 'no\\escape']);
  assert.deepEqual(jobs(`echo a\\ b \\# c\\|d`)[0]!.cmds[0]!.argv, ['echo', 'a b', '#', 'c|d']);
  assert.deepEqual(jobs(`echo '' ""`)[0]!.cmds[0]!.argv, ['echo', '', '']);
  assert.deepEqual(jobs(`echo pre'mid'"end"`)[0]!.cmds[0]!.argv, ['echo', 'premidend']);
  assert.deepEqual(jobs(`cat > 'my file'`)[0]!.cmds[0]!.redirs, [{ op: '>', file: 'my file' }]);
});

test('sh: syntax errors say what is wrong', () => {
  assert.equal(error('|'), `syntax error near '|'`);
  assert.equal(error('| wc'), `syntax error near '|'`);
  assert.equal(error('echo a |'), `syntax error: no command after '|'`);
  assert.equal(error('echo a | | wc'), `syntax error: no command after '|'`);
  assert.equal(error('echo a | ; wc'), `syntax error: no command after '|'`);
  assert.equal(error('echo >'), `syntax error: no file name after '>'`);
  assert.equal(error('echo > '), `syntax error: no file name after '>'`);
  assert.equal(error('cat <'), `syntax error: no file name after '<'`);
  assert.equal(error('echo >> | wc'), `syntax error: no file name after '>>'`);
  assert.equal(error('echo > > f'), `syntax error: no file name after '>'`);
  assert.equal(error(';'), `syntax error near ';'`);
  assert.equal(error('a ; ; b'), `syntax error near ';'`);
  assert.equal(error('&'), `syntax error near '&'`);
  assert.equal(error('a & &'), `syntax error near '&'`);
  assert.equal(error('a &;;'), `syntax error near ';'`);
  assert.equal(error(`echo 'abc`), 'syntax error: unterminated quote');
  assert.equal(error(`echo "abc\\"`), 'syntax error: unterminated quote');
  assert.equal(error('a && b'), `syntax error: '&&' is not supported`);
  assert.equal(error('a || b'), `syntax error: '||' is not supported`);
  assert.equal(error('(a; b) | c'), `syntax error: '(' is not supported`);
});

test('sh: tokenize separates operators, >> being one', () => {
  assert.deepEqual(tokenize('a>>b>c'), [{ word: 'a' }, { op: '>>' }, { word: 'b' }, { op: '>' }, { word: 'c' }]);
});

test('sh: !! and !N expand to earlier lines', () => {
  const h = ['echo one', 'ls /', 'echo three'];
  assert.deepEqual(expandHistory('!!', h), { ok: true, line: 'echo three', changed: true });
  assert.deepEqual(expandHistory('!2', h), { ok: true, line: 'ls /', changed: true });
  assert.deepEqual(expandHistory('!1 | wc', h), { ok: true, line: 'echo one | wc', changed: true });
  assert.deepEqual(expandHistory('echo hi!', h), { ok: true, line: 'echo hi!', changed: false });
  assert.deepEqual(expandHistory(`echo '!!' \\!! "!1"`, h), { ok: true, line: `echo '!!' \\!! "echo one"`, changed: true });
  assert.deepEqual(expandHistory(`echo "it's" !!`, h), { ok: true, line: `echo "it's" echo three`, changed: true });
  assert.deepEqual(expandHistory('!4', h), { ok: false, error: '!4: event not found' });
  assert.deepEqual(expandHistory('!0', h), { ok: false, error: '!0: event not found' });
  assert.deepEqual(expandHistory('!!', []), { ok: false, error: '!!: event not found' });
});

test('grep: literal characters, . and *', () => {
  assert.equal(match('abc', 'xxabcxx'), true);
  assert.equal(match('abc', 'abx'), false);
  assert.equal(match('a.c', 'zzabc'), true);
  assert.equal(match('a.c', 'ac'), false);
  assert.equal(match('ab*c', 'ac'), true);
  assert.equal(match('ab*c', 'abbbbc'), true);
  assert.equal(match('ab*c', 'abxc'), false);
  assert.equal(match('a.*z', 'a to z'), true);
  assert.equal(match('.*', ''), true);
  assert.equal(match('', 'anything'), true);
  assert.equal(match('x', ''), false);
});

test('grep: ^ and $ anchor', () => {
  assert.equal(match('^ab', 'abc'), true);
  assert.equal(match('^ab', 'cab'), false);
  assert.equal(match('bc$', 'abc'), true);
  assert.equal(match('bc$', 'abcd'), false);
  assert.equal(match('^abc$', 'abc'), true);
  assert.equal(match('^abc$', 'abcc'), false);
  assert.equal(match('^$', ''), true);
  assert.equal(match('^$', 'a'), false);
  assert.equal(match('^a*$', 'aaaa'), true);
  assert.equal(match('^a*$', 'aaba'), false);
  // '$' not at the end and '^' not at the start are ordinary characters, as in xv6
  assert.equal(match('a$b', 'xa$b'), true);
  assert.equal(match('a^b', 'a^b'), true);
});

test('grep: agrees with a reference regular expression on random inputs', () => {
  const alphabet = 'ab.';
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 16) % n;
  };
  for (let i = 0; i < 2000; i++) {
    let re = rand(3) === 0 ? '^' : '';
    for (let k = rand(5); k > 0; k--) re += alphabet[rand(3)]! + (rand(3) === 0 ? '*' : '');
    if (rand(3) === 0) re += '$';
    let text = '';
    for (let k = rand(8); k > 0; k--) text += 'abc'[rand(3)]!;
    const js = new RegExp(re); // over this alphabet the two languages agree
    assert.equal(match(re, text), js.test(text), `${re} on ${JSON.stringify(text)}`);
  }
});

test('ulib: basename and joinPath', () => {
  assert.equal(basename('a/b/c'), 'c');
  assert.equal(basename('a/b/'), 'b');
  assert.equal(basename('f'), 'f');
  assert.equal(basename('/'), '/');
  assert.equal(basename('/x'), 'x');
  assert.equal(joinPath('d', 'f'), 'd/f');
  assert.equal(joinPath('/', 'f'), '/f');
  assert.equal(joinPath('d/', 'f'), 'd/f');
});

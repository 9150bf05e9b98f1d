// The shell's grammar (xv6 user/sh.c, without parentheses): a pure function from one input line
// to the jobs it names, and the history expansion (!! and !N) done before it.
//
//   line     := job ((';' | '&' | '&;') job)* [';' | '&' | '&;']
//   job      := command ('|' command)*
//   command  := (word | redir)+
//   redir    := ('<' | '>' | '>>') word
//
// A word is made of plain characters, '…' (everything literal), "…" (\" and \\ are escapes) and
// \c (c literal); '#' at the start of a word begins a comment to the end of the line. A job ended
// by '&' runs in the background. A command may be only redirections (`> f` creates f). Errors
// are one line of text for "sh: " to prefix; nothing here runs anything.

/** `< f`, `> f` (create, truncate) or `>> f` (create, append) */
export interface Redir {
  readonly op: '<' | '>' | '>>';
  readonly file: string;
}

/** One program and its arguments (argv[0] is its name), with its redirections in order. */
export interface Command {
  readonly argv: readonly string[];
  readonly redirs: readonly Redir[];
}

/** Commands joined by pipes; `background` if it ended with '&'. */
export interface Job {
  readonly cmds: readonly Command[];
  readonly background: boolean;
}

export type Parsed = { readonly ok: true; readonly jobs: readonly Job[] } | { readonly ok: false; readonly error: string };

type Op = '|' | ';' | '&' | '<' | '>' | '>>' | '&&' | '||' | '(' | ')';
type Token = { readonly word: string } | { readonly op: Op };

const SPACE = ' \t\r\n\v\f';
const SPECIAL = '|;&<>()';

/** The tokens of `line`, or an error (an unterminated quote). */
export function tokenize(line: string): Token[] | string {
  const out: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (SPACE.includes(c)) { i++; continue; }
    if (c === '#') break;
    if (SPECIAL.includes(c)) {
      const two = line.slice(i, i + 2);
      const op: Op = two === '>>' || two === '&&' || two === '||' ? two : c as Op;
      out.push({ op });
      i += op.length;
      continue;
    }
    const w = scanWord(line, i);
    if (typeof w === 'string') return w;
    out.push({ word: w.word });
    i = w.end;
  }
  return out;
}

/** The word starting at `i`: its text with quotes removed, and where it ends. */
function scanWord(line: string, i: number): { word: string; end: number } | string {
  let word = '';
  while (i < line.length) {
    const c = line[i]!;
    if (SPACE.includes(c) || SPECIAL.includes(c)) break;
    if (c === '\\') {
      word += line[i + 1] ?? '';
      i += 2;
    } else if (c === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) return 'syntax error: unterminated quote';
      word += line.slice(i + 1, close);
      i = close + 1;
    } else if (c === '"') {
      const q = scanDouble(line, i + 1);
      if (q === null) return 'syntax error: unterminated quote';
      word += q.text;
      i = q.end;
    } else {
      word += c;
      i++;
    }
  }
  return { word, end: i };
}

/** The inside of "…" starting at `i` (after the quote), and the index after the closing quote. */
function scanDouble(line: string, i: number): { text: string; end: number } | null {
  let text = '';
  while (i < line.length) {
    const c = line[i]!;
    if (c === '"') return { text, end: i + 1 };
    if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) {
      text += line[i + 1];
      i += 2;
    } else {
      text += c;
      i++;
    }
  }
  return null;
}

/** The jobs of one line (see the header), or a syntax error. */
export function parse(line: string): Parsed {
  const tokens = tokenize(line);
  if (typeof tokens === 'string') return { ok: false, error: tokens };
  const jobs: Job[] = [];
  let cmds: Command[] = [];
  let argv: string[] = [];
  let redirs: Redir[] = [];
  const empty = () => argv.length === 0 && redirs.length === 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if ('word' in t) { argv.push(t.word); continue; }
    const op = t.op;
    if (op === '<' || op === '>' || op === '>>') {
      const next = tokens[i + 1];
      if (next === undefined || !('word' in next)) return fail(`syntax error: no file name after '${op}'`);
      redirs.push({ op, file: next.word });
      i++;
      continue;
    }
    if (op === '&&' || op === '||' || op === '(' || op === ')') return fail(`syntax error: '${op}' is not supported`);
    const prev = tokens[i - 1];
    if (op === ';' && prev !== undefined && 'op' in prev && prev.op === '&') continue; // `a &; b`, as zsh
    if (empty()) return fail(cmds.length > 0 ? `syntax error: no command after '|'` : `syntax error near '${op}'`);
    cmds.push({ argv, redirs });
    argv = [];
    redirs = [];
    if (op === '|') continue;
    jobs.push({ cmds, background: op === '&' });
    cmds = [];
  }
  if (empty()) {
    if (cmds.length > 0) return fail(`syntax error: no command after '|'`);
  } else {
    cmds.push({ argv, redirs });
    jobs.push({ cmds, background: false });
  }
  return { ok: true, jobs };
}

function fail(error: string): Parsed {
  return { ok: false, error };
}

export type Expanded = { readonly ok: true; readonly line: string; readonly changed: boolean } | { readonly ok: false; readonly error: string };

/**
 * Replaces `!!` (the last line) and `!N` (line N, from 1, as `history` numbers them) with the
 * lines of `history`, outside '…' and not after a backslash; a '!' followed by anything else is
 * itself. An event not in the history is an error ("!7: event not found").
 */
export function expandHistory(line: string, history: readonly string[]): Expanded {
  let out = '';
  let changed = false;
  let quoted = false; // inside '…'
  let dquoted = false; // inside "…"
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'" && !dquoted) quoted = !quoted;
    if (c === '"' && !quoted) dquoted = !dquoted;
    if (c === '\\' && !quoted) {
      out += line.slice(i, i + 2);
      i++;
      continue;
    }
    if (c !== '!' || quoted) { out += c; continue; }
    let event: string;
    let n: number;
    if (line[i + 1] === '!') {
      event = '!!';
      n = history.length;
    } else {
      const m = /^\d+/.exec(line.slice(i + 1));
      if (!m) { out += c; continue; }
      event = `!${m[0]}`;
      n = Number(m[0]);
    }
    const past = n >= 1 && n <= history.length ? history[n - 1] : undefined;
    if (past === undefined) return { ok: false, error: `${event}: event not found` };
    out += past;
    i += event.length - 1;
    changed = true;
  }
  return { ok: true, line: out, changed };
}

// Command-line parsing shared by every verb: options, their values and positional arguments,
// checked against the verb's spec. Every problem is a UsageError whose message is one line;
// main.ts prints it as `frond <verb>: <message>` on stderr and exits 1 (never a stack trace).
import { statSync } from 'node:fs';

/** A bad command line: the message is one line, said to the user as it is. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Spec {
  /** options without a value */
  flags?: readonly string[];
  /** options that take a value, with what the value is ("a directory") */
  values?: Readonly<Record<string, string>>;
  /** the positional arguments: what they are ("a bundle file") and how many may be given */
  positional?: { what: string; min?: number; max?: number };
}

export interface Parsed {
  flags: Set<string>;
  /** the value of each option given (the last one if it is repeated) */
  values: Map<string, string>;
  positional: string[];
}

/** Parses `args` against `spec`: `--opt value` and `--opt=value`; after `--`, positional only. */
export function parse(args: readonly string[], spec: Spec): Parsed {
  const out: Parsed = { flags: new Set(), values: new Map(), positional: [] };
  const flags = new Set(spec.flags ?? []);
  const values = spec.values ?? {};
  let dashes = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (dashes || !a.startsWith('-') || a === '-') { out.positional.push(a); continue; }
    if (a === '--') { dashes = true; continue; }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (flags.has(name)) {
      if (eq > 0) throw new UsageError(`${name} takes no value`);
      out.flags.add(name);
    } else if (Object.hasOwn(values, name)) {
      const v = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined || v === '' || (eq < 0 && v.startsWith('-'))) throw new UsageError(`${name} needs ${values[name]}`);
      out.values.set(name, v);
    } else {
      throw new UsageError(`unknown option ${name} (see --help)`);
    }
  }
  const { what = 'an argument', min = 0, max = 0 } = spec.positional ?? {};
  if (out.positional.length > max) {
    throw new UsageError(max === 0 ? `unexpected argument ${out.positional[0]}` : `unexpected argument ${out.positional[max]} (at most ${max})`);
  }
  if (out.positional.length < min) throw new UsageError(`name ${what} (see --help)`);
  return out;
}

/** What is at `path`: a file, a directory, something else, or nothing (null). */
export function kindOf(path: string): 'file' | 'directory' | 'other' | null {
  try {
    const st = statSync(path);
    return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other';
  } catch {
    return null;
  }
}

/** Throws a UsageError unless `path` (as the user wrote it, in `label`) is a directory. */
export function needDirectory(path: string, label: string): void {
  const k = kindOf(path);
  if (k === null) throw new UsageError(`${label}: no such directory`);
  if (k !== 'directory') throw new UsageError(`${label}: not a directory`);
}

/** A one-line description of an error from the file system or a library (no stack, no errno prefix). */
export function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR') return 'not a directory';
  if (code === 'EEXIST') return 'already exists';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'ENOSPC') return 'no space left on the device';
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0]!;
}

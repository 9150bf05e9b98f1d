// `frond idl`: compiles src/idl/*.ts into src/idl/generated/.
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseIdl } from './parse.ts';
import { emit } from './emit.ts';
import { IdlError } from './model.ts';

export interface IdlcResult { changed: string[]; files: Map<string, string> }

export function idlFiles(root: string): string[] {
  const dir = join(root, 'src/idl');
  return readdirSync(dir).filter((f) => f.endsWith('.ts')).sort().map((f) => join(dir, f));
}

/** Compiles the given IDL files; throws IdlError with `path:line:col: message` diagnostics. */
export function compile(files: string[], root: string): Map<string, string> {
  return emit(parseIdl(files.map((f) => resolve(f)), root));
}

/** Regenerates src/idl/generated/ (or, with check, only reports which files are stale). */
export function runIdlc(root: string, opts: { check?: boolean; files?: string[]; out?: string } = {}): IdlcResult {
  const files = compile(opts.files ?? idlFiles(root), root);
  const out = opts.out ?? join(root, 'src/idl/generated');
  const changed: string[] = [];
  for (const [name, text] of files) {
    const p = join(out, name);
    const old = existsSync(p) ? readFileSync(p, 'utf8') : null;
    if (old === text) continue;
    changed.push(p);
    if (!opts.check) {
      mkdirSync(out, { recursive: true });
      writeFileSync(p, text);
    }
  }
  return { changed, files };
}

export { IdlError };

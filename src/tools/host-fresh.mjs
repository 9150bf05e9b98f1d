// Whether the compiled host (src/tools/host.ts) is up to date: its entry point, build/host/src/cli/
// main.js, is newer than package.json and every .ts file under src/ and bench/. Plain JavaScript,
// because bin/frond.mjs decides this before any TypeScript loader is registered; src/tools/host.ts
// uses the same function to decide whether `frond start` must compile it again.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The entry point of the compiled host, relative to the repository root. */
export const HOST_ENTRY = join('build', 'host', 'src', 'cli', 'main.js');

/** Every .ts file under `dir`, at any depth. @param {string} dir @returns {string[]} */
export function tsFiles(dir) {
  const out = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop();
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.name.endsWith('.ts')) out.push(p);
    }
  }
  return out;
}

/** @param {string} root the repository root @returns {boolean} (false if there is no compiled host) */
export function hostFresh(root) {
  let made;
  try { made = statSync(join(root, HOST_ENTRY)).mtimeMs; } catch { return false; }
  if (statSync(join(root, 'package.json')).mtimeMs > made) return false;
  return [...tsFiles(join(root, 'src')), ...tsFiles(join(root, 'bench'))].every((p) => statSync(p).mtimeMs <= made);
}

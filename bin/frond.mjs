#!/usr/bin/env node
// The `frond` command. It runs the compiled host, build/host/src/cli/main.js (src/tools/host.ts),
// when that is newer than every .ts file under src/ and bench/, and package.json, and otherwise the TypeScript
// sources through tsx's loader (Node 20 cannot strip types).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'build', 'host', 'src', 'cli', 'main.js');

/** Whether `bundle` is newer than every .ts file under src/ and bench/, and package.json (false if missing). */
function fresh() {
  let made;
  try { made = statSync(bundle).mtimeMs; } catch { return false; }
  if (process.env.FROND_NO_HOST_BUNDLE) return false;
  const stack = [join(root, 'src'), join(root, 'bench')];
  if (statSync(join(root, 'package.json')).mtimeMs > made) return false;
  while (stack.length > 0) {
    const dir = stack.pop();
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.name.endsWith('.ts') && statSync(p).mtimeMs > made) return false;
    }
  }
  return true;
}

if (fresh()) {
  await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}

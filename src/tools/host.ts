// The compiled host: the `frond` command's TypeScript (every .ts file under src/ and bench/ but
// tests) compiled by esbuild, file by file, into JavaScript under build/host/ (the same tree, .ts
// imports rewritten to .js), so that a command starts without compiling TypeScript on the fly.
// bin/frond.mjs runs it when it is newer than package.json and every .ts file under src/ and
// bench/ (host-fresh.mjs, which this file shares), and the sources through tsx otherwise; `frond
// start` refreshes it. File by file, not one bundle: a bundle renames top-level names that two
// modules share, and the device models ship functions and constants to their worker threads by
// name (machine/node/thread.ts).
//
// `import.meta.url` in each file becomes the source file's URL, so the code finds its files
// (layout.json, the build tool's own sources, the repository root) exactly as from source.
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HOST_ENTRY, hostFresh, tsFiles } from './host-fresh.mjs';

export const HOST_DIR = join('build', 'host');

/** The host's sources under `dir`: its .ts files but tests and declarations. */
const sources = (dir: string): string[] => tsFiles(dir).filter((p) => !p.endsWith('.test.ts') && !p.endsWith('.d.ts'));

/** Compiles the host (about 0.3 s), the entry point last; returns the entry's path. */
export async function buildHost(root: string): Promise<string> {
  const { transform } = await import('esbuild');
  const tmp = join(root, `${HOST_DIR}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  for (const file of [...sources(join(root, 'src')), ...sources(join(root, 'bench'))]) {
    const text = readFileSync(file, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(file).href));
    const r = await transform(text, { loader: 'ts', format: 'esm', target: 'node20', sourcemap: 'inline', sourcefile: file });
    const js = r.code.replace(/((?:from|import)\s*\(?\s*)"(\.{1,2}\/[^"]+)\.ts"/g, '$1"$2.js"');
    const out = join(tmp, relative(root, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, js);
  }
  writeFileSync(join(tmp, 'package.json'), '{ "type": "module" }\n');
  const fresh = join('src', 'tools', 'host-fresh.mjs'); // (plain JavaScript, shared with bin/frond.mjs)
  copyFileSync(join(root, fresh), join(tmp, fresh));
  rmSync(join(root, HOST_DIR), { recursive: true, force: true });
  renameSync(tmp, join(root, HOST_DIR)); // (a command starting meanwhile sees the old tree or none)
  return join(root, HOST_ENTRY);
}

/** Compiles the host bundle unless it is fresh. */
export async function refreshHost(root: string): Promise<void> {
  if (!hostFresh(root)) await buildHost(root);
}

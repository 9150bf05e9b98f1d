#!/usr/bin/env node
// The `frond` command. It runs the compiled host, build/host/src/cli/main.js (src/tools/host.ts),
// when that is newer than package.json and every .ts file under src/ and bench/ (src/tools/
// host-fresh.mjs), and otherwise the TypeScript sources through tsx's loader (Node 20 cannot strip
// types).
// FROND_NO_HOST_BUNDLE=1 always runs the sources.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST_ENTRY, hostFresh } from '../src/tools/host-fresh.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

if (!process.env.FROND_NO_HOST_BUNDLE && hostFresh(root)) {
  await import(join(root, HOST_ENTRY));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}

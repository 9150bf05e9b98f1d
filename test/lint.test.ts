// Tests for the frond/layering ESLint rule (src/tools/lint/layering.js) as wired up by eslint.config.js.
// Source text is linted in memory under a made-up file path; the files need not exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Domain folders of the made-up tree the domain tests lint (the rule asks whether each folder holds
 *  a domain.json, as the trusted build does; here the answer comes from this list). */
const FOLDERS = ['init', 'rv6/fs', 'drivers/nvme', 'drivers/ixgbe'].map((d) => join(root, 'src/domains', d, 'domain.json'));
const eslint = new ESLint({ cwd: root, overrideConfig: { settings: { frond: { exists: (p: string) => FOLDERS.includes(p) } } } });

async function lint(filePath: string, code: string): Promise<Linter.LintMessage[]> {
  const results = await eslint.lintText(code, { filePath });
  assert.equal(results.length, 1);
  const messages = results[0]!.messages;
  assert.deepEqual(messages.filter((m) => m.fatal), [], 'the fixture must parse');
  return messages;
}

/** Only the frond/layering messages. */
async function layering(filePath: string, code: string): Promise<string[]> {
  return (await lint(filePath, code)).filter((m) => m.ruleId === 'frond/layering').map((m) => m.message);
}

/** Asserts the fixture is clean: no message from any rule. */
async function clean(filePath: string, code: string): Promise<void> {
  assert.deepEqual(await lint(filePath, code), []);
}

// --- 1. host APIs in runtime-neutral layers ---

test('kernel may not import node:fs', async () => {
  assert.deepEqual(
    await layering('src/kernel/x.ts', "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n"),
    ["kernel/ must stay runtime-neutral: it may not import host API 'node:fs'"]);
});

test('kernel may not import a Node builtin by bare name (fs)', async () => {
  assert.deepEqual(
    await layering('src/kernel/x.ts', "import * as fs from 'fs';\nexport const f = fs;\n"),
    ["kernel/ must stay runtime-neutral: it may not import host API 'fs'"]);
});

test('kernel may not import fs/promises or path by bare name either', async () => {
  assert.deepEqual(
    await layering('src/kernel/x.ts', "export { readFile } from 'fs/promises';\nexport { join } from 'path';\n"),
    ["kernel/ must stay runtime-neutral: it may not import host API 'fs/promises'",
      "kernel/ must stay runtime-neutral: it may not import host API 'path'"]);
});

test('domain may not import node:worker_threads', async () => {
  assert.deepEqual(
    await layering('src/domains/init/main.ts',
      "import { Worker } from 'node:worker_threads';\nexport const W = Worker;\n"),
    ["domains/ must stay runtime-neutral: it may not import host API 'node:worker_threads'"]);
});

test('idl, user and machine/common may not import host APIs (incl. dynamic import and type-only import)', async () => {
  assert.deepEqual(
    await layering('src/idl/blk.ts', "import type { Stats } from 'node:fs';\nexport type S = Stats;\n"),
    ["idl/ must stay runtime-neutral: it may not import host API 'node:fs'"]);
  assert.deepEqual(
    await layering('src/user/lib/io.ts', "export const load = () => import('node:os');\n"),
    ["user/ must stay runtime-neutral: it may not import host API 'node:os'"]);
  assert.deepEqual(
    await layering('src/machine/common/ring.ts', "import 'crypto';\n"),
    ["machine/common/ must stay runtime-neutral: it may not import host API 'crypto'"]);
});

test('bare package imports are not the layering rule\'s business', async () => {
  await clean('src/kernel/x.ts', "import 'ses';\nexport {};\n");
});

// --- 2. downward-only imports ---

test('kernel may not import from domains/', async () => {
  assert.deepEqual(
    await layering('src/kernel/x.ts', "import { start } from '../domains/init/index.ts';\nexport const s = start;\n"),
    ['kernel/ may not import from domains/ (imports point downward: kernel may use idl, lib, machine/common)']);
});

test('kernel may not re-export from domains/ (export * from)', async () => {
  assert.deepEqual(
    await layering('src/kernel/x.ts', "export * from '../domains/init/index.ts';\n"),
    ['kernel/ may not import from domains/ (imports point downward: kernel may use idl, lib, machine/common)']);
});

test('idl may not import from kernel/', async () => {
  assert.deepEqual(
    await layering('src/idl/blk.ts', "import type { Heap } from '../kernel/heap.ts';\nexport type H = Heap;\n"),
    ['idl/ may not import from kernel/ (imports point downward: idl may use nothing outside idl/)']);
});

test('a domain may not import another domain\'s code', async () => {
  assert.deepEqual(
    await layering('src/domains/drivers/nvme/x.ts', "import { y } from '../ixgbe/y.ts';\nexport const z = y;\n"),
    ["domain 'drivers/nvme' may not import another domain's code ('drivers/ixgbe'); " +
      'reach it through a capability passed to init']);
  assert.deepEqual(
    await layering('src/domains/init/main.ts', "export const load = () => import('../rv6/fs/inode.ts');\n"),
    ["domain 'init' may not import another domain's code ('rv6/fs'); reach it through a capability passed to init"]);
});

test('domain folders: the nearest folder holding domain.json (as the build decides); loose files belong to no domain', async () => {
  assert.deepEqual(
    await layering('src/domains/drivers/nvme/queue/q.ts', "import '../../../init/caps.ts';\n"),
    ["domain 'drivers/nvme' may not import another domain's code ('init'); reach it through a capability passed to init"]);
  assert.deepEqual(
    await layering('src/domains/drivers/nvme/x.ts', "import '../shared.ts';\n"),
    ["domain 'drivers/nvme' may not import another domain's code ('domains/ (outside any domain folder)'); reach it through a capability passed to init"]);
  await clean('src/domains/init/deep/a/b.ts', "import '../../main.ts';\nexport {};\n");
});

test('a domain may not import the kernel', async () => {
  assert.deepEqual(
    await layering('src/domains/init/main.ts', "import '../../kernel/heap.ts';\n"),
    ['domains/ may not import from kernel/ (imports point downward: domains may use idl, lib, machine/common)']);
});

test('other layer edges: user→kernel, machine/node→machine/web, tools→domains, machine/common→idl', async () => {
  assert.deepEqual(
    await layering('src/user/lib/sys.ts', "import '../../kernel/syscall.ts';\n"),
    ['user/ may not import from kernel/ (imports point downward: user may use idl, lib)']);
  assert.deepEqual(
    await layering('src/machine/node/nvme.ts', "import '../web/canvas.ts';\n"),
    ['machine/node/ may not import from machine/web/ (imports point downward: machine/node may use machine/common, idl, lib)']);
  assert.deepEqual(
    await layering('src/tools/domainc.ts', "import '../domains/init/main.ts';\n"),
    ['tools/ may not import from domains/ (imports point downward: tools may use idl, kernel, lib, machine/common)']);
  assert.deepEqual(
    await layering('src/machine/common/ring.ts', "import '../../idl/blk.ts';\n"),
    ['machine/common/ may not import from idl/ (imports point downward: machine/common may use nothing outside machine/common/)']);
});

test('kernel may not import from outside src/, nor use require()', async () => {
  assert.deepEqual(
    await layering('src/kernel/x.ts', "import '../../test/helpers.ts';\n"),
    ["kernel/ may not import from outside src/ ('../../test/helpers.ts') " +
      '(imports point downward: kernel may use idl, lib, machine/common)']);
  assert.deepEqual(
    await layering('src/kernel/x.ts', "export const d = require('../domains/init/index.ts');\n"),
    ["kernel/ must stay runtime-neutral: it may not use host global 'require'",
      'kernel/ may not import from domains/ (imports point downward: kernel may use idl, lib, machine/common)']);
});

// --- allowed edges ---

test('a domain may import its own files', async () => {
  await clean('src/domains/drivers/nvme/x.ts',
    "import { y } from './y.ts';\nimport { q } from './queue/q.ts';\nexport const z = [y, q];\n");
  await clean('src/domains/init/main.ts', "export { boot } from './boot.ts';\n");
});

test('a domain may import idl/ and machine/common/', async () => {
  await clean('src/domains/drivers/nvme/x.ts',
    "import type { Blk } from '../../../idl/blk.ts';\nimport { SQ } from '../../../machine/common/nvme.ts';\n" +
    'export type B = Blk;\nexport const sq = SQ;\n');
});

test('kernel may import kernel, idl and machine/common', async () => {
  await clean('src/kernel/x.ts',
    "import { heap } from './heap.ts';\nimport type { Blk } from '../idl/blk.ts';\n" +
    "import { RING } from '../machine/common/ring.ts';\nexport type B = Blk;\nexport const k = [heap, RING];\n");
});

test('cli may import the kernel and node:fs', async () => {
  await clean('src/cli/main.ts',
    "import { readFileSync } from 'node:fs';\nimport { boot } from '../kernel/boot.ts';\n" +
    "import { start } from '../domains/init/main.ts';\nexport const x = [readFileSync, boot, start, process.argv];\n");
});

test('machine/node may import node:fs (and machine/common, idl)', async () => {
  await clean('src/machine/node/disk.ts',
    "import { openSync } from 'node:fs';\nimport { RING } from '../common/ring.ts';\n" +
    "export const d = [openSync, RING, Buffer.alloc(1), process.pid];\n");
});

test('tools may import node builtins, the kernel and idl', async () => {
  await clean('src/tools/idlc/main.ts',
    "import { join } from 'path';\nimport { heap } from '../../kernel/heap.ts';\nimport '../../idl/blk.ts';\n" +
    'export const t = [join, heap, __dirname];\n');
});

test('files outside src/ are not checked', async () => {
  await clean('test/x.test.ts', "import '../src/domains/init/main.ts';\nimport 'node:fs';\n");
  await clean('scripts/x.ts', "import 'node:fs';\nexport const p = process.argv;\n");
});

test('co-located tests under src/ may use node:test', async () => {
  await clean('src/kernel/heap.test.ts', "import { test } from 'node:test';\ntest('x', () => {});\n");
});

// --- 3. host globals in runtime-neutral layers ---

test('kernel may not use process (process.exit())', async () => {
  assert.deepEqual(
    await layering('src/kernel/x.ts', 'export function die(): void {\n  process.exit(1);\n}\n'),
    ["kernel/ must stay runtime-neutral: it may not use host global 'process'"]);
});

test('runtime-neutral layers may not use Buffer, __dirname, setImmediate or global', async () => {
  assert.deepEqual(
    await layering('src/domains/init/main.ts',
      'export const b: Buffer = Buffer.alloc(4);\nexport const d = __dirname;\n' +
      'setImmediate(() => {});\nexport const g = global;\n'),
    ["domains/ must stay runtime-neutral: it may not use host global 'Buffer'",
      "domains/ must stay runtime-neutral: it may not use host global 'Buffer'",
      "domains/ must stay runtime-neutral: it may not use host global '__dirname'",
      "domains/ must stay runtime-neutral: it may not use host global 'setImmediate'",
      "domains/ must stay runtime-neutral: it may not use host global 'global'"]);
});

test('a local binding named like a host global is not reported', async () => {
  await clean('src/kernel/x.ts',
    'export function run(process: { exit(code: number): void }): void {\n  process.exit(0);\n}\n');
});

test('host globals are reported even when configured as globals', async () => {
  const withGlobals = new ESLint({
    cwd: root,
    overrideConfig: { languageOptions: { globals: { process: 'readonly', Buffer: 'readonly' } } },
  });
  const [result] = await withGlobals.lintText('export const p = process.pid;\n', { filePath: 'src/user/x.ts' });
  assert.deepEqual(result!.messages.map((m) => m.message),
    ["user/ must stay runtime-neutral: it may not use host global 'process'"]);
});

test('shared code: a domain may import src/lib/ and machine/common/ (src/tools/layout.json); lib may import neither a domain nor a host API', async () => {
  await clean('src/domains/init/main.ts', "import { ok } from '../../lib/result.ts';\nimport type { Host } from '../../machine/common/host.ts';\nexport const o = ok;\nexport type H = Host;\n");
  assert.deepEqual(
    await layering('src/lib/x.ts', "import '../domains/init/main.ts';\n"),
    ['lib/ may not import from domains/ (imports point downward: lib may use idl, machine/common)']);
  assert.deepEqual(
    await layering('src/lib/x.ts', "import 'node:fs';\n"),
    ["lib/ must stay runtime-neutral: it may not import host API 'node:fs'"]);
});

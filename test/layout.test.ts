// The trusted build and the lint rule agree on what a domain may import: both read
// src/tools/layout.json (what a domain folder is; the trusted and shared folders). The same domain
// source is linted (as a made-up file in src/domains/) and built (in a scratch repository root):
// importing shared code is accepted by both, importing another domain refused by both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ESLint } from 'eslint';
import { buildDomain, BuildError, ephemeralKey } from '../src/tools/domainc/build.ts';
import { ROOT } from './helpers.ts';

const INIT = "\nexport function init(): object { return {}; }\n";
const DOMAINS = ['a', 'b'].map((d) => join(ROOT, 'src/domains/layout-test', d, 'domain.json'));
const eslint = new ESLint({ cwd: ROOT, overrideConfig: { settings: { frond: { exists: (p: string) => DOMAINS.includes(p) } } } });

async function lintVerdict(code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(ROOT, 'src/domains/layout-test/a/index.ts') });
  return r!.messages.filter((m) => m.ruleId === 'frond/layering').map((m) => m.message);
}

async function buildVerdict(code: string): Promise<string[]> {
  const root = mkdtempSync(join(tmpdir(), 'frond-layout-'));
  try {
    for (const d of ['src/idl', 'src/lib', 'src/machine/common', 'src/tools/domainc/allowlist.json']) cpSync(join(ROOT, d), join(root, d), { recursive: true });
    writeFileSync(join(root, 'package.json'), '{ "name": "layout-test", "version": "0.0.0", "type": "module" }\n');
    const files: Record<string, string> = {
      'src/domains/layout-test/a/domain.json': '{ "name": "a" }\n',
      'src/domains/layout-test/a/index.ts': code + INIT,
      'src/domains/layout-test/b/domain.json': '{ "name": "b" }\n',
      'src/domains/layout-test/b/index.ts': `export const secret = 1;${INIT}`,
    };
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, p)), { recursive: true });
      writeFileSync(join(root, p), text);
    }
    await buildDomain(join(root, 'src/domains/layout-test/a'), { root, outDir: join(root, 'out'), key: ephemeralKey() });
    return [];
  } catch (e) {
    if (!(e instanceof BuildError)) throw e;
    return e.message.split('\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('a domain importing shared code (src/lib/, src/machine/common/): accepted by the build and by the lint rule', async () => {
  const code = "import { ok } from '../../../lib/result.ts';\nimport type { Host } from '../../../machine/common/host.ts';\nexport const o = ok;\nexport type H = Host;";
  assert.deepEqual(await lintVerdict(code), []);
  assert.deepEqual(await buildVerdict(code), []);
});

test('a domain importing another domain: refused by the build and by the lint rule', async () => {
  const code = "import { secret } from '../b/index.ts';\nexport const s = secret;";
  const lint = await lintVerdict(code);
  assert.equal(lint.length, 1);
  assert.match(lint[0]!, /domain 'layout-test\/a' may not import another domain's code \('layout-test\/b'\)/);
  const build = await buildVerdict(code);
  assert.equal(build.length, 1);
  assert.match(build[0]!, /src\/domains\/layout-test\/a\/index\.ts:1:24: import '\.\.\/b\/index\.ts': it is outside this domain's folder, in another domain \(src\/domains\/layout-test\/b\)/);
});

test('a domain importing the kernel: refused by both', async () => {
  const code = "import { Kernel } from '../../../kernel/kernel.ts';\nexport const k = Kernel;";
  assert.equal((await lintVerdict(code)).length, 1);
  assert.equal((await buildVerdict(code)).length >= 1, true);
});

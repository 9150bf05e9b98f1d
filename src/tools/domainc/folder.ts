// A domain folder's description (domain.json) and the esbuild settings every domain is built with:
// what the build's up-to-date check and `frond build`'s listing need, without loading esbuild or
// the TypeScript compiler (bundle.ts and check.ts load those, only when something is rebuilt).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DomainJson { name: string; exports?: string; imports: Record<string, string> }

/** The esbuild settings every domain is built with (recorded in each manifest). */
export const ESBUILD_FLAGS = { format: 'cjs', platform: 'neutral', target: 'es2022', bundle: true } as const;

const IFACE = /^[A-Z][A-Za-z0-9]*$/;

export function readDomainJson(dir: string): DomainJson {
  return loadDomainJson(dir).json;
}

/** domain.json, checked, and the SHA-256 of its bytes. */
export function loadDomainJson(dir: string): { json: DomainJson; sha256: string } {
  const p = join(dir, 'domain.json');
  let j: unknown;
  let bytes: Buffer;
  try {
    bytes = readFileSync(p);
    j = JSON.parse(bytes.toString('utf8'));
  } catch (e) { throw new Error(`${p}: ${(e as Error).message}`); }
  const o = j as Record<string, unknown>;
  if (typeof o?.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(o.name)) throw new Error(`${p}: "name" must be a lower-case identifier`);
  if (o.exports !== undefined && (typeof o.exports !== 'string' || !IFACE.test(o.exports))) throw new Error(`${p}: "exports" must be an interface name`);
  const imports: Record<string, string> = {};
  if (o.imports !== undefined) {
    if (o.imports === null || typeof o.imports !== 'object' || Array.isArray(o.imports)) throw new Error(`${p}: "imports" must map import names to interface names`);
    for (const [k, v] of Object.entries(o.imports)) {
      if (!/^[A-Za-z_$][\w$]*$/.test(k) || typeof v !== 'string' || !IFACE.test(v)) throw new Error(`${p}: import "${k}" must name an interface`);
      imports[k] = v;
    }
  }
  return { json: { name: o.name, exports: o.exports as string | undefined, imports }, sha256: createHash('sha256').update(bytes).digest('hex') };
}


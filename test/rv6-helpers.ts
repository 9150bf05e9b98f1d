// Running rv6 in a test: its domains and every program under src/user built once with the test
// key (build/test/), a fresh default disk in a temporary folder, and a session fed from a script
// on a pipe (so the console echoes nothing and rv6 halts at the end of input). One session at a
// time per process (a kernel attaches process-wide hooks).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { bootRv6, buildRv6, DEFAULT_INODES, DEFAULT_SIZE, imageFiles, type Built, type Rv6, type Rv6Options } from '../src/boot/rv6.ts';
import type { CrashReport } from '../src/kernel/crash.ts';
import { mkfs, type MkfsFile } from '../src/tools/fs/mkfs.ts';
import { ROOT, testKey } from './helpers.ts';

let building: Promise<Built> | null = null;
/** rv6's bundles and programs, built once per process. */
export function built(): Promise<Built> {
  building ??= buildRv6(ROOT, { key: testKey(), out: join(ROOT, 'build', 'test') });
  return building;
}

let dir: string | null = null;
/** A new disk image file: the default disk's files (and `extra`), `size` 1 KiB blocks. */
export async function freshImage(extra: readonly MkfsFile[] = [], size = DEFAULT_SIZE, ninodes = DEFAULT_INODES): Promise<string> {
  const b = await built();
  dir ??= mkdtempSync(join(tmpdir(), 'frond-rv6-'));
  const path = join(dir, `disk-${Math.random().toString(36).slice(2)}.img`);
  const readme = readFileSync(join(ROOT, 'src', 'user', 'README'));
  writeFileSync(path, mkfs({ size, ninodes, files: [...imageFiles(readme, b.programs), ...extra] }));
  return path;
}

export interface Session {
  output: string;
  halted: string;
  crashes: CrashReport[];
  disk: string;
  logs: string[];
}

/**
 * Boots rv6 on `disk` (default: a fresh image), types `script` (then end of input), and resolves
 * with everything the console printed once rv6 halts. `during` runs once the machine is up.
 */
export async function runShell(script: string, o: { disk?: string; timeoutMs?: number; during?: (r: Rv6) => void | Promise<void> } & Partial<Rv6Options> = {}): Promise<Session> {
  const b = await built();
  const disk = o.disk ?? await freshImage();
  const input = new PassThrough();
  let output = '';
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { output += chunk.toString('utf8'); cb(); } });
  const logs: string[] = [];
  const r = await bootRv6(b, { disk, input, output: sink, raw: false, haltAtEof: true, log: (l) => logs.push(l), ...o });
  input.end(script);
  if (o.during) await o.during(r);
  const ms = o.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const halted = await Promise.race([
    r.halted,
    new Promise<string>((_, reject) => { timer = setTimeout(() => reject(new Error(`rv6 did not halt within ${ms} ms; output so far:\n${output}\nlog:\n${logs.join('\n')}`)), ms); }),
  ]);
  clearTimeout(timer);
  return { output, halted, crashes: r.crashes, disk, logs };
}

// rv6 assembled: the machine (an NVMe-like disk holding an xv6 file system, and the console), the
// kernel, and rv6's domains over them:
//
//   nvme ─ bdev-shadow ─ fs ─┐
//   console0 ─ console ──────┴─ rv6-core ─ /init ─ /sh ─ …  (processes, loaded from the disk)
//
// The fs domain sees only the shadow's BDev, so a crash of the disk driver is invisible to it.
// `bootRv6` builds what is stale, boots, runs /init, and resolves when the machine halts (a halt()
// call, or init ending); `defaultImage` makes the disk `npm start` boots: every program under
// src/user plus a README, remade when a program changed.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Console } from '../idl/console.ts';
import type { Fs, Rv6Core } from '../idl/rv6.ts';
import { Kernel } from '../kernel/kernel.ts';
import type { CrashReport } from '../kernel/crash.ts';
import { NodeHost } from '../machine/node/host.ts';
import { startConsole, type ConsoleDevice } from '../machine/node/console.ts';
import { bootTrust, loadAll } from '../tools/domainc/boot.ts';
import { buildAll, devKey, findDomains, type SigningKey } from '../tools/domainc/build.ts';
import { mkfs, type MkfsFile } from '../tools/fs/mkfs.ts';
import { powerOff, startBlock, type BlockPath } from './block.ts';

export const RV6_DOMAINS = [
  'src/domains/drivers/nvme', 'src/domains/shadows/bdev', 'src/domains/rv6/fs', 'src/domains/rv6/console', 'src/domains/rv6/core',
];
export const CONSOLE_DEVICE = 'console0';
export const CONSOLE_IRQ = 1;
/** The default disk: blocks of 1 KiB and inodes (xv6's are 2000 and 200: too small for Frond's
 *  programs, a README and usertests' big files). */
export const DEFAULT_SIZE = 8192;
export const DEFAULT_INODES = 400;
/** CPU budgets: the fs domain's calls read and write the disk synchronously (a commit writes up to
 *  31 blocks and flushes three times); the core's spawn reads a program whole. */
const FS_BUDGET_MS = 2000;
const CORE_BUDGET_MS = 2000;

export interface Rv6Options {
  /** the disk image file (xv6 format); used in place */
  disk: string;
  /** default process.stdin / process.stdout */
  input?: Readable;
  output?: Writable;
  /** put a terminal input in raw mode (default: if it is a terminal) */
  raw?: boolean;
  /** halt at the end of input instead of restarting the shell (default: input is not a terminal) */
  haltAtEof?: boolean;
  /** the disk driver behind its shadow (default true) */
  shadow?: boolean;
  /** kernel log lines (crash reports) go here; default: dropped */
  log?: (line: string) => void;
  /** called once the shell first prints its prompt (boot-to-prompt time) */
  onPrompt?: () => void;
}

export interface Rv6 {
  readonly k: Kernel;
  readonly block: BlockPath;
  readonly console: ConsoleDevice;
  /** resolves with what halted the machine, once every device has stopped */
  readonly halted: Promise<string>;
  readonly crashes: CrashReport[];
}

export interface Built {
  /** rv6's domains, for the kernel to load */
  system: Uint8Array[];
  /** the user programs, for the disk */
  programs: { name: string; bytes: Uint8Array }[];
  /** the public keys that signed them */
  trust: string[];
}

/** Builds (incrementally) rv6's domains and the user programs with the development key (or
 *  `key`, into `out`/domains and `out`/user); returns the signed bundles. */
export async function buildRv6(root: string, o: { key?: SigningKey; out?: string } = {}): Promise<Built> {
  const key = o.key ?? devKey(join(root, 'keys'));
  const out = o.out ?? join(root, 'build');
  const sys = await buildAll({ root, key, outDir: join(out, 'domains') }, RV6_DOMAINS.map((d) => join(root, d)));
  const user = await buildAll({ root, key, outDir: join(out, 'user') }, findDomains(join(root, 'src', 'user')));
  return {
    system: sys.map((b) => b.bytes),
    programs: user.map((b) => ({ name: b.name, bytes: b.bytes })),
    trust: o.key ? [o.key.publicKey] : bootTrust(root),
  };
}

/**
 * The default disk image (build/rv6.img): made if missing, and made again when a program changed
 * (its files are then lost: say so). Returns its path and whether it was made.
 */
export function defaultImage(root: string, programs: readonly { name: string; bytes: Uint8Array }[], path = join(root, 'build', 'rv6.img')): { path: string; made: boolean } {
  const stampFile = `${path}.programs`;
  const readme = readFileSync(join(root, 'src', 'user', 'README'));
  const files = imageFiles(readme, programs);
  const h = createHash('sha256').update(readme);
  for (const p of programs) h.update(p.name).update(p.bytes);
  const stamp = h.digest('hex');
  if (existsSync(path) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return { path, made: false };
  writeFileSync(path, mkfs({ size: DEFAULT_SIZE, ninodes: DEFAULT_INODES, files }));
  writeFileSync(stampFile, stamp);
  return { path, made: true };
}

/** What the default disk holds: the README, then the programs in name order. */
export function imageFiles(readme: Uint8Array, programs: readonly { name: string; bytes: Uint8Array }[]): MkfsFile[] {
  const sorted = [...programs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return [{ name: 'README', data: new Uint8Array(readme) }, ...sorted.map((p) => ({ name: p.name, data: p.bytes }))];
}

/** Boots rv6 on `o.disk` with already built bundles (buildRv6). */
export async function bootRv6(built: Pick<Built, 'system' | 'trust'>, o: Rv6Options): Promise<Rv6> {
  const k = new Kernel(new NodeHost(), { trust: built.trust, log: o.log ?? (() => {}) });
  const crashes: CrashReport[] = [];
  k.onCrash((r) => crashes.push(r));
  loadAll(k, built.system);
  const bytes = statSync(o.disk).size;
  if (bytes < 4096) throw new Error(`${o.disk}: too small to hold a file system (${bytes} bytes)`);
  const block = await startBlock(k, { blocks: Math.ceil(bytes / 4096), image: o.disk, shadow: o.shadow ?? true });
  const input = o.input ?? process.stdin;
  const con = startConsole({ input, output: o.output ?? process.stdout, ...(o.raw !== undefined ? { raw: o.raw } : {}) });
  const stopAll = (): Promise<void> => powerOff(k, block, con);
  try {
    k.attachDevice(CONSOLE_DEVICE, con, { irq: CONSOLE_IRQ });
    const console = k.create<Console>('console', {}, { devices: [CONSOLE_DEVICE], config: { device: CONSOLE_DEVICE } }).api;
    const fs = k.create<Fs>('fs', { bdev: block.bdev }, { budgetMs: FS_BUDGET_MS }).api;
    const core = k.create<Rv6Core>('rv6-core', { fs, console }, { privileged: true, budgetMs: CORE_BUDGET_MS }).api;
    const haltAtEof = o.haltAtEof ?? !(input as { isTTY?: boolean }).isTTY;
    const halted = (async () => {
      try {
        const r = await core.run(['init', ...(haltAtEof ? ['--halt-at-eof'] : [])].join('\0'));
        return r.ok ? r.value : `the core failed: ${r.error.message}`;
      } finally {
        await stopAll();
      }
    })();
    return { k, block, console: con, halted, crashes };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

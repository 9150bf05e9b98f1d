// The file-system benchmark: rv6's file system through its system calls, from a user program
// (src/user/fsbench), against the same workload as a plain Node program on the host's file system,
// interleaved round by round in the same run; and boot_ms, from the start of a `frond boot`
// process to the shell's first prompt.
//
// Each round boots a fresh rv6 (a child process: `frond boot --disk <fresh default image>`, the
// script "fsbench N KIB" on its standard input), times its prompt, collects fsbench's lines, then
// runs the host half with node:fs (sync calls, no fsync, like rv6's group commit before its sync).
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildRv6, DEFAULT_INODES, DEFAULT_SIZE, imageFiles } from '../src/boot/rv6.ts';
import { mkfs } from '../src/tools/fs/mkfs.ts';
import { refreshHost } from '../src/tools/host.ts';

const ROOT = join(fileURLToPath(import.meta.url), '../..');
const SMALL = 100;

type Figures = Record<string, number>;
interface Round { create: number; read: number; unlink: number; seqwrite: number; seqread: number; sync: number; boot: number }

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };

/** One rv6 round: boots a child `frond boot`, runs fsbench, returns ms per phase and boot_ms. */
function rv6Round(disk: string, n: number, kib: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, [join(ROOT, 'bin/frond.mjs'), 'boot', '--disk', disk], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let boot = -1;
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (boot < 0 && out.includes('$ ')) {
        boot = performance.now() - t0;
        c.stdin.end(`fsbench ${n} ${kib}\n`);
      }
    });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('exit', (code) => {
      const ms = (p: string): number => Number(new RegExp(`^(?:\\$ )?fsbench ${p} \\d+ ([\\d.]+)$`, 'm').exec(out)?.[1] ?? NaN);
      if (code !== 0 || !/^(?:\$ )?fsbench ok$/m.test(out)) { reject(new Error(`rv6 round failed (exit ${code}):\n${out}\n${err}`)); return; }
      resolve({ create: ms('create'), read: ms('read'), unlink: ms('unlink'), seqwrite: ms('seqwrite'), seqread: ms('seqread'), sync: ms('sync'), boot });
    });
  });
}

/** The same workload on the host's file system. */
function hostRound(dir: string, n: number, kib: number): Round {
  const small = new Uint8Array(SMALL).fill(0x61);
  const chunk = new Uint8Array(4096);
  for (let i = 0; i < chunk.length; i++) chunk[i] = i & 0xff;
  const d = join(dir, 'fsb');
  mkdirSync(d);
  const time = (f: () => void): number => { const t = performance.now(); f(); return performance.now() - t; };
  const buf = new Uint8Array(4096);
  const r: Round = {
    create: time(() => { for (let i = 0; i < n; i++) { const fd = openSync(join(d, `f${i}`), 'w'); writeSync(fd, small); closeSync(fd); } }),
    read: time(() => { for (let i = 0; i < n; i++) { const fd = openSync(join(d, `f${i}`), 'r'); if (readSync(fd, buf) !== SMALL) throw new Error('short read'); closeSync(fd); } }),
    unlink: time(() => { for (let i = 0; i < n; i++) unlinkSync(join(d, `f${i}`)); }),
    seqwrite: time(() => { const fd = openSync(join(d, 'big'), 'w'); for (let k = 0; k < kib; k += 4) writeSync(fd, chunk); closeSync(fd); }),
    seqread: time(() => { const fd = openSync(join(d, 'big'), 'r'); while (readSync(fd, buf) > 0); closeSync(fd); }),
    sync: 0,
    boot: 0,
  };
  rmSync(d, { recursive: true, force: true });
  return r;
}

export async function fsBench(o: { quick: boolean; progress: (line: string) => void }): Promise<Figures> {
  const rounds = o.quick ? 1 : 5;
  const n = o.quick ? 50 : 200;
  const kib = 256;
  const built = await buildRv6(ROOT);
  await refreshHost(ROOT); // (boot_ms is for the compiled command, as npm start leaves it)
  const dir = mkdtempSync(join(tmpdir(), 'frond-fsbench-'));
  const readme = readFileSync(join(ROOT, 'src', 'user', 'README'));
  const image = mkfs({ size: DEFAULT_SIZE, ninodes: DEFAULT_INODES, files: imageFiles(readme, built.programs) });
  const rv6: Round[] = [];
  const host: Round[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const disk = join(dir, `disk${i}.img`);
      writeFileSync(disk, image);
      rv6.push(await rv6Round(disk, n, kib));
      host.push(hostRound(dir, n, kib));
      rmSync(disk, { force: true });
      o.progress(`round ${i + 1}/${rounds}: rv6 create ${rv6[i]!.create.toFixed(1)} ms, host ${host[i]!.create.toFixed(1)} ms; boot ${rv6[i]!.boot.toFixed(0)} ms`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const f: Figures = { n_files: n, file_kib: kib, rounds };
  const per = (rs: Round[], k: keyof Round, count: number): number => median(rs.map((r) => count / (r[k] / 1000)));
  for (const [side, rs] of [['rv6', rv6], ['host', host]] as const) {
    f[`${side}_create_per_s`] = per(rs, 'create', n);
    f[`${side}_read_per_s`] = per(rs, 'read', n);
    f[`${side}_unlink_per_s`] = per(rs, 'unlink', n);
    f[`${side}_seqwrite_mb_s`] = per(rs, 'seqwrite', kib / 1024 * 1.048576);
    f[`${side}_seqread_mb_s`] = per(rs, 'seqread', kib / 1024 * 1.048576);
  }
  for (const k of ['create_per_s', 'read_per_s', 'unlink_per_s', 'seqwrite_mb_s', 'seqread_mb_s']) f[`${k.replace(/_(per_s|mb_s)$/, '')}_rv6_over_host`] = f[`rv6_${k}`]! / f[`host_${k}`]!;
  f.rv6_sync_ms = median(rv6.map((r) => r.sync));
  f.boot_ms = median(rv6.map((r) => r.boot));
  return f;
}

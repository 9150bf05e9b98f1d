// npm run interop:xv6 -- XV6_DIR: checks that Frond and xv6-riscv read and write each other's
// disks, with xv6's own kernel and mkfs built from a checkout of xv6-riscv you name (not part of
// Frond; https://github.com/mit-pdos/xv6-riscv). It needs riscv64-linux-gnu-gcc and
// qemu-system-riscv64 (Debian: gcc-riscv64-linux-gnu qemu-system-misc; installed with apt-get
// when missing and run as root).
//
//   A. `frond mkfs` makes a disk holding xv6's programs and a README; xv6's kernel boots it under
//      QEMU, lists it, reads the README, writes a file and a directory; then `frond fsck` must
//      find the disk clean and Frond must read what xv6 wrote.
//   B. xv6's `mkfs` makes a disk holding Frond's programs and a README; `frond boot` boots it,
//      reads the README and writes a file; then `frond fsck` must find it clean.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildRv6 } from '../src/boot/rv6.ts';
import { readFile } from '../src/lib/xv6fs/image.ts';
import { fsck } from '../src/tools/fs/fsck.ts';

const ROOT = join(fileURLToPath(import.meta.url), '../..');
const xv6 = process.argv[2] ? resolve(process.argv[2]) : '';
if (!xv6 || !existsSync(join(xv6, 'kernel', 'fs.h'))) {
  console.error('usage: npm run interop:xv6 -- XV6_DIR   (a checkout of mit-pdos/xv6-riscv)');
  process.exit(2);
}

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
if (!has('riscv64-linux-gnu-gcc') || !has('qemu-system-riscv64')) {
  if (process.getuid?.() !== 0) {
    console.error('needs: apt-get install gcc-riscv64-linux-gnu qemu-system-misc');
    process.exit(2);
  }
  execFileSync('apt-get', ['install', '-y', '-q', 'gcc-riscv64-linux-gnu', 'qemu-system-misc'], { stdio: 'inherit' });
}
execFileSync('make', ['-C', xv6, 'TOOLPREFIX=riscv64-linux-gnu-', 'kernel/kernel', 'fs.img'], { stdio: ['ignore', 'ignore', 'inherit'] });

const work = mkdtempSync(join(tmpdir(), 'frond-xv6-'));
const README = 'Hello from one operating system to another.\n';
const problems: string[] = [];
const check = (ok: boolean, what: string): void => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) problems.push(what); };

/** Boots xv6 on `img` under QEMU, types each command once the prompt is back, returns the output. */
function xv6Session(img: string, commands: readonly string[]): Promise<string> {
  const q = spawn('qemu-system-riscv64', ['-machine', 'virt', '-bios', 'none', '-kernel', join(xv6, 'kernel', 'kernel'), '-m', '128M', '-smp', '1',
    '-nographic', '-global', 'virtio-mmio.force-legacy=false', '-drive', `file=${img},if=none,format=raw,id=x0`,
    '-device', 'virtio-blk-device,drive=x0,bus=virtio-mmio-bus.0']);
  let out = '';
  let seen = 0;
  const todo = [...commands];
  return new Promise((done) => {
    const timer = setTimeout(() => q.kill(), 300_000);
    const type = async (line: string): Promise<void> => {
      for (const ch of `${line}\n`) { q.stdin.write(ch); await new Promise((r) => setTimeout(r, 20)); } // (its UART takes a byte at a time)
    };
    q.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const prompts = out.split('$ ').length - 1;
      if (prompts > seen) {
        seen = prompts;
        const next = todo.shift();
        if (next === undefined) { clearTimeout(timer); setTimeout(() => q.kill(), 500); } // (xv6 commits each call before it returns)
        else void type(next);
      }
    });
    q.on('exit', () => done(out));
  });
}

// ---- A: a disk made by frond mkfs, under xv6's kernel ----------------------------------------
const a = join(work, 'a');
mkdirSync(a);
const progs = readdirSync(join(xv6, 'user')).filter((f) => f.startsWith('_'));
for (const p of progs) copyFileSync(join(xv6, 'user', p), join(a, p.slice(1)));
writeFileSync(join(a, 'README'), README);
const diskA = join(work, 'frond-made.img');
execFileSync(process.execPath, ['bin/frond.mjs', 'mkfs', diskA, join(a, 'README'), ...progs.map((p) => join(a, p.slice(1)))], { cwd: ROOT, stdio: 'ignore' });
const outA = await xv6Session(diskA, ['ls', 'cat README', 'echo written by xv6 > f', 'mkdir d', 'echo in d > d/g', 'ls d']);
check(outA.includes('init: starting sh'), 'A: xv6 boots a disk made by frond mkfs');
check(/^README +2 2 \d+/m.test(outA) && /^usertests +2 \d+ \d+/m.test(outA), 'A: xv6 lists it');
check(outA.includes(README), 'A: xv6 reads the README');
const imgA = new Uint8Array(readFileSync(diskA));
const fa = fsck(imgA);
check(fa.ok, `A: frond fsck finds the disk xv6 wrote clean${fa.ok ? '' : `: ${fa.errors.join('; ')}`}`);
check(new TextDecoder().decode(readFile(imgA, '/f')) === 'written by xv6\n' && new TextDecoder().decode(readFile(imgA, '/d/g')) === 'in d\n', 'A: Frond reads the file and directory xv6 wrote');

// ---- B: a disk made by xv6's mkfs, under Frond ------------------------------------------------
const b = join(work, 'b');
mkdirSync(b);
const built = await buildRv6(ROOT);
for (const p of built.programs) writeFileSync(join(b, p.name), p.bytes);
writeFileSync(join(b, 'README'), README);
execFileSync(join(xv6, 'mkfs', 'mkfs'), ['xv6-made.img', 'README', ...built.programs.map((p) => p.name)], { cwd: b, stdio: 'ignore' });
const diskB = join(b, 'xv6-made.img');
const r = spawnSync(process.execPath, ['bin/frond.mjs', 'boot', '--disk', diskB], { cwd: ROOT, input: 'ls\ncat README\necho written by frond > h\nmkdir e\n', encoding: 'utf8', timeout: 60_000 });
check(r.status === 0, `B: Frond boots a disk made by xv6's mkfs${r.status === 0 ? '' : `: ${r.stderr}`}`);
check(/README +2 2 \d+/.test(r.stdout) && r.stdout.includes(README), 'B: Frond lists it and reads the README');
const imgB = new Uint8Array(readFileSync(diskB));
const fb = fsck(imgB);
check(fb.ok, `B: frond fsck finds the disk Frond wrote clean${fb.ok ? '' : `: ${fb.errors.join('; ')}`}`);
check(new TextDecoder().decode(readFile(imgB, '/h')) === 'written by frond\n', 'B: the file Frond wrote is there');

console.log(problems.length === 0 ? `xv6 interop: all checks passed (${work})` : `xv6 interop: ${problems.length} checks failed (${work})`);
process.exit(problems.length === 0 ? 0 : 1);

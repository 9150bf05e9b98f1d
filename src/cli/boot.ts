// frond boot / frond start: rv6 on a disk, to a shell on this terminal (src/boot/rv6.ts).
//
// `start` builds what is stale and boots the default disk (build/rv6.img, remade when a program
// changed); `boot` boots the disk it is given (default: the same). On a terminal the console is
// in raw mode and rv6 runs until `halt`; on a pipe it halts at the end of input. The exit code is
// 0 when rv6 halted, 1 if it could not boot.
import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { bootRv6, buildRv6, defaultImage, type Rv6 } from '../boot/rv6.ts';
import { parseInject } from './blkcheck.ts';
import { UsageError, type Parsed } from './args.ts';
import { ROOT } from './root.ts';
import { refreshHost } from '../tools/host.ts';

/** stdout, watched for the shell's first prompt. */
function watched(onPrompt: () => void): Writable {
  let seen = false;
  let tail = '';
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (!seen) {
        tail = (tail + chunk.toString('utf8')).slice(-8);
        if (tail.includes('$ ')) { seen = true; onPrompt(); }
      }
      if (process.stdout.write(chunk)) cb();
      else process.stdout.once('drain', () => cb());
    },
  });
}

async function run(a: Parsed, disk: string | undefined): Promise<number> {
  const inject = a.values.has('--inject') ? parseInject(a.values.get('--inject')!) : null;
  const verbose = a.flags.has('--verbose');
  const built = await buildRv6(ROOT);
  let path = disk;
  if (path === undefined) {
    const img = defaultImage(ROOT, built.programs);
    if (img.made) process.stderr.write(`frond: made the default disk ${img.path} (${built.programs.length} programs and a README)\n`);
    path = img.path;
  } else if (!existsSync(path)) {
    throw new UsageError(`--disk ${path}: no such file (make one with frond mkfs)`);
  }
  let prompt = -1;
  const output = watched(() => {
    prompt = performance.now();
    if (a.flags.has('--timing')) process.stderr.write(`frond: boot to prompt ${prompt.toFixed(0)} ms\n`);
  });
  let rv6: Rv6;
  try {
    rv6 = await bootRv6(built, {
      disk: path, output, shadow: !a.flags.has('--no-shadow'),
      ...(verbose ? { log: (l: string) => process.stderr.write(`${l}\n`) } : {}),
    });
  } catch (e) {
    process.stderr.write(`frond boot: ${(e as Error).message}\n`);
    return 1;
  }
  let crashes = 0;
  const timer = inject ? setInterval(() => { if (rv6.block.inject(crashes++ % 2 === 0 ? 'now' : 'in-call')) return; }, inject.everyMs) : null;
  const why = await rv6.halted;
  if (timer) clearInterval(timer);
  if (why.startsWith('cannot start')) {
    process.stderr.write(`frond boot: ${why}\n`);
    return 1;
  }
  if (verbose || inject) process.stderr.write(`frond: halted: ${why}${inject ? ` (${crashes} driver crashes injected)` : ''}\n`);
  return 0;
}

export function main(a: Parsed): Promise<number> {
  return run(a, a.values.get('--disk'));
}

export async function start(a: Parsed): Promise<number> {
  await refreshHost(ROOT); // (the next start skips compiling TypeScript: src/tools/host.ts)
  return run(a, undefined);
}

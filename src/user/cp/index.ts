// cp SRC DST, cp SRC… DIR: copies files. A DST that is a directory receives DST/basename(SRC).
import { Errno, O, program, sourcesAndTargets, strerror, T, type U } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  const pairs = await sourcesAndTargets(u, argv);
  if (pairs === null) return 1;
  let status = 0;
  for (const [src, to] of pairs) if (!(await copy(u, src, to))) status = 1;
  return status;
});

/** copies file `src` to `to` (created or truncated); false, reported, if it could not */
async function copy(u: U, src: string, to: string): Promise<boolean> {
  const input = await u.open(src, O.RDONLY);
  if (input < 0) {
    await u.fprintf(2, 'cp: cannot open %s: %s\n', src, strerror(input));
    return false;
  }
  try {
    const s = await u.fstat(input);
    if (s.type === T.DIR) {
      await u.fprintf(2, 'cp: %s: is a directory\n', src);
      return false;
    }
    const t = await u.stat(to);
    if (t.err === 0 && t.ino === s.ino && t.dev === s.dev) {
      await u.fprintf(2, 'cp: %s and %s are the same file\n', src, to);
      return false;
    }
    const output = await u.open(to, O.CREATE | O.TRUNC | O.WRONLY);
    if (output < 0) {
      await u.fprintf(2, 'cp: cannot create %s: %s\n', to, strerror(output));
      return false;
    }
    const ok = await pour(u, input, output, src, to);
    await u.close(output);
    return ok;
  } finally {
    await u.close(input);
  }
}

/** copies everything from `input` to `output` */
async function pour(u: U, input: number, output: number, src: string, to: string): Promise<boolean> {
  for (;;) {
    const data = await u.read(input);
    if (typeof data === 'number') {
      await u.fprintf(2, 'cp: cannot read %s: %s\n', src, strerror(data));
      return false;
    }
    if (data.length === 0) return true;
    const n = await u.write(output, data);
    if (n !== data.length) {
      await u.fprintf(2, 'cp: cannot write %s: %s\n', to, strerror(n < 0 ? n : -Errno.ENOSPC));
      return false;
    }
  }
}

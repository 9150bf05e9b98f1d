// mv SRC DST, mv SRC… DIR: renames files, as link then unlink (rv6 has no rename, so a directory
// cannot be moved). A DST that is a directory receives DST/basename(SRC); an existing file DST is
// replaced.
import { basename, joinPath, program, strerror, T, type U } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  if (argv.length < 3) {
    await u.write(2, 'usage: mv src dst, or mv src ... dir\n');
    return 1;
  }
  const srcs = argv.slice(1, -1);
  const dst = argv[argv.length - 1]!;
  const d = await u.stat(dst);
  const intoDir = d.err === 0 && d.type === T.DIR;
  if (srcs.length > 1 && !intoDir) {
    await u.fprintf(2, 'mv: %s is not a directory\n', dst);
    return 1;
  }
  let status = 0;
  for (const src of srcs) if (!(await move(u, src, intoDir ? joinPath(dst, basename(src)) : dst))) status = 1;
  return status;
});

async function move(u: U, src: string, to: string): Promise<boolean> {
  const s = await u.stat(src);
  if (s.err < 0) {
    await u.fprintf(2, 'mv: cannot move %s: %s\n', src, strerror(s.err));
    return false;
  }
  if (s.type === T.DIR) {
    await u.fprintf(2, 'mv: cannot move %s: it is a directory\n', src);
    return false;
  }
  const t = await u.stat(to);
  if (t.err === 0) {
    if (t.ino === s.ino && t.dev === s.dev) return true; // already that name
    if (t.type === T.DIR) {
      await u.fprintf(2, 'mv: cannot overwrite directory %s\n', to);
      return false;
    }
    const r = await u.unlink(to);
    if (r < 0) return fail(u, src, to, r);
  }
  const r = await u.link(src, to);
  if (r < 0) return fail(u, src, to, r);
  const r2 = await u.unlink(src);
  if (r2 < 0) return fail(u, src, to, r2);
  return true;
}

async function fail(u: U, src: string, to: string, err: number): Promise<false> {
  await u.fprintf(2, 'mv: cannot move %s to %s: %s\n', src, to, strerror(err));
  return false;
}

// mv SRC DST, mv SRC… DIR: renames files, as link then unlink (rv6 has no rename, so a directory
// cannot be moved). A DST that is a directory receives DST/basename(SRC); an existing file DST is
// replaced.
import { program, sourcesAndTargets, strerror, T, type U } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  const pairs = await sourcesAndTargets(u, argv);
  if (pairs === null) return 1;
  let status = 0;
  for (const [src, to] of pairs) if (!(await move(u, src, to))) status = 1;
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

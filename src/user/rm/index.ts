// rm FILE…: xv6 user/rm.c. Unlinks each name (an empty directory too, as xv6's unlink allows).
import { program, strerror } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  if (argv.length < 2) {
    await u.write(2, 'usage: rm file ...\n');
    return 1;
  }
  let status = 0;
  for (const path of argv.slice(1)) {
    const r = await u.unlink(path);
    if (r < 0) {
      await u.fprintf(2, 'rm: cannot remove %s: %s\n', path, strerror(r));
      status = 1;
    }
  }
  return status;
});

// mkdir DIR…: xv6 user/mkdir.c. Makes each directory.
import { program, strerror } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  if (argv.length < 2) {
    await u.write(2, 'usage: mkdir dir ...\n');
    return 1;
  }
  let status = 0;
  for (const path of argv.slice(1)) {
    const r = await u.mkdir(path);
    if (r < 0) {
      await u.fprintf(2, 'mkdir: cannot create %s: %s\n', path, strerror(r));
      status = 1;
    }
  }
  return status;
});

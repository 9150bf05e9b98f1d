// ln OLD NEW: xv6 user/ln.c. Makes NEW another name of the file OLD.
import { program, strerror } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  if (argv.length !== 3) {
    await u.write(2, 'usage: ln old new\n');
    return 1;
  }
  const [, old, name] = argv as [string, string, string];
  const r = await u.link(old, name);
  if (r >= 0) return 0;
  await u.fprintf(2, 'ln: cannot link %s to %s: %s\n', name, old, strerror(r));
  return 1;
});

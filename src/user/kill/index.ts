// kill PID…: xv6 user/kill.c. Kills each process (it ends with status -1).
import { atoi, program, strerror } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  if (argv.length < 2) {
    await u.write(2, 'usage: kill pid ...\n');
    return 1;
  }
  let status = 0;
  for (const arg of argv.slice(1)) {
    const r = await u.kill(atoi(arg));
    if (r < 0) {
      await u.fprintf(2, 'kill: %s: %s\n', arg, strerror(r));
      status = 1;
    }
  }
  return status;
});

// sleep TICKS: sleeps that many clock ticks (TICK_MS each), as xv6's user/sleep from its labs.
import { atoi, program, strerror } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  if (argv.length !== 2 || !/^\d+$/.test(argv[1]!)) {
    await u.write(2, 'usage: sleep ticks\n');
    return 1;
  }
  const r = await u.sleep(atoi(argv[1]!));
  if (r >= 0) return 0;
  await u.fprintf(2, 'sleep: %s\n', strerror(r));
  return 1;
});

// halt: flushes the file system and stops the machine.
import { program, strerror } from '../../lib/ulib/ulib.ts';

export const init = program(async (u) => {
  const r = await u.halt();
  if (r >= 0) return 0;
  await u.fprintf(2, 'halt: %s\n', strerror(r));
  return 1;
});

// A test program: `spin` computes forever without a system call (its CPU budget must stop it);
// `spin calls` loops forever making system calls (it must not be stopped, only killed);
// `spin throw` crashes at once.
import { program } from '../../../src/lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  if (argv[1] === 'throw') throw new Error('spin: thrown on purpose');
  await u.printf('spinning\n');
  if (argv[1] === 'calls') for (;;) await u.getpid();
  let x = 0;
  for (;;) x = (x * 31 + 7) | 0;
});

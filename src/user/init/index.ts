// init: the first process (xv6 user/init.c). Opens the console as descriptors 0, 1 and 2 (making
// the device file if the disk has none), then runs sh for ever: it reaps every child that ends
// (orphans are given to init) and starts sh again when sh ends.
//
// Started as `init --halt-at-eof` when standard input is not a terminal: a sh that ends with
// status 0 has read all of its input, and init then halts the machine. A sh that crashed, was
// killed or exited non-zero is restarted with a message; one that cannot start halts the machine.
import { CONSOLE, O, program, strerror, type U } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  const haltAtEof = argv.includes('--halt-at-eof');
  if (!(await openConsole(u))) {
    await u.halt();
    return 1;
  }
  for (;;) {
    const pid = await u.spawn('/sh', ['sh'], [0, 1, 2]);
    if (pid < 0) {
      const why = await u.why();
      await u.fprintf(2, 'init: cannot start sh: %s\n', why !== '' ? why : strerror(pid));
      await u.halt();
      return 1;
    }
    const status = await reapUntil(u, pid);
    if (status === 0 && haltAtEof) {
      await u.halt();
      return 0;
    }
    if (status !== 0) await u.write(2, 'init: restarting sh\n');
  }
});

/** fds 0, 1, 2 on the console; false if it cannot be opened */
async function openConsole(u: U): Promise<boolean> {
  let fd = await u.open('console', O.RDWR);
  if (fd < 0) {
    await u.mknod('console', CONSOLE, 0);
    fd = await u.open('console', O.RDWR);
  }
  if (fd < 0) return false;
  await u.dup(fd); // standard output
  await u.dup(fd); // standard error
  return true;
}

/** Waits until `pid` ends, reaping other children meanwhile; its status (-1 if no children are left). */
async function reapUntil(u: U, pid: number): Promise<number> {
  for (;;) {
    const w = await u.wait();
    if (w.pid === pid) return w.status;
    if (w.pid < 0) return -1;
  }
}

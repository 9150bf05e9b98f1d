// The roles a copy of usertests plays as a child (`usertests --child ROLE args…`): the generic
// ones here, and those of one test next to that test (dirs.ts, concurrent.ts). A role returns the child's
// exit status; a check that fails in a child prints "usertests child ROLE: reason" on standard
// error and exits 1, which its parent reports. Roles that race with other processes first wait
// at a gate or say they have started (kids.ts), so the race really overlaps.
import { atoi, encodeUtf8, type U } from '../../lib/ulib/ulib.ts';
import { SELF } from './kids.ts';
import { eq, Failed, ok } from './lib.ts';

export type Role = (u: U, args: string[]) => Promise<number>;

/** The child's side of kids.ts `kidStarted`: one byte on descriptor 3, then closes it (nothing if
 *  the child was given no descriptor 3). Call it before opening anything. */
export async function started(u: U): Promise<void> {
  if ((await u.write(3, 'r')) === 1) await u.close(3);
}

/** The child's side of a kids.ts gate: returns when standard input reaches its end. */
export async function passGate(u: U): Promise<void> {
  for (;;) {
    const r = await u.read(0);
    if (typeof r === 'number' || r.length === 0) return;
  }
}

/** Sleeps for ever (until killed), a little at a time. */
async function forever(u: U): Promise<never> {
  for (;;) await u.sleep(100);
}

/** The byte pipe1 sends at position i (xv6: seq & 0xff). */
export const pattern = (i: number): number => i & 0xff;

export const generic: Readonly<Record<string, Role>> = {
  /** exit(status) */
  exit: async (u, [s = '0']) => u.exit(atoi(s)),
  /** returns status from main */
  return: async (_u, [s = '0']) => atoi(s),
  /** crashes: an exception escapes main */
  throw: async () => {
    throw new Error('usertests: a child crashing on purpose');
  },
  /** a CPU loop that never yields: the kernel's CPU budget must stop it */
  hog: async () => {
    let x = 1;
    for (;;) x = (Math.imul(x, 31) + 7) | 0;
  },
  /** busy: getpid without end, as xv6's killstatus (killed by its parent); first writes `say` on
   *  standard output if given */
  spin: async (u, [say]) => {
    if (say !== undefined) eq('write', await u.write(1, say), say.length);
    await started(u);
    for (;;) await u.getpid();
  },
  /** reads exchange-heap objects by handles it was never given (xv6's kernmem): the first must
   *  crash it; status 1 if any read works */
  forge: async (u) => {
    const own = (u as unknown as { buf: number | null }).buf;
    for (let h = 1; h < 1 << 12; h++) {
      if (h !== own) u.sys.heap.u8(h, 0);
    }
    await u.write(2, 'usertests child forge: read objects that are not ours\n');
    return 1;
  },
  /** reads standard input to its end, then exits 0 (blocked while a writer holds the pipe open) */
  block: async (u) => {
    await started(u);
    await passGate(u);
    return 0;
  },
  /** sleeps `ticks` (0: for ever) and exits 0 */
  sleep: async (u, [t = '0']) => {
    const ticks = atoi(t);
    await started(u);
    if (ticks <= 0) await forever(u);
    await u.sleep(ticks);
    return 0;
  },
  /** writes "hello" on standard output, then sleeps for ever */
  hello: async (u) => {
    eq('write hello', await u.write(1, 'hello'), 5);
    await started(u);
    return forever(u);
  },
  /** writes n chunks of sz bytes of the pipe1 pattern on standard output */
  pipewrite: async (u, [n = '0', sz = '0']) => {
    const chunk = new Uint8Array(atoi(sz));
    let seq = 0;
    for (let c = 0; c < atoi(n); c++) {
      for (let i = 0; i < chunk.length; i++) chunk[i] = pattern(seq++);
      eq(`pipewrite chunk ${c}`, await u.write(1, chunk), chunk.length);
    }
    return 0;
  },
  /** writes its arguments, joined by "\0", on standard output */
  args: async (u, args) => {
    const out = encodeUtf8(args.join('\0'));
    eq('write args', await u.write(1, out), out.length);
    return 0;
  },
  /** spawns a grandchild that outlives it (sleeping `ticks`), and exits at once */
  orphan: async (u, [t = '5']) => {
    ok('spawn grandchild', await u.spawn(SELF, ['usertests', '--child', 'sleep', t], [null, 1, 2]));
    return 0;
  },
  /** spawns n children one after another, each exiting 0, and waits for each */
  spawner: async (u, [n = '0']) => {
    for (let i = 0; i < atoi(n); i++) {
      const pid = ok(`spawn ${i}`, await u.spawn(SELF, ['usertests', '--child', 'exit', '0'], [null, 1, 2]));
      const w = await u.wait();
      eq(`wait ${i}`, w.pid, pid);
      eq(`status ${i}`, w.status, 0);
    }
    return 0;
  },
};

/** Runs role `name` of `roles`; an unknown role or a failed check is status 1. */
export async function runChild(u: U, roles: Readonly<Record<string, Role>>, name: string, args: string[]): Promise<number> {
  const role = Object.hasOwn(roles, name) ? roles[name] : undefined;
  if (!role) {
    await u.fprintf(2, 'usertests: no child role %s\n', name);
    return 1;
  }
  try {
    return await role(u, args);
  } catch (e) {
    if (!(e instanceof Failed)) throw e;
    await u.fprintf(2, 'usertests child %s: %s\n', name, e.message);
    return 1;
  }
}

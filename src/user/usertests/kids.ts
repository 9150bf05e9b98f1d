// Children: usertests tests processes by spawning copies of itself, `/usertests --child ROLE
// args…` (children.ts has the roles). Every child a test starts goes through `kid`, which
// remembers it, so that after a failed test the runner can kill and wait for whatever that test
// left behind (`reap`) and the next test starts with no children.
import { Errno, type U } from '../../lib/ulib/ulib.ts';
import { fail, mkpipe, show } from './lib.ts';

/** Where usertests is on the rv6 disk. */
export const SELF = '/usertests';

const live = new Set<number>();

/** Spawns `/usertests --child role args…` with descriptors `fds` (ours, for its 0, 1, 2, …; by
 *  default no standard input, so that no child takes input meant for the shell). */
export async function kid(u: U, role: string, args: readonly (string | number)[] = [], fds: readonly (number | null)[] = [null, 1, 2]): Promise<number> {
  const pid = await u.spawn(SELF, ['usertests', '--child', role, ...args.map(String)], fds);
  if (pid < 0) fail(`spawn ${role}: ${show(pid)}${pid === -Errno.ENOEXEC ? ` (${await u.why()})` : ''}`);
  live.add(pid);
  return pid;
}

/** A spawn that may fail (the result is checked by the caller); a child it starts is remembered. */
export async function trySpawn(u: U, path: string, argv: readonly string[], fds: readonly (number | null)[] = [null, 1, 2]): Promise<number> {
  const pid = await u.spawn(path, argv, fds);
  if (pid >= 0) live.add(pid);
  return pid;
}

/** Waits for one child: its pid and status. Fails if there was none. */
export async function reapOne(u: U): Promise<{ pid: number; status: number }> {
  const w = await u.wait();
  if (w.pid < 0) fail(`wait: ${show(w.pid)} with ${live.size} children not yet waited for`);
  live.delete(w.pid);
  return w;
}

/** Waits for `n` children, each of which must exit with status 0. */
export async function reapAll(u: U, n: number, what: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const w = await reapOne(u);
    if (w.status !== 0) fail(`${what}: child ${w.pid} exited with status ${w.status}`);
  }
}

/** Waits for child `pid` (and any others that end first) and returns its status. */
export async function waitFor(u: U, pid: number): Promise<number> {
  for (;;) {
    const w = await reapOne(u);
    if (w.pid === pid) return w.status;
  }
}

/** Kills and waits for every child the last test left; the number there were. */
export async function reap(u: U): Promise<number> {
  const n = live.size;
  for (const pid of live) await u.kill(pid);
  while (live.size > 0) {
    const w = await u.wait();
    if (w.pid < 0) break;
    live.delete(w.pid);
  }
  live.clear();
  return n;
}

/** Kills every child not yet waited for, without waiting (when a test hangs and the run ends:
 *  init waits for them). */
export async function abandon(u: U): Promise<void> {
  for (const pid of live) await u.kill(pid);
}

/** Spawns a child whose role begins with children.ts `started`, and returns once it has started
 *  (it has run as far as that), so what it does next overlaps with what we do next. */
export async function kidStarted(u: U, role: string, args: readonly (string | number)[] = [], stdin: number | null = null): Promise<number> {
  const [r, w] = await mkpipe(u);
  const pid = await kid(u, role, args, [stdin, 1, 2, w]);
  await u.close(w);
  const b = await u.read(r, 1);
  await u.close(r);
  if (typeof b === 'number' || b.length !== 1) fail(`${role} did not start: read ${typeof b === 'number' ? show(b) : b.length}`);
  return pid;
}

/**
 * A starting gate for children that race each other: give each `gate.fd` as its standard input
 * (its role begins with children.ts `passGate`), then `open` it: all see the end of input at once.
 */
export async function gate(u: U): Promise<{ fd: number; open: () => Promise<void> }> {
  const [r, w] = await mkpipe(u);
  return {
    fd: r,
    open: async () => {
      await u.close(r);
      await u.close(w);
    },
  };
}

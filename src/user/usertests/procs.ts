// Tests of processes and pipes: spawn (rv6's fork+exec) with descriptors and arguments, exit
// statuses and wait, kill of a busy, a sleeping and a blocked child, children that crash or never
// yield, reparenting, and pipes between processes (data, end of file, a killed writer, a closed
// reader). Ported from xv6-riscv's user/usertests.c where xv6 has the test (same name), with
// fork replaced by spawning a copy of usertests in a role (children.ts).
import { decodeUtf8, Errno, MAXARG, O, type U } from '../../lib/ulib/ulib.ts';
import { KILLED, MAXARGBYTES } from '../../lib/rv6/abi.ts';
import { pattern } from './children.ts';
import { kid, kidStarted, reapAll, reapOne, SELF, trySpawn, waitFor } from './kids.ts';
import { bytes, eq, err, fail, mkpipe, ok, readFile, rm, show } from './lib.ts';

/** echo run with its standard output on a file. */
export async function exectest(u: U): Promise<void> {
  const f = 'echo-ok';
  await rm(u, f);
  const fd = ok('create', await u.open(f, O.CREATE | O.WRONLY));
  const pid = await trySpawn(u, '/echo', ['echo', 'OK'], [null, fd, 2]);
  if (pid < 0) fail(`spawn /echo: ${show(pid)}${pid === -Errno.ENOEXEC ? ` (${await u.why()})` : ''}`);
  await u.close(fd);
  const w = await reapOne(u);
  eq('wait', w.pid, pid);
  eq('status', w.status, 0);
  eq('output', decodeUtf8(await readFile(u, f)), 'OK\n');
  ok('unlink', await u.unlink(f));
}

/** A child writes 5 × 1033 bytes into a pipe; we read them with ever larger reads, to its end. */
export async function pipe1(u: U): Promise<void> {
  const N = 5;
  const SZ = 1033;
  const [r, w] = await mkpipe(u);
  const pid = await kid(u, 'pipewrite', [N, SZ], [null, w, 2]);
  ok('close write end', await u.close(w));
  let total = 0;
  for (let cc = 1; ; cc = Math.min(cc * 2, 8192)) {
    const b = bytes('read pipe', await u.read(r, cc));
    if (b.length === 0) break;
    for (let i = 0; i < b.length; i++) if (b[i] !== pattern(total + i)) fail(`byte ${total + i} is ${b[i]}`);
    total += b.length;
  }
  eq('total', total, N * SZ);
  await u.close(r);
  eq('status', await waitFor(u, pid), 0);
}

/** The reader of a pipe whose only writer was killed reads what it wrote, then end of file. */
export async function pipekill(u: U): Promise<void> {
  const [r, w] = await mkpipe(u);
  const pid = await kid(u, 'hello', [], [null, w, 2]);
  await u.close(w);
  eq('read', decodeUtf8(bytes('read', await u.read(r, 5))), 'hello');
  ok('kill', await u.kill(pid));
  eq('read after the writer was killed', bytes('read', await u.read(r, 5)).length, 0);
  await u.close(r);
  eq('status', await waitFor(u, pid), KILLED);
}

/** Data written before the write end closed is still read; writing with no reader is EPIPE. */
export async function pipeends(u: U): Promise<void> {
  let [r, w] = await mkpipe(u);
  eq('write', await u.write(w, 'abc'), 3);
  ok('close write end', await u.close(w));
  eq('read', decodeUtf8(bytes('read', await u.read(r, 10))), 'abc');
  eq('read at end', bytes('read', await u.read(r, 10)).length, 0);
  err('write to a read end', await u.write(r, 'x'), Errno.EBADF);
  await u.close(r);
  [r, w] = await mkpipe(u);
  const rd = await u.read(w, 1);
  err('read of a write end', typeof rd === 'number' ? rd : rd.length, Errno.EBADF);
  ok('close read end', await u.close(r));
  err('write with no reader', await u.write(w, 'x'), Errno.EPIPE);
  await u.close(w);
}

/** Children exit with statuses 0..7, 255 and 1000 (by exit() or by returning); wait gives each
 *  exactly once, then ECHILD. Then one child at a time, exit racing wait (xv6's exitwait). */
export async function exitwait(u: U): Promise<void> {
  eq('wait with no children', (await u.wait()).pid, -Errno.ECHILD);
  const statuses = [0, 1, 2, 3, 4, 5, 6, 7, 255, 1000];
  const want = new Map<number, number>();
  for (const [i, s] of statuses.entries()) want.set(await kid(u, i % 2 ? 'return' : 'exit', [s]), s);
  for (let i = 0; i < statuses.length; i++) {
    const w = await reapOne(u);
    const s = want.get(w.pid);
    if (s === undefined) fail(`wait returned pid ${w.pid}: not a child, or one already waited for`);
    eq(`status of ${w.pid}`, w.status, s);
    want.delete(w.pid);
  }
  eq('wait after the last child', (await u.wait()).pid, -Errno.ECHILD);
  for (let i = 0; i < 20; i++) {
    const pid = await kid(u, 'exit', [i]);
    const w = await reapOne(u);
    eq('pid', w.pid, pid);
    eq('status', w.status, i);
  }
}

/** kill ends a busy child, a sleeping one and one blocked reading a pipe: status KILLED. */
export async function killstatus(u: U): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const pid = await kidStarted(u, 'spin');
    ok('kill busy child', await u.kill(pid));
    eq('status of the busy child', await waitFor(u, pid), KILLED);
  }
  const sleeper = await kidStarted(u, 'sleep', [0]);
  ok('kill sleeping child', await u.kill(sleeper));
  eq('status of the sleeping child', await waitFor(u, sleeper), KILLED);
  const [r, w] = await mkpipe(u);
  const reader = await kidStarted(u, 'block', [], r);
  await u.sleep(2);
  ok('kill blocked reader', await u.kill(reader));
  eq('status of the blocked reader', await waitFor(u, reader), KILLED);
  await u.close(r);
  await u.close(w);
}

/** A child that throws is ended with status KILLED, its descriptors closed; we carry on. */
export async function crash(u: U): Promise<void> {
  const [r, w] = await mkpipe(u);
  const pid = await kid(u, 'throw', [], [null, w, 2]);
  await u.close(w);
  eq('status of a crashed child', await waitFor(u, pid), KILLED);
  eq('read from the crashed child\'s pipe', bytes('read', await u.read(r, 1)).length, 0);
  await u.close(r);
  eq('getpid after the crash', await u.getpid() > 0 ? 1 : 0, 1);
}

/** A child in a CPU loop that never yields is stopped by the CPU budget: status KILLED. */
export async function runaway(u: U): Promise<void> {
  const pid = await kid(u, 'hog', []);
  eq('status of a runaway child', await waitFor(u, pid), KILLED);
}

/** A child that reads memory it was not given (other domains' exchange-heap objects, by forged
 *  handles) is stopped: status KILLED (xv6: kernmem, MAXVAplus). */
export async function kernmem(u: U): Promise<void> {
  const pid = await kid(u, 'forge', []);
  eq('status of a child that forged handles', await waitFor(u, pid), KILLED);
}

/** Busy children do not keep a third from running (xv6: preemption). */
export async function preempt(u: U): Promise<void> {
  const a = await kidStarted(u, 'spin');
  const b = await kidStarted(u, 'spin');
  const [r, w] = await mkpipe(u);
  const c = await kid(u, 'spin', ['x'], [null, w, 2]);
  await u.close(w);
  eq('read from the third child', bytes('read', await u.read(r, 1)).length, 1);
  await u.close(r);
  for (const pid of [a, b, c]) ok(`kill ${pid}`, await u.kill(pid));
  for (let i = 0; i < 3; i++) eq('status', (await reapOne(u)).status, KILLED);
}

/** Children exit leaving children of their own, which are given away, not to us. */
export async function reparent(u: U): Promise<void> {
  const dead: number[] = [];
  for (let i = 0; i < 10; i++) {
    const pid = await kid(u, 'orphan', [20]);
    eq('status', await waitFor(u, pid), 0);
    dead.push(pid);
  }
  eq('wait for a grandchild', (await u.wait()).pid, -Errno.ECHILD);
  for (const p of await processes(u)) if (dead.includes(p.ppid)) fail(`process ${p.pid} still has the dead ${p.ppid} as its parent`);
}

/** Two children exiting at the same time, over and over. */
export async function twochildren(u: U): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await kid(u, 'exit', [0]);
    await kid(u, 'exit', [0]);
    await reapAll(u, 2, 'twochildren');
  }
}

/** Children that spawn and wait for children of their own, at the same time (xv6: forkfork). */
export async function spawnspawn(u: U): Promise<void> {
  for (let i = 0; i < 2; i++) await kid(u, 'spawner', [20]);
  await reapAll(u, 2, 'spawnspawn');
}

/** Arguments arrive exactly; too many of them, or too many bytes, are refused (xv6: bigargtest). */
export async function bigargtest(u: U): Promise<void> {
  const args = ['a', '', 'b c', 'ünï ☃', 'x'.repeat(1000)];
  eq('arguments', await argsSeen(u, args), args.join('\0'));
  const most = Array.from({ length: MAXARG - 4 }, (_, i) => String(i));
  eq(`${MAXARG - 1} arguments`, await argsSeen(u, most), most.join('\0'));
  const argv = (extra: string[]): string[] => ['usertests', '--child', 'args', ...extra];
  err(`spawn with ${MAXARG + 1} arguments`, await trySpawn(u, SELF, argv(Array.from({ length: MAXARG - 2 }, () => 'y'))));
  err(`spawn with over ${MAXARGBYTES} bytes of arguments`, await trySpawn(u, SELF, argv(['z'.repeat(MAXARGBYTES)])));
  eq('wait after refused spawns', (await u.wait()).pid, -Errno.ECHILD);
}

/** What the `args` role prints when given `args`. */
async function argsSeen(u: U, args: string[]): Promise<string> {
  const [r, w] = await mkpipe(u);
  const pid = await kid(u, 'args', args, [null, w, 2]);
  await u.close(w);
  const out = bytes('read args', await u.readAll(r));
  await u.close(r);
  eq('status', await waitFor(u, pid), 0);
  return decodeUtf8(out);
}

/** The process table as ps reports it ("pid ppid state name" lines). */
export async function processes(u: U): Promise<{ pid: number; ppid: number; state: string; name: string }[]> {
  const out = [];
  for (const line of (await u.ps()).split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 4 && /^\d+$/.test(f[0]!) && /^\d+$/.test(f[1]!)) out.push({ pid: Number(f[0]), ppid: Number(f[1]), state: f[2]!, name: f.slice(3).join(' ') });
  }
  return out;
}

/** ps shows us, then our child with us as its parent, then no longer that child once waited for. */
export async function pstest(u: U): Promise<void> {
  const me = ok('getpid', await u.getpid());
  const self = (await processes(u)).find((p) => p.pid === me);
  if (!self) fail(`ps does not show us (pid ${me}): ${JSON.stringify(await u.ps())}`);
  if (!self.name.includes('usertests')) fail(`ps names us ${JSON.stringify(self.name)}`);
  const pid = await kidStarted(u, 'sleep', [0]);
  const child = (await processes(u)).find((p) => p.pid === pid);
  if (!child) fail(`ps does not show our child ${pid}`);
  eq('parent of our child', child.ppid, me);
  ok('kill', await u.kill(pid));
  eq('status', await waitFor(u, pid), KILLED);
  if ((await processes(u)).some((p) => p.pid === pid)) fail(`ps still shows child ${pid} after wait`);
}

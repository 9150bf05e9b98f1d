// usertests: rv6's system calls tested from a user program, after xv6-riscv's user/usertests.c.
//
//   usertests [-q] [-v] [NAME…]   runs every test (-q: not the slow ones), or the tests named;
//                                 prints "test NAME: OK" or "test NAME: FAILED: reason" for each
//                                 (-v: with its time and notes), then "ALL TESTS PASSED" (exit 0) or
//                                 "SOME TESTS FAILED" and their names (exit 1)
//   usertests --child ROLE args…  a child some test spawned (children.ts)
//
// The tests are in tests.ts, in the order they run. Unlike xv6, which forks a process per test,
// every test runs in this process, one after another, from "/" (where xv6 runs them too): after
// each, the runner kills and waits for the children it left (kids.ts), closes the descriptors it
// left open and goes back to "/", so a failed test does not fail the next. A test that does not
// finish within its time limit is reported as failed and ends the run (it may still be inside a
// system call, so nothing after it could be trusted).
import { NOFILE, program, type U } from '../../lib/ulib/ulib.ts';
import { generic, runChild } from './children.ts';
import { roles as concurrentRoles } from './concurrent.ts';
import { roles as dirRoles } from './dirs.ts';
import { abandon, reap } from './kids.ts';
import { Failed, setVerbose } from './lib.ts';
import { quick, slow, type Test } from './tests.ts';

const roles = { ...generic, ...dirRoles, ...concurrentRoles };

/** How long one test may take before the run is given up (a slow one: more). */
const LIMIT_MS = 60_000;
const SLOW_LIMIT_MS = 300_000;

const USAGE = 'usage: usertests [-q] [-v] [NAME...]\n';

export const init = program(async (u, argv) => {
  const args = argv.slice(1);
  if (args[0] === '--child') return runChild(u, roles, args[1] ?? '', args.slice(2));
  const opts = parse(args);
  if (typeof opts === 'string') {
    await u.write(2, opts);
    return 1;
  }
  const plan = [...entries(quick, false), ...(opts.quick ? [] : entries(slow, true))];
  const chosen = opts.names.length === 0 ? plan : plan.filter(([n]) => opts.names.includes(n));
  setVerbose(opts.verbose);
  await tidy(u);
  await u.printf('usertests starting\n');
  return runAll(u, chosen, opts.verbose);
});

type Entry = readonly [name: string, test: Test, slow: boolean];

function entries(tests: Readonly<Record<string, Test>>, isSlow: boolean): Entry[] {
  return Object.entries(tests).map(([name, test]) => [name, test, isSlow] as const);
}

interface Options { quick: boolean; verbose: boolean; names: string[] }

/** The options, or what to print on standard error. */
function parse(args: string[]): Options | string {
  const o: Options = { quick: false, verbose: false, names: [] };
  for (const a of args) {
    if (a === '-q') o.quick = true;
    else if (a === '-v') o.verbose = true;
    else if (a.startsWith('-')) return `usertests: unknown option ${a}\n${USAGE}`;
    else if (Object.hasOwn(quick, a) || Object.hasOwn(slow, a)) o.names.push(a);
    else return `usertests: no test ${a}\n${USAGE}`;
  }
  if (o.names.length > 0) o.quick = false;
  return o;
}

/** Back to where a test starts: in "/", with descriptors 0, 1 and 2 only. */
async function tidy(u: U): Promise<void> {
  for (let fd = 3; fd < NOFILE; fd++) await u.close(fd);
  const r = await u.chdir('/');
  if (r < 0) throw new Error(`usertests: cannot chdir to /: ${r}`);
}

async function runAll(u: U, tests: readonly Entry[], verbose: boolean): Promise<number> {
  const failed: string[] = [];
  for (const [name, test, isSlow] of tests) {
    const r = await runOne(u, name, test, isSlow ? SLOW_LIMIT_MS : LIMIT_MS, verbose);
    if (r !== 'ok') failed.push(name);
    if (r === 'hung') break;
  }
  if (failed.length === 0) {
    await u.printf('ALL TESTS PASSED\n');
    return 0;
  }
  await u.printf('SOME TESTS FAILED (%d of %d): %s\n', failed.length, tests.length, failed.join(' '));
  return 1;
}

const HUNG = Symbol('hung');

/** Runs one test and tidies up after it; prints its line. */
async function runOne(u: U, name: string, test: Test, limitMs: number, verbose: boolean): Promise<'ok' | 'failed' | 'hung'> {
  const t0 = u.sys.clock.now();
  const outcome = await within(u, limitMs, test(u).then(() => null, reasonOf));
  const ms = Math.round(u.sys.clock.now() - t0);
  const took = verbose ? ` (${ms} ms)` : '';
  if (outcome === HUNG) {
    await abandon(u);
    await u.printf('test %s: FAILED: did not finish in %d s%s\n', name, limitMs / 1000, took);
    return 'hung';
  }
  const left = await reap(u);
  await tidy(u);
  const reason = outcome ?? (left > 0 ? `left ${left} children running` : null);
  if (reason === null) await u.printf('test %s: OK%s\n', name, took);
  else await u.printf('test %s: FAILED: %s%s\n', name, reason, took);
  return reason === null ? 'ok' : 'failed';
}

function reasonOf(e: unknown): string {
  if (e instanceof Failed) return e.message;
  return e instanceof Error ? `threw ${e.name}: ${e.message}` : `threw ${String(e)}`;
}

/** What `p` settles to, or HUNG if that takes more than `ms`. */
async function within<T>(u: U, ms: number, p: Promise<T>): Promise<T | typeof HUNG> {
  let id = 0;
  const timeout = new Promise<typeof HUNG>((resolve) => {
    id = u.sys.timers.after(ms, () => resolve(HUNG));
  });
  const r = await Promise.race([p, timeout]);
  u.sys.timers.cancel(id);
  return r;
}

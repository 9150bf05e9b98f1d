// stressfs: several processes write and read back files of their own at the same time, after
// xv6-riscv's user/stressfs.c (there, forked copies; here, spawned ones).
//
//   stressfs [COUNT [NCHILD]]     spawns NCHILD (default 4) children; child i writes COUNT (default
//                                 20) chunks of 512 bytes to "stressfs<i>", then reads them back
//                                 and checks them; the parent waits for all, checks each file's
//                                 size, removes the files and prints "stressfs ok" (exit 0) or
//                                 what went wrong (exit 1)
//   stressfs --child I COUNT      one child
//
// Every chunk has its own bytes (chunk), so a block written to the wrong file or place is seen.
import { atoi, O, program, strerror, type U } from '../../lib/ulib/ulib.ts';

const SELF = '/stressfs';
const CHUNK = 512;

export const init = program(async (u, argv) => {
  const args = argv.slice(1);
  if (args[0] === '--child') return child(u, atoi(args[1] ?? '0'), atoi(args[2] ?? '0'));
  const count = args[0] === undefined ? 20 : atoi(args[0]);
  const nchild = args[1] === undefined ? 4 : atoi(args[1]);
  if (count <= 0 || nchild <= 0 || args.length > 2) {
    await u.write(2, 'usage: stressfs [COUNT [NCHILD]]\n');
    return 1;
  }
  await u.printf('stressfs starting: %d children, %d × %d bytes each\n', nchild, count, CHUNK);
  const problems = await stress(u, count, nchild);
  for (let i = 0; i < nchild; i++) await u.unlink(pathOf(i));
  if (problems.length === 0) {
    await u.printf('stressfs ok\n');
    return 0;
  }
  for (const p of problems) await u.fprintf(2, 'stressfs: %s\n', p);
  await u.printf('stressfs FAILED\n');
  return 1;
});

const pathOf = (i: number): string => `stressfs${i}`;

/** Chunk k of child i. */
function chunk(i: number, k: number): Uint8Array {
  const b = new Uint8Array(CHUNK);
  for (let j = 0; j < CHUNK; j++) b[j] = (i * 7 + k * 13 + j) & 0xff;
  return b;
}

/** Spawns the children, waits for them and checks the files of those that succeeded; what went
 *  wrong. */
async function stress(u: U, count: number, nchild: number): Promise<string[]> {
  const problems: string[] = [];
  const pids = new Map<number, number>();
  const passed: number[] = [];
  for (let i = 0; i < nchild; i++) {
    const pid = await u.spawn(SELF, ['stressfs', '--child', String(i), String(count)]);
    if (pid < 0) problems.push(`spawn of child ${i}: ${strerror(pid)}`);
    else pids.set(pid, i);
  }
  for (let n = pids.size; n > 0; n--) {
    const w = await u.wait();
    if (w.pid < 0) {
      problems.push(`wait: ${strerror(w.pid)}`);
      break;
    }
    if (w.status !== 0) problems.push(`child ${pids.get(w.pid)} (pid ${w.pid}) exited with status ${w.status}`);
    else passed.push(pids.get(w.pid)!);
  }
  for (const i of passed) {
    const st = await u.stat(pathOf(i));
    if (st.err < 0) problems.push(`${pathOf(i)}: ${strerror(st.err)}`);
    else if (st.size !== count * CHUNK) problems.push(`${pathOf(i)}: ${st.size} bytes, not ${count * CHUNK}`);
  }
  return problems;
}

/** Child i: writes its file, reads it back; exit status 0 if every byte came back. */
async function child(u: U, i: number, count: number): Promise<number> {
  const path = pathOf(i);
  const fd = await u.open(path, O.CREATE | O.TRUNC | O.RDWR);
  if (fd < 0) return fail(u, `create ${path}: ${strerror(fd)}`);
  for (let k = 0; k < count; k++) {
    const n = await u.write(fd, chunk(i, k));
    if (n !== CHUNK) return fail(u, `write ${k} to ${path}: ${n < 0 ? strerror(n) : `${n} bytes`}`);
  }
  await u.close(fd);
  const rd = await u.open(path, O.RDONLY);
  if (rd < 0) return fail(u, `open ${path}: ${strerror(rd)}`);
  for (let k = 0; k < count; k++) {
    const b = await u.read(rd, CHUNK);
    if (typeof b === 'number') return fail(u, `read ${k} of ${path}: ${strerror(b)}`);
    const want = chunk(i, k);
    if (b.length !== CHUNK || b.some((x, j) => x !== want[j])) return fail(u, `chunk ${k} of ${path} came back wrong`);
  }
  await u.close(rd);
  return 0;
}

async function fail(u: U, what: string): Promise<number> {
  await u.fprintf(2, 'stressfs: %s\n', what);
  return 1;
}

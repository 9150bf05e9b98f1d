// fsbench [N] [KIB]: the file-system benchmark's rv6 half (bench/fs.ts runs the same workload on
// the host's file system with Node, in the same run). Through rv6's system calls: N small files
// created, written (SMALL bytes) and closed; opened, read and closed; unlinked; then one file of
// KIB KiB written sequentially in IO_MAX pieces and read back. Prints one line per phase,
// "fsbench PHASE COUNT MS", and the checks it made; no fsync on either side (a sync is timed
// apart, as its own phase).
import { O, program, type U } from '../../lib/ulib/ulib.ts';

const SMALL = 100;

async function phase(u: U, name: string, count: number, body: () => Promise<boolean>): Promise<boolean> {
  const t0 = u.sys.clock.now();
  const good = await body();
  await u.printf('fsbench %s %d %s\n', name, count, (u.sys.clock.now() - t0).toFixed(3));
  if (!good) await u.fprintf(2, 'fsbench: %s failed\n', name);
  return good;
}

export const init = program(async (u, argv) => {
  const n = Number(argv[1] ?? 200) | 0;
  const kib = Number(argv[2] ?? 256) | 0;
  const small = new Uint8Array(SMALL).fill(0x61);
  const chunk = new Uint8Array(4096);
  for (let i = 0; i < chunk.length; i++) chunk[i] = i & 0xff;
  await u.mkdir('fsb');
  let ok = await phase(u, 'create', n, async () => {
    for (let i = 0; i < n; i++) {
      const fd = await u.open(`fsb/f${i}`, O.CREATE | O.WRONLY);
      if (fd < 0 || await u.write(fd, small) !== SMALL) return false;
      await u.close(fd);
    }
    return true;
  });
  ok = await phase(u, 'read', n, async () => {
    for (let i = 0; i < n; i++) {
      const fd = await u.open(`fsb/f${i}`, O.RDONLY);
      if (fd < 0) return false;
      const r = await u.read(fd, 4096);
      await u.close(fd);
      if (typeof r === 'number' || r.length !== SMALL) return false;
    }
    return true;
  }) && ok;
  ok = await phase(u, 'unlink', n, async () => {
    for (let i = 0; i < n; i++) if (await u.unlink(`fsb/f${i}`) !== 0) return false;
    return true;
  }) && ok;
  ok = await phase(u, 'seqwrite', kib * 1024, async () => {
    const fd = await u.open('fsb/big', O.CREATE | O.WRONLY | O.TRUNC);
    if (fd < 0) return false;
    for (let k = 0; k < kib; k += 4) if (await u.write(fd, chunk) !== chunk.length) return false;
    return await u.close(fd) === 0;
  }) && ok;
  ok = await phase(u, 'seqread', kib * 1024, async () => {
    const fd = await u.open('fsb/big', O.RDONLY);
    if (fd < 0) return false;
    let total = 0;
    for (;;) {
      const r = await u.read(fd, 4096);
      if (typeof r === 'number') return false;
      if (r.length === 0) break;
      if (r[1] !== 1 || r[4095] !== 0xff) return false;
      total += r.length;
    }
    await u.close(fd);
    return total === kib * 1024;
  }) && ok;
  ok = await phase(u, 'sync', 1, async () => await u.sync() === 0) && ok;
  await u.unlink('fsb/big');
  await u.unlink('fsb');
  await u.printf('fsbench %s\n', ok ? 'ok' : 'FAILED');
  return ok ? 0 : 1;
});

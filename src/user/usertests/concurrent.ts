// Tests where processes race on the file system: writers through one shared descriptor, writers
// of different files (block allocation), creates, links and unlinks of the same names, and
// truncation under a writer. Each spawns copies of usertests in the roles below (`roles`), started
// together at a gate or overlapping with what the parent does (kids.ts); the checks afterwards
// are xv6's, plus link counts where a race could leave them wrong. Ported from xv6-riscv's
// user/usertests.c (same names).
import { atoi, O, type U } from '../../lib/ulib/ulib.ts';
import { BSIZE, MAXOPBLOCKS } from '../../lib/xv6fs/format.ts';
import { passGate, started, type Role } from './children.ts';
import { gate, kid, kidStarted, reapAll, waitFor } from './kids.ts';
import { dirNames, eq, fail, fill, ok, readCount, readFile, rm, rmrf, writeFile } from './lib.ts';

/** Truncation (parent, 150 times) races a child that opens, writes and reads (100 times). */
export async function truncate3(u: U): Promise<void> {
  const f = 'truncfile3';
  await writeFile(u, f, '');
  const pid = await kidStarted(u, 'truncwriter', [f, 100]);
  for (let i = 0; i < 150; i++) {
    const fd = ok('open O_TRUNC', await u.open(f, O.CREATE | O.WRONLY | O.TRUNC));
    eq('write xxx', await u.write(fd, 'xxx'), 3);
    await u.close(fd);
  }
  eq('status of the writer', await waitFor(u, pid), 0);
  ok('unlink', await u.unlink(f));
}

/** Two children write 1000 × 10 bytes each through one descriptor: nothing is overwritten. */
export async function sharedfd(u: U): Promise<void> {
  const f = 'sharedfd';
  const N = 1000;
  const SZ = 10;
  await rm(u, f);
  const fd = ok('create', await u.open(f, O.CREATE | O.RDWR));
  const g = await gate(u);
  for (const ch of ['c', 'p']) await kid(u, 'append', [ch, N, SZ], [g.fd, 1, 2, fd]);
  await g.open();
  await reapAll(u, 2, 'sharedfd');
  await u.close(fd);
  const b = await readFile(u, f);
  const count = (c: string): number => b.reduce((n, x) => n + (x === c.charCodeAt(0) ? 1 : 0), 0);
  eq('size', b.length, 2 * N * SZ);
  eq("c's", count('c'), N * SZ);
  eq("p's", count('p'), N * SZ);
  ok('unlink', await u.unlink(f));
}

/** Four children write four files at once (block allocation). */
export async function fourfiles(u: U): Promise<void> {
  const N = 12;
  const SZ = 500;
  const names = ['fourf0', 'fourf1', 'fourf2', 'fourf3'];
  await rm(u, ...names);
  const g = await gate(u);
  for (const [i, name] of names.entries()) await kid(u, 'fill', [name, 0x30 + i, N, SZ], [g.fd, 1, 2]);
  await g.open();
  await reapAll(u, names.length, 'fourfiles');
  for (const [i, name] of names.entries()) {
    const b = await readFile(u, name);
    eq(`size of ${name}`, b.length, N * SZ);
    if (b.some((x) => x !== 0x30 + i)) fail(`${name}: wrong byte`);
    ok(`unlink ${name}`, await u.unlink(name));
  }
}

/** Four children create and delete different files in one directory at once. */
export async function createdelete(u: U): Promise<void> {
  const N = 20;
  const prefixes = ['cdp', 'cdq', 'cdr', 'cds'];
  const all = prefixes.flatMap((p) => Array.from({ length: N }, (_, i) => `${p}${i}`));
  await rm(u, ...all);
  const g = await gate(u);
  for (const p of prefixes) await kid(u, 'createdelete', [p, N], [g.fd, 1, 2]);
  await g.open();
  await reapAll(u, prefixes.length, 'createdelete');
  for (let i = 0; i < N; i++) {
    for (const p of prefixes) {
      const fd = await u.open(`${p}${i}`, O.RDONLY);
      if (fd >= 0) await u.close(fd);
      const should = i === 0 || i >= N / 2;
      if (should !== fd >= 0) fail(`${p}${i} ${should ? "doesn't" : 'does'} exist`);
    }
  }
  await rm(u, ...all);
}

/**
 * The parent and a child create and link the same 40 names at once (each name must then be in the
 * directory exactly once), then open and unlink them at once (none must be left).
 */
export async function concreate(u: U): Promise<void> {
  const d = 'concreate.d';
  const N = 40;
  await rmrf(u, d);
  ok('mkdir', await u.mkdir(d));
  for (const phase of [1, 2]) {
    const pid = await kidStarted(u, 'concreate', [d, N, phase]);
    await concreateWork(u, d, N, phase, 'parent');
    eq(`status of the child in phase ${phase}`, await waitFor(u, pid), 0);
    const names = (await dirNames(u, d)).filter((n) => n.startsWith('C')).sort();
    const want = phase === 1 ? Array.from({ length: N }, (_, i) => `C${i}`).sort() : [];
    eq(`names after phase ${phase}`, names.join(' '), want.join(' '));
  }
  ok('unlink', await u.unlink(d));
}

/** One side's part of concreate (xv6's choice of who links, creates, opens and unlinks what). */
async function concreateWork(u: U, d: string, n: number, phase: number, who: 'parent' | 'child'): Promise<void> {
  const child = who === 'child';
  for (let i = 0; i < n; i++) {
    const f = `${d}/C${i}`;
    if (phase === 1) {
      if (child ? i % 5 === 1 : i % 3 === 1) await u.link(`${d}/C0`, f);
      else await u.close(ok(`create ${f}`, await u.open(f, O.CREATE | O.RDWR)));
    } else if ((i % 3 === 0 && child) || (i % 3 === 1 && !child)) {
      for (let k = 0; k < 6; k++) await u.close(await u.open(f, O.RDONLY));
    } else {
      for (let k = 0; k < 6; k++) await u.unlink(f);
    }
  }
}

/** The parent and a child create, link and unlink one name at random; link counts stay right. */
export async function linkunlink(u: U): Promise<void> {
  const x = 'linkunlink.x';
  const t = 'linkunlink.t';
  await rm(u, x, t);
  await writeFile(u, t, 'target');
  const pid = await kidStarted(u, 'linkunlink', [x, t, 97]);
  await linkunlinkWork(u, x, t, 1);
  eq('status of the child', await waitFor(u, pid), 0);
  const st = await u.stat(t);
  const sx = await u.stat(x);
  eq(`nlink of ${t}`, st.nlink, sx.err === 0 && sx.ino === st.ino ? 2 : 1);
  if (sx.err === 0) eq(`nlink of ${x}`, sx.nlink, sx.ino === st.ino ? 2 : 1);
  await rm(u, x, t);
}

async function linkunlinkWork(u: U, x: string, target: string, seed: number): Promise<void> {
  let r = seed >>> 0;
  for (let i = 0; i < 100; i++) {
    r = (Math.imul(r, 1103515245) + 12345) >>> 0;
    if (r % 3 === 0) await u.close(await u.open(x, O.RDWR | O.CREATE));
    else if (r % 3 === 1) await u.link(target, x);
    else await u.unlink(x);
  }
}

/** Four children write 12 KB files over and over, child i to i + 1 descriptors at a time. */
export async function manywrites(u: U): Promise<void> {
  const names = ['mw0', 'mw1', 'mw2', 'mw3'];
  await rm(u, ...names);
  const g = await gate(u);
  for (const [i, name] of names.entries()) await kid(u, 'manywrites', [name, 30, i + 1], [g.fd, 1, 2]);
  await g.open();
  await reapAll(u, names.length, 'manywrites');
  for (const name of names) if ((await u.stat(name)).err === 0) fail(`${name} is still there`);
}

export const roles: Readonly<Record<string, Role>> = {
  truncwriter: async (u, [f = '', n = '0']) => {
    await started(u);
    for (let i = 0; i < atoi(n); i++) {
      const fd = ok('open', await u.open(f, O.WRONLY));
      eq('write', await u.write(fd, '1234567890'), 10);
      await u.close(fd);
      const rd = ok('open', await u.open(f, O.RDONLY));
      await readCount(u, rd, 32);
      await u.close(rd);
    }
    return 0;
  },
  /** writes n × sz bytes of ch through descriptor 3 */
  append: async (u, [ch = 'x', n = '0', sz = '0']) => {
    await passGate(u);
    const chunk = fill(atoi(sz), ch.charCodeAt(0));
    for (let i = 0; i < atoi(n); i++) eq(`write ${i}`, await u.write(3, chunk), chunk.length);
    return 0;
  },
  /** creates `name` holding n × sz bytes `byte` */
  fill: async (u, [name = '', byte = '0', n = '0', sz = '0']) => {
    await passGate(u);
    const fd = ok(`create ${name}`, await u.open(name, O.CREATE | O.RDWR));
    const chunk = fill(atoi(sz), atoi(byte));
    for (let i = 0; i < atoi(n); i++) eq(`write ${i}`, await u.write(fd, chunk), chunk.length);
    return 0;
  },
  createdelete: async (u, [p = '', n = '0']) => {
    await passGate(u);
    for (let i = 0; i < atoi(n); i++) {
      await u.close(ok(`create ${p}${i}`, await u.open(`${p}${i}`, O.CREATE | O.RDWR)));
      if (i > 0 && i % 2 === 0) ok(`unlink ${p}${i / 2}`, await u.unlink(`${p}${i / 2}`));
    }
    return 0;
  },
  concreate: async (u, [d = '', n = '0', phase = '1']) => {
    await started(u);
    await concreateWork(u, d, atoi(n), atoi(phase), 'child');
    return 0;
  },
  linkunlink: async (u, [x = '', t = '', seed = '0']) => {
    await started(u);
    await linkunlinkWork(u, x, t, atoi(seed));
    return 0;
  },
  /** `iters` times: writes a 12 KB `name` `times` times over, then unlinks it */
  manywrites: async (u, [name = '', iters = '0', times = '0']) => {
    await passGate(u);
    const buf = fill((MAXOPBLOCKS + 2) * BSIZE, 0x6d);
    for (let it = 0; it < atoi(iters); it++) {
      for (let i = 0; i < atoi(times); i++) {
        const fd = ok(`create ${name}`, await u.open(name, O.CREATE | O.RDWR));
        eq(`write ${name}`, await u.write(fd, buf), buf.length);
        await u.close(fd);
      }
      ok(`unlink ${name}`, await u.unlink(name));
    }
    return 0;
  },
};

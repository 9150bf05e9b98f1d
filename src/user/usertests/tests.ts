// The tests, in the order they run: xv6's order for the ones ported from xv6-riscv's
// user/usertests.c, Frond's own after the xv6 test they are nearest to. `slow` ones are left out
// by `usertests -q`. A test's name is its key here.
//
// Not ported, and why: copyin, copyout, copyinstr1, copyinstr3, rwsbrk, sbrk*, MAXVAplus,
// stacktest, textwrite, pgbug, validatetest, argptest, badarg, badwrite (pointers into or beyond
// a process's memory: a system call here takes values, never an address; kernmem forges
// exchange-heap handles instead); mem, sbrkfail, execout (running the host out of memory would
// stop the whole machine, not one process); bsstest (TypeScript has no uninitialised memory);
// forkforkfork, reparent2 (fork bombs: proctable fills the process table instead). copyinstr2
// is split into badpath (long paths) and bigargtest (long arguments). fork itself is replaced by
// spawning usertests in a role (children.ts), so every test of processes is about spawn.
import type { U } from '../../lib/ulib/ulib.ts';
import * as c from './concurrent.ts';
import * as d from './dirs.ts';
import * as f from './files.ts';
import * as l from './limits.ts';
import * as p from './procs.ts';

export type Test = (u: U) => Promise<void>;

export const quick: Readonly<Record<string, Test>> = {
  badpath: l.badpath,
  truncate1: f.truncate1,
  truncate2: f.truncate2,
  truncate3: c.truncate3,
  openiput: d.openiput,
  exitiput: d.exitiput,
  iput: d.iput,
  opentest: f.opentest,
  writetest: f.writetest,
  writebig: f.writebig,
  createtest: f.createtest,
  dirtest: d.dirtest,
  exectest: p.exectest,
  pipe1: p.pipe1,
  pipekill: p.pipekill,
  pipeends: p.pipeends,
  killstatus: p.killstatus,
  preempt: p.preempt,
  exitwait: p.exitwait,
  reparent: p.reparent,
  twochildren: p.twochildren,
  spawnspawn: p.spawnspawn,
  crash: p.crash,
  runaway: p.runaway,
  kernmem: p.kernmem,
  pstest: p.pstest,
  sharedfd: c.sharedfd,
  fourfiles: c.fourfiles,
  createdelete: c.createdelete,
  unlinkread: f.unlinkread,
  linktest: d.linktest,
  concreate: c.concreate,
  linkunlink: c.linkunlink,
  subdir: d.subdir,
  bigwrite: f.bigwrite,
  bigfile: f.bigfile,
  fourteen: d.fourteen,
  rmdot: d.rmdot,
  dirfile: d.dirfile,
  iref: d.iref,
  duptest: f.duptest,
  appendtest: f.appendtest,
  stattest: f.stattest,
  badfd: l.badfd,
  badspawn: l.badspawn,
  badpid: l.badpid,
  nofile: l.nofile,
  bigargtest: p.bigargtest,
};

export const slow: Readonly<Record<string, Test>> = {
  bigdir: f.bigdir,
  manywrites: c.manywrites,
  proctable: l.proctable,
  diskfull: l.diskfull,
  outofinodes: l.outofinodes,
};

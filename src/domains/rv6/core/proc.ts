// The process table (xv6 kernel/proc.c): a process is a domain made from a program's bundle, its
// open files, its working directory, and its place in the tree. allocproc/freeproc's roles are
// `Procs.add` and `Procs.reap`, side by side.
//
// Life of a process: spawned (RUNNING: its Program.main call is in flight) → ended (ZOMBIE: main
// returned, or exit() or kill() stopped its domain, or it crashed; its files are closed, its
// domain is gone, its status kept) → waited for (removed). Children of an ended process go to
// init (pid 1). Invariants: a RUNNING process's domain is alive or dying; a ZOMBIE holds nothing
// but its status; `waiters` of a process are woken whenever one of its children becomes a ZOMBIE.
import type { Program } from '../../../idl/rv6.ts';
import { NOFILE, NPROC } from '../../../lib/rv6/abi.ts';
import type { File } from './file.ts';

export type State = 'RUNNING' | 'ZOMBIE';

export class Proc {
  state: State = 'RUNNING';
  status = 0;
  /** set by exit() (the status) or kill() (KILLED), so the end of main knows it was asked for */
  ending: number | null = null;
  readonly files: (File | null)[] = new Array<File | null>(NOFILE).fill(null);
  program: Program | null = null;
  /** why the last spawn failed, for why() */
  why = '';
  /** when its system calls last let the event loop turn (see index.ts, `done`) */
  yieldedAt = 0;
  waiters: (() => void)[] = [];

  constructor(readonly pid: number, public ppid: number, readonly name: string, public cwd: number) {}

  get alive(): boolean {
    return this.state === 'RUNNING' && this.ending === null;
  }

  /** The lowest free descriptor for `f`, or -1. */
  fdalloc(f: File): number {
    const fd = this.files.indexOf(null);
    if (fd >= 0) this.files[fd] = f;
    return fd;
  }

  file(fd: number): File | null {
    return Number.isInteger(fd) && fd >= 0 && fd < NOFILE ? this.files[fd] ?? null : null;
  }
}

export class Procs {
  private readonly table = new Map<number, Proc>();
  private nextPid = 1;

  get size(): number {
    return this.table.size;
  }

  full(): boolean {
    return this.table.size >= NPROC;
  }

  add(ppid: number, name: string, cwd: number): Proc {
    const p = new Proc(this.nextPid++, ppid, name, cwd);
    this.table.set(p.pid, p);
    return p;
  }

  get(pid: number): Proc | undefined {
    return this.table.get(pid);
  }

  all(): Proc[] {
    return [...this.table.values()];
  }

  children(p: Proc): Proc[] {
    return this.all().filter((c) => c.ppid === p.pid);
  }

  /** Forgets a ZOMBIE its parent waited for. */
  remove(p: Proc): void {
    this.table.delete(p.pid);
  }
}

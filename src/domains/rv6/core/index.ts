// rv6's core domain: the process table and the system calls (xv6 kernel/proc.c, sysproc.c,
// sysfile.c, file.c), over the fs and console domains. It exports Rv6Core to the boot code, and
// makes each process its own Rv6 (`syscalls(p)`), bound to that process: the capability is the
// process's identity, so no call can act as another process.
//
// Every argument comes from a program and is hostile: the proxy has checked its IDL type (numbers
// are numbers in range, strings are strings, an IoBuf handle is an IoBuf the caller owned and now
// we do); the core checks the rest (descriptors, lengths, argv and fds syntax) and answers a bad
// one with a negative errno. A call never throws on a program's input; an IoBuf moved in always
// goes back (with n < 0 on an error), so a process keeps its buffer.
//
// Blocking calls (read of an empty pipe or the console, wait, sleep) wait on promises; a killed
// process's waits give up when next woken, and its results go nowhere. Calls are preemption
// points: a process that keeps calling gets the event loop turned for it every YIELD_MS (a timer
// continues it), so its CPU budget (PROC_BUDGET_MS, spent without yielding) only stops programs
// that compute without calling: budget.ts crashes them, and the core reports it on the console.
import type { Console } from '../../../idl/console.ts';
import type { Config, Sys } from '../../../idl/lib/sys.ts';
import type { RRef, RpcResult } from '../../../idl/lib/types.ts';
import type { Exited, Fs, FsNode, IoBuf as IoBufT, PipeFds, Program, Rv6, Rv6Core, Stat } from '../../../idl/rv6.ts';
import { IoBuf } from '../../../idl/generated/structs.ts';
import { ok } from '../../../lib/result.ts';
import { CONSOLE, Errno, IO_MAX, KILLED, MAXARG, MAXARGBYTES, MAXPATH, NOFILE, O, O_ALL, O_APPEND, ROOTINO, T, TICK_MS } from '../../../lib/rv6/abi.ts';
import { encodeUtf8 } from '../../../lib/utf8.ts';
import { loadProgram } from './exec.ts';
import { File } from './file.ts';
import { Pipe } from './pipe.ts';
import { Proc, Procs } from './proc.ts';
import { Tty } from './tty.ts';

/** A process's CPU budget: the longest it may compute without a system call. */
export const PROC_BUDGET_MS = 1000;
/** A process's exchange-heap quota (its IoBuf and what it allocates itself). */
export const PROC_QUOTA = 256 * 1024;
/** How long a process's system calls may go on without the event loop turning. */
export const YIELD_MS = 20;

const E = (e: number): number => -e;

export function init(sys: Sys, imports: Readonly<Record<string, unknown>>, _config: Config): Rv6Core {
  const fs = imports.fs as Fs;
  const con = imports.console as Console;
  if (!fs || !con) throw new Error('rv6-core: needs the fs and console capabilities');
  if (!sys.domains) throw new Error('rv6-core: needs to create domains (a privileged domain)');
  const domains = sys.domains;
  const procs = new Procs();
  const tty = new Tty(con, (s) => sys.log(s));
  tty.later = (fn) => { sys.timers.after(1, fn); };
  let foreground = new Set<number>();
  let halted: ((why: string) => void) | null = null;

  /** A message on the console from the core itself (xv6's printf in the kernel). */
  function say(text: string): void {
    con.write(text);
  }

  // ---- results -----------------------------------------------------------------------------

  /** A call's result, after letting the event loop turn if p's calls have run YIELD_MS without. */
  async function done<T>(p: Proc, v: T): Promise<RpcResult<T>> {
    const now = sys.clock.now();
    if (now - p.yieldedAt > YIELD_MS) {
      await sys.timers.sleep(0);
      p.yieldedAt = sys.clock.now();
    }
    return ok(v);
  }

  /** Gives an IoBuf back with n set. */
  function back(p: Proc, buf: RRef<IoBufT>, n: number): Promise<RpcResult<RRef<IoBufT>>> {
    IoBuf.setN(buf, n);
    return done(p, buf);
  }

  function fsFailed(what: string, e: { message: string }): number {
    sys.log(`fs ${what} failed: ${e.message}`);
    return E(Errno.EIO);
  }

  /** A path argument's problem as -errno, or 0. */
  function badPath(path: string): number {
    if (path.length === 0) return E(Errno.ENOENT);
    if (path.length > MAXPATH || encodeUtf8(path).length > MAXPATH) return E(Errno.ENAMETOOLONG);
    return 0;
  }

  // ---- process ends ------------------------------------------------------------------------

  /** Ends p (freeproc's half of exit): closes its files, drops its cwd and domain, gives its
   *  children to init, and wakes its parent. */
  function reap(p: Proc, status: number): void {
    if (p.state === 'ZOMBIE') return;
    p.state = 'ZOMBIE';
    p.status = status;
    for (let fd = 0; fd < NOFILE; fd++) {
      const f = p.files[fd];
      p.files[fd] = null;
      if (f) f.close(fs);
    }
    if (p.cwd !== 0) fs.put(p.cwd);
    p.cwd = 0;
    if (p.program) domains.kill(p.program, 'exited');
    p.program = null;
    foreground.delete(p.pid);
    for (const c of procs.children(p)) {
      c.ppid = 1;
      if (c.state === 'ZOMBIE') wakeParent(c);
    }
    if (p.pid === 1) {
      halt(`init exited with status ${status}`);
      return;
    }
    wakeParent(p);
  }

  function wakeParent(p: Proc): void {
    const parent = procs.get(p.ppid);
    if (!parent) { procs.remove(p); return; } // (no one will wait for it)
    for (const w of parent.waiters.splice(0)) w();
  }

  /** Stops p's domain: a RUNNING process's main call then fails, and `run` reaps it. */
  function stop(p: Proc, status: number, reason: string): void {
    if (!p.alive) return;
    p.ending = status;
    if (p.program) domains.kill(p.program, reason);
  }

  /** Runs p's program; reaps p when it ends, however it ends. */
  async function start(p: Proc): Promise<void> {
    const r = await p.program!.main();
    let status: number;
    if (p.ending !== null) status = p.ending;
    else if (r.ok) status = r.value;
    else {
      status = KILLED;
      say(`pid ${p.pid} ${p.name}: ${r.error.message}\n`);
    }
    reap(p, status);
  }

  /** Stops every process, waits until each is reaped (its files closed), syncs the file system,
   *  and ends run(). */
  function halt(why: string): void {
    if (!halted) return;
    const h = halted;
    halted = null;
    for (const p of procs.all()) stop(p, KILLED, 'halt');
    const finish = (): void => {
      if (procs.all().some((p) => p.state === 'RUNNING')) { sys.timers.after(1, finish); return; }
      const r = fs.sync();
      h(r.ok && r.value >= 0 ? why : `${why}; the final sync failed`);
    };
    finish();
  }

  // ---- spawn ------------------------------------------------------------------------------

  /** The child's files from a spawn's `fds` text, or -errno. */
  function childFiles(p: Proc, fds: string): (File | null)[] | number {
    const parts = fds === '' ? [] : fds.split(',');
    if (parts.length > NOFILE) return E(Errno.EINVAL);
    const out: (File | null)[] = [];
    for (const s of parts) {
      if (s === '-') { out.push(null); continue; }
      if (!/^\d{1,2}$/.test(s)) return E(Errno.EINVAL);
      const f = p.file(Number(s));
      if (!f) return E(Errno.EBADF);
      out.push(f);
    }
    return out;
  }

  function spawn(parent: Proc | null, path: string, argvText: string, fds: string, cwd: number, asker = parent): number {
    const why = (s: string): void => { if (asker) asker.why = s; };
    why('');
    const bad = badPath(path);
    if (bad < 0) return bad;
    if (argvText.length > MAXARGBYTES) { why('the arguments are too long'); return E(Errno.EINVAL); }
    const argv = argvText.split('\0');
    if (argv.length > MAXARG) { why(`more than ${MAXARG} arguments`); return E(Errno.EINVAL); }
    const files = parent ? childFiles(parent, fds) : [];
    if (typeof files === 'number') return files;
    if (procs.full()) { why('the process table is full'); return E(Errno.EAGAIN); }
    const loaded = loadProgram(sys, fs, cwd, path);
    if ('err' in loaded) { why(loaded.why); return loaded.err; }
    // (the child's own reference to its working directory; init's is the root's first one)
    const ref = parent ? fs.dup(cwd) : fs.chdir(ROOTINO, '/');
    if (!ref.ok || (typeof ref.value === 'number' ? ref.value : ref.value.err) < 0) { why('no working directory'); return E(Errno.EIO); }
    const name = (argv[0] || path).split('/').pop()!.slice(0, 16) || path;
    const p = procs.add(parent ? parent.pid : 0, name, typeof ref.value === 'number' ? cwd : ref.value.inum);
    for (let i = 0; i < files.length; i++) p.files[i] = files[i] ? files[i]!.dup() : null;
    p.yieldedAt = sys.clock.now();
    const made = domains.create<Program>(loaded.key, { rv6: syscalls(p) }, { argv, pid: p.pid }, { budgetMs: PROC_BUDGET_MS, quotaBytes: PROC_QUOTA });
    if (!made.ok) {
      why(made.error.message);
      p.ending = KILLED;
      reap(p, KILLED);
      procs.remove(p);
      return E(Errno.ENOEXEC);
    }
    p.program = made.value;
    void start(p);
    return p.pid;
  }

  // ---- the system calls of process p ---------------------------------------------------------

  function syscalls(p: Proc): Rv6 {
    const fileRead = async (f: File, buf: RRef<IoBufT>, n: number): Promise<RpcResult<RRef<IoBufT>>> => {
      const max = Math.min(n, IO_MAX);
      if (f.kind === 'inode') {
        const r = fs.read(f.inum, f.off, buf, max);
        if (!r.ok) return back(p, IoBuf.alloc(), fsFailed('read', r.error));
        const got = IoBuf.n(r.value);
        if (got > 0) f.off += got;
        return done(p, r.value);
      }
      const bytes = f.kind === 'pipe' ? await f.pipe!.read(max, () => !p.alive) : await tty.read(max, () => !p.alive);
      if (bytes === null) return back(p, buf, E(Errno.EINTR));
      if (bytes.length > 0) IoBuf.writeData(buf, 0, bytes, 0, bytes.length);
      return back(p, buf, bytes.length);
    };

    const fileWrite = async (f: File, buf: RRef<IoBufT>): Promise<RpcResult<RRef<IoBufT>>> => {
      const n = IoBuf.n(buf);
      if (n < 0 || n > IO_MAX) return back(p, buf, E(Errno.EINVAL));
      if (f.kind === 'inode') {
        let off = f.off;
        if (f.append) {
          const st = fs.stat(f.inum);
          if (!st.ok) return back(p, buf, fsFailed('stat', st.error));
          if (st.value.err < 0) return back(p, buf, st.value.err);
          off = st.value.size;
        }
        const r = fs.write(f.inum, off, buf);
        if (!r.ok) return back(p, IoBuf.alloc(), fsFailed('write', r.error));
        const put = IoBuf.n(r.value);
        if (put > 0) f.off = off + put;
        return done(p, r.value);
      }
      const bytes = new Uint8Array(n);
      if (n > 0) IoBuf.readData(buf, 0, bytes, 0, n);
      if (f.kind === 'pipe') {
        const put = await f.pipe!.write(bytes, () => !p.alive);
        return back(p, buf, put < 0 ? E(Errno.EPIPE) : put);
      }
      f.tail = await tty.write(bytes, f.tail);
      return back(p, buf, n);
    };

    const nodeCall = (r: RpcResult<number>, what: string): Promise<RpcResult<number>> =>
      done(p, r.ok ? r.value : fsFailed(what, r.error));

    return {
      async open(path, flags) {
        const bad = badPath(path);
        if (bad < 0) return done(p, bad);
        if ((flags & ~O_ALL) !== 0 || (flags & 3) === 3) return done(p, E(Errno.EINVAL));
        const r = fs.open(p.cwd, path, flags & (O.CREATE | O.TRUNC | 3));
        if (!r.ok) return done(p, fsFailed('open', r.error));
        const node: FsNode = r.value;
        if (node.err < 0) return done(p, node.err);
        const readable = (flags & O.WRONLY) === 0;
        const writable = (flags & (O.WRONLY | O.RDWR)) !== 0;
        let f: File;
        if (node.type === T.DEVICE) {
          fs.put(node.inum);
          if (node.major !== CONSOLE) return done(p, E(Errno.ENODEV));
          f = new File('console', readable, writable);
        } else {
          f = new File('inode', readable, writable, node.inum, null, (flags & O_APPEND) !== 0);
        }
        const fd = p.fdalloc(f);
        if (fd < 0) { f.close(fs); return done(p, E(Errno.EMFILE)); }
        return done(p, fd);
      },
      async close(fd) {
        const f = p.file(fd);
        if (!f) return done(p, E(Errno.EBADF));
        p.files[fd] = null;
        f.close(fs);
        return done(p, 0);
      },
      async read(fd, buf, n) {
        const f = p.file(fd);
        if (!f || !f.readable) return back(p, buf, E(Errno.EBADF));
        return fileRead(f, buf, n);
      },
      async write(fd, buf) {
        const f = p.file(fd);
        if (!f || !f.writable) return back(p, buf, E(Errno.EBADF));
        return fileWrite(f, buf);
      },
      async fstat(fd) {
        const f = p.file(fd);
        const none: Stat = { err: E(Errno.EBADF), dev: 0, ino: 0, type: 0, nlink: 0, size: 0 };
        if (!f) return done(p, none);
        if (f.kind !== 'inode') return done(p, { ...none, err: 0, type: f.kind === 'console' ? T.DEVICE : 0, nlink: 1 });
        const r = fs.stat(f.inum);
        if (!r.ok) return done(p, { ...none, err: fsFailed('stat', r.error) });
        const s = r.value;
        return done(p, { err: s.err, dev: 1, ino: s.inum, type: s.type, nlink: s.nlink, size: s.size });
      },
      async mknod(path, major, minor) {
        const bad = badPath(path);
        return bad < 0 ? done(p, bad) : nodeCall(fs.mknod(p.cwd, path, major, minor), 'mknod');
      },
      async dup(fd) {
        const f = p.file(fd);
        if (!f) return done(p, E(Errno.EBADF));
        const nfd = p.fdalloc(f);
        if (nfd < 0) return done(p, E(Errno.EMFILE));
        f.dup();
        return done(p, nfd);
      },
      async pipe() {
        const pipe = new Pipe();
        const r = new File('pipe', true, false, 0, pipe);
        const w = new File('pipe', false, true, 0, pipe);
        const fr = p.fdalloc(r);
        const fw = fr < 0 ? -1 : p.fdalloc(w);
        if (fw < 0) {
          if (fr >= 0) p.files[fr] = null;
          return done<PipeFds>(p, { err: E(Errno.EMFILE), r: -1, w: -1 });
        }
        return done<PipeFds>(p, { err: 0, r: fr, w: fw });
      },
      async link(target, path) {
        const bad = badPath(target) || badPath(path);
        return bad < 0 ? done(p, bad) : nodeCall(fs.link(p.cwd, target, path), 'link');
      },
      async unlink(path) {
        const bad = badPath(path);
        return bad < 0 ? done(p, bad) : nodeCall(fs.unlink(p.cwd, path), 'unlink');
      },
      async mkdir(path) {
        const bad = badPath(path);
        return bad < 0 ? done(p, bad) : nodeCall(fs.mkdir(p.cwd, path), 'mkdir');
      },
      async chdir(path) {
        const bad = badPath(path);
        if (bad < 0) return done(p, bad);
        const r = fs.chdir(p.cwd, path);
        if (!r.ok) return done(p, fsFailed('chdir', r.error));
        if (r.value.err < 0) return done(p, r.value.err);
        fs.put(p.cwd);
        p.cwd = r.value.inum;
        return done(p, 0);
      },
      async spawn(path, argv, fds) {
        return done(p, spawn(p, path, argv, fds, p.cwd));
      },
      async why() {
        return done(p, p.why);
      },
      async wait() {
        for (;;) {
          const kids = procs.children(p);
          const z = kids.find((c) => c.state === 'ZOMBIE');
          if (z) {
            procs.remove(z);
            return done<Exited>(p, { pid: z.pid, status: z.status });
          }
          if (kids.length === 0) return done<Exited>(p, { pid: E(Errno.ECHILD), status: 0 });
          await new Promise<void>((resolve) => { p.waiters.push(resolve); });
          if (!p.alive) return done<Exited>(p, { pid: E(Errno.EINTR), status: 0 });
        }
      },
      async exit(status) {
        stop(p, status | 0, 'exit');
        return done(p, 0);
      },
      async kill(pid) {
        const t = procs.get(pid);
        if (!t || !t.alive) return done(p, E(Errno.ESRCH));
        stop(t, KILLED, `killed by pid ${p.pid}`);
        return done(p, 0);
      },
      async getpid() {
        return done(p, p.pid);
      },
      async sleep(ticks) {
        await sys.timers.sleep(Math.min(ticks, 1e7) * TICK_MS);
        p.yieldedAt = sys.clock.now();
        return done(p, p.alive ? 0 : E(Errno.EINTR));
      },
      async uptime() {
        return done(p, Math.floor(sys.clock.now() / TICK_MS));
      },
      async sync() {
        const r = fs.sync();
        return done(p, r.ok ? r.value : fsFailed('sync', r.error));
      },
      async ps() {
        const lines = procs.all().map((q) => `${q.pid} ${q.ppid} ${q.state === 'ZOMBIE' ? 'zombie' : q.alive ? 'run' : 'dying'} ${q.name}`);
        return done(p, lines.join('\n') + (lines.length > 0 ? '\n' : ''));
      },
      async fg(pid) {
        if (pid === 0) { foreground = new Set([...foreground].filter((x) => procs.get(x)?.ppid !== p.pid)); return done(p, 0); }
        const t = procs.get(pid);
        if (!t || t.ppid !== p.pid) return done(p, E(Errno.ESRCH));
        foreground.add(pid);
        return done(p, 0);
      },
      async halt() {
        halt(`halted by pid ${p.pid} (${p.name})`);
        return done(p, 0);
      },
    };
  }

  // ---- ^C ----------------------------------------------------------------------------------

  async function interrupts(): Promise<void> {
    for (;;) {
      const r = await con.intr();
      if (!r.ok) return;
      for (const pid of [...foreground]) {
        const t = procs.get(pid);
        if (t) stop(t, KILLED, 'interrupted (^C)');
      }
      foreground.clear();
    }
  }

  return {
    run(argv) {
      return new Promise((resolve) => {
        if (halted || procs.size > 0) { resolve(ok('rv6-core: already running')); return; }
        halted = (why) => resolve(ok(why));
        void interrupts();
        const init: Proc = new Proc(0, 0, 'boot', ROOTINO); // (stands in as init's parent, for why)
        const pid = spawn(null, '/init', argv, '', ROOTINO, init);
        if (pid < 0) halt(`cannot start /init: ${init.why || `error ${-pid}`}`);
      });
    },
  };
}

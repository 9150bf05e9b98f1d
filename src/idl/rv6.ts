// rv6, the POSIX subset modelled on xv6, split into domains as RedLeaf splits it:
//
//   core  (src/domains/rv6/core)  the process table and system-call dispatch; it hands every
//                                 process its own Rv6 capability, bound to that process
//   fs    (src/domains/rv6/fs)    xv6's file system over a BDev: buffer cache, log, inodes, dirs
//   console                       idl/console.ts
//   a process                     a signed bundle loaded from the file system; it exports Program
//
// Values of the fields (open flags, inode types, error numbers, limits) are in src/lib/rv6/abi.ts:
// an IDL file holds only types. Errors of a system call are values (a negative errno, xv6's -1
// made precise); an RpcError means the callee crashed.
import type { Bytes, Copy, i32, Interface, RpcResult, RRef, Struct, u16, u32 } from './lib/types.ts';

/**
 * The data of one read or write: `n` bytes of `data` (IO_MAX at most). A read or write call takes
 * the buffer and hands it back with `n` set to the bytes moved, or to a negative errno. A process
 * keeps one and reuses it for every call: nothing is copied between the file system's cache and
 * this buffer but by the kernel (heap copy), and ulib copies in and out of it.
 */
export interface IoBuf extends Struct {
  n: i32;
  data: Bytes<4096>;
}

/** xv6's struct stat, with `err` (0, or a negative errno and nothing else set). */
export interface Stat extends Copy {
  readonly err: i32;
  readonly dev: i32;
  readonly ino: u32;
  /** T_DIR, T_FILE, T_DEVICE (abi.ts) */
  readonly type: u16;
  readonly nlink: u16;
  readonly size: u32;
}

/** The two ends of a new pipe, or `err`. */
export interface PipeFds extends Copy {
  readonly err: i32;
  readonly r: i32;
  readonly w: i32;
}

/** A child that ended (wait): its pid (or a negative errno: no children) and exit status. */
export interface Exited extends Copy {
  readonly pid: i32;
  readonly status: i32;
}

/**
 * The system calls, as one process sees them: the core domain makes one of these per process and
 * hands it to the process's init as the import `rv6`; every call acts as that process. Numbers
 * returned are results (>= 0) or negative errnos (abi.ts Errno). Paths are at most MAXPATH bytes.
 */
export interface Rv6 extends Interface {
  /** opens (O_CREATE: creates a file) and returns the lowest free descriptor */
  open(path: string, flags: u32): Promise<RpcResult<i32>>;
  close(fd: i32): Promise<RpcResult<i32>>;
  /** reads at most min(n, IO_MAX) bytes into buf; buf.n is the count (0: end of file) or -errno */
  read(fd: i32, buf: RRef<IoBuf>, n: u32): Promise<RpcResult<RRef<IoBuf>>>;
  /** writes buf.n bytes (IO_MAX at most), all or nothing for a file; buf.n becomes the count or -errno */
  write(fd: i32, buf: RRef<IoBuf>): Promise<RpcResult<RRef<IoBuf>>>;
  fstat(fd: i32): Promise<RpcResult<Stat>>;
  mknod(path: string, major: u16, minor: u16): Promise<RpcResult<i32>>;
  dup(fd: i32): Promise<RpcResult<i32>>;
  pipe(): Promise<RpcResult<PipeFds>>;
  link(target: string, path: string): Promise<RpcResult<i32>>;
  unlink(path: string): Promise<RpcResult<i32>>;
  mkdir(path: string): Promise<RpcResult<i32>>;
  chdir(path: string): Promise<RpcResult<i32>>;
  /**
   * Starts the program in file `path` as a child: `argv` is its arguments joined by "\0" (argv[0]
   * first), `fds` names, for each of the child's descriptors 0, 1, 2, …, the caller's descriptor it
   * gets, comma-separated ("-" for none): "3,1,2" gives the child the caller's 3 as its standard
   * input. Returns the child's pid, or -errno (ENOEXEC: the file is not a program Frond will run;
   * `why` then says why).
   */
  spawn(path: string, argv: string, fds: string): Promise<RpcResult<i32>>;
  /** why the caller's last spawn failed, one line ("" if it did not) */
  why(): Promise<RpcResult<string>>;
  /** waits for a child to end; pid -ECHILD if there is none */
  wait(): Promise<RpcResult<Exited>>;
  /** ends the caller with `status`; does not return */
  exit(status: i32): Promise<RpcResult<i32>>;
  kill(pid: i32): Promise<RpcResult<i32>>;
  getpid(): Promise<RpcResult<i32>>;
  /** sleeps `ticks` clock ticks (TICK_MS each) */
  sleep(ticks: u32): Promise<RpcResult<i32>>;
  /** clock ticks since boot */
  uptime(): Promise<RpcResult<u32>>;
  /** makes every system call that has returned durable */
  sync(): Promise<RpcResult<i32>>;
  // ---- Frond's additions ----
  /** the process table, one line per process: "pid ppid state name" */
  ps(): Promise<RpcResult<string>>;
  /** marks `pid` (a child of the caller) as the terminal's foreground job: ^C kills it; 0 clears */
  fg(pid: i32): Promise<RpcResult<i32>>;
  /** flushes the file system and stops the machine (init's, at the end of input) */
  halt(): Promise<RpcResult<i32>>;
}

/** What a process's bundle exports: its program, run once; it returns the exit status. */
export interface Program extends Interface {
  main(): Promise<RpcResult<i32>>;
}

/** An inode as the file system reports it, or `err` (and nothing else set). */
export interface FsNode extends Copy {
  readonly err: i32;
  readonly inum: u32;
  readonly type: u16;
  readonly major: u16;
  readonly minor: u16;
  readonly nlink: u16;
  readonly size: u32;
}

/**
 * The file system domain, as the core domain uses it. Inodes are named by number; `open`, `chdir`
 * and `dup` take a reference the caller gives back with `put` (xv6's iget/iput: an unlinked inode
 * is freed when its last reference goes). Directories `cwd` are the caller's referenced inodes.
 * Every call that changes the disk is one transaction of the log: all or nothing after a crash;
 * see the fs domain's header for when a returned call is durable.
 */
export interface Fs extends Interface {
  /** looks up `path` from `cwd` (O_CREATE: creates a file; O_TRUNC: truncates); a reference */
  open(cwd: u32, path: string, flags: u32): RpcResult<FsNode>;
  /** a directory's reference, for a process's working directory */
  chdir(cwd: u32, path: string): RpcResult<FsNode>;
  /** one more reference to inode `inum` */
  dup(inum: u32): RpcResult<i32>;
  /** gives back a reference */
  put(inum: u32): RpcResult<i32>;
  stat(inum: u32): RpcResult<FsNode>;
  /** reads at most min(n, IO_MAX) bytes at `off` into buf; buf.n is the count or -errno */
  read(inum: u32, off: u32, buf: RRef<IoBuf>, n: u32): RpcResult<RRef<IoBuf>>;
  /** writes buf.n bytes at `off`, in one transaction; buf.n is the count or -errno */
  write(inum: u32, off: u32, buf: RRef<IoBuf>): RpcResult<RRef<IoBuf>>;
  mknod(cwd: u32, path: string, major: u16, minor: u16): RpcResult<i32>;
  mkdir(cwd: u32, path: string): RpcResult<i32>;
  link(cwd: u32, target: string, path: string): RpcResult<i32>;
  unlink(cwd: u32, path: string): RpcResult<i32>;
  /** commits the log and flushes the device: every call that returned is durable */
  sync(): RpcResult<i32>;
}

/** The core domain, as the boot code sees it. */
export interface Rv6Core extends Interface {
  /**
   * Starts `/init` as process 1 with arguments `argv` (joined by "\0") and resolves when the
   * machine halts: a process called halt(), or init ended. The text says which; by then the file
   * system is synced and every process is gone.
   */
  run(argv: string): Promise<RpcResult<string>>;
}

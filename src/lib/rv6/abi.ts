// The values that rv6's interfaces (src/idl/rv6.ts) carry, shared by the core and fs domains, ulib
// and the user programs: xv6's numbers where xv6 has them (kernel/fcntl.h, stat.h, param.h), and
// error numbers as Linux numbers them, where xv6 has only -1.

/** open() flags (xv6 kernel/fcntl.h) */
export const O = { RDONLY: 0x000, WRONLY: 0x001, RDWR: 0x002, CREATE: 0x200, TRUNC: 0x400 } as const;
/** O_APPEND is Frond's (xv6 has none): every write goes to the end of the file, for `>>` */
export const O_APPEND = 0x800;
export const O_ALL = O.WRONLY | O.RDWR | O.CREATE | O.TRUNC | O_APPEND;

/** inode types (xv6 kernel/stat.h) */
export const T = { DIR: 1, FILE: 2, DEVICE: 3 } as const;

/** the console's device number (xv6 kernel/file.h CONSOLE) */
export const CONSOLE = 1;

/** limits (xv6 kernel/param.h, fs.h) */
export const NOFILE = 16;       // open files per process
export const NPROC = 64;        // processes
export const MAXARG = 32;       // arguments of spawn
export const MAXARGBYTES = 4096; // argv, joined
export const MAXPATH = 128;     // bytes of a path
export const DIRSIZ = 14;       // bytes of a name
/** bytes one read or write call moves (IoBuf.data) */
export const IO_MAX = 4096;
/** a clock tick (sleep, uptime) */
export const TICK_MS = 10;
export const ROOTINO = 1;

/** error numbers (a call returns -errno) */
export const Errno = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENOEXEC: 8, EBADF: 9, ECHILD: 10, EAGAIN: 11,
  ENOMEM: 12, EACCES: 13, EFAULT: 14, EBUSY: 16, EEXIST: 17, EXDEV: 18, ENODEV: 19, ENOTDIR: 20,
  EISDIR: 21, EINVAL: 22, ENFILE: 23, EMFILE: 24, EFBIG: 27, ENOSPC: 28, ESPIPE: 29, EMLINK: 31,
  EPIPE: 32, ENAMETOOLONG: 36, ENOTEMPTY: 39, ELOOP: 40,
} as const;
export type ErrnoName = keyof typeof Errno;

const messages: Readonly<Record<number, string>> = {
  1: 'operation not permitted', 2: 'no such file or directory', 3: 'no such process',
  4: 'interrupted', 5: 'input/output error', 8: 'not an executable Frond will run',
  9: 'bad file descriptor', 10: 'no child processes', 11: 'try again', 12: 'out of memory',
  13: 'permission denied', 14: 'bad address', 16: 'busy', 17: 'file exists',
  18: 'cross-device link', 19: 'no such device', 20: 'not a directory', 21: 'is a directory',
  22: 'invalid argument', 23: 'too many open files in system', 24: 'too many open files',
  27: 'file too large', 28: 'no space left on device', 29: 'illegal seek', 31: 'too many links',
  32: 'broken pipe', 36: 'file name too long', 39: 'directory not empty', 40: 'too many levels',
};

/** "no such file or directory" for -2 (or 2); a generic text for a number it does not know */
export function strerror(e: number): string {
  const n = e < 0 ? -e : e;
  return Object.hasOwn(messages, n) ? messages[n]! : `error ${n}`;
}

/** Exit status of a process that was killed (kill, ^C) or crashed: xv6's -1. */
export const KILLED = -1;

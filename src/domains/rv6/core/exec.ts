// Loading a program (xv6 kernel/exec.c, without the address space): the executable is a signed
// bundle made by `frond build`, stored as a file. It is read whole through the file system into
// the core's memory, handed to the kernel to verify (sys.domains.load: unsigned, tampered or
// untrusted bundles are refused, and `why` says which), and a domain is created from it with the
// process's own Rv6 as its import `rv6`.
import type { Sys } from '../../../idl/lib/sys.ts';
import type { RRef } from '../../../idl/lib/types.ts';
import type { Fs, IoBuf as IoBufT } from '../../../idl/rv6.ts';
import { IoBuf } from '../../../idl/generated/structs.ts';
import { Errno, IO_MAX, T } from '../../../lib/rv6/abi.ts';

/** The largest file a program can be: xv6's largest file (MAXFILE blocks of 1 KiB). */
export const MAX_PROGRAM = 268 * 1024;

export type Loaded = { key: string } | { err: number; why: string };

/** Reads and verifies the program in `path` (from directory `cwd`). */
export function loadProgram(sys: Sys, fs: Fs, cwd: number, path: string): Loaded {
  const n = fs.open(cwd, path, 0);
  if (!n.ok) return { err: -Errno.EIO, why: `the file system failed: ${n.error.message}` };
  const node = n.value;
  if (node.err < 0) return { err: node.err, why: '' };
  try {
    if (node.type !== T.FILE) return { err: -Errno.ENOEXEC, why: node.type === T.DIR ? 'is a directory' : 'is not a regular file' };
    if (node.size > MAX_PROGRAM || node.size === 0) return { err: -Errno.ENOEXEC, why: node.size === 0 ? 'is empty' : 'is too large to be a program' };
    const bytes = new Uint8Array(node.size);
    let buf: RRef<IoBufT> | null = IoBuf.alloc();
    try {
      for (let off = 0; off < node.size;) {
        const r = fs.read(node.inum, off, buf, Math.min(IO_MAX, node.size - off));
        if (!r.ok) { buf = null; return { err: -Errno.EIO, why: `the file system failed: ${r.error.message}` }; }
        buf = r.value;
        const got = IoBuf.n(buf);
        if (got <= 0) return { err: got < 0 ? got : -Errno.EIO, why: 'could not be read whole' };
        IoBuf.readData(buf, 0, bytes, off, got);
        off += got;
      }
    } finally {
      if (buf !== null) IoBuf.free(buf);
    }
    try {
      return { key: sys.domains!.load(bytes) };
    } catch (e) {
      const m = typeof e === 'object' && e !== null ? (e as { message?: unknown }).message : undefined;
      return { err: -Errno.ENOEXEC, why: typeof m === 'string' ? m : 'refused by the kernel' };
    }
  } finally {
    fs.put(node.inum);
  }
}

// ulib: what an rv6 user program is written against (xv6's user/ulib.c, printf.c and user.h).
//
// A program is a domain (src/user/<name>/) whose index.ts is
//
//     export const init = program(async (u, argv) => { …; return 0; });
//
// `program` makes the domain's init: it binds the process's Rv6 capability (the import `rv6`) and
// its arguments (config.argv) into a `U`, and exports Program.main, which runs the body once and
// returns its exit status. The body never sees an exchange-heap handle: U owns one IoBuf and
// copies into and out of it. System calls return what xv6's do, with xv6's -1 made precise: a
// negative errno (abi.ts; `strerror`). An Rpc error (the core domain failed) ends the program.
//
// Output: write() moves at most IO_MAX bytes per system call and loops for more, so a long write
// to a file is not one transaction; printf formats with %d %u %x %s %c %% and a width (%5d, %-14s,
// %05d).
import type { Config, Sys } from '../../idl/lib/sys.ts';
import type { RRef, RpcResult } from '../../idl/lib/types.ts';
import type { IoBuf as IoBufT, Program, Rv6, Stat } from '../../idl/rv6.ts';
import { IoBuf } from '../../idl/generated/structs.ts';
import { ok } from '../result.ts';
import { decodeUtf8, encodeUtf8 } from '../utf8.ts';
import { IO_MAX, strerror, T } from '../rv6/abi.ts';

export { O, O_APPEND, T, Errno, strerror, CONSOLE, IO_MAX, TICK_MS, MAXARG, MAXPATH, DIRSIZ, NOFILE } from '../rv6/abi.ts';
export { decodeUtf8, encodeUtf8 };
export type { Stat };

export type Main = (u: U, argv: string[]) => Promise<number>;

/** Thrown by exit() in the rare case the core lets it return; ends main with that status. */
class Exit {
  constructor(readonly status: number) {}
}

/** The value of a system call's result; a failed call (the core is gone) ends the program. */
function value<T>(r: RpcResult<T>): T {
  if (r.ok) return r.value;
  throw new Error(`rv6: system call failed: ${r.error.kind}: ${r.error.message}`);
}

/** Makes a program domain's init (see the header). */
export function program(main: Main): (sys: Sys, imports: Readonly<Record<string, unknown>>, config: Config) => Program {
  return (sys, imports, config) => {
    const rv6 = imports.rv6 as Rv6 | undefined;
    if (!rv6) throw new Error('ulib: this program was not given the rv6 capability');
    const argv = argvOf(config);
    const u = new U(sys, rv6);
    return {
      async main() {
        let status: number;
        try {
          status = await main(u, argv);
        } catch (e) {
          if (e instanceof Exit) status = e.status;
          else throw e;
        }
        return ok(status | 0);
      },
    };
  };
}

function argvOf(config: Config): string[] {
  const c = config !== null && typeof config === 'object' && !Array.isArray(config) ? config as Record<string, Config> : {};
  const a = c.argv;
  return Array.isArray(a) ? a.filter((x): x is string => typeof x === 'string') : [];
}

/** A process's view of rv6: the system calls, and the helpers of xv6's ulib. */
export class U {
  private buf: RRef<IoBufT> | null;

  constructor(readonly sys: Sys, private readonly rv6: Rv6) {
    this.buf = IoBuf.alloc();
  }

  /** Our IoBuf, handed to a call that gives it back. */
  private take(): RRef<IoBufT> {
    const b = this.buf ?? IoBuf.alloc();
    this.buf = null;
    return b;
  }

  // ---- system calls ------------------------------------------------------------------------

  async open(path: string, flags: number): Promise<number> { return value(await this.rv6.open(path, flags)); }
  async close(fd: number): Promise<number> { return value(await this.rv6.close(fd)); }

  /** One read call: at most min(n, IO_MAX) bytes; a negative errno on error; empty at end of file. */
  async read(fd: number, n = IO_MAX): Promise<Uint8Array | number> {
    const b = value(await this.rv6.read(fd, this.take(), Math.max(0, Math.min(n, IO_MAX))));
    this.buf = b;
    const got = IoBuf.n(b);
    if (got < 0) return got;
    const out = new Uint8Array(got);
    if (got > 0) IoBuf.readData(b, 0, out, 0, got);
    return out;
  }

  /** Writes all of `data` (IO_MAX per system call); returns the bytes written, or a negative errno
   *  if the first call failed (a later failure returns the count so far). */
  async write(fd: number, data: Uint8Array | string): Promise<number> {
    const bytes = typeof data === 'string' ? encodeUtf8(data) : data;
    let done = 0;
    do {
      const len = Math.min(IO_MAX, bytes.length - done);
      const b = this.take();
      IoBuf.setN(b, len);
      if (len > 0) IoBuf.writeData(b, 0, bytes, done, len);
      const r = value(await this.rv6.write(fd, b));
      this.buf = r;
      const n = IoBuf.n(r);
      if (n < 0) return done > 0 ? done : n;
      done += n;
      if (n < len) break;
    } while (done < bytes.length);
    return done;
  }

  async fstat(fd: number): Promise<Stat> { return value(await this.rv6.fstat(fd)); }
  async mknod(path: string, major: number, minor: number): Promise<number> { return value(await this.rv6.mknod(path, major, minor)); }
  async dup(fd: number): Promise<number> { return value(await this.rv6.dup(fd)); }
  /** [read end, write end], or a negative errno */
  async pipe(): Promise<[number, number] | number> {
    const p = value(await this.rv6.pipe());
    return p.err < 0 ? p.err : [p.r, p.w];
  }
  async link(target: string, path: string): Promise<number> { return value(await this.rv6.link(target, path)); }
  async unlink(path: string): Promise<number> { return value(await this.rv6.unlink(path)); }
  async mkdir(path: string): Promise<number> { return value(await this.rv6.mkdir(path)); }
  async chdir(path: string): Promise<number> { return value(await this.rv6.chdir(path)); }
  /**
   * Runs the program in `path` as a child with arguments `argv` (argv[0] is its name); `fds[i]` is
   * the descriptor of ours the child gets as its descriptor i (null: none); by default the child
   * gets our 0, 1 and 2. Returns its pid or a negative errno (why() explains an ENOEXEC).
   */
  async spawn(path: string, argv: readonly string[], fds: readonly (number | null)[] = [0, 1, 2]): Promise<number> {
    return value(await this.rv6.spawn(path, argv.join('\0'), fds.map((f) => (f === null ? '-' : String(f))).join(',')));
  }
  async why(): Promise<string> { return value(await this.rv6.why()); }
  /** the pid and status of a child that ended; pid is -ECHILD if there are no children */
  async wait(): Promise<{ pid: number; status: number }> {
    const e = value(await this.rv6.wait());
    return { pid: e.pid, status: e.status };
  }
  /** Ends this process with `status`. */
  async exit(status: number): Promise<never> {
    await this.rv6.exit(status | 0);
    throw new Exit(status | 0);
  }
  async kill(pid: number): Promise<number> { return value(await this.rv6.kill(pid)); }
  async getpid(): Promise<number> { return value(await this.rv6.getpid()); }
  async sleep(ticks: number): Promise<number> { return value(await this.rv6.sleep(ticks)); }
  async uptime(): Promise<number> { return value(await this.rv6.uptime()); }
  async sync(): Promise<number> { return value(await this.rv6.sync()); }
  async ps(): Promise<string> { return value(await this.rv6.ps()); }
  async fg(pid: number): Promise<number> { return value(await this.rv6.fg(pid)); }
  async halt(): Promise<number> { return value(await this.rv6.halt()); }

  // ---- helpers (xv6 user/ulib.c, printf.c) -------------------------------------------------

  /** printf to `fd` (see the header for the conversions) */
  async fprintf(fd: number, fmt: string, ...args: unknown[]): Promise<number> {
    return this.write(fd, format(fmt, args));
  }

  async printf(fmt: string, ...args: unknown[]): Promise<number> {
    return this.write(1, format(fmt, args));
  }

  /** A whole file or stream, to its end (or a negative errno). */
  async readAll(fd: number): Promise<Uint8Array | number> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const r = await this.read(fd);
      if (typeof r === 'number') return r;
      if (r.length === 0) break;
      parts.push(r);
      total += r.length;
    }
    return concat(parts, total);
  }

  /** A line reader over `fd` (lines keep their "\n"; the last may lack one). */
  lines(fd: number): LineReader {
    return new LineReader(this, fd);
  }

  /** stat of a path (xv6's stat()): opens and closes it */
  async stat(path: string): Promise<Stat> {
    const fd = await this.open(path, 0);
    if (fd < 0) return { err: fd, dev: 0, ino: 0, type: 0, nlink: 0, size: 0 };
    const st = await this.fstat(fd);
    await this.close(fd);
    return st;
  }

  /** "name: message" for a negative errno, to standard error */
  async perror(what: string, err: number): Promise<void> {
    await this.write(2, `${what}: ${strerror(err)}\n`);
  }
}

/**
 * The arguments of cp and mv: `SRC DST`, or `SRC… DIR`. The [source, destination] pairs (into a
 * directory DST, DST/basename(SRC)), or null once the reason is printed (usage, or several sources
 * and DST no directory).
 */
export async function sourcesAndTargets(u: U, argv: readonly string[]): Promise<[string, string][] | null> {
  const name = argv[0] ?? 'cp';
  if (argv.length < 3) {
    await u.fprintf(2, 'usage: %s src dst, or %s src ... dir\n', name, name);
    return null;
  }
  const srcs = argv.slice(1, -1);
  const dst = argv[argv.length - 1]!;
  const d = await u.stat(dst);
  const intoDir = d.err === 0 && d.type === T.DIR;
  if (srcs.length > 1 && !intoDir) {
    await u.fprintf(2, '%s: %s is not a directory\n', name, dst);
    return null;
  }
  return srcs.map((src) => [src, intoDir ? joinPath(dst, basename(src)) : dst]);
}

/** Reads lines from a descriptor, one read call at a time. */
export class LineReader {
  private pending: Uint8Array = new Uint8Array(0);
  private eof = false;

  constructor(private readonly u: U, private readonly fd: number) {}

  /** The next line with its "\n" (the last line may lack it); null at end of input; a negative
   *  errno if a read failed. */
  async next(): Promise<string | null | number> {
    for (;;) {
      const nl = this.pending.indexOf(0x0a);
      if (nl >= 0 || (this.eof && this.pending.length > 0)) {
        const end = nl >= 0 ? nl + 1 : this.pending.length;
        const line = decodeUtf8(this.pending.subarray(0, end));
        this.pending = this.pending.slice(end);
        return line;
      }
      if (this.eof) return null;
      const r = await this.u.read(this.fd);
      if (typeof r === 'number') return r;
      if (r.length === 0) this.eof = true;
      else this.pending = concat([this.pending, r], this.pending.length + r.length);
    }
  }
}

export function concat(parts: readonly Uint8Array[], total = parts.reduce((s, p) => s + p.length, 0)): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** xv6's atoi: leading decimal digits, 0 if none (a leading '-' is allowed) */
export function atoi(s: string): number {
  const m = /^\s*(-?\d+)/.exec(s);
  return m ? Number.parseInt(m[1]!, 10) | 0 : 0;
}

/** the last name of a path: "a/b" → "b", "a/b/" → "b", "/" → "/" */
export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' ? (path === '' ? '' : '/') : trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** `name` inside directory `dir`: "d" + "f" → "d/f", "/" + "f" → "/f" */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** printf-style formatting: %d %i %u %x %s %c %% with flags '-' and '0' and a width. */
export function format(fmt: string, args: readonly unknown[]): string {
  let out = '';
  let ai = 0;
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    let left = false;
    let zero = false;
    let width = 0;
    let j = i + 1;
    for (; j < fmt.length && (fmt[j] === '-' || fmt[j] === '0'); j++) {
      if (fmt[j] === '-') left = true;
      else zero = true;
    }
    for (; j < fmt.length && fmt[j]! >= '0' && fmt[j]! <= '9'; j++) width = width * 10 + (fmt.charCodeAt(j) - 48);
    const conv = fmt[j];
    i = j;
    let s: string;
    switch (conv) {
      case 'd': case 'i': s = String(Math.trunc(Number(args[ai++]))); break;
      case 'u': s = String(Number(args[ai++]) >>> 0); break;
      case 'x': s = (Number(args[ai++]) >>> 0).toString(16); break;
      case 's': s = String(args[ai++]); break;
      case 'c': { const v = args[ai++]; s = typeof v === 'number' ? String.fromCodePoint(v) : String(v).slice(0, 1); break; }
      case '%': s = '%'; break;
      case undefined: s = '%'; break;
      default: s = `%${conv}`;
    }
    if (s.length < width) {
      const pad = (zero && !left ? '0' : ' ').repeat(width - s.length);
      s = left ? s + pad : zero && s.startsWith('-') ? `-${pad}${s.slice(1)}` : pad + s;
    }
    out += s;
  }
  return out;
}


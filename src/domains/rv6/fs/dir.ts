// Directories and path names (xv6 kernel/fs.c, the top two layers): looking a name up in a
// directory, adding and removing entries, and walking a path to an inode.
//
// A directory is a file of 16-byte entries (u16 inum, 14-byte name, zero-padded; inum 0 = a free
// slot); a hole reads as free slots. Names here are UTF-8 bytes, 1..DIRSIZ of them, no '/' and no
// NUL: a longer path element is ENAMETOOLONG (xv6 would cut it to 14 bytes; we refuse, so a name
// always means what it says). A path is at most MAXPATH bytes of UTF-8 (the string's encodeUtf8:
// a lone surrogate is U+FFFD, as the host's TextEncoder has it); an empty one is ENOENT.
//
// Walks are bounded: a path holds at most MAXPATH / 2 elements and each lookup reads one
// directory of at most MAXFILE blocks, so a corrupt tree (a loop, an entry naming an inode out of
// range or a free one) costs at most that and ends in an error (EIO) or a result, never a hang.
// Every inode a walk returns carries a reference the caller puts.
import { Errno, MAXPATH } from '../../../lib/rv6/abi.ts';
import { BSIZE, DIRENT_SIZE, DIRSIZ, ROOTINO, T_DIR, encodeUtf8 } from '../../../lib/xv6fs/format.ts';
import type { Cache } from './bio.ts';
import type { Inode, Inodes } from './inode.ts';
import { FsError } from './param.ts';

const SLASH = 0x2f;

/** A path, checked: absolute or from the caller's directory, and its names as bytes. */
export interface Path {
  readonly abs: boolean;
  readonly names: readonly Uint8Array[];
}

/** An entry found: the inode it names and its byte offset in the directory. */
export interface Found {
  readonly inum: number;
  readonly off: number;
}

/** `path` split into names; ENAMETOOLONG, ENOENT (empty) or EINVAL (a NUL) if it cannot be one. */
export function parsePath(path: string): Path {
  // (A string longer than MAXPATH UTF-16 units has more than MAXPATH bytes: not even encoded.)
  const bytes = path.length > MAXPATH ? null : encodeUtf8(path);
  if (bytes === null || bytes.length > MAXPATH) throw new FsError(Errno.ENAMETOOLONG, `a path of more than ${MAXPATH} bytes`);
  if (bytes.length === 0) throw new FsError(Errno.ENOENT, 'an empty path');
  if (bytes.includes(0)) throw new FsError(Errno.EINVAL, 'a path with a NUL byte');
  const names: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    let j = i;
    while (j < bytes.length && bytes[j] !== SLASH) j++;
    if (j - i > DIRSIZ) throw new FsError(Errno.ENAMETOOLONG, `a path element of ${j - i} bytes (at most ${DIRSIZ})`);
    if (j > i) names.push(bytes.subarray(i, j));
    i = j + 1;
  }
  return { abs: bytes[0] === SLASH, names };
}

/** Whether `name` is "." or "..". */
export function isDots(name: Uint8Array): boolean {
  return name[0] === 0x2e && (name.length === 1 || (name.length === 2 && name[1] === 0x2e));
}

export class Dirs {
  constructor(private readonly inodes: Inodes, private readonly cache: Cache) {}

  // ---- entries ------------------------------------------------------------------------------

  /** The entry `name` in directory `dp` (loaded), or null (xv6's dirlookup). */
  lookup(dp: Inode, name: Uint8Array): Found | null {
    let found: Found | null = null;
    this.scan(dp, 0, (inum, buf, at, off) => {
      if (inum === 0 || !sameName(buf, at + 2, name)) return false;
      found = { inum, off };
      return true;
    });
    return found;
  }

  /** Adds the entry `name` -> `inum` to `dp` (xv6's dirlink): EEXIST if the name is there. The
   *  first free slot is reused, else the directory grows by one entry. */
  link(dp: Inode, name: Uint8Array, inum: number): void {
    if (this.lookup(dp, name) !== null) throw new FsError(Errno.EEXIST, 'the name exists');
    let slot = dp.size;
    this.scan(dp, 0, (n, _buf, _at, off) => {
      if (n !== 0) return false;
      slot = off;
      return true;
    });
    const entry = new Uint8Array(DIRENT_SIZE);
    entry[0] = inum & 0xff;
    entry[1] = inum >> 8;
    entry.set(name, 2);
    this.inodes.writeBytes(dp, slot, entry);
  }

  /** Clears the entry at `off` of `dp` (unlink). */
  clear(dp: Inode, off: number): void {
    this.inodes.writeBytes(dp, off, new Uint8Array(DIRENT_SIZE));
  }

  /** Whether `dp` has no entries but "." and ".." (xv6's isdirempty). */
  isEmpty(dp: Inode): boolean {
    let empty = true;
    this.scan(dp, 2 * DIRENT_SIZE, (inum) => {
      if (inum === 0) return false;
      empty = false;
      return true;
    });
    return empty;
  }

  /** Calls `visit` with each entry of `dp` from byte `from` (its inum, the block's bytes, the
   *  entry's offset in them and in the directory) until it returns true. */
  private scan(dp: Inode, from: number, visit: (inum: number, buf: Uint8Array, at: number, off: number) => boolean): void {
    const buf = new Uint8Array(BSIZE);
    for (let base = from - (from % BSIZE); base < dp.size; base += BSIZE) {
      const b = this.inodes.bmap(dp, base / BSIZE, false);
      const len = Math.min(BSIZE, dp.size - base);
      if (b === 0) buf.fill(0);
      else this.cache.read(b, 0, buf, 0, len);
      for (let at = Math.max(0, from - base); at + DIRENT_SIZE <= len; at += DIRENT_SIZE) {
        if (visit(buf[at] | (buf[at + 1] << 8), buf, at, base + at)) return;
      }
    }
  }

  // ---- paths --------------------------------------------------------------------------------

  /** The inode `path` names, from `cwd` if it is relative (xv6's namei). */
  resolve(cwd: Inode | null, path: Path): Inode {
    return this.walk(cwd, path, path.names.length);
  }

  /** The directory holding `path`'s last name, and that name (xv6's nameiparent); `name` is null
   *  for a path of no names ("/"), whose `dp` is the directory itself. */
  parent(cwd: Inode | null, path: Path): { dp: Inode; name: Uint8Array | null } {
    const n = path.names.length;
    const dp = this.walk(cwd, path, Math.max(0, n - 1));
    try {
      this.directory(dp);
    } catch (e) {
      this.inodes.put(dp);
      throw e;
    }
    return { dp, name: n > 0 ? path.names[n - 1] : null };
  }

  /** Loads `ip` and checks it is a directory (ENOTDIR). */
  directory(ip: Inode): void {
    this.inodes.load(ip);
    if (ip.type !== T_DIR) throw new FsError(Errno.ENOTDIR, `inode ${ip.inum} is not a directory`);
  }

  /** Follows the first `count` names of `path`. */
  private walk(cwd: Inode | null, path: Path, count: number): Inode {
    if (!path.abs && cwd === null) throw new Error('fs: a relative path with no directory');
    let ip = path.abs ? this.inodes.get(ROOTINO) : this.inodes.dup(cwd!);
    try {
      for (let i = 0; i < count; i++) {
        this.directory(ip);
        const f = this.lookup(ip, path.names[i]);
        if (f === null) throw new FsError(Errno.ENOENT, 'no such file or directory');
        const next = this.inodes.get(f.inum);
        this.inodes.put(ip);
        ip = next;
      }
    } catch (e) {
      this.inodes.put(ip);
      throw e;
    }
    return ip;
  }
}

/** Whether the DIRSIZ-byte name field at `at` of `buf` holds `name` (NUL-padded, or full). */
function sameName(buf: Uint8Array, at: number, name: Uint8Array): boolean {
  for (let i = 0; i < name.length; i++) if (buf[at + i] !== name[i]) return false;
  return name.length === DIRSIZ || buf[at + name.length] === 0;
}

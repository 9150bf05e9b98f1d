// rv6's file-system domain: xv6-riscv's file system (kernel/bio.c, log.c, fs.c and the file-system
// half of sysfile.c) over a BDev, exporting Fs (idl/rv6.ts) to the core domain. Byte-compatible
// with xv6's disk format (src/lib/xv6fs/format.ts).
//
// The layers, bottom up, one file each, as xv6's fs.c names them:
//   bio.ts    the buffer cache: 4 KiB device pages in the exchange heap, xv6's 1 KiB blocks in them
//   log.ts    the log: transactions, undo, group commit, recovery
//   inode.ts  inodes: the table, allocation of inodes and blocks, block maps, reading and writing
//   dir.ts    directories and path names
//   index.ts  (this file) the Fs methods: argument checks, and xv6's create/link/unlink/open
//
// Durability (log.ts has the mechanism):
//   - every call is all-or-nothing, after a crash and in memory alike: a call that fails changes
//     nothing (its transaction is undone: an ENOSPC half-way through a write leaves no block
//     allocated);
//   - after a crash (power loss, or this domain's) the disk holds the effects of a prefix of the
//     calls that returned: at least all of those that returned before the last sync() that
//     returned;
//   - a call that returned is durable after the next commit: at most COMMIT_MS (30 ms) later, sooner
//     when the log fills or on sync(). While a commit fails (the device), it is retried before any
//     further change, and every changing call fails with EIO.
// The exception is a truncation too big for one transaction (O_TRUNC, or freeing an unlinked file,
// when its blocks span more bitmap blocks than one transaction may log; never with xv6's default
// geometry, whose bitmap is one block): it runs as several, each freeing blocks from the end and
// shrinking the inode to match, so a crash in between leaves a shorter file in a consistent file
// system. An unlinked inode whose freeing did not finish (that crash, a crash while it was still
// open, or a put whose transaction failed: the reference goes all the same) has nlink 0 and no
// name; init frees every such inode before it serves a call.
//
// Arguments come from another domain and are checked here: an inode number is the caller's only
// if it references it (open, chdir and dup give references; put gives one back): any other, 0 and
// 2^32-1 included, is EBADF. `cwd` is used (and checked) for relative paths only, so the caller's
// first reference comes from chdir(0, "/"). Failures are negative errnos (abi.ts), never
// exceptions: a corrupt inode or directory is EIO for the calls that touch it; a failed device
// I/O is EIO. The image is checked at init, which is the one failure that throws: a bad
// superblock, or a log header that is not one this code could have written.
//
// Config: { cachePages?: number } — device pages the buffer cache keeps (default NBUF, 256; more if
// the log needs them pinned). The domain's heap quota must hold them (4 KiB each), and its CPU
// budget a commit (two batches of writes, two single writes and four flushes) and init (recovery,
// and a scan of every inode block for orphans): give it the block path's budget (BLOCK_BUDGET_MS).
import type { BDev } from '../../../idl/block.ts';
import type { Fs, FsNode, IoBuf as IoBufT } from '../../../idl/rv6.ts';
import type { Config, Sys } from '../../../idl/lib/sys.ts';
import type { RRef, RpcResult } from '../../../idl/lib/types.ts';
import { IoBuf } from '../../../idl/generated/structs.ts';
import { BLOCK_BYTES } from '../../../lib/block.ts';
import { ok } from '../../../lib/result.ts';
import { Errno, IO_MAX, O, O_ALL } from '../../../lib/rv6/abi.ts';
import {
  NDEV, SUPERBLOCK_SIZE, T_DEVICE, T_DIR, T_FILE, decodeSuperblock, validateSuperblock, type Superblock,
} from '../../../lib/xv6fs/format.ts';
import { Cache, PER_PAGE } from './bio.ts';
import { Dirs, isDots, parsePath, type Path } from './dir.ts';
import { I16_MAX, Inodes, type Inode } from './inode.ts';
import { Log } from './log.ts';
import { FsError, NBUF } from './param.ts';

function cachePages(config: Config): number {
  const c = typeof config === 'object' && config !== null && !Array.isArray(config) ? config as Record<string, Config> : {};
  const n = c.cachePages;
  return typeof n === 'number' && Number.isInteger(n) && n >= 16 && n <= 1 << 16 ? n : NBUF;
}

/** Runs init's step `what`: a device failure (FsError) becomes init's one allowed failure. */
function atInit<T>(what: string, step: () => T): T {
  try {
    return step();
  } catch (e) {
    if (e instanceof FsError) throw new Error(`fs: cannot ${what}: ${e.message}`);
    throw e;
  }
}

/** The superblock, checked against itself and the device. */
function mount(cache: Cache, devicePages: number): Superblock {
  const raw = new Uint8Array(SUPERBLOCK_SIZE);
  atInit('read the superblock', () => cache.read(1, 0, raw));
  const sb = decodeSuperblock(raw);
  const why = validateSuperblock(sb) ?? (sb.size > devicePages * PER_PAGE
    ? `the file system has ${sb.size} blocks; the device holds ${devicePages * PER_PAGE}` : null);
  if (why !== null) throw new Error(`fs: bad superblock: ${why}`);
  return sb;
}

const NO_NODE: FsNode = Object.freeze({ err: 0, inum: 0, type: 0, major: 0, minor: 0, nlink: 0, size: 0 });

function node(ip: Inode): FsNode {
  return { err: 0, inum: ip.inum, type: ip.type, major: ip.major, minor: ip.minor, nlink: ip.nlink, size: ip.size };
}

export function init(sys: Sys, imports: Readonly<Record<string, unknown>>, config: Config): Fs {
  const bdev = imports.bdev as BDev;
  const info = bdev.info();
  if (!info.ok) throw new Error(`fs: the block device did not answer: ${info.error.message}`);
  if (info.value.blockSize !== BLOCK_BYTES) throw new Error(`fs: the block device has ${info.value.blockSize}-byte blocks, not ${BLOCK_BYTES}`);
  const cache = new Cache(sys, bdev, cachePages(config), info.value.blocks);
  const sb = mount(cache, info.value.blocks);
  cache.setSize(sb.size);
  const log = atInit('read the log', () => new Log(sys, cache, sb));
  // Room for the pinned pages: the log's own, and one per block of a full group.
  cache.reserve(Math.ceil(sb.nlog / PER_PAGE) + 1 + log.capacity + 16);
  const replayed = atInit('recover the log', () => log.recover());
  const inodes = new Inodes(cache, log, sb);
  const dirs = new Dirs(inodes, cache);

  // ---- calls and transactions ----------------------------------------------------------------

  /** Runs a call's `body`; an FsError becomes `failed(-errno)`. */
  function attempt<T>(failed: (err: number) => T, body: () => T): T {
    try {
      if (cache.broken) throw new FsError(Errno.EIO, 'the file system lost cached blocks with a driver; restart it');
      return body();
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      if (e.errno === Errno.EIO) sys.log(`fs: ${e.message}`);
      return failed(-e.errno);
    }
  }

  /** Runs `body` as one transaction (log.ts): all of it, or, if it throws, none of it. */
  function transaction<T>(body: () => T): T {
    log.begin();
    try {
      const r = body();
      inodes.reap();
      log.end();
      inodes.settle();
      return r;
    } catch (e) {
      if (e instanceof FsError) {
        log.abort();
        inodes.forget();
      }
      throw e;
    }
  }

  const failNode = (err: number): FsNode => ({ ...NO_NODE, err });
  const failCount = (err: number): number => err;

  /** The caller's inode `inum` (EBADF if it holds no reference to it). */
  function mine(inum: number): Inode {
    const ip = inodes.referenced(inum);
    if (ip === null) throw new FsError(Errno.EBADF, `inode ${inum} is not referenced`);
    return ip;
  }

  /** Where `path` starts: null if absolute, else the caller's directory `cwd`. */
  function start(cwd: number, path: Path): Inode | null {
    return path.abs ? null : mine(cwd);
  }

  /** Runs `use` on a reference to `ip`, then puts it. */
  function holding<T>(ip: Inode, use: (ip: Inode) => T): T {
    try {
      return use(ip);
    } finally {
      inodes.put(ip);
    }
  }

  // ---- xv6's sysfile.c: create, open, link, unlink --------------------------------------------

  /** A new inode of `type` named `path` (xv6's create), referenced. An existing file or device
   *  is returned instead when creating a file (open O_CREATE); anything else existing is EEXIST
   *  (EISDIR for a directory opened with O_CREATE). */
  function create(cwd: number, path: Path, type: number, major: number, minor: number): Inode {
    const { dp, name } = dirs.parent(start(cwd, path), path);
    return holding(dp, () => {
      if (name === null) throw new FsError(type === T_FILE ? Errno.EISDIR : Errno.EEXIST, 'the path names the root');
      if (dp.nlink === 0) throw new FsError(Errno.ENOENT, 'the directory was removed');
      const found = dirs.lookup(dp, name);
      if (found !== null) return existing(inodes.get(found.inum), type);
      if (type === T_DIR && dp.nlink >= I16_MAX) throw new FsError(Errno.EMLINK, 'the directory has too many links');
      const ip = inodes.alloc(type);
      try {
        ip.major = major;
        ip.minor = minor;
        ip.nlink = 1;
        inodes.update(ip);
        if (type === T_DIR) {
          dirs.link(ip, DOT, ip.inum);
          dirs.link(ip, DOTDOT, dp.inum);
          dp.nlink++; // for the new directory's ".."
          inodes.update(dp);
        }
        dirs.link(dp, name, ip.inum);
      } catch (e) {
        inodes.put(ip);
        throw e;
      }
      return ip;
    });
  }

  /** What create does with an existing inode `ip` (referenced) when asked for `type`. */
  function existing(ip: Inode, type: number): Inode {
    try {
      inodes.load(ip);
      if (type === T_FILE && (ip.type === T_FILE || ip.type === T_DEVICE)) return ip;
      throw new FsError(type === T_FILE ? Errno.EISDIR : Errno.EEXIST, 'the name exists');
    } catch (e) {
      inodes.put(ip);
      throw e;
    }
  }

  /** Checks that `ip` (loaded) may be opened with `flags`. */
  function openable(ip: Inode, flags: number): void {
    if (ip.type === T_DIR && (flags & (O.WRONLY | O.RDWR)) !== 0) throw new FsError(Errno.EISDIR, 'a directory opened for writing');
    if (ip.type === T_DEVICE && ip.major >= NDEV) throw new FsError(Errno.ENODEV, `device major ${ip.major}`);
  }

  /** open: the inode `path` names (created, truncated as `flags` say), referenced. */
  function open(cwd: number, path: Path, flags: number): Inode {
    const ip = (flags & O.CREATE) !== 0 ? create(cwd, path, T_FILE, 0, 0) : dirs.resolve(start(cwd, path), path);
    try {
      inodes.load(ip);
      openable(ip, flags);
      if ((flags & O.TRUNC) !== 0 && ip.type === T_FILE && ip.size > 0) inodes.truncate(ip);
    } catch (e) {
      inodes.put(ip);
      throw e;
    }
    return ip;
  }

  /** link: a new name `path` for the file `target`. */
  function link(cwd: number, target: Path, path: Path): void {
    holding(dirs.resolve(start(cwd, target), target), (ip) => {
      inodes.load(ip);
      if (ip.type === T_DIR) throw new FsError(Errno.EPERM, 'a directory cannot be linked');
      if (ip.nlink >= I16_MAX) throw new FsError(Errno.EMLINK, 'the file has too many links');
      ip.nlink++;
      inodes.update(ip);
      const { dp, name } = dirs.parent(start(cwd, path), path);
      holding(dp, () => {
        if (name === null) throw new FsError(Errno.EEXIST, 'the path names the root');
        if (dp.nlink === 0) throw new FsError(Errno.ENOENT, 'the directory was removed');
        dirs.link(dp, name, ip.inum);
      });
    });
  }

  /** unlink: removes the name `path`; the inode goes when its last link and reference do. */
  function unlink(cwd: number, path: Path): void {
    const { dp, name } = dirs.parent(start(cwd, path), path);
    holding(dp, () => {
      if (name === null) throw new FsError(Errno.EBUSY, 'the root cannot be removed');
      if (isDots(name)) throw new FsError(Errno.EINVAL, '"." and ".." cannot be removed');
      const found = dirs.lookup(dp, name);
      if (found === null) throw new FsError(Errno.ENOENT, 'no such file or directory');
      holding(inodes.get(found.inum), (ip) => {
        inodes.load(ip);
        if (ip.nlink < 1) throw new FsError(Errno.EIO, `inode ${ip.inum} has a name but nlink 0`);
        if (ip.type === T_DIR && !dirs.isEmpty(ip)) throw new FsError(Errno.ENOTEMPTY, 'the directory is not empty');
        if (ip.type === T_DIR && dp.nlink < 1) throw new FsError(Errno.EIO, `directory ${dp.inum} has nlink 0`);
        dirs.clear(dp, found.off);
        if (ip.type === T_DIR) {
          dp.nlink--; // its ".." is gone
          inodes.update(dp);
        }
        ip.nlink--;
        inodes.update(ip);
        if (ip.nlink === 0) inodes.markUnlinked(ip);
      });
    });
  }

  // ---- at init: inodes a crash left with no name ----------------------------------------------

  function reclaimOrphans(): number {
    let freed = 0;
    for (const inum of inodes.orphans()) {
      const ok = attempt(() => false, () => transaction(() => {
        const ip = inodes.get(inum);
        inodes.load(ip);
        inodes.markUnlinked(ip);
        inodes.put(ip);
        return true;
      }));
      if (ok) freed++;
    }
    return freed;
  }

  const orphans = attempt(() => 0, reclaimOrphans);
  if (replayed > 0 || orphans > 0) sys.log(`fs: recovered ${replayed} logged blocks, freed ${orphans} orphaned inodes`);

  // ---- the Fs methods -----------------------------------------------------------------------

  return {
    open(cwd: number, path: string, flags: number): RpcResult<FsNode> {
      return ok(attempt(failNode, () => {
        if ((flags & ~O_ALL) !== 0) throw new FsError(Errno.EINVAL, `open flags ${flags}`);
        const p = parsePath(path);
        const changes = (flags & (O.CREATE | O.TRUNC)) !== 0;
        return node(changes ? transaction(() => open(cwd, p, flags)) : open(cwd, p, flags));
      }));
    },

    chdir(cwd: number, path: string): RpcResult<FsNode> {
      return ok(attempt(failNode, () => {
        const p = parsePath(path);
        const ip = dirs.resolve(start(cwd, p), p);
        try {
          dirs.directory(ip);
        } catch (e) {
          inodes.put(ip);
          throw e;
        }
        return node(ip);
      }));
    },

    dup(inum: number): RpcResult<number> {
      return ok(attempt(failCount, () => {
        inodes.dup(mine(inum));
        return 0;
      }));
    },

    put(inum: number): RpcResult<number> {
      return ok(attempt(failCount, () => {
        const ip = mine(inum);
        if (ip.ref > 1 || !ip.unlinked) {
          inodes.put(ip);
          return 0;
        }
        try {
          transaction(() => inodes.put(ip)); // the last reference to an unlinked inode: freed
        } finally {
          inodes.drop(ip); // (if the transaction could not begin: the reference goes all the same)
        }
        return 0;
      }));
    },

    stat(inum: number): RpcResult<FsNode> {
      return ok(attempt(failNode, () => {
        const ip = mine(inum);
        inodes.load(ip);
        return node(ip);
      }));
    },

    read(inum: number, off: number, buf: RRef<IoBufT>, n: number): RpcResult<RRef<IoBufT>> {
      IoBuf.setN(buf, attempt(failCount, () => {
        const ip = mine(inum);
        inodes.load(ip);
        if (ip.type === T_DEVICE) throw new FsError(Errno.EINVAL, 'a device is read through its driver');
        return inodes.readi(ip, off, Math.min(n, IO_MAX), (b, boff, done, m) => {
          if (b === 0) sys.heap.fill(buf, IoBuf.dataOffset + done, 0, m); // a hole
          else cache.copyOut(b, boff, buf, IoBuf.dataOffset + done, m);
        });
      }));
      return ok(buf);
    },

    write(inum: number, off: number, buf: RRef<IoBufT>): RpcResult<RRef<IoBufT>> {
      IoBuf.setN(buf, attempt(failCount, () => {
        const n = IoBuf.n(buf);
        if (n < 0 || n > IO_MAX) throw new FsError(Errno.EINVAL, `writing ${n} bytes (at most ${IO_MAX})`);
        const ip = mine(inum);
        inodes.load(ip);
        if (ip.type === T_DIR) throw new FsError(Errno.EISDIR, 'writing a directory');
        if (ip.type !== T_FILE) throw new FsError(Errno.EINVAL, 'a device is written through its driver');
        if (n === 0) return 0;
        return transaction(() => inodes.writei(ip, off, n, (b, boff, done, m) => log.copyIn(b, boff, buf, IoBuf.dataOffset + done, m)));
      }));
      return ok(buf);
    },

    mknod(cwd: number, path: string, major: number, minor: number): RpcResult<number> {
      return ok(attempt(failCount, () => {
        if (major > I16_MAX || minor > I16_MAX) throw new FsError(Errno.EINVAL, `device ${major},${minor}: at most ${I16_MAX} each`);
        const p = parsePath(path);
        transaction(() => inodes.put(create(cwd, p, T_DEVICE, major, minor)));
        return 0;
      }));
    },

    mkdir(cwd: number, path: string): RpcResult<number> {
      return ok(attempt(failCount, () => {
        const p = parsePath(path);
        transaction(() => inodes.put(create(cwd, p, T_DIR, 0, 0)));
        return 0;
      }));
    },

    link(cwd: number, target: string, path: string): RpcResult<number> {
      return ok(attempt(failCount, () => {
        const t = parsePath(target);
        const p = parsePath(path);
        transaction(() => link(cwd, t, p));
        return 0;
      }));
    },

    unlink(cwd: number, path: string): RpcResult<number> {
      return ok(attempt(failCount, () => {
        const p = parsePath(path);
        transaction(() => unlink(cwd, p));
        return 0;
      }));
    },

    sync(): RpcResult<number> {
      return ok(attempt(failCount, () => {
        log.sync();
        return 0;
      }));
    },
  };
}

const DOT = Uint8Array.of(0x2e);
const DOTDOT = Uint8Array.of(0x2e, 0x2e);

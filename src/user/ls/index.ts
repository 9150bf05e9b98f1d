// ls [PATH…]: xv6 user/ls.c. A file is one line "name type inum size" (name padded to DIRSIZ);
// a directory is one such line per entry, read from the directory's 16-byte entries (2-byte
// little-endian inum, 14-byte NUL-padded name; inum 0 is a free slot) and stat'ed by path.
import { basename, decodeUtf8, DIRSIZ, format, joinPath, O, program, strerror, T, type U } from '../../lib/ulib/ulib.ts';

const DIRENT = 2 + DIRSIZ;

export const init = program(async (u, argv) => {
  const paths = argv.length > 1 ? argv.slice(1) : ['.'];
  let status = 0;
  for (const path of paths) if (!(await ls(u, path))) status = 1;
  return status;
});

/** one line of the listing */
function entry(name: string, type: number, ino: number, size: number): string {
  return format('%-14s %d %d %d\n', [name, type, ino, size]);
}

async function ls(u: U, path: string): Promise<boolean> {
  const fd = await u.open(path, O.RDONLY);
  if (fd < 0) {
    await u.fprintf(2, 'ls: cannot open %s: %s\n', path, strerror(fd));
    return false;
  }
  try {
    const st = await u.fstat(fd);
    if (st.err < 0) {
      await u.fprintf(2, 'ls: cannot stat %s: %s\n', path, strerror(st.err));
      return false;
    }
    if (st.type !== T.DIR) {
      await u.write(1, entry(basename(path), st.type, st.ino, st.size));
      return true;
    }
    return await listDir(u, fd, path);
  } finally {
    await u.close(fd);
  }
}

/** the entries of the directory open as `fd`, one line each */
async function listDir(u: U, fd: number, path: string): Promise<boolean> {
  const data = await u.readAll(fd);
  if (typeof data === 'number') {
    await u.fprintf(2, 'ls: cannot read %s: %s\n', path, strerror(data));
    return false;
  }
  let out = '';
  let ok = true;
  for (let off = 0; off + DIRENT <= data.length; off += DIRENT) {
    const inum = data[off]! | (data[off + 1]! << 8);
    if (inum === 0) continue;
    const name = direntName(data.subarray(off + 2, off + DIRENT));
    const st = await u.stat(joinPath(path, name));
    if (st.err < 0) {
      await u.fprintf(2, 'ls: cannot stat %s: %s\n', joinPath(path, name), strerror(st.err));
      ok = false;
      continue;
    }
    out += entry(name, st.type, st.ino, st.size);
  }
  await u.write(1, out);
  return ok;
}

function direntName(raw: Uint8Array): string {
  const nul = raw.indexOf(0);
  return decodeUtf8(nul < 0 ? raw : raw.subarray(0, nul));
}

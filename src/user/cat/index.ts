// cat [FILE…]: xv6 user/cat.c. Copies each file (standard input if none) to standard output.
import { Errno, O, program, strerror, type U } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  if (argv.length <= 1) return (await cat(u, 0, 'standard input')) ? 0 : 1;
  let status = 0;
  for (const path of argv.slice(1)) {
    const fd = await u.open(path, O.RDONLY);
    if (fd < 0) {
      await u.fprintf(2, 'cat: cannot open %s: %s\n', path, strerror(fd));
      status = 1;
      continue;
    }
    const ok = await cat(u, fd, path);
    await u.close(fd);
    if (!ok) return 1;
  }
  return status;
});

/** copies `fd` to standard output; false (reported) if a read or write failed */
async function cat(u: U, fd: number, name: string): Promise<boolean> {
  for (;;) {
    const data = await u.read(fd);
    if (typeof data === 'number') {
      await u.fprintf(2, 'cat: cannot read %s: %s\n', name, strerror(data));
      return false;
    }
    if (data.length === 0) return true;
    const n = await u.write(1, data);
    if (n !== data.length) {
      // a reader that went away (EPIPE) is the normal end of `cat f | …`: Unix's SIGPIPE is silent
      if (n !== -Errno.EPIPE) await u.fprintf(2, 'cat: write error: %s\n', strerror(n < 0 ? n : -Errno.EIO));
      return false;
    }
  }
}

// grep PATTERN [FILE…]: xv6 user/grep.c. Prints the lines (of standard input if no file) that
// PATTERN matches (match.ts: ^ $ . *).
import { O, program, strerror, type U } from '../../lib/ulib/ulib.ts';
import { match } from './match.ts';

export const init = program(async (u, argv) => {
  if (argv.length < 2) {
    await u.write(2, 'usage: grep pattern [file ...]\n');
    return 1;
  }
  const pattern = argv[1]!;
  if (argv.length === 2) return (await grep(u, pattern, 0, 'standard input')) ? 0 : 1;
  let status = 0;
  for (const path of argv.slice(2)) {
    const fd = await u.open(path, O.RDONLY);
    if (fd < 0) {
      await u.fprintf(2, 'grep: cannot open %s: %s\n', path, strerror(fd));
      status = 1;
      continue;
    }
    if (!(await grep(u, pattern, fd, path))) status = 1;
    await u.close(fd);
  }
  return status;
});

/** prints the matching lines of `fd`; false (reported) if a read or write failed */
async function grep(u: U, pattern: string, fd: number, name: string): Promise<boolean> {
  const input = u.lines(fd);
  for (;;) {
    const line = await input.next();
    if (line === null) return true;
    if (typeof line === 'number') {
      await u.fprintf(2, 'grep: cannot read %s: %s\n', name, strerror(line));
      return false;
    }
    const text = line.endsWith('\n') ? line.slice(0, -1) : line;
    if (match(pattern, text) && (await u.write(1, `${text}\n`)) < 0) return false;
  }
}

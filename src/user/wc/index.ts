// wc [FILE…]: xv6 user/wc.c. Prints "lines words bytes name" for each file (standard input, with
// an empty name, if none). A word is a run of bytes other than space, \t, \n, \v and \r.
import { O, program, strerror, type U } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  if (argv.length <= 1) return (await wc(u, 0, '')) ? 0 : 1;
  let status = 0;
  for (const path of argv.slice(1)) {
    const fd = await u.open(path, O.RDONLY);
    if (fd < 0) {
      await u.fprintf(2, 'wc: cannot open %s: %s\n', path, strerror(fd));
      status = 1;
      continue;
    }
    if (!(await wc(u, fd, path))) status = 1;
    await u.close(fd);
  }
  return status;
});

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0b || b === 0x0d;
}

async function wc(u: U, fd: number, name: string): Promise<boolean> {
  let lines = 0;
  let words = 0;
  let bytes = 0;
  let inWord = false;
  for (;;) {
    const data = await u.read(fd);
    if (typeof data === 'number') {
      await u.fprintf(2, 'wc: cannot read %s: %s\n', name === '' ? 'standard input' : name, strerror(data));
      return false;
    }
    if (data.length === 0) break;
    bytes += data.length;
    for (const b of data) {
      if (b === 0x0a) lines++;
      if (isSpace(b)) inWord = false;
      else if (!inWord) {
        words++;
        inWord = true;
      }
    }
  }
  await u.printf('%d %d %d %s\n', lines, words, bytes, name);
  return true;
}

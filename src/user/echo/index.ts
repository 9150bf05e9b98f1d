// echo [ARG…]: xv6 user/echo.c. Writes its arguments, separated by spaces, and a newline.
import { program, strerror } from '../../lib/ulib/ulib.ts';

export const init = program(async (u, argv) => {
  const line = `${argv.slice(1).join(' ')}\n`;
  const n = await u.write(1, line);
  if (n >= 0) return 0;
  await u.fprintf(2, 'echo: write error: %s\n', strerror(n));
  return 1;
});

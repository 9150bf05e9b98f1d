// ps: the process table (u.ps), one line per process under a header.
import { program } from '../../lib/ulib/ulib.ts';

export const init = program(async (u) => {
  const table = await u.ps();
  const body = table === '' || table.endsWith('\n') ? table : `${table}\n`;
  return (await u.write(1, `PID PPID STATE NAME\n${body}`)) < 0 ? 1 : 0;
});

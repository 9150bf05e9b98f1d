// sh: the shell (xv6 user/sh.c). Reads a line, parses it (parse.ts), runs its jobs in order.
//
// There is no fork: each command is spawned with the descriptors it gets (a pipe's ends, a
// redirected file, or ours), and the shell closes its copies. A foreground job is made the
// terminal's (u.fg, so ^C kills it) and waited for until every pid of it has come back; wait may
// return a background job that ended meanwhile, and that is remembered for the `wait` builtin
// (which makes the jobs it waits for the terminal's: ^C kills them rather than stopping the wait).
//
//   sh              reads standard input, printing "$ " before each line (to fd 2, as xv6)
//   sh FILE         runs the lines of FILE
//   sh -c LINE      runs LINE
//
// Builtins: cd [DIR], exit [N], wait [PID…], history; `!!` and `!N` re-run an earlier line
// (printed first). The up and down arrows are the console's: its line editor recalls the lines
// typed on the terminal (src/domains/rv6/console), and hands the shell whole cooked lines.
import { atoi, Errno, O, O_APPEND, program, strerror, type U } from '../../lib/ulib/ulib.ts';
import { expandHistory, parse, type Command, type Job } from './parse.ts';

/** exit status of a command that could not be run (bash's) */
const NOT_FOUND = 127;
const CANNOT_RUN = 126;

export const init = program(async (u, argv) => {
  const sh = new Shell(u);
  if (argv[1] === '-c') return sh.runScript(argv.slice(2).join(' '));
  if (argv[1] !== undefined) return sh.runFile(argv[1]);
  return sh.interactive(0);
});

class Shell {
  /** the lines run so far, expanded (history, !N) */
  private readonly history: string[] = [];
  /** background jobs' pids not reaped yet */
  private readonly background = new Set<number>();
  /** background jobs reaped while we waited for others, by pid: their status (for `wait PID`) */
  private readonly ended = new Map<number, number>();
  /** status of the last job */
  private status = 0;
  /** set by the exit builtin */
  private exitStatus: number | null = null;

  constructor(private readonly u: U) {}

  /** Reads lines from `fd` with a prompt before each; 0 at end of input. */
  async interactive(fd: number): Promise<number> {
    const input = this.u.lines(fd);
    for (;;) {
      await this.u.write(2, '$ ');
      const line = await input.next();
      if (line === null) return 0;
      if (typeof line === 'number') {
        await this.u.perror('sh: read', line);
        return 1;
      }
      await this.runLine(chomp(line), true);
      if (this.exitStatus !== null) return this.exitStatus;
    }
  }

  /** sh FILE: its lines, no prompt; the status of the last job. */
  async runFile(path: string): Promise<number> {
    const fd = await this.u.open(path, O.RDONLY);
    if (fd < 0) {
      await this.u.fprintf(2, 'sh: %s: %s\n', path, strerror(fd));
      return NOT_FOUND;
    }
    const input = this.u.lines(fd);
    for (;;) {
      const line = await input.next();
      if (line === null || typeof line === 'number') break;
      await this.runLine(chomp(line), false);
      if (this.exitStatus !== null) return this.exitStatus;
    }
    await this.u.close(fd);
    return this.status;
  }

  /** sh -c: each line of `text`; the status of the last job. */
  async runScript(text: string): Promise<number> {
    for (const line of text.split('\n')) {
      await this.runLine(line, false);
      if (this.exitStatus !== null) return this.exitStatus;
    }
    return this.status;
  }

  /** Expands history references, remembers the line, parses it and runs its jobs. */
  private async runLine(raw: string, remember: boolean): Promise<void> {
    let line = raw;
    if (remember) {
      const x = expandHistory(raw, this.history);
      if (!x.ok) {
        await this.u.fprintf(2, 'sh: %s\n', x.error);
        this.status = 1;
        return;
      }
      line = x.line;
      if (x.changed) await this.u.write(1, `${line}\n`);
      if (line.trim() !== '') this.history.push(line);
    }
    const p = parse(line);
    if (!p.ok) {
      await this.u.fprintf(2, 'sh: %s\n', p.error);
      this.status = 2;
      return;
    }
    for (const job of p.jobs) {
      await this.runJob(job);
      if (this.exitStatus !== null) return;
    }
  }

  private async runJob(job: Job): Promise<void> {
    const builtin = job.cmds.find(isBuiltin);
    if (builtin !== undefined) {
      if (job.cmds.length === 1 && !job.background) this.status = await this.builtin(builtin);
      else {
        await this.u.fprintf(2, 'sh: %s: a builtin runs only on its own, not in a pipeline or with &\n', builtin.argv[0]);
        this.status = 2;
      }
      return;
    }
    const pids = await this.spawnAll(job.cmds);
    if (job.background) {
      for (const pid of pids) if (pid > 0) this.background.add(pid);
      return;
    }
    const last = pids[pids.length - 1]!;
    const statuses = await this.waitFor(pids.filter((p) => p > 0));
    this.status = last > 0 ? statuses.get(last) ?? 0 : -last;
  }

  // ---- running programs ----------------------------------------------------------------------

  /**
   * Spawns each command of a pipeline, wired by pipes, and closes the shell's copies of the ends.
   * A command that cannot start is reported and stands as -status in the result (its neighbours
   * then see end of file or a broken pipe, as after a crash).
   */
  private async spawnAll(cmds: readonly Command[]): Promise<number[]> {
    const pids: number[] = [];
    let input = 0; // the read end of the previous pipe, or our standard input
    for (let i = 0; i < cmds.length; i++) {
      let output = 1;
      let readEnd = -1;
      if (i < cmds.length - 1) {
        const p = await this.u.pipe();
        if (typeof p === 'number') {
          await this.u.fprintf(2, 'sh: pipe: %s\n', strerror(p));
          pids.push(-CANNOT_RUN);
          break;
        }
        [readEnd, output] = p;
      }
      pids.push(await this.spawnOne(cmds[i]!, input, output));
      if (input !== 0) await this.u.close(input);
      if (output !== 1) await this.u.close(output);
      input = readEnd;
    }
    if (input > 0) await this.u.close(input);
    return pids;
  }

  /** Spawns one command with standard input and output `input`, `output` unless redirected; its
   *  pid, 0 if there was nothing to run, or -status if it could not start. */
  private async spawnOne(cmd: Command, input: number, output: number): Promise<number> {
    const fds = await this.redirect(cmd, input, output);
    if (fds === null) return -1;
    // only redirections (`> f`): the files are made, nothing runs
    const pid = cmd.argv.length === 0 ? 0 : await this.spawnProgram(cmd.argv, [fds.input, fds.output, 2]);
    await this.closeOpened(fds.opened);
    return pid;
  }

  /** Looks the program up (a name with '/' as given, else in /) and spawns it; -status if it could not. */
  private async spawnProgram(argv: readonly string[], fds: readonly number[]): Promise<number> {
    const name = argv[0]!;
    const path = name.includes('/') ? name : `/${name}`;
    const pid = await this.u.spawn(path, argv, fds);
    if (pid >= 0) return pid;
    if (pid === -Errno.ENOENT && !name.includes('/')) {
      await this.u.fprintf(2, 'sh: %s: command not found\n', name);
      return -NOT_FOUND;
    }
    const why = pid === -Errno.ENOEXEC ? await this.u.why() : '';
    await this.u.fprintf(2, 'sh: %s: %s\n', name, why !== '' ? why : strerror(pid));
    return pid === -Errno.ENOENT ? -NOT_FOUND : -CANNOT_RUN;
  }

  /**
   * Opens a command's redirections in order (the last of each direction wins); null, with the
   * error printed and everything it opened closed, if one fails.
   */
  private async redirect(cmd: Command, input: number, output: number): Promise<{ input: number; output: number; opened: number[] } | null> {
    const opened: number[] = [];
    for (const r of cmd.redirs) {
      const flags = r.op === '<' ? O.RDONLY : r.op === '>' ? O.CREATE | O.TRUNC | O.WRONLY : O.CREATE | O.WRONLY | O_APPEND;
      const fd = await this.u.open(r.file, flags);
      if (fd < 0) {
        await this.u.fprintf(2, 'sh: %s: %s\n', r.file, strerror(fd));
        await this.closeOpened(opened);
        return null;
      }
      opened.push(fd);
      if (r.op === '<') input = fd;
      else output = fd;
    }
    return { input, output, opened };
  }

  private async closeOpened(fds: readonly number[]): Promise<void> {
    for (const fd of fds) await this.u.close(fd);
  }

  /**
   * Makes `pids` the terminal's foreground job (^C kills them), waits until each has ended and
   * returns their statuses; background jobs that end meanwhile are remembered in `ended`.
   */
  private async waitFor(pids: readonly number[]): Promise<Map<number, number>> {
    const statuses = new Map<number, number>();
    if (pids.length === 0) return statuses;
    for (const pid of pids) await this.u.fg(pid);
    const pending = new Set(pids);
    while (pending.size > 0) {
      const w = await this.u.wait();
      if (w.pid < 0) break; // no children left
      this.background.delete(w.pid);
      if (pending.delete(w.pid)) statuses.set(w.pid, w.status);
      else this.remember(w.pid, w.status);
    }
    await this.u.fg(0);
    return statuses;
  }

  private remember(pid: number, status: number): void {
    if (this.ended.size >= 64) this.ended.clear(); // nobody asked for them: forget
    this.ended.set(pid, status);
  }

  // ---- builtins ----------------------------------------------------------------------------------

  private async builtin(cmd: Command): Promise<number> {
    const fds = await this.redirect(cmd, 0, 1);
    if (fds === null) return 1;
    const [name, ...args] = cmd.argv;
    let status = 0;
    switch (name) {
      case 'cd': status = await this.cd(args[0] ?? '/'); break;
      case 'exit': this.exitStatus = args[0] !== undefined ? atoi(args[0]) : 0; break;
      case 'history': status = await this.listHistory(fds.output); break;
      case 'wait': status = await this.waitBuiltin(args); break;
    }
    await this.closeOpened(fds.opened);
    return status;
  }

  private async cd(dir: string): Promise<number> {
    const r = await this.u.chdir(dir);
    if (r >= 0) return 0;
    await this.u.fprintf(2, 'cd: %s: %s\n', dir, strerror(r));
    return 1;
  }

  private async listHistory(fd: number): Promise<number> {
    let out = '';
    this.history.forEach((line, i) => { out += `${String(i + 1).padStart(5)}  ${line}\n`; });
    return (await this.u.write(fd, out)) < 0 ? 1 : 0;
  }

  /** wait: until every background job has ended; wait PID…: until those have (the last's status). */
  private async waitBuiltin(args: readonly string[]): Promise<number> {
    const pids = args.length === 0 ? [...this.background] : args.map(atoi);
    const statuses = await this.waitFor(pids.filter((p) => this.background.has(p)));
    if (args.length === 0) {
      this.ended.clear();
      return 0;
    }
    let status = 0;
    for (const p of pids) {
      const s = statuses.get(p) ?? this.ended.get(p);
      this.ended.delete(p);
      if (s === undefined) {
        await this.u.fprintf(2, 'sh: wait: %d: not a job of this shell\n', p);
        status = NOT_FOUND;
      } else {
        status = s;
      }
    }
    return status;
  }
}

const BUILTINS: readonly string[] = ['cd', 'exit', 'history', 'wait'];

function isBuiltin(cmd: Command): boolean {
  const name = cmd.argv[0];
  return name !== undefined && BUILTINS.includes(name);
}

/** the line without its "\n" (and a "\r" before it) */
function chomp(line: string): string {
  return line.replace(/\r?\n$/, '');
}

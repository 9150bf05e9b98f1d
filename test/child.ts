// Runs a snippet of ES module code in a child Node process (with tsx), for tests that must watch a
// whole process: whether it exits by itself (no thread or timer left running) or has to be killed.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Resolves with `exit <code>`, or the signal if it was still running after `killAfterMs`. */
export function runModule(code: string, killAfterMs: number): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: 'inherit' });
    const t = setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    p.on('exit', (c, sig) => { clearTimeout(t); resolve(sig ?? `exit ${c}`); });
  });
}

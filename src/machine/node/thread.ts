// Device threads: how Frond's device models (nvme.ts, timer.ts) run on worker threads of their own.
//
// A device's worker runs plain JavaScript assembled here from the layout file's constants (as
// JSON) and functions (their source text: shipped functions may use only each other and those
// constants), so a layout has one definition, shared by the device and its drivers. The worker
// gets no flags of the parent's (execArgv: []): it needs no loader, and --input-type=module would
// make its CommonJS source fail. It is not unref'd: a running device keeps the process alive, like
// an open server, until stop() terminates it and the thread has exited.
import { Worker } from 'node:worker_threads';

/**
 * The worker's source: `const NAME = <json>;` for each constant, `const NAME = <source>;` for each
 * shipped function, the loop. Functions are named by their keys (object shorthand keeps the source
 * name), not by `fn.name`: a bundler may rename a function whose name another module also uses;
 * such a function is given its new name too, since the other shipped functions' bodies, renamed
 * alike, call it by that name.
 */
export function threadSource(constants: Readonly<Record<string, unknown>>, shipped: Readonly<Record<string, (...a: never[]) => unknown>>, loop: string): string {
  const consts = Object.entries(constants).map(([k, v]) => `const ${k} = ${JSON.stringify(v)};`);
  const fns = Object.entries(shipped).flatMap(([k, f]) => [
    `const ${k} = ${String(f)};`,
    ...(f.name !== k && /^[A-Za-z_$][\w$]*$/.test(f.name) && !Object.hasOwn(shipped, f.name) ? [`const ${f.name} = ${k};`] : []),
  ]);
  return [...consts, ...fns, loop].join('\n');
}

export interface DeviceThread {
  readonly worker: Worker;
  /** the error the thread died of, if it did */
  readonly error: Error | null;
  /** resolves once the thread has exited */
  readonly exited: Promise<void>;
  /** terminates the thread (if still running) and waits until it has exited */
  stop(): Promise<void>;
}

export function startThread(source: string, workerData: unknown, onError?: (e: Error) => void): DeviceThread {
  const worker = new Worker(source, { eval: true, execArgv: [], workerData });
  let error: Error | null = null;
  let done = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => { done = true; resolve(); }));
  worker.on('error', (e) => {
    error = e instanceof Error ? e : new Error(String(e));
    onError?.(error);
  });
  return {
    worker,
    get error() { return error; },
    exited,
    stop: async () => {
      if (!done) await worker.terminate();
      await exited;
    },
  };
}

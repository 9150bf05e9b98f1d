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

// ---- mutation testing ------------------------------------------------------------------------------

/** The helpers StrykerJS's instrumented code calls (stryNS_<id>, stryCov_<id>, stryMutAct_<id>). */
const STRYKER_HELPER = /\bstry(?:NS|Cov|MutAct)_([0-9a-f]+)\b/;

/**
 * Under mutation testing (FROND_MUTATION=1: npm run mutate, README "Mutation testing"), a shipped
 * function StrykerJS instrumented calls helpers that live in its own module, not in the worker:
 * without stand-ins it throws a ReferenceError, and the device fails every command. The stand-ins
 * switch on the mutant under test (the worker inherits process.env) and send each mutant the
 * worker reaches to the parent once, which counts it as reached by the test file running
 * (startThread), as if it ran there. Nothing is added to any other source.
 */
function mutationPrelude(source: string): string {
  const helper = process.env.FROND_MUTATION === '1' ? STRYKER_HELPER.exec(source) : null;
  if (helper === null) return '';
  const id = helper[1]!;
  return `const __strykerActive = process.env.__STRYKER_ACTIVE_MUTANT__;
const __strykerSeen = new Set();
function stryNS_${id}() { return {}; }
function stryCov_${id}(...ids) {
  for (const m of ids) if (!__strykerSeen.has(m)) { __strykerSeen.add(m); require('node:worker_threads').parentPort.postMessage({ strykerCovered: m }); }
}
function stryMutAct_${id}(m) { return m === __strykerActive; }
`;
}

/** Counts a mutant a device thread reached in this process's StrykerJS namespace (see mutationPrelude). */
function countCovered(message: unknown): void {
  const ns = (globalThis as { __stryker__?: { mutantCoverage?: { static: Record<string, number>; perTest: Record<string, unknown> } } }).__stryker__;
  const m = (message as { strykerCovered?: unknown } | null)?.strykerCovered;
  if (ns === undefined || typeof m !== 'string') return;
  const cov = (ns.mutantCoverage ??= { static: {}, perTest: {} }).static;
  cov[m] = (cov[m] ?? 0) + 1;
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
  const prelude = mutationPrelude(source);
  const worker = new Worker(prelude + source, { eval: true, execArgv: [], workerData });
  if (prelude !== '') worker.on('message', countCovered);
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

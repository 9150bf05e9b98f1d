// Hardens the JavaScript realm once, before any domain code exists (SES lockdown).
//
// After this, every shared intrinsic (Object.prototype, Array.prototype, Promise, Function, ...)
// is frozen, the Function constructor and eval reachable from shared intrinsics are inert, and
// Date.now / Math.random throw outside the start compartment's own globals. Errors keep their
// stacks (errorTaming 'unsafe') so crash reports can name TypeScript file:line. SES installs no
// process-wide error listeners of its own (errorTrapping, unhandledRejectionTrapping 'none'): the
// kernel's host decides what an uncaught error is (machine/node/host.ts).
import 'ses';

let done = false;

export function ensureLockdown(): void {
  if (done) return;
  if (!Object.isFrozen(Array.prototype)) {
    lockdown({
      errorTaming: 'unsafe',
      stackFiltering: 'verbose',
      overrideTaming: 'severe',
      consoleTaming: 'unsafe',
      evalTaming: 'safe-eval',
      localeTaming: 'safe',
      errorTrapping: 'none',
      unhandledRejectionTrapping: 'none',
    } as Parameters<typeof lockdown>[0]);
  }
  done = true;
}

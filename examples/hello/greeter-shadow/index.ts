// A shadow for the greeter (docs/guide.md, step 5): it creates the greeter and, when a call fails
// because the greeter crashed, creates a new one and retries the call, so its callers never see
// the crash. It must be created privileged (it creates domains).
import type { Greeter } from '../../../src/idl/examples.ts';
import type { Config, Sys } from '../../../src/idl/lib/sys.ts';
import { Shadow } from '../../../src/idl/lib/shadow.ts';
import { shadowGreeter } from '../../../src/idl/generated/shadows.ts';

export function init(sys: Sys, _imports: unknown, _config: Config): Greeter {
  const domains = sys.domains;
  if (!domains) throw new Error('hello-greeter-shadow must be created privileged');
  const shadow = new Shadow<Greeter>({
    create: () => domains.create<Greeter>('hello-greeter'),
    onRestart: (e, n) => sys.log(`restarted the greeter (${n}) after: ${e.message}`),
  });
  return shadowGreeter(shadow);
}

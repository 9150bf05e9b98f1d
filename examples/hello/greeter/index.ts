// The greeter domain of examples/hello (docs/guide.md, step 2). It has a bug on purpose: every
// third greeting throws. The exception escapes into the kernel, which crashes this domain alone;
// its caller gets an RpcError value, and everything else goes on.
import type { Greeter } from '../../../src/idl/examples.ts';
import type { Config, Sys } from '../../../src/idl/lib/sys.ts';
import { ok } from '../../../src/lib/result.ts';

export function init(sys: Sys, _imports: unknown, _config: Config): Greeter {
  let greeted = 0;
  return {
    greet(name) {
      if (greeted === 2) throw new Error(`the greeter tripped over ${name}`);
      greeted++;
      console.log(`greeting ${name} (${sys.self.name}#${sys.self.id})`);
      return ok(`Hello, ${name}!`);
    },
    count: () => ok(greeted),
  };
}

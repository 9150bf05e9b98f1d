// The language-tax domain: the hash-table workload of hashtable.ts behind the TaxBench interface,
// so bench/tax.ts can time the same code inside a domain, metered and not, against plain TS.
import type { TaxBench } from '../../../src/idl/bench.ts';
import type { Config, Sys } from '../../../src/idl/lib/sys.ts';
import { fail, ok } from '../../../src/lib/result.ts';
import { Workload } from './hashtable.ts';

export function init(_sys: Sys, _imports: unknown, _config: Config): TaxBench {
  let w: Workload | null = null;
  return {
    prepare(log2, seed) {
      w = new Workload(log2, seed);
      return ok(undefined);
    },
    run(ops) {
      if (w === null) return fail('failed', 'bench-tax', 'prepare first');
      return ok(w.run(ops));
    },
  };
}

// A shadow for any domain exporting Counter (config { target: '<bundle>' }): it creates the
// target, hands it this shadow's own imports, and re-creates it whenever it crashes, retrying the
// call, so its callers never see the crash (RedLeaf §4.4).
import type { Counter } from '../../../idl/demo.ts';
import type { Config, Sys } from '../../../idl/lib/sys.ts';
import { Shadow } from '../../../idl/lib/shadow.ts';
import { shadowCounter } from '../../../idl/generated/shadows.ts';

export function init(sys: Sys, imports: Readonly<Record<string, unknown>>, config: Config): Counter {
  const target = typeof config === 'object' && config !== null && !Array.isArray(config) ? (config as Record<string, Config>).target : null;
  if (typeof target !== 'string') throw new Error('counter-shadow: config.target must name a bundle');
  const domains = sys.domains;
  if (!domains) throw new Error('counter-shadow: needs the privileged domains capability');
  const shadow = new Shadow<Counter>({
    create: () => domains.create<Counter>(target, imports),
    maxRetries: 4,
  });
  return shadowCounter(shadow);
}

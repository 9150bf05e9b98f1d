// A fault plan: tells a flaky driver when to crash. Config { period: n } answers "crash" on every
// n-th question (0: never), so period 2 crashes every other call: each retry after a restart
// succeeds, and the next call crashes again.
import type { FaultPlan } from '../../../idl/demo.ts';
import type { Config, Sys } from '../../../idl/lib/sys.ts';
import { ok } from '../../../lib/result.ts';

export function init(_sys: Sys, _imports: unknown, config: Config): FaultPlan {
  const period = typeof config === 'object' && config !== null && !Array.isArray(config) && typeof (config as Record<string, Config>).period === 'number'
    ? (config as Record<string, number>).period
    : 0;
  let asked = 0;
  return {
    crashNow: () => ok(period > 0 && ++asked % period === 1 % period),
  };
}

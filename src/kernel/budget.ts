// CPU budgets: a domain may not run longer than its budget without yielding.
//
// The trusted build (tools/build/meter.ts) puts `if (--fuel < 0) fuel = tick();` at every function
// entry and loop back-edge of a domain, with `fuel` a variable in the bundle's own closure, and
// `live()` at the start of every catch and finally block. `tick` is the only place that reads the
// clock (once per FUEL checks). It measures how long the domain's current run has lasted:
//
//   - inside a call (the domain is on top of the kernel's domain stack): since the first tick of
//     this activation; every entry into a domain starts a new activation (Rpc.enter/run reset the
//     level's start), so a caller that loops over many short calls is charged, not its callees;
//   - outside any call (an async continuation run from the microtask queue): since the domain's
//     first tick in this turn of the event loop. A turn ends when a timer the kernel sets on the
//     first such tick fires, which it cannot do while anything keeps the microtask queue busy.
//
// A run over budget is a runtime violation: the domain is crashed (contained and cleaned up like
// any crash) and the tick throws the kernel's DomainAbort. The domain cannot swallow it: the
// abort leaves `fuel` negative, so its next check ticks again and throws again, and every catch or
// finally block re-throws first thing. Native code (one huge `'x'.repeat(n)`, a catastrophic
// regular expression) has no checks; a worker-isolated domain is the answer to that (SECURITY.md).
import type { Domain, MeterHooks } from './domain.ts';
import type { Host } from '../machine/common/host.ts';
import { DomainAbort, type Rpc } from './rpc.ts';

/** Checks between two clock reads. */
export const FUEL = 1000;
/** The budget a domain gets when its creator names none. */
export const DEFAULT_BUDGET_MS = 50;

/** Why a domain that ran too long was crashed. */
export class BudgetExceeded extends Error {
  override name = 'BudgetExceeded';
}

export interface BudgetHost {
  readonly host: Host;
  readonly rpc: Rpc;
  crash(d: Domain, cause: string, e: unknown): void;
}

export class Budgets {
  private epoch = 0;
  private turnTimer = false;

  constructor(private readonly k: BudgetHost) {}

  /** The meter hooks handed to one domain instance's code. */
  hooks(d: Domain): MeterHooks {
    return harden({
      tick: (): number => this.tick(d),
      live: (): void => {
        if (!d.alive) throw new DomainAbort(`domain ${d.name} is dead`);
      },
    });
  }

  private tick(d: Domain): number {
    if (!d.alive) throw new DomainAbort(`domain ${d.name} is dead`);
    const now = this.k.host.now();
    const rpc = this.k.rpc;
    let start: number;
    if (rpc.current() === d.id) {
      start = rpc.runStart(now);
    } else {
      if (d.looseEpoch !== this.epoch) {
        d.looseEpoch = this.epoch;
        d.looseStart = now;
        this.watchTurn();
      }
      start = d.looseStart;
    }
    const ran = now - start;
    if (ran > d.args.budgetMs) {
      this.k.crash(d, 'runtime violation', new BudgetExceeded(
        `CPU budget exceeded: ran ${Math.round(ran)} ms without yielding (budget ${d.args.budgetMs} ms)`));
      throw new DomainAbort(`domain ${d.name} ran out of CPU budget`);
    }
    return FUEL;
  }

  /** Ends the current turn when the event loop next runs a timer. */
  private watchTurn(): void {
    if (this.turnTimer) return;
    this.turnTimer = true;
    this.k.host.setTimer(0, () => {
      this.turnTimer = false;
      this.epoch++;
    });
  }
}

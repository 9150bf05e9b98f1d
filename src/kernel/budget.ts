// CPU budgets: a domain may not run longer than its budget without yielding.
//
// Preemption works as on a machine with a timer interrupt and safe points. The host's preemption
// timer (machine/common/host.ts) raises a shared "interrupt pending" word every millisecond from
// another thread. The trusted build (tools/build/meter.ts) puts `if (pending.getInt32(0)) tick();`
// at every function entry and loop back-edge of a domain, and `live()` at the start of
// every catch and finally block. So the tick runs about once per timer period while a domain
// computes, and never in between; it acknowledges the word and reads the clock. (The timer stops
// while nobody acknowledges, so an idle system takes no interrupts; the word stays raised, so the
// first check after that ticks at once.) It measures how long the domain's current run has lasted:
//
//   - inside a call (the domain is on top of the kernel's domain stack): since the first tick of
//     this activation; every entry into a domain starts a new activation (Rpc.enter/run reset the
//     level's start), so a caller that loops over many short calls is charged, not its callees;
//   - outside any call (an async continuation run from the microtask queue): since the domain's
//     first tick in this turn of the event loop. A turn ends when a timer the kernel sets on the
//     first such tick fires, which it cannot do while anything keeps the microtask queue busy.
//
// A run is caught between budget and budget + two periods: the first tick only starts the clock.
//
// Why a shared word and not a counter in the domain: the check on the hot path is one load and a
// branch, with no store, and the call behind it is rare. A counter decremented at every check (the
// first design) cost a context-slot store per loop iteration and a call every thousand checks; on
// the language-tax hash table it made lookups up to 1.33x slower than plain code, the word
// 1.1-1.26x across runs (tools/build/meter.ts).
//
// A run over budget is a runtime violation: the domain is crashed (contained and cleaned up like
// any crash) and the tick throws the kernel's DomainAbort. The domain cannot swallow it: the tick
// leaves the word raised when it aborts (and the kernel raises it whenever a domain dies), and a
// dead domain's tick throws again, so its next check aborts it again; every catch or finally block
// re-throws first thing. Native code (one huge `'x'.repeat(n)`, a catastrophic regular expression)
// has no checks; a worker-isolated domain is the answer to that (SECURITY.md).
import type { Domain, MeterHooks } from './domain.ts';
import type { Host, PreemptTimer } from '../machine/common/host.ts';
import { DomainAbort, type Rpc } from './rpc.ts';

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
  private readonly timer: PreemptTimer;

  constructor(private readonly k: BudgetHost) {
    this.timer = k.host.preemptTimer();
  }

  /** The meter hooks handed to one domain instance's code. */
  hooks(d: Domain): MeterHooks {
    return harden({
      pending: this.timer.pending,
      tick: (): void => this.tick(d),
      live: (): void => {
        if (!d.alive) throw new DomainAbort(`domain ${d.name} is dead`);
      },
    });
  }

  /** Raises the interrupt word, so whatever domain code runs next ticks at its next check (a domain
   *  that has just died is aborted there). */
  raise(): void {
    this.timer.pending.setInt32(0, 1);
  }

  private tick(d: Domain): void {
    if (!d.alive) throw new DomainAbort(`domain ${d.name} is dead`); // the word stays raised
    this.timer.acknowledge();
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
      this.raise();
      throw new DomainAbort(`domain ${d.name} ran out of CPU budget`);
    }
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

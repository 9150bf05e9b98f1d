// CPU budgets: a domain may not run longer than its budget without yielding, and it may not keep
// the event loop from turning.
//
// Preemption works as on a machine with a timer interrupt and safe points. The host's preemption
// timer (machine/common/host.ts) raises a shared "interrupt pending" word every millisecond from
// another thread. The trusted build (tools/domainc/meter.ts) puts `if (pending.getInt32(0)) tick();`
// at every function entry and loop back-edge of a domain (and wherever else its argument needs
// one), and `live()` at the start of every catch and finally block. So the tick runs about once per
// timer period while domain code computes, and never in between. (The timer stops while nobody
// acknowledges, so an idle system takes no interrupts; the word stays raised, so the first check
// after that ticks at once.)
//
// Charging. Each tick samples the running domain, as a scheduler's clock tick does: the time since
// the previous tick is charged to what runs now. While domain code runs, ticks come a period
// apart, so the gap is exact (however long a native call in between took, and however late the
// timer thread was). A gap longer than SLACK_MS means domain code was not running throughout (the
// host or the event loop ran, or nothing did): such a tick charges one period, no more.
//
// What a charge counts towards (rpc.ts keeps the domain stack; each level is an activation):
//
//   run      the ticking domain's own time since its outermost activation on the stack began. A
//            domain entered again inside itself (through a callback, a kernel service, a thread)
//            stays in the same run, so nesting cannot restart its clock; a callee called many
//            times starts a new run each call, so it is not charged for its caller's loop.
//   stretch  the root's time: the root is the outermost domain on the stack, the one the kernel
//            entered from the event loop (a call from the host, a timer, an interrupt) or whose
//            promise job is running. It is charged everything its stretch runs, callees included:
//            it chose to make those calls without yielding. All of a domain's promise jobs in one
//            turn of the event loop are one stretch, so an endless chain of awaits is caught.
//   turn     the root's time in this turn of the event loop, across all its stretches.
//
// A run over the domain's budget crashes the domain. A stretch over the root's budget crashes the
// root, but only when the root's own code ticks: the tick leaves the word raised, so that happens
// at the root's next check, and a callee running on the root's behalf is never interrupted by the
// root's fault (its state would be left half-updated). A callee crashed for its own run has its
// time forgiven to the root. A domain that has used its budget in this turn gets no new stretch
// until the next turn: its timers and interrupt handlers wait (services/common.ts), so one domain's many
// short callbacks cannot starve the others.
//
// Crashing a domain is a runtime violation (contained and cleaned up like any crash); the tick
// throws the kernel's DomainAbort. The domain cannot swallow it: the tick leaves the word raised
// when it aborts (and the kernel raises it whenever a domain dies), and a dead domain's tick throws
// again, so its next check aborts it again; every catch or finally block re-throws first thing.
// Native code (one huge `'x'.repeat(n)`, a catastrophic regular expression) has no checks; a
// worker-isolated domain is the answer to that (SECURITY.md).
import type { Domain, MeterHooks } from './domain.ts';
import type { Host, PreemptTimer } from '../machine/common/host.ts';
import { DomainAbort, KERNEL_ID, type Rpc } from './rpc.ts';

/** The budget a domain gets when its creator names none. */
export const DEFAULT_BUDGET_MS = 50;

/** The preemption timer's period (machine/node/host.ts), and the longest gap between two ticks
 *  that still means domain code ran throughout. */
const PERIOD_MS = 1;
const SLACK_MS = 2 * PERIOD_MS;

/** Why a domain that ran too long was crashed. */
export class BudgetExceeded extends Error {
  override name = 'BudgetExceeded';
}

export interface BudgetKernel {
  readonly host: Host;
  readonly rpc: Rpc;
  domain(id: number): Domain | undefined;
  /** Set when a domain was marked dead by a store alone (stop): the kernel queues its clean-up. */
  overrun: boolean;
  reap(): void;
}

export class Budgets {
  /** turns of the event loop seen (a turn ends when a callback queued with nextTurn runs) */
  private epoch = 0;
  private turnWatched = false;
  private lastTick = 0;
  private readonly timer: PreemptTimer;

  constructor(private readonly k: BudgetKernel) {
    this.timer = k.host.preemptTimer();
  }

  /** The meter hooks handed to one domain instance's code. The abort is made now: throwing it
   *  later needs no allocation, so it works at the engine's stack limit too. */
  hooks(d: Domain): MeterHooks {
    const abort = new DomainAbort(`domain ${d.name} was stopped`, d.id);
    return harden({
      pending: this.timer.pending,
      tick: (): void => this.tick(d, abort),
      live: (): void => {
        if (!d.alive) throw abort;
      },
    });
  }

  /** Raises the interrupt word, so whatever domain code runs next ticks at its next check (a domain
   *  that has just died is aborted there). */
  preempt(): void {
    this.timer.pending.setInt32(0, 1);
  }

  /** Whether `d` has used its budget in this turn of the event loop (its callbacks then wait). */
  spent(d: Domain): boolean {
    return d.turn === this.epoch && d.turnSpent >= d.args.budgetMs;
  }

  private tick(d: Domain, abort: DomainAbort): void {
    if (!d.alive) throw abort; // the word stays raised
    const now = this.k.host.now();
    const gap = now - this.lastTick;
    const ms = gap >= 0 && gap <= SLACK_MS ? gap : PERIOD_MS;
    this.lastTick = now;
    this.timer.acknowledge();
    const rpc = this.k.rpc;
    // The ticking domain's run: from its outermost activation on the stack.
    const level = rpc.outermost(d.id);
    const runKey = level > 0 ? rpc.acts[level] : 0;
    if (d.runKey !== runKey) { d.runKey = runKey; d.runSpent = 0; }
    d.runSpent += ms;
    // The root's stretch and turn.
    let rl = 1;
    while (rl < rpc.depth && rpc.ids[rl] === KERNEL_ID) rl++;
    const root = rl < rpc.depth ? this.k.domain(rpc.ids[rl]) ?? d : d;
    const act = rl < rpc.depth ? rpc.acts[rl] : 0;
    const stretchKey = act > 0 ? act : -1 - this.epoch; // a domain's promise jobs in one turn: one stretch
    if (root.stretchKey !== stretchKey) { root.stretchKey = stretchKey; root.stretchSpent = 0; }
    root.stretchSpent += ms;
    if (root.turn !== this.epoch) { root.turn = this.epoch; root.turnSpent = 0; }
    if (!this.turnWatched) this.watchTurn();
    root.turnSpent += ms;
    // Stopping a domain that ran too long. It may be deep in a recursion at the engine's stack
    // limit, catching every RangeError, with room for no further call: so it is marked dead by
    // stores alone, here (its catch and finally blocks then re-throw the abort, whose unwinding frees
    // the stack), and the kernel queues its clean-up and report when it next reaps (from the proxy
    // that entered it at the latest).
    let ran = 0;
    if (d.runSpent > d.args.budgetMs) {
      ran = d.runSpent;
      if (root !== d) { root.stretchSpent -= ran; root.turnSpent -= ran; } // not the root's fault
    } else if (root.stretchSpent > root.args.budgetMs) {
      if (root !== d) { this.preempt(); return; } // not now: at the root's next check
      ran = root.stretchSpent;
    } else {
      return;
    }
    d.overrun = ran;
    d.alive = false;
    this.k.overrun = true;
    this.timer.pending.setInt32(0, 1);
    this.k.reap();
    throw abort;
  }

  /** Why a domain its budget stopped was stopped (for its crash report). */
  static exceeded(d: Domain): BudgetExceeded {
    return new BudgetExceeded(`CPU budget exceeded: ran ${Math.round(d.overrun)} ms without yielding (budget ${d.args.budgetMs} ms)`);
  }

  /** Ends the current turn when the event loop next gets past its I/O poll. A tick may run at the
   *  engine's stack limit, where queuing the callback throws: then the turn is not watched yet,
   *  and the next tick tries again (the throw is not let out, or a domain spinning at the limit
   *  would catch one at every tick, before its budget is checked). */
  private watchTurn(): void {
    try {
      this.k.host.nextTurn(() => {
        this.turnWatched = false;
        this.epoch++;
      });
      this.turnWatched = true;
    } catch { /* out of stack: the next tick tries again */ }
  }
}

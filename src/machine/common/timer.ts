// The periodic timer device's registers: the layout shared by the device model
// (machine/node/timer.ts) and the drivers that will run in domains (rv6's clock interrupt first).
// Runtime-neutral: constants and a small class over an Int32Array on a SharedArrayBuffer, every
// word used only through Atomics (all of them are raced on by two threads).
//
// One SharedArrayBuffer of TIMER_BYTES, 32-bit words:
//   PERIOD_US  the period in microseconds; 0 pauses the timer        written by the driver/host
//   TICKS      ticks raised since start (wraps at 2^32, read as u32) written by the device only
//   PENDING    "interrupt" word: ticks raised and not acknowledged   the device adds, the driver
//              takes (Atomics.exchange with 0) to acknowledge           exchanges it to 0
//   STATUS     DeviceStatus (OFF, RUNNING, STOPPED)                  written by the device only
//
// Invariants:
//   - the device raises one tick per whole period elapsed, against fixed deadlines (start + k *
//     period), so ticks do not drift; if it falls behind (the thread was not scheduled), the ticks
//     it missed are raised at once: TICKS tracks elapsed time / period within one tick;
//   - each tick is Atomics.add to TICKS and to PENDING, then a notify on PENDING (a driver sleeps
//     with Atomics.wait(PENDING, 0)); PENDING is never decremented by the device, so no tick is
//     lost between a driver's load and its exchange;
//   - a period change (setPeriod stores PERIOD_US and notifies it) takes effect at once: the device
//     restarts its deadlines from the moment it sees the new period; PERIOD_US 0 pauses it with no
//     further ticks until a nonzero period is stored;
//   - a period outside [MIN_PERIOD_US, MAX_PERIOD_US] (other than 0) is clamped by the device.

export const DeviceStatus = { OFF: 0, RUNNING: 1, STOPPED: 2 } as const;

/** Byte offsets of the words. */
export const Reg = { PERIOD_US: 0, TICKS: 4, PENDING: 8, STATUS: 12 } as const;

export const TIMER_BYTES = 16;
/** Shortest period: 100 µs (a shorter one would be mostly scheduler noise on a host OS). */
export const MIN_PERIOD_US = 100;
/** Longest period: about 35 minutes (an Int32 of microseconds). */
export const MAX_PERIOD_US = 0x7fffffff;

/** Index of a byte offset's 32-bit word. */
export function word(byteOffset: number): number {
  return byteOffset >>> 2;
}

/** The period the device uses for a stored value: 0 (paused) or clamped to the range. */
export function effectivePeriod(us: number): number {
  if (us <= 0) return 0;
  return Math.min(MAX_PERIOD_US, Math.max(MIN_PERIOD_US, us));
}

export function checkPeriod(us: number): void {
  if (!Number.isInteger(us) || us < 0 || us > MAX_PERIOD_US || (us > 0 && us < MIN_PERIOD_US)) {
    throw new RangeError(`timer: period must be 0 (paused) or an integer number of microseconds in [${MIN_PERIOD_US}, ${MAX_PERIOD_US}], got ${us}`);
  }
}

/** The driver's side of the timer. Never blocks. */
export class TimerPort {
  readonly words: Int32Array;

  constructor(memory: SharedArrayBuffer) {
    if (memory.byteLength < TIMER_BYTES) throw new RangeError('timer: memory is too small');
    this.words = new Int32Array(memory, 0, TIMER_BYTES / 4);
  }

  /** The stored period in microseconds (0: paused). */
  period(): number {
    return Atomics.load(this.words, word(Reg.PERIOD_US));
  }

  /** Sets the period (0 pauses); the device applies it at once. */
  setPeriod(us: number): void {
    checkPeriod(us);
    Atomics.store(this.words, word(Reg.PERIOD_US), us);
    Atomics.notify(this.words, word(Reg.PERIOD_US));
  }

  /** Ticks raised since start. */
  ticks(): number {
    return Atomics.load(this.words, word(Reg.TICKS)) >>> 0;
  }

  /** Ticks raised and not yet acknowledged. */
  pending(): number {
    return Atomics.load(this.words, word(Reg.PENDING)) >>> 0;
  }

  /** Acknowledges the interrupt: returns the ticks raised since the last acknowledgement. */
  acknowledge(): number {
    return Atomics.exchange(this.words, word(Reg.PENDING), 0) >>> 0;
  }

  /** DeviceStatus. */
  status(): number {
    return Atomics.load(this.words, word(Reg.STATUS));
  }
}

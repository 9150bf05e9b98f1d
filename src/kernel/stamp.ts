// Stamps: a hidden, unforgeable number attached to objects the kernel does not own (promises).
//
// The kernel records which domain created each promise, to attribute unhandled rejections. A
// WeakMap keyed by the promise did this at ~250 ns per promise on V8 11 (every `await` in a domain
// makes promises), so an async call cost ~1.4 µs. A private class field costs what adding an
// ordinary property costs (a map transition the engine caches), and only the class that declares
// it can read it: domain code cannot see, change or forge the stamp. The constructor's
// return-override puts the field on an object that already exists.
//
// Each `stamps()` call declares a new class, so each kernel has its own private name, and two
// kernels in one process stamp the same promise without colliding.

/** A base whose constructor returns its argument, so a subclass's fields land on that object. */
class Target {
  constructor(o: object) {
    return o;
  }
}

export interface Stamps {
  /** Stamps `o`, which must not carry this family's stamp yet (a TypeError if it does): for a
   *  promise-creation hook, which sees each promise once. */
  init(o: object, v: number): void;
  /** The stamp on `o`, or undefined. */
  get(o: object): number | undefined;
}

export function stamps(): Stamps {
  class Stamp extends Target {
    #v: number;
    constructor(o: object, v: number) {
      super(o);
      this.#v = v;
    }
    static read(o: object): number | undefined {
      return #v in o ? (o as Stamp).#v : undefined;
    }
  }
  return {
    init(o, v) {
      new Stamp(o, v);
    },
    get: (o) => Stamp.read(o),
  };
}

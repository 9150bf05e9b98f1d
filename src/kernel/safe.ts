// Small tools for kernel code that handles values a domain made, and that may run with little of
// the engine's stack left.
//
// `show` names a value for an error message without running any of its code: `String(v)` or a
// template string would call a domain object's toString, valueOf or Symbol.toPrimitive (and a
// Proxy's traps), which could throw, loop, or run as whichever domain is current.
//
// `hasStack` tells whether a good margin of the engine's stack is left. Kernel paths that must not
// stop half way (the crash path, kernel.ts reap) run only when it is; otherwise they are put off
// to the event loop, where the stack is empty. Probing costs a few microseconds, so it is done on
// rare paths only.

import { stackFor } from '../machine/common/stack.ts';

/** A short description of `v` that runs none of its code. */
export function show(v: unknown): string {
  switch (typeof v) {
    case 'number': case 'boolean': case 'undefined': return String(v);
    case 'bigint': return `${String(v)}n`;
    case 'string': return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'symbol': return 'a symbol';
    case 'function': return 'a function';
    default: return v === null ? 'null' : 'an object';
  }
}

/** Frames the probe must be able to push: far more than any kernel path needs (a crash's
 *  clean-up and report, host logging included, stay well within a few hundred). */
const PROBE_FRAMES = 1000;

/** Whether PROBE_FRAMES more frames fit on the engine's stack now. */
export function hasStack(): boolean {
  return stackFor(PROBE_FRAMES);
}

const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const ownKeys = Reflect.ownKeys;
const isArray = Array.isArray;

/**
 * Text for a value a domain logs, like console.log would print it, but reading only what runs no
 * code: own data properties of objects that are not Proxies (`isProxy` is the host's), to a small
 * depth and width. Accessors print as [getter], Proxies as [Proxy], functions as [function].
 */
export function inspect(v: unknown, isProxy: (v: unknown) => boolean, depth = 2): string {
  if (typeof v === 'string') return depth === 2 ? v : JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
  if (typeof v === 'function') return '[function]';
  if (v === null || typeof v !== 'object') return show(v);
  if (isProxy(v)) return '[Proxy]';
  if (depth === 0) return isArray(v) ? '[…]' : '{…}';
  const keys = ownKeys(v);
  const parts: string[] = [];
  for (let i = 0; i < keys.length && parts.length < 20; i++) {
    const key = keys[i];
    if (typeof key !== 'string' || (isArray(v) && key === 'length')) continue;
    const d = getOwnPropertyDescriptor(v, key)!;
    const text = 'value' in d ? inspect(d.value, isProxy, depth - 1) : '[getter]';
    parts[parts.length] = isArray(v) ? text : `${/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)}: ${text}`;
  }
  if (keys.length > 20) parts[parts.length] = '…';
  return isArray(v) ? `[${parts.join(', ')}]` : `{ ${parts.join(', ')} }`;
}

const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const taTag = Object.getOwnPropertyDescriptor(TypedArrayProto, Symbol.toStringTag)!.get! as (this: unknown) => string | undefined;
const taLength = Object.getOwnPropertyDescriptor(TypedArrayProto, 'length')!.get! as (this: unknown) => number;
const taSet = (TypedArrayProto as { set: (this: Uint8Array, src: ArrayLike<number>, off?: number) => void }).set;
const getPrototypeOf = Object.getPrototypeOf;
const hasOwn = Object.hasOwn;

/**
 * A copy, in the kernel's memory, of a domain's byte array; null unless it is a genuine Uint8Array
 * of the intrinsic class (no subclass, no own `constructor`, not a Proxy: the intrinsic tag getter
 * answers only for real typed arrays and runs no trap). The copy is made with the intrinsic `set`,
 * which reads the source's bytes directly: no species lookup, no getter, nothing of the domain's.
 */
export function plainBytes(v: unknown): Uint8Array | null {
  if (taTag.call(v) !== 'Uint8Array' || getPrototypeOf(v) !== Uint8Array.prototype || hasOwn(v as object, 'constructor')) return null;
  const out = new Uint8Array(taLength.call(v));
  taSet.call(out, v as Uint8Array);
  return out;
}

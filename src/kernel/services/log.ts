// The log service: sys.log and the `console` global of a domain's compartment. Both put the
// domain's lines in the kernel log, `[name] text`, printing values from their own data properties
// only (safe.ts inspect), so no getter, trap or toString of the domain's runs in the kernel; a
// newcomer's first console.log works.
import type { Log } from '../../idl/lib/sys.ts';
import type { Domain } from '../domain.ts';
import { inspect } from '../safe.ts';
import { live, type ServiceKernel } from './common.ts';

export interface DomainConsole {
  log(...a: unknown[]): void; info(...a: unknown[]): void; debug(...a: unknown[]): void;
  warn(...a: unknown[]): void; error(...a: unknown[]): void;
}

/** One log line of the domain's (console.warn and .error mark theirs). */
function print(k: ServiceKernel, d: Domain, mark: string, parts: readonly unknown[]): void {
  live(d);
  const isProxy = (v: unknown): boolean => k.host.isProxy(v);
  const text: string[] = [];
  for (let i = 0; i < parts.length; i++) text[i] = inspect(parts[i], isProxy);
  k.log(`[${d.name}] ${mark}${text.join(' ')}`);
}

export function logFor(k: ServiceKernel, d: Domain): Log {
  return (...parts) => print(k, d, '', parts);
}

export function consoleFor(k: ServiceKernel, d: Domain): DomainConsole {
  return {
    log: (...a) => print(k, d, '', a), info: (...a) => print(k, d, '', a), debug: (...a) => print(k, d, '', a),
    warn: (...a) => print(k, d, 'warning: ', a), error: (...a) => print(k, d, 'error: ', a),
  };
}

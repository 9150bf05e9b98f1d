// Helpers for building and consuming RpcResult values, shared by every domain (src/lib/ is checked
// and metered into each bundle that uses it, like the domain's own code: src/tools/layout.json).
// Errors are values across domains; inside a domain they may be turned back into exceptions.
import type { RpcError, RpcErrorKind, RpcResult } from '../idl/lib/types.ts';

export function ok<T>(value: T): RpcResult<T> {
  return { ok: true, value };
}

export function fail<T = never>(kind: RpcErrorKind, domain: string, message: string): RpcResult<T> {
  return { ok: false, error: { kind, domain, message } };
}

/** The value of a successful result; a failed one becomes an exception in the calling domain. */
export function unwrap<T>(r: RpcResult<T>): T {
  if (r.ok) return r.value;
  throw new Error(describe(r.error));
}

export function describe(e: RpcError): string {
  return `rpc ${e.kind} (${e.domain}): ${e.message}`;
}

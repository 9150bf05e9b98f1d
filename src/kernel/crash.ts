// Crash reports: what died, why, where (TypeScript file:line), and what the kernel reclaimed.
//
// Describing a thrown value must not run the crashed domain's code: a Proxy's traps, a getter on
// `stack` or `message`, or a toString could loop or throw inside the kernel. So only genuine
// Errors are read, and only through their own data properties.
import { TraceMap, originalPositionFor } from '@jridgewell/trace-mapping';
import type { Host } from '../machine/common/host.ts';

export interface Described { readonly message: string; readonly stack: string[] }

function ownData(o: object, key: string): unknown {
  const d = Object.getOwnPropertyDescriptor(o, key);
  return d && 'value' in d ? d.value : undefined;
}

export function describe(host: Host, v: unknown): Described {
  try {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function')) {
      return { message: `thrown value: ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`, stack: [] };
    }
    if (host.isProxy(v)) return { message: 'thrown value: a Proxy (not inspected)', stack: [] };
    if (!host.isError(v)) return { message: `thrown value: a non-Error ${typeof v}`, stack: [] };
    const stack = ownData(v as object, 'stack');
    const message = ownData(v as object, 'message');
    const lines = typeof stack === 'string' ? stack.split('\n') : [];
    const frames = lines.filter((l) => /^\s+at /.test(l)).map((l) => l.trim());
    const head = lines.length && !/^\s+at /.test(lines[0]) ? lines[0] : `Error: ${typeof message === 'string' ? message : ''}`;
    return { message: head, stack: frames };
  } catch {
    return { message: 'thrown value: (could not be described)', stack: [] };
  }
}

const FRAME = /frond-domain:\/\/([^/\s]+)\/(\d+):(\d+):(\d+)/;

/** The id of the domain instance a stack frame ran in, if it ran in one. */
export function frameDomain(line: string): number | undefined {
  const f = FRAME.exec(line);
  return f ? Number(f[2]) : undefined;
}

/** Source maps of loaded bundles, parsed on first use. */
export class SourceMaps {
  private readonly maps = new Map<string, TraceMap | null>();
  private readonly raw = new Map<string, string | undefined>();

  /** The map of `bundle` (none: its frames are left as they are), replacing any it had. */
  add(bundle: string, map: string | undefined): void {
    this.raw.set(bundle, map);
    this.maps.delete(bundle);
  }

  private get(bundle: string): TraceMap | null {
    let m = this.maps.get(bundle);
    if (m === undefined) {
      const raw = this.raw.get(bundle);
      try { m = raw ? new TraceMap(raw) : null; } catch { m = null; }
      this.maps.set(bundle, m);
    }
    return m;
  }

  /** Rewrites `frond-domain://name/id:L:C` positions to the TypeScript source they came from. The
   *  text may be forged by the domain (its `stack`): a position the map cannot take leaves the
   *  line as it was, and nothing here can throw into the crash path. */
  frame(line: string): string {
    try {
      const f = FRAME.exec(line);
      if (!f) return line;
      const m = this.get(f[1]);
      if (!m) return line;
      const pos = originalPositionFor(m, { line: Number(f[3]), column: Number(f[4]) - 1 });
      if (pos.source === null || pos.line === null) return line;
      return line.replace(f[0], `${pos.source}:${pos.line}:${pos.column + 1}`);
    } catch {
      return line;
    }
  }
}

export interface Reclaimed {
  objects: number;
  bytes: number;
  deferred: number;
  timers: number;
  threads: number;
  irqs: number;
  /** devices it drove, stopped before its buffers were reclaimed */
  devices: number;
  /** roots given back to the domains that sent them (heap.ts, Salvage) */
  salvaged: number;
  inflight: number;
  revoked: number;
}

export interface CrashReport {
  readonly domain: string;
  readonly id: number;
  /** why it ended: what it did wrong, or for a kill the reason given (see `killed`) */
  readonly cause: string;
  /** stopped by the kernel (kill, restart, shutdown), not by a fault of its own */
  readonly killed: boolean;
  readonly error: Described;
  readonly reclaimed: Reclaimed;
  readonly text: string;
}

export function formatReport(domain: string, id: number, cause: string, error: Described | null, r: Reclaimed): string {
  // A kill has no error and no stack of the domain's own (the stack would be the kernel's).
  const lines = [error ? `domain ${domain}#${id} crashed (${cause}): ${error.message}` : `domain ${domain}#${id} stopped (${cause})`];
  for (const f of error ? error.stack.slice(0, 12) : []) lines.push(`    ${f}`);
  lines.push(`  reclaimed: ${r.objects} exchange objects (${r.bytes} bytes)${r.deferred ? `, ${r.deferred} lent out (freed when returned)` : ''}${r.salvaged ? `, ${r.salvaged} given back to their senders` : ''}, `
    + `${r.timers} timers, ${r.threads} threads, ${r.irqs} interrupt lines, ${r.devices ? `${r.devices} devices stopped, ` : ''}${r.inflight} calls in flight failed, ${r.revoked} capabilities revoked`);
  return lines.join('\n');
}

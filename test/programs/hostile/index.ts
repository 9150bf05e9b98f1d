// A hostile program: it calls the core's Rv6 directly (not through ulib) with the values a program
// can make, and prints one line per attack, "name: result". The core and the fs must answer each
// with an error value (or a proxy refusal), never crash; the test then checks that rv6 still works.
import type { Config, Sys } from '../../../src/idl/lib/sys.ts';
import type { RRef } from '../../../src/idl/lib/types.ts';
import type { IoBuf as IoBufT, Program, Rv6 } from '../../../src/idl/rv6.ts';
import { IoBuf } from '../../../src/idl/generated/structs.ts';
import { ok } from '../../../src/lib/result.ts';

export function init(sys: Sys, imports: { rv6: Rv6 }, config: Config): Program {
  const rv6 = imports.rv6;
  const how = ((config as { argv?: string[] }).argv ?? [])[1];
  const out: string[] = [];
  const show = (r: { ok: boolean; value?: unknown; error?: { kind: string } }): string =>
    r.ok ? (typeof r.value === 'number' || typeof r.value === 'string' ? String(r.value).slice(0, 60) : r.value === null ? 'null' : typeof r.value === 'object' ? JSON.stringify(r.value) : typeof r.value) : `rpc ${r.error!.kind}`;
  const say = (name: string, r: unknown): void => { out.push(`${name}: ${show(r as never)}`); };
  const n = (b: unknown): string => (typeof b === 'number' ? String(IoBuf.n(b as RRef<IoBufT>)) : 'no buffer');
  return {
    async main() {
      // Handles: a moved buffer used again, or a number that is no handle of ours, is a runtime
      // violation of this program's (it is crashed; the core never sees the call).
      if (how === 'moved') {
        const b = IoBuf.alloc();
        IoBuf.setN(b, 0);
        const first = rv6.write(1, b); // (b is the core's now, until the call returns it)
        await rv6.write(1, b);
        await first;
        return ok(1);
      }
      if (how === 'forged') {
        await rv6.write(1, 0x12345 as unknown as RRef<IoBufT>);
        return ok(1);
      }
      const long = 'a/'.repeat(200_000);
      say('open-huge-path', await rv6.open(long, 0));
      say('open-lone-surrogate', await rv6.open('\ud800x', 0x200));
      say('open-bad-flags', await rv6.open('README', 0xffffffff));
      say('open-nul', await rv6.open('READ\0ME', 0));
      say('close-bad', await rv6.close(-5));
      say('close-huge', await rv6.close(2 ** 31 - 1));
      say('spawn-huge-argv', await rv6.spawn('/echo', 'x\0'.repeat(100_000), '0,1,2'));
      say('spawn-many-fds', await rv6.spawn('/echo', 'echo', '1,'.repeat(1000)));
      say('spawn-bad-fds', await rv6.spawn('/echo', 'echo', '1,x,2'));
      say('spawn-fd-99', await rv6.spawn('/echo', 'echo', '99'));
      say('spawn-self-dir', await rv6.spawn('/', 'x', ''));
      say('kill-self-pid-0', await rv6.kill(0));
      say('fg-not-child', await rv6.fg(1));
      say('wait-no-children', await rv6.wait());
      say('sleep-huge', await Promise.race([rv6.sleep(0xffffffff), sys.timers.sleep(20).then(() => ({ ok: true, value: 'still asleep' }))]));
      const b = IoBuf.alloc();
      IoBuf.setN(b, -7);
      const w1 = await rv6.write(1, b);
      out.push(`write-negative-n: ${w1.ok ? n(w1.value) : 'rpc'}`);
      const b2 = w1.ok ? w1.value : IoBuf.alloc();
      IoBuf.setN(b2, 1 << 30);
      const w2 = await rv6.write(1, b2);
      out.push(`write-huge-n: ${w2.ok ? n(w2.value) : 'rpc'}`);
      const b3 = w2.ok ? w2.value : IoBuf.alloc();
      const readme = await rv6.open('README', 0);
      const r1 = await rv6.read(readme.ok ? readme.value : 0, b3, 0xffffffff);
      out.push(`read-huge-n: ${r1.ok ? (IoBuf.n(r1.value) >= 0 ? 'ok' : n(r1.value)) : 'rpc'}`);
      say('mknod-bad-major', await rv6.mknod('dev-y', 0xffff, 0xffff));
      say('mknod-no-driver', await rv6.mknod('dev-x', 5, 0));
      say('open-dev-x', await rv6.open('dev-x', 2));
      say('unlink-dev-x', await rv6.unlink('dev-x'));
      say('link-huge', await rv6.link(long, long));
      say('chdir-file', await rv6.chdir('README'));
      say('exit-status', { ok: true, value: 'next' });
      const text = `${out.join('\n')}\n`;
      let buf = r1.ok ? r1.value : IoBuf.alloc();
      const bytes = new TextEncoder().encode(text);
      for (let at = 0; at < bytes.length; at += 4096) {
        const len = Math.min(4096, bytes.length - at);
        IoBuf.setN(buf, len);
        IoBuf.writeData(buf, 0, bytes, at, len);
        const r = await rv6.write(1, buf);
        if (!r.ok) break;
        buf = r.value;
      }
      sys.log('hostile done');
      return ok(0);
    },
  };
}

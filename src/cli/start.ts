// frond start: boots the kernel and runs the demonstration of crash containment and recovery.
// (The rv6 shell on a disk image arrives with the file system; until then this is what boots.)
import { Kernel } from '../kernel/kernel.ts';
import { NodeHost } from '../machine/node/host.ts';
import { bootTrust, buildForBoot, loadAll } from '../tools/build/boot.ts';
import type { Counter, FaultPlan } from '../idl/demo.ts';
import { ROOT } from './root.ts';

export async function main(args: string[]): Promise<number> {
  if (args.length) { console.error(`frond start: unexpected argument ${args[0]}`); return 1; }
  const say = (s: string): void => console.log(s);
  const bundles = await buildForBoot(ROOT, ['src/domains/apps/counter', 'src/domains/apps/plan', 'src/domains/drivers/flaky', 'src/domains/shadows/counter']);
  const k = new Kernel(new NodeHost(), { trust: bootTrust(ROOT), log: (l) => say(`  kernel| ${l.split('\n').join('\n  kernel| ')}`) });
  loadAll(k, bundles);
  say(`Frond: kernel up, exchange heap ${k.heap.stats().capacity >> 20} MiB, ${bundles.length} signed bundles verified and loaded\n`);

  say('1. A counter domain, called through a generated proxy:');
  const counter = k.create<Counter>('counter');
  say(`   add(2) -> ${JSON.stringify(counter.api.add(2))}, add(40) -> ${JSON.stringify(counter.api.add(40))}`);
  say(`   add("x") -> ${JSON.stringify(counter.api.add('x' as never))}\n`);

  say('2. A flaky driver crashes on every call; the kernel contains it:');
  const plan = k.create<FaultPlan>('plan', {}, { config: { period: 1 } }).api;
  const flaky = k.create<Counter>('flaky', { plan });
  say(`   add(1) -> ${JSON.stringify(flaky.api.add(1))}`);
  say(`   add(1) again -> ${JSON.stringify(flaky.api.add(1))}`);
  say(`   the counter is still fine: add(1) -> ${JSON.stringify(counter.api.add(1))}\n`);

  say('3. The same driver behind a shadow; it now crashes on every other call it receives, so once per\n   request, and the shadow re-creates it and retries; callers never see it:');
  const every2 = k.create<FaultPlan>('plan', {}, { config: { period: 2 } }).api;
  const shadow = k.create<Counter>('counter-shadow', { plan: every2 }, { privileged: true, config: { target: 'flaky' } });
  const quiet = k.crashes.length;
  const results = [];
  for (let i = 0; i < 6; i++) results.push(shadow.api.add(i));
  say(`   ${results.map((r) => (r.ok ? `ok(${r.value})` : `error(${r.error.kind})`)).join(' ')}`);
  say(`   (${k.crashes.length - quiet} driver crashes recovered transparently)\n`);

  const s = k.stats();
  say(`Domains alive: ${s.domains.map((d) => `${d.name}#${d.id}`).join(', ')}`);
  say(`Exchange heap: ${s.heap.objects} objects, ${s.heap.bytes} bytes; crashes so far: ${s.crashes}`);
  k.shutdown();
  return 0;
}

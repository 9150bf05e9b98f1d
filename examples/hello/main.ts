// examples/hello: Frond as a library, from a plain Node program (docs/guide.md walks through it).
// Builds the greeter and its shadow (checked, metered, signed), boots a kernel that trusts the
// development key, calls the greeter, watches it crash and the kernel contain it, restarts it, and
// then calls it through the shadow, where its crashes are invisible.
//
//   node --import tsx examples/hello/main.ts
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kernel, NodeHost, buildAll, devKey } from 'frond';
import type { Greeter } from '../../src/idl/examples.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const key = devKey(join(root, 'keys'));
const built = await buildAll({ root, key }, ['greeter', 'greeter-shadow'].map((d) => join(root, 'examples/hello', d)));

// The kernel's log: domains' console lines, and one report per crash (its first line here).
const kernel = new Kernel(new NodeHost(), { trust: [key.publicKey], log: (line) => console.log(`  | ${line.split('\n')[0]}`) });
for (const b of built) kernel.load(b.bytes);

const { domain, api: greeter } = kernel.create<Greeter>('hello-greeter');
for (const name of ['Ada', 'Grace', 'Barbara']) console.log(`greet(${name}) ->`, JSON.stringify(greeter.greet(name)));
console.log(`the greeter is alive: ${domain.alive}; crashes contained since boot: ${kernel.stats().crashes}`);

const again = kernel.restart<Greeter>(domain);
console.log('after restart: greet(Barbara) ->', JSON.stringify(again.api.greet('Barbara')), 'count ->', JSON.stringify(again.api.count()));

const shadowed = kernel.create<Greeter>('hello-greeter-shadow', {}, { privileged: true }).api;
for (const name of ['Edsger', 'Leslie', 'Tony', 'Niklaus', 'Frances']) console.log(`through the shadow: greet(${name}) ->`, JSON.stringify(shadowed.greet(name)));

kernel.shutdown();

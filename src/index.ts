// Frond as a library: the public entry point (package.json "exports"), for a Node program that
// wants crash-isolated, restartable components. docs/guide.md walks through it; examples/hello uses
// exactly this.
//
//   build   buildAll / buildDomain: check, meter and sign domain folders (the trusted build)
//   keys    devKey (a development key pair, created on first use), trustedKeys
//   kernel  new Kernel(new NodeHost(), { trust }), kernel.load(bundle bytes), kernel.create,
//           kernel.restart, kernel.kill, kernel.onCrash, kernel.stats, kernel.shutdown
// Interfaces are TypeScript files in src/idl/ (`npx frond idl` generates their proxies); domains
// are folders with domain.json and index.ts.
export { Kernel, DomainStartError, type KernelOptions, type CreateOptions } from './kernel/kernel.ts';
export type { Domain } from './kernel/domain.ts';
export type { CrashReport } from './kernel/crash.ts';
export { BundleRefused } from './kernel/verify.ts';
export { NodeHost } from './machine/node/host.ts';
export { buildAll, buildDomain, devKey, ephemeralKey, trustedKeys, BuildError, type Built, type BuildOptions, type SigningKey } from './tools/domainc/build.ts';
export type { RpcError, RpcResult } from './idl/lib/types.ts';

// The `frond` command: one verb per subcommand, each with --help.
interface Verb { summary: string; usage: string; run(args: string[]): Promise<number> }

const VERBS: Record<string, Verb> = {
  idl: {
    summary: 'compile src/idl/*.ts into src/idl/generated/',
    usage: `frond idl [--check]

Reads the interface definitions in src/idl/*.ts, checks that every type crossing a domain boundary
is exchangeable, and writes src/idl/generated/ (type table and fingerprints, struct accessors,
proxies, shadows). Errors are printed as path:line:col: message and the exit code is 1.

  --check   write nothing; exit 1 if the generated files are stale`,
    run: async (args) => (await import('./idl.ts')).main(args),
  },
  build: {
    summary: 'check, compile, meter and sign every domain into build/domains/',
    usage: `frond build [--force] [--no-meter] [--no-check] [--out DIR] [--keys DIR] [DIR...]

The trusted build. For every domain folder (one with a domain.json) under each DIR (default:
src/domains): checks the sources (imports only from the domain's own folder, src/idl/ and the
reviewed allowlist src/tools/build/allowlist.json; no eval, Function, import(), with, debugger,
host globals or node: modules), bundles them with esbuild, inserts a CPU-budget check at every
function entry and loop back-edge, writes a manifest (interfaces and IDL fingerprints, tool
versions and flags, SHA-256 of the code and of every input) and signs it with Ed25519.
Unchanged domains are not rebuilt. Problems are printed as path:line:col: message; exit code 1.

  --force      rebuild everything
  --no-meter   leave out the CPU-budget checks (the kernel refuses such bundles unless told to)
  --no-check   skip the source checks (only for test domains that attack the run-time defences
               behind them; the manifest records it)
  --out DIR    where bundles go (default build/domains)
  --keys DIR   where the signing key is (default keys/; dev.key and dev.pub are created on first use)`,
    run: async (args) => (await import('./build.ts')).main(args),
  },
  verify: {
    summary: 'check a signed bundle as the kernel would, without running it',
    usage: `frond verify [--keys DIR] FILE...

Checks each signed bundle (build/domains/<name>.bundle.json) exactly as the kernel does before it
evaluates anything, from the file's bytes: UTF-8 and at most 16 MiB, manifest shape, signature
present, key trusted (every DIR/*.pub, default keys/), signature valid, code and source map
unchanged, interface fingerprints equal to this tree's IDL, CPU-budget checks present. Prints one
line per file, starting with the file's name: "ok (name, key id)" (", sources not checked" if it
was built with --no-check) or the reason it is refused or unreadable. Exit code 0 if all are ok,
1 otherwise.

  --keys DIR   trust the public keys DIR/*.pub (default keys/); DIR must exist and hold one`,
    run: async (args) => (await import('./verify.ts')).main(args),
  },
  start: {
    summary: 'boot Frond and run the demonstration (crash containment and recovery)',
    usage: `frond start

Boots the kernel with the demonstration domains: a counter service, a client, a driver that is
crashed on purpose, and a shadow that recovers it transparently. Prints the kernel log.`,
    run: async (args) => (await import('./start.ts')).main(args),
  },
  bench: {
    summary: 'run a benchmark and write bench/results/<name>.json',
    usage: `frond bench <name> [--quick]

Benchmarks:
  calls   cross-domain call costs (RedLeaf Table 1): direct, proxy, RRef move, borrow, async,
          shadow, and a Worker + SharedArrayBuffer/Atomics round trip
  tax     the language tax: an open-addressing hash table (FNV-1a, linear probing, 8-byte
          keys and values, 75% load, 2^12..2^22 entries) as plain TypeScript, in a domain, and in
          a CPU-metered domain: ns per lookup and metered/plain (target ≤ 1.3)

  --quick   fewer iterations (for smoke tests)`,
    run: async (args) => (await import('../../bench/main.ts')).main(args),
  },
};

function help(): void {
  console.log('usage: frond <command> [options]\n\ncommands:');
  for (const [name, v] of Object.entries(VERBS)) console.log(`  ${name.padEnd(8)} ${v.summary}`);
  console.log('\nfrond <command> --help tells more.');
}

const [verb, ...args] = process.argv.slice(2);
if (!verb || verb === '--help' || verb === '-h' || verb === 'help') {
  help();
  process.exitCode = verb ? 0 : 1;
} else if (!(verb in VERBS)) {
  console.error(`frond: unknown command '${verb}'`);
  help();
  process.exitCode = 1;
} else if (args.includes('--help') || args.includes('-h')) {
  console.log(VERBS[verb].usage);
} else {
  process.exitCode = await VERBS[verb].run(args);
}

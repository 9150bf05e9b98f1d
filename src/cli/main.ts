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

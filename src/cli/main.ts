// The `frond` command: one verb per subcommand, each with --help. A verb's command line is parsed
// against its spec (args.ts) before its module is loaded, so a bad one is answered at once. A bad
// command line, or any error a verb does not report itself, is one line on stderr
// (`frond <verb>: ...`) and exit code 1, never a stack trace (FROND_DEBUG=1 shows it).
import { UsageError, parse, type Parsed, type Spec } from './args.ts';

interface Verb {
  summary: string;
  usage: string;
  spec: Spec;
  /** runs the verb on its parsed command line (`args`: the same, unparsed); returns the exit code */
  run(a: Parsed, args: string[]): Promise<number>;
}

/** The benchmarks bench/main.ts knows (checked here, so that a wrong name is one line). */
const BENCHMARKS = ['calls', 'tax', 'blk', 'fs'];

const VERBS: Record<string, Verb> = {
  idl: {
    summary: 'compile src/idl/*.ts into src/idl/generated/',
    usage: `frond idl [--check]

Reads the interface definitions in src/idl/*.ts, checks that every type crossing a domain boundary
is exchangeable, and writes src/idl/generated/ (type table and fingerprints, struct accessors,
proxies, shadows). Errors are printed as path:line:col: message and the exit code is 1.

  --check   write nothing; exit 1 if the generated files are stale`,
    spec: { flags: ['--check'] },
    run: async (a) => (await import('./idl.ts')).main(a),
  },
  build: {
    summary: 'check, compile, meter and sign every domain into build/domains/',
    usage: `frond build [--force] [--no-meter] [--no-check] [--out DIR] [--keys DIR] [DIR...]

The trusted build. For every domain folder (one with a domain.json) under each DIR (default:
src/domains): bundles it with esbuild and checks every file esbuild loaded (imports only from the
domain's own folder, src/idl/, the shared src/lib/ and src/machine/common/ (src/tools/layout.json)
and the reviewed allowlist src/tools/domainc/allowlist.json; no eval, Function, import(), with,
debugger, host globals or node: modules), inserts a CPU-budget check at every
function entry and loop back-edge, writes a manifest (interfaces and IDL fingerprints, tool
versions and flags, SHA-256 of the code and of every input) and signs it with Ed25519.
A domain whose bundle was built from this same folder and whose inputs are unchanged is not
rebuilt. Problems are printed as path:line:col: message; exit code 1.

  --force      rebuild everything
  --no-meter   leave out the CPU-budget checks (the kernel refuses such bundles unless told to)
  --no-check   skip the source checks (only for test domains that attack the run-time defences
               behind them; the manifest records it)
  --out DIR    where bundles go (default build/domains; created if missing)
  --keys DIR   where the signing key is (default keys/; dev.key and dev.pub are created on first use)`,
    spec: {
      flags: ['--force', '--no-meter', '--no-check'],
      values: { '--out': 'a directory', '--keys': 'a directory' },
      positional: { what: 'a domain folder', max: Infinity },
    },
    run: async (a) => (await import('./build.ts')).main(a),
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
    spec: { values: { '--keys': 'a directory' }, positional: { what: 'a bundle file', min: 1, max: Infinity } },
    run: async (a) => (await import('./verify.ts')).main(a),
  },
  start: {
    summary: 'build what is stale and boot rv6 on the default disk to a shell',
    usage: `frond start [--timing] [--verbose]

What \`npm start\` runs. Builds (incrementally) rv6's domains (src/domains/drivers/nvme,
shadows/bdev, rv6/fs, rv6/console, rv6/core) and every user program in src/user, makes the default
disk build/rv6.img (an xv6 file system holding the programs, as signed bundles, and a README) if
there is none or a program changed, and boots it: init starts the shell on the console. The same
as \`frond boot --disk build/rv6.img\`. See frond boot --help.

  --timing    print the time from process start to the shell's first prompt
  --verbose   print the kernel log (crash reports) on stderr`,
    spec: { flags: ['--timing', '--verbose'] },
    run: async (a) => (await import('./boot.ts')).start(a),
  },
  boot: {
    summary: 'boot rv6 on a disk image to a shell on the console',
    usage: `frond boot [--disk IMAGE] [--timing] [--inject nvme:every=1s] [--no-shadow] [--verbose]

Boots the machine: the NVMe-like disk holding IMAGE (an xv6-riscv file system, used in place: what
rv6 writes is written to it), its driver behind the block-driver shadow, the file-system, console
and core domains, then /init from the disk, which starts /sh. Programs are signed bundles on the
disk (frond build), verified by the kernel before they run.

On a terminal the console is in raw mode: rv6 echoes and edits the line (backspace, ^U), ^C kills
the foreground job, ^D at an empty line ends the shell (init starts a new one); \`halt\` stops the
machine. When standard input is not a terminal, the console reads it line by line and rv6 halts at
its end, after flushing the file system:  printf 'echo hi > f\\ncat f\\n' | frond boot

  --disk IMAGE    the disk (default: build/rv6.img, made as frond start makes it)
  --timing        print the time from process start to the shell's first prompt
  --inject nvme:every=1s
                  crash the disk driver this often (also =100ms): the shadow restarts it and
                  re-submits what it held; rv6 does not notice
  --no-shadow     run the disk driver without its shadow
  --verbose       print the kernel log (crash reports) on stderr`,
    spec: {
      flags: ['--timing', '--no-shadow', '--verbose'],
      values: { '--disk': 'an image file', '--inject': 'nvme:every=<period>' },
    },
    run: async (a) => (await import('./boot.ts')).main(a),
  },
  blkcheck: {
    summary: 'check the block path: random checksummed I/O on the disk, crash injection too',
    usage: `frond blkcheck [--seconds S] [--blocks N] [--batch B] [--image FILE] [--inject nvme:every=100ms]
           [--no-shadow] [--seed N] [--verbose]

Boots the kernel with the NVMe-like disk (a device model on a worker thread that DMAs straight
into the exchange heap through an IOMMU), its driver domain (src/domains/drivers/nvme) and the
block-driver shadow (src/domains/shadows/bdev), then checks the block path: random reads and writes
of checksummed 4 KiB blocks for S seconds, every block read back through the driver, and the disk
image compared with the model. Prints operations per second, crashes, and what failed; exit code
0 only if no operation failed, no block was wrong and the exchange heap came back to empty.

  --seconds S       how long the random phase runs (default 5)
  --blocks N        disk size in 4 KiB blocks (default 4096: 16 MiB)
  --batch B         requests per submit-and-poll call, 1..32; 0: one synchronous read/write per
                    call (default 32)
  --image FILE      the disk image (created or extended; default: a fresh temporary file, removed)
  --inject nvme:every=100ms
                    crash the driver domain this often (also =1s); the shadow restarts it and
                    re-submits what it held, so no operation may fail
  --no-shadow       run the driver without its shadow (crashes then fail operations)
  --seed N          the workload's random seed (default 1)
  --verbose         print the kernel log (a crash report per injected crash is not logged)`,
    spec: {
      flags: ['--no-shadow', '--verbose'],
      values: { '--seconds': 'a number of seconds', '--blocks': 'a block count', '--batch': 'a batch size',
        '--image': 'a file', '--inject': 'nvme:every=<period>', '--seed': 'a number' },
    },
    run: async (a) => (await import('./blkcheck.ts')).main(a),
  },
  demo: {
    summary: 'the isolation core in one screen: RRefs, CPU budgets, crashes, shadows',
    usage: `frond demo [--verbose]

Builds (incrementally) and boots the kernel with the demonstration domains from src/domains, then
shows, one line per event: a packet moving through the exchange heap (allocated, moved into a
domain, handed back) with the heap's object counts; a runaway domain stopped by its CPU budget; a
driver crash contained and its objects reclaimed; a shadow restarting the driver so that its
callers never see the crash; and a tampered bundle refused before any of it runs.

  --verbose   also print the kernel log: full crash reports with TypeScript stack traces`,
    spec: { flags: ['--verbose'] },
    run: async (a) => (await import('./demo.ts')).main(a),
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
  blk     the block path: 4 KiB random read and write IOPS at batch 1 and 32 on a disk image,
          driver called directly (raw), through its domain's proxy, behind its shadow, and
          behind its shadow with a driver crash every second; the driver's restart time; the
          device model alone and a plain host loop on the same file as the ceiling; an SVG of
          throughput over time across the crashes
  fs      rv6's file system through system calls from a user program (src/user/fsbench): small
          files created, read and unlinked per second, a 256 KiB file written and read (MB/s),
          against the same workload with Node on the host's file system in the same run; and
          boot_ms, from the start of a frond boot process to the shell's prompt

  --quick   fewer iterations (for smoke tests)`,
    spec: { flags: ['--quick'], positional: { what: `a benchmark: ${BENCHMARKS.join(' or ')}`, min: 1, max: 1 } },
    run: async (a, args) => {
      const name = a.positional[0]!;
      if (!BENCHMARKS.includes(name)) throw new UsageError(`no benchmark named '${name}' (there are: ${BENCHMARKS.join(', ')})`);
      return (await import('../../bench/main.ts')).main(args);
    },
  },
  mkfs: {
    summary: 'make an xv6 file-system image holding host files',
    usage: `frond mkfs IMAGE [FILE...] [--size BLOCKS] [--inodes N] [--log N]

Writes IMAGE (created, or replaced) as an xv6-riscv file system, byte for byte as xv6's own mkfs
makes it for the same inputs: boot block, superblock, log, inode blocks, bitmap, data blocks; a
root directory (inode 1) holding "." and "..", then each FILE from the host, in the order given,
under its base name. xv6 keeps the first 14 bytes of a name: a longer one is cut (and a note
says so); two files whose names are then equal are refused. A file holds at most 274432 bytes
(12 direct blocks and 256 through the indirect block). Every argument is checked before IMAGE is
written; a bad one is one line on stderr and exit code 1. Check the result with frond fsck.

  --size BLOCKS   blocks of 1024 bytes in the image (default 2000, xv6's FSSIZE)
  --inodes N      inodes, inode 0 (never used) included (default 200, xv6's NINODES)
  --log N         log blocks, the header block included, 11..256 (default 30, xv6's LOGSIZE;
                  xv6's own kernel expects at least 30)`,
    spec: {
      values: { '--size': 'a number of blocks', '--inodes': 'a number of inodes', '--log': 'a number of log blocks' },
      positional: { what: 'an image file', min: 1, max: Infinity },
    },
    run: async (a) => (await import('./mkfs.ts')).main(a),
  },
  fsck: {
    summary: 'check an xv6 file-system image and report every problem',
    usage: `frond fsck IMAGE

Reads IMAGE (never changing it) and checks it as an xv6-riscv file system: the superblock's
regions fit and do not overlap; the log header is sane (a committed transaction is replayed in
memory first, as xv6 does at boot); every inode's type, size and block numbers; no block used
twice; every directory's "." and ".." (the root's ".." is itself); no entry naming a free inode;
no directory loop and nothing unreachable from /; link counts equal to the entries referring to
each inode; the bitmap marking exactly the blocks in use. Prints what the image holds, then one
line per problem. Exit code 0 if the image is clean, 1 if any problem was found or IMAGE cannot
be read.`,
    spec: { positional: { what: 'an image file', min: 1, max: 1 } },
    run: async (a) => (await import('./fsck.ts')).main(a),
  },
};

function help(): void {
  console.log('usage: frond <command> [options]\n\ncommands:');
  for (const [name, v] of Object.entries(VERBS)) console.log(`  ${name.padEnd(8)} ${v.summary}`);
  console.log('\nfrond <command> --help tells more. FROND_DEBUG=1 adds the stack trace to an unexpected error.');
}

/** Runs `frond <argv>`; returns the exit code. */
async function run(argv: string[]): Promise<number> {
  const [verb, ...args] = argv;
  if (verb === undefined) { help(); return 1; }
  if (verb === '--help' || verb === '-h' || verb === 'help') {
    const about = args[0];
    if (about === undefined) { help(); return 0; }
    if (!Object.hasOwn(VERBS, about)) { console.error(`frond help: unknown command '${about}' (see frond --help)`); return 1; }
    console.log(VERBS[about]!.usage);
    return 0;
  }
  if (!Object.hasOwn(VERBS, verb)) {
    console.error(verb.startsWith('-') ? `frond: unknown option ${verb} (see frond --help)`
      : `frond: unknown command '${verb}' (commands: ${Object.keys(VERBS).join(', ')})`);
    return 1;
  }
  const before = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  if (before.includes('--help') || before.includes('-h')) { console.log(VERBS[verb]!.usage); return 0; }
  try {
    return await VERBS[verb]!.run(parse(args, VERBS[verb]!.spec), args);
  } catch (e) {
    if (e instanceof UsageError) { console.error(`frond ${verb}: ${e.message}`); return 1; }
    // A failure no verb reported itself: one line, the stack only on request.
    const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    console.error(`frond ${verb}: ${text.split('\n')[0]}${process.env.FROND_DEBUG ? '' : ' (FROND_DEBUG=1 shows the stack)'}`);
    if (process.env.FROND_DEBUG && e instanceof Error) console.error(e.stack);
    return 1;
  }
}

// Output piped into a program that stops reading (`frond start | head`) ends the command quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e; });
process.exitCode = await run(process.argv.slice(2));

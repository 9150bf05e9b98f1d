// frond fsck IMAGE
//
// Checks an xv6 file-system image (src/tools/fs/fsck.ts) and prints a report on stdout: what the
// superblock says, what is in use, the state of the log, then one line per problem. Exit code 0
// if the image is clean, 1 if any problem was found. A file that cannot be read is one line on
// stderr (exit code 1). The image is only read, never changed (a committed log is replayed in
// memory, not on disk).
import { readFileSync, statSync } from 'node:fs';
import { fsck, type FsckStats } from '../tools/fs/fsck.ts';
import { reason, UsageError, type Parsed } from './args.ts';

/** The bytes of `file`, or a UsageError saying why they cannot be read. */
function readImage(file: string): Uint8Array {
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new UsageError(`${file}: is a directory`);
    if (!st.isFile()) throw new UsageError(`${file}: not a regular file`);
    return readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${file}: cannot read: ${reason(e)}`);
  }
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** What the image holds, in three lines (nothing if the superblock was not usable). */
function summary(image: string, s: FsckStats): string[] {
  if (s.size === 0) return [];
  return [
    `${image}: xv6 file system, ${s.size} blocks (${s.datastart} metadata, ${s.nblocks} data), ${s.ninodes} inodes, log of ${s.nlog} blocks`,
    `  ${plural(s.inodesUsed, 'inode')} in use: ${plural(s.dirs, 'directory', 'directories')}, ${plural(s.files, 'file')}, ` +
      `${plural(s.devices, 'device')}; ${s.blocksUsed} of ${s.nblocks} data blocks in use`,
    s.logReplayed > 0 ? `  log: a committed transaction of ${plural(s.logReplayed, 'block')}, replayed in memory before checking (xv6 replays it at boot)`
      : '  log: empty',
  ];
}

export async function main(a: Parsed): Promise<number> {
  const file = a.positional[0]!;
  const r = fsck(readImage(file));
  for (const line of summary(file, r.stats)) console.log(line);
  for (const e of r.errors) console.log(`  ${e}`);
  console.log(r.ok ? `${file}: clean` : `${file}: ${plural(r.problems, 'problem')} found`);
  return r.ok ? 0 : 1;
}

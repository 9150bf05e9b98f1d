// frond mkfs IMAGE [FILE...] [--size BLOCKS] [--inodes N] [--log N]
//
// Makes an xv6 file-system image (src/tools/fs/mkfs.ts) holding the host FILEs in its root
// directory, each under its base name, in the order given. Every argument is checked (numbers,
// files readable and small enough) before anything is written; a bad one is one line on stderr and
// exit code 1, and IMAGE is left as it was. On success: the layout, the files, and a note for each
// name xv6 cuts to DIRSIZ bytes.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import {
  BSIZE, DIRSIZ, FSSIZE, MAXFILE, NINODES, NLOG, bblock, bitOf, decodeName, encodeUtf8, mkfsLayout, nameBytes, type Layout,
} from '../lib/xv6fs/format.ts';
import { MKFS_LIMITS, MkfsError, mkfs, type MkfsFile } from '../tools/fs/mkfs.ts';
import { kindOf, reason, UsageError, type Parsed } from './args.ts';

/** The whole number `--name` was given, `dflt` if it was not. */
function count(a: Parsed, name: string, unit: string, r: { min: number; max: number }, dflt: number): number {
  const v = a.values.get(name);
  if (v === undefined) return dflt;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= r.min && n <= r.max)) throw new UsageError(`${name} must be a whole number of ${unit} from ${r.min} to ${r.max}, not '${v}'`);
  return n;
}

/** The host file at `path`, as a file for the image, or a UsageError saying why it cannot be. */
function hostFile(path: string): MkfsFile {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new UsageError(`${path}: is a directory (only files go in the image)`);
    if (!st.isFile()) throw new UsageError(`${path}: not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${path}: ${reason(e)}`);
  }
  if (size > MAXFILE * BSIZE) {
    throw new UsageError(`${path}: ${size} bytes; an xv6 file holds at most ${MAXFILE * BSIZE} bytes (${MAXFILE} blocks of ${BSIZE})`);
  }
  try {
    return { name: basename(path), data: readFileSync(path) };
  } catch (e) {
    throw new UsageError(`${path}: cannot read: ${reason(e)}`);
  }
}

/** One line per region, as xv6's mkfs prints it, in words. */
function describe(image: string, l: Layout): string {
  const range = (from: number, n: number) => (n === 1 ? `${from}` : `${from}..${from + n - 1}`);
  return `${image}: ${l.size} blocks of ${BSIZE} bytes: boot 0, superblock 1, log ${range(l.logstart, l.nlog)}, ` +
    `inodes ${range(l.inodestart, l.ninodeblocks)} (${l.ninodes} inodes), bitmap ${range(l.bmapstart, l.nbitmap)}, ` +
    `data ${range(l.datastart, l.nblocks)}`;
}

export async function main(a: Parsed): Promise<number> {
  const [image, ...paths] = a.positional as [string, ...string[]];
  const size = count(a, '--size', 'blocks', MKFS_LIMITS.size, FSSIZE);
  const ninodes = count(a, '--inodes', 'inodes', MKFS_LIMITS.ninodes, NINODES);
  const nlog = count(a, '--log', 'log blocks', MKFS_LIMITS.nlog, NLOG);
  if (kindOf(image) === 'directory') throw new UsageError(`${image}: is a directory`);
  const files = paths.map(hostFile);
  let bytes: Uint8Array;
  try {
    bytes = mkfs({ size, ninodes, nlog, files });
  } catch (e) {
    if (e instanceof MkfsError) throw new UsageError(e.message);
    throw e;
  }
  try { writeFileSync(image, bytes); } catch (e) { throw new UsageError(`${image}: cannot write: ${reason(e)}`); }
  const l = mkfsLayout(size, ninodes, nlog);
  console.log(describe(image, l));
  const used = usedDataBlocks(bytes, l);
  const nfiles = files.length === 1 ? '1 file' : `${files.length} files`;
  console.log(`  ${nfiles} in /; ${files.length + 1} of ${ninodes - 1} inodes and ${used} of ${l.nblocks} data blocks in use`);
  for (const f of files) {
    if (encodeUtf8(f.name).length > DIRSIZ) {
      console.log(`  note: '${f.name}' is named '${decodeName(nameBytes(f.name))}' in the image (xv6 keeps the first ${DIRSIZ} bytes of a name)`);
    }
  }
  return 0;
}

/** Data blocks the bitmap of `image` marks used. */
function usedDataBlocks(image: Uint8Array, l: Layout): number {
  let n = 0;
  for (let b = l.datastart; b < l.size; b++) {
    const { byte, mask } = bitOf(b);
    if (image[bblock(b, l) * BSIZE + byte]! & mask) n++;
  }
  return n;
}

// Reading an xv6 file system: superblock, inodes, file contents, directories, path names. Read-only
// and synchronous, over any block source (a whole image in memory, or a cache in front of a
// device). Used by tests and tools, and by the rv6 fs domain where it needs no locking or log.
// Runtime-neutral (src/lib).
//
// Invariants: nothing here writes; every block number is checked against the superblock's size
// and the source before it is read, so a bad image is an FsFormatError with a readable message,
// never a wrong answer or an out-of-range read. (fsck, src/tools/fs/fsck.ts, is the tool that
// reports everything wrong with an image; these stop at the first problem.)
import {
  BSIZE, DIRENT_SIZE, MAXFILE, NDIRECT, ROOTINO, T_DIR, decodeDinode, decodeDirent,
  decodeSuperblock, iblock, inodeOffset, nameBytes, validateSuperblock, type Dinode, type Superblock,
} from './format.ts';

/** A malformed image, or a name that is not there: the message says which. */
export class FsFormatError extends Error {
  override name = 'FsFormatError';
}

/** Reads block `b` (BSIZE bytes). */
export type ReadBlock = (b: number) => Uint8Array;

/** A ReadBlock over a whole image in memory (views, not copies). */
export function imageReader(image: Uint8Array): ReadBlock {
  const blocks = Math.floor(image.length / BSIZE);
  return (b) => {
    if (!Number.isInteger(b) || b < 0 || b >= blocks) throw new FsFormatError(`block ${b} is past the end of the image (${blocks} blocks)`);
    return image.subarray(b * BSIZE, (b + 1) * BSIZE);
  };
}

/** The superblock (block 1), checked: an FsFormatError says what is wrong with it. */
export function readSuperblock(read: ReadBlock): Superblock {
  const sb = decodeSuperblock(read(1));
  const why = validateSuperblock(sb);
  if (why !== null) throw new FsFormatError(why);
  return sb;
}

/** Inode `inum`. */
export function readInode(read: ReadBlock, sb: Superblock, inum: number): Dinode {
  if (!Number.isInteger(inum) || inum < 1 || inum >= sb.ninodes) throw new FsFormatError(`inode ${inum} is out of range (1..${sb.ninodes - 1})`);
  return decodeDinode(read(iblock(inum, sb)), inodeOffset(inum));
}

/** The disk block holding block `fbn` of a file (0 for a hole), as xv6's bmap finds it without
 *  allocating. */
export function fileBlock(read: ReadBlock, sb: Superblock, d: Dinode, fbn: number): number {
  if (fbn < NDIRECT) return checked(sb, d.addrs[fbn]!);
  if (fbn >= MAXFILE) throw new FsFormatError(`file block ${fbn} is past the largest file (${MAXFILE} blocks)`);
  const ind = checked(sb, d.addrs[NDIRECT]!);
  if (ind === 0) return 0;
  const block = read(ind);
  return checked(sb, new DataView(block.buffer, block.byteOffset, BSIZE).getUint32((fbn - NDIRECT) * 4, true));
}

/** The `d.size` bytes of a file or directory (holes read as zeros). */
export function readData(read: ReadBlock, sb: Superblock, d: Dinode): Uint8Array {
  if (d.size > MAXFILE * BSIZE) throw new FsFormatError(`size ${d.size} is over the largest file (${MAXFILE * BSIZE} bytes)`);
  const out = new Uint8Array(d.size);
  for (let off = 0; off < d.size; off += BSIZE) {
    const b = fileBlock(read, sb, d, off / BSIZE);
    if (b !== 0) out.set(read(b).subarray(0, Math.min(BSIZE, d.size - off)), off);
  }
  return out;
}

/** A directory's entries in use, with their byte offsets. */
export function readDir(read: ReadBlock, sb: Superblock, d: Dinode): { off: number; inum: number; name: string }[] {
  if (d.type !== T_DIR) throw new FsFormatError('not a directory');
  const data = readData(read, sb, d);
  const out = [];
  for (let off = 0; off + DIRENT_SIZE <= data.length; off += DIRENT_SIZE) {
    const e = decodeDirent(data, off);
    if (e.inum !== 0) out.push({ off, ...e });
  }
  return out;
}

/** The inode number `name` has in directory `dir`, or 0 (names compare as xv6's namecmp does:
 *  on their first DIRSIZ bytes). */
export function lookup(read: ReadBlock, sb: Superblock, dir: number, name: string): number {
  const want = bytesKey(nameBytes(name));
  for (const e of readDir(read, sb, readInode(read, sb, dir))) {
    if (bytesKey(nameBytes(e.name)) === want) return e.inum;
  }
  return 0;
}

/** The inode number of `path` ('/' separated, from the root; empty elements are skipped, as in
 *  xv6's skipelem), or an FsFormatError naming the element that is missing. */
export function namei(read: ReadBlock, sb: Superblock, path: string): number {
  let inum = ROOTINO;
  let at = '';
  for (const name of path.split('/').filter((s) => s !== '')) {
    if (readInode(read, sb, inum).type !== T_DIR) throw new FsFormatError(`${at || '/'} is not a directory`);
    const next = lookup(read, sb, inum, name);
    at += `/${name}`;
    if (next === 0) throw new FsFormatError(`${at}: no such file or directory`);
    inum = next;
  }
  return inum;
}

/** The contents of the file at `path` in `image` (a whole xv6 image in memory). */
export function readFile(image: Uint8Array, path: string): Uint8Array {
  const read = imageReader(image);
  const sb = readSuperblock(read);
  return readData(read, sb, readInode(read, sb, namei(read, sb, path)));
}

/** Block number `b` from an inode or indirect block: 0, or a block inside the image. */
function checked(sb: Superblock, b: number): number {
  if (b !== 0 && b >= sb.size) throw new FsFormatError(`block ${b} is past the end of the file system (${sb.size} blocks)`);
  return b;
}

function bytesKey(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

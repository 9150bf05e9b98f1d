// Open files (xv6 kernel/file.c): what a descriptor names. Descriptors of one process, and of a
// parent and the child it gave them to (spawn), share one File and so one offset, as after
// xv6's fork. A File is closed when its last descriptor is: an inode's reference goes back to
// the file system, a pipe's end is closed.
import type { Fs } from '../../../idl/rv6.ts';
import type { Pipe } from './pipe.ts';

export type FileKind = 'inode' | 'pipe' | 'console';

export class File {
  ref = 1;
  off = 0;
  /** UTF-8 bytes of a character split across console writes, kept for the next write */
  tail: Uint8Array | null = null;

  constructor(
    readonly kind: FileKind,
    readonly readable: boolean,
    readonly writable: boolean,
    readonly inum = 0,
    readonly pipe: Pipe | null = null,
    readonly append = false,
  ) {}

  dup(): File {
    this.ref++;
    return this;
  }

  /** Drops one descriptor's hold; the last one releases what the file holds. */
  close(fs: Fs): void {
    if (--this.ref > 0) return;
    if (this.kind === 'inode') fs.put(this.inum);
    else if (this.kind === 'pipe') this.pipe!.close(this.writable);
  }
}

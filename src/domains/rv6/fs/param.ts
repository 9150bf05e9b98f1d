// The fs domain's parameters (xv6 kernel/param.h for what it has) and its one internal error.
//
// Errors inside the domain are FsError exceptions carrying an errno (src/lib/rv6/abi.ts Errno): a
// routine that finds a problem throws one, the transaction it is in is undone (log.ts abort), and
// the Fs method that was called turns it into a negative errno (index.ts). Nothing else is caught:
// any other exception is a bug, and crashes the domain.

/** Longest a change may wait in the log before the timer commits it (ms): the group commit. */
export const COMMIT_MS = 30;
/** After a commit failed, how long before the timer tries again (ms). */
export const RETRY_MS = 1000;
/** Device pages (4 KiB) the buffer cache keeps, unless config `cachePages` says otherwise. */
export const NBUF = 256;
/** Longest a batch of writes may take before the device is taken for lost (ms): the driver's own
 *  limit for one synchronous command (domains/drivers/nvme DEVICE_TIMEOUT_MS). */
export const IO_TIMEOUT_MS = 400;

/** A system call's failure: `errno` is positive (abi.ts Errno); `message` says why, for the log. */
export class FsError extends Error {
  override name = 'FsError';
  constructor(readonly errno: number, message: string) {
    super(message);
  }
}

// The block device interface, after RedLeaf's BDev (interface/src/bdev.rs): one-block reads and
// writes, and batched submit-and-poll of requests over RRefDeques, all without copying a block.
//
// A request is a BlockReq that carries its block as a child RRef: the driver maps that child for
// the device's DMA in place (sys.devices), so a block moves from the caller to the disk and back
// with no copy at any boundary. Errors of the device are values (BlockReq.status), never a crash.
import type { Bytes, Copy, Interface, Option, RRef, RRefDeque, RpcResult, Struct, u16, u32, u8 } from './lib/types.ts';

/** One disk block, the unit of transfer: a page buffer (4 KiB-aligned, header out of line). */
export type Block = Bytes<4096>;

/** A block request: what to do, where, and the block to do it with. */
export interface BlockReq extends Struct {
  /** the block number (in units of the device's block size; BDevInfo.blockSize is 4096 here) */
  lba: u32;
  /** BlockOp (src/lib/block.ts) */
  op: u8;
  /** BlockStatus (src/lib/block.ts): OK, a device status code, or a driver's */
  status: u16;
  /** the caller's: returned untouched */
  tag: u32;
  /** written by a shadow: the order in which requests were submitted, for re-submission */
  seq: u32;
  data: Option<RRef<Block>>;
}

export type BlockBatch = RRefDeque<BlockReq, 32>;

export interface BDevInfo extends Copy {
  readonly blocks: u32;
  readonly blockSize: u32;
  /** requests the device queue holds at once */
  readonly depth: u32;
}

export interface BDev extends Interface {
  info(): RpcResult<BDevInfo>;
  /** reads block req.lba into req.data; returns the request with its status set */
  read(req: RRef<BlockReq>): RpcResult<RRef<BlockReq>>;
  /** writes req.data to block req.lba (durable after flush); returns the request with its status */
  write(req: RRef<BlockReq>): RpcResult<RRef<BlockReq>>;
  /** makes every completed write durable */
  flush(): RpcResult<u16>;
  /**
   * Submits every request in `batch` (requests the device queue cannot take yet wait in the
   * driver, in order) and returns the same deque holding the requests that have completed since,
   * oldest first, each with its status: as many as the deque holds; the rest come with the next
   * call. Call with an empty batch to poll.
   */
  submitAndPoll(batch: RRef<BlockBatch>): RpcResult<RRef<BlockBatch>>;
  /** requests submitted and not yet returned */
  pending(): RpcResult<u32>;
  /** resolves when the device next raises an interrupt (completions are ready to be polled) */
  wait(): Promise<RpcResult<u32>>;
}

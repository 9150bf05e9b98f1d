// Values of the block interface's fields (src/idl/block.ts), shared by block drivers, shadows and
// their callers: IDL files hold only types.

/** BlockReq.op */
export const BlockOp = { READ: 1, WRITE: 2, FLUSH: 3 } as const;

/** BlockReq.status. Codes 1..0xff are the device's (machine/common/nvme.ts Status); the driver's
 *  own are above them. */
export const BlockStatus = {
  OK: 0,
  /** the request has no block (data is None) */
  NO_BLOCK: 0x100,
  /** op is not a BlockOp, or not allowed in this call */
  BAD_OP: 0x101,
  /** the DMA mapping could not be made (the IOMMU table is full) */
  NO_MAPPING: 0x102,
  /** the device stopped answering (it lost power or failed) */
  DEVICE_LOST: 0x103,
  /** submitted, not completed */
  PENDING: 0xffff,
} as const;

/** Block size of the block interface. */
export const BLOCK_BYTES = 4096;

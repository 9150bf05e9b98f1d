// The exchange-heap service: sys.heap for one domain, every operation bound to it (its handles, its
// quota). Its reclaim is the heap's own (ExchangeHeap.reclaim and release, from the crash path).
// No liveness check on accessors: a dead domain owns no slots, so every handle it could present is
// refused anyway; operations that could give it something new (alloc, put, pop) check first.
import type { HeapCap } from '../../idl/lib/sys.ts';
import type { Domain } from '../domain.ts';
import type { ExchangeHeap } from '../heap.ts';
import { live } from './common.ts';

export function heapFor(H: ExchangeHeap, d: Domain): HeapCap {
  const id = d.id;
  return {
    alloc: (t) => { live(d); return H.allocate(id, t); },
    free: (h) => H.free(id, h),
    typeOf: (h) => H.typeOf(id, h),
    size: (h) => H.size(id, h),
    u8: (h, o) => H.u8(id, h, o),
    u16: (h, o) => H.u16(id, h, o),
    u32: (h, o) => H.u32(id, h, o),
    i8: (h, o) => H.i8(id, h, o),
    i16: (h, o) => H.i16(id, h, o),
    i32: (h, o) => H.i32(id, h, o),
    f64: (h, o) => H.f64(id, h, o),
    u64: (h, o) => H.u64(id, h, o),
    i64: (h, o) => H.i64(id, h, o),
    setU8: (h, o, v) => H.setU8(id, h, o, v),
    setU16: (h, o, v) => H.setU16(id, h, o, v),
    setU32: (h, o, v) => H.setU32(id, h, o, v),
    setI8: (h, o, v) => H.setI8(id, h, o, v),
    setI16: (h, o, v) => H.setI16(id, h, o, v),
    setI32: (h, o, v) => H.setI32(id, h, o, v),
    setF64: (h, o, v) => H.setF64(id, h, o, v),
    setU64: (h, o, v) => H.setU64(id, h, o, v),
    setI64: (h, o, v) => H.setI64(id, h, o, v),
    read: (h, o, dst, at, n) => H.read(id, h, o, dst, at, n),
    write: (h, o, src, at, n) => H.write(id, h, o, src, at, n),
    copy: (dst, dOff, src, sOff, n) => H.copy(id, dst, dOff, src, sOff, n),
    fill: (h, o, b, n) => H.fill(id, h, o, b, n),
    take: (h, i) => H.take(id, h, i),
    put: (h, i, c) => { live(d); return H.put(id, h, i, c); },
    salvage: () => { live(d); d.salvages = true; },
    salvaged: () => { live(d); return H.salvaged(id); },
    push: (h, c) => H.push(id, h, c),
    pop: (h) => { live(d); return H.pop(id, h); },
    count: (h) => H.count(id, h),
  };
}

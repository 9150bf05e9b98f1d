// Fast kernel metadata arrays.
//
// After SES lockdown freezes Array.prototype, V8 11 takes a slow path for keyed stores into
// ordinary arrays (and typed arrays are slower still). An array whose prototype is null keeps
// the fast path. Such an array has no methods: use indexing and .length only.

export function table<T>(n: number, v: T): T[] {
  const a: T[] = [];
  Object.setPrototypeOf(a, null);
  for (let i = 0; i < n; i++) a[i] = v;
  return a;
}

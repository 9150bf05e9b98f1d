// Tests for the language-tax hash table (bench/domains/tax/hashtable.ts): the table against a Map
// reference, the hash against a byte-by-byte FNV-1a, the workload's checksum against a Map-based
// recomputation, and the module running unchanged inside an SES Compartment after lockdown()
// (in a child process, because lockdown() would harden this whole test process) without looking
// up globals in its hot path.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HashTable, Workload, fnv1a64key, keyStream } from './domains/tax/hashtable.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODULE = fileURLToPath(new URL('./domains/tax/hashtable.ts', import.meta.url));

const keyOf = (lo: number, hi: number): string => `${lo >>> 0}:${hi >>> 0}`;

/** FNV-1a (32-bit) the textbook way: BigInt arithmetic over a byte array. */
function fnv1aBytes(bytes: Uint8Array): number {
  let h = 0x811c9dc5n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x01000193n) & 0xffffffffn;
  return Number(h);
}

function keyBytes(lo: number, hi: number): Uint8Array {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setUint32(0, lo >>> 0, true);
  dv.setUint32(4, hi >>> 0, true);
  return new Uint8Array(dv.buffer);
}

/** Reference xorshift32 in BigInt arithmetic (no reliance on JS's 32-bit shift semantics). */
function referenceStream(seed: number): () => number {
  const M = 0xffffffffn;
  let x = BigInt(seed >>> 0) || 0x9e3779b9n;
  return () => {
    x ^= (x << 13n) & M;
    x ^= x >> 17n;
    x ^= (x << 5n) & M;
    return Number(x);
  };
}

/** The workload's checksum recomputed from its documented definition with a Map. */
function referenceChecksum(log2: number, seed: number, ops: number): number {
  const n = (2 ** log2 / 4) * 3;
  const next = keyStream(seed);
  const values = new Map<string, number>();
  const inserted: [number, number][] = [];
  for (let k = 0; k < n; k++) {
    const lo = next();
    const hi = next();
    inserted.push([lo, hi]);
    values.set(keyOf(lo, hi), (lo ^ 0x9e3779b9) >>> 0);
  }
  let stride = Math.floor(n * 0.6180339887498949) | 1;
  while (stride % 3 === 0) stride += 2;
  const list: [number, number][] = [];
  for (let j = 0; j < n; j++) {
    list.push(inserted[(j * stride) % n]);
    list.push([next(), next()]);
  }
  let c = 0;
  for (let i = 0; i < ops; i++) {
    const [lo, hi] = list[i % list.length];
    c = (Math.imul(c, 31) + (values.get(keyOf(lo, hi)) ?? -1)) | 0;
  }
  return c >>> 0;
}

describe('fnv1a64key', () => {
  it('the reference implementation matches published FNV-1a test vectors', () => {
    const enc = new TextEncoder();
    assert.equal(fnv1aBytes(new Uint8Array(0)), 0x811c9dc5);
    assert.equal(fnv1aBytes(enc.encode('a')), 0xe40c292c);
    assert.equal(fnv1aBytes(enc.encode('foobar')), 0xbf9cf968);
  });

  it('matches FNV-1a over the 8 little-endian key bytes', () => {
    const next = keyStream(7);
    const cases: [number, number][] = [[0, 0], [1, 0], [0, 1], [0xffffffff, 0xffffffff], [0x80000000, 0x7f], [-1, -2]];
    for (let i = 0; i < 1000; i++) cases.push([next(), i % 3 === 0 ? 0 : next()]);
    for (const [lo, hi] of cases) {
      const h = fnv1a64key(lo, hi);
      assert.equal(h, fnv1aBytes(keyBytes(lo, hi)), `key ${keyOf(lo, hi)}`);
      assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff);
    }
  });
});

describe('keyStream', () => {
  it('is xorshift32: deterministic, nonzero u32s, seed 0 allowed', () => {
    for (const seed of [1, 42, 0xdeadbeef, -5, 0]) {
      const a = keyStream(seed);
      const b = keyStream(seed);
      const ref = referenceStream(seed);
      for (let i = 0; i < 1000; i++) {
        const x = a();
        assert.equal(x, b());
        assert.equal(x, ref());
        assert.ok(Number.isInteger(x) && x > 0 && x <= 0xffffffff);
      }
    }
  });
});

describe('HashTable', () => {
  it('rejects capacities outside 2^4..2^26', () => {
    for (const bad of [3, 27, -1, 4.5, Number.NaN]) assert.throws(() => new HashTable(bad), RangeError);
    assert.equal(new HashTable(4).capacity, 16);
    assert.equal(new HashTable(12).capacity, 4096);
  });

  it('rejects key 0 and never reports it present', () => {
    const t = new HashTable(4);
    assert.throws(() => t.set(0, 0, 1, 2), RangeError);
    assert.equal(t.size, 0);
    assert.equal(t.get(0, 0), -1);
    assert.equal(t.getHi(0, 0), -1);
    assert.equal(t.has(0, 0), false);
    // Half-zero keys are ordinary keys.
    assert.equal(t.set(0, 1, 10, 11), true);
    assert.equal(t.set(1, 0, 20, 21), true);
    assert.equal(t.get(0, 1), 10);
    assert.equal(t.getHi(1, 0), 21);
    assert.equal(t.get(0, 0), -1);
  });

  it('takes halves modulo 2^32 and returns u32 values', () => {
    const t = new HashTable(6);
    assert.equal(t.set(-1, -2, -3, -4), true);
    assert.equal(t.get(0xffffffff, 0xfffffffe), 0xfffffffd);
    assert.equal(t.getHi(0xffffffff, 0xfffffffe), 0xfffffffc);
    assert.equal(t.has(-1, -2), true);
    assert.equal(t.size, 1);
  });

  it('agrees with a Map over random set/update/get/has, with collisions in small tables', () => {
    for (const [log2, pool, steps] of [[4, 12, 2000], [4, 40, 2000], [5, 30, 3000], [8, 150, 5000], [10, 2000, 20000]]) {
      const t = new HashTable(log2);
      const ref = new Map<string, [number, number]>();
      const rnd = keyStream(log2 * 1000 + pool);
      // A key pool with forced collisions: a tiny table maps many keys to each home slot.
      const keys: [number, number][] = [];
      for (let i = 0; i < pool; i++) keys.push(i % 5 === 0 ? [i + 1, 0] : [rnd(), rnd()]);
      for (let s = 0; s < steps; s++) {
        const [lo, hi] = keys[rnd() % pool];
        const op = rnd() % 4;
        if (op === 0) {
          const vlo = rnd();
          const vhi = rnd();
          const had = ref.has(keyOf(lo, hi));
          const ok = t.set(lo, hi, vlo, vhi);
          const full = ref.size === t.capacity;
          assert.equal(ok, had || !full, `set at step ${s}`);
          if (ok) ref.set(keyOf(lo, hi), [vlo, vhi]);
        } else {
          const want = ref.get(keyOf(lo, hi));
          assert.equal(t.has(lo, hi), want !== undefined);
          assert.equal(t.get(lo, hi), want ? want[0] : -1);
          assert.equal(t.getHi(lo, hi), want ? want[1] : -1);
        }
        assert.equal(t.size, ref.size);
      }
      for (const k of keys) {
        const want = ref.get(keyOf(k[0], k[1]));
        assert.equal(t.get(k[0], k[1]), want ? want[0] : -1);
      }
    }
  });

  it('when full: updates succeed, new keys are refused, lookups of absent keys terminate', () => {
    const t = new HashTable(4);
    const next = keyStream(99);
    const keys: [number, number][] = [];
    for (let i = 0; i < 16; i++) {
      const k: [number, number] = [next(), next()];
      keys.push(k);
      assert.equal(t.set(k[0], k[1], i, 100 + i), true);
    }
    assert.equal(t.size, 16);
    assert.equal(t.set(next(), next(), 1, 2), false);
    assert.equal(t.size, 16);
    assert.equal(t.set(keys[3][0], keys[3][1], 7, 8), true);
    assert.equal(t.get(keys[3][0], keys[3][1]), 7);
    assert.equal(t.getHi(keys[3][0], keys[3][1]), 8);
    assert.equal(t.get(12345, 678), -1);
    assert.equal(t.getHi(12345, 678), -1);
    assert.equal(t.has(12345, 678), false);
    assert.equal(t.get(0, 0), -1);
    for (let i = 0; i < 16; i++) if (i !== 3) assert.equal(t.get(keys[i][0], keys[i][1]), i);
  });
});

describe('Workload', () => {
  it('returns the checksum a Map-based recomputation gives', () => {
    for (const [log2, seed, ops] of [[4, 1, 0], [4, 1, 5], [4, 2, 100], [8, 3, 1000], [12, 2024, 20000]]) {
      assert.equal(new Workload(log2, seed).run(ops), referenceChecksum(log2, seed, ops), `log2 ${log2} seed ${seed} ops ${ops}`);
    }
  });

  it('is deterministic and repeatable', () => {
    const a = new Workload(10, 12345);
    const b = new Workload(10, 12345);
    const x = a.run(10_000);
    assert.equal(b.run(10_000), x);
    assert.equal(a.run(10_000), x);
    assert.notEqual(new Workload(10, 54321).run(10_000), x);
  });

  it('alternates hits and misses', () => {
    // With one lookup the checksum is the first hit's value; with two, the miss adds -1.
    const w = new Workload(6, 5);
    const first = w.run(1);
    assert.equal(w.run(2), (Math.imul(first, 31) - 1) >>> 0);
  });
});

describe('inside an SES Compartment', () => {
  it('gives the host checksum after lockdown()', () => {
    const [log2, seed, ops] = [12, 77, 200_000];
    const script = `
      import 'ses';
      import { build } from 'esbuild';
      lockdown({ errorTaming: 'unsafe' });
      const out = await build({ entryPoints: [${JSON.stringify(MODULE)}], bundle: true, format: 'cjs',
        platform: 'neutral', target: 'es2022', write: false, logLevel: 'silent' });
      const code = '(function(){const module={exports:{}};const exports=module.exports;' +
        out.outputFiles[0].text + '\\nreturn module.exports;})()';
      const c = new Compartment({ __options__: true, globals: {} });
      const m = c.evaluate(code);
      const hostless = c.evaluate('typeof process === "undefined" && typeof Buffer === "undefined"');
      const checksum = new m.Workload(${log2}, ${seed}).run(${ops});
      // Count reads of Math.imul through the global Math while the workload runs: in a Compartment a
      // global named in the hot path is a slow dynamic lookup, so there must be none.
      let imulReads = 0;
      const math = Object.create(Math, { imul: { get() { imulReads++; return Math.imul; } } });
      const m2 = new Compartment({ __options__: true, globals: { Math: math } }).evaluate(code);
      const w2 = new m2.Workload(6, 1);
      imulReads = 0;
      w2.run(1000);
      console.log(JSON.stringify({ frozen: Object.isFrozen(Array.prototype), hostless, checksum, imulReads }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const got = JSON.parse(lines[lines.length - 1]) as { frozen: boolean; hostless: boolean; checksum: number; imulReads: number };
    assert.equal(got.frozen, true, 'lockdown() ran');
    assert.equal(got.hostless, true, 'the compartment has no host globals');
    assert.equal(got.checksum, new Workload(log2, seed).run(ops));
    assert.equal(got.imulReads, 0, 'Workload.run looks up the global Math');
  });
});

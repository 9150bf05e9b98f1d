// The console and timer device models. Console: bytes a driver writes reach the output in order,
// more than the ring holds and through a slow output (back-pressure), from a driver on this thread
// and from one on a worker thread sleeping in Atomics.wait; input reaches the receive ring in order
// through a ring far smaller than the input, with EOF after the last byte; raw mode on a TTY is set
// and restored; a child using the real stdin/stdout echoes its piped input and exits at EOF.
// Timer: tick counts near elapsed / period, period changes and pause, acknowledge, and stop()
// leaving no thread (a child that stops its timer exits by itself, one that does not is killed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runModule } from '../../../test/child.ts';
import { spawn } from 'node:child_process';
import { PassThrough, Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { startConsole } from './console.ts';
import { startTimer } from './timer.ts';
import { Reg, StatusBit } from '../common/console.ts';
import { DeviceStatus } from '../common/timer.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

/** A Writable that takes its time over each chunk (so back-pressure happens) and keeps what it got. */
function slowSink(tty = false): { sink: Writable; bytes: () => Uint8Array } {
  const got: Uint8Array[] = [];
  const sink = new Writable({
    highWaterMark: 8,
    write(chunk: Uint8Array, _enc, cb) { got.push(Uint8Array.from(chunk)); setImmediate(cb); },
  });
  if (tty) Object.assign(sink, { isTTY: true });
  return { sink, bytes: () => Uint8Array.from(Buffer.concat(got)) };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(1);
  }
}

test('console: driver output reaches the output stream in order, many times the ring, with back-pressure', async () => {
  const { sink, bytes } = slowSink();
  const dev = startConsole({ input: new PassThrough(), output: sink, txSize: 16 });
  const data = pattern(5000);
  let at = 0, full = 0;
  while (at < data.length) {
    const n = dev.port.write(data.subarray(at, at + 1 + (at % 23)));
    if (n === 0) { full++; await yieldLoop(); }
    at += n;
  }
  await dev.stop();
  assert.ok(full > 0, 'the ring filled at least once');
  assert.deepEqual(bytes(), data);
  assert.ok(dev.port.status() & StatusBit.STOPPED);
  assert.equal(dev.error, null);
});

test('console: a driver on a worker thread, sleeping in Atomics.wait for room', async () => {
  const { sink, bytes } = slowSink();
  const dev = startConsole({ input: new PassThrough(), output: sink, txSize: 32 });
  const data = pattern(20000);
  // A minimal driver in plain JS: the same ring protocol as ConsolePort.write, blocking for room.
  const driver = new Worker(`
    const { workerData: d } = require('node:worker_threads');
    const w = new Int32Array(d.memory), mem = new Uint8Array(d.memory), R = d.reg, N = d.txSize, base = d.base;
    let tail = Atomics.load(w, R.TX_TAIL / 4);
    for (let i = 0; i < d.data.length;) {
      const head = Atomics.load(w, R.TX_HEAD / 4);
      if ((tail + 1) % N === head) { Atomics.wait(w, R.TX_HEAD / 4, head, 1000); continue; }
      mem[base + tail] = d.data[i++];
      tail = (tail + 1) % N;
      if (i % 7 === 0 || i === d.data.length) { Atomics.store(w, R.TX_TAIL / 4, tail); Atomics.notify(w, R.TX_TAIL / 4); }
    }
  `, { eval: true, execArgv: [], workerData: { memory: dev.memory, reg: Reg, txSize: 32, base: 64 + 4096, data } });
  await new Promise((r) => driver.once('exit', r));
  await dev.stop();
  assert.deepEqual(bytes(), data);
});

test('console: input reaches the receive ring in order through a small ring, then EOF', async () => {
  const input = new PassThrough();
  const dev = startConsole({ input, output: new PassThrough(), rxSize: 16 });
  const data = pattern(3000);
  for (let i = 0; i < data.length; i += 100) input.write(data.subarray(i, i + 100));
  input.end();
  const got: number[] = [];
  const buf = new Uint8Array(12);
  let sawFull = false;
  await until(() => {
    if (dev.port.readable() === 15) sawFull = true;
    const n = dev.port.read(buf);
    got.push(...buf.subarray(0, n));
    return dev.port.eof();
  });
  assert.equal(got.length, data.length);
  assert.deepEqual(Uint8Array.from(got), data);
  assert.ok(sawFull, 'the receive ring was full while input waited');
  assert.ok(dev.port.rxEvents() > 0);
  assert.equal(dev.port.read(buf), 0);
  await dev.stop();
  assert.equal(dev.error, null);
});

test('console: EOF only after the last input byte is in the ring', async () => {
  const input = new PassThrough();
  const dev = startConsole({ input, output: new PassThrough(), rxSize: 4 });
  input.end(Uint8Array.from([1, 2, 3, 4, 5, 6, 7]));
  await until(() => dev.port.readable() === 3);
  await sleep(20);
  assert.equal(dev.port.status() & StatusBit.EOF, 0, 'four bytes still wait outside the ring');
  const got: number[] = [];
  const buf = new Uint8Array(8);
  await until(() => { got.push(...buf.subarray(0, dev.port.read(buf))); return dev.port.eof(); });
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7]);
  await dev.stop();
});

test('console: a TTY input goes raw and is restored on stop; crlf on a TTY output', async () => {
  const modes: boolean[] = [];
  const input = Object.assign(new PassThrough(), {
    isTTY: true, isRaw: false,
    setRawMode(m: boolean) { modes.push(m); this.isRaw = m; return this; },
  });
  const { sink, bytes } = slowSink(true);
  const dev = startConsole({ input, output: sink });
  assert.equal(dev.raw, true);
  assert.deepEqual(modes, [true]);
  dev.port.write(new TextEncoder().encode('a\nb\n'));
  input.write('x');
  await until(() => dev.port.readable() === 1);
  await dev.stop();
  assert.deepEqual(modes, [true, false]);
  assert.equal(new TextDecoder().decode(bytes()), 'a\r\nb\r\n');
  // A non-TTY input is left alone.
  const plain = startConsole({ input: new PassThrough(), output: new PassThrough() });
  assert.equal(plain.raw, false);
  await plain.stop();
});

test('console: on the real stdin/stdout of a child, piped input is echoed and EOF ends it', async () => {
  const code = `
    import { startConsole } from ${JSON.stringify(new URL('./console.ts', import.meta.url).href)};
    const dev = startConsole({ rxSize: 8 });
    const buf = new Uint8Array(64);
    const out = [];
    while (!dev.port.eof()) {
      const n = dev.port.read(buf);
      for (let i = 0; i < n; i++) out.push(buf[i] >= 97 && buf[i] <= 122 ? buf[i] - 32 : buf[i]);
      await new Promise((r) => setTimeout(r, 1));
    }
    const all = Uint8Array.from(out);
    for (let at = 0; at < all.length;) { const n = dev.port.write(all.subarray(at)); at += n; if (!n) await new Promise((r) => setImmediate(r)); }
    await dev.stop();
  `;
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  p.stdin.write('hello\n');
  setTimeout(() => p.stdin.end('line two\n'), 50);
  const killer = setTimeout(() => p.kill('SIGKILL'), 4000);
  const status = await new Promise((r) => p.on('exit', (c, s) => { clearTimeout(killer); r(s ?? c); }));
  assert.equal(status, 0);
  assert.equal(out, 'HELLO\nLINE TWO\n');
});

test('timer: ticks at about the period; period changes, pause and acknowledge take effect', async () => {
  const t = startTimer({ periodUs: 2000 });
  try {
    await t.ready;
    assert.equal(t.status(), DeviceStatus.RUNNING);
    let t0 = performance.now(), n0 = t.ticks();
    await sleep(300);
    let ms = performance.now() - t0, n = t.ticks() - n0;
    assert.ok(n >= (ms / 2) * 0.5 && n <= ms / 2 + 3, `${n} ticks in ${ms.toFixed(0)} ms at 2 ms`);
    assert.ok(t.acknowledge() >= n);
    t.setPeriod(20000);
    t0 = performance.now(); n0 = t.ticks();
    await sleep(300);
    ms = performance.now() - t0; n = t.ticks() - n0;
    assert.ok(n >= (ms / 20) * 0.5 && n <= ms / 20 + 2, `${n} ticks in ${ms.toFixed(0)} ms at 20 ms`);
    t.setPeriod(0);
    await sleep(5);
    n0 = t.ticks();
    await sleep(60);
    assert.equal(t.ticks(), n0, 'paused');
    t.setPeriod(1000);
    await until(() => t.ticks() > n0 + 5);
    t.acknowledge();
    await until(() => t.port.pending() > 0);
  } finally {
    await t.stop();
  }
  assert.equal(t.status(), DeviceStatus.STOPPED);
  assert.equal(t.error, null);
  assert.throws(() => t.port.setPeriod(50), RangeError);
});

/** A child that starts a timer, sees a few ticks and, if asked, stops it: its exit code or signal. */
function timerChild(stop: boolean, killAfterMs: number): Promise<string> {
  const code = `
    import { startTimer } from ${JSON.stringify(new URL('./timer.ts', import.meta.url).href)};
    const t = startTimer({ periodUs: 1000 });
    const deadline = Date.now() + 3000;
    while (t.ticks() < 3) { if (Date.now() > deadline) process.exit(3); await new Promise((r) => setTimeout(r, 1)); }
    ${stop ? 'await t.stop();' : ''}
  `;
  return runModule(code, killAfterMs);
}

test('timer: stop() leaves nothing running (the process exits by itself, and does not without stop)', async () => {
  const [stopped, running] = await Promise.all([timerChild(true, 4000), timerChild(false, 2000)]);
  assert.equal(stopped, 'exit 0');
  assert.equal(running, 'SIGKILL');
});

test('console: as a kernel Device, onInterrupt fires on input and on transmit room, stop() ends it, reset() is true', async () => {
  const input = new PassThrough();
  const dev = startConsole({ input, output: new PassThrough() });
  let n = 0;
  dev.onInterrupt(() => { n++; });
  input.write('x');
  await until(() => n >= 1);
  const before = n;
  dev.port.write(new TextEncoder().encode('y'));
  await until(() => n > before);
  assert.equal(dev.reset(), true);
  await dev.stop();
  const after = n;
  await sleep(10);
  assert.equal(n, after, 'no interrupt after stop');
});

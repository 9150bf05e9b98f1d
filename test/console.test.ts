// rv6's console domain (src/domains/rv6/console) on the console device model
// (machine/node/console.ts), attached to a kernel: xv6's line discipline, reads in order, output
// larger than the ring, UTF-8 split across chunks, a crash and restart that lose no byte the driver
// had not taken, waiting without spinning, and a process that exits by itself afterwards.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { PassThrough, Writable } from 'node:stream';
import { boot, ROOT } from './helpers.ts';
import type { Console } from '../src/idl/console.ts';
import type { RpcResult } from '../src/idl/lib/types.ts';
import { devicesFor } from '../src/kernel/services/devices.ts';
import type { Device } from '../src/machine/common/device.ts';
import { startConsole, type ConsoleDevice, type ConsoleOptions } from '../src/machine/node/console.ts';

const DIR = 'src/domains/rv6/console';
const b = await boot([DIR]);
const devs: ConsoleDevice[] = [];
after(async () => {
  for (const d of devs) await d.stop();
  b.k.shutdown();
});

let nextIrq = 40;
let nextName = 0;

interface Setup { name: string; input: PassThrough; dev: ConsoleDevice; api: Console; output: () => string }

/** A console device on piped input, attached, and a console domain driving it. */
function setup(o: Partial<ConsoleOptions> = {}): Setup {
  const name = `con${nextName++}`;
  const input = new PassThrough();
  const got: Buffer[] = [];
  const sink = new Writable({ write(c: Buffer, _e, cb) { got.push(c); cb(); } });
  const dev = startConsole({ input, output: sink, ...o });
  devs.push(dev);
  b.k.attachDevice(name, dev, { irq: nextIrq++ });
  const api = create(name);
  return { name, input, dev, api, output: () => Buffer.concat(got).toString('utf8') };
}

function create(name: string): Console {
  return b.k.create<Console>('console', {}, { devices: [name], config: { device: name } }).api;
}

function value<T>(r: RpcResult<T>): T {
  if (!r.ok) throw new Error(`call failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

const read = async (api: Console, max = 1024): Promise<string> => value(await api.read(max));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(2);
  }
}

test('console domain: lines are read in order, waiting reads served in the order made', async () => {
  const { input, api } = setup();
  const pending = [api.read(100), api.read(100), api.read(100)];
  input.write('one\ntwo\n');
  await sleep(10);
  input.write('three\r');
  assert.deepEqual((await Promise.all(pending)).map(value), ['one\n', 'two\n', 'three\n']);
  input.write('four\nfive\n');
  assert.equal(await read(api), 'four\n');
  assert.equal(await read(api), 'five\n');
});

test('console domain: backspace, DEL and ^U edit the line; a long line is cut at the edit buffer and by max', async () => {
  const { input, api } = setup();
  input.write('helo\x08lo\nabc\x7fd\njunk\x15ok\nxé\x08y\n');
  assert.equal(await read(api), 'hello\n');
  assert.equal(await read(api), 'abd\n');
  assert.equal(await read(api), 'ok\n');
  assert.equal(await read(api), 'xy\n', 'backspace erases the whole character');
  input.write(`${'a'.repeat(200)}\n`);
  assert.equal(await read(api), 'a'.repeat(128), 'the edit buffer (128 bytes) is full');
  assert.equal(await read(api), `${'a'.repeat(72)}\n`);
  input.write('hello\n€\n');
  assert.equal(await read(api, 2), 'he');
  assert.equal(await read(api, 100), 'llo\n');
  assert.equal(await read(api, 2), '€', 'at least one whole character');
  assert.equal(await read(api, 2), '\n');
});

test('console domain: ^D ends a line, ^D at an empty line is end of file, then the end of input', async () => {
  const { input, api } = setup();
  input.write('abc\x04\x04more\n');
  assert.equal(await read(api), 'abc');
  assert.equal(await read(api), '', '^D at an empty line');
  assert.equal(await read(api), 'more\n', 'input goes on after a ^D');
  input.end('tail');
  assert.equal(await read(api), 'tail', 'the last line, without its newline');
  assert.equal(await read(api), '');
  assert.equal(await read(api), '', 'end of input stays');
});

test('console domain: a write many times the transmit ring arrives whole and in order', async () => {
  const { api, output } = setup({ txSize: 64 });
  let text = '';
  for (let i = 0; i < 3000; i++) text += `line ${i} ✓\n`;
  const n = value(api.write(text));
  assert.equal(n, Buffer.byteLength(text));
  assert.equal(value(api.write('end\n')), 4);
  await until(() => output().length === text.length + 4);
  assert.equal(output(), `${text}end\n`);
});

test('console domain: UTF-8 split across chunks and through a small ring decodes whole', async () => {
  const { input, api } = setup({ rxSize: 4 });
  const bytes = Buffer.from('€uro ✓ 😀 naïve\n');
  const r = api.read(100);
  for (const byte of bytes) {
    input.write(Buffer.from([byte]));
    await sleep(1);
  }
  assert.equal(value(await r), '€uro ✓ 😀 naïve\n');
});

test('console domain: after a crash, a new driver continues where the ring is', async () => {
  const s = setup({ rxSize: 16 });
  const crashes = b.k.stats().crashes;
  s.input.write('l1\nl2\nl3\nl4\n');
  assert.equal(await read(s.api), 'l1\n');
  assert.ok(b.k.injectCrash(s.name));
  assert.equal(b.k.stats().crashes, crashes + 1);
  assert.equal(b.k.driverOf(s.name), null);
  const again = create(s.name);
  assert.equal(await read(again), 'l2\n', 'no byte lost, none doubled');
  assert.equal(await read(again), 'l3\n');
  s.input.write('l5\n');
  assert.equal(await read(again), 'l4\n');
  assert.equal(await read(again), 'l5\n');
  assert.equal(value(again.write('ok\n')), 3);
  await until(() => s.output() === 'ok\n');
});

test('console domain: a waiting read does not spin', async () => {
  const { input, api } = setup();
  const crashes = b.k.stats().crashes;
  const r = api.read(100);
  const cpu0 = process.cpuUsage();
  await sleep(200);
  const cpu = process.cpuUsage(cpu0);
  assert.ok((cpu.user + cpu.system) / 1000 < 60, `CPU while waiting: ${(cpu.user + cpu.system) / 1000} ms`);
  input.write('late\n');
  assert.equal(value(await r), 'late\n');
  assert.equal(b.k.stats().crashes, crashes, 'no crash (no budget overrun)');
});

test('devices: a device without DMA has no mapper, and map() on it throws', () => {
  const fake: Device = { memory: new SharedArrayBuffer(64), reset: () => true, onInterrupt: () => {} };
  b.k.attachDevice('nodma', fake, { irq: nextIrq++ });
  assert.equal(b.k.devices.get('nodma')!.mapper, null);
  const dev = startConsole({ input: new PassThrough(), output: new PassThrough() });
  devs.push(dev);
  b.k.attachDevice('con-nodma', dev, { irq: nextIrq++ });
  // a console driver of con-nodma, also granted nodma
  const d = b.k.create<Console>('console', {}, { devices: ['con-nodma', 'nodma'], config: { device: 'con-nodma' } });
  assert.throws(() => devicesFor(b.k, d.domain).open('nodma').map(1, -1, 1), /device nodma does no DMA/);
  b.k.kill(d.domain);
  assert.equal(fake.reset(), true);
});

test('console domain: on a child process\'s real stdin and stdout, the process exits by itself', async () => {
  const code = `
    import { boot } from ${JSON.stringify(new URL('./helpers.ts', import.meta.url).href)};
    import { startConsole } from ${JSON.stringify(new URL('../src/machine/node/console.ts', import.meta.url).href)};
    const b = await boot([${JSON.stringify(DIR)}]);
    const dev = startConsole();
    b.k.attachDevice('console0', dev, { irq: 1 });
    const api = b.k.create('console', {}, { devices: ['console0'], config: { device: 'console0' } }).api;
    for (;;) {
      const r = await api.read(100);
      if (!r.ok || r.value === '') break;
      api.write(r.value.toUpperCase());
    }
    b.k.shutdown();
    await dev.stop();
  `;
  const out = await new Promise<{ code: number | string; text: string }>((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT });
    let text = '';
    c.stdout.on('data', (d) => { text += d; });
    c.stderr.on('data', (d) => { text += d; });
    const t = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.on('exit', (x, sig) => { clearTimeout(t); resolve({ code: sig ?? x ?? -1, text }); });
    c.stdin.end('hello\nwörld\n');
  });
  assert.equal(out.code, 0, out.text);
  assert.equal(out.text, 'HELLO\nWÖRLD\n');
});

test('console domain: on a terminal in raw mode (StatusBit.RAW) typed bytes are echoed and erasures wiped; on a pipe nothing is echoed', async () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true, setRawMode(): unknown { return tty; } });
  const s = setup({ input: tty });
  assert.equal(s.dev.raw, true);
  const line = s.api.read(100);
  tty.write('ab\x7fc\x15xy\n');
  assert.equal(value(await line), 'xy\n');
  const want = 'ab\b \bc\b \b\b \bxy\n'; // a, b, b wiped, c, the line (a, c) wiped, x, y, newline
  await until(() => s.output().length >= want.length);
  assert.equal(s.output(), want);
  const piped = setup();
  const l2 = piped.api.read(100);
  piped.input.write('ab\x7fc\n');
  assert.equal(value(await l2), 'ac\n');
  await sleep(20);
  assert.equal(piped.output(), '', 'no echo on a pipe');
});

test('console domain: on a terminal, typing is taken in at once (echoed before anyone reads); ^C discards the line, echoes ^C and wakes intr(); on a pipe ^C is data', async () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true, setRawMode(): unknown { return tty; } });
  const s = setup({ input: tty });
  const intr = s.api.intr();
  tty.write('ls');
  await until(() => s.output() === 'ls');
  tty.write('\x03');
  assert.equal(value(await intr), 1);
  await until(() => s.output() === 'ls^C\n');
  tty.write('echo\n');
  assert.equal(value(await s.api.read(100)), 'echo\n', 'the interrupted line was discarded');
  const piped = setup();
  piped.input.write('a\x03b\n');
  assert.equal(value(await piped.api.read(100)), 'a\x03b\n');
});

test('console domain: on a terminal the up and down arrows recall earlier lines, replacing the line on screen; other escape sequences are dropped', async () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true, setRawMode(): unknown { return tty; } });
  const s = setup({ input: tty });
  tty.write('ls\r');
  assert.equal(value(await s.api.read(100)), 'ls\n');
  tty.write('cat f\r');
  assert.equal(value(await s.api.read(100)), 'cat f\n');
  tty.write('x\x1b[A\x1b[A\x1b[B\x1b[D\r'); // x, up (cat f), up (ls), down (cat f), left (dropped)
  assert.equal(value(await s.api.read(100)), 'cat f\n');
  tty.write('\x1b[A\x1b[A\x1b[A\x1b[A\r'); // up past the oldest stays there
  assert.equal(value(await s.api.read(100)), 'ls\n');
  const wipe = (n: number): string => '\b \b'.repeat(n);
  const want = `ls\ncat f\nx${wipe(1)}cat f${wipe(5)}ls${wipe(2)}cat f\ncat f${wipe(5)}ls\n`;
  await until(() => s.output().length >= want.length);
  assert.equal(s.output(), want);
});

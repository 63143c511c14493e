/**
 * `npm run bench -- connect`: what one loopback TCP client connection costs a Node process, next
 * to the same loop in Python (plain blocking sockets): the part of a Node proxy's relay cost that
 * comes from opening, half-closing and closing the backend socket.
 *
 * A listener (Node, in a child process; not counted) answers each connection by ending it when
 * the client's FIN arrives. The client opens a connection, half-closes at once, waits for the end
 * and close, then opens the next: N in a row. Counted: the client process's CPU (user + system,
 * from process.cpuUsage / resource.getrusage) per connection, after a warm-up, in alternating
 * rounds; ratios within a round. The balancer does this for every client connection (its
 * upstream), on top of the TLS side.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machine, medianRange, num, report, spread } from './lib/report.js';

const ROUNDS = Number(process.env.BENCH_CONNECT_ROUNDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECT_CONNECTIONS ?? 3000);

const LISTENER = `
import net from 'node:net';
const s = net.createServer((c) => { c.on('data', () => {}); c.on('end', () => c.end()); c.on('error', () => {}); });
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
`;

const NODE_CLIENT = `
import net from 'node:net';
const [port, n] = process.argv.slice(2).map(Number);
const run = (count) => new Promise((resolve) => {
  let done = 0;
  const one = () => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('connect', () => s.end());
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => (++done < count ? one() : resolve()));
  };
  one();
});
await run(500); // warm-up
const c0 = process.cpuUsage();
await run(n);
const c = process.cpuUsage(c0);
console.log((c.user + c.system) / n);
`;

const PYTHON_CLIENT = `
import socket, sys, resource
port, n = int(sys.argv[1]), int(sys.argv[2])
def run(count):
    for _ in range(count):
        s = socket.create_connection(('127.0.0.1', port))
        s.shutdown(socket.SHUT_WR)
        while s.recv(64): pass
        s.close()
run(500)
r0 = resource.getrusage(resource.RUSAGE_SELF)
run(n)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) / n * 1e6)
`;

function run(cmd: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], (err, stdout, stderr) => (err ? reject(new Error(`${cmd}: ${stderr}`, { cause: err })) : resolve(Number(stdout.trim()))));
  });
}

export async function main(command: string): Promise<void> {
  const startedLoad = machine();
  const dir = await mkdtemp(join(tmpdir(), 'ocsp-stapler-bench-connect-'));
  const files = { listener: join(dir, 'listener.mjs'), node: join(dir, 'client.mjs'), python: join(dir, 'client.py') };
  await Promise.all([writeFile(files.listener, LISTENER), writeFile(files.node, NODE_CLIENT), writeFile(files.python, PYTHON_CLIENT)]);
  const listener = spawn(process.execPath, [files.listener], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(listener.stdout!, 'data')) as [Buffer];
    const port = String(Number(line.toString().trim()));
    const node: number[] = [];
    const python: number[] = [];
    const ratio: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? (['node', 'python'] as const) : (['python', 'node'] as const);
      const got: Record<string, number> = {};
      for (const who of order) got[who] = await run(who === 'node' ? process.execPath : 'python3', [files[who], port, String(CONNECTIONS)]);
      node.push(got.node!);
      python.push(got.python!);
      ratio.push(got.node! / got.python!);
      console.log(`connect bench: round ${round}/${ROUNDS}: Node ${num(got.node!)} µs, Python ${num(got.python!)} µs CPU per connection`);
    }
    const body = [
      `A client process opens a loopback TCP connection, half-closes it at once, waits for the`,
      `listener's end and the close, and opens the next: ${num(CONNECTIONS)} in a row after 500 of warm-up, ${ROUNDS} rounds`,
      `alternating which goes first. CPU (user + system) of the client process per connection; the`,
      `listener (Node, another process) is not counted.`,
      '',
      '| client | CPU µs per connection, median (min–max) |',
      '|---|---|',
      `| Node ${process.version} \`net.connect\`, \`end()\`, \`'close'\` | **${medianRange(spread(node))}** |`,
      `| Python 3, blocking \`socket\` | **${medianRange(spread(python))}** |`,
      `| Node / Python, within a round | **${medianRange(spread(ratio), 2)}** |`,
    ].join('\n');
    await report('6. What one loopback TCP client connection costs a Node process', command, startedLoad, body);
  } finally {
    listener.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

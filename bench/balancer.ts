// 4. The example balancer against Pen 0.34 and HAProxy: same certificate, key, staple and backend.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchPki } from './lib/fixtures.js';
import { lbFiles, startBackend, startBalancer, startHaproxy, startPen, treeCpuMs, treeRss, wrk, type Running } from './lib/lb.js';
import { startChild, type Child } from './lib/proc.js';
import { summariseProfile } from './lib/profile.js';
import { machine, medianRange, num, report, sleep, spread } from './lib/report.js';

const ROUNDS = Number(process.env.BENCH_LB_ROUNDS ?? 3);
const CONN_MS = 1500;
const WARM_MS = 0; // a warm-up pass runs first; CPU is sampled around the whole window
const CLIENT_PROCESSES = 2;
const CONCURRENCY = 8;
const WRK_SECONDS = 2;
const WRK_THREADS = 2;
const WRK_CONNECTIONS = 64;
const IDLE = 1000;
const MB = 2 ** 20;

interface Counts {
  handshakes: number;
  stapled: number;
  errors: number;
  seconds: number;
}

interface Figures {
  conn: number[];
  /** The server's own CPU ms (all processes and threads) per new connection. */
  connCpu: number[];
  /** The server's own CPU µs per keep-alive request. */
  rpsCpu: number[];
  stapled: number;
  connections: number;
  connErrors: number;
  rps: number[];
  p50: number[];
  p99: number[];
  wrkErrors: number;
  rssIdle?: number;
  rssLoaded?: number;
  processes?: number;
  idleStapled?: number;
}

async function connRate(clients: Child[], port: number, ms: number): Promise<Counts> {
  const replies = await Promise.all(clients.map((c) => c.ask<Counts>({ port, request: true, concurrency: CONCURRENCY, warmMs: WARM_MS, ms })));
  return replies.reduce((a, b) => ({ handshakes: a.handshakes + b.handshakes, stapled: a.stapled + b.stapled, errors: a.errors + b.errors, seconds: b.seconds }));
}

const ratio = (values: number[]) => {
  const s = spread(values);
  return `**${num(s.median, 2)}** (${num(s.min, 2)}–${num(s.max, 2)})`;
};

/** Runs the benchmark and appends its block to bench/RESULTS.md. */
export async function main(command: string): Promise<void> {
  const startedLoad = machine();
  const dir = await mkdtemp(join(tmpdir(), 'ocsp-stapler-bench-lb-'));
  const started: Array<{ stop(): Promise<void> }> = [];
  const figures = new Map<string, Figures>();
  const ratios = {
    connVsPen: [] as number[],
    connCpuVsPen: [] as number[],
    rpsVsPen: [] as number[],
    rpsCpuVsPen: [] as number[],
    connVsHaproxy1: [] as number[],
    connCpuVsHaproxy1: [] as number[],
    connVsHaproxy2: [] as number[],
    connCpuVsHaproxy2: [] as number[],
    rpsVsHaproxy2: [] as number[],
    rpsCpuVsHaproxy2: [] as number[],
  };
  let profileText = '';
  /** CPU ms per new connection of the --workers primary alone (node:cluster hands every connection to a worker). */
  const primaryConnCpu: number[] = [];
  try {
    const pki = await benchPki('ec');
    const files = await lbFiles(join(dir, 'files'), pki);
    const backend = await startBackend(dir);
    started.push(backend);
    const lbs: Running[] = [];
    for (const start of [
      () => startBalancer(files, backend.port, 1),
      () => startPen(files, backend.port),
      () => startHaproxy(files, backend.port, 1),
      () => startBalancer(files, backend.port, 2),
      () => startHaproxy(files, backend.port, 2),
    ]) {
      const lb = await start();
      lbs.push(lb);
      started.push(lb);
      figures.set(lb.name, { conn: [], connCpu: [], rpsCpu: [], stapled: 0, connections: 0, connErrors: 0, rps: [], p50: [], p99: [], wrkErrors: 0 });
    }
    const clients: Child[] = [];
    for (let i = 0; i < CLIENT_PROCESSES; i++) clients.push((await startChild('handshake-client.ts', {})).child);
    started.push(...clients);

    // Memory first, on servers that have seen no traffic yet (afterwards a garbage-collected
    // heap's RSS says more about the last load than about the connections): RSS of the whole
    // process tree, idle, then with IDLE idle TLS connections open.
    const { child: idle } = await startChild('idle-client.ts', {});
    started.push(idle);
    for (const lb of lbs) {
      const f = figures.get(lb.name)!;
      await sleep(300);
      const before = await treeRss(lb.process.pid!);
      const opened = await idle.ask<{ open: number; stapled: number }>({ open: { port: lb.port, count: IDLE } });
      await sleep(1000);
      const after = await treeRss(lb.process.pid!);
      await idle.ask({ close: true });
      f.rssIdle = before.bytes;
      f.rssLoaded = after.bytes;
      f.processes = after.processes;
      f.idleStapled = opened.stapled;
      console.log(`balancer memory ${lb.name}: ${num(before.bytes / MB, 1)} MiB idle, ${num(after.bytes / MB, 1)} MiB with ${opened.open} connections`);
    }
    // Warm-up (JIT, TLS session caches): one short pass over each, not counted.
    for (const lb of lbs) {
      await connRate(clients, lb.port, 500);
      await wrk(lb.port, 1, WRK_THREADS, WRK_CONNECTIONS);
    }
    for (let round = 0; round < ROUNDS; round++) {
      const order = lbs.map((_, i) => lbs[(i + round) % lbs.length]!);
      if (round % 2) order.reverse();
      const conn = new Map<string, number>();
      const rps = new Map<string, number>();
      const connCpu = new Map<string, number>();
      const rpsCpu = new Map<string, number>();
      for (const lb of order) {
        const f = figures.get(lb.name)!;
        const pid = lb.process.pid!;
        const cpu0 = await treeCpuMs(pid);
        const c = await connRate(clients, lb.port, CONN_MS);
        const cpu1 = await treeCpuMs(pid);
        const w = await wrk(lb.port, WRK_SECONDS, WRK_THREADS, WRK_CONNECTIONS);
        const cpu2 = await treeCpuMs(pid);
        const perConn = (cpu1.total - cpu0.total) / Math.max(1, c.handshakes);
        const perRequest = ((cpu2.total - cpu1.total) * 1000) / Math.max(1, w.rps * WRK_SECONDS);
        if (lb.name.includes('--workers')) primaryConnCpu.push((cpu1.root - cpu0.root) / Math.max(1, c.handshakes));
        f.connCpu.push(perConn);
        f.rpsCpu.push(perRequest);
        connCpu.set(lb.name, perConn);
        rpsCpu.set(lb.name, perRequest);
        f.conn.push(c.handshakes / c.seconds);
        f.stapled += c.stapled;
        f.connections += c.handshakes;
        f.connErrors += c.errors;
        f.rps.push(w.rps);
        f.p50.push(w.p50ms);
        f.p99.push(w.p99ms);
        f.wrkErrors += w.errors;
        conn.set(lb.name, c.handshakes / c.seconds);
        rps.set(lb.name, w.rps);
        console.log(`balancer round ${round + 1}/${ROUNDS} ${lb.name}: ${num(c.handshakes / c.seconds)} conn/s (${c.stapled} stapled, ${c.errors} failed, ${num(perConn, 3)} CPU ms each), ${num(w.rps)} req/s (${num(perRequest, 1)} CPU µs each), p50 ${w.p50ms} ms, p99 ${w.p99ms} ms`);
      }
      // Capacity ratios: the rate a saturated server keeps is inversely proportional to its CPU per unit of work.
      const cap = (m: Map<string, number>, ours: string, theirs: string) => m.get(theirs)! / m.get(ours)!;
      ratios.connCpuVsPen.push(cap(connCpu, 'balancer', 'Pen'));
      ratios.rpsCpuVsPen.push(cap(rpsCpu, 'balancer', 'Pen'));
      ratios.connCpuVsHaproxy1.push(cap(connCpu, 'balancer', 'HAProxy nbthread 1'));
      ratios.connCpuVsHaproxy2.push(cap(connCpu, 'balancer --workers 2', 'HAProxy nbthread 2'));
      ratios.rpsCpuVsHaproxy2.push(cap(rpsCpu, 'balancer --workers 2', 'HAProxy nbthread 2'));
      ratios.connVsPen.push(conn.get('balancer')! / conn.get('Pen')!);
      ratios.rpsVsPen.push(rps.get('balancer')! / rps.get('Pen')!);
      ratios.connVsHaproxy1.push(conn.get('balancer')! / conn.get('HAProxy nbthread 1')!);
      ratios.connVsHaproxy2.push(conn.get('balancer --workers 2')! / conn.get('HAProxy nbthread 2')!);
      ratios.rpsVsHaproxy2.push(rps.get('balancer --workers 2')! / rps.get('HAProxy nbthread 2')!);
    }

    for (const lb of lbs) await lb.stop();

    // Where the balancer's time goes during new connections: a CPU profile of one process.
    const profDir = join(dir, 'prof');
    const profiled = await startBalancer(files, backend.port, 1, ['--cpu-prof', '--cpu-prof-dir', profDir]);
    started.push(profiled);
    await connRate(clients, profiled.port, 500);
    const c = await connRate(clients, profiled.port, 3000);
    await profiled.stop();
    const profFile = (await readdir(profDir)).find((f) => f.endsWith('.cpuprofile'));
    if (profFile) {
      const p = summariseProfile(await readFile(join(profDir, profFile), 'utf8'));
      const pct = (share: number) => `${num(share * 100, 1)} %`;
      profileText = `
CPU profile of the single-process balancer (\`node --cpu-prof\`) while it accepted new TLS
connections (${num(c.handshakes / c.seconds)} conn/s in the profiled 3 s; profile covers the whole
process life, including start-up and a 0.5 s warm-up). Shares are of the time the process was
busy (idle time left out: ${pct(p.idleShare)} of samples were idle). Self time by area:

| area | share of samples |
|---|---|
${p.areas.map((l) => `| ${l.name} | ${pct(l.share)} |`).join('\n')}

Top functions by self time:

| function | share |
|---|---|
${p.functions.map((l) => `| \`${l.name}\` | ${pct(l.share)} |`).join('\n')}
`;
    }
  } finally {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }

  const rows = [...figures].map(([name, f]) => {
    const share = `${num((f.stapled / Math.max(1, f.connections)) * 100, 1)} %`;
    return `| ${name} | ${medianRange(spread(f.conn))} | ${num(spread(f.connCpu).median, 3)} | ${share} | ${f.connErrors} | ${medianRange(spread(f.rps))} | ${num(spread(f.rpsCpu).median, 1)} | ${num(spread(f.p50).median, 2)} | ${num(spread(f.p99).median, 2)} | ${f.wrkErrors} | ${num((f.rssIdle ?? NaN) / MB, 1)} | ${num((f.rssLoaded ?? NaN) / MB, 1)} (${f.processes ?? '?'} proc.) | ${num(((f.rssLoaded ?? NaN) - (f.rssIdle ?? NaN)) / IDLE / 1024, 1)} KiB | ${f.idleStapled ?? '?'} / ${IDLE} |`;
  });
  await report('4. The balancer against Pen 0.34 and HAProxy 2.6', command, startedLoad, `
Same P-256 certificate (leaf + intermediate; Pen 0.34 sends the leaf only), key and staple
for all; the same HTTP backend on 127.0.0.1 (an HAProxy answering \`200 ok\` to everything,
keep-alive). All three terminate TLS and relay bytes (HAProxy in \`mode tcp\`, like Pen and the
balancer). The balancer is \`examples/balancer/cli.ts\` bundled with esbuild and run with plain
\`node\`; it staples with ocsp-stapler (\`--ocsp\`), Pen with \`penctl ... ssl_ocsp_response\`, HAProxy
from \`site.pem.ocsp\`. Everything runs on the same 2 cores as the clients.

- **new conn/s**: ${CLIENT_PROCESSES} Node client processes × ${CONCURRENCY} connections, each a new TLS
  connection (full handshake, TLS 1.3, staple requested) carrying one HTTP/1.1 request with
  \`Connection: close\`, counted when the 200 arrives; ${CONN_MS / 1000} s per round.
- **keep-alive**: \`wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} -d${WRK_SECONDS}s --latency\`: requests/s, p50 and p99 latency (ms).
- **memory**: RSS of the process tree (primary + workers), idle, then with ${num(IDLE)} idle TLS
  connections open (each also holding its backend connection).
- ${ROUNDS} rounds after one uncounted warm-up pass; the order of the five rotates every round;
  ratios are taken within a round.

| server | new conn/s median (min–max) | server CPU ms per new conn | stapled | failed | keep-alive req/s median (min–max) | server CPU µs per request | p50 ms | p99 ms | wrk errors | RSS idle, MiB | RSS with ${num(IDLE)} conns, MiB | per connection | idle conns stapled |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

The rates above are what these clients got through on 2 shared cores: the Node clients, wrk and
the backend use most of the CPU, so the servers are not saturated and the rates differ little.
What each server would sustain alone is inversely proportional to its own CPU time per unit of
work (\`/proc/PID/stat\` utime + stime of the server's processes and threads, sampled around each
measurement, 10 ms ticks). Ratios (median and range over rounds):

| comparison | measured rate ratio | capacity ratio (their CPU per unit / ours) |
|---|---|---|
| new TLS conn, balancer vs Pen (target >= 1) | ${ratio(ratios.connVsPen)} | ${ratio(ratios.connCpuVsPen)} |
| keep-alive requests, balancer vs Pen | ${ratio(ratios.rpsVsPen)} | ${ratio(ratios.rpsCpuVsPen)} |
| new TLS conn, balancer vs HAProxy nbthread 1 | ${ratio(ratios.connVsHaproxy1)} | ${ratio(ratios.connCpuVsHaproxy1)} |
| new TLS conn, balancer --workers 2 vs HAProxy nbthread 2 | ${ratio(ratios.connVsHaproxy2)} | ${ratio(ratios.connCpuVsHaproxy2)} |
| keep-alive requests, balancer --workers 2 vs HAProxy nbthread 2 | ${ratio(ratios.rpsVsHaproxy2)} | ${ratio(ratios.rpsCpuVsHaproxy2)} |

With \`--workers 2\`, the node:cluster primary alone used ${num(spread(primaryConnCpu).median, 3)} CPU ms per new
connection (median over rounds): on Linux, node:cluster's default round-robin scheduling has
the primary accept every connection and pass it to a worker over IPC.
${profileText}`);
}

// 4. The example balancer against Pen 0.34, HAProxy in tcp mode, a minimal Node proxy and the
// floors (the same TLS answered by the server itself), and --workers 2 against one process:
// server CPU per new connection, side by side in interleaved rounds, after warm-up, with the
// background load of every measurement recorded and disturbed rounds left out.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sendCommand } from '../examples/balancer/control.js';
import { cpuDelta, cpuOf, loadNow, machineBusyMs, processTree } from './lib/cpu.js';
import { benchPki } from './lib/fixtures.js';
import { lbFiles, startBackend, startBalancer, startHaproxy, startHaproxyFloor, startMinNode, startPen, type LbFiles, type Running } from './lib/lb.js';
import { startChild, type Child } from './lib/proc.js';
import { summariseProfile } from './lib/profile.js';
import { machine, num, report, spread } from './lib/report.js';

const ROUNDS = Number(process.env.BENCH_LB_ROUNDS ?? 12);
/** New connections per server per round (split over the client processes). */
const PER_ROUND = Number(process.env.BENCH_LB_CONNECTIONS ?? 1000);
/** Connections each server gets before anything is counted (a fresh Node process costs 1.2-1.9x its steady state for its first ~2,500). */
const WARM_UP = Number(process.env.BENCH_LB_WARMUP ?? 5000);
const WARM_CHUNK = Math.min(1000, WARM_UP);
const CLIENT_PROCESSES = 2;
const CONCURRENCY = 8;
/**
 * A measurement is disturbed when the rest of the machine (everything but the processes this
 * benchmark started) kept more than this many cores busy on average meanwhile; a round with a
 * disturbed measurement is left out of the ratios.
 */
const DISTURBED_CORES = Number(process.env.BENCH_LB_DISTURBED ?? 0.1);

interface Server {
  readonly key: string;
  readonly label: string;
  readonly start: (files: LbFiles, backendPort: number, dir: string) => Promise<Running>;
  /** --workers: a control socket to count connections per worker. */
  readonly control?: string;
}

interface Measurement {
  /** Server CPU (every thread of every process of the server), µs per completed connection. */
  readonly cpuUs: number;
  readonly userMs: number;
  readonly systemMs: number;
  readonly handshakes: number;
  readonly stapled: number;
  readonly errors: number;
  readonly seconds: number;
  /** Cores kept busy by other processes during the measurement (machine busy time less ours, per wall second). */
  readonly foreignCores: number;
  readonly load1: number;
  readonly runnable: number;
  /** --workers: connections each worker took in this measurement. */
  readonly perWorker?: number[];
}

/** Connections per worker so far, from the balancer's `servers` command (one entry per worker). */
async function workerTotals(control: string): Promise<number[]> {
  const reply = await sendCommand({ path: control }, 'servers');
  const workers = (reply.data as { workers?: { data?: { servers?: { total: number }[] } }[] }).workers ?? [];
  return workers.map((w) => (w.data?.servers ?? []).reduce((a, s) => a + s.total, 0));
}

async function drive(clients: Child[], port: number, count: number) {
  const each = Math.ceil(count / clients.length);
  const replies = await Promise.all(clients.map((c) => c.ask<{ handshakes: number; stapled: number; errors: number; seconds: number }>({ port, request: true, concurrency: CONCURRENCY, warmMs: 0, ms: 0, count: each })));
  return replies.reduce((a, b) => ({ handshakes: a.handshakes + b.handshakes, stapled: a.stapled + b.stapled, errors: a.errors + b.errors, seconds: Math.max(a.seconds, b.seconds) }));
}

const median = (values: number[]) => spread(values).median;
const range = (values: number[], digits: number) => {
  const s = spread(values);
  return s.n === 0 ? 'n/a' : `**${num(s.median, digits)}** (${num(s.min, digits)}–${num(s.max, digits)})`;
};

/** Runs the benchmark and appends its block to bench/RESULTS.md. */
export async function main(command: string): Promise<void> {
  const startedLoad = machine();
  const began = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'ocsp-stapler-bench-lb-'));
  const started: Array<{ stop(): Promise<void> }> = [];
  const servers: Server[] = [
    { key: 'balancer', label: 'balancer', start: (f, b) => startBalancer(f, b) },
    { key: 'pen', label: 'Pen 0.34', start: (f, b) => startPen(f, b) },
    { key: 'haproxy', label: 'HAProxy tcp (nbthread 1)', start: (f, b) => startHaproxy(f, b, 1) },
    { key: 'proxy', label: 'minimal Node proxy', start: (f, b) => startMinNode(f, b, 'proxy') },
    { key: 'floor', label: 'Node floor (answers itself)', start: (f, b) => startMinNode(f, b, 'floor') },
    { key: 'hafloor', label: 'HAProxy floor (answers itself)', start: (f) => startHaproxyFloor(f) },
    { key: 'w2', label: 'balancer --workers 2 (SCHED_NONE)', control: join(dir, 'w2.sock'), start: (f, b, d) => startBalancer(f, b, { workers: 2, control: join(d, 'w2.sock') }) },
    { key: 'w2rr', label: 'balancer --workers 2, round robin (node:cluster default)', control: join(dir, 'w2rr.sock'), start: (f, b, d) => startBalancer(f, b, { workers: 2, schedulingPolicy: 'rr', control: join(d, 'w2rr.sock') }) },
  ];
  const results = new Map<string, Measurement[]>(servers.map((s) => [s.key, []]));
  const warmCurve = new Map<string, number[]>();
  const roundForeign: number[][] = [];
  let profiles = '';
  try {
    const pki = await benchPki('ec');
    const files = await lbFiles(join(dir, 'files'), pki);
    const backend = await startBackend(dir);
    started.push(backend);
    const running = new Map<string, Running>();
    for (const s of servers) {
      const r = await s.start(files, backend.port, dir);
      running.set(s.key, r);
      started.push(r);
    }
    const clients: Child[] = [];
    for (let i = 0; i < CLIENT_PROCESSES; i++) clients.push((await startChild('handshake-client.ts', {})).child);
    started.push(...clients);

    // Warm-up: WARM_UP connections per server, in chunks whose CPU per connection is kept (the
    // warm-up curve), before anything is counted.
    const trees = new Map<string, number[]>();
    for (const s of servers) {
      const r = running.get(s.key)!;
      const pids = await processTree(r.process.pid!);
      const curve: number[] = [];
      for (let done = 0; done < WARM_UP; done += WARM_CHUNK) {
        const c0 = await cpuOf(pids);
        const d = await drive(clients, r.port, WARM_CHUNK);
        curve.push(cpuDelta(c0, await cpuOf(pids)).ns / 1000 / Math.max(1, d.handshakes));
      }
      warmCurve.set(s.key, curve);
      trees.set(s.key, await processTree(r.process.pid!));
      console.log(`balancer bench: warmed up ${s.label}: µs per connection by ${WARM_CHUNK}: ${curve.map((v) => num(v)).join(', ')}`);
    }
    const ours = [process.pid, ...(await processTree(backend.process.pid!)), ...clients.map((c) => c.process.pid!), ...[...trees.values()].flat()];

    for (let round = 0; round < ROUNDS; round++) {
      const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
      if (round % 2) order.reverse();
      const foreign: number[] = [];
      for (const s of order) {
        const r = running.get(s.key)!;
        const pids = trees.get(s.key)!;
        const before = s.control ? await workerTotals(s.control) : undefined;
        const load = await loadNow();
        const m0 = await machineBusyMs();
        const o0 = await cpuOf(ours);
        const c0 = await cpuOf(pids);
        const t0 = performance.now();
        const d = await drive(clients, r.port, PER_ROUND);
        const c1 = await cpuOf(pids);
        const o1 = await cpuOf(ours);
        const m1 = await machineBusyMs();
        const wallMs = performance.now() - t0;
        const server = cpuDelta(c0, c1);
        const foreignCores = Math.max(0, (m1.busyMs - m0.busyMs - (o1.ns - o0.ns) / 1e6) / wallMs);
        foreign.push(foreignCores);
        const after = s.control ? await workerTotals(s.control) : undefined;
        const m: Measurement = {
          cpuUs: server.ns / 1000 / Math.max(1, d.handshakes),
          userMs: server.userMs,
          systemMs: server.systemMs,
          handshakes: d.handshakes,
          stapled: d.stapled,
          errors: d.errors,
          seconds: d.seconds,
          foreignCores,
          load1: load.load1,
          runnable: load.runnable,
          perWorker: before && after ? after.map((v, i) => v - (before[i] ?? 0)) : undefined,
        };
        results.get(s.key)!.push(m);
        console.log(`balancer bench: round ${round + 1}/${ROUNDS} ${s.label}: ${num(m.cpuUs)} µs CPU per connection, ${num(d.handshakes / d.seconds)} conn/s, ${d.stapled}/${d.handshakes} stapled, ${d.errors} failed, others used ${num(foreignCores, 2)} cores, load ${load.load1}${m.perWorker ? `, per worker ${m.perWorker.join('/')}` : ''}`);
      }
      roundForeign.push(foreign);
    }
    for (const r of running.values()) await r.stop();

    // Where the CPU goes: a V8 CPU profile of the balancer and of the minimal proxy while they
    // accept new connections (after the same warm-up), by area.
    for (const which of ['balancer', 'proxy'] as const) {
      const profDir = join(dir, `prof-${which}`);
      const execArgv = ['--cpu-prof', '--cpu-prof-dir', profDir];
      const r = which === 'balancer' ? await startBalancer(files, backend.port, { execArgv }) : await startMinNode(files, backend.port, 'proxy', execArgv);
      started.push(r);
      const pids = await processTree(r.process.pid!);
      await drive(clients, r.port, WARM_UP);
      const c0 = await cpuOf(pids);
      const d = await drive(clients, r.port, 3 * PER_ROUND);
      const cpu = cpuDelta(c0, await cpuOf(pids));
      await r.stop();
      const profFile = (await readdir(profDir)).find((f) => f.endsWith('.cpuprofile'));
      if (!profFile) continue;
      const p = summariseProfile(await readFile(join(profDir, profFile), 'utf8'), 12);
      const pct = (share: number) => `${num(share * 100, 1)} %`;
      profiles += `
**${which === 'balancer' ? 'The balancer' : 'The minimal Node proxy'}** (${num(d.handshakes)} connections profiled after
${num(WARM_UP)} of warm-up; ${num(cpu.ns / 1000 / Math.max(1, d.handshakes))} µs CPU per connection with the profiler on; /proc:
${pct(cpu.userMs / Math.max(1, cpu.userMs + cpu.systemMs))} user, ${pct(cpu.systemMs / Math.max(1, cpu.userMs + cpu.systemMs))} system (kernel: sockets,
loopback TCP)). The profile covers the whole process life; shares of busy samples (idle ${pct(p.idleShare)}):

| area | share |
|---|---|
${p.areas.map((l) => `| ${l.name} | ${pct(l.share)} |`).join('\n')}

| function (self time) | share |
|---|---|
${p.functions.map((l) => `| \`${l.name}\` | ${pct(l.share)} |`).join('\n')}
`;
    }
  } finally {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }

  // Rounds whose every measurement ran with the rest of the machine nearly idle.
  const clean = roundForeign.map((f) => f.every((c) => c <= DISTURBED_CORES));
  const cleanCount = clean.filter(Boolean).length;
  const use = cleanCount > 0 ? clean : clean.map(() => true);
  const picked = (key: string) => results.get(key)!.filter((_, i) => use[i]);
  const cpu = (key: string) => picked(key).map((m) => m.cpuUs);
  const ratio = (a: string, b: string) => results.get(a)!.flatMap((m, i) => (use[i] ? [m.cpuUs / results.get(b)![i]!.cpuUs] : []));
  const diff = (a: string, b: string) => results.get(a)!.flatMap((m, i) => (use[i] ? [m.cpuUs - results.get(b)![i]!.cpuUs] : []));
  const all = [...results.values()].flat();
  const foreignAll = spread(all.map((m) => m.foreignCores));
  const loads = spread(all.map((m) => m.load1));

  const rows = servers.map((s) => {
    const ms = picked(s.key);
    const user = ms.reduce((a, m) => a + m.userMs, 0);
    const system = ms.reduce((a, m) => a + m.systemMs, 0);
    const conns = ms.reduce((a, m) => a + m.handshakes, 0);
    const stapled = ms.reduce((a, m) => a + m.stapled, 0);
    const errors = results.get(s.key)!.reduce((a, m) => a + m.errors, 0);
    const warm = warmCurve.get(s.key) ?? [];
    return `| ${s.label} | ${range(cpu(s.key), 0)} | ${num((user / Math.max(1, user + system)) * 100, 0)} / ${num((system / Math.max(1, user + system)) * 100, 0)} | ${num(median(ms.map((m) => m.handshakes / m.seconds)))} | ${num((stapled / Math.max(1, conns)) * 100, 1)} % | ${errors} | ${warm.map((v) => num(v)).join(', ')} |`;
  });

  const fairness = (key: string) => {
    const shares = picked(key).flatMap((m) => {
      const w = m.perWorker ?? [];
      const total = w.reduce((a, b) => a + b, 0);
      return w.length > 1 && total > 0 ? [Math.max(...w) / total] : [];
    });
    const totals = picked(key).reduce<number[]>((acc, m) => (m.perWorker ?? []).map((v, i) => v + (acc[i] ?? 0)), []);
    return `${range(shares.map((x) => x * 100), 1)} % | ${totals.join(' / ')}`;
  };

  const roundsLine = roundForeign
    .map((f, i) => `${i + 1}: ${num(Math.max(...f), 2)}${clean[i] ? '' : ' (disturbed)'}`)
    .join('; ');

  await report('4. The balancer against Pen, HAProxy, a minimal Node proxy and the floors; --workers 2', command, startedLoad, `
Server CPU per new TLS connection, everything on the same 2 cores. Same P-256 certificate
(leaf + intermediate; Pen 0.34 sends the leaf only), key and staple for all; every connection a
full TLS 1.3 handshake asking for a staple, one HTTP/1.1 request with \`Connection: close\`, counted
when the 200 arrives (${CLIENT_PROCESSES} Node client processes × ${CONCURRENCY} connections). The backend is an HAProxy
answering \`200 ok\` on 127.0.0.1; its CPU is not counted.

- **balancer**: \`examples/balancer/cli.ts\` bundled with esbuild, plain \`node\`, stapling with
  ocsp-stapler (\`--ocsp\`). **--workers 2**: the same with two workers (SCHED_NONE, its default),
  and with node:cluster's round robin (\`NODE_CLUSTER_SCHED_POLICY=rr\`, the primary accepts and
  hands each connection over IPC); CPU summed over the primary and the workers.
- **Pen 0.34** (Debian \`pen\`, \`-E/-K\`, staple through \`penctl ssl_ocsp_response\`); **HAProxy tcp**:
  HAProxy 2.6 \`mode tcp\`, \`nbthread 1\`, staple from \`site.pem.ocsp\`.
- **minimal Node proxy**: bench/lib/min-proxy.ts, 40 lines: \`tls.createServer\`, the library's
  staple (\`createStaplingContext().attach()\`), \`net.connect\` and \`pipe()\` both ways.
- **floors**: the same TLS server answering the request itself, no backend, no relay: Node (the
  minimal proxy's file in \`floor\` mode) and HAProxy (\`mode http\`, \`http-request return\`). A
  server's relay cost is its CPU less its floor's.
- **CPU**: on-CPU time of every thread of the server's processes (\`/proc/PID/task/*/schedstat\`,
  ns), per connection completed. user/system split from \`/proc/PID/stat\`.
- **warm-up**: ${num(WARM_UP)} connections per server before counting, in chunks of ${num(WARM_CHUNK)} (CPU per
  connection of each chunk in the last column: a fresh Node process is slower until V8 has
  optimised its hot code).
- **rounds**: ${ROUNDS} rounds × ${num(PER_ROUND)} connections per server; the order rotates every round and
  reverses every other; ratios are taken within a round.
- **background load**: for each measurement, the machine's busy time (\`/proc/stat\`) less the
  CPU of every process this benchmark started, per wall second = cores kept busy by others.
  A round is **disturbed** when any of its measurements had more than ${DISTURBED_CORES} core busy elsewhere;
  disturbed rounds are left out. Clean rounds: **${cleanCount} of ${ROUNDS}**${cleanCount === 0 ? ' (none: the figures below use every round and are disturbed)' : ''}. Others' load
  per measurement: median ${num(foreignAll.median, 2)} cores (${num(foreignAll.min, 2)}–${num(foreignAll.max, 2)}); 1-minute load average
  ${num(loads.min, 2)}–${num(loads.max, 2)}. Worst measurement per round: ${roundsLine}.

| server | CPU µs per new connection, median (min–max) | user / system % | conn/s seen by the clients | stapled | failed | warm-up, µs per connection by ${num(WARM_CHUNK)} |
|---|---|---|---|---|---|---|
${rows.join('\n')}

Ratios of CPU per new connection within a round (median (min–max) over the rounds used):

| ratio | value | target |
|---|---|---|
| balancer / Pen | ${range(ratio('balancer', 'pen'), 3)} | <= 0.93 |
| minimal Node proxy / Pen | ${range(ratio('proxy', 'pen'), 3)} | |
| HAProxy tcp / Pen | ${range(ratio('haproxy', 'pen'), 3)} | |
| Node floor / Pen | ${range(ratio('floor', 'pen'), 3)} | |
| HAProxy floor / Pen | ${range(ratio('hafloor', 'pen'), 3)} | |
| balancer / minimal Node proxy | ${range(ratio('balancer', 'proxy'), 3)} | |
| --workers 2 (SCHED_NONE) / balancer | ${range(ratio('w2', 'balancer'), 3)} | <= 1.10 |
| --workers 2 (round robin) / balancer | ${range(ratio('w2rr', 'balancer'), 3)} | |

Relay cost (CPU per connection less the floor of the same kind, µs, within a round):

| relay | µs per connection |
|---|---|
| minimal Node proxy − Node floor | ${range(diff('proxy', 'floor'), 0)} |
| balancer − Node floor | ${range(diff('balancer', 'floor'), 0)} |
| HAProxy tcp − HAProxy floor | ${range(diff('haproxy', 'hafloor'), 0)} |
| Node floor − HAProxy floor (TLS in Node vs in HAProxy) | ${range(diff('floor', 'hafloor'), 0)} |

Fairness between workers: the busier worker's share of each measurement's ${num(PER_ROUND)} connections
(50 % is an even split), and the connections each worker took over the counted rounds:

| --workers 2 | busier worker's share per round | connections per worker |
|---|---|---|
| SCHED_NONE | ${fairness('w2')} |
| round robin | ${fairness('w2rr')} |
${profiles}`);
  console.log(`balancer bench: ${((Date.now() - began) / 1000).toFixed(0)} s`);
}

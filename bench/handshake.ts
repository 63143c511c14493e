// 1. Full TLS handshakes per second, stapling with ocsp-stapler vs the same server without it.
import { benchPki } from './lib/fixtures.js';
import { startChild, type Child } from './lib/proc.js';
import { machine, medianRange, num, report, spread } from './lib/report.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const WINDOW_MS = 500;
const WARM_MS = 150;
const CLIENT_PROCESSES = 2;
const CONCURRENCY = 8; // per client process
const VARIANTS = ['plain', 'empty', 'bare', 'library'] as const;
type Variant = (typeof VARIANTS)[number];

interface Counts {
  handshakes: number;
  stapled: number;
  errors: number;
  seconds: number;
}

interface Sample {
  handshakes: number;
  cpuMicros: number;
}

interface Measured extends Counts {
  /** Server CPU time (user + system) per handshake it completed, in µs. */
  cpuPerHandshake: number;
}

async function measure(clients: Child[], server: Child, port: number, version: 'TLSv1.2' | 'TLSv1.3'): Promise<Measured> {
  const before = await server.ask<Sample>({ sample: true });
  const replies = await Promise.all(clients.map((c) => c.ask<Counts>({ port, version, concurrency: CONCURRENCY, warmMs: WARM_MS, ms: WINDOW_MS })));
  const after = await server.ask<Sample>({ sample: true });
  const counts = replies.reduce((a, b) => ({ handshakes: a.handshakes + b.handshakes, stapled: a.stapled + b.stapled, errors: a.errors + b.errors, seconds: b.seconds }));
  return { ...counts, cpuPerHandshake: (after.cpuMicros - before.cpuMicros) / Math.max(1, after.handshakes - before.handshakes) };
}

const ratioCell = (values: number[]) => {
  const s = spread(values);
  return `**${num(s.median, 3)}** (${num(s.min, 3)}–${num(s.max, 3)})`;
};

/** Runs the benchmark and appends its block to bench/RESULTS.md. */
export async function main(command: string): Promise<void> {
  const startedLoad = machine();
  const rows: string[] = [];
  const cpuRows: string[] = [];
  const children: Child[] = [];
  try {
    const clients: Child[] = [];
    for (let i = 0; i < CLIENT_PROCESSES; i++) clients.push((await startChild('handshake-client.ts', {})).child);
    children.push(...clients);
    for (const keyType of ['ec', 'rsa'] as const) {
      const pki = await benchPki(keyType);
      const ports = {} as Record<Variant, number>;
      const byVariant = {} as Record<Variant, Child>;
      const servers: Child[] = [];
      for (const variant of VARIANTS) {
        const { child, ready } = await startChild<{ port: number; stapling: boolean }>('tls-server.ts', { certFile: pki.certFile, keyFile: pki.keyFile, ocspFile: pki.ocspFile, variant });
        servers.push(child);
        children.push(child);
        if (ready.stapling !== (variant === 'bare' || variant === 'library')) throw new Error(`the ${keyType} ${variant} server: stapling=${ready.stapling}`);
        ports[variant] = ready.port;
        byVariant[variant] = child;
      }
      for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
        const rates: Record<Variant, number[]> = { plain: [], empty: [], bare: [], library: [] };
        const cpu: Record<Variant, number[]> = { plain: [], empty: [], bare: [], library: [] };
        const vsPlain: number[] = [];
        const vsBare: number[] = [];
        const cpuVsPlain: number[] = [];
        const cpuVsBare: number[] = [];
        const cpuEmptyVsPlain: number[] = [];
        const stapled: Record<Variant, number> = { plain: 0, empty: 0, bare: 0, library: 0 };
        const total: Record<Variant, number> = { plain: 0, empty: 0, bare: 0, library: 0 };
        let errors = 0;
        // One uncounted round first: JIT warm-up of fresh processes.
        for (const variant of VARIANTS) await measure(clients, byVariant[variant], ports[variant], version);
        for (let round = 0; round < ROUNDS; round++) {
          // Each variant goes first, second and third equally often.
          const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
          if (round % 2) order.reverse();
          const got = {} as Record<Variant, Measured>;
          for (const variant of order) got[variant] = await measure(clients, byVariant[variant], ports[variant], version);
          for (const variant of VARIANTS) {
            rates[variant].push(got[variant].handshakes / got[variant].seconds);
            stapled[variant] += got[variant].stapled;
            total[variant] += got[variant].handshakes;
            errors += got[variant].errors;
            cpu[variant].push(got[variant].cpuPerHandshake);
          }
          // Throughput a saturated server would reach is inversely proportional to its CPU per handshake.
          cpuVsPlain.push(got.plain.cpuPerHandshake / got.library.cpuPerHandshake);
          cpuVsBare.push(got.bare.cpuPerHandshake / got.library.cpuPerHandshake);
          cpuEmptyVsPlain.push(got.plain.cpuPerHandshake / got.empty.cpuPerHandshake);
          vsPlain.push(got.library.handshakes / got.plain.handshakes);
          vsBare.push(got.library.handshakes / got.bare.handshakes);
          process.stdout.write(`handshake ${keyType} ${version} round ${round + 1}/${ROUNDS}: ${VARIANTS.map((v) => `${v} ${num(got[v].handshakes / got[v].seconds)}/s ${num(got[v].cpuPerHandshake)} µs`).join(', ')}\n`);
        }
        const share = (v: Variant) => `${num((stapled[v] / Math.max(1, total[v])) * 100, 1)} %`;
        const key = keyType === 'ec' ? 'ECDSA P-256' : 'RSA-2048';
        cpuRows.push(`| ${key} | ${version.replace('TLSv', '')} | ${medianRange(spread(cpu.plain))} | ${medianRange(spread(cpu.empty))} | ${medianRange(spread(cpu.bare))} | ${medianRange(spread(cpu.library))} | ${ratioCell(cpuVsPlain)} | ${ratioCell(cpuEmptyVsPlain)} | ${ratioCell(cpuVsBare)} |`);
        rows.push(
          `| ${key} | ${version.replace('TLSv', '')} | ${medianRange(spread(rates.plain))} | ${medianRange(spread(rates.empty))} | ${medianRange(spread(rates.bare))} | ${medianRange(spread(rates.library))} | ${ratioCell(vsPlain)} | ${ratioCell(vsBare)} | ${share('plain')} / ${share('empty')} / ${share('bare')} / ${share('library')} | ${errors} |`,
        );
      }
      for (const server of servers) await server.stop();
    }
  } finally {
    for (const c of children) await c.stop();
  }
  await report('1. Full TLS handshakes per second, with and without stapling', command, startedLoad, `
Four Node server processes with the same certificate and key (\`tls.createServer\`):
**plain** has no OCSPRequest listener (no staple); **empty** has a listener that staples
nothing, \`cb(null, null)\` (what Node charges for a JS listener inside the handshake, without
the staple's bytes); **bare** staples with the least a Node server
can do, \`server.on('OCSPRequest', (c, i, cb) => cb(null, sameBuffer))\` (no checks at all);
**library** staples with \`createStaplingContext(...).attach(server)\`. ${CLIENT_PROCESSES} Node
client processes with ${CONCURRENCY} connections each; every connection is a full handshake (no
session reuse) asking for a staple (\`requestOCSP\`), closed by the server right after the handshake. ${ROUNDS}
rounds of ${WINDOW_MS / 1000} s per variant (after ${WARM_MS} ms of warm-up, and one uncounted
round for the JIT), the order rotated every round; ratios are taken within a round. Clients and servers share the cores, so absolute
rates are below what a server alone would do; the ratios are the figures. Target:
library / plain >= 0.98. library / bare isolates ocsp-stapler's own cost from the cost of
stapling in Node at all (a JS listener called inside every handshake, and the staple's bytes).

Handshakes per second seen by the clients:

| key | TLS | plain, handshakes/s median (min–max) | empty | bare | library | library / plain | library / bare | stapled (plain / empty / bare / library) | failed handshakes |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Server CPU time (user + system, \`process.cpuUsage()\` in the server) per handshake it
completed, in µs: less sensitive to other processes on the machine than the rate. The ratio
is plain / library (or plain / empty, bare / library), i.e. the handshake rate a saturated
server keeps:

| key | TLS | plain, µs/handshake | empty | bare | library | library: rate kept vs plain | empty listener: rate kept vs plain | library: rate kept vs bare |
|---|---|---|---|---|---|---|---|---|
${cpuRows.join('\n')}
`);
}

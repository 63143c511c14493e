// 2. Cost of the OCSPRequest listener per handshake, with 1 and with 10,000 certificates.
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import type { OcspRequestListener } from '../src/dispatch.js';
import { createStaplingContext } from '../src/index.js';
import { benchPki, leafDer, manyCertificates } from './lib/fixtures.js';
import { timeListener, type LookupTiming } from './lib/lookup.js';
import { startChild } from './lib/proc.js';
import { machine, num, report, spread } from './lib/report.js';

const ROUNDS = 10;
const CALLS = 200_000;
/** How many certificates the registry benchmarks use (issue 8: 10,000 on one server). */
export const MANY = 10_000;

/** What the registry child reports. */
export interface RegistryRun {
  count: number;
  stapling: number;
  resolvedMs: number;
  /** CPU time of the whole process (all its threads: libuv's pool, the GC's) until it resolved. */
  resolvedCpuMs: number;
  readyMs: number;
  before: { rss: number; heapUsed: number; external: number };
  after: { rss: number; heapUsed: number; external: number };
  lookup?: { fresh: LookupTiming; cold: LookupTiming };
}

/** Starts a registry of `dir` in a fresh process and reports on it. */
export async function runRegistry(dir: string, load: 'eager' | 'lazy', lookup: boolean): Promise<RegistryRun> {
  const { child, ready } = await startChild<RegistryRun>('registry-child.ts', { dir, load, lookup: lookup ? { rounds: ROUNDS, calls: CALLS } : undefined }, ['--expose-gc']);
  await child.stop();
  return ready;
}

function row(label: string, t: LookupTiming): string {
  const l = spread(t.listenerNs);
  const e = spread(t.emptyNs);
  const net = spread(t.listenerNs.map((v, i) => v - t.emptyNs[i]!));
  return `| ${label} | ${num(l.median, 0)} (${num(l.min, 0)}–${num(l.max, 0)}) | ${num(e.median, 1)} (${num(e.min, 1)}–${num(e.max, 1)}) | **${num(net.median, 0)}** (${num(net.min, 0)}–${num(net.max, 0)}) | ${num((t.stapled / t.calls) * 100, 1)} % |`;
}

/** Runs the benchmark and appends its block to bench/RESULTS.md. */
export async function main(command: string): Promise<void> {
  const startedLoad = machine();
  const pki = await benchPki('ec');
  const context = await createStaplingContext({ certFile: pki.certFile, ocspFile: pki.ocspFile });
  const server = tls.createServer({ cert: await readFile(pki.certFile), key: await readFile(pki.keyFile) });
  context.attach(server);
  const listener = server.listeners('OCSPRequest')[0] as OcspRequestListener;
  const der = await leafDer(pki.certFile);
  const one = timeListener(listener, [der], ROUNDS, CALLS, true);
  await context.close();

  const many = await manyCertificates(MANY, (line) => console.log(line));
  const run = await runRegistry(many.dir, 'eager', true);
  if (!run.lookup || run.stapling !== MANY) throw new Error(`registry: ${run.stapling} of ${run.count} stapling`);
  const { fresh, cold } = run.lookup;
  await report('2. OCSPRequest listener cost per handshake', command, startedLoad, `
The listener that \`attach()\` puts on a \`tls.Server\` (\`server.listeners('OCSPRequest')[0]\`),
called directly in a loop as Node calls it, \`listener(certificateDer, null, callback)\`. Node
encodes the certificate into a new Buffer for every handshake, so each call gets a new copy
(\`Buffer.from(der)\`, made in both loops and so cancelled out in the net figure). Each round is
${num(CALLS)} calls; ${ROUNDS} rounds alternating with the same loop around an empty listener
(\`(c, i, cb) => cb(null, null)\`), after one warm-up round of each. With ${num(MANY)}
certificates (a registry loaded eagerly from a directory, in a fresh process) the loop cycles
through all ${num(MANY)}, so every call looks up a different certificate whose state is cold in
the CPU cache; with 1 it is the same certificate every time. The last row passes the stored
Buffers themselves, cold as well (worst case: Node's Buffer is always freshly written). Net =
listener − empty, per round. Target: under 2 µs (2,000 ns) per handshake.

| certificates | listener, ns/call median (min–max) | empty listener, ns/call | net, ns/call | calls that got a staple |
|---|---|---|---|---|
${row('1', one)}
${row(num(MANY), fresh)}
${row(`${num(MANY)}, cold input Buffers`, cold)}
`);
}

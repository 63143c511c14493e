// One fresh process per measurement for bench/registry.ts and bench/listener.ts: start a
// registry of many certificates, report time and memory, optionally time the listener.
// argv[2]: { dir, load: 'eager' | 'lazy', lookup?: { rounds, calls } }. Needs --expose-gc.
import tls from 'node:tls';
import type { OcspRequestListener } from '../../src/dispatch.js';
import { createStaplingRegistry } from '../../src/index.js';
import { timeListener } from './lookup.js';

const args = JSON.parse(process.argv[2]!) as { dir: string; load: 'eager' | 'lazy'; lookup?: { rounds: number; calls: number } };
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

function memory() {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers };
}

// The library and its dependencies are loaded; warm pkijs up on nothing so that the baseline
// includes the modules, not the certificates.
const before = memory();
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const registry = await createStaplingRegistry({ dir: args.dir, load: args.load });
const resolvedMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const resolvedCpuMs = (cpu.user + cpu.system) / 1000;
await registry.ready;
const readyMs = performance.now() - t0;
const after = memory();
const statuses = registry.status();
const stapling = statuses.filter((s) => s.stapling).length;

let lookup;
if (args.lookup) {
  const server = tls.createServer({});
  registry.attach(server);
  const listener = server.listeners('OCSPRequest')[0] as OcspRequestListener;
  const ders = registry.contexts().map((c) => Buffer.from(c.certificate));
  lookup = {
    fresh: timeListener(listener, ders, args.lookup.rounds, args.lookup.calls, true),
    cold: timeListener(listener, ders, args.lookup.rounds, args.lookup.calls, false),
  };
}
process.send!({ count: registry.size, stapling, resolvedMs, resolvedCpuMs, readyMs, before, after, lookup }, () => process.disconnect());
await registry.close();

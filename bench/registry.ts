// 5. Memory and time to start with 10,000 certificates in a registry, eager and lazy.
import { manyCertificates } from './lib/fixtures.js';
import { startChild } from './lib/proc.js';
import { PARTS, type Part } from './lib/registry-parts.js';
import { MANY, runRegistry, type RegistryRun } from './listener.js';
import { machine, num, report } from './lib/report.js';

interface PartRun {
  rss: number;
  heapUsed: number;
  external: number;
}

/** What each part costs, and whether a registry holds it per certificate (since the registry-memory work of issue 15). */
const PART_LABELS: Record<Part, string> = {
  x509: "an X509Certificate of the leaf (Node's object and OpenSSL's parsed X509; no longer kept)",
  leaf: 'the parsed leaf the registry keeps (readCertificate: its DER in its own memory, views into it)',
  staple: 'the staple bytes (read by readOcspFile, own memory)',
  verified: 'a VerifiedResponse (the parsed response with copies of its parts; no longer kept)',
  emitter: 'an EventEmitter (each context is one)',
  forwarders: "an EventEmitter with the registry's four forwarding closures (now four functions shared by all contexts)",
  timer: "an unref'd setTimeout with a delay of its own (each context's expiring/expired timer before src/clock.ts)",
  deadline: "src/clock.ts's startDeadline (each context's expiring/expired timer now)",
  'registry-eager': '**a whole registry, eager**',
  'registry-lazy': '**a whole registry, lazy** (after ready)',
};

async function runPart(dir: string, part: Part, count: number): Promise<PartRun> {
  const { child, ready } = await startChild<PartRun>('registry-parts.ts', { dir, part, count }, ['--expose-gc']);
  await child.stop();
  return ready;
}

const MB = 2 ** 20;

function row(load: string, r: RegistryRun): string {
  const d = (k: 'rss' | 'heapUsed' | 'external') => r.after[k] - r.before[k];
  const perCert = (k: 'rss' | 'heapUsed' | 'external') => `${num(d(k) / r.count / 1024, 1)} KiB`;
  return `| ${load} | ${num(r.resolvedMs / 1000, 2)} s | ${num(r.resolvedCpuMs / 1000, 2)} s | ${num(r.readyMs / 1000, 2)} s | ${r.stapling} / ${r.count} | ${num(r.before.rss / MB, 0)} → ${num(r.after.rss / MB, 0)} MiB | ${perCert('rss')} | ${num(d('heapUsed') / MB, 1)} MiB (${perCert('heapUsed')}) | ${num(d('external') / MB, 1)} MiB (${perCert('external')}) |`;
}

/** Runs the benchmark and appends its block to bench/RESULTS.md. */
export async function main(command: string): Promise<void> {
  const startedLoad = machine();
  const many = await manyCertificates(MANY, (line) => console.log(line));
  const eager = await runRegistry(many.dir, 'eager', false);
  console.log(`registry eager: ${num(eager.readyMs)} ms`);
  const lazy = await runRegistry(many.dir, 'lazy', false);
  console.log(`registry lazy: resolved ${num(lazy.resolvedMs)} ms (CPU ${num(lazy.resolvedCpuMs)} ms), ready ${num(lazy.readyMs)} ms`);
  const { child: stepper, ready: steps } = await startChild<Record<string, number>>('registry-parts.ts', { dir: many.dir, part: 'start-steps', count: MANY }, ['--expose-gc']);
  await stepper.stop();
  const parts: string[] = [];
  for (const part of PARTS) {
    const r = await runPart(many.dir, part, MANY);
    const k = (v: number) => num(v / MANY / 1024, 2);
    parts.push(`| ${PART_LABELS[part]} | ${k(r.rss)} | ${k(r.heapUsed)} | ${k(r.external)} |`);
    console.log(`registry part ${part}: ${k(r.rss)} KiB RSS per certificate`);
  }
  await report(`5. Start time and memory with ${num(MANY)} certificates in a registry`, command, startedLoad, `
\`createStaplingRegistry({ dir, load })\` on a directory of ${num(MANY)} P-256 certificates
(\`NAME.pem\` = leaf + intermediate, beside \`NAME.pem.ocsp\`, issuer-signed responses), each run
in a fresh process (\`--expose-gc\`, two \`gc()\` before each reading). "Resolved" is when the
promise resolves, "CPU to resolve" the process's CPU time until then (all its threads: less
sensitive to other processes than the wall time); "ready" when every response has been read and
verified (\`registry.ready\`).
Memory is measured after ready, against the same process before the call (library already
imported)${many.generatedSeconds ? `; generating the certificates took ${num(many.generatedSeconds, 0)} s in this run (cached afterwards, not included)` : ''}.
One run each (a start is a single event, not a rate).

| load | resolved | CPU to resolve | ready | stapling | RSS | RSS per certificate | heap used | external + array buffers |
|---|---|---|---|---|---|---|---|---|
${row('eager', eager)}
${row('lazy', lazy)}

Where the memory goes: each part measured alone in a fresh process holding ${num(MANY)} of it (inputs
made before the baseline), KiB per certificate. RSS also counts what the allocator keeps of
freed memory, so parts do not add up exactly to the whole.

| part | RSS | heap used | external + array buffers |
|---|---|---|---|
${parts.join('\n')}

Where the start time goes: each step over all ${num(MANY)} certificates, alone, in one process (wall ms).
A lazy registry resolves after the synchronous read, the PEM and our DER reading of every
certificate; the OpenSSL parse and the signature run in its background load, with the OCSP files.
The eager one does the asynchronous read, the PEM, readCertificate and the signature, and reads
and checks every OCSP file, before it resolves:

| step | ms | µs per certificate |
|---|---|---|
| read the certificate files, asynchronously, 16 at a time (eager) | ${num(steps.read!)} | ${num((steps.read! * 1000) / MANY)} |
| read the certificate files, synchronously (lazy: readCappedFileSync) | ${num(steps.readSync!)} | ${num((steps.readSync! * 1000) / MANY)} |
| find the PEM blocks, base64 to DER | ${num(steps.pem!)} | ${num((steps.pem! * 1000) / MANY)} |
| our strict DER reading of the leaf alone, without OpenSSL (lazy) | ${num(steps.der!)} | ${num((steps.der! * 1000) / MANY)} |
| Node's X509Certificate of the leaf alone (OpenSSL's parse) | ${num(steps.x509!)} | ${num((steps.x509! * 1000) / MANY)} |
| readCertificate of the leaf: our strict DER reading plus the X509Certificate above, made to check that OpenSSL accepts it too | ${num(steps.parse!)} | ${num((steps.parse! * 1000) / MANY)} |
| the issuer's signature on the leaf (\`verify\`, the X509Certificate already made) | ${num(steps.signature!)} | ${num((steps.signature! * 1000) / MANY)} |
`);
}

// Where a registry's memory goes: one fresh process per part, holding `count` of one kind of
// object a registry keeps (or used to keep) per certificate, against the same process before.
// argv[2]: { dir, part, count }. Needs --expose-gc. Replies { rss, heapUsed, external } deltas in bytes.
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createStaplingRegistry } from '../../src/index.js';
import { readOcspFile } from '../../src/ocsp/file.js';
import { DEFAULT_LIMITS, verifyOcspResponse } from '../../src/ocsp/verify.js';
import { pemCertificates, readCertificateKeeping } from '../../src/pki.js';
import { siteName } from './fixtures.js';

/** The parts, in the order bench/registry.ts reports them. */
export const PARTS = ['x509', 'leaf', 'staple', 'verified', 'emitter', 'forwarders', 'timer', 'registry-eager', 'registry-lazy'] as const;
export type Part = (typeof PARTS)[number];

const gc = (globalThis as { gc?: () => void }).gc;

function memory() {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers };
}

async function hold(part: Part, dir: string, count: number): Promise<[ReturnType<typeof memory>, unknown[]]> {
  const files = Array.from({ length: count }, (_, i) => join(dir, siteName(i)));
  const held: unknown[] = [];
  if (part === 'registry-eager' || part === 'registry-lazy') {
    const before = memory();
    const registry = await createStaplingRegistry({ dir, load: part === 'registry-lazy' ? 'lazy' : 'eager' });
    await registry.ready;
    held.push(registry);
    return [before, held];
  }
  // Inputs made before the baseline, so that only the part itself is measured.
  const needsDer = part === 'x509' || part === 'leaf' || part === 'verified';
  const ders = needsDer ? (await Promise.all(files.map((f) => readFile(f, 'latin1')))).map((pem) => pemCertificates(pem)) : [];
  const staples = part === 'verified' ? await Promise.all(files.map((f) => readOcspFile(`${f}.ocsp`, DEFAULT_LIMITS.maxResponseBytes))) : [];
  const issuer = part === 'verified' ? readCertificateKeeping(ders[0]![1]!, true) : undefined;
  const leaves = part === 'verified' ? ders.map((d) => readCertificateKeeping(d[0]!, false)) : [];
  const before = memory();
  switch (part) {
    case 'x509':
      for (const d of ders) held.push(new X509Certificate(d[0]!));
      break;
    case 'leaf':
      for (const d of ders) held.push(readCertificateKeeping(d[0]!, false));
      break;
    case 'staple':
      for (const f of files) held.push(await readOcspFile(`${f}.ocsp`, DEFAULT_LIMITS.maxResponseBytes));
      break;
    case 'verified': {
      const now = Date.now();
      for (let i = 0; i < count; i++) held.push(verifyOcspResponse(staples[i]!, leaves[i]!, issuer!, { ...DEFAULT_LIMITS, now }));
      break;
    }
    case 'emitter':
      for (let i = 0; i < count; i++) held.push(new EventEmitter());
      break;
    case 'forwarders':
      // What the registry used to add to each context: four closures as listeners.
      for (let i = 0; i < count; i++) {
        const e = new EventEmitter();
        for (const name of ['reload', 'refused', 'expiring', 'expired']) e.on(name, (s: unknown) => e.emit('x', s));
        held.push(e);
      }
      break;
    case 'timer':
      // One unref'd timer per context, each with its own delay (responses made at different times).
      for (let i = 0; i < count; i++) held.push(setTimeout(() => undefined, 3_600_000 + i * 7).unref());
      break;
  }
  held.push(ders, staples, leaves);
  return [before, held];
}

// Runs only as the forked child (bench/registry.ts imports PARTS from here).
if (process.argv[1]?.endsWith('registry-parts.ts') && process.send) {
  const args = JSON.parse(process.argv[2]!) as { dir: string; part: Part; count: number };
  const [before, held] = await hold(args.part, args.dir, args.count);
  const after = memory();
  process.send({ rss: after.rss - before.rss, heapUsed: after.heapUsed - before.heapUsed, external: after.external - before.external, held: held.length }, () => process.disconnect());
}

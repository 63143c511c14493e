// Where a registry's memory goes: one fresh process per part, holding `count` of one kind of
// object a registry keeps (or used to keep) per certificate, against the same process before.
// argv[2]: { dir, part, count }. Needs --expose-gc. Replies { rss, heapUsed, external } deltas in bytes.
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDeadline } from '../../src/clock.js';
import { createStaplingRegistry } from '../../src/index.js';
import { readCappedFileSync } from '../../src/files.js';
import { readOcspFile } from '../../src/ocsp/file.js';
import { DEFAULT_LIMITS, verifyOcspResponse } from '../../src/ocsp/verify.js';
import { pemCertificates, readCertificateKeeping } from '../../src/pki.js';
import { siteName } from './fixtures.js';

/** The parts, in the order bench/registry.ts reports them. */
export const PARTS = ['x509', 'leaf', 'staple', 'verified', 'emitter', 'forwarders', 'timer', 'deadline', 'registry-eager', 'registry-lazy'] as const;
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
  const needsDer = part === 'leaf' || part === 'verified';
  const ders = needsDer ? (await Promise.all(files.map((f) => readFile(f, 'latin1')))).map((pem) => pemCertificates(pem)) : [];
  if (part === 'x509') {
    const one = pemCertificates(await readFile(files[0]!, 'latin1'));
    for (let i = 0; i < count; i++) ders.push(one.map((d) => Buffer.from(d)));
  }
  const staples = part === 'verified' ? await Promise.all(files.map((f) => readOcspFile(`${f}.ocsp`, DEFAULT_LIMITS.maxResponseBytes))) : [];
  const issuer = part === 'verified' ? readCertificateKeeping(ders[0]![1]!, true) : undefined;
  const leaves = part === 'verified' ? ders.map((d) => readCertificateKeeping(d[0]!, false)) : [];
  const before = memory();
  switch (part) {
    case 'x509':
      // Copies of one leaf, made before the baseline: OpenSSL's memory for a parsed certificate
      // is the same for all of them, and no file reading leaves freed memory for it to reuse
      // (which would hide it from RSS).
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
    case 'deadline':
      // What each context uses now for its expiring/expired events: src/clock.ts's startDeadline.
      for (let i = 0; i < count; i++) {
        const at = Date.now() + 3_600_000 + i * 7;
        held.push(startDeadline(at, () => held.length + at));
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

/**
 * Where a registry's start time goes, step by step over `count` certificates, in one process:
 * ms of wall time for each step alone (the steps a lazy registry does before it resolves).
 */
async function startSteps(dir: string, count: number): Promise<Record<string, number>> {
  const files = Array.from({ length: count }, (_, i) => join(dir, siteName(i)));
  const time = async <T>(fn: () => Promise<T> | T): Promise<[number, T]> => {
    const t0 = performance.now();
    const result = await fn();
    return [performance.now() - t0, result];
  };
  const mapLimit = async <T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> => {
    const out = new Array<R>(items.length);
    let next = 0;
    await Promise.all(Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }));
    return out;
  };
  const [read] = await time(() => mapLimit(files, 16, (f) => readFile(f, 'latin1')));
  // What a lazy start does: the capped reader, synchronously (src/files.ts, readCappedFileSync).
  const limits = { maxBytes: 1_048_576, what: 'certificate file', readCode: 'ERR_CERT_READ', tooLargeCode: 'ERR_CERT_READ' } as const;
  const [readSync, texts] = await time(() => files.map((f) => readCappedFileSync(f, limits).toString('latin1')));
  const [pem, ders] = await time(() => texts.map((t) => pemCertificates(t)));
  // Our DER reading alone, as a lazy start does it (the OpenSSL parse deferred).
  const [der] = await time(() => ders.map((d) => readCertificateKeeping(d[0]!, false, true)));
  const [x509, made] = await time(() => ders.map((d) => new X509Certificate(d[0]!)));
  // readCertificateKeeping: our strict DER reading plus the X509Certificate it makes (and drops)
  // to check that OpenSSL accepts the certificate too.
  const [parse] = await time(() => ders.map((d) => readCertificateKeeping(d[0]!, false)));
  const key = readCertificateKeeping(ders[0]![1]!, true).x509.publicKey;
  const [signature] = await time(() => made.map((x) => x.verify(key)));
  return { read, readSync, pem, der, x509, parse, signature };
}

// Runs only as the forked child (bench/registry.ts imports PARTS from here).
if (process.argv[1]?.endsWith('registry-parts.ts') && process.send) {
  const args = JSON.parse(process.argv[2]!) as { dir: string; part: Part | 'start-steps'; count: number };
  if (args.part === 'start-steps') {
    process.send(await startSteps(args.dir, args.count), () => process.disconnect());
    await new Promise(() => undefined);
  }
  const [before, held] = await hold(args.part as Part, args.dir, args.count);
  const after = memory();
  process.send({ rss: after.rss - before.rss, heapUsed: after.heapUsed - before.heapUsed, external: after.external - before.external, held: held.length }, () => process.disconnect());
}

import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa, type TestKeyType } from '../../src/testing/index.js';

/**
 * Where generated certificates and responses are kept between runs. Responses are valid for
 * 7 days; a cache older than 5 days is made again.
 */
export const CACHE_DIR = process.env.BENCH_CACHE ?? join(tmpdir(), 'ocsp-stapler-bench-v1');
const MAX_AGE_MS = 5 * 86_400_000;

/** One certificate with everything the benchmarks need, as files. */
export interface BenchPki {
  readonly keyType: TestKeyType;
  readonly dir: string;
  /** Root certificate (what clients trust). */
  readonly caFile: string;
  /** Leaf followed by the intermediate: what servers send, and the `certFile`. */
  readonly certFile: string;
  /** The leaf alone. */
  readonly leafFile: string;
  /** The intermediate that issued the leaf. */
  readonly issuerFile: string;
  /** Leaf key, PEM. */
  readonly keyFile: string;
  /** Good response signed by the issuer itself. */
  readonly ocspFile: string;
  /** Good response signed by a delegated responder (id-kp-OCSPSigning), certificate embedded. */
  readonly delegatedOcspFile: string;
}

async function fresh(marker: string): Promise<boolean> {
  try {
    const s = await stat(marker);
    return Date.now() - s.mtimeMs < MAX_AGE_MS;
  } catch {
    return false;
  }
}

/** A CA (RSA-2048 or P-256 throughout), one leaf, an issuer-signed and a delegated response; cached. */
export async function benchPki(keyType: TestKeyType): Promise<BenchPki> {
  const dir = join(CACHE_DIR, `pki-${keyType}`);
  const pki: BenchPki = {
    keyType,
    dir,
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'cert.pem'),
    leafFile: join(dir, 'leaf.pem'),
    issuerFile: join(dir, 'issuer.pem'),
    keyFile: join(dir, 'key.pem'),
    ocspFile: join(dir, 'cert.pem.ocsp'),
    delegatedOcspFile: join(dir, 'delegated.ocsp'),
  };
  const marker = join(dir, 'complete');
  if (await fresh(marker)) return pki;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const ca = await createTestCa({ keyType });
  const leaf = await ca.issueCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const responder = await ca.issueResponder();
  await writeFile(pki.caFile, ca.root.cert);
  await writeFile(pki.certFile, leaf.chain);
  await writeFile(pki.leafFile, leaf.cert);
  await writeFile(pki.issuerFile, ca.issuer.cert);
  await writeFile(pki.keyFile, leaf.key, { mode: 0o600 });
  await writeFile(pki.ocspFile, await ca.createOcspResponse(leaf));
  await writeFile(pki.delegatedOcspFile, await ca.createOcspResponse(leaf, { signer: responder }));
  await writeFile(marker, new Date().toISOString());
  return pki;
}

/** A directory in HAProxy's convention with `count` P-256 certificates and their responses. */
export interface ManyCertificates {
  readonly dir: string;
  readonly count: number;
  /** Seconds spent generating them in this run (0 when the cache was used). */
  readonly generatedSeconds: number;
}

/** The file name of certificate `i` (without directory). */
export function siteName(i: number): string {
  return `site-${String(i).padStart(5, '0')}.pem`;
}

/** `count` certificates (P-256 CA and leaves), each `site-NNNNN.pem` beside `site-NNNNN.pem.ocsp`; cached. */
export async function manyCertificates(count: number, log: (line: string) => void = () => undefined): Promise<ManyCertificates> {
  const dir = join(CACHE_DIR, `registry-${count}`);
  const marker = join(dir, 'complete');
  if (await fresh(marker)) return { dir, count, generatedSeconds: 0 };
  const started = performance.now();
  log(`generating ${count} certificates and responses into ${dir} (once; cached for 5 days)`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const ca = await createTestCa({ keyType: 'ec' });
  for (let i = 0; i < count; i++) {
    const leaf = await ca.issueCertificate({ dnsNames: [`site-${i}.test`], ipAddresses: [] });
    const file = join(dir, siteName(i));
    await writeFile(file, leaf.chain);
    await writeFile(`${file}.ocsp`, await ca.createOcspResponse(leaf));
    if (i % 2000 === 1999) log(`  ${i + 1}/${count}`);
  }
  await writeFile(marker, new Date().toISOString());
  return { dir, count, generatedSeconds: (performance.now() - started) / 1000 };
}

/** The DER of the first certificate in a PEM file: what Node passes to the OCSPRequest listener. */
export async function leafDer(pemFile: string): Promise<Buffer> {
  return Buffer.from(new X509Certificate(await readFile(pemFile)).raw);
}

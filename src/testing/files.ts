import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestCa, type CertificateOptions, type TestCa, type TestCaOptions, type TestCertificate } from './ca.js';
import type { OcspResponseOptions } from './response.js';

/** Options of {@link writeTestPki}. */
export interface TestPkiOptions extends TestCaOptions {
  /** The server certificate. Default: `localhost` and `127.0.0.1`, no AIA, no Must-Staple. */
  certificate?: CertificateOptions;
  /** The OCSP response written to `ocspFile`. Default: good, signed by the CA, valid for 7 days. */
  response?: OcspResponseOptions;
}

/** What {@link writeTestPki} wrote, and the objects to make more with. */
export interface TestPki {
  /** The directory holding the files. */
  readonly dir: string;
  /** `ca.pem`: the root certificate, for clients to trust (`curl --cacert`). */
  readonly caFile: string;
  /** `cert.pem`: the server certificate followed by the intermediate (the `certFile` of `createStaplingContext`). */
  readonly certFile: string;
  /** `key.pem`: the server's private key (mode 0600). */
  readonly keyFile: string;
  /** `cert.ocsp`: a DER OCSP response for the server certificate (the `ocspFile`). */
  readonly ocspFile: string;
  /** The CA, to issue more certificates or sign other responses. */
  readonly ca: TestCa;
  /** The server certificate and its key, as written to `certFile` and `keyFile`. */
  readonly certificate: TestCertificate;
}

/**
 * Makes a CA, a server certificate and an OCSP response for it, and writes them to `dir`
 * (created if missing): everything a stapling server and a strict client need.
 *
 * @example
 * ```ts
 * import { writeTestPki } from 'ocsp-stapler/testing';
 * import { createStaplingContext } from 'ocsp-stapler';
 *
 * const pki = await writeTestPki('/tmp/pki', { certificate: { mustStaple: true } });
 * const ctx = await createStaplingContext({ certFile: pki.certFile, ocspFile: pki.ocspFile });
 * // https.createServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) }, app)
 * // curl --cert-status --cacert /tmp/pki/ca.pem https://localhost:8443/
 * ```
 */
export async function writeTestPki(dir: string, options: TestPkiOptions = {}): Promise<TestPki> {
  const ca = await createTestCa(options);
  const certificate = await ca.issueCertificate(options.certificate);
  const response = await ca.createOcspResponse(certificate, options.response);
  await mkdir(dir, { recursive: true });
  const files = {
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'cert.pem'),
    keyFile: join(dir, 'key.pem'),
    ocspFile: join(dir, 'cert.ocsp'),
  };
  await writeFile(files.caFile, ca.root.cert);
  await writeFile(files.certFile, certificate.chain);
  await writeFile(files.keyFile, certificate.key, { mode: 0o600 });
  await writeFile(files.ocspFile, response);
  return { dir, ...files, ca, certificate };
}

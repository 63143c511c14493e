/**
 * The last second of a delegated responder certificate. RFC 5280 section 4.1.2.5 says the
 * validity period runs "through notAfter, inclusive", and GnuTLS and mozilla::pkix accept through
 * the whole notAfter second; OpenSSL's X509_cmp_time counts that second itself as expired, so
 * curl --cert-status fails from notAfter on. The library stops stapling at notAfter (validUntil)
 * and refuses from then on (ERR_OCSP_SIGNER_EXPIRED). Real clients run under libfaketime, started
 * at a chosen second (their start-up adds about 0.1 s); the server and its staple are real.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_LIMITS, StaplingError, verifyOcspResponse } from '../src/index.js';
import { info } from './fixtures/craft.js';
import { bareStapler, judgeCerts, run } from './fixtures/judges.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let bytes: Buffer;
let notAfter: number;
let server: { port: number; close: () => Promise<void> };

before(async () => {
  pki = makePki();
  bytes = pki.respond({ signer: pki.responderShortLived, validMinutes: 3 * 24 * 60 });
  notAfter = info(pki.responderShortLived.cert).notAfter.getTime();
  server = await bareStapler(bytes, judgeCerts(pki));
});
after(async () => {
  await server?.close();
  pki?.remove();
});

/** faketime's absolute start time, in UTC whatever the test's time zone. */
const fakeAt = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');

async function clients(ms: number): Promise<{ curl: boolean; gnutls: boolean }> {
  const env = `TZ=UTC faketime '${fakeAt(ms)}'`;
  const curl = await run('sh', ['-c', `${env} curl --silent --show-error --cert-status --cacert '${pki.root.cert}' https://localhost:${server.port}/`]);
  const gnutls = await run('sh', ['-c', `${env} gnutls-cli --ocsp --x509cafile '${pki.root.cert}' -p ${server.port} localhost < /dev/null`]);
  return { curl: curl.code === 0 && /hello/.test(curl.out), gnutls: gnutls.code === 0 && /OCSP status request,/.test(gnutls.out) };
}

function library(now: number): 'ok' | string {
  try {
    verifyOcspResponse(bytes, info(pki.leaf.cert), info(pki.ca.cert), { ...DEFAULT_LIMITS, now });
    return 'ok';
  } catch (err) {
    if (err instanceof StaplingError) return err.code;
    throw err;
  }
}

describe("a delegated staple at its responder certificate's notAfter", () => {
  it('two seconds before: every judge and the library accept', async () => {
    assert.deepEqual(await clients(notAfter - 2000), { curl: true, gnutls: true });
    assert.equal(library(notAfter - 2000), 'ok');
  });
  it('inside the notAfter second: curl (OpenSSL) refuses, gnutls-cli accepts, the library refuses as the strictest does', async () => {
    assert.deepEqual(await clients(notAfter), { curl: false, gnutls: true });
    for (const now of [notAfter, notAfter + 150]) assert.equal(library(now), 'ERR_OCSP_SIGNER_EXPIRED');
    assert.equal(library(notAfter - 1), 'ok');
  });
  it('one second after: both refuse', async () => {
    assert.deepEqual(await clients(notAfter + 1000), { curl: false, gnutls: false });
    assert.equal(library(notAfter + 1000), 'ERR_OCSP_SIGNER_EXPIRED');
  });
});

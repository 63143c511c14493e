/**
 * ocsp-stapler/testing makes certificates and responses in pure JavaScript; the openssl CLI is
 * the independent judge of everything it makes, and the library's own verifier must agree.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createStaplingContext } from '../src/context.js';
import { StaplingError, type StaplingErrorCode } from '../src/errors.js';
import { verifyOcspResponse, type VerifiedResponse } from '../src/ocsp/verify.js';
import { readCertificate } from '../src/pki.js';
import { createOcspErrorResponse, createTestCa, writeTestPki, type TestCa, type TestCertificate } from '../src/testing/index.js';

const run = promisify(execFile);
const DAY = 86_400_000;
let dir: string;
let ca: TestCa;
let ecCa: TestCa;
let leaf: TestCertificate;
let plainLeaf: TestCertificate;
let ecLeaf: TestCertificate;
let responder: TestCertificate;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ocsp-stapler-testing-'));
  ca = await createTestCa();
  ecCa = await createTestCa({ keyType: 'ec', intermediate: false });
  leaf = await ca.issueCertificate({ dnsNames: ['localhost', 'www.test'], ipAddresses: ['127.0.0.1', '::1'], ocspUrl: 'http://127.0.0.1:9/ocsp', mustStaple: true });
  plainLeaf = await ca.issueCertificate();
  ecLeaf = await ecCa.issueCertificate();
  responder = await ca.issueResponder();
});
after(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function file(content: string | Uint8Array): string {
  const path = join(dir, `f${++counter}`);
  writeFileSync(path, content);
  return path;
}

/** Exit code and output of a command that may fail. */
async function openssl(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('openssl', args);
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

async function verifyChain(root: string, cert: TestCertificate, extra: string[] = []): Promise<{ code: number; out: string }> {
  return openssl(['verify', '-CAfile', file(root), '-untrusted', file(cert.chain), ...extra, file(cert.cert)]);
}

/** `openssl ocsp -respin` about `cert`, trusting the CA's root. */
async function opensslOcsp(bytes: Uint8Array, cert: TestCertificate, of: TestCa = ca, hash = 'sha1'): Promise<{ code: number; out: string }> {
  return openssl(['ocsp', '-respin', file(bytes), '-issuer', file(of.issuer.cert), `-${hash}`, '-cert', file(cert.cert),
    '-CAfile', file(of.root.cert), '-verify_other', file(of.issuer.cert), '-no_nonce']);
}

function check(bytes: Uint8Array, cert: TestCertificate, of: TestCa = ca, now = Date.now()): VerifiedResponse {
  const info = (pem: string) => readCertificate(new X509Certificate(pem).raw);
  return verifyOcspResponse(bytes, info(cert.cert), info(of.issuer.cert), { now, clockSkewMs: 300_000, maxAgeWithoutNextUpdateMs: DAY, maxResponseBytes: 65_536 });
}

function refuses(bytes: Uint8Array, code: StaplingErrorCode, cert: TestCertificate = leaf, of: TestCa = ca): void {
  assert.throws(() => check(bytes, cert, of), (err: unknown) => err instanceof StaplingError && err.code === code);
}

function gmt(date: Date): string {
  // openssl prints "Nov  4 10:28:44 2026 GMT": the day of the month padded with a space, not a zero.
  const month = date.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const day = String(date.getUTCDate()).padStart(2, ' ');
  const time = date.toISOString().slice(11, 19);
  return `${month} ${day} ${time} ${date.getUTCFullYear()} GMT`;
}

describe('certificates', () => {
  it('openssl verify accepts an RSA leaf through the intermediate to the root, for TLS server use', async () => {
    const { code, out } = await verifyChain(ca.root.cert, leaf, ['-purpose', 'sslserver', '-verify_hostname', 'www.test', '-verify_ip', '::1']);
    assert.equal(code, 0, out);
    assert.match(out, /: OK/);
  });

  it('openssl verify accepts ECDSA P-256 leaves, from an RSA CA and from an ECDSA root without intermediate', async () => {
    const ecFromRsa = await ca.issueCertificate({ keyType: 'ec' });
    for (const [root, cert] of [[ca.root.cert, ecFromRsa], [ecCa.root.cert, ecLeaf]] as const) {
      const { code, out } = await verifyChain(root, cert, ['-purpose', 'sslserver', '-verify_hostname', 'localhost', '-verify_ip', '127.0.0.1']);
      assert.equal(code, 0, out);
      assert.match(new X509Certificate(cert.cert).publicKey.asymmetricKeyType ?? '', /^ec$/);
    }
    assert.equal(ecCa.issuer, ecCa.root);
    assert.equal(ecLeaf.chain, ecLeaf.cert);
  });

  it('openssl verify refuses a leaf under another CA, and a leaf past notAfter', async () => {
    assert.notEqual((await verifyChain(ecCa.root.cert, leaf)).code, 0);
    const expired = await ca.issueCertificate({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    const { code, out } = await verifyChain(ca.root.cert, expired);
    assert.notEqual(code, 0);
    assert.match(out, /expired/);
  });

  it('carries SAN, AIA OCSP URL and Must-Staple when asked, as openssl and the library read them', async () => {
    const { out } = await openssl(['x509', '-in', file(leaf.cert), '-noout', '-ext', 'subjectAltName,authorityInfoAccess,tlsfeature']);
    assert.match(out, /DNS:localhost, DNS:www\.test, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
    assert.match(out, /OCSP - URI:http:\/\/127\.0\.0\.1:9\/ocsp/);
    assert.match(out, /status_request/);
    const info = readCertificate(new X509Certificate(leaf.cert).raw);
    assert.deepEqual(info.ocspUrls, ['http://127.0.0.1:9/ocsp']);
    assert.equal(info.mustStaple, true);
    const plain = readCertificate(new X509Certificate(plainLeaf.cert).raw);
    assert.deepEqual(plain.ocspUrls, []);
    assert.equal(plain.mustStaple, false);
  });

  it('gives serials as Node prints them, honours a chosen serial, and PEM keys that match', async () => {
    assert.equal(leaf.serial, new X509Certificate(leaf.cert).serialNumber.toUpperCase());
    const chosen = await ca.issueCertificate({ serial: '0abcde01' });
    assert.match(chosen.serial, /^0?ABCDE01$/);
    assert.ok(new X509Certificate(leaf.cert).checkPrivateKey((await import('node:crypto')).createPrivateKey(leaf.key)));
    assert.ok(ca.issued(leaf.serial));
    assert.ok(!ca.issued('0123456789'));
  });

  it('makes responders with and without id-kp-OCSPSigning', async () => {
    const noEku = await ca.issueResponder({ ocspSigning: false });
    assert.deepEqual(readCertificate(new X509Certificate(responder.cert).raw).extendedKeyUsage, ['1.3.6.1.5.5.7.3.9']);
    assert.deepEqual(readCertificate(new X509Certificate(noEku.cert).raw).extendedKeyUsage, ['1.3.6.1.5.5.7.3.1']);
    const { out } = await openssl(['x509', '-in', file(responder.cert), '-noout', '-ext', 'extendedKeyUsage,noCheck']);
    assert.match(out, /OCSP Signing/);
    assert.match(out, /OCSP No Check/);
    assert.equal((await verifyChain(ca.root.cert, responder)).code, 0);
  });
});

describe('OCSP responses openssl and the library accept as good', () => {
  const cases: Array<[string, () => Promise<{ bytes: Buffer; cert?: TestCertificate; of?: TestCa; hash?: string; signedBy: string }>]> = [
    ['signed by the issuer, SHA-1 CertID', async () => ({ bytes: await ca.createOcspResponse(leaf), signedBy: 'issuer' })],
    ['a SHA-256 CertID', async () => ({ bytes: await ca.createOcspResponse(leaf, { hash: 'sha256' }), hash: 'sha256', signedBy: 'issuer' })],
    ['responderID by key', async () => ({ bytes: await ca.createOcspResponse(leaf, { responderId: 'key' }), signedBy: 'issuer' })],
    ['a delegated responder, by name', async () => ({ bytes: await ca.createOcspResponse(leaf, { signer: responder }), signedBy: 'delegated' })],
    ['a delegated responder, by key', async () => ({ bytes: await ca.createOcspResponse(leaf, { signer: responder, responderId: 'key' }), signedBy: 'delegated' })],
    ['an ECDSA P-256 CA and leaf', async () => ({ bytes: await ecCa.createOcspResponse(ecLeaf), cert: ecLeaf, of: ecCa, signedBy: 'issuer' })],
    ['an ECDSA delegated responder of an RSA CA', async () => ({ bytes: await ca.createOcspResponse(leaf, { signer: await ca.issueResponder({ keyType: 'ec' }) }), signedBy: 'delegated' })],
    ['no nextUpdate', async () => ({ bytes: await ca.createOcspResponse(leaf, { nextUpdate: null }), signedBy: 'issuer' })],
  ];
  for (const [name, make] of cases) {
    it(name, async () => {
      const { bytes, cert = leaf, of = ca, hash = 'sha1', signedBy } = await make();
      const { code, out } = await opensslOcsp(bytes, cert, of, hash);
      assert.equal(code, 0, out);
      assert.match(out, /Response verify OK/);
      assert.match(out, /: good/);
      assert.doesNotMatch(out, /WARNING/);
      assert.equal(check(bytes, cert, of).signedBy, signedBy);
    });
  }

  it('uses the given thisUpdate and nextUpdate, to the second', async () => {
    const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
    const nextUpdate = new Date(thisUpdate.getTime() + 2 * DAY);
    const bytes = await ca.createOcspResponse(leaf, { thisUpdate, nextUpdate });
    const { out } = await opensslOcsp(bytes, leaf);
    assert.ok(out.includes(`This Update: ${gmt(thisUpdate)}`), out);
    assert.ok(out.includes(`Next Update: ${gmt(nextUpdate)}`), out);
    const { single } = check(bytes, leaf);
    assert.equal(single.thisUpdate.getTime(), thisUpdate.getTime());
    assert.equal(single.nextUpdate?.getTime(), nextUpdate.getTime());
  });

  it('writeTestPki writes a CA, a server chain, a private key (0600) and a good response', async () => {
    const pki = await writeTestPki(join(dir, 'pki'), { keyType: 'ec' });
    assert.equal(statSync(pki.keyFile).mode & 0o777, 0o600);
    const chain = await openssl(['verify', '-CAfile', pki.caFile, '-untrusted', pki.certFile, pki.certFile]);
    assert.equal(chain.code, 0, chain.out);
    const ocsp = await openssl(['ocsp', '-respin', pki.ocspFile, '-issuer', file(pki.ca.issuer.cert), '-cert', pki.certFile, '-CAfile', pki.caFile, '-verify_other', pki.certFile, '-no_nonce']);
    assert.match(ocsp.out, /: good/);
    assert.match(ocsp.out, /Response verify OK/);
    assert.equal(readFileSync(pki.certFile, 'utf8'), pki.certificate.chain);
  });
});

describe('in a real handshake', () => {
  it('curl --cert-status verifies a staple made by the helpers: ECDSA Must-Staple leaf, delegated responder, responderID by key', async () => {
    // With an intermediate: curl looks for the issuer only in the chain the server sends.
    const ecCa = await createTestCa({ keyType: 'ec' });
    const ecResponder = await ecCa.issueResponder();
    const mustStaple = await ecCa.issueCertificate({ mustStaple: true });
    const certFile = file(mustStaple.chain);
    const ocspFile = file(await ecCa.createOcspResponse(mustStaple, { signer: ecResponder, responderId: 'key' }));
    const ctx = await createStaplingContext({ certFile, ocspFile, issuerFile: file(ecCa.issuer.cert) });
    const server = https.createServer({ cert: mustStaple.chain, key: mustStaple.key }, (_req, res) => res.end('stapled\n'));
    ctx.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      assert.equal(ctx.status().signedBy, 'delegated');
      const { stdout } = await run('curl', ['--silent', '--show-error', '--cert-status', '--cacert', file(ecCa.root.cert), `https://localhost:${port}/`]);
      assert.equal(stdout, 'stapled\n');
    } finally {
      server.closeAllConnections();
      server.close();
      await ctx.close();
    }
  });
});

describe('OCSP responses that must be refused', () => {
  it('revoked, with its time and reason', async () => {
    const revokedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 5 * DAY);
    const bytes = await ca.createOcspResponse(leaf, { status: 'revoked', revokedAt, revocationReason: 'keyCompromise' });
    const { out } = await opensslOcsp(bytes, leaf);
    assert.match(out, /: revoked/);
    assert.match(out, /Reason: keyCompromise/);
    assert.ok(out.includes(`Revocation Time: ${gmt(revokedAt)}`), out);
    refuses(bytes, 'ERR_OCSP_REVOKED');
  });

  it('revoked without a reason', async () => {
    const bytes = await ca.createOcspResponse(leaf, { status: 'revoked' });
    const { out } = await opensslOcsp(bytes, leaf);
    assert.match(out, /: revoked/);
    assert.doesNotMatch(out, /Reason:/);
    refuses(bytes, 'ERR_OCSP_REVOKED');
  });

  it('unknown', async () => {
    const bytes = await ca.createOcspResponse(leaf, { status: 'unknown' });
    assert.match((await opensslOcsp(bytes, leaf)).out, /: unknown/);
    refuses(bytes, 'ERR_OCSP_UNKNOWN');
  });

  it('past nextUpdate', async () => {
    const bytes = await ca.createOcspResponse(leaf, { thisUpdate: new Date(Date.now() - 2 * DAY), nextUpdate: new Date(Date.now() - DAY) });
    assert.match((await opensslOcsp(bytes, leaf)).out, /WARNING: Status times invalid/);
    refuses(bytes, 'ERR_OCSP_EXPIRED');
  });

  it('thisUpdate a day ahead', async () => {
    const bytes = await ca.createOcspResponse(leaf, { thisUpdate: new Date(Date.now() + DAY) });
    assert.match((await opensslOcsp(bytes, leaf)).out, /WARNING: Status times invalid/);
    refuses(bytes, 'ERR_OCSP_NOT_YET_VALID');
  });

  it('signed by a certificate of the CA without id-kp-OCSPSigning', async () => {
    const bytes = await ca.createOcspResponse(leaf, { signer: await ca.issueResponder({ ocspSigning: false }) });
    const { code, out } = await opensslOcsp(bytes, leaf);
    assert.notEqual(code, 0);
    assert.match(out, /Response Verify Failure/);
    refuses(bytes, 'ERR_OCSP_SIGNER_UNAUTHORIZED');
  });

  it('signed by a responder whose certificate has expired', async () => {
    const expired = await ca.issueResponder({ notBefore: new Date(Date.now() - 40 * DAY), notAfter: new Date(Date.now() - 30 * DAY) });
    const bytes = await ca.createOcspResponse(leaf, { signer: expired });
    const { code, out } = await opensslOcsp(bytes, leaf);
    assert.notEqual(code, 0);
    assert.match(out, /Response Verify Failure/);
    refuses(bytes, 'ERR_OCSP_SIGNER_EXPIRED');
  });

  it('signed by a delegated responder that is not carried in the response', async () => {
    const bytes = await ca.createOcspResponse(leaf, { signer: responder, certificates: [] });
    const { code } = await opensslOcsp(bytes, leaf);
    assert.notEqual(code, 0);
    refuses(bytes, 'ERR_OCSP_SIGNER_NOT_FOUND');
  });

  it('signed by another CA', async () => {
    const bytes = await ca.createOcspResponse(leaf, { signer: ecCa.issuer });
    const { code } = await opensslOcsp(bytes, leaf);
    assert.notEqual(code, 0);
    assert.throws(() => check(bytes, leaf), StaplingError);
  });

  it('about another certificate', async () => {
    const bytes = await ca.createOcspResponse(plainLeaf);
    assert.doesNotMatch((await opensslOcsp(bytes, leaf)).out, /: good/);
    refuses(bytes, 'ERR_OCSP_CERTID_MISMATCH');
  });

  it('a tryLater error response', async () => {
    const bytes = createOcspErrorResponse('tryLater');
    assert.match((await opensslOcsp(bytes, leaf)).out, /Responder Error: trylater \(3\)/i);
    refuses(bytes, 'ERR_OCSP_RESPONSE_STATUS');
  });

  it('createOcspResponse refuses a certificate of another CA', async () => {
    await assert.rejects(ca.createOcspResponse(ecLeaf), /not issued by this CA/);
  });
});

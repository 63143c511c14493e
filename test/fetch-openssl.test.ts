import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { StaplingError, type StaplingErrorCode } from '../src/errors.js';
import { fetchOcspResponse, type FetchOcspOptions } from '../src/fetch.js';
import { buildOcspRequest, getUrlFor } from '../src/ocsp/request.js';
import { loadCertificateChain } from '../src/pki.js';
import { opensslAccepts, type Pki } from './fixtures/pki.js';
import { startOpensslResponders, type LoopbackResponder, type OpensslResponders } from './fixtures/responder.js';

let pki: Pki;
let responder: LoopbackResponder;
let delegated: LoopbackResponder;

let responders: OpensslResponders | undefined;

before(async () => {
  responders = await startOpensslResponders();
  ({ pki, responder, delegated } = responders);
});
after(() => responders?.close());

async function refusal(options: FetchOcspOptions): Promise<StaplingError> {
  try {
    await fetchOcspResponse(options);
  } catch (err) {
    assert.ok(err instanceof StaplingError, String(err));
    return err;
  }
  assert.fail('fetchOcspResponse resolved');
}

async function refuses(options: FetchOcspOptions, code: StaplingErrorCode): Promise<StaplingError> {
  const err = await refusal(options);
  assert.equal(err.code, code, err.message);
  return err;
}

describe('OCSPRequest', () => {
  for (const hash of ['sha1', 'sha256', 'sha384', 'sha512'] as const) {
    it(`is byte for byte what openssl ocsp -no_nonce writes (${hash} CertID)`, async () => {
      const { leaf, issuer } = await loadCertificateChain(pki.leaf.chain);
      const out = pki.file('', `req-${hash}.der`);
      execFileSync('openssl', ['ocsp', '-issuer', pki.ca.cert, `-${hash}`, '-cert', pki.leaf.cert, '-no_nonce', '-reqout', out]);
      assert.deepEqual(buildOcspRequest(leaf, issuer, hash), readFileSync(out));
    });
  }

  it('has an RFC 5019 GET form only while the whole URL is at most 255 bytes', async () => {
    const { leaf, issuer } = await loadCertificateChain(pki.leaf.chain);
    const base = new URL('http://127.0.0.1:1/ocsp');
    const small = getUrlFor(base, buildOcspRequest(leaf, issuer, 'sha1'));
    assert.ok(small);
    assert.equal(small.pathname, `/ocsp/${encodeURIComponent(buildOcspRequest(leaf, issuer, 'sha1').toString('base64'))}`);
    // The boundary, exactly: pad the base path so the whole URL is 255, then 256 bytes.
    const request = buildOcspRequest(leaf, issuer, 'sha1');
    const length = (b: URL) => `${b.href}/${encodeURIComponent(request.toString('base64'))}`.length;
    const padded = (n: number) => new URL(`http://127.0.0.1:1/${'p'.repeat(n)}`);
    const fill = 255 - length(padded(1)) + 1;
    assert.equal(length(padded(fill)), 255);
    assert.ok(getUrlFor(padded(fill), request), 'a 255-byte URL is used');
    assert.equal(getUrlFor(padded(fill + 1), request), null, 'a 256-byte URL is not');
  });
});

describe('fetchOcspResponse from a real openssl ocsp responder', () => {
  it('fetches a good response by POST from the URL in the certificate', async () => {
    const { bytes, verified, url } = await fetchOcspResponse({ certFile: pki.leaf.chain });
    assert.equal(url, responder.url);
    assert.equal(verified.single.certStatus, 'good');
    assert.equal(verified.signedBy, 'issuer');
    assert.ok(opensslAccepts(pki, bytes), 'openssl accepts the fetched bytes');
  });

  it('fetches by RFC 5019 GET when asked', async () => {
    const { bytes, url } = await fetchOcspResponse({ certFile: pki.leaf.chain, method: 'GET' });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/M[A-Za-z0-9%]+$/);
    assert.ok(opensslAccepts(pki, bytes));
  });

  it('fetches with a SHA-256 CertID', async () => {
    const { bytes, verified } = await fetchOcspResponse({ certFile: pki.leaf.chain, hash: 'sha256' });
    assert.equal(verified.single.certId.hash, 'sha256');
    assert.ok(opensslAccepts(pki, bytes, pki.leaf, pki.ca, 'sha256'));
  });

  it('takes the certificate and issuer already read', async () => {
    const { leaf, issuer } = await loadCertificateChain(pki.leaf2.chain);
    const { verified } = await fetchOcspResponse({ cert: leaf, issuer });
    assert.ok(verified.single.certId.serialNumber.equals(leaf.serialNumber));
  });

  it('accepts a delegated responder with id-kp-OCSPSigning', async () => {
    const { verified } = await fetchOcspResponse({ certFile: pki.leaf.chain, url: delegated.url });
    assert.equal(verified.signedBy, 'delegated');
  });

  it('refuses a revoked certificate, saying REVOKED', async () => {
    const err = await refuses({ certFile: pki.revoked.chain }, 'ERR_OCSP_REVOKED');
    assert.match(err.message, /REVOKED/);
    assert.match(err.message, /keyCompromise/);
  });

  it('refuses an unknown serial', async () => {
    await refuses({ certFile: pki.unlisted.chain }, 'ERR_OCSP_UNKNOWN');
  });

  it('refuses a certificate without an OCSP URL when none is given', async () => {
    await refuses({ certFile: pki.ca.chain }, 'ERR_FETCH_NO_URL');
  });

  it('refuses a URL that is not http or https', async () => {
    await refuses({ certFile: pki.leaf.chain, url: 'ftp://127.0.0.1/' }, 'ERR_FETCH_NO_URL');
  });

  it('checks the response against the given clock', async () => {
    // One day later the response (nextUpdate in 60 minutes) is expired: the check is the library's.
    await refuses({ certFile: pki.leaf.chain, now: () => Date.now() + 86_400_000 }, 'ERR_OCSP_EXPIRED');
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await assert.rejects(fetchOcspResponse({ certFile: pki.leaf.chain, signal: controller.signal }), /stop/);
  });
});

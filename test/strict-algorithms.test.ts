/**
 * AlgorithmIdentifier parameters. BasicOCSPResponse.signatureAlgorithm is outside the signed
 * tbsResponseData, so anyone on the plain-HTTP OCSP path can change its parameters and the
 * signature still verifies. curl, gnutls-cli and openssl ignore them; Firefox (mozilla::pkix,
 * AlgorithmIdentifierValue in pkixder.cpp) takes only absent or NULL parameters and fails the
 * page with SEC_ERROR_OCSP_MALFORMED_RESPONSE otherwise. The same holds for a CertID's
 * hashAlgorithm, and for a delegated responder certificate's signatureAlgorithm. The library
 * refuses what Firefox refuses (ERR_OCSP_MALFORMED; ERR_OCSP_SIGNER_INVALID for the responder
 * certificate) and keeps every control that every judge accepts.
 *
 * Every verdict below is pinned as measured: the library, curl --cert-status, gnutls-cli with and
 * without --ocsp, openssl ocsp, and Firefox ESR through a bare listener that staples the bytes
 * unchecked (test/fixtures/judges.ts, test/fixtures/browsers.ts).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_LIMITS, StaplingError, verifyOcspResponse, type StaplingErrorCode } from '../src/index.js';
import { algorithmId, certIdWithParams, ECDSA_SHA256, PARAMS, resignedWith, SHA256_RSA, withEmptyCerts, withResponderSignatureAlgorithm, withSignatureAlgorithm } from './fixtures/algorithms.js';
import { firefoxSession, type BrowserVerdict, type FirefoxSession } from './fixtures/browsers.js';
import { cli } from './fixtures/cli.js';
import { buildResponse, certId, currentWindow, info, pemDer } from './fixtures/craft.js';
import { CLIENTS, describeVerdicts, judge, judgeCerts, limited, type ClientName, type Verdicts } from './fixtures/judges.js';
import { makePki, type Pki } from './fixtures/pki.js';

/** `'ok'` or the library's refusal code. */
type Library = 'ok' | StaplingErrorCode;

interface AlgorithmCase {
  readonly name: string;
  /** ECDSA leaf and CA instead of RSA. */
  readonly ec?: boolean;
  readonly make: (pki: Pki) => Buffer;
  readonly library: Library;
  /** The external clients that reject it (the others accept). */
  readonly rejectedBy: readonly ClientName[];
  /** Firefox on a bare listener stapling the bytes: `'loads'` or its error code. */
  readonly firefox: string;
}

const rsaGood = (pki: Pki) => pki.respond({ noCerts: true });
const ecGood = (pki: Pki) => buildResponse({ signer: pki.ecCa, singles: [{ certId: certId(pki.ecLeaf, pki.ecCa), ...currentWindow() }] });
const caSigned = (pki: Pki, params: Buffer) => buildResponse({ signer: pki.ca, singles: [{ certId: certIdWithParams(pki.leaf, pki.ca, params), ...currentWindow() }] });
const MALFORMED = 'SEC_ERROR_OCSP_MALFORMED_RESPONSE';

export const CASES: AlgorithmCase[] = [
  // Controls: every judge accepts them, so must the library.
  { name: 'RSA signature, parameters NULL (as openssl writes them)', make: rsaGood, library: 'ok', rejectedBy: [], firefox: 'loads' },
  { name: 'RSA signature, parameters absent', make: (pki) => withSignatureAlgorithm(rsaGood(pki), algorithmId(SHA256_RSA)), library: 'ok', rejectedBy: [], firefox: 'loads' },
  { name: 'ECDSA signature, parameters absent (as RFC 5758 asks)', ec: true, make: ecGood, library: 'ok', rejectedBy: [], firefox: 'loads' },
  { name: 'ECDSA signature, parameters NULL', ec: true, make: (pki) => withSignatureAlgorithm(ecGood(pki), algorithmId(ECDSA_SHA256, PARAMS.null)), library: 'ok', rejectedBy: [], firefox: 'loads' },
  { name: 'CertID SHA-1, parameters absent', make: (pki) => caSigned(pki, PARAMS.absent), library: 'ok', rejectedBy: [], firefox: 'loads' },
  { name: 'an empty certs list', make: (pki) => withEmptyCerts(rsaGood(pki)), library: 'ok', rejectedBy: [], firefox: 'loads' },
  { name: 'a delegated response (the responder certificate as issued)', make: (pki) => pki.respond({ signer: pki.responder }), library: 'ok', rejectedBy: [], firefox: 'loads' },
  // The unsigned signatureAlgorithm, changed on the path: only Firefox notices.
  ...(['emptyOctetString', 'emptySequence', 'integerZero'] as const).map((p) => ({
    name: `RSA signature, parameters changed on the path to ${PARAMS[p].toString('hex')}`,
    make: (pki: Pki) => withSignatureAlgorithm(rsaGood(pki), algorithmId(SHA256_RSA, PARAMS[p])),
    library: 'ERR_OCSP_MALFORMED' as const,
    rejectedBy: [],
    firefox: MALFORMED,
  })),
  {
    name: 'ECDSA signature, parameters changed on the path to 0400',
    ec: true,
    make: (pki) => withSignatureAlgorithm(ecGood(pki), algorithmId(ECDSA_SHA256, PARAMS.emptyOctetString)),
    library: 'ERR_OCSP_MALFORMED',
    rejectedBy: [],
    firefox: MALFORMED,
  },
  {
    name: 'a delegated response, signature parameters changed on the path to 0400',
    make: (pki) => withSignatureAlgorithm(pki.respond({ signer: pki.responder }), algorithmId(SHA256_RSA, PARAMS.emptyOctetString)),
    library: 'ERR_OCSP_MALFORMED',
    rejectedBy: [],
    firefox: MALFORMED,
  },
  // The CertID is signed: the CA itself wrote these.
  { name: 'CertID SHA-1 with parameters 0400, signed by the CA', make: (pki) => caSigned(pki, PARAMS.emptyOctetString), library: 'ERR_OCSP_MALFORMED', rejectedBy: [], firefox: MALFORMED },
  { name: 'CertID SHA-1 with parameters 3000, signed by the CA', make: (pki) => caSigned(pki, PARAMS.emptySequence), library: 'ERR_OCSP_MALFORMED', rejectedBy: [], firefox: MALFORMED },
  // The responder certificate's outer signatureAlgorithm is unsigned too, but OpenSSL's
  // X509_verify refuses one that differs from the signed copy inside tbsCertificate.
  {
    name: "a delegated response, the responder certificate's outer signature parameters changed on the path to 0400",
    make: (pki) => withResponderSignatureAlgorithm(pki.respond({ signer: pki.responder }), algorithmId(SHA256_RSA, PARAMS.emptyOctetString)),
    library: 'ERR_OCSP_SIGNER_UNAUTHORIZED',
    rejectedBy: ['curl', 'gnutls', 'gnutlsPlain', 'openssl'],
    firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT',
  },
  {
    name: "a delegated response, the responder certificate's outer signature parameters removed on the path",
    make: (pki) => withResponderSignatureAlgorithm(pki.respond({ signer: pki.responder }), algorithmId(SHA256_RSA)),
    library: 'ERR_OCSP_SIGNER_UNAUTHORIZED',
    rejectedBy: ['curl', 'openssl'],
    firefox: 'loads',
  },
  {
    name: 'a delegated response whose responder certificate the CA signed with signature parameters 0400',
    make: (pki) => {
      const odd = resignedWith(pemDer(readFileSync(pki.responder.cert, 'latin1')), pki.ca, algorithmId(SHA256_RSA, PARAMS.emptyOctetString));
      return buildResponse({ signer: pki.responder, singles: [{ certId: certId(pki.leaf, pki.ca), ...currentWindow() }], certs: [odd] });
    },
    library: 'ERR_OCSP_SIGNER_INVALID',
    rejectedBy: [],
    firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT',
  },
];

let pki: Pki;
let session: FirefoxSession | undefined;
const results = new Map<string, Verdicts>();

const said = (v: BrowserVerdict) => (v.loads ? 'loads' : (v.error ?? `no error code (${v.detail})`));

before(async () => {
  pki = makePki();
  session = await firefoxSession(pki.root.cert);
  await limited(
    CASES.map((c) => async () => {
      // Each case on a fork of the PKI (leaves of their own): one Firefox visit per CertID.
      const make = () => {
        const fork = pki.fork();
        return { bytes: c.make(fork), certs: c.ec ? judgeCerts(fork, fork.ecLeaf, fork.ecCa) : judgeCerts(fork) };
      };
      const first = make();
      results.set(c.name, await judge(first.bytes, first.certs, { session: session!, again: make }));
    }),
    2,
  );
});
after(async () => {
  await session?.close();
  pki?.remove();
});

describe('AlgorithmIdentifier parameters: the library refuses what Firefox refuses, and keeps what every judge accepts', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const verdicts = results.get(c.name)!;
      const firefox = verdicts.firefox!;
      const line = describeVerdicts(verdicts);
      assert.equal(verdicts.library.verify, c.library, line);
      assert.deepEqual(verdicts.rejectedBy.filter((n) => n !== 'firefox'), CLIENTS.filter((n) => c.rejectedBy.includes(n)), line);
      assert.ok(firefox.served.loads, `Firefox loads the library's server: ${line}: ${firefox.served.detail}`);
      assert.equal(said(firefox.staple), c.firefox, `${line}: ${firefox.staple.detail}`);
      if (c.library === 'ok') assert.equal(c.firefox, 'loads', 'whatever the library staples, Firefox loads');
    });
  }
});

describe('the refusal says what was expected and what was found', () => {
  const verify = (bytes: Buffer, leaf = pki.leaf, issuer = pki.ca) =>
    verifyOcspResponse(bytes, info(leaf.cert), info(issuer.cert), { ...DEFAULT_LIMITS, now: Date.now() });
  const refusal = (bytes: Buffer): StaplingError => {
    try {
      verify(bytes);
    } catch (err) {
      if (err instanceof StaplingError) return err;
      throw err;
    }
    assert.fail('accepted');
  };

  it('names the signatureAlgorithm, the rule and the bytes found', () => {
    const err = refusal(withSignatureAlgorithm(rsaGood(pki), algorithmId(SHA256_RSA, PARAMS.integerZero)));
    assert.equal(err.code, 'ERR_OCSP_MALFORMED');
    assert.match(err.message, /signatureAlgorithm 1\.2\.840\.113549\.1\.1\.11 with parameters absent or NULL \(05 00\)/);
    assert.match(err.message, /found parameters 02 01 00 \(3 bytes, tag 0x02\)/);
  });
  it("names the CertID's hashAlgorithm", () => {
    const err = refusal(caSigned(pki, PARAMS.emptyOctetString));
    assert.equal(err.code, 'ERR_OCSP_MALFORMED');
    assert.match(err.message, /hashAlgorithm 1\.3\.14\.3\.2\.26 with parameters absent or NULL/);
    assert.match(err.message, /found parameters 04 00/);
  });
  it("names the responder certificate's signatureAlgorithm", () => {
    const odd = resignedWith(pemDer(readFileSync(pki.responder.cert, 'latin1')), pki.ca, algorithmId(SHA256_RSA, PARAMS.emptySequence));
    const err = refusal(buildResponse({ signer: pki.responder, singles: [{ certId: certId(pki.leaf, pki.ca), ...currentWindow() }], certs: [odd] }));
    assert.equal(err.code, 'ERR_OCSP_SIGNER_INVALID');
    assert.match(err.message, /sha256WithRSAEncryption and parameters 30 00/);
  });
});

describe('the attack through ocsp-stapler fetch: a loopback responder path that changes the signature parameters of good responses', () => {
  let server: http.Server;
  let url: string;
  /** What the path does to each good response. */
  let alter: (good: Buffer) => Buffer = (good) => good;
  let n = 0;

  before(async () => {
    // A good response, made by openssl at request time, altered on its way as an attacker would.
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(alter(rsaGood(pki))));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => {
    server?.closeAllConnections();
    server?.close();
  });

  const staple = () => {
    const file = join(pki.dir, `algorithms-${++n}.der`);
    const old = rsaGood(pki);
    writeFileSync(file, old);
    const { mtimeMs } = statSync(file);
    return { file, untouched: () => (assert.deepEqual(readFileSync(file), old, 'the old staple is still there'), assert.equal(statSync(file).mtimeMs, mtimeMs, 'not rewritten')) };
  };

  it('the control: the unaltered response is written (exit 0) and check says OK', async () => {
    alter = (good) => good;
    const { file } = staple();
    writeFileSync(file, 'old');
    const fetched = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', file]);
    assert.equal(fetched.code, 0, fetched.stderr);
    const checked = await cli(['check', '--cert', pki.leaf.chain, file]);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
  });

  for (const p of ['emptyOctetString', 'emptySequence', 'integerZero'] as const) {
    it(`parameters ${PARAMS[p].toString('hex')}: fetch exits 4 with ERR_OCSP_MALFORMED and leaves the old staple untouched; check refuses the altered bytes`, async () => {
      alter = (good) => withSignatureAlgorithm(good, algorithmId(SHA256_RSA, PARAMS[p]));
      const target = staple();
      const fetched = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', target.file]);
      assert.equal(fetched.code, 4, fetched.stdout + fetched.stderr);
      assert.match(fetched.stderr, /ERR_OCSP_MALFORMED/);
      target.untouched();
      const altered = join(pki.dir, `altered-${n}.der`);
      writeFileSync(altered, alter(rsaGood(pki)));
      const checked = await cli(['check', '--cert', pki.leaf.chain, altered]);
      assert.notEqual(checked.code, 0, checked.stdout);
      assert.match(checked.stderr + checked.stdout, /ERR_OCSP_MALFORMED/);
    });
  }
});

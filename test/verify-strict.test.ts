/**
 * Strict-client parity, families 1-3 (issue 12), as pure verifier checks: the unsigned `certs`
 * field, extension decoding, several SingleResponses; and every failure a StaplingError.
 * What real clients say about the same shapes is pinned in test/strict-matrix.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { StaplingError, type StaplingErrorCode } from '../src/errors.js';
import { parseOcspResponse } from '../src/ocsp/parse.js';
import { verifyOcspResponse, type VerifiedResponse } from '../src/ocsp/verify.js';
import { fetchOcspResponse } from '../src/fetch.js';
import { buildOcspRequest } from '../src/ocsp/request.js';
import { loadCertificateChain, type CertificateChain } from '../src/pki.js';
import {
  bool,
  buildResponse,
  certId,
  currentWindow,
  extension,
  forgedCopy,
  octets,
  oid,
  pemDer,
  reissued,
  seq,
  tlv,
  withCerts,
  type ResponseSpec,
  type SingleSpec,
} from './fixtures/craft.js';
import { makePki, type Pki } from './fixtures/pki.js';

const DAY = 86_400_000;
const NONCE = '1.3.6.1.5.5.7.48.1.2';
const PRIVATE = '1.3.6.1.4.1.55555.9';

let pki: Pki;
let chain: CertificateChain;
let ours: SingleSpec;
let der: { ca: Buffer; root: Buffer; leaf: Buffer; responder: Buffer; otherCa: Buffer; fakeCa: Buffer };

before(async () => {
  pki = makePki();
  chain = await loadCertificateChain(pki.leaf.chain);
  const read = (file: string) => pemDer(readFileSync(file, 'latin1'));
  const ca = read(pki.ca.cert);
  der = { ca, root: read(pki.root.cert), leaf: read(pki.leaf.cert), responder: read(pki.responder.cert), otherCa: read(pki.otherCa.cert), fakeCa: forgedCopy(ca, pki.otherCa) };
  ours = { certId: certId(pki.leaf, pki.ca), ...currentWindow() };
});
after(() => pki.remove());

function check(bytes: Uint8Array, now = Date.now()): VerifiedResponse {
  return verifyOcspResponse(bytes, chain.leaf, chain.issuer, { now, clockSkewMs: 300_000, maxAgeWithoutNextUpdateMs: DAY, maxResponseBytes: 65_536 });
}

function refuses(bytes: Uint8Array, code: StaplingErrorCode, now?: number): StaplingError {
  let caught: unknown;
  try {
    check(bytes, now);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof StaplingError, `expected StaplingError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

const issuerSigned = (spec: Partial<ResponseSpec> = {}) => buildResponse({ signer: pki.ca, singles: [ours], ...spec });
const delegated = (certs: Buffer[], spec: Partial<ResponseSpec> = {}) => buildResponse({ signer: pki.responder, singles: [ours], certs, ...spec });

describe('family 1: the unsigned certs field carries only what the signer needs', () => {
  it('accepts the lists responders send: none, or an exact copy of the issuer; the responder, then optionally the issuer', () => {
    check(issuerSigned());
    check(issuerSigned({ certs: [der.ca] }));
    check(delegated([der.responder]));
    check(delegated([der.responder, der.ca]));
    check(pki.respond()); // openssl ocsp carries the signing CA
    check(pki.respond({ signer: pki.responder }));
  });

  it('refuses a self-made certificate with the issuer\'s name and key carried in an issuer-signed response (GnuTLS takes it for a delegated responder)', () => {
    const err = refuses(issuerSigned({ certs: [der.fakeCa] }), 'ERR_OCSP_CARRIED_CERTS');
    assert.match(err.message, /expected no certificate, or one exact copy of the issuer/);
    assert.match(err.message, /not the issuer, but with the issuer's name/);
    refuses(issuerSigned({ responderId: 'key', certs: [der.fakeCa] }), 'ERR_OCSP_CARRIED_CERTS');
    refuses(issuerSigned({ certs: [der.fakeCa, der.ca] }), 'ERR_OCSP_CARRIED_CERTS');
    refuses(issuerSigned({ certs: [der.ca, der.fakeCa] }), 'ERR_OCSP_CARRIED_CERTS');
    refuses(issuerSigned({ certs: [der.otherCa] }), 'ERR_OCSP_CARRIED_CERTS');
  });

  it('refuses a look-alike of the issuing CA next to a delegated responder (OpenSSL builds the responder\'s chain through it)', () => {
    const err = refuses(delegated([der.responder, der.fakeCa]), 'ERR_OCSP_CARRIED_CERTS');
    assert.match(err.message, /expected the responder certificate, optionally followed by one exact copy of the issuer/);
    refuses(delegated([der.fakeCa, der.responder]), 'ERR_OCSP_CARRIED_CERTS');
    refuses(delegated([der.responder, der.fakeCa], { responderId: 'key' }), 'ERR_OCSP_CARRIED_CERTS');
  });

  it('refuses every other list, even ones the clients measured accept: certificates nobody needs are unsigned input', () => {
    refuses(issuerSigned({ certs: [der.ca, der.root] }), 'ERR_OCSP_CARRIED_CERTS');
    refuses(issuerSigned({ certs: [der.responder] }), 'ERR_OCSP_CARRIED_CERTS');
    refuses(issuerSigned({ certs: [der.ca, der.ca] }), 'ERR_OCSP_CARRIED_CERTS');
    refuses(delegated([der.ca, der.responder]), 'ERR_OCSP_CARRIED_CERTS');
    refuses(delegated([der.responder, der.ca, der.root]), 'ERR_OCSP_CARRIED_CERTS');
    refuses(delegated([der.responder, der.responder]), 'ERR_OCSP_CARRIED_CERTS');
    refuses(delegated([der.responder, der.leaf]), 'ERR_OCSP_CARRIED_CERTS');
  });

  it('refuses a response that was fine until someone on the path added a certificate: the signature still verifies', () => {
    const genuine = pki.respond({ noCerts: true });
    check(genuine);
    const tampered = withCerts(genuine, (certs) => [der.fakeCa, ...certs]);
    assert.deepEqual(parseOcspResponse(tampered).tbsResponseData, parseOcspResponse(genuine).tbsResponseData);
    refuses(tampered, 'ERR_OCSP_CARRIED_CERTS');
  });
});

describe('family 2: responseExtensions and singleExtensions are decoded strictly', () => {
  const nonce = extension(NONCE, octets(Buffer.alloc(16, 7)));

  it('reads each extension: id, critical flag, value', () => {
    const bytes = issuerSigned({ responseExtensions: seq(nonce), singles: [{ ...ours, extensions: seq(extension(PRIVATE, tlv(0x05))) }] });
    const { response } = check(bytes);
    assert.deepEqual(response.responseExtensions, [{ id: NONCE, critical: false, value: octets(Buffer.alloc(16, 7)) }]);
    assert.deepEqual(response.responses[0]!.singleExtensions, [{ id: PRIVATE, critical: false, value: tlv(0x05) }]);
  });

  it('accepts what every client measured and mozilla::pkix accept: an empty list, an explicit critical FALSE, duplicates', () => {
    check(issuerSigned({ responseExtensions: seq() }));
    check(issuerSigned({ singles: [{ ...ours, extensions: seq() }] }));
    check(issuerSigned({ responseExtensions: seq(extension(PRIVATE, tlv(0x05), false)) }));
    check(issuerSigned({ responseExtensions: seq(nonce, nonce) }));
  });

  const broken: [string, Buffer][] = [
    ['not a SEQUENCE', octets(Buffer.from([1, 2]))],
    ['a SET', tlv(0x31, nonce)],
    ['an item that is not a SEQUENCE', seq(octets(Buffer.alloc(2)))],
    ['an Extension without extnValue', seq(seq(oid(PRIVATE)))],
    ['an extnValue that is not an OCTET STRING', seq(seq(oid(PRIVATE), tlv(0x05)))],
    ['an Extension with four fields', seq(seq(oid(PRIVATE), bool(true), octets(Buffer.alloc(1)), octets(Buffer.alloc(1))))],
    ['critical after extnValue', seq(seq(oid(PRIVATE), octets(Buffer.alloc(1)), bool(true)))],
    ['an extnID that is not an OBJECT IDENTIFIER', seq(seq(tlv(0x02, Buffer.from([1])), octets(Buffer.alloc(1))))],
    ['two values in the [1] wrapper', Buffer.concat([seq(nonce), seq(nonce)])],
  ];
  for (const [name, content] of broken) {
    it(`refuses responseExtensions and singleExtensions holding ${name} (curl, gnutls-cli and openssl refuse it)`, () => {
      const a = refuses(issuerSigned({ responseExtensions: content }), 'ERR_OCSP_MALFORMED');
      assert.match(a.message, /responseExtensions/);
      const b = refuses(issuerSigned({ singles: [{ ...ours, extensions: content }] }), 'ERR_OCSP_MALFORMED');
      assert.match(b.message, /singleExtensions/);
    });
  }

  it('refuses a critical extension in responseExtensions, the nonce too (Firefox refuses critical extensions it does not process)', () => {
    const err = refuses(issuerSigned({ responseExtensions: seq(extension(NONCE, octets(Buffer.alloc(16, 7)), true)) }), 'ERR_OCSP_CRITICAL_EXTENSION');
    assert.match(err.message, /critical 1\.3\.6\.1\.5\.5\.7\.48\.1\.2 in responseExtensions/);
  });

  it('refuses a critical extension in any SingleResponse', () => {
    const err = refuses(issuerSigned({ singles: [{ ...ours, extensions: seq(extension(PRIVATE, tlv(0x05), true)) }] }), 'ERR_OCSP_CRITICAL_EXTENSION');
    assert.match(err.message, /in SingleResponse 1/);
    const other = { certId: certId(pki.leaf2, pki.ca), ...currentWindow(), extensions: seq(extension(PRIVATE, tlv(0x05), true)) };
    refuses(issuerSigned({ singles: [ours, other] }), 'ERR_OCSP_CRITICAL_EXTENSION');
  });
});

describe('family 3: several SingleResponses', () => {
  const window = () => currentWindow();
  const expired = (s: SingleSpec): SingleSpec => ({ ...s, thisUpdate: new Date(Date.now() - 9 * DAY), nextUpdate: new Date(Date.now() - 8 * DAY) });

  it('accepts other certificates of the same CA after ours, whatever their status and times', () => {
    const leaf2 = { certId: certId(pki.leaf2, pki.ca), ...window() };
    check(issuerSigned({ singles: [ours, leaf2, { ...leaf2, status: 'revoked' }, expired(leaf2)] }));
  });

  it('refuses a SingleResponse naming another CA (OpenSSL requires every one to name the signer\'s CA; curl fails)', () => {
    const err = refuses(issuerSigned({ singles: [ours, { certId: certId(pki.otherLeaf, pki.otherCa), ...window() }] }), 'ERR_OCSP_MIXED_ISSUERS');
    assert.match(err.message, /SingleResponse 2 of 2, serial 0abcde01, with issuer hashes of another CA/);
    refuses(issuerSigned({ singles: [ours, { certId: certId(pki.ca, pki.root), ...window() }] }), 'ERR_OCSP_MIXED_ISSUERS');
    refuses(delegated([der.responder], { singles: [ours, { certId: certId(pki.otherLeaf, pki.otherCa), ...window() }] }), 'ERR_OCSP_MIXED_ISSUERS');
  });

  it('refuses a SingleResponse whose CertID hash nobody can check (OpenSSL fails on an unknown digest)', () => {
    const unknownHash = seq(seq(oid('1.2.3.4.5')), octets(Buffer.alloc(20)), octets(Buffer.alloc(20)), tlv(0x02, Buffer.from([5])));
    const err = refuses(issuerSigned({ singles: [ours, { certId: unknownHash, ...window() }] }), 'ERR_OCSP_MIXED_ISSUERS');
    assert.match(err.message, /hash algorithm 1\.2\.3\.4\.5, which cannot be checked/);
  });

  it('checks a SHA-224 CertID for the issuer as OpenSSL does (RustCrypto\'s multi-hash vector has one)', () => {
    const sha224 = seq(
      seq(oid('2.16.840.1.101.3.4.2.4')),
      octets(createHash224(chain.issuer.subjectName)),
      octets(createHash224(chain.issuer.publicKeyBits)),
      tlv(0x02, chain.leaf.serialNumber),
    );
    check(issuerSigned({ singles: [ours, { certId: sha224, ...window() }] }));
    refuses(issuerSigned({ singles: [ours, expired({ certId: sha224, ...window() })] }), 'ERR_OCSP_EXPIRED');
  });

  it('refuses a second SingleResponse for us that is expired, not yet valid, revoked or unknown, whatever its hash', () => {
    const sha256 = { ...ours, certId: certId(pki.leaf, pki.ca, 'sha256') };
    const err = refuses(issuerSigned({ singles: [ours, expired(ours)] }), 'ERR_OCSP_EXPIRED');
    assert.match(err.message, /SingleResponse 2 of the 2 for this certificate/);
    // curl finds its staple by the SHA-1 CertID: here the SHA-1 one, second, is the expired one.
    refuses(issuerSigned({ singles: [sha256, expired(ours)] }), 'ERR_OCSP_EXPIRED');
    refuses(issuerSigned({ singles: [ours, expired(sha256)] }), 'ERR_OCSP_EXPIRED');
    refuses(issuerSigned({ singles: [ours, { ...ours, thisUpdate: new Date(Date.now() + 2 * DAY), nextUpdate: new Date(Date.now() + 9 * DAY) }] }), 'ERR_OCSP_NOT_YET_VALID');
    refuses(issuerSigned({ singles: [ours, { ...sha256, status: 'revoked' }] }), 'ERR_OCSP_REVOKED');
    refuses(issuerSigned({ singles: [ours, { ...ours, status: 'unknown' }] }), 'ERR_OCSP_UNKNOWN');
  });

  it('staples several good SingleResponses for us only while all of them are current', () => {
    const later = { ...ours, nextUpdate: new Date(ours.nextUpdate!.getTime() + 2 * DAY) };
    const sooner = { ...ours, certId: certId(pki.leaf, pki.ca, 'sha256'), nextUpdate: new Date(ours.nextUpdate!.getTime() - 2 * DAY) };
    const verdict = check(issuerSigned({ singles: [later, sooner] }));
    assert.equal(verdict.validUntil, sooner.nextUpdate!.getTime());
    assert.equal(verdict.single.certId.hash, 'sha1', 'the first SingleResponse is the one reported');
  });
});

describe('every failure is a StaplingError', () => {
  it('refuses a delegated responder whose public key Node cannot load with ERR_OCSP_UNSUPPORTED_ALGORITHM, not a plain Error', () => {
    // The responder's key replaced by a P-256 point that is not on the curve, the certificate
    // re-signed by the CA: every field is well formed, but OpenSSL (and so Node) cannot load the key.
    const point = Buffer.concat([Buffer.from([0x04]), Buffer.alloc(64, 1)]);
    const spki = seq(seq(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7')), tlv(0x03, Buffer.from([0]), point));
    const odd = reissued(der.responder, pki.ca, { spki });
    const err = refuses(delegated([odd]), 'ERR_OCSP_UNSUPPORTED_ALGORITHM');
    assert.match(err.message, /the delegated responder's public key cannot be loaded/);
  });

  it('fetchOcspResponse rejects with StaplingErrors for missing certificates, an unknown hash and an aborted signal (was TypeError and the bare reason)', async () => {
    const code = (expected: string) => (err: unknown) => err instanceof StaplingError && err.code === expected;
    await assert.rejects(fetchOcspResponse({}), code('ERR_INVALID_OPTION'));
    await assert.rejects(fetchOcspResponse({ certFile: pki.leaf.chain, hash: 'md5' as never }), code('ERR_INVALID_OPTION'));
    assert.throws(() => buildOcspRequest(chain.leaf, chain.issuer, 'md5' as never), code('ERR_INVALID_ARGUMENT'));
    const reason = new Error('stop');
    const err = await fetchOcspResponse({ certFile: pki.leaf.chain, signal: AbortSignal.abort(reason) }).catch((e: unknown) => e);
    assert.ok(err instanceof StaplingError && err.code === 'ERR_ABORTED', String(err));
    assert.equal(err.cause, reason);
    assert.match(err.message, /stop/);
  });
});

function createHash224(data: Buffer): Buffer {
  return createHash('sha224').update(data).digest();
}

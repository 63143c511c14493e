import assert from 'node:assert/strict';
import { createHash, createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { StaplingError, type StaplingErrorCode } from '../src/errors.js';
import { verifyOcspResponse, type VerifiedResponse, type VerifyLimits } from '../src/ocsp/verify.js';
import { loadCertificateChain, type CertificateChain } from '../src/pki.js';
import { readTree, writeTree, type Tlv } from './fixtures/mutate.js';
import { makePki, opensslAccepts, type Issued, type Pki } from './fixtures/pki.js';

let pki: Pki;
const chains = new Map<Issued, CertificateChain>();
const DEFAULTS = { clockSkewMs: 300_000, maxAgeWithoutNextUpdateMs: 86_400_000, maxResponseBytes: 65_536 };

before(async () => {
  pki = makePki();
  for (const leaf of [pki.leaf, pki.leaf2, pki.mustStaple, pki.revoked, pki.unlisted, pki.otherLeaf, pki.ecLeaf]) {
    chains.set(leaf, await loadCertificateChain(leaf.chain));
  }
});
after(() => pki.remove());

function check(bytes: Uint8Array, leaf: Issued = pki.leaf, limits: Partial<VerifyLimits> = {}): VerifiedResponse {
  const chain = chains.get(leaf)!;
  return verifyOcspResponse(bytes, chain.leaf, chain.issuer, { now: Date.now(), ...DEFAULTS, ...limits });
}

function refuses(bytes: Uint8Array, code: StaplingErrorCode, leaf: Issued = pki.leaf, limits: Partial<VerifyLimits> = {}): StaplingError {
  let caught: unknown;
  try {
    check(bytes, leaf, limits);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof StaplingError, `expected a StaplingError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** Replaces the first occurrence of `from` in `bytes` by `to` (same length). */
function patch(bytes: Buffer, from: Buffer, to: Buffer): Buffer {
  const at = bytes.indexOf(from);
  assert.ok(at >= 0, 'pattern not found');
  const copy = Buffer.from(bytes);
  to.copy(copy, at);
  return copy;
}

describe('accepts what openssl accepts', () => {
  const cases: Array<[string, () => { bytes: Buffer; leaf?: Issued; hash?: string; signedBy: string }]> = [
    ['a response signed by the issuer', () => ({ bytes: pki.respond(), signedBy: 'issuer' })],
    ['a response signed by a delegated responder with id-kp-OCSPSigning', () => ({ bytes: pki.respond({ signer: pki.responder }), signedBy: 'delegated' })],
    ['a responderID given by key hash', () => ({ bytes: pki.respond({ keyId: true }), signedBy: 'issuer' })],
    ['a delegated responder named by key hash', () => ({ bytes: pki.respond({ signer: pki.responder, keyId: true }), signedBy: 'delegated' })],
    ['a SHA-256 CertID', () => ({ bytes: pki.respond({ hash: 'sha256' }), hash: 'sha256', signedBy: 'issuer' })],
    ['a SHA-384 CertID', () => ({ bytes: pki.respond({ hash: 'sha384' }), hash: 'sha384', signedBy: 'issuer' })],
    ['a SHA-512 CertID', () => ({ bytes: pki.respond({ hash: 'sha512' }), hash: 'sha512', signedBy: 'issuer' })],
    ['several SingleResponses, ours first', () => ({ bytes: pki.respond({ certs: [pki.leaf, pki.leaf2] }), signedBy: 'issuer' })],
    ['an ECDSA P-256 chain', () => ({ bytes: pki.respond({ issuer: pki.ecCa, certs: [pki.ecLeaf] }), leaf: pki.ecLeaf, signedBy: 'issuer' })],
    ['a SHA-512 signature', () => ({ bytes: pki.respond({ rmd: 'sha512' }), signedBy: 'issuer' })],
    ['thisUpdate two minutes ahead, within the clock skew', () => ({ bytes: pki.respond({ at: '+120s' }), signedBy: 'issuer' })],
  ];
  for (const [name, make] of cases) {
    it(`accepts ${name}`, () => {
      const { bytes, leaf = pki.leaf, hash = 'sha1', signedBy } = make();
      const issuer = leaf === pki.ecLeaf ? pki.ecCa : pki.ca;
      assert.equal(opensslAccepts(pki, bytes, leaf, issuer, hash), true, 'openssl oracle accepts it');
      const verdict = check(bytes, leaf);
      assert.equal(verdict.single.certStatus, 'good');
      assert.equal(verdict.signedBy, signedBy);
      assert.ok(verdict.response.bytes.equals(bytes));
    });
  }

  it('staples a response without nextUpdate for maxAgeWithoutNextUpdateMs after thisUpdate', () => {
    const bytes = pki.respond({ validMinutes: 'none' });
    const verdict = check(bytes, pki.leaf, { maxAgeWithoutNextUpdateMs: 60_000 });
    assert.equal(verdict.single.nextUpdate, undefined);
    assert.equal(verdict.validUntil, verdict.single.thisUpdate.getTime() + 60_000);
    refuses(bytes, 'ERR_OCSP_EXPIRED', pki.leaf, { now: verdict.single.thisUpdate.getTime() + 60_000, maxAgeWithoutNextUpdateMs: 60_000 });
  });

  it('stops the staple window at nextUpdate exactly', () => {
    const verdict = check(pki.respond({ validMinutes: 30 }));
    assert.equal(verdict.validUntil, verdict.single.nextUpdate!.getTime());
  });
});

describe('check 1: size and exact DER', () => {
  it('refuses a response larger than maxResponseBytes', () => {
    const bytes = pki.respond();
    const err = refuses(bytes, 'ERR_OCSP_TOO_LARGE', pki.leaf, { maxResponseBytes: bytes.length - 1 });
    assert.match(err.message, new RegExp(`found ${bytes.length} bytes`));
    check(bytes, pki.leaf, { maxResponseBytes: bytes.length });
  });
  it('refuses trailing bytes after the OCSPResponse', () => {
    const bytes = pki.respond();
    assert.equal(opensslAccepts(pki, bytes), true);
    refuses(Buffer.concat([bytes, Buffer.from([0])]), 'ERR_OCSP_TRAILING_DATA');
    refuses(Buffer.concat([bytes, bytes]), 'ERR_OCSP_TRAILING_DATA');
  });
  it('refuses empty input', () => {
    refuses(Buffer.alloc(0), 'ERR_OCSP_EMPTY');
  });
  it('refuses a truncated response at every length', () => {
    const bytes = pki.respond();
    for (let n = 1; n < bytes.length; n += 7) refuses(bytes.subarray(0, n), 'ERR_OCSP_MALFORMED');
  });
  it('refuses garbage, PEM and base64', () => {
    refuses(Buffer.from('hello world, this is not DER'), 'ERR_OCSP_MALFORMED');
    refuses(Buffer.from(pki.respond().toString('base64')), 'ERR_OCSP_MALFORMED');
  });
  it('refuses a non-minimal length (BER, not DER; openssl itself lets it pass)', () => {
    const bytes = pki.respond();
    assert.equal(bytes[0], 0x30);
    assert.equal(bytes[1], 0x82, 'outer length uses two bytes');
    const stretched = Buffer.concat([Buffer.from([0x30, 0x83, 0x00]), bytes.subarray(2)]);
    refuses(stretched, 'ERR_OCSP_MALFORMED');
  });
  it('refuses a child that runs past its parent (asn1js accepts it, openssl refuses it)', () => {
    const bytes = pki.respond();
    // OCSPResponse: 30 82 LL LL | 0a 01 00 | a0 82 LL LL ...; grow the [0] length by one.
    assert.deepEqual([...bytes.subarray(4, 8)], [0x0a, 0x01, 0x00, 0xa0]);
    const copy = Buffer.from(bytes);
    copy.writeUInt16BE(copy.readUInt16BE(9) + 1, 9);
    assert.equal(opensslAccepts(pki, copy), false, 'openssl refuses it');
    refuses(copy, 'ERR_OCSP_MALFORMED');
  });
  it('refuses a zero-length OBJECT IDENTIFIER (asn1js accepts it, openssl refuses it)', () => {
    // The CertID's AlgorithmIdentifier { sha1, NULL } becomes { OID of no bytes, 5 filler bytes, NULL }.
    const sha1Alg = Buffer.from('300906052b0e03021a0500', 'hex');
    const emptyOid = Buffer.from('3009060004050000000000', 'hex');
    const copy = patch(pki.respond(), sha1Alg, emptyOid);
    assert.equal(opensslAccepts(pki, copy), false, 'openssl refuses it');
    refuses(copy, 'ERR_OCSP_MALFORMED');
  });
  it('refuses indefinite-length encoding', () => {
    const bytes = pki.respond();
    const body = bytes.subarray(4);
    refuses(Buffer.concat([Buffer.from([0x30, 0x80]), body, Buffer.from([0, 0])]), 'ERR_OCSP_MALFORMED');
  });
  it('refuses a GeneralizedTime with a local-time offset', () => {
    const bytes = pki.respond();
    // producedAt is the first GeneralizedTime: 18 0f YYYYMMDDHHMMSSZ; turn its Z into +.
    const at = bytes.indexOf(Buffer.from([0x18, 0x0f]));
    const copy = Buffer.from(bytes);
    assert.equal(copy[at + 16], 0x5a);
    copy[at + 16] = 0x2b;
    refuses(copy, 'ERR_OCSP_MALFORMED');
  });
});

describe('check 2: responseStatus and responseType', () => {
  const statuses: Array<[number, string]> = [[1, 'malformedRequest'], [2, 'internalError'], [3, 'tryLater'], [5, 'sigRequired'], [6, 'unauthorized']];
  for (const [code, name] of statuses) {
    it(`refuses responseStatus ${name}`, () => {
      const err = refuses(Buffer.from([0x30, 0x03, 0x0a, 0x01, code]), 'ERR_OCSP_RESPONSE_STATUS');
      assert.match(err.message, new RegExp(name));
    });
  }
  it('refuses a responseType other than id-pkix-ocsp-basic', () => {
    const basic = Buffer.from('06092b0601050507300101', 'hex');
    const other = Buffer.from('06092b0601050507300102', 'hex');
    const err = refuses(patch(pki.respond(), basic, other), 'ERR_OCSP_RESPONSE_TYPE');
    assert.match(err.message, /1\.3\.6\.1\.5\.5\.7\.48\.1\.2/);
  });
});

describe('check 3: CertID', () => {
  it('refuses a response where our SingleResponse is not the first (gnutls-cli fails the handshake on it)', () => {
    const bytes = pki.respond({ certs: [pki.leaf2, pki.leaf] });
    assert.equal(opensslAccepts(pki, bytes), true, 'openssl finds it anywhere');
    refuses(bytes, 'ERR_OCSP_CERTID_MISMATCH');
  });
  it("refuses another certificate's response (serial differs)", () => {
    const bytes = pki.respond({ certs: [pki.leaf2] });
    assert.equal(opensslAccepts(pki, bytes), false);
    assert.equal(opensslAccepts(pki, bytes, pki.leaf2), true, 'it is good for leaf2');
    refuses(bytes, 'ERR_OCSP_CERTID_MISMATCH');
  });
  it('refuses a response from a second hierarchy with the same issuer name and serial (key hash differs)', () => {
    const bytes = pki.respond({ issuer: pki.otherCa, certs: [pki.otherLeaf] });
    assert.equal(pki.otherLeaf.serial, pki.leaf.serial);
    check(bytes, pki.otherLeaf);
    refuses(bytes, 'ERR_OCSP_CERTID_MISMATCH');
  });
  it('refuses a CertID whose issuerNameHash alone differs', () => {
    const bytes = pki.respond();
    const chain = chains.get(pki.leaf)!;
    const nameHash = createHash('sha1').update(chain.issuer.subjectName).digest();
    const altered = Buffer.from(nameHash);
    altered[0] = altered[0]! ^ 1;
    refuses(patch(bytes, nameHash, altered), 'ERR_OCSP_CERTID_MISMATCH');
  });
  it('refuses a CertID with a hash algorithm it cannot compute', () => {
    const sha1Oid = Buffer.from('06052b0e03021a', 'hex');
    const md5ish = Buffer.from('06052b0e03021b', 'hex');
    const err = refuses(patch(pki.respond(), sha1Oid, md5ish), 'ERR_OCSP_CERTID_MISMATCH');
    assert.match(err.message, /hash 1\.3\.14\.3\.2\.27/);
  });
});

describe('check 4: certStatus', () => {
  it('refuses a revoked certificate, saying when and why', () => {
    const bytes = pki.respond({ certs: [pki.revoked] });
    const err = refuses(bytes, 'ERR_OCSP_REVOKED', pki.revoked);
    assert.match(err.message, /REVOKED/);
    assert.match(err.message, /2024-01-01T00:00:00\.000Z/);
    assert.match(err.message, /keyCompromise/);
  });
  it('refuses unknown', () => {
    refuses(pki.respond({ certs: [pki.unlisted] }), 'ERR_OCSP_UNKNOWN', pki.unlisted);
  });
});

describe('check 5: time', () => {
  it('refuses a response past nextUpdate', () => {
    const bytes = pki.respond({ at: '-2d', validMinutes: 24 * 60 });
    assert.equal(opensslAccepts(pki, bytes), false);
    refuses(bytes, 'ERR_OCSP_EXPIRED');
  });
  it('refuses at the instant of nextUpdate, not a millisecond later', () => {
    const bytes = pki.respond({ validMinutes: 10 });
    const next = check(bytes).single.nextUpdate!.getTime();
    check(bytes, pki.leaf, { now: next - 1 });
    refuses(bytes, 'ERR_OCSP_EXPIRED', pki.leaf, { now: next });
  });
  it('refuses a response whose thisUpdate is beyond the clock skew', () => {
    const bytes = pki.respond({ at: '+1d' });
    assert.equal(opensslAccepts(pki, bytes), false);
    refuses(bytes, 'ERR_OCSP_NOT_YET_VALID');
    check(bytes, pki.leaf, { clockSkewMs: 2 * 86_400_000 });
  });
  it('refuses a response without nextUpdate older than the maximum age', () => {
    const bytes = pki.respond({ at: '-2d', validMinutes: 'none' });
    refuses(bytes, 'ERR_OCSP_EXPIRED');
  });

  // Freshness as Firefox judges it: thisUpdate + maxAgeMs (default 10 days), before nextUpdate.
  const DAY = 86_400_000;
  it('refuses a 30-day response 15 days after thisUpdate (ERR_OCSP_TOO_OLD) although openssl accepts it', () => {
    const bytes = pki.respond({ at: '-15d', validMinutes: 30 * 24 * 60 });
    assert.equal(opensslAccepts(pki, bytes), true, 'inside [thisUpdate, nextUpdate): openssl accepts it');
    const err = refuses(bytes, 'ERR_OCSP_TOO_OLD');
    assert.match(err.message, /too old/);
    assert.match(err.expected!, /at most 10 days old: maxAgeMs 864000000/);
    assert.match(err.found!, /^thisUpdate \S+ \(nextUpdate \S+ has not passed\)$/);
  });
  it('staples a 30-day response until thisUpdate + 10 days exactly, then refuses it', () => {
    const bytes = pki.respond({ at: '-1d', validMinutes: 30 * 24 * 60 });
    const verdict = check(bytes);
    const thisUpdate = verdict.single.thisUpdate.getTime();
    assert.equal(verdict.validUntil, thisUpdate + 10 * DAY, 'validUntil is the age limit, not nextUpdate');
    assert.ok(verdict.single.nextUpdate!.getTime() > verdict.validUntil);
    check(bytes, pki.leaf, { now: thisUpdate + 10 * DAY - 1 });
    refuses(bytes, 'ERR_OCSP_TOO_OLD', pki.leaf, { now: thisUpdate + 10 * DAY });
  });
  it('follows maxAgeMs when given', () => {
    const bytes = pki.respond({ validMinutes: 60 });
    const verdict = check(bytes, pki.leaf, { maxAgeMs: 60_000 });
    const thisUpdate = verdict.single.thisUpdate.getTime();
    assert.equal(verdict.validUntil, thisUpdate + 60_000);
    refuses(bytes, 'ERR_OCSP_TOO_OLD', pki.leaf, { now: thisUpdate + 60_000, maxAgeMs: 60_000 });
    // A limit longer than nextUpdate changes nothing: nextUpdate ends it.
    assert.equal(check(bytes, pki.leaf, { maxAgeMs: 2 * 3_600_000 }).validUntil, verdict.single.nextUpdate!.getTime());
  });
  it('says ERR_OCSP_EXPIRED, not TOO_OLD, once nextUpdate has passed as well', () => {
    const bytes = pki.respond({ at: '-15d', validMinutes: 12 * 24 * 60 });
    refuses(bytes, 'ERR_OCSP_EXPIRED');
  });
  it('keeps nextUpdate when it comes before thisUpdate + 10 days', () => {
    const bytes = pki.respond({ validMinutes: 10 * 24 * 60 });
    const verdict = check(bytes);
    assert.equal(verdict.validUntil, verdict.single.nextUpdate!.getTime());
  });
  it('applies maxAgeMs to responses without nextUpdate too, when it is the shorter', () => {
    const bytes = pki.respond({ validMinutes: 'none' });
    const verdict = check(bytes, pki.leaf, { maxAgeMs: 60_000 });
    assert.equal(verdict.validUntil, verdict.single.thisUpdate.getTime() + 60_000);
    refuses(bytes, 'ERR_OCSP_TOO_OLD', pki.leaf, { now: verdict.validUntil, maxAgeMs: 60_000 });
  });
  it('uses the 10-day default when the limits leave maxAgeMs out', () => {
    const chain = chains.get(pki.leaf)!;
    const bytes = pki.respond({ at: '-15d', validMinutes: 30 * 24 * 60 });
    assert.throws(() => verifyOcspResponse(bytes, chain.leaf, chain.issuer, { now: Date.now(), clockSkewMs: 300_000, maxAgeWithoutNextUpdateMs: DAY, maxResponseBytes: 65_536 }), { code: 'ERR_OCSP_TOO_OLD' });
  });

  /** `bytes` with `edit` applied to tbsResponseData, signed again with the CA's key (sha256WithRSAEncryption, as openssl signs). */
  function resigned(bytes: Buffer, edit: (tbs: Tlv[]) => void): Buffer {
    const tree = readTree(bytes)!;
    // OCSPResponse > responseBytes [0] > ResponseBytes > response OCTET STRING > BasicOCSPResponse
    const basic = tree[0]!.children![1]!.children![0]!.children![1]!.children![0]!;
    const [tbs, , signature] = basic.children!;
    edit(tbs!.children!);
    signature!.content = Buffer.concat([Buffer.from([0]), sign('sha256', writeTree([tbs!]), createPrivateKey(readFileSync(pki.ca.key)))]);
    return writeTree(tree);
  }
  const at = (list: Tlv[], path: readonly number[]): Tlv => path.reduce<Tlv>((node, i) => node.children![i]!, { tag: 0, content: Buffer.alloc(0), children: list });
  const addFraction = (node: Tlv) => {
    node.content = Buffer.from(node.content.toString('latin1').replace(/Z$/, '.5Z'), 'latin1');
  };
  it('accepts a response re-signed by these tests unchanged (the control for the next ones)', () => {
    check(resigned(pki.respond(), () => undefined));
  });
  // tbsResponseData: responderID, producedAt, responses > SingleResponse > (CertID, certStatus, thisUpdate, [0] nextUpdate).
  for (const [name, path] of [['producedAt', [1]], ['thisUpdate', [2, 0, 2]], ['nextUpdate', [2, 0, 3, 0]]] as const) {
    it(`refuses fractional seconds in ${name} (DER allows them; RFC 5019 and real clients do not)`, () => {
      // Measured: gnutls-cli fails the handshake on a staple with fractional thisUpdate and
      // nextUpdate ("The OCSP response is old"); OpenSSL 3.0 (so curl) refuses a fractional
      // thisUpdate with a whole-second nextUpdate ("nextupdate before thisupdate").
      const bytes = resigned(pki.respond(), (tbs) => addFraction(at(tbs, path)));
      assert.match(bytes.toString('latin1'), /\d{14}\.5Z/);
      refuses(bytes, 'ERR_OCSP_MALFORMED');
    });
  }
});

describe('check 6: signature and responder authorisation', () => {
  it('refuses a flipped bit in the signature', () => {
    // Without carried certificates the signature is the last thing in the response.
    const bytes = Buffer.from(pki.respond({ noCerts: true }));
    assert.equal(opensslAccepts(pki, bytes), true);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0x01;
    assert.equal(opensslAccepts(pki, bytes), false);
    refuses(bytes, 'ERR_OCSP_BAD_SIGNATURE');
  });
  it('refuses a changed producedAt (signed data altered)', () => {
    const bytes = Buffer.from(pki.respond());
    const at = bytes.indexOf(Buffer.from([0x18, 0x0f]));
    bytes[at + 2 + 13] = bytes[at + 2 + 13] === 0x30 ? 0x31 : 0x30; // a seconds digit
    assert.equal(opensslAccepts(pki, bytes), false);
    refuses(bytes, 'ERR_OCSP_BAD_SIGNATURE');
  });
  it('refuses a response forged by a CA with the same name but another key', () => {
    const bytes = pki.respond({ signer: pki.otherCa });
    assert.equal(opensslAccepts(pki, bytes), false);
    refuses(bytes, 'ERR_OCSP_BAD_SIGNATURE');
  });
  it('refuses a responder certificate without id-kp-OCSPSigning', () => {
    const bytes = pki.respond({ signer: pki.responderNoEku });
    assert.equal(opensslAccepts(pki, bytes), false);
    refuses(bytes, 'ERR_OCSP_SIGNER_UNAUTHORIZED');
  });
  it('refuses a responder with id-kp-OCSPSigning issued by the root, not the issuer', () => {
    const bytes = pki.respond({ signer: pki.responderFromRoot });
    assert.equal(opensslAccepts(pki, bytes), false);
    const err = refuses(bytes, 'ERR_OCSP_SIGNER_UNAUTHORIZED');
    assert.match(err.message, /Test Root CA/);
  });
  it('refuses a responder certificate with a critical extension clients do not know (curl and gnutls-cli refuse it)', () => {
    const bytes = pki.respond({ signer: pki.responderCriticalExt });
    assert.equal(opensslAccepts(pki, bytes), false, 'openssl refuses it');
    const err = refuses(bytes, 'ERR_OCSP_SIGNER_UNAUTHORIZED');
    assert.match(err.message, /1\.3\.6\.1\.4\.1\.55555\.1/);
  });
  it('refuses a delegated response that does not carry its responder certificate', () => {
    const bytes = pki.respond({ signer: pki.responder, noCerts: true });
    refuses(bytes, 'ERR_OCSP_SIGNER_NOT_FOUND');
  });
  it('refuses an expired delegated responder', () => {
    const bytes = pki.respond({ signer: pki.responderExpired });
    assert.equal(opensslAccepts(pki, bytes), false);
    refuses(bytes, 'ERR_OCSP_SIGNER_EXPIRED');
  });
  it('refuses a response signed by the issuer of another hierarchy for our serial', () => {
    const bytes = pki.respond({ issuer: pki.otherCa, certs: [pki.otherLeaf], signer: pki.otherCa });
    refuses(bytes, 'ERR_OCSP_CERTID_MISMATCH');
  });
  it('ends the staple window when the delegated responder certificate expires before nextUpdate', () => {
    const bytes = pki.respond({ signer: pki.responderShortLived, validMinutes: 3 * 24 * 60 });
    const verdict = check(bytes);
    const notAfter = verdict.responder!.notAfter.getTime();
    assert.ok(notAfter < verdict.single.nextUpdate!.getTime(), 'the responder expires first');
    assert.equal(verdict.validUntil, notAfter, 'stapled until the responder certificate\'s notAfter, not through its second');
    refuses(bytes, 'ERR_OCSP_SIGNER_EXPIRED', pki.leaf, { now: notAfter + 1000 });
  });
  it('refuses a delegated response from the responder certificate\'s notAfter second on, as OpenSSL does (curl fails at notAfter + 0.15 s)', () => {
    const bytes = pki.respond({ signer: pki.responderShortLived, validMinutes: 3 * 24 * 60 });
    const notAfter = check(bytes).responder!.notAfter.getTime();
    assert.equal(check(bytes, pki.leaf, { now: notAfter - 1 }).signedBy, 'delegated', 'valid 1 ms before notAfter');
    for (const now of [notAfter, notAfter + 150, notAfter + 999]) {
      const err = refuses(bytes, 'ERR_OCSP_SIGNER_EXPIRED', pki.leaf, { now });
      assert.match(err.message, /notAfter second itself as expired/);
    }
  });
  it('refuses a flipped bit in a delegated responder\'s signature', () => {
    const bytes = Buffer.from(pki.respond({ signer: pki.responder }));
    const { signature } = check(bytes).response;
    const at = bytes.indexOf(signature);
    bytes[at + 5] = bytes[at + 5]! ^ 0x10;
    assert.equal(opensslAccepts(pki, bytes), false);
    refuses(bytes, 'ERR_OCSP_BAD_SIGNATURE');
  });
});

import { createHash, verify as verifySignature, type KeyObject } from 'node:crypto';
import { StaplingError } from '../errors.js';
import { checkVerifyArguments, DEFAULT_LIMITS } from '../options.js';
import { issued, readCertificate, type CertificateInfo } from '../pki.js';
import { CRL_REASONS, parseOcspResponse, type CertId, type OcspResponse, type SingleResponse } from './parse.js';
import { checkDelegatedResponder, checkResponderIdClash } from './responder.js';

/** id-kp-OCSPSigning, RFC 6960 section 4.2.2.2. */
export { OCSP_SIGNING } from './responder.js';

/** The limits a response is checked against. All times are milliseconds since the epoch. */
export interface VerifyLimits {
  /** The time to check against. */
  readonly now: number;
  /** How far in the future thisUpdate may be, for clocks that disagree a little. */
  readonly clockSkewMs: number;
  /** How long after thisUpdate a response without nextUpdate may be stapled. */
  readonly maxAgeWithoutNextUpdateMs: number;
  /**
   * How long after thisUpdate any response may be stapled, whatever its nextUpdate. Optional:
   * absent means 864000000 (10 days), Firefox's limit for end-entity certificates.
   */
  readonly maxAgeMs?: number;
  /** Largest response accepted, in bytes. */
  readonly maxResponseBytes: number;
}

// The defaults live with every other default, in options.ts.
export { DEFAULT_LIMITS } from '../options.js';

/** Who signed a response that verified. */
export type SignedBy = 'issuer' | 'delegated';

/** A response that passed every check, with the window in which it may be stapled. */
export interface VerifiedResponse {
  /** The parsed response. */
  readonly response: OcspResponse;
  /** The SingleResponse for our certificate. */
  readonly single: SingleResponse;
  /** The issuer itself, or a delegated responder. */
  readonly signedBy: SignedBy;
  /** The delegated responder certificate, when `signedBy` is `delegated`. */
  readonly responder: CertificateInfo | undefined;
  /** First instant (ms) at which the response may be stapled: thisUpdate less the clock skew. */
  readonly validFrom: number;
  /**
   * The instant (ms) from which it must no longer be stapled: the earliest of nextUpdate,
   * thisUpdate plus `maxAgeMs`, thisUpdate plus `maxAgeWithoutNextUpdateMs` when there is no
   * nextUpdate, and the delegated responder certificate's notAfter (OpenSSL, so curl, counts the
   * notAfter second itself as expired). Refresh plans from it.
   */
  readonly validUntil: number;
}

/**
 * Runs every check on one OCSP response for `leaf` issued by `issuer`, in this order: size,
 * strict DER, responseStatus and type, CertID, signature and responder authorisation,
 * certStatus, time. Returns the verified facts or throws the first {@link StaplingError}.
 * Pure: no I/O, no clock (the time comes in `limits.now`).
 *
 * @example
 * ```ts
 * const { leaf, issuer } = await loadCertificateChain('site.pem');
 * const limits = { now: Date.now(), clockSkewMs: 300_000, maxAgeWithoutNextUpdateMs: 86_400_000, maxResponseBytes: 65_536 };
 * const verdict = verifyOcspResponse(readFileSync('site.pem.ocsp'), leaf, issuer, limits);
 * console.log(verdict.signedBy, new Date(verdict.validUntil));
 * ```
 */
export function verifyOcspResponse(
  bytes: Uint8Array,
  leaf: CertificateInfo,
  issuer: CertificateInfo,
  limits: VerifyLimits,
): VerifiedResponse {
  checkVerifyArguments('verifyOcspResponse', bytes, leaf, issuer, limits);
  if (bytes.length > limits.maxResponseBytes) {
    throw new StaplingError('ERR_OCSP_TOO_LARGE', 'the OCSP response is too large', {
      expected: `at most ${limits.maxResponseBytes} bytes`,
      found: `${bytes.length} bytes`,
    });
  }
  try {
    const response = parseOcspResponse(bytes);
    const carried = readCarriedCertificates(response);
    const ours = singleResponsesFor(response, leaf, issuer);
    const signer = checkSignature(response, carried, issuer, limits.now);
    if (signer.responder) checkResponderIdClash(response, signer.responder, [leaf, issuer]);
    checkCarriedList(carried, issuer, signer);
    checkCriticalExtensions(response);
    checkSctExtensions(ours);
    // curl looks its staple up by the SHA-1 CertID, Firefox checks every SingleResponse that names
    // the certificate: each one for us must be good and current, wherever it is.
    ours.forEach((single, i) => checkCertStatus(single, ordinal(i, ours.length)));
    let validFrom = -Infinity;
    let validUntil = Infinity;
    ours.forEach((single, i) => {
      const window = checkTime(single, signer.responder, limits, ordinal(i, ours.length));
      validFrom = Math.max(validFrom, window.validFrom);
      validUntil = Math.min(validUntil, window.validUntil);
    });
    return { response, single: ours[0]!, signedBy: signer.signedBy, responder: signer.responder, validFrom, validUntil };
  } catch (err) {
    if (err instanceof StaplingError) throw err;
    // Every check above throws StaplingError itself; this net keeps the promise (one error class,
    // CLI exit code 4) for whatever Node's crypto may still throw on inputs nobody thought of.
    throw new StaplingError('ERR_OCSP_MALFORMED', 'the response could not be checked', {
      found: err instanceof Error ? err.message : String(err),
      cause: err,
    });
  }
}

/** " (SingleResponse i of n for this certificate)" when there are several, else "". */
function ordinal(index: number, count: number): string {
  return count > 1 ? ` (SingleResponse ${index + 1} of the ${count} for this certificate)` : '';
}

/** The SingleResponse whose CertID names `leaf`, hashed with the algorithm it names (the first when there are several). */
export function findSingleResponse(response: OcspResponse, leaf: CertificateInfo, issuer: CertificateInfo): SingleResponse {
  return singleResponsesFor(response, leaf, issuer)[0]!;
}

// Digests OpenSSL computes when it checks that a CertID names the signer's CA
// (ocsp_match_issuerid): more than the CertID hashes a staple may match us by.
const ISSUER_CHECK_HASHES: Record<string, string> = {
  '1.2.840.113549.2.5': 'md5',
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** The CertID's issuerNameHash and issuerKeyHash are those of `issuer`. */
function namesIssuer(certId: CertId, issuer: CertificateInfo): boolean {
  const hash = ISSUER_CHECK_HASHES[certId.hashAlgorithm];
  if (!hash) return false;
  const digest = (data: Buffer) => createHash(hash).update(data).digest();
  return certId.issuerNameHash.equals(digest(issuer.subjectName)) && certId.issuerKeyHash.equals(digest(issuer.publicKeyBits));
}

/**
 * Every SingleResponse whose CertID names `leaf`, in order; the first of them is the first
 * SingleResponse of all, and every other SingleResponse names the same issuer.
 */
function singleResponsesFor(response: OcspResponse, leaf: CertificateInfo, issuer: CertificateInfo): SingleResponse[] {
  // Ours under any digest OpenSSL knows; only a CertID hash we can match by may come first.
  const ours = response.responses.filter(({ certId }) => certId.serialNumber.equals(leaf.serialNumber) && namesIssuer(certId, issuer));
  const matches = ours.filter(({ certId }) => certId.hash !== undefined);
  if (matches.length === 0) {
    const found = response.responses
      .map(({ certId }) => `serial ${certId.serialNumber.toString('hex')} (${certId.hash ?? `hash ${certId.hashAlgorithm}`})`)
      .join(', ');
    throw new StaplingError('ERR_OCSP_CERTID_MISMATCH', 'the response is not for this certificate', {
      expected: `serial ${leaf.serialNumber.toString('hex')} issued by the key of "${oneLine(issuer.x509.subject)}"`,
      found,
    });
  }
  // GnuTLS checks only the first SingleResponse and fails the handshake when it names another
  // certificate ("Got OCSP response with an unrelated certificate"): ours must come first.
  if (response.responses[0] !== matches[0]) {
    throw new StaplingError('ERR_OCSP_CERTID_MISMATCH', 'the SingleResponse for this certificate is not the first one', {
      expected: `the first of the ${response.responses.length} SingleResponses to name serial ${leaf.serialNumber.toString('hex')} (GnuTLS reads only the first)`,
      found: `it is SingleResponse ${response.responses.indexOf(matches[0]!) + 1}`,
    });
  }
  // OpenSSL's ocsp_check_issuer (crypto/ocsp/ocsp_vfy.c) requires every CertID to name the
  // signer's CA, each under its own hash algorithm (an unknown one fails), and curl fails the
  // handshake otherwise (measured). A delegated responder is issued by our issuer, so every
  // CertID must name our issuer.
  const foreign = response.responses.findIndex(({ certId }) => !namesIssuer(certId, issuer));
  if (foreign >= 0) {
    const { certId } = response.responses[foreign]!;
    throw new StaplingError('ERR_OCSP_MIXED_ISSUERS', 'a SingleResponse names another CA than the issuer', {
      expected: `every SingleResponse to name the issuer "${oneLine(issuer.x509.subject)}" (OpenSSL and curl refuse the response otherwise)`,
      found: `SingleResponse ${foreign + 1} of ${response.responses.length}, serial ${certId.serialNumber.toString('hex')}, ${
        ISSUER_CHECK_HASHES[certId.hashAlgorithm] ? 'with issuer hashes of another CA' : `with hash algorithm ${certId.hashAlgorithm}, which cannot be checked`
      }`,
    });
  }
  return ours;
}

function checkCertStatus(single: SingleResponse, which = ''): void {
  if (single.certStatus === 'revoked') {
    const reason = single.revocationReason === undefined ? 'no reason given' : `reason ${CRL_REASONS[single.revocationReason] ?? single.revocationReason}`;
    throw new StaplingError('ERR_OCSP_REVOKED', 'the certificate is REVOKED', {
      expected: 'certStatus good',
      found: `revoked at ${single.revocationTime!.toISOString()}, ${reason}${which}`,
    });
  }
  if (single.certStatus === 'unknown') {
    throw new StaplingError('ERR_OCSP_UNKNOWN', 'the responder does not know this certificate', {
      expected: 'certStatus good',
      found: `unknown${which}`,
    });
  }
}

/**
 * @internal When a SingleResponse stops being stapled, leaving the responder certificate
 * aside (`until`): the earlier of its own end (nextUpdate, or thisUpdate plus
 * `maxAgeWithoutNextUpdateMs` without one) and thisUpdate plus `maxAgeMs`. Shared by the check
 * and by `inspect`, so that both say the same.
 */
export function staplingEnd(
  single: SingleResponse,
  limits: Pick<VerifyLimits, 'maxAgeWithoutNextUpdateMs' | 'maxAgeMs'>,
): { until: number; ownEnd: number; ageLimit: number } {
  const thisUpdate = single.thisUpdate.getTime();
  const ageLimit = thisUpdate + (limits.maxAgeMs ?? DEFAULT_LIMITS.maxAgeMs);
  const ownEnd = single.nextUpdate ? single.nextUpdate.getTime() : thisUpdate + limits.maxAgeWithoutNextUpdateMs;
  return { until: Math.min(ownEnd, ageLimit), ownEnd, ageLimit };
}

function checkTime(
  single: SingleResponse,
  responder: CertificateInfo | undefined,
  limits: VerifyLimits,
  which = '',
): { validFrom: number; validUntil: number } {
  const thisUpdate = single.thisUpdate.getTime();
  const validFrom = thisUpdate - limits.clockSkewMs;
  if (limits.now < validFrom) {
    throw new StaplingError('ERR_OCSP_NOT_YET_VALID', 'the response is not valid yet', {
      expected: `thisUpdate no later than ${new Date(limits.now + limits.clockSkewMs).toISOString()} (now plus ${limits.clockSkewMs} ms skew)`,
      found: `thisUpdate ${single.thisUpdate.toISOString()}${which}`,
    });
  }
  if (single.nextUpdate && single.nextUpdate.getTime() < thisUpdate) {
    throw new StaplingError('ERR_OCSP_EXPIRED', 'nextUpdate is before thisUpdate', {
      expected: 'nextUpdate after thisUpdate',
      found: `thisUpdate ${single.thisUpdate.toISOString()}, nextUpdate ${single.nextUpdate.toISOString()}${which}`,
    });
  }
  const { until, ownEnd, ageLimit } = staplingEnd(single, limits);
  // The responder certificate's notAfter second is already too late: see checkSignature.
  const validUntil = responder ? Math.min(until, responder.notAfter.getTime()) : until;
  if (limits.now < validUntil) return { validFrom, validUntil };

  if (limits.now >= ageLimit && limits.now < ownEnd) {
    // Inside its own window, but older than Firefox accepts (SEC_ERROR_OCSP_OLD_RESPONSE).
    const maxAgeMs = ageLimit - thisUpdate;
    const days = maxAgeMs / 86_400_000;
    throw new StaplingError('ERR_OCSP_TOO_OLD', 'the response is too old to staple', {
      expected: `thisUpdate no earlier than ${new Date(limits.now - maxAgeMs).toISOString()} (at most ${Number.isInteger(days) ? `${days} days` : `${maxAgeMs} ms`} old: maxAgeMs ${maxAgeMs}, Firefox's limit by default)`,
      found: `thisUpdate ${single.thisUpdate.toISOString()}${single.nextUpdate ? ` (nextUpdate ${single.nextUpdate.toISOString()} has not passed)` : ''}${which}`,
    });
  }
  const found = single.nextUpdate
    ? `nextUpdate ${single.nextUpdate.toISOString()}`
    : `no nextUpdate, thisUpdate ${single.thisUpdate.toISOString()} (older than ${limits.maxAgeWithoutNextUpdateMs} ms)`;
  throw new StaplingError('ERR_OCSP_EXPIRED', 'the response has expired', {
    expected: `still valid at ${new Date(limits.now).toISOString()}`,
    found: `${found}${which}`,
  });
}

/**
 * Every certificate carried in the response must be one OpenSSL can read, even when the
 * issuer signed and none of them is needed: OpenSSL decodes the whole BasicOCSPResponse, so a
 * client such as curl refuses a staple with one damaged certificate in it (found by fuzzing).
 */
function readCarriedCertificates(response: OcspResponse): CertificateInfo[] {
  return response.certs.map((der, index) => {
    try {
      return readCertificate(der);
    } catch (err) {
      // DerError from our reader, or OpenSSL's own refusal through X509Certificate.
      throw new StaplingError('ERR_OCSP_MALFORMED', 'a certificate carried in the response cannot be read', {
        expected: 'every certificate in the response to be a valid X.509 certificate',
        found: `certificate ${index + 1} of ${response.certs.length}: ${err instanceof Error ? err.message : String(err)}`,
        cause: err,
      });
    }
  });
}

/**
 * `certs` is outside the signature, so anyone on the response's path can add to it, and clients
 * pick signers from it in ways that break on additions (measured, test/strict-matrix.test.ts):
 * GnuTLS takes the first carried certificate the responderID names and, unless it is
 * byte-identical to the issuer, verifies it as a delegated responder and fails
 * (gnutls_ocsp_resp_verify_direct, lib/x509/ocsp.c); OpenSSL searches the carried certificates
 * before the peer chain for a delegated responder's issuer (OCSP_basic_verify,
 * crypto/ocsp/ocsp_vfy.c), so a look-alike of the issuing CA fails curl. The library accepts
 * only the lists responders send: none or an exact copy of the issuer when the issuer signs;
 * the responder, optionally followed by an exact copy of the issuer, when a delegated responder
 * signs. Everything else is refused, including lists every client measured accepts (an allow-list
 * does not depend on knowing every client's selection rule).
 */
function checkCarriedList(carried: readonly CertificateInfo[], issuer: CertificateInfo, signer: SignerCheck): void {
  const isIssuer = (cert: CertificateInfo | undefined) => cert !== undefined && cert.der.equals(issuer.der);
  const safe =
    signer.signedBy === 'issuer'
      ? carried.length === 0 || (carried.length === 1 && isIssuer(carried[0]))
      : carried[0] === signer.responder && (carried.length === 1 || (carried.length === 2 && isIssuer(carried[1])));
  if (safe) return;
  const role = (cert: CertificateInfo) => {
    if (cert === signer.responder) return 'the responder';
    if (isIssuer(cert)) return 'a copy of the issuer';
    if (cert.subjectName.equals(issuer.subjectName)) return "not the issuer, but with the issuer's name";
    return 'another certificate';
  };
  throw new StaplingError('ERR_OCSP_CARRIED_CERTS', 'the response carries certificates a client may take for the signer or its issuer', {
    expected:
      signer.signedBy === 'issuer'
        ? 'no certificate, or one exact copy of the issuer'
        : 'the responder certificate, optionally followed by one exact copy of the issuer',
    found: carried.map((cert, i) => `${i + 1}: "${oneLine(cert.x509.subject)}" (${role(cert)})`).join('; '),
  });
}

/**
 * Firefox (mozilla::pkix, pkixocsp.cpp) fails on any critical extension in responseExtensions
 * or singleExtensions that it does not process, and it processes none but a SingleResponse's
 * SCT list; Go's x/crypto/ocsp refuses every critical extension. OpenSSL and GnuTLS ignore the
 * flag. No responder needs one, so none is accepted.
 */
function checkCriticalExtensions(response: OcspResponse): void {
  const critical = [
    ...response.responseExtensions.filter((e) => e.critical).map((e) => `${e.id} in responseExtensions`),
    ...response.responses.flatMap((single, i) => single.singleExtensions.filter((e) => e.critical).map((e) => `${e.id} in SingleResponse ${i + 1}`)),
  ];
  if (critical.length > 0) {
    throw new StaplingError('ERR_OCSP_CRITICAL_EXTENSION', 'the response has a critical extension', {
      expected: 'no extension marked critical (Firefox fails the connection on critical OCSP extensions)',
      found: `critical ${critical.join(', ')}`,
    });
  }
}

/** id-ce-signedCertificateTimestampList as an OCSP singleExtension (RFC 6962 section 3.3). */
const SCT_LIST = '1.3.6.1.4.1.11129.2.4.5';

/**
 * Firefox (mozilla::pkix, pkixocsp.cpp RememberSingleExtension) reads the SCT list extension of
 * every SingleResponse that names the certificate, into one slot for the whole response: an
 * empty value, or a second one (in the same SingleResponse or another of ours), fails the
 * connection with SEC_ERROR_EXTENSION_VALUE_INVALID (measured in Firefox ESR). The other judges
 * ignore the extension, and so does Firefox in SingleResponses about other certificates.
 */
function checkSctExtensions(ours: readonly SingleResponse[]): void {
  const lists = ours.flatMap((single, i) => single.singleExtensions.filter((e) => e.id === SCT_LIST).map((e) => ({ at: ordinal(i, ours.length), empty: e.value.length === 0 })));
  if (lists.length > 1 || lists.some((l) => l.empty)) {
    throw new StaplingError('ERR_OCSP_EXTENSION_INVALID', 'the SCT list extension of the SingleResponses for this certificate is given twice or empty', {
      expected: 'at most one SCT list extension (1.3.6.1.4.1.11129.2.4.5) among the SingleResponses for this certificate, not empty (Firefox fails the connection otherwise)',
      found: lists.map((l) => `${l.empty ? 'an empty SCT list' : 'an SCT list'}${l.at}`).join(', '),
    });
  }
}

interface SignerCheck {
  signedBy: SignedBy;
  responder: CertificateInfo | undefined;
}

/**
 * The signature must verify under the issuer's key, or under the key of a responder
 * certificate carried in the response that the issuer signed, that has id-kp-OCSPSigning and
 * that is valid now (RFC 6960 section 4.2.2.2). Nothing else is trusted.
 */
function checkSignature(response: OcspResponse, carried: readonly CertificateInfo[], issuer: CertificateInfo, now: number): SignerCheck {
  const id = response.responderId;
  const keyHashOf = (cert: CertificateInfo) => createHash('sha1').update(cert.publicKeyBits).digest();
  const names = (cert: CertificateInfo) => ('byName' in id ? id.byName.equals(cert.subjectName) : id.byKey.equals(keyHashOf(cert)));

  if (names(issuer)) {
    if (!signatureValid(response, publicKeyOf(issuer, 'issuer'))) {
      throw new StaplingError('ERR_OCSP_BAD_SIGNATURE', "the response's signature does not verify", {
        expected: `a signature by the issuer "${oneLine(issuer.x509.subject)}"`,
        found: `a ${algorithmName(response.signatureAlgorithm)} signature that does not match`,
      });
    }
    return { signedBy: 'issuer', responder: undefined };
  }

  const responder = carried.find(names);
  if (!responder) {
    throw new StaplingError('ERR_OCSP_SIGNER_NOT_FOUND', 'the signer is neither the issuer nor a responder certificate carried in the response', {
      expected: `the issuer "${oneLine(issuer.x509.subject)}" or a delegated responder certificate inside the response`,
      found: `responderID ${describeResponderId(response)} and ${response.certs.length} carried certificate(s)`,
    });
  }
  // Issued by the CA with id-kp-OCSPSigning, and every check strict clients run on it (responder.ts).
  checkDelegatedResponder(responder, issuer);
  const subject = `"${oneLine(responder.x509.subject)}"`;
  // RFC 5280 says notAfter is inclusive, and GnuTLS and mozilla::pkix accept through that whole
  // second; OpenSSL's X509_cmp_time counts it as expired (curl --cert-status fails from notAfter
  // itself, measured). The strictest judge decides: valid from notBefore, until before notAfter.
  if (now < responder.notBefore.getTime() || now >= responder.notAfter.getTime()) {
    throw new StaplingError('ERR_OCSP_SIGNER_EXPIRED', 'the responder certificate is not valid now', {
      expected: `valid at ${new Date(now).toISOString()} (OpenSSL counts the notAfter second itself as expired)`,
      found: `${subject} valid from ${responder.notBefore.toISOString()} to ${responder.notAfter.toISOString()}`,
    });
  }
  if (!signatureValid(response, publicKeyOf(responder, 'delegated responder'))) {
    throw new StaplingError('ERR_OCSP_BAD_SIGNATURE', "the response's signature does not verify", {
      expected: `a signature by the delegated responder ${subject}`,
      found: `a ${algorithmName(response.signatureAlgorithm)} signature that does not match`,
    });
  }
  return { signedBy: 'delegated', responder };
}

interface SignatureAlgorithm {
  readonly name: string;
  /** Digest for crypto.verify; null for EdDSA. */
  readonly hash: string | null;
  /** asymmetricKeyType the key must have. */
  readonly keyType: string;
}

const SIGNATURE_ALGORITHMS: Record<string, SignatureAlgorithm> = {
  '1.2.840.113549.1.1.5': { name: 'sha1WithRSAEncryption', hash: 'sha1', keyType: 'rsa' },
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', hash: 'sha256', keyType: 'rsa' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', hash: 'sha384', keyType: 'rsa' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', hash: 'sha512', keyType: 'rsa' },
  '1.2.840.10045.4.1': { name: 'ecdsa-with-SHA1', hash: 'sha1', keyType: 'ec' },
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', hash: 'sha256', keyType: 'ec' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', hash: 'sha384', keyType: 'ec' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', hash: 'sha512', keyType: 'ec' },
  '1.3.101.112': { name: 'Ed25519', hash: null, keyType: 'ed25519' },
  '1.3.101.113': { name: 'Ed448', hash: null, keyType: 'ed448' },
};

/** A readable name for a signature algorithm OID. */
export function algorithmName(oid: string): string {
  return SIGNATURE_ALGORITHMS[oid]?.name ?? oid;
}

/** The certificate's public key, or ERR_OCSP_UNSUPPORTED_ALGORITHM when Node cannot load it. */
function publicKeyOf(cert: CertificateInfo, role: string): KeyObject {
  try {
    return cert.x509.publicKey;
  } catch (err) {
    throw new StaplingError('ERR_OCSP_UNSUPPORTED_ALGORITHM', `the ${role}'s public key cannot be loaded`, {
      expected: 'an RSA, EC (named curve) or EdDSA public key',
      found: `"${oneLine(cert.x509.subject)}": ${err instanceof Error ? err.message : String(err)}`,
      cause: err,
    });
  }
}

function signatureValid(response: OcspResponse, key: KeyObject): boolean {
  const algorithm = SIGNATURE_ALGORITHMS[response.signatureAlgorithm];
  if (!algorithm) {
    throw new StaplingError('ERR_OCSP_UNSUPPORTED_ALGORITHM', 'the signature algorithm is not supported', {
      expected: Object.values(SIGNATURE_ALGORITHMS).map((a) => a.name).join(', '),
      found: response.signatureAlgorithm,
    });
  }
  if (key.asymmetricKeyType !== algorithm.keyType) return false;
  try {
    return verifySignature(algorithm.hash, response.tbsResponseData, key, response.signature);
  } catch {
    return false;
  }
}

function describeResponderId(response: OcspResponse): string {
  const id = response.responderId;
  return 'byKey' in id ? `byKey ${id.byKey.toString('hex')}` : 'byName (a name no candidate has)';
}

function oneLine(name: string | undefined): string {
  // Node gives undefined, not '', for an empty Name (allowed with a critical SAN; found by fuzzing).
  return (name ?? '').replace(/\n/g, ', ');
}

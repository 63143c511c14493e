import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { CertIdHash, CertStatus } from '../ocsp/parse.js';
import type { Signer } from './ca.js';
import { loadPrivateKey, signBasicResponse, unpem, type PemKeyPair } from './keys.js';

/** CRLReason names (RFC 5280 section 5.3.1). */
export type CrlReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'removeFromCRL'
  | 'privilegeWithdrawn'
  | 'aACompromise';

const CRL_REASON_CODES: Record<CrlReason, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

/** The certStatus of one response, with the revocation details when revoked. */
export interface CertStatusOptions {
  /** certStatus. Default `'good'`. */
  status?: CertStatus;
  /** revocationTime, when `status` is `'revoked'`. Default: one day before thisUpdate. */
  revokedAt?: Date;
  /** revocationReason, when `status` is `'revoked'`. Default: none (the field is left out). */
  revocationReason?: CrlReason;
}

/**
 * Everything about a signed OCSP response that a test may want to vary. Every field has a
 * default that makes a response strict clients accept as good and current.
 */
export interface OcspResponseOptions extends CertStatusOptions {
  /** thisUpdate. Default: now. */
  thisUpdate?: Date;
  /** nextUpdate; `null` leaves it out (allowed by RFC 6960, rare). Default: thisUpdate plus 7 days. */
  nextUpdate?: Date | null;
  /** producedAt. Default: thisUpdate. */
  producedAt?: Date;
  /** CertID hash algorithm. Default `'sha1'`, what RFC 5019 responders and most clients use. */
  hash?: CertIdHash;
  /**
   * Who signs: a delegated responder from {@link TestCa.issueResponder}, or any PEM certificate
   * and key. Default: the CA that issued the certificate.
   */
  signer?: PemKeyPair;
  /** responderID by the signer's subject `'name'`, or by the SHA-1 of its `'key'`. Default `'name'`. */
  responderId?: 'name' | 'key';
  /**
   * PEM certificates carried in the response's `certs`. Default: the signer's certificate when
   * it is not the CA (clients need it to check a delegated signature), none otherwise.
   */
  certificates?: readonly string[];
}

/** responseStatus values other than successful (RFC 6960 section 4.2.1). */
export type OcspErrorStatus = 'malformedRequest' | 'internalError' | 'tryLater' | 'sigRequired' | 'unauthorized';

const ERROR_STATUS_CODES: Record<OcspErrorStatus, number> = { malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 };

/**
 * An unsigned OCSPResponse with an error responseStatus and no body, as responders send when
 * they cannot answer. Clients must not accept these as staples.
 *
 * @example
 * ```ts
 * await writeFile('site.ocsp', createOcspErrorResponse('tryLater')); // 30 03 0a 01 03
 * ```
 */
export function createOcspErrorResponse(status: OcspErrorStatus): Buffer {
  return Buffer.from([0x30, 0x03, 0x0a, 0x01, ERROR_STATUS_CODES[status]]);
}

const HASH_NAMES: Record<CertIdHash, string> = { sha1: 'SHA-1', sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };
const OID_BASIC = '1.3.6.1.5.5.7.48.1.1';
const DAY = 86_400_000;

/** One SingleResponse to make: the CertID (as computed, or as a request gave it) and its status. */
export interface SingleRequest {
  readonly certId: pkijs.CertID;
  readonly status: CertStatusOptions;
}

/** CertID of `certificate` issued by `issuer`, with the named hash. */
export function certIdOf(certificate: pkijs.Certificate, issuer: pkijs.Certificate, hash: CertIdHash): Promise<pkijs.CertID> {
  return pkijs.CertID.create(certificate, { hashAlgorithm: HASH_NAMES[hash], issuerCertificate: issuer });
}

/**
 * Signs a successful basic OCSP response. `issuer` is the CA the CertIDs name; it signs unless
 * `options.signer` says otherwise.
 */
export async function signOcspResponse(
  issuer: Signer,
  singles: readonly SingleRequest[],
  options: OcspResponseOptions,
  responseExtensions?: pkijs.Extension[],
): Promise<Buffer> {
  const now = Date.now();
  const thisUpdate = seconds(options.thisUpdate ?? new Date(now));
  const signerCert = options.signer ? pkijs.Certificate.fromBER(unpem('CERTIFICATE', options.signer.cert)) : issuer.certificate;
  const privateKey = options.signer ? loadPrivateKey(options.signer.key) : issuer.privateKey;
  const delegated = options.signer !== undefined && !Buffer.from(signerCert.toSchema().toBER()).equals(issuer.der);

  const data = new pkijs.ResponseData();
  data.responderID = options.responderId === 'key'
    ? new asn1js.OctetString({ valueHex: createHash('sha1').update(signerCert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest() })
    : signerCert.subject;
  data.producedAt = seconds(options.producedAt ?? thisUpdate);
  data.responses = singles.map(({ certId, status }) => {
    const single = new pkijs.SingleResponse({ certID: certId, certStatus: certStatus(status, thisUpdate), thisUpdate });
    const nextUpdate = options.nextUpdate === undefined ? new Date(thisUpdate.getTime() + 7 * DAY) : options.nextUpdate;
    if (nextUpdate !== null) single.nextUpdate = seconds(nextUpdate);
    return single;
  });
  if (responseExtensions?.length) data.responseExtensions = responseExtensions;

  const basic = new pkijs.BasicOCSPResponse({ tbsResponseData: data });
  const certificates = options.certificates?.map((c) => pkijs.Certificate.fromBER(unpem('CERTIFICATE', c))) ?? (delegated ? [signerCert] : []);
  if (certificates.length > 0) basic.certs = certificates;
  signBasicResponse(basic, privateKey);

  const response = new pkijs.OCSPResponse({
    responseStatus: new asn1js.Enumerated({ value: 0 }),
    responseBytes: new pkijs.ResponseBytes({ responseType: OID_BASIC, response: new asn1js.OctetString({ valueHex: basic.toSchema().toBER() }) }),
  });
  return Buffer.from(response.toSchema().toBER());
}

/** A response about one certificate, signed for `issuer` (see {@link TestCa.createOcspResponse}). */
export async function createOcspResponse(issuer: Signer, certificate: pkijs.Certificate, options: OcspResponseOptions): Promise<Buffer> {
  const certId = await certIdOf(certificate, issuer.certificate, options.hash ?? 'sha1');
  return signOcspResponse(issuer, [{ certId, status: options }], options);
}

// CertStatus ::= CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo, unknown [2] IMPLICIT NULL }
function certStatus(options: CertStatusOptions, thisUpdate: Date): asn1js.BaseBlock {
  const status = options.status ?? 'good';
  if (status !== 'revoked') {
    return new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: status === 'good' ? 0 : 2 }, lenBlock: { length: 0 } });
  }
  const revokedAt = seconds(options.revokedAt ?? new Date(thisUpdate.getTime() - DAY));
  const info: asn1js.BaseBlock[] = [new asn1js.GeneralizedTime({ valueDate: revokedAt })];
  if (options.revocationReason !== undefined) {
    info.push(new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Enumerated({ value: CRL_REASON_CODES[options.revocationReason] })] }));
  }
  return new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 1 }, value: info });
}

// DER GeneralizedTime must not end in zero fractions; whole seconds keep every client happy.
function seconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

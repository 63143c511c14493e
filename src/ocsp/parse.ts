import {
  contentOf,
  decodeDer,
  DerError,
  encodingOf,
  expectTag,
  oidFrom,
  smallIntFrom,
  TAG,
  timeFrom,
  type DerNode,
} from '../der.js';
import { StaplingError } from '../errors.js';
import { checkBytes } from '../options.js';

/** OCSPResponseStatus names, RFC 6960 section 4.2.1. */
export type ResponseStatus =
  | 'successful'
  | 'malformedRequest'
  | 'internalError'
  | 'tryLater'
  | 'sigRequired'
  | 'unauthorized';

const RESPONSE_STATUS: Record<number, ResponseStatus> = {
  0: 'successful',
  1: 'malformedRequest',
  2: 'internalError',
  3: 'tryLater',
  5: 'sigRequired',
  6: 'unauthorized',
};

/** certStatus of a SingleResponse. */
export type CertStatus = 'good' | 'revoked' | 'unknown';

/** Hash algorithms a CertID may name; others never match a certificate. */
export type CertIdHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** OIDs of the CertID hash algorithms we can compute. */
export const CERT_ID_HASHES: Record<string, CertIdHash> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** id-pkix-ocsp-basic */
export const OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';

/** CRLReason names, RFC 5280 section 5.3.1. */
export const CRL_REASONS: Record<number, string> = {
  0: 'unspecified',
  1: 'keyCompromise',
  2: 'cACompromise',
  3: 'affiliationChanged',
  4: 'superseded',
  5: 'cessationOfOperation',
  6: 'certificateHold',
  8: 'removeFromCRL',
  9: 'privilegeWithdrawn',
  10: 'aACompromise',
};

/** A CertID as found in a response (RFC 6960 section 4.1.1). */
export interface CertId {
  /** OID of the hash algorithm. */
  readonly hashAlgorithm: string;
  /** Name of the hash algorithm, when it is one we can compute. */
  readonly hash: CertIdHash | undefined;
  /** Hash of the issuer's subject Name (DER). */
  readonly issuerNameHash: Buffer;
  /** Hash of the issuer's public key bits. */
  readonly issuerKeyHash: Buffer;
  /** Content octets of the serialNumber INTEGER (big-endian, as encoded). */
  readonly serialNumber: Buffer;
}

/**
 * One extension of a response or of a SingleResponse: RFC 5280 section 4.1's Extension, which
 * RFC 6960 section 4.2.1 reuses. Parsing decodes every one strictly; verification refuses
 * critical ones (see {@link verifyOcspResponse}).
 */
export interface OcspExtension {
  /** extnID, dotted (e.g. `1.3.6.1.5.5.7.48.1.2` for the nonce). */
  readonly id: string;
  /** The critical flag; false when the field is absent (its DEFAULT). */
  readonly critical: boolean;
  /** The content octets of extnValue. */
  readonly value: Buffer;
}

/** One SingleResponse. */
export interface SingleResponse {
  /** Which certificate this SingleResponse is about. */
  readonly certId: CertId;
  /** good, revoked or unknown. */
  readonly certStatus: CertStatus;
  /** Set when certStatus is `revoked`. */
  readonly revocationTime: Date | undefined;
  /** CRLReason code, when the responder gave one. */
  readonly revocationReason: number | undefined;
  /** When the status was known to be correct. */
  readonly thisUpdate: Date;
  /** When newer status will be available; absent in some responses. */
  readonly nextUpdate: Date | undefined;
  /** singleExtensions, in order; empty when absent. */
  readonly singleExtensions: readonly OcspExtension[];
}

/** Who the responder says it is: a Name (DER) or the SHA-1 hash of its public key. */
export type ResponderId =
  | {
      /** DER of the responder's subject Name. */
      readonly byName: Buffer;
    }
  | {
      /** SHA-1 hash of the responder's public key bits. */
      readonly byKey: Buffer;
    };

/** A parsed, successful id-pkix-ocsp-basic response. Parsing checks no signature and no time. */
export interface OcspResponse {
  /** The whole response, exactly as read. */
  readonly bytes: Buffer;
  /** Who signed, as the response says. */
  readonly responderId: ResponderId;
  /** When the response was signed. */
  readonly producedAt: Date;
  /** Every SingleResponse, in order. */
  readonly responses: readonly SingleResponse[];
  /** The DER of tbsResponseData: what the signature covers. */
  readonly tbsResponseData: Buffer;
  /** OID of the signature algorithm. */
  readonly signatureAlgorithm: string;
  /** The signature bits. */
  readonly signature: Buffer;
  /**
   * DER certificates carried in the response (a delegated responder and its chain, if any).
   * This field is outside the signed tbsResponseData: anyone on the response's path can change it.
   */
  readonly certs: readonly Buffer[];
  /** responseExtensions, in order (e.g. a nonce); empty when absent. */
  readonly responseExtensions: readonly OcspExtension[];
}

/**
 * Reads bytes as one OCSPResponse in strict DER and returns its facts. Throws
 * {@link StaplingError} with `ERR_OCSP_EMPTY`, `ERR_OCSP_MALFORMED`, `ERR_OCSP_TRAILING_DATA`,
 * `ERR_OCSP_RESPONSE_STATUS` or `ERR_OCSP_RESPONSE_TYPE`.
 *
 * @example
 * ```ts
 * const response = parseOcspResponse(readFileSync('site.pem.ocsp'));
 * for (const single of response.responses) console.log(single.certStatus, single.nextUpdate);
 * ```
 */
export function parseOcspResponse(input: Uint8Array): OcspResponse {
  checkBytes('parseOcspResponse', 'input', input);
  const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length === 0) throw new StaplingError('ERR_OCSP_EMPTY', 'the OCSP response is empty');
  checkNotPem(bytes);
  try {
    return parseOuter(bytes);
  } catch (err) {
    if (!(err instanceof DerError)) throw err;
    if (err.trailing) {
      throw new StaplingError('ERR_OCSP_TRAILING_DATA', 'bytes follow the OCSPResponse', {
        expected: `the response to end at byte ${err.offset}`,
        found: `${bytes.length - err.offset} more bytes`,
      });
    }
    throw new StaplingError('ERR_OCSP_MALFORMED', 'not a DER OCSPResponse', { found: err.message, cause: err });
  }
}

/**
 * A PEM file given where DER is expected is a common mistake: say so, and how to convert it.
 * (`openssl ocsp -respin` reads DER only; `openssl base64 -d` skips the BEGIN/END lines.)
 */
function checkNotPem(bytes: Buffer): void {
  const label = /^\s*-----BEGIN ([A-Z0-9 ]{1,64})-----/.exec(bytes.subarray(0, 100).toString('latin1'))?.[1];
  if (label === undefined) return;
  const ocsp = label.includes('OCSP');
  throw new StaplingError('ERR_OCSP_MALFORMED', 'this is PEM; a DER file is expected', {
    expected: ocsp
      ? 'the DER bytes of the OCSPResponse (convert with `openssl base64 -d -in FILE.pem -out FILE.der`; `openssl ocsp -respin` reads DER only)'
      : 'the DER bytes of an OCSPResponse',
    found: `a PEM "${label}" block${ocsp ? '' : ', not an OCSP response'}`,
  });
}

function parseOuter(bytes: Buffer): OcspResponse {
  const root = expectTag(decodeDer(bytes, true), TAG.SEQUENCE, 'OCSPResponse');
  const [statusNode, bytesWrapper, ...rest] = root.children;
  if (rest.length > 0) throw new DerError('OCSPResponse has extra fields', rest[0]!.start);
  const statusCode = smallIntFrom(bytes, expectTag(statusNode, TAG.ENUMERATED, 'responseStatus'));
  // Only a value shaped like an OCSPResponse counts as "a response followed by junk".
  if (root.end !== bytes.length) throw new DerError(`${bytes.length - root.end} trailing bytes after the value`, root.end, true);
  const status = RESPONSE_STATUS[statusCode];
  if (status === undefined) throw new DerError(`responseStatus ${statusCode} is not defined`, statusNode!.start);
  if (status !== 'successful') {
    throw new StaplingError('ERR_OCSP_RESPONSE_STATUS', 'the responder did not answer with a response', {
      expected: 'responseStatus successful (0)',
      found: `${status} (${statusCode})`,
    });
  }
  const wrapper = expectTag(bytesWrapper, 0xa0, 'responseBytes');
  const responseBytes = expectTag(only(wrapper), TAG.SEQUENCE, 'ResponseBytes');
  const [typeNode, octets] = fields(responseBytes, 2, 'ResponseBytes');
  const responseType = oidFrom(bytes, expectTag(typeNode, TAG.OID, 'responseType'));
  if (responseType !== OCSP_BASIC) {
    throw new StaplingError('ERR_OCSP_RESPONSE_TYPE', 'unsupported response type', {
      expected: `id-pkix-ocsp-basic (${OCSP_BASIC})`,
      found: responseType,
    });
  }
  const inner = Buffer.from(contentOf(bytes, expectTag(octets, TAG.OCTET_STRING, 'response')));
  let basic: OcspResponse;
  try {
    basic = parseBasic(inner, bytes);
  } catch (err) {
    // Offsets inside the inner OCTET STRING, and junk after the inner value, are malformation
    // of the whole response, not trailing bytes after it.
    if (err instanceof DerError) throw new DerError(`BasicOCSPResponse: ${err.message.replace(/ at byte -?\d+$/, '')}`, err.offset);
    throw err;
  }
  return basic;
}

function parseBasic(buf: Buffer, whole: Buffer): OcspResponse {
  const root = expectTag(decodeDer(buf), TAG.SEQUENCE, 'BasicOCSPResponse');
  const [tbs, sigAlg, sig, certsWrapper, ...rest] = root.children;
  if (rest.length > 0) throw new DerError('BasicOCSPResponse has extra fields', rest[0]!.start);
  expectTag(tbs, TAG.SEQUENCE, 'tbsResponseData');
  const signatureAlgorithm = algorithmOf(buf, sigAlg, 'signatureAlgorithm');
  const sigBits = contentOf(buf, expectTag(sig, TAG.BIT_STRING, 'signature'));
  if (sigBits[0] !== 0) throw new DerError('signature BIT STRING has unused bits', sig!.start);
  const certs: Buffer[] = [];
  if (certsWrapper) {
    const list = expectTag(only(expectTag(certsWrapper, 0xa0, 'certs')), TAG.SEQUENCE, 'certs');
    for (const cert of list.children) certs.push(Buffer.from(encodingOf(buf, expectTag(cert, TAG.SEQUENCE, 'Certificate'))));
  }

  let items = tbs!.children;
  if (items[0]?.tag === 0xa0) {
    const version = smallIntFrom(buf, expectTag(only(items[0]), TAG.INTEGER, 'version'));
    if (version !== 0) throw new DerError(`ResponseData version ${version + 1} is not v1`, items[0].start);
    items = items.slice(1);
  }
  const [responder, produced, list, extensions, ...more] = items;
  if (more.length > 0 || (extensions && extensions.tag !== 0xa1)) throw new DerError('ResponseData has unexpected fields', tbs!.start);
  let responderId: ResponderId;
  if (responder?.tag === 0xa1) {
    responderId = { byName: Buffer.from(encodingOf(buf, expectTag(only(responder), TAG.SEQUENCE, 'responderID byName'))) };
  } else if (responder?.tag === 0xa2) {
    responderId = { byKey: Buffer.from(contentOf(buf, expectTag(only(responder), TAG.OCTET_STRING, 'responderID byKey'))) };
  } else {
    throw new DerError('responderID must be byName [1] or byKey [2]', responder?.start ?? tbs!.start);
  }
  const producedAt = ocspTime(buf, produced, 'producedAt');
  const responses = expectTag(list, TAG.SEQUENCE, 'responses').children.map((node) => parseSingle(buf, node));
  if (responses.length === 0) throw new DerError('no SingleResponse', list!.start);
  const responseExtensions = extensions ? extensionsOf(buf, extensions, 'responseExtensions') : [];

  return {
    bytes: whole,
    responderId,
    producedAt,
    responses,
    tbsResponseData: Buffer.from(encodingOf(buf, tbs!)),
    signatureAlgorithm,
    signature: Buffer.from(sigBits.subarray(1)),
    certs,
    responseExtensions,
  };
}

function parseSingle(buf: Buffer, node: DerNode): SingleResponse {
  const [certIdNode, statusNode, thisNode, ...optional] = expectTag(node, TAG.SEQUENCE, 'SingleResponse').children;
  const [alg, nameHash, keyHash, serial] = fields(expectTag(certIdNode, TAG.SEQUENCE, 'CertID'), 4, 'CertID');
  const hashAlgorithm = algorithmOf(buf, alg, 'hashAlgorithm');
  const certId: CertId = {
    hashAlgorithm,
    hash: CERT_ID_HASHES[hashAlgorithm],
    issuerNameHash: Buffer.from(contentOf(buf, expectTag(nameHash, TAG.OCTET_STRING, 'issuerNameHash'))),
    issuerKeyHash: Buffer.from(contentOf(buf, expectTag(keyHash, TAG.OCTET_STRING, 'issuerKeyHash'))),
    serialNumber: Buffer.from(contentOf(buf, expectTag(serial, TAG.INTEGER, 'serialNumber'))),
  };

  let certStatus: CertStatus;
  let revocationTime: Date | undefined;
  let revocationReason: number | undefined;
  switch (statusNode?.tag) {
    case 0x80: // good [0] IMPLICIT NULL
    case 0x82: // unknown [2] IMPLICIT NULL
      if (statusNode.end !== statusNode.contentStart) throw new DerError('certStatus NULL has content', statusNode.start);
      certStatus = statusNode.tag === 0x80 ? 'good' : 'unknown';
      break;
    case 0xa1: {
      // revoked [1] IMPLICIT RevokedInfo
      certStatus = 'revoked';
      const [time, reason, ...extra] = statusNode.children;
      if (extra.length > 0) throw new DerError('RevokedInfo has extra fields', statusNode.start);
      revocationTime = ocspTime(buf, time, 'revocationTime');
      if (reason) revocationReason = smallIntFrom(buf, expectTag(only(expectTag(reason, 0xa0, 'revocationReason')), TAG.ENUMERATED, 'CRLReason'));
      break;
    }
    default:
      throw new DerError('certStatus must be good [0], revoked [1] or unknown [2]', statusNode?.start ?? node.start);
  }

  const thisUpdate = ocspTime(buf, thisNode, 'thisUpdate');
  let nextUpdate: Date | undefined;
  let rest = optional;
  if (rest[0]?.tag === 0xa0) {
    nextUpdate = ocspTime(buf, only(rest[0]), 'nextUpdate');
    rest = rest.slice(1);
  }
  let singleExtensions: OcspExtension[] = [];
  if (rest[0]?.tag === 0xa1) {
    singleExtensions = extensionsOf(buf, rest[0], 'singleExtensions');
    rest = rest.slice(1);
  }
  if (rest.length > 0) throw new DerError('SingleResponse has unexpected fields', rest[0]!.start);
  return { certId, certStatus, revocationTime, revocationReason, thisUpdate, nextUpdate, singleExtensions };
}

/**
 * `[1] EXPLICIT Extensions`, Extensions ::= SEQUENCE OF Extension, and each
 * Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 * (RFC 5280 section 4.1). curl, gnutls-cli and openssl all refuse a response where this shape is
 * broken (measured: test/strict-matrix.test.ts). Two leniencies, as mozilla::pkix has them
 * (pkixder.h): an empty list (SIZE (1..MAX) is broken by real responders, Mozilla bug 991898),
 * and an explicit `critical FALSE` (DER leaves a DEFAULT value out, X.690 section 11.5, but
 * "it appears to be common" to write it); every client measured accepts both.
 */
function extensionsOf(buf: Buffer, wrapper: DerNode, what: string): OcspExtension[] {
  if (wrapper.children.length !== 1) throw new DerError(`${what} [1] must hold one SEQUENCE OF Extension, found ${wrapper.children.length} values`, wrapper.start);
  const list = expectTag(wrapper.children[0], TAG.SEQUENCE, `${what} (a SEQUENCE OF Extension)`);
  return list.children.map((node, index) => {
    const ext = expectTag(node, TAG.SEQUENCE, `${what} item ${index + 1}`);
    if (ext.children.length < 2 || ext.children.length > 3) {
      throw new DerError(`${what} item ${index + 1}: an Extension has 2 or 3 fields, found ${ext.children.length}`, ext.start);
    }
    const id = oidFrom(buf, expectTag(ext.children[0], TAG.OID, `${what} item ${index + 1} extnID`));
    const flag = ext.children.length === 3 ? expectTag(ext.children[1], TAG.BOOLEAN, `${what} item ${index + 1} critical`) : undefined;
    const value = expectTag(ext.children[ext.children.length - 1], TAG.OCTET_STRING, `${what} item ${index + 1} extnValue`);
    return { id, critical: flag !== undefined && buf[flag.contentStart] === 0xff, value: Buffer.from(contentOf(buf, value)) };
  });
}

/**
 * A GeneralizedTime of the response, in whole seconds (YYYYMMDDHHMMSSZ) as the RFC 5019 profile
 * requires. DER allows fractional seconds, but GnuTLS fails the handshake on a staple that has
 * them, and OpenSSL 3.0 compares thisUpdate with nextUpdate as strings, so a fractional thisUpdate
 * reads as later than a whole-second nextUpdate (both measured).
 */
function ocspTime(buf: Buffer, node: DerNode | undefined, what: string): Date {
  const time = expectTag(node, TAG.GENERALIZED_TIME, what);
  if (time.end - time.contentStart !== 15) throw new DerError(`${what} is not in whole seconds (YYYYMMDDHHMMSSZ)`, time.start);
  return timeFrom(buf, time);
}

/**
 * The OID of an AlgorithmIdentifier: SEQUENCE { algorithm, parameters OPTIONAL } and nothing
 * more (RFC 5280 section 4.1.1.2). OpenSSL refuses a third field, so must we (found by fuzzing).
 * The parameters must be absent or NULL, for every algorithm: that is all mozilla::pkix takes
 * (AlgorithmIdentifierValue in pkixder.cpp reads the OID and an optional NULL, then expects the
 * end), and Firefox fails a staple otherwise with SEC_ERROR_OCSP_MALFORMED_RESPONSE, while
 * OpenSSL and GnuTLS ignore the parameters (all measured, docs/STRICTNESS.md). The response's
 * signatureAlgorithm is outside the signature: anyone on the plain-HTTP path can change it.
 */
function algorithmOf(buf: Buffer, node: DerNode | undefined, what: string): string {
  const seq = expectTag(node, TAG.SEQUENCE, what);
  if (seq.children.length < 1 || seq.children.length > 2) {
    throw new DerError(`${what} must have 1 or 2 fields, found ${seq.children.length}`, seq.start);
  }
  const algorithm = oidFrom(buf, expectTag(seq.children[0], TAG.OID, `${what} algorithm`));
  checkAlgorithmParameters(buf, seq.children[1], `${what} ${algorithm}`);
  return algorithm;
}

/**
 * AlgorithmIdentifier parameters (`params`, a DerNode of `buf`) must be absent or NULL
 * (05 00), as mozilla::pkix requires; throws ERR_OCSP_MALFORMED saying what was found.
 */
function checkAlgorithmParameters(buf: Buffer, params: DerNode | undefined, what: string): void {
  if (params === undefined || (params.tag === TAG.NULL && params.end === params.contentStart)) return;
  const encoding = buf.subarray(params.start, params.end);
  const hex = encoding.subarray(0, 16).toString('hex').replace(/(..)(?!$)/g, '$1 ');
  throw new StaplingError('ERR_OCSP_MALFORMED', 'an AlgorithmIdentifier has parameters Firefox refuses', {
    expected: `${what} with parameters absent or NULL (05 00), as mozilla::pkix requires (Firefox: SEC_ERROR_OCSP_MALFORMED_RESPONSE)`,
    found: `parameters ${hex}${encoding.length > 16 ? ' ...' : ''} (${encoding.length} bytes, tag 0x${params.tag.toString(16).padStart(2, '0')})`,
  });
}

function only(node: DerNode): DerNode {
  if (node.children.length !== 1) throw new DerError('explicit tag must hold exactly one value', node.start);
  return node.children[0]!;
}

function fields(node: DerNode, count: number, what: string): DerNode[] {
  if (node.children.length !== count) {
    throw new DerError(`${what} must have ${count} fields, found ${node.children.length}`, node.start);
  }
  return [...node.children];
}

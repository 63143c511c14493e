/**
 * Checks on a delegated responder certificate: RFC 6960 section 4.2.2.2 asks only that the CA
 * issued it with id-kp-OCSPSigning, but each strict client runs its own certificate checks on
 * it, and a staple is only as good as the strictest of them. Each rule names the client that
 * enforces it; docs/STRICTNESS.md has the table with the tests that pin them.
 *
 * - OpenSSL (curl --cert-status): OCSP_basic_verify builds the responder's chain with
 *   X509_verify_cert, so x509v3_cache_extensions (crypto/x509/v3_purp.c) marks it invalid for a
 *   duplicated or undecodable basicConstraints, keyUsage, extKeyUsage, SKID, AKID, SAN, name
 *   constraints or CRL distribution points, an all-zero keyUsage or a negative pathLen; and
 *   X509_check_akid refuses an issuer the AKID does not name. Critical extensions outside
 *   X509_supported_extension fail.
 * - GnuTLS (gnutls-cli, wget): gnutls_ocsp_resp_verify_direct (lib/x509/ocsp.c) verifies the
 *   responder with gnutls_x509_crt_verify: duplicated extensions of any kind fail the import,
 *   critical extensions it does not process fail (policyMappings, policyConstraints,
 *   id-pkix-ocsp-nocheck), SHA-1 and MD5 signatures are insecure, RSA keys under 1024 bits and
 *   curves such as secp256k1 or brainpool are below its profile.
 * - Firefox (mozilla::pkix, CheckOCSPResponseSignerCert in lib/pkixocsp.cpp): BackCert::Init
 *   refuses duplicated or empty known extensions and critical ones it does not know (including
 *   cRLDistributionPoints); CheckIssuerIndependentProperties accepts only RSA (at least 1024
 *   bits) and ECDSA P-256/P-384/P-521 keys, SHA-256/384/512 signatures, keyUsage with zero
 *   padding bits, and no basicConstraints cA; the responder's issuer Name must equal the CA's
 *   subject byte for byte.
 */
import { createHash } from 'node:crypto';
import { contentOf, decodeDer, DerError, encodingOf, expectTag, oidFrom, smallIntFrom, TAG, type DerNode } from '../der.js';
import { StaplingError } from '../errors.js';
import { namesMatch, nameStringTypes } from '../names.js';
import type { CertificateInfo } from '../pki.js';
import type { OcspResponse } from './parse.js';

/** id-kp-OCSPSigning, RFC 6960 section 4.2.2.2. */
export const OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';

const EXT = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  cRLDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  inhibitAnyPolicy: '2.5.29.54',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  tlsFeature: '1.3.6.1.5.5.7.1.24',
  netscapeCertType: '2.16.840.1.113730.1.1',
} as const;

/**
 * Critical extensions all three clients process: OpenSSL's X509_supported_extension, GnuTLS's
 * is_ext_oid_supported and mozilla::pkix's BackCert::RememberExtension. Left out: policyMappings
 * and policyConstraints (GnuTLS), cRLDistributionPoints (mozilla::pkix), id-pkix-ocsp-nocheck
 * (GnuTLS), TLS Feature (OpenSSL), key identifiers (OpenSSL, mozilla::pkix; RFC 5280 says never
 * critical).
 */
const CRITICAL_OK = new Set<string>([
  EXT.keyUsage,
  EXT.subjectAltName,
  EXT.basicConstraints,
  EXT.nameConstraints,
  EXT.certificatePolicies,
  EXT.extKeyUsage,
  EXT.inhibitAnyPolicy,
]);

/** Extensions mozilla::pkix remembers: an empty value is refused (BackCert::RememberExtension). */
const NON_EMPTY = new Set<string>([...CRITICAL_OK, EXT.authorityInfoAccess, EXT.tlsFeature, '1.3.6.1.4.1.11129.2.4.2']);

/** DER NULL: the only AlgorithmIdentifier parameters mozilla::pkix takes, besides none. */
const NULL_PARAMETERS = Buffer.from([0x05, 0x00]);

/**
 * Signature algorithms on the responder certificate every client takes: mozilla::pkix knows only
 * PKCS#1 v1.5 and ECDSA with SHA-1/256/384/512 (der::SignatureAlgorithmIdentifierValue), and
 * GnuTLS calls SHA-1 insecure for certificates.
 */
const CERT_SIGNATURES: Record<string, string> = {
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
};
const REFUSED_SIGNATURES: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.3.14.3.2.29': 'sha1WithRSASignature',
  '1.2.840.113549.1.1.14': 'sha224WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.1': 'ecdsa-with-SHA224',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
};

const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
/** Named curves mozilla::pkix accepts (CheckSubjectPublicKeyInfoContents), with their field size in bytes. */
const CURVES: Record<string, { name: string; bytes: number }> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', bytes: 32 },
  '1.3.132.0.34': { name: 'P-384', bytes: 48 },
  '1.3.132.0.35': { name: 'P-521', bytes: 66 },
};
const KEY_ALGORITHMS: Record<string, string> = {
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.2.840.10040.4.1': 'DSA',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
  '1.3.101.110': 'X25519',
  '1.3.101.111': 'X448',
};
/** GnuTLS's default verification profile refuses RSA keys under 1024 bits (1023 measured refused); Firefox's floor is also 1024. */
export const MIN_RSA_BITS = 1024;

interface Extension {
  readonly id: string;
  readonly critical: boolean;
  readonly value: Buffer;
}

/** The parts of a certificate these checks read that {@link CertificateInfo} does not hold. */
interface ResponderParts {
  /** The version field as encoded: 0 for v1 (also when absent), 2 for v3. */
  readonly version: number;
  readonly signatureAlgorithm: string;
  /** The DER of signatureAlgorithm's parameters; undefined when absent. */
  readonly signatureParameters: Buffer | undefined;
  readonly spki: DerNode;
  readonly extensions: readonly Extension[];
}

/**
 * Runs every check a delegated responder certificate must pass, in this order: issued by the
 * CA (name and signature), extensions well formed, authorised (id-kp-OCSPSigning, not a CA, no
 * critical extension a client does not process), AKID naming the CA, key and signature
 * algorithms every client takes. Throws the first {@link StaplingError}:
 * `ERR_OCSP_SIGNER_UNAUTHORIZED` when the certificate does not delegate, `ERR_OCSP_SIGNER_INVALID`
 * when a client refuses the certificate itself.
 */
export function checkDelegatedResponder(responder: CertificateInfo, issuer: CertificateInfo): void {
  const subject = `"${oneLine(responder.x509.subject)}"`;
  const caName = `"${oneLine(issuer.x509.subject)}"`;
  const unauthorized = (reason: string, expected: string, found: string) =>
    new StaplingError('ERR_OCSP_SIGNER_UNAUTHORIZED', reason, { expected, found: `${subject} ${found}` });
  const invalid = (reason: string, expected: string, found: string) =>
    new StaplingError('ERR_OCSP_SIGNER_INVALID', reason, { expected, found: `${subject} ${found}` });

  if (!issuer.subjectName.equals(responder.issuerName)) {
    if (namesMatch(issuer.subjectName, responder.issuerName) && signedBy(responder, issuer)) {
      throw unauthorized(
        "the responder certificate's issuer Name is encoded differently from the CA's subject",
        `the issuer Name byte for byte as in the CA certificate ${caName} (Firefox compares them byte for byte; OpenSSL and GnuTLS would accept it)`,
        `with an issuer Name in ${nameStringTypes(responder.issuerName)} where the CA's subject has ${nameStringTypes(issuer.subjectName)}`,
      );
    }
    throw unauthorized("the responder certificate was not issued by the certificate's issuer", `a responder certificate signed by ${caName}`, `issued by "${oneLine(responder.x509.issuer)}"`);
  }
  if (!signedBy(responder, issuer)) {
    throw unauthorized("the responder certificate was not issued by the certificate's issuer", `a responder certificate signed by ${caName}`, `issued by "${oneLine(responder.x509.issuer)}" but not signed by its key`);
  }

  try {
    checkCertificate(responder, issuer, unauthorized, invalid);
  } catch (err) {
    if (!(err instanceof DerError)) throw err;
    // A key or extension our reader cannot follow: no client would use it either.
    throw invalid('the responder certificate cannot be read', 'a well-formed certificate', `with ${err.message}`);
  }
}

function checkCertificate(responder: CertificateInfo, issuer: CertificateInfo, unauthorized: Refusal, invalid: Refusal): void {
  const parts = readParts(responder);
  // RFC 5280 section 4.1.2.1: extensions (and extKeyUsage is one) only in v3. GnuTLS refuses a
  // v1 or v2 certificate that has them (measured); OpenSSL and Firefox read them anyway.
  if (parts.version !== 2) {
    throw invalid('the responder certificate is not X.509 v3', 'version v3, the only one with extensions (RFC 5280 section 4.1.2.1; GnuTLS refuses others)', `of version v${parts.version + 1}`);
  }
  checkExtensions(parts.extensions, invalid);

  if (!responder.extendedKeyUsage.includes(OCSP_SIGNING)) {
    throw unauthorized(
      'the responder certificate is not authorised to sign OCSP responses',
      'extended key usage id-kp-OCSPSigning',
      `with ${responder.extendedKeyUsage.length ? `extended key usage ${responder.extendedKeyUsage.join(', ')}` : 'no extended key usage'}`,
    );
  }
  const bc = parts.extensions.find((e) => e.id === EXT.basicConstraints);
  if (bc && basicConstraintsCa(bc.value)) {
    throw unauthorized(
      'the responder certificate is a CA certificate',
      'basicConstraints cA FALSE or absent (Firefox refuses a delegated responder that is a CA: ERROR_CA_CERT_USED_AS_END_ENTITY)',
      'with basicConstraints cA TRUE',
    );
  }
  const unknownCritical = parts.extensions.filter((e) => e.critical && !CRITICAL_OK.has(e.id)).map((e) => extensionName(e.id));
  if (unknownCritical.length > 0) {
    throw unauthorized(
      'the responder certificate has a critical extension clients do not know',
      'no critical extension beyond those OpenSSL, GnuTLS and Firefox all process (keyUsage, subjectAltName, basicConstraints, nameConstraints, certificatePolicies, extKeyUsage, inhibitAnyPolicy)',
      `with critical ${unknownCritical.join(', ')}`,
    );
  }

  checkAuthorityKeyId(parts.extensions, issuer, invalid);
  checkSignatureAlgorithm(parts.signatureAlgorithm, parts.signatureParameters, invalid);
  checkKey(responder.der, parts.spki, invalid);
}

/**
 * OpenSSL's ocsp_find_signer looks for the signer among the certificates the server sent before
 * the ones in the response (X509_find_by_subject, canonical names; or by key hash), so a
 * responderID that also names the leaf or the CA makes curl verify the response with that
 * certificate's key, and fail. The issuer itself is not such a clash when it is the signer.
 */
export function checkResponderIdClash(response: OcspResponse, responder: CertificateInfo, served: readonly CertificateInfo[]): void {
  const id = response.responderId;
  const clash = served.find((cert) =>
    'byName' in id ? namesMatch(id.byName, cert.subjectName) : id.byKey.equals(createHash('sha1').update(cert.publicKeyBits).digest()),
  );
  if (!clash) return;
  throw new StaplingError('ERR_OCSP_SIGNER_UNAUTHORIZED', 'the responderID also names a certificate of the served chain', {
    expected: `a responderID that names only the responder "${oneLine(responder.x509.subject)}" (OpenSSL looks for the signer in the served chain first)`,
    found: `${'byName' in id ? 'byName' : 'byKey'} matching "${oneLine(clash.x509.subject)}"`,
  });
}

function signedBy(cert: CertificateInfo, issuer: CertificateInfo): boolean {
  try {
    return cert.x509.verify(issuer.x509.publicKey);
  } catch {
    return false;
  }
}

type Refusal = (reason: string, expected: string, found: string) => StaplingError;

function readParts(cert: CertificateInfo): ResponderParts {
  const der = cert.der;
  const root = decodeDer(der);
  const [tbs, signatureAlgorithm] = root.children;
  let items = expectTag(tbs, TAG.SEQUENCE, 'tbsCertificate').children;
  let version = 0;
  if (items[0]?.tag === 0xa0) {
    version = smallIntFrom(der, expectTag(items[0].children[0], TAG.INTEGER, 'version'));
    items = items.slice(1);
  }
  const spki = expectTag(items[5], TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const extensionsNode = items.slice(6).find((node) => node.tag === 0xa3);
  const extensions = (extensionsNode ? expectTag(extensionsNode.children[0], TAG.SEQUENCE, 'extensions').children : []).map((ext) => ({
    id: oidFrom(der, expectTag(ext.children[0], TAG.OID, 'extnID')),
    critical: ext.children.length === 3 && der[ext.children[1]!.contentStart] === 0xff,
    value: Buffer.from(contentOf(der, ext.children[ext.children.length - 1]!)),
  }));
  const algorithm = expectTag(signatureAlgorithm, TAG.SEQUENCE, 'signatureAlgorithm');
  const params = algorithm.children[1];
  return {
    version,
    signatureAlgorithm: oidFrom(der, expectTag(algorithm.children[0], TAG.OID, 'algorithm')),
    signatureParameters: params ? Buffer.from(encodingOf(der, params)) : undefined,
    spki,
    extensions,
  };
}

function checkExtensions(extensions: readonly Extension[], invalid: Refusal): void {
  const seen = new Set<string>();
  for (const { id } of extensions) {
    // RFC 5280 section 4.2. GnuTLS refuses any repeated extension, OpenSSL and mozilla::pkix the ones they know.
    if (seen.has(id)) {
      throw invalid('the responder certificate repeats an extension', 'each extension at most once (RFC 5280 section 4.2; GnuTLS, OpenSSL and Firefox refuse repeats)', `with ${extensionName(id)} twice`);
    }
    seen.add(id);
  }
  for (const { id, value } of extensions) {
    const problem = NON_EMPTY.has(id) && value.length === 0 ? 'an empty value' : valueProblem(id, value);
    if (problem) {
      throw invalid('the responder certificate has a malformed extension', `a well-formed ${extensionName(id)} (OpenSSL, or Firefox, refuses the certificate otherwise)`, `with ${extensionName(id)}: ${problem}`);
    }
  }
}

/** Why an extension value would make a client refuse the certificate, or undefined. */
function valueProblem(id: string, value: Buffer): string | undefined {
  const decoders: Record<string, (root: DerNode) => string | undefined> = {
    [EXT.keyUsage]: (root) => keyUsageProblem(value, root),
    [EXT.netscapeCertType]: (root) => (root.tag === TAG.BIT_STRING ? undefined : 'not a BIT STRING'),
    [EXT.extKeyUsage]: (root) =>
      root.tag !== TAG.SEQUENCE ? 'not a SEQUENCE' : root.children.length === 0 ? 'no key purpose' : root.children.some((c) => c.tag !== TAG.OID) ? 'a key purpose that is not an OID' : undefined,
    [EXT.basicConstraints]: (root) => basicConstraintsProblem(value, root),
    [EXT.subjectKeyIdentifier]: (root) => (root.tag === TAG.OCTET_STRING ? undefined : 'not an OCTET STRING'),
    [EXT.authorityKeyIdentifier]: (root) => authorityKeyIdProblem(root),
    [EXT.subjectAltName]: (root) => generalNamesProblem(root),
    [EXT.nameConstraints]: (root) =>
      root.tag !== TAG.SEQUENCE || !inOrder(root.children, [0xa0, 0xa1]) ? 'not a NameConstraints SEQUENCE' : undefined,
    [EXT.cRLDistributionPoints]: (root) => crlDistributionPointsProblem(root),
  };
  const decode = decoders[id];
  if (!decode) return undefined;
  let root: DerNode;
  try {
    root = decodeDer(value);
  } catch (err) {
    return err instanceof DerError ? `not DER (${err.message})` : String(err);
  }
  return decode(root);
}

function keyUsageProblem(value: Buffer, root: DerNode): string | undefined {
  if (root.tag !== TAG.BIT_STRING) return 'not a BIT STRING';
  const bytes = contentOf(value, root);
  const unused = bytes[0]!;
  const bits = bytes.subarray(1);
  // x509v3_cache_extensions: "Check for empty key usage according to RFC 5280 section 4.2.1.3".
  if (bits.every((b) => b === 0)) return 'no bit set';
  // mozilla::pkix CheckKeyUsage: "All of the padding bits must be zero, according to DER rules".
  if ((bits[bits.length - 1]! & ((1 << unused) - 1)) !== 0) return `${unused} unused bits that are not zero`;
  return undefined;
}

function basicConstraintsProblem(value: Buffer, root: DerNode): string | undefined {
  if (root.tag !== TAG.SEQUENCE) return 'not a SEQUENCE';
  const [first, second, ...rest] = root.children;
  const path = first?.tag === TAG.BOOLEAN ? second : first;
  const extra = first?.tag === TAG.BOOLEAN ? rest : [second, ...rest].filter(Boolean);
  if (extra.length > 0 || (path && path.tag !== TAG.INTEGER)) return 'not a BasicConstraints SEQUENCE';
  if (path && (value[path.contentStart]! & 0x80) !== 0) return 'a negative pathLenConstraint';
  return undefined;
}

function basicConstraintsCa(value: Buffer): boolean {
  const first = decodeDer(value).children[0];
  return first?.tag === TAG.BOOLEAN && value[first.contentStart] === 0xff;
}

function authorityKeyIdProblem(root: DerNode): string | undefined {
  // AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier, [1] authorityCertIssuer, [2] serial }, all optional.
  if (root.tag !== TAG.SEQUENCE || !inOrder(root.children, [0x80, 0xa1, 0x82])) return 'not an AuthorityKeyIdentifier SEQUENCE';
  return undefined;
}

function generalNamesProblem(root: DerNode): string | undefined {
  if (root.tag !== TAG.SEQUENCE) return 'not a SEQUENCE of GeneralName';
  // GeneralName tags (RFC 5280 section 4.2.1.6): otherName, x400Address, directoryName, ediPartyName
  // are constructed; rfc822Name, dNSName, URI, iPAddress, registeredID primitive.
  const ok = new Set([0xa0, 0x81, 0x82, 0xa3, 0xa4, 0xa5, 0x86, 0x87, 0x88]);
  const bad = root.children.find((c) => !ok.has(c.tag));
  return bad ? `a GeneralName with tag 0x${bad.tag.toString(16)}` : undefined;
}

function crlDistributionPointsProblem(root: DerNode): string | undefined {
  if (root.tag !== TAG.SEQUENCE) return 'not a SEQUENCE of DistributionPoint';
  for (const point of root.children) {
    if (point.tag !== TAG.SEQUENCE || !inOrder(point.children, [0xa0, 0x81, 0xa2])) return 'a DistributionPoint that is not a SEQUENCE';
    // OpenSSL's setup_dp: a DistributionPoint needs a distributionPoint or a cRLIssuer.
    if (!point.children.some((c) => c.tag === 0xa0 || c.tag === 0xa2)) return 'a DistributionPoint with neither distributionPoint nor cRLIssuer';
  }
  return undefined;
}

/** The children's tags are a subsequence of `tags`, in that order. */
function inOrder(children: readonly DerNode[], tags: readonly number[]): boolean {
  let next = 0;
  for (const child of children) {
    const at = tags.indexOf(child.tag, next);
    if (at < 0) return false;
    next = at + 1;
  }
  return true;
}

/** X509_check_akid (OpenSSL) and GnuTLS's is_issuer: an AKID that names another key or certificate breaks the chain. */
function checkAuthorityKeyId(extensions: readonly Extension[], issuer: CertificateInfo, invalid: Refusal): void {
  const akid = extensions.find((e) => e.id === EXT.authorityKeyIdentifier);
  if (!akid) return;
  const root = decodeDer(akid.value);
  const keyId = root.children.find((c) => c.tag === 0x80);
  const issuerSkid = subjectKeyIdOf(issuer);
  if (keyId && issuerSkid) {
    const found = Buffer.from(contentOf(akid.value, keyId));
    if (!found.equals(issuerSkid)) {
      throw invalid('the responder certificate names another issuer key', `authorityKeyIdentifier ${issuerSkid.toString('hex')}, the CA's subjectKeyIdentifier`, `with authorityKeyIdentifier ${found.toString('hex')}`);
    }
  }
  const serial = root.children.find((c) => c.tag === 0x82);
  if (serial) {
    const found = Buffer.from(contentOf(akid.value, serial));
    if (!found.equals(issuer.serialNumber)) {
      throw invalid('the responder certificate names another issuer certificate', `authorityCertSerialNumber ${issuer.serialNumber.toString('hex')}, the CA's serial`, `with authorityCertSerialNumber ${found.toString('hex')}`);
    }
  }
  const names = root.children.find((c) => c.tag === 0xa1);
  if (names) {
    // X509_check_akid: the first directoryName must be the CA's own issuer Name.
    const directoryName = names.children.find((c) => c.tag === 0xa4 && c.children[0]);
    if (directoryName && !namesMatch(encodingOf(akid.value, directoryName.children[0]!), issuer.issuerName)) {
      throw invalid('the responder certificate names another issuer certificate', `authorityCertIssuer "${oneLine(issuer.x509.issuer)}", the CA's issuer`, 'with another authorityCertIssuer');
    }
  }
}

function subjectKeyIdOf(cert: CertificateInfo): Buffer | undefined {
  const ext = readParts(cert).extensions.find((e) => e.id === EXT.subjectKeyIdentifier);
  if (!ext) return undefined;
  try {
    const node = decodeDer(ext.value);
    return node.tag === TAG.OCTET_STRING ? Buffer.from(contentOf(ext.value, node)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The outer signatureAlgorithm is all mozilla::pkix reads, and like every AlgorithmIdentifier it
 * reads, its parameters must be absent or NULL (pkixder.cpp, AlgorithmIdentifierValue). The outer
 * copy is not signed, but OpenSSL's X509_verify (so the `issued` check above) refuses one that
 * differs from the signed copy in tbsCertificate, so what reaches here is what the CA signed.
 */
function checkSignatureAlgorithm(oid: string, params: Buffer | undefined, invalid: Refusal): void {
  if (params !== undefined && !params.equals(NULL_PARAMETERS)) {
    throw invalid(
      "the responder certificate's signatureAlgorithm has parameters Firefox refuses",
      'parameters absent or NULL (05 00), as mozilla::pkix requires',
      `with signatureAlgorithm ${REFUSED_SIGNATURES[oid] ?? CERT_SIGNATURES[oid] ?? oid} and parameters ${params.subarray(0, 16).toString('hex').replace(/(..)(?!$)/g, '$1 ')}${params.length > 16 ? ' ...' : ''}`,
    );
  }
  if (CERT_SIGNATURES[oid]) return;
  throw invalid(
    'the responder certificate is signed with an algorithm clients refuse',
    `a signature with SHA-256, SHA-384 or SHA-512, RSA PKCS#1 v1.5 or ECDSA (GnuTLS refuses SHA-1 and MD5; Firefox knows no other)`,
    `signed with ${REFUSED_SIGNATURES[oid] ?? oid}`,
  );
}

function checkKey(der: Buffer, spki: DerNode, invalid: Refusal): void {
  const [algorithm, key] = spki.children;
  const [oidNode, params] = expectTag(algorithm, TAG.SEQUENCE, 'algorithm').children;
  const oid = oidFrom(der, expectTag(oidNode, TAG.OID, 'algorithm'));
  const bits = contentOf(der, expectTag(key, TAG.BIT_STRING, 'subjectPublicKey')).subarray(1);
  const expected = `an RSA key of at least ${MIN_RSA_BITS} bits or an ECDSA key on P-256, P-384 or P-521 (Firefox takes no other; GnuTLS refuses smaller RSA keys)`;
  if (oid === RSA_ENCRYPTION) {
    // RFC 3279 section 2.3.1: the parameters are NULL; mozilla::pkix insists.
    if (!params || params.tag !== TAG.NULL) throw invalid('the responder key is encoded in a way clients refuse', 'rsaEncryption with NULL parameters', 'with other parameters');
    const modulus = rsaModulusBits(bits);
    if (modulus < MIN_RSA_BITS) throw invalid('the responder key is too small', expected, `with an RSA key of ${modulus} bits`);
    return;
  }
  if (oid === EC_PUBLIC_KEY) {
    if (!params || params.tag !== TAG.OID) throw invalid('the responder key has explicit curve parameters', `${expected}, named by its OID (RFC 5480)`, 'with explicit EC parameters');
    const curveOid = oidFrom(der, params);
    const curve = CURVES[curveOid];
    if (!curve) throw invalid('the responder key is on a curve clients refuse', expected, `with an EC key on curve ${curveOid}`);
    if (bits[0] !== 0x04 || bits.length !== 1 + 2 * curve.bytes) {
      throw invalid('the responder key is encoded in a way clients refuse', `an uncompressed ${curve.name} point (Firefox takes no other)`, `with a ${bits[0] === 0x02 || bits[0] === 0x03 ? 'compressed' : 'malformed'} point`);
    }
    return;
  }
  throw invalid('the responder key is of a type clients refuse', expected, `with a ${KEY_ALGORITHMS[oid] ?? oid} key`);
}

function rsaModulusBits(bits: Uint8Array): number {
  const key = decodeDer(bits);
  const modulus = contentOf(bits, expectTag(key.children[0], TAG.INTEGER, 'modulus'));
  let start = 0;
  while (start < modulus.length && modulus[start] === 0) start++;
  if (start === modulus.length) return 0;
  return (modulus.length - start - 1) * 8 + (32 - Math.clz32(modulus[start]!));
}

const EXTENSION_NAMES: Record<string, string> = Object.fromEntries(Object.entries(EXT).map(([name, oid]) => [oid, name]));
EXTENSION_NAMES['2.5.29.33'] = 'policyMappings';
EXTENSION_NAMES['2.5.29.36'] = 'policyConstraints';
EXTENSION_NAMES['1.3.6.1.5.5.7.48.1.5'] = 'id-pkix-ocsp-nocheck';

function extensionName(oid: string): string {
  const name = EXTENSION_NAMES[oid];
  return name ? `${name} (${oid})` : oid;
}

function oneLine(name: string | undefined): string {
  return (name ?? '').replace(/\n/g, ', ');
}

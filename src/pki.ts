import { createHash, X509Certificate } from 'node:crypto';
import { contentOf, decodeDer, DerError, encodingOf, expectTag, oidFrom, smallIntFrom, TAG, timeFrom, type DerNode } from './der.js';
import { StaplingError } from './errors.js';
import { readCappedFile, readCappedFileSync, type ReadLimits } from './files.js';
import { checkBytes, checkPath, DEFAULTS } from './options.js';
import type { CertIdHash } from './ocsp/parse.js';
import { nameLine } from './printable.js';

const OID_AIA = '1.3.6.1.5.5.7.1.1';
const OID_AD_OCSP = '1.3.6.1.5.5.7.48.1';
const OID_TLS_FEATURE = '1.3.6.1.5.5.7.1.24';
const OID_EKU = '2.5.29.37';
/** TLS Feature value for status_request (RFC 7633 section 6). */
const STATUS_REQUEST = 5;

/** The facts about one certificate that stapling needs, read once. */
export interface CertificateInfo {
  /** The DER encoding, as Node passes it to the OCSPRequest listener. */
  readonly der: Buffer;
  /**
   * Node's view, for signatures and printing. Made on first use and kept, except for the leaf of
   * a certificate file read by {@link loadCertificateChain}: there it is made anew on each use and
   * not kept, because an X509Certificate holds about 4.7 KiB of OpenSSL memory and a registry
   * holds thousands of leaves (bench/RESULTS.md, registry memory).
   */
  readonly x509: X509Certificate;
  /** The subject on one line (fields joined by ", "; "" for an empty Name), for status and logs without an X509Certificate. */
  readonly subjectLine: string;
  /** The serial number as Node's X509Certificate prints it: upper-case hex. */
  readonly serialHex: string;
  /** Content octets of the serialNumber INTEGER. */
  readonly serialNumber: Buffer;
  /** DER of the issuer Name. */
  readonly issuerName: Buffer;
  /** DER of the subject Name. */
  readonly subjectName: Buffer;
  /** The subjectPublicKey BIT STRING's bits (what CertID's issuerKeyHash hashes). */
  readonly publicKeyBits: Buffer;
  /** Start of the validity period. */
  readonly notBefore: Date;
  /** End of the validity period (inclusive, to the second). */
  readonly notAfter: Date;
  /** Extended key usage OIDs; empty when the extension is absent. */
  readonly extendedKeyUsage: readonly string[];
  /** OIDs of the extensions marked critical. */
  readonly criticalExtensions: readonly string[];
  /** OCSP responder URLs from the Authority Information Access extension. */
  readonly ocspUrls: readonly string[];
  /** The certificate carries the TLS Feature status_request (OCSP Must-Staple, RFC 7633). */
  readonly mustStaple: boolean;
}

/**
 * Reads one DER certificate. Throws a {@link StaplingError}: `ERR_CERT_PARSE` for bytes that are
 * not a strict-DER X.509 certificate (Node's X509Certificate must accept it too),
 * `ERR_INVALID_ARGUMENT` for anything but a Uint8Array.
 *
 * @example
 * ```ts
 * const info = readCertificate(new X509Certificate(pem).raw);
 * console.log(info.ocspUrls, info.mustStaple);
 * ```
 */
export function readCertificate(input: Uint8Array): CertificateInfo {
  checkBytes('readCertificate', 'input', input);
  return readCertificateKeeping(input, true);
}

/**
 * @internal {@link readCertificate} without the argument check; with `keepX509` false the result
 * does not keep its `x509` (see {@link CertificateInfo.x509}).
 */
export function readCertificateKeeping(input: Uint8Array, keepX509: boolean, deferOpenSsl = false): CertificateInfo {
  // Its own memory, and the parts below are views into it: a copy out of Node's 8 KiB Buffer pool
  // would keep its whole pool slab (with the garbage of the loads around it) alive as long as the
  // certificate is held; measured 3-4 KiB a certificate in a registry of 10,000 (bench/RESULTS.md).
  const der = Buffer.allocUnsafeSlow(input.byteLength);
  der.set(input);
  try {
    return readDer(der, keepX509, deferOpenSsl);
  } catch (err) {
    // DerError from our reader, or OpenSSL's own refusal through X509Certificate.
    throw new StaplingError('ERR_CERT_PARSE', 'not a valid X.509 certificate', {
      expected: 'one DER X.509 Certificate',
      found: err instanceof Error ? err.message : String(err),
      cause: err,
    });
  }
}

function readDer(der: Buffer, keepX509: boolean, deferOpenSsl: boolean): CertificateInfo {
  const cert = expectTag(decodeDer(der), TAG.SEQUENCE, 'Certificate');
  const tbs = expectTag(cert.children[0], TAG.SEQUENCE, 'tbsCertificate');
  let items = tbs.children;
  if (items[0]?.tag === 0xa0) items = items.slice(1);
  const [serial, , issuer, validity, subject, spki, ...optional] = items;
  const [notBefore, notAfter] = expectTag(validity, TAG.SEQUENCE, 'validity').children;
  const keyBits = contentOf(der, expectTag(expectTag(spki, TAG.SEQUENCE, 'subjectPublicKeyInfo').children[1], TAG.BIT_STRING, 'subjectPublicKey'));

  let extendedKeyUsage: string[] = [];
  const criticalExtensions: string[] = [];
  let ocspUrls: string[] = [];
  let mustStaple = false;
  const extensions = optional.find((node) => node.tag === 0xa3);
  for (const ext of extensions ? expectTag(extensions.children[0], TAG.SEQUENCE, 'extensions').children : []) {
    const id = oidFrom(der, expectTag(ext.children[0], TAG.OID, 'extnID'));
    const valueNode = ext.children[ext.children.length - 1];
    const value = view(contentOf(der, expectTag(valueNode, TAG.OCTET_STRING, 'extnValue')));
    const flag = ext.children.length === 3 ? expectTag(ext.children[1], TAG.BOOLEAN, 'critical') : undefined;
    if (flag && der[flag.contentStart] === 0xff) criticalExtensions.push(id);
    if (id === OID_EKU) extendedKeyUsage = sequenceOf(value).map((node) => oidFrom(value, node));
    else if (id === OID_AIA) ocspUrls = readOcspUrls(value);
    else if (id === OID_TLS_FEATURE) mustStaple = sequenceOf(value).some((node) => node.tag === TAG.INTEGER && smallIntFrom(value, node) === STATUS_REQUEST);
  }

  const facts: CertificateFacts = {
    der,
    serialNumber: view(contentOf(der, expectTag(serial, TAG.INTEGER, 'serialNumber'))),
    issuerName: view(encodingOf(der, expectTag(issuer, TAG.SEQUENCE, 'issuer'))),
    subjectName: view(encodingOf(der, expectTag(subject, TAG.SEQUENCE, 'subject'))),
    publicKeyBits: view(keyBits.subarray(1)),
    notBefore: timeFrom(der, notBefore!),
    notAfter: timeFrom(der, notAfter!),
    extendedKeyUsage,
    criticalExtensions,
    ocspUrls,
    mustStaple,
  };
  return new Certificate(facts, keepX509, deferOpenSsl);
}

/** What our DER reader finds in a certificate; the rest of {@link CertificateInfo} is OpenSSL's. */
type CertificateFacts = Omit<CertificateInfo, 'x509' | 'subjectLine' | 'serialHex'>;

// A class, not an object literal with getters: a registry holds thousands, and literal getters
// are closures made anew for each object.
class Certificate implements CertificateInfo {
  readonly der: Buffer;
  readonly serialNumber: Buffer;
  readonly issuerName: Buffer;
  readonly subjectName: Buffer;
  readonly publicKeyBits: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extendedKeyUsage: readonly string[];
  readonly criticalExtensions: readonly string[];
  readonly ocspUrls: readonly string[];
  readonly mustStaple: boolean;
  #x509: X509Certificate | undefined;
  readonly #keepX509: boolean;
  #subjectLine: string | undefined;
  #serialHex: string | undefined;

  constructor(facts: CertificateFacts, keepX509: boolean, deferOpenSsl: boolean) {
    this.der = facts.der;
    this.serialNumber = facts.serialNumber;
    this.issuerName = facts.issuerName;
    this.subjectName = facts.subjectName;
    this.publicKeyBits = facts.publicKeyBits;
    this.notBefore = facts.notBefore;
    this.notAfter = facts.notAfter;
    this.extendedKeyUsage = facts.extendedKeyUsage;
    this.criticalExtensions = facts.criticalExtensions;
    this.ocspUrls = facts.ocspUrls;
    this.mustStaple = facts.mustStaple;
    this.#keepX509 = keepX509;
    // Made at once, so that a certificate OpenSSL refuses fails here; without keepX509 the first
    // use takes it (the issuer check of checkChain) and later uses make their own. With
    // deferOpenSsl nothing is made here (a lazy registry's start, see UncheckedChain): the first
    // use of x509, subjectLine or serialHex makes it.
    if (!deferOpenSsl) {
      this.#x509 = new X509Certificate(this.der);
      this.#print();
    }
  }

  get x509(): X509Certificate {
    const made = this.#x509 ?? new X509Certificate(this.der);
    this.#x509 = this.#keepX509 ? made : undefined;
    return made;
  }

  get subjectLine(): string {
    this.#print();
    return this.#subjectLine!;
  }

  get serialHex(): string {
    this.#print();
    return this.#serialHex!;
  }

  #print(): void {
    if (this.#subjectLine !== undefined) return;
    let from: X509Certificate;
    try {
      // Made and left for the next use of x509 to take (checkChain's signature check): one
      // OpenSSL parse serves both.
      from = this.#x509 ??= new X509Certificate(this.der);
    } catch {
      // Only for a deferred certificate that OpenSSL refuses (checkChain reports it): status()
      // and logs still print something, and never throw.
      this.#subjectLine = '';
      this.#serialHex = this.serialNumber.toString('hex').toUpperCase();
      return;
    }
    // nameLine: Node gives undefined for an empty subject Name (valid with a critical SAN), and
    // leaves C1 controls of a name unescaped.
    this.#subjectLine = nameLine(from.subject);
    this.#serialHex = from.serialNumber.toUpperCase();
  }
}

/** A Buffer over the same memory. */
function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function sequenceOf(value: Buffer): readonly DerNode[] {
  return expectTag(decodeDer(value), TAG.SEQUENCE, 'extension value').children;
}

/**
 * The OCSP URLs of an authorityInfoAccess value; none when it cannot be read. No client reads a
 * delegated responder certificate's AIA (curl, gnutls-cli, openssl ocsp and Firefox all accept
 * one that is not AccessDescriptions: test/strict-responder.test.ts), so an unreadable one must
 * not fail the certificate; a leaf whose AIA cannot be read simply names no responder.
 */
function readOcspUrls(value: Buffer): string[] {
  const urls: string[] = [];
  try {
    for (const access of sequenceOf(value)) {
      const [method, location] = access.children;
      // uniformResourceIdentifier [6] IMPLICIT IA5String
      if (oidFrom(value, expectTag(method, TAG.OID, 'accessMethod')) === OID_AD_OCSP && location?.tag === 0x86) {
        urls.push(Buffer.from(contentOf(value, location)).toString('latin1'));
      }
    }
  } catch (err) {
    if (err instanceof DerError) return [];
    throw err;
  }
  return urls;
}

/** Every CERTIFICATE block of a PEM text, as DER. */
export function pemCertificates(text: string): Buffer[] {
  const blocks = text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g);
  return [...blocks].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

/** A leaf, the certificate that issued it, and the rest of the chain given. */
export interface CertificateChain {
  /** The server certificate. */
  readonly leaf: CertificateInfo;
  /** The certificate that signed it. */
  readonly issuer: CertificateInfo;
}

/** `issuer` signed `cert`, and the names chain. */
export function issued(issuer: CertificateInfo, cert: CertificateInfo): boolean {
  return signedBy(issuer, cert, undefined);
}

/** `issuer` bears `cert`'s issuer name and signed it; `x509` is `cert`'s, when already made. */
function signedBy(issuer: CertificateInfo, cert: CertificateInfo, x509: X509Certificate | undefined): boolean {
  if (!issuer.subjectName.equals(cert.issuerName)) return false;
  try {
    return (x509 ?? cert.x509).verify(issuer.x509.publicKey);
  } catch {
    return false;
  }
}

/**
 * @internal Parsed chain certificates, by their base64 DER, shared between loads: a registry of 10,000
 * certificates from one CA then holds one copy of the CA certificate instead of 10,000.
 */
export type CertificateCache = Map<string, CertificateInfo>;

function certificateLimits(role: string): ReadLimits {
  return { maxBytes: DEFAULTS.maxCertificateFileBytes, what: `${role} file`, readCode: 'ERR_CERT_READ', tooLargeCode: 'ERR_CERT_READ' };
}

async function readCertificates(file: string, role: string, cache: CertificateCache | undefined): Promise<CertificateInfo[]> {
  return certificatesOf(await readCappedFile(file, certificateLimits(role)), file, role, cache, false);
}

// The certificates of a file's bytes; with deferLeaf, the leaf is read without OpenSSL (UncheckedChain).
function certificatesOf(bytes: Buffer, file: string, role: string, cache: CertificateCache | undefined, deferLeaf: boolean): CertificateInfo[] {
  const text = bytes.toString('latin1');
  const ders = pemCertificates(text);
  if (ders.length === 0) {
    throw new StaplingError('ERR_CERT_PARSE', `the ${role} file holds no certificate`, {
      expected: 'PEM "-----BEGIN CERTIFICATE-----" blocks',
      found: text.length === 0 ? 'an empty file' : `${text.length} bytes of something else`,
      file,
    });
  }
  return ders.map((der, i) => {
    const isLeaf = i === 0 && role === 'certificate';
    // The first certificate of a certificate file is a leaf: unique, so never cached.
    const key = cache && !isLeaf ? der.toString('base64') : undefined;
    const known = key === undefined ? undefined : cache!.get(key);
    if (known) return known;
    try {
      // The leaf's X509Certificate is not kept (see CertificateInfo.x509): every leaf is unique.
      const info = readCertificateKeeping(der, !isLeaf, isLeaf && deferLeaf);
      if (key !== undefined) cache!.set(key, info);
      return info;
    } catch (err) {
      throw parseError(err, i, role, file);
    }
  });
}

function parseError(err: unknown, i: number, role: string, file: string): StaplingError {
  const found = err instanceof StaplingError ? err.found : err instanceof Error ? err.message : String(err);
  return new StaplingError('ERR_CERT_PARSE', `certificate ${i + 1} of the ${role} file is not a valid X.509 certificate`, { found, file, cause: err });
}

/**
 * Reads `certFile` (PEM leaf, optionally followed by its chain) and finds the leaf's issuer:
 * first in the chain, else in `issuerFile`. The issuer must have signed the leaf.
 *
 * @example
 * ```ts
 * const { leaf, issuer } = await loadCertificateChain('site.pem'); // leaf followed by its chain
 * ```
 */
export async function loadCertificateChain(certFile: string, issuerFile?: string): Promise<CertificateChain> {
  checkPath('loadCertificateChain', 'certFile', certFile);
  if (issuerFile !== undefined) checkPath('loadCertificateChain', 'issuerFile', issuerFile);
  return loadChain(certFile, issuerFile);
}

/** @internal {@link loadCertificateChain}, reusing chain and issuer certificates already parsed into `cache`. */
export async function loadChain(certFile: string, issuerFile?: string, cache?: CertificateCache): Promise<CertificateChain> {
  const [leaf, ...chain] = await readCertificates(certFile, 'certificate', cache);
  const candidates = issuerFile ? [...chain, ...(await readCertificates(issuerFile, 'issuer', cache))] : chain;
  return checkChain(uncheckedChain(leaf!, candidates, certFile));
}

/**
 * @internal A chain read without the leaf's two OpenSSL steps (its parse by X509Certificate and the
 * issuer's signature on it), which take nearly all of a start's time (bench/RESULTS.md, registry):
 * the leaf is read by our DER reader only, and its issuer is the first candidate whose subject is
 * the leaf's issuer name, until {@link checkChain} has checked the signature. What a lazy registry
 * holds until its background load reaches the certificate.
 */
export interface UncheckedChain extends CertificateChain {
  /** Every certificate after the leaf and in issuerFile, in that order; the issuer is found among them. */
  readonly candidates: readonly CertificateInfo[];
  /** The certificate file, for errors. */
  readonly certFile: string;
}

/**
 * @internal Reads the files of a chain for a lazy registry's start (see {@link UncheckedChain}):
 * synchronously (readCappedFileSync says why), with the leaf read by our DER reader only. Throws
 * like {@link loadCertificateChain} when a file cannot be read, holds no certificate, or no
 * candidate bears the leaf's issuer name.
 */
export function readChainUnchecked(certFile: string, issuerFile: string | undefined, cache: CertificateCache | undefined): UncheckedChain {
  const [leaf, ...chain] = certificatesOf(readCappedFileSync(certFile, certificateLimits('certificate')), certFile, 'certificate', cache, true);
  const candidates = issuerFile ? [...chain, ...certificatesOf(readCappedFileSync(issuerFile, certificateLimits('issuer')), issuerFile, 'issuer', cache, false)] : chain;
  return uncheckedChain(leaf!, candidates, certFile);
}

function uncheckedChain(leaf: CertificateInfo, candidates: CertificateInfo[], certFile: string): UncheckedChain {
  const issuer = candidates.find((c) => c.subjectName.equals(leaf.issuerName));
  if (!issuer) throw issuerNotFound(leaf, candidates, certFile);
  return { leaf, issuer, candidates, certFile };
}

/**
 * @internal The OpenSSL half of reading a chain: OpenSSL must accept the leaf, and one of the
 * candidates must bear its issuer name and have signed it. Synchronous. Throws `ERR_CERT_PARSE` or
 * `ERR_ISSUER_NOT_FOUND` with the certificate file.
 */
export function checkChain(unchecked: UncheckedChain): CertificateChain {
  const { leaf, candidates, certFile } = unchecked;
  // Printing first makes the leaf's X509Certificate (unless OpenSSL refuses it) and leaves it for
  // the `x509` read just below: one OpenSSL parse for the names and the signatures.
  void leaf.subjectLine;
  let x509: X509Certificate;
  try {
    x509 = leaf.x509;
  } catch (err) {
    throw parseError(err, 0, 'certificate', certFile);
  }
  const issuer = candidates.find((c) => signedBy(c, leaf, x509));
  if (!issuer) throw issuerNotFound(leaf, candidates, certFile);
  return { leaf, issuer };
}

function issuerNotFound(leaf: CertificateInfo, candidates: readonly CertificateInfo[], file: string): StaplingError {
  let name: string;
  try {
    name = nameLine(leaf.x509.issuer);
  } catch {
    name = 'the issuer the leaf names';
  }
  return new StaplingError('ERR_ISSUER_NOT_FOUND', "the certificate's issuer was not found", {
    expected: `a certificate for "${name}" that signed the leaf, after the leaf in the certificate file or in issuerFile`,
    found: candidates.length === 0 ? 'no other certificate' : `${candidates.length} other certificate(s), none of which signed the leaf`,
    file,
  });
}

/** The two CertID hashes of an issuer, for one hash algorithm. */
export interface IssuerHashes {
  readonly nameHash: Buffer;
  readonly keyHash: Buffer;
}

/** issuerNameHash and issuerKeyHash of `issuer` under `hash` (RFC 6960 section 4.1.1). */
export function issuerHashes(issuer: CertificateInfo, hash: CertIdHash): IssuerHashes {
  return {
    nameHash: createHash(hash).update(issuer.subjectName).digest(),
    keyHash: createHash(hash).update(issuer.publicKeyBits).digest(),
  };
}

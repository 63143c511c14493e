import { createHash, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { issued, readCertificate } from '../pki.js';
import { generateKey, loadPrivateKey, pem, privateKeyPem, publicKeyInfo, signCertificate, unpem, type PemKeyPair, type TestKeyType } from './keys.js';
import { createOcspResponse, type OcspResponseOptions } from './response.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A certificate made by these helpers, with its key. All PEM, ready for `tls.createServer`. */
export interface TestCertificate {
  /** The certificate, PEM. */
  readonly cert: string;
  /** Its private key, PEM (PKCS#8). */
  readonly key: string;
  /**
   * The certificate followed by the intermediate CA, if any, but not the root: what a server
   * sends, and what `createStaplingContext({ certFile })` wants.
   */
  readonly chain: string;
  /** Serial number in upper-case hex, as Node's `X509Certificate.serialNumber` prints it. */
  readonly serial: string;
  /** Key type. */
  readonly keyType: TestKeyType;
}

/** Validity and identity options shared by every certificate the helpers issue. */
export interface IssueOptions {
  /** Key type. Default: the CA's key type. */
  keyType?: TestKeyType;
  /** Start of validity. Default: one hour ago (room for clocks that disagree). */
  notBefore?: Date;
  /** End of validity. Default: 90 days from now for leaves and responders. */
  notAfter?: Date;
  /** Serial number in hex. Default: 16 random bytes (positive, no leading zero byte). */
  serial?: string;
  /** Subject common name. */
  commonName?: string;
}

/** Options of {@link TestCa.issueCertificate}. */
export interface CertificateOptions extends IssueOptions {
  /** DNS names in the subjectAltName. Default `['localhost']`. */
  dnsNames?: readonly string[];
  /** IPv4 or IPv6 addresses in the subjectAltName. Default `['127.0.0.1']`. */
  ipAddresses?: readonly string[];
  /** OCSP responder URL for the Authority Information Access extension. Default: none. */
  ocspUrl?: string;
  /** Add the TLS Feature status_request extension (OCSP Must-Staple, RFC 7633). Default false. */
  mustStaple?: boolean;
}

/** Options of {@link TestCa.issueResponder}. */
export interface ResponderOptions extends IssueOptions {
  /**
   * Give the certificate extendedKeyUsage id-kp-OCSPSigning, which authorises it to sign
   * responses for the CA (RFC 6960 section 4.2.2.2). Default true; `false` makes a
   * certificate whose responses clients must refuse.
   */
  ocspSigning?: boolean;
}

/** Options of {@link createTestCa}. */
export interface TestCaOptions {
  /** Key type of the CA certificates, and default of the certificates they issue. Default `'rsa'` (2048 bits). */
  keyType?: TestKeyType;
  /**
   * Put an intermediate CA between the root and the certificates issued. Default true, as public
   * CAs do. Without it, serve `leaf.chain + ca.root.cert`: `curl --cert-status` looks for the
   * issuer only in the chain the server sends.
   */
  intermediate?: boolean;
  /** Common name of the root; the intermediate gets the same with " Intermediate". Default `'ocsp-stapler Test CA'`. */
  name?: string;
}

const OID = {
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  adOcsp: '1.3.6.1.5.5.7.48.1',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
  tlsFeature: '1.3.6.1.5.5.7.1.24',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
};

// keyUsage BIT STRINGs (RFC 5280 section 4.2.1.3), DER: trailing zero bits dropped.
const KEY_USAGE = {
  ca: { bits: 0x06, unused: 1 }, // keyCertSign, cRLSign
  tlsRsa: { bits: 0xa0, unused: 5 }, // digitalSignature, keyEncipherment
  signing: { bits: 0x80, unused: 7 }, // digitalSignature
};

/** A certificate with the key that signs with it, as the helpers use them internally. */
export interface Signer {
  readonly certificate: pkijs.Certificate;
  readonly der: Buffer;
  readonly privateKey: KeyObject;
}

/** Loads a PEM certificate and key for signing. */
export function signerFromPem(pair: PemKeyPair): Signer {
  const der = unpem('CERTIFICATE', pair.cert);
  return { certificate: pkijs.Certificate.fromBER(der), der, privateKey: loadPrivateKey(pair.key) };
}

/** Normalised serial for comparisons: upper-case hex without leading zeros. */
export function serialKey(hex: string): string {
  return hex.replace(/^(0x)?/i, '').replace(/^0+(?=.)/, '').toUpperCase();
}

/**
 * A throwaway certificate authority for tests: a root, usually an intermediate, and what they
 * issue. Made by {@link createTestCa}. Everything lives in memory; nothing is written anywhere.
 *
 * @example
 * ```ts
 * import { createTestCa } from 'ocsp-stapler/testing';
 *
 * const ca = await createTestCa();
 * const leaf = await ca.issueCertificate({ dnsNames: ['localhost'], mustStaple: true });
 * const good = await ca.createOcspResponse(leaf);
 * const revoked = await ca.createOcspResponse(leaf, { status: 'revoked', revocationReason: 'keyCompromise' });
 * ```
 */
export class TestCa {
  /** The self-signed root: what clients trust (`curl --cacert`, `openssl verify -CAfile`). */
  readonly root: TestCertificate;
  /** The CA that issues leaves and responders: the intermediate, or the root when there is none. */
  readonly issuer: TestCertificate;
  /** Key type of the CA certificates. */
  readonly keyType: TestKeyType;
  readonly #signers: readonly Signer[];
  readonly #issued = new Set<string>();

  /** @internal Use {@link createTestCa}. */
  constructor(root: TestCertificate, issuer: TestCertificate) {
    this.root = root;
    this.issuer = issuer;
    this.keyType = issuer.keyType;
    this.#signers = [signerFromPem(issuer), signerFromPem(root)];
    this.#issued.add(serialKey(issuer.serial));
  }

  /**
   * Issues a TLS server certificate (extendedKeyUsage serverAuth) for `localhost` and
   * `127.0.0.1` unless told otherwise.
   *
   * @example
   * ```ts
   * const leaf = await ca.issueCertificate({ dnsNames: ['example.test'], ocspUrl: responder.url, keyType: 'ec' });
   * https.createServer({ cert: leaf.chain, key: leaf.key }, app);
   * ```
   */
  async issueCertificate(options: CertificateOptions = {}): Promise<TestCertificate> {
    const dnsNames = options.dnsNames ?? ['localhost'];
    const ipAddresses = options.ipAddresses ?? ['127.0.0.1'];
    const keyType = options.keyType ?? this.keyType;
    const extensions = [
      extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: false })),
      keyUsage(keyType === 'rsa' ? KEY_USAGE.tlsRsa : KEY_USAGE.signing),
      extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [OID.serverAuth] })),
      extension(OID.subjectAltName, false, new pkijs.GeneralNames({
        names: [
          ...dnsNames.map((value) => new pkijs.GeneralName({ type: 2, value })),
          ...ipAddresses.map((ip) => new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ipBytes(ip) }) })),
        ],
      })),
    ];
    if (options.ocspUrl !== undefined) {
      extensions.push(extension(OID.authorityInfoAccess, false, new pkijs.InfoAccess({
        accessDescriptions: [new pkijs.AccessDescription({ accessMethod: OID.adOcsp, accessLocation: new pkijs.GeneralName({ type: 6, value: options.ocspUrl }) })],
      })));
    }
    if (options.mustStaple) {
      // TLSFeature ::= SEQUENCE OF INTEGER; status_request is 5.
      extensions.push(extension(OID.tlsFeature, false, new asn1js.Sequence({ value: [new asn1js.Integer({ value: 5 })] })));
    }
    const commonName = options.commonName ?? dnsNames[0] ?? ipAddresses[0] ?? 'localhost';
    return this.#issue({ ...options, keyType, commonName }, extensions);
  }

  /**
   * Issues a certificate for a delegated OCSP responder, to sign responses in place of the CA
   * (pass it as `signer` to {@link TestCa.createOcspResponse}).
   *
   * @example
   * ```ts
   * const responder = await ca.issueResponder();
   * const bytes = await ca.createOcspResponse(leaf, { signer: responder });
   * const unauthorised = await ca.createOcspResponse(leaf, { signer: await ca.issueResponder({ ocspSigning: false }) });
   * ```
   */
  async issueResponder(options: ResponderOptions = {}): Promise<TestCertificate> {
    const ocspSigning = options.ocspSigning ?? true;
    const extensions = [
      extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: false })),
      keyUsage(KEY_USAGE.signing),
      extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [ocspSigning ? OID.ocspSigning : OID.serverAuth] })),
    ];
    // id-pkix-ocsp-nocheck (RFC 6960 section 4.2.2.2.1): clients need not check the responder's own status.
    if (ocspSigning) extensions.push(extension(OID.ocspNoCheck, false, new asn1js.Null()));
    const commonName = options.commonName ?? (ocspSigning ? 'ocsp-stapler Test OCSP Responder' : 'ocsp-stapler Test Not A Responder');
    return this.#issue({ ...options, commonName }, extensions);
  }

  /**
   * Signs an OCSP response about `cert` (a certificate this CA issued, or any certificate whose
   * issuer is {@link TestCa.issuer}), with every field under control. Returns the DER bytes,
   * as `openssl ocsp -respout` writes them and `createStaplingContext({ ocspFile })` reads them.
   *
   * @example
   * ```ts
   * const expired = await ca.createOcspResponse(leaf, {
   *   thisUpdate: new Date(Date.now() - 2 * 86_400_000),
   *   nextUpdate: new Date(Date.now() - 86_400_000),
   * });
   * await writeFile('site.ocsp', expired);
   * ```
   */
  async createOcspResponse(cert: string | { readonly cert: string }, options: OcspResponseOptions = {}): Promise<Buffer> {
    const der = unpem('CERTIFICATE', typeof cert === 'string' ? cert : cert.cert);
    const info = readCertificate(der);
    const issuer = this.#signers.find((signer) => issued(readCertificate(signer.der), info));
    if (!issuer) throw new TypeError('this certificate was not issued by this CA');
    return createOcspResponse(issuer, pkijs.Certificate.fromBER(der), options);
  }

  /** True when this CA issued a certificate with this serial (hex). */
  issued(serial: string): boolean {
    return this.#issued.has(serialKey(serial));
  }

  /** @internal Both CA certificates with their keys: issuer first. */
  signers(): readonly Signer[] {
    return this.#signers;
  }

  async #issue(options: IssueOptions & { keyType?: TestKeyType; commonName: string }, extensions: pkijs.Extension[]): Promise<TestCertificate> {
    const issuer = this.#signers[0]!;
    const issued = await issueCertificate({
      keyType: options.keyType ?? this.keyType,
      subject: options.commonName,
      issuer,
      serial: options.serial,
      notBefore: options.notBefore ?? new Date(Date.now() - HOUR),
      notAfter: options.notAfter ?? new Date(Date.now() + 90 * DAY),
      extensions,
    });
    this.#issued.add(serialKey(issued.serial));
    const chain = this.issuer === this.root ? issued.cert : issued.cert + this.issuer.cert;
    return { ...issued, chain };
  }
}

/**
 * Makes a throwaway CA: a self-signed root and, unless `intermediate: false`, an intermediate
 * CA that issues everything else. RSA-2048 by default; about 0.1 to 0.5 s.
 *
 * @example
 * ```ts
 * import { createTestCa } from 'ocsp-stapler/testing';
 *
 * const ca = await createTestCa({ keyType: 'ec' });
 * const leaf = await ca.issueCertificate();
 * // trust ca.root.cert in the client; serve leaf.chain with leaf.key
 * ```
 */
export async function createTestCa(options: TestCaOptions = {}): Promise<TestCa> {
  const keyType = options.keyType ?? 'rsa';
  const name = options.name ?? 'ocsp-stapler Test CA';
  const notBefore = new Date(Date.now() - HOUR);
  const notAfter = new Date(Date.now() + 10 * 365 * DAY);
  const caExtensions = (pathLength?: number) => [
    extension(OID.basicConstraints, true, new pkijs.BasicConstraints(pathLength === undefined ? { cA: true } : { cA: true, pathLenConstraint: pathLength })),
    keyUsage(KEY_USAGE.ca),
  ];
  const root = await issueCertificate({ keyType, subject: name, notBefore, notAfter, extensions: caExtensions() });
  if (options.intermediate === false) return new TestCa(root, root);
  const rootSigner = signerFromPem(root);
  const intermediate = await issueCertificate({
    keyType,
    subject: `${name} Intermediate`,
    issuer: rootSigner,
    notBefore,
    notAfter,
    extensions: caExtensions(0),
  });
  return new TestCa(root, { ...intermediate, chain: intermediate.cert });
}

interface IssueRequest {
  readonly keyType: TestKeyType;
  readonly subject: string;
  /** Omitted for a self-signed certificate. */
  readonly issuer?: Signer;
  readonly serial?: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: pkijs.Extension[];
}

async function issueCertificate(request: IssueRequest): Promise<TestCertificate> {
  const privateKey = await generateKey(request.keyType);
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ valueHex: serialBytes(request.serial) });
  // One attribute: pkijs puts every typesAndValues entry in a single (multi-valued) RDN.
  cert.subject.typesAndValues.push(new pkijs.AttributeTypeAndValue({ type: OID.commonName, value: new asn1js.Utf8String({ value: request.subject }) }));
  cert.issuer = request.issuer ? request.issuer.certificate.subject : cert.subject;
  cert.notBefore = time(request.notBefore);
  cert.notAfter = time(request.notAfter);
  cert.subjectPublicKeyInfo = publicKeyInfo(privateKey);
  const keyId = createHash('sha1').update(cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest();
  const authorityKeyId = request.issuer ? subjectKeyIdOf(request.issuer.certificate) : keyId;
  cert.extensions = [
    ...request.extensions,
    new pkijs.Extension({ extnID: OID.subjectKeyIdentifier, extnValue: new asn1js.OctetString({ valueHex: keyId }).toBER() }),
    extension(OID.authorityKeyIdentifier, false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: authorityKeyId }) })),
  ];
  signCertificate(cert, request.issuer?.privateKey ?? privateKey);
  const certPem = pem('CERTIFICATE', new Uint8Array(cert.toSchema(true).toBER()));
  return {
    cert: certPem,
    key: privateKeyPem(privateKey),
    chain: certPem,
    serial: new X509Certificate(certPem).serialNumber.toUpperCase(),
    keyType: request.keyType,
  };
}

function subjectKeyIdOf(certificate: pkijs.Certificate): Uint8Array {
  const ski = certificate.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
  if (ski) return (asn1js.fromBER(ski.extnValue.valueBlock.valueHexView).result as asn1js.OctetString).valueBlock.valueHexView;
  return createHash('sha1').update(certificate.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest();
}

function extension(extnID: string, critical: boolean, value: { toSchema(): asn1js.BaseBlock } | asn1js.BaseBlock): pkijs.Extension {
  const schema = 'toBER' in value ? value : value.toSchema();
  return new pkijs.Extension({ extnID, critical, extnValue: schema.toBER() });
}

function keyUsage({ bits, unused }: { bits: number; unused: number }): pkijs.Extension {
  return new pkijs.Extension({ extnID: OID.keyUsage, critical: true, extnValue: new Uint8Array([0x03, 0x02, unused, bits]).buffer });
}

// RFC 5280: UTCTime through 2049, GeneralizedTime from 2050. Whole seconds only.
function time(date: Date): pkijs.Time {
  const value = new Date(Math.floor(date.getTime() / 1000) * 1000);
  return new pkijs.Time({ type: value.getUTCFullYear() >= 2050 ? 1 : 0, value });
}

function serialBytes(hex: string | undefined): Uint8Array {
  if (hex === undefined) {
    const bytes = randomBytes(16);
    bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, and no leading zero byte to strip
    return bytes;
  }
  let digits = serialKey(hex);
  if (!/^[0-9A-F]+$/.test(digits)) throw new TypeError(`serial must be hex, got "${hex}"`);
  if (digits.length % 2) digits = `0${digits}`;
  const bytes = Buffer.from(digits, 'hex');
  // INTEGER is signed: a high first bit needs a 00 in front to stay positive.
  return bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

function ipBytes(ip: string): Uint8Array {
  const version = isIP(ip);
  if (version === 4) return Uint8Array.from(ip.split('.').map(Number));
  if (version !== 6) throw new TypeError(`not an IP address: "${ip}"`);
  const [head = '', tail = ''] = ip.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = ip.includes('::') ? groups(tail) : [];
  const all = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return Uint8Array.from(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

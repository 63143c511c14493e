import { StaplingError } from '../errors.js';
import { checkCertificate, invalidArgument } from '../options.js';
import { issuerHashes, type CertificateInfo } from '../pki.js';
import { CERT_ID_HASHES, type CertIdHash } from './parse.js';

/**
 * The OCSPRequest for one certificate (RFC 6960 section 4.1.1), in DER: one Request, no
 * requestorName, no signature and no nonce. Without a nonce, responders may answer from a
 * cache (RFC 5019), which is what a stapling job wants.
 *
 * The CertID is computed by the same `issuerHashes()` that matches responses, so a request
 * and the check of its answer cannot disagree. The bytes are the ones `openssl ocsp -no_nonce
 * -reqout` writes for the same certificate (a test compares them).
 *
 * @example
 * ```ts
 * const { leaf, issuer } = await loadCertificateChain('site.pem');
 * const der = buildOcspRequest(leaf, issuer, 'sha256');
 * ```
 */
export function buildOcspRequest(leaf: CertificateInfo, issuer: CertificateInfo, hash: CertIdHash = 'sha1'): Buffer {
  checkCertificate('buildOcspRequest', 'leaf', leaf);
  checkCertificate('buildOcspRequest', 'issuer', issuer);
  const oid = Object.keys(CERT_ID_HASHES).find((key) => CERT_ID_HASHES[key] === hash);
  if (!oid) throw invalidArgument('buildOcspRequest', 'hash', `one of ${Object.values(CERT_ID_HASHES).join(', ')}`, hash);
  const { nameHash, keyHash } = issuerHashes(issuer, hash);
  const certId = tlv(0x30, [
    tlv(0x30, [tlv(0x06, encodeOid(oid)), tlv(0x05, [])]), // AlgorithmIdentifier with NULL parameters, as openssl writes it
    tlv(0x04, nameHash),
    tlv(0x04, keyHash),
    tlv(0x02, leaf.serialNumber), // content octets exactly as encoded in the certificate
  ]);
  const request = tlv(0x30, [certId]);
  const tbsRequest = tlv(0x30, [tlv(0x30, [request])]);
  return tlv(0x30, [tbsRequest]);
}

/**
 * The responder URL to ask: `url` when given, else the first http(s) OCSP URL in the
 * certificate's Authority Information Access extension. Throws `ERR_FETCH_NO_URL`.
 */
export function responderUrl(leaf: CertificateInfo, url?: string | URL): URL {
  const candidates = url !== undefined ? [String(url)] : leaf.ocspUrls;
  for (const candidate of candidates) {
    let parsed: URL;
    try {
      parsed = new URL(candidate);
    } catch {
      continue;
    }
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return parsed;
  }
  throw new StaplingError('ERR_FETCH_NO_URL', url !== undefined ? 'the responder URL is not usable' : 'the certificate names no OCSP responder', {
    expected: url !== undefined ? 'an http: or https: URL' : 'an http: or https: OCSP URL in the Authority Information Access extension, or an explicit URL',
    found: candidates.length === 0 ? 'no URL' : candidates.join(', '),
  });
}

/**
 * The RFC 5019 section 5 GET URL for `request` under `base` (the base64 DER, URL-encoded, as
 * one more path segment), or null when that whole URL would be longer than 255 bytes: the RFC
 * allows GET only up to there, and larger requests must be POSTed.
 */
export function getUrlFor(base: URL, request: Uint8Array): URL | null {
  const encoded = encodeURIComponent(Buffer.from(request).toString('base64'));
  const url = new URL(base.href);
  url.pathname = (url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`) + encoded;
  return url.href.length <= 255 ? url : null;
}

function tlv(tag: number, content: Uint8Array | readonly Uint8Array[]): Buffer {
  const body = content instanceof Uint8Array ? Buffer.from(content) : Buffer.concat(content as Uint8Array[]);
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function encodeOid(oid: string): Buffer {
  const [first, second, ...rest] = oid.split('.').map(Number);
  const out: number[] = [];
  for (const arc of [first! * 40 + second!, ...rest]) {
    const chunk = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift((n & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return Buffer.from(out);
}

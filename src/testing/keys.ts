import { createPrivateKey, createPublicKey, generateKeyPair as generateKeyPairCb, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

/** Key type of a test certificate: RSA-2048 or ECDSA P-256. Signatures always use SHA-256. */
export type TestKeyType = 'rsa' | 'ec';

const generate = promisify(generateKeyPairCb);

/** A certificate and its private key, both PEM. Every {@link TestCertificate} is one; so are openssl-made files read as text. */
export interface PemKeyPair {
  /** The certificate, PEM. */
  readonly cert: string;
  /** The private key, PEM (PKCS#8, PKCS#1 or SEC1). */
  readonly key: string;
}

/** A fresh private key. */
export async function generateKey(type: TestKeyType): Promise<KeyObject> {
  const { privateKey } = type === 'rsa' ? await generate('rsa', { modulusLength: 2048 }) : await generate('ec', { namedCurve: 'P-256' });
  return privateKey;
}

/** PKCS#8 PEM of a private key. */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A private key from PEM (PKCS#8, PKCS#1 or SEC1, as openssl writes them). */
export function loadPrivateKey(keyPem: string): KeyObject {
  return createPrivateKey(keyPem);
}

/** The subjectPublicKeyInfo of a private key's public half, for a certificate. */
export function publicKeyInfo(key: KeyObject): pkijs.PublicKeyInfo {
  return pkijs.PublicKeyInfo.fromBER(createPublicKey(key).export({ type: 'spki', format: 'der' }));
}

const EC_SIGNATURES: Record<string, { oid: string; hash: string }> = {
  prime256v1: { oid: '1.2.840.10045.4.3.2', hash: 'sha256' },
  secp384r1: { oid: '1.2.840.10045.4.3.3', hash: 'sha384' },
  secp521r1: { oid: '1.2.840.10045.4.3.4', hash: 'sha512' },
};

/**
 * How `key` signs: sha256WithRSAEncryption (with the NULL parameters RFC 4055 asks for, which
 * pkijs leaves out), or ECDSA with the hash that matches the curve.
 */
function signatureScheme(key: KeyObject): { algorithm: pkijs.AlgorithmIdentifier; hash: string } {
  if (key.asymmetricKeyType === 'rsa') {
    return { algorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.113549.1.1.11', algorithmParams: new asn1js.Null() }), hash: 'sha256' };
  }
  const ec = key.asymmetricKeyType === 'ec' ? EC_SIGNATURES[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (!ec) throw new TypeError(`unsupported signing key: ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim());
  return { algorithm: new pkijs.AlgorithmIdentifier({ algorithmId: ec.oid }), hash: ec.hash };
}

/** Signs a certificate in place. */
export function signCertificate(cert: pkijs.Certificate, key: KeyObject): void {
  const { algorithm, hash } = signatureScheme(key);
  cert.signature = algorithm;
  cert.signatureAlgorithm = algorithm;
  cert.tbsView = new Uint8Array(cert.encodeTBS().toBER());
  cert.signatureValue = new asn1js.BitString({ valueHex: sign(hash, cert.tbsView, { key, dsaEncoding: 'der' }) });
}

/** Signs a basic OCSP response in place. */
export function signBasicResponse(basic: pkijs.BasicOCSPResponse, key: KeyObject): void {
  const { algorithm, hash } = signatureScheme(key);
  basic.signatureAlgorithm = algorithm;
  basic.tbsResponseData.tbsView = new Uint8Array(basic.tbsResponseData.toSchema(true).toBER());
  basic.signature = new asn1js.BitString({ valueHex: sign(hash, basic.tbsResponseData.tbsView, { key, dsaEncoding: 'der' }) });
}

/** PEM armour, 64 columns. */
export function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** DER of the first PEM block with this label. */
export function unpem(label: string, text: string): Buffer {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(text);
  if (!match) throw new TypeError(`no "${label}" PEM block found`);
  return Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
}

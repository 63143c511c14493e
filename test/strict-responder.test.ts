/**
 * Delegated responder certificates, judged: each case issues one responder certificate (the
 * openssl CLI, or a DER-level change re-signed by the CA: test/fixtures/responders.ts), has
 * `openssl ocsp` sign a good response with it, and staples the bytes unchecked to curl
 * --cert-status, gnutls-cli with and without --ocsp, and openssl ocsp -respin
 * (test/fixtures/judges.ts), next to the library's verdict; Firefox ESR (one session for the
 * file) loads the library's server, and judges the bytes stapled bare when the library refuses.
 *
 * For every case the test asserts the library's verdict (the refusal code pins the check),
 * exactly which clients reject it, and Firefox's error (`firefox`), so a client that changes
 * shows up here. The library refuses whatever a judge rejects; where it would refuse what every
 * judge accepts, `stricter` must say why (no case needs it today: every refusal here is some
 * judge's, measured). Each case runs on forks of the PKI (leaves of their own): one Firefox
 * visit per CertID (test/fixtures/browsers.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StaplingErrorCode } from '../src/index.js';
import { canonicalName, namesMatch } from '../src/names.js';
import { firefoxSession, type FirefoxSession } from './fixtures/browsers.js';
import { CLIENTS, describeVerdicts, judge, judgeCerts, limited, type ClientName, type Verdicts } from './fixtures/judges.js';
import { makePki, type Issued, type Pki } from './fixtures/pki.js';
import { craftResponder, der, GOOD_RESPONDER_EXTENSIONS, issueResponder } from './fixtures/responders.js';

const GNUTLS: readonly ClientName[] = ['gnutls', 'gnutlsPlain'];
const OPENSSL: readonly ClientName[] = ['curl', 'openssl'];
const ALL: readonly ClientName[] = CLIENTS;

const EKU_OCSP = der.hex('300a06082b06010505070309');
const OID = { skid: '2.5.29.14', ku: '2.5.29.15', san: '2.5.29.17', bc: '2.5.29.19', cdp: '2.5.29.31', akid: '2.5.29.35', eku: '2.5.29.37', aia: '1.3.6.1.5.5.7.1.1' };

interface ResponderCase {
  readonly name: string;
  /** The responder certificate; the response is `openssl ocsp` signing with it. */
  readonly responder: (pki: Pki, base: Issued) => Issued;
  /** responderID by key hash instead of by name. */
  readonly byKey?: boolean;
  readonly library: 'ok' | StaplingErrorCode;
  /** The judges that reject the response, exactly. */
  readonly rejectedBy: readonly ClientName[];
  /** Why the library refuses what every judge here accepts. */
  readonly stricter?: string;
  /** Firefox's error when it rejects the response stapled (measured), absent when it accepts it. */
  readonly firefox?: string;
}

const crafted = (craft: Parameters<typeof craftResponder>[2]) => (pki: Pki, base: Issued) => craftResponder(pki, base, craft);
const replaced = (oid: string, value: string, critical = false) => crafted({ remove: [oid], add: [{ oid, critical, value: der.hex(value) }] });
const withExtensions = (lines: string) => (pki: Pki) => issueResponder(pki, { extensions: `${GOOD_RESPONDER_EXTENSIONS}\n${lines}` });
const ecKey = (pki: Pki, curve: string, explicit = false) => {
  const file = join(pki.dir, `ec-${curve}-${explicit ? 'explicit' : 'named'}.key`);
  execFileSync('openssl', ['ecparam', '-name', curve, '-genkey', '-noout', ...(explicit ? ['-param_enc', 'explicit'] : []), '-out', file]);
  return file;
};

export const CASES: ResponderCase[] = [
  // Accepted by everyone: the rules stop here.
  { name: 'a well-formed responder', responder: (_pki, base) => base, library: 'ok', rejectedBy: [] },
  // No judge reads a responder's authorityInfoAccess, so neither does the library's verdict.
  { name: 'an authorityInfoAccess that is not AccessDescriptions (an INTEGER for accessMethod)', responder: replaced(OID.aia, '30053003020100'), library: 'ok', rejectedBy: [] },
  { name: 'an authorityInfoAccess that is not a SEQUENCE', responder: replaced(OID.aia, '020100'), library: 'ok', rejectedBy: [] },
  { name: 'an RSA-1024 responder (the smallest key GnuTLS takes)', responder: (pki) => issueResponder(pki, { newkey: 'rsa:1024' }), library: 'ok', rejectedBy: [] },
  { name: 'a P-384 responder', responder: (pki) => issueResponder(pki, { keyFile: ecKey(pki, 'secp384r1') }), library: 'ok', rejectedBy: [] },
  { name: 'keyUsage nonRepudiation only (no client requires digitalSignature)', responder: replaced(OID.ku, '03020640', true), library: 'ok', rejectedBy: [] },
  { name: 'critical nameConstraints and inhibitAnyPolicy', responder: withExtensions('nameConstraints = critical, permitted;DNS:example.test\ninhibitAnyPolicy = critical, 0'), library: 'ok', rejectedBy: [] },
  {
    name: "a responder named like the CA, responderID by key (the CA's key differs)",
    responder: (pki) => issueResponder(pki, { subject: '/O=ocsp-stapler tests/CN=Test Issuing CA' }),
    byKey: true,
    library: 'ok',
    rejectedBy: [],
  },

  // Repeated or malformed extensions.
  { name: 'extKeyUsage twice', responder: crafted({ add: [{ oid: OID.eku, value: EKU_OCSP }] }), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: ALL, firefox: 'SEC_ERROR_EXTENSION_VALUE_INVALID' },
  {
    name: 'an unknown non-critical extension twice (GnuTLS refuses any repeat)',
    responder: crafted({ add: [{ oid: '1.3.6.1.4.1.55555.2', value: der.hex('0500') }, { oid: '1.3.6.1.4.1.55555.2', value: der.hex('0500') }] }),
    library: 'ERR_OCSP_SIGNER_INVALID',
    rejectedBy: GNUTLS,
  },
  { name: 'subjectKeyIdentifier that is not an OCTET STRING', responder: replaced(OID.skid, '020101'), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: OPENSSL },
  { name: 'keyUsage that is not a BIT STRING', responder: replaced(OID.ku, '040180', true), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: OPENSSL, firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT' },
  { name: 'keyUsage with no bit set', responder: replaced(OID.ku, '03020000', true), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: OPENSSL },
  {
    name: 'keyUsage with padding bits that are not zero',
    responder: replaced(OID.ku, '03020781', true),
    library: 'ERR_OCSP_SIGNER_INVALID',
    rejectedBy: [],
    // Firefox (mozilla::pkix): CheckKeyUsage, "All of the padding bits must be zero".
    firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT',
  },
  { name: 'basicConstraints with a negative pathLenConstraint', responder: replaced(OID.bc, '3003020180'), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: OPENSSL, firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT' },
  { name: 'subjectAltName that is not GeneralNames', responder: crafted({ add: [{ oid: OID.san, value: der.hex('0500') }] }), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: ALL },
  {
    name: 'a CRL distribution point with neither distributionPoint nor cRLIssuer',
    responder: crafted({ add: [{ oid: OID.cdp, value: der.hex('30023000') }] }),
    library: 'ERR_OCSP_SIGNER_INVALID',
    rejectedBy: OPENSSL,
  },
  { name: "an authorityKeyIdentifier that is not the CA's key", responder: replaced(OID.akid, '3006800401020304'), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: ALL },
  {
    name: "an authorityKeyIdentifier whose authorityCertIssuer is not the CA's issuer",
    responder: replaced(OID.akid, '3016a114a4123010310e300c06035504030c054f74686572'),
    library: 'ERR_OCSP_SIGNER_INVALID',
    rejectedBy: OPENSSL,
  },
  { name: "an authorityKeyIdentifier naming another serial than the CA's", responder: replaced(OID.akid, '30038201ff'), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: OPENSSL },

  { name: 'an X.509 v1 certificate with extensions', responder: crafted({ version: 0 }), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: GNUTLS },
  {
    name: 'a negative serial number (RFC 5280 forbids it; no client refuses it)',
    responder: crafted({ serial: der.hex('ff01') }),
    library: 'ok',
    rejectedBy: [],
  },

  // Authorisation: critical extensions, CA bit, names.
  { name: 'critical policyMappings', responder: withExtensions('certificatePolicies = 1.2.3.4\npolicyMappings = critical, 1.2.3.4:1.2.3.5'), library: 'ERR_OCSP_SIGNER_UNAUTHORIZED', rejectedBy: GNUTLS, firefox: 'SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION' },
  { name: 'critical policyConstraints', responder: withExtensions('policyConstraints = critical, requireExplicitPolicy:0'), library: 'ERR_OCSP_SIGNER_UNAUTHORIZED', rejectedBy: GNUTLS },
  {
    name: 'critical id-pkix-ocsp-nocheck',
    responder: crafted({ add: [{ oid: '1.3.6.1.5.5.7.48.1.5', critical: true, value: der.hex('0500') }] }),
    library: 'ERR_OCSP_SIGNER_UNAUTHORIZED',
    rejectedBy: GNUTLS,
  },
  {
    name: 'critical cRLDistributionPoints',
    responder: withExtensions('crlDistributionPoints = critical, URI:http://127.0.0.1:9/ca.crl'),
    library: 'ERR_OCSP_SIGNER_UNAUTHORIZED',
    rejectedBy: [],
    // Firefox (mozilla::pkix): BackCert::RememberExtension does not know cRLDistributionPoints, so it is an unknown critical extension.
    firefox: 'SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION',
  },
  {
    name: 'basicConstraints cA TRUE',
    responder: replaced(OID.bc, '30030101ff', true),
    library: 'ERR_OCSP_SIGNER_UNAUTHORIZED',
    rejectedBy: [],
    // Firefox (mozilla::pkix): CheckBasicConstraints, ERROR_CA_CERT_USED_AS_END_ENTITY for a delegated responder that is a CA.
    firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT',
  },
  {
    name: "the responder's issuer Name in PrintableString, the CA's subject in UTF8String",
    responder: crafted({ printableIssuer: true }),
    library: 'ERR_OCSP_SIGNER_UNAUTHORIZED',
    rejectedBy: [],
    // Firefox (mozilla::pkix): CheckOCSPResponseSignerCert compares the issuer Name with the CA subject byte for byte (InputsAreEqual).
    firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT',
  },
  {
    name: "a responder named like the leaf, responderID by name (curl's OpenSSL picks the leaf as signer)",
    responder: (pki) => issueResponder(pki, { subject: '/CN=localhost' }),
    library: 'ERR_OCSP_SIGNER_UNAUTHORIZED',
    rejectedBy: ['curl'],
  },
  {
    name: "a responder with the leaf's key, responderID by key",
    responder: (pki) => issueResponder(pki, { keyFile: pki.leaf.key }),
    byKey: true,
    library: 'ERR_OCSP_SIGNER_UNAUTHORIZED',
    rejectedBy: ['curl'],
  },

  // Keys and signature algorithms.
  { name: 'an RSA-1023 responder', responder: (pki) => issueResponder(pki, { newkey: 'rsa:1023' }), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: GNUTLS },
  { name: 'an RSA-512 responder', responder: (pki) => issueResponder(pki, { newkey: 'rsa:512' }), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: GNUTLS, firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT' },
  { name: 'a responder certificate signed with SHA-1', responder: (pki) => issueResponder(pki, { digest: 'sha1' }), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: GNUTLS, firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT' },
  {
    name: 'a responder certificate signed with SHA-224',
    responder: (pki) => issueResponder(pki, { digest: 'sha224' }),
    library: 'ERR_OCSP_SIGNER_INVALID',
    rejectedBy: [],
    // Firefox (mozilla::pkix): der::SignatureAlgorithmIdentifierValue leaves sha224WithRSAEncryption out on purpose.
    firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT',
  },
  { name: 'an EC key with explicit parameters', responder: (pki) => issueResponder(pki, { keyFile: ecKey(pki, 'prime256v1', true) }), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: ALL, firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT' },
  { name: 'an EC key on secp256k1', responder: (pki) => issueResponder(pki, { keyFile: ecKey(pki, 'secp256k1') }), library: 'ERR_OCSP_SIGNER_INVALID', rejectedBy: GNUTLS, firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT' },
  {
    name: 'an EC key on P-224',
    responder: (pki) => issueResponder(pki, { keyFile: ecKey(pki, 'secp224r1') }),
    library: 'ERR_OCSP_SIGNER_INVALID',
    rejectedBy: [],
    // Firefox (mozilla::pkix): CheckSubjectPublicKeyInfoContents takes only P-256, P-384 and P-521 (ERROR_UNSUPPORTED_ELLIPTIC_CURVE).
    firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT',
  },
  {
    name: 'an Ed25519 responder',
    responder: (pki) => {
      const keyFile = join(pki.dir, 'ed25519.key');
      execFileSync('openssl', ['genpkey', '-algorithm', 'ED25519', '-out', keyFile]);
      return issueResponder(pki, { keyFile });
    },
    library: 'ERR_OCSP_SIGNER_INVALID',
    rejectedBy: [],
    // Firefox (mozilla::pkix): CheckSubjectPublicKeyInfoContents takes only RSA and ECDSA keys (ERROR_UNSUPPORTED_KEYALG).
    firefox: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT',
  },
];

let pki: Pki;
let firefox: FirefoxSession | undefined;
const verdicts = new Map<string, Verdicts>();

before(async () => {
  pki = makePki();
  firefox = await firefoxSession(pki.root.cert);
  const base = issueResponder(pki);
  const tasks = CASES.map((c) => async () => {
    const signer = c.responder(pki, base);
    // Each response about a leaf of its own (a fork of the PKI): Firefox caches OCSP answers by CertID.
    const make = () => {
      const fork = pki.fork();
      return { bytes: fork.respond({ signer, ...(c.byKey ? { keyId: true } : {}) }), certs: judgeCerts(fork) };
    };
    const first = make();
    return [c.name, await judge(first.bytes, first.certs, { session: firefox!, again: make })] as const;
  });
  for (const [name, v] of await limited(tasks)) verdicts.set(name, v);
});
after(async () => {
  await firefox?.close();
  pki?.remove();
});

describe('delegated responder certificates: the library refuses whatever a strict client rejects', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const v = verdicts.get(c.name)!;
      const summary = describeVerdicts(v);
      assert.equal(v.library.verify, c.library, summary);
      assert.ok(v.firefox?.served.loads, `Firefox loads the library's server: ${summary}`);
      assert.equal(v.firefox.staple.loads ? undefined : v.firefox.staple.error, c.firefox, `Firefox on the response stapled: ${summary}`);
      assert.deepEqual(v.rejectedBy.filter((n) => n !== 'firefox'), CLIENTS.filter((n) => c.rejectedBy.includes(n)), `judges: ${summary}`);
      if (v.stapled) assert.deepEqual(v.rejectedBy, [], `stapled although judges reject it: ${summary}`);
      else if (v.rejectedBy.length === 0) assert.ok(c.stricter, `the library refuses what every judge accepts; say why: ${summary}`);
      else assert.equal(c.stricter, undefined, 'judges reject it: not stricter, drop the note');
    });
  }
});

describe('names compared as OpenSSL compares them (RFC 5280 section 7.1)', () => {
  const utf8 = der.hex('301e311c301a06035504030c13202054657374202049737375696e6709434120') // '  Test  Issuing\tCA ';
  const printable = der.hex('301a311830160603550403130f746573742069737375696e67206361'); // 'test issuing ca'
  it('ignores the string type, letter case and runs of white space', () => {
    assert.equal(canonicalName(utf8), canonicalName(printable));
    assert.ok(namesMatch(utf8, printable));
  });
  it('tells different values apart', () => {
    const other = der.hex('301a311830160603550403130f746573742069737375696e67206362'); // 'test issuing cb'
    assert.ok(!namesMatch(printable, other));
  });
  it('does not match an unreadable Name', () => {
    assert.ok(!namesMatch(printable, der.hex('0500')));
  });
});

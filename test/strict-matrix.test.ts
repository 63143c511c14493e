/**
 * The crafted-response matrix: responses built at test time (test/fixtures/craft.ts, signed
 * with the test PKI's keys, or made by `openssl ocsp`), each stapled unchecked by a bare
 * listener to curl --cert-status, gnutls-cli --ocsp, plain gnutls-cli, and judged by
 * openssl ocsp -respin (test/fixtures/judges.ts), next to the library's own verdict; and
 * Firefox ESR (one session for the file, test/fixtures/browsers.ts) on the library's server
 * and, when the library refuses the bytes, on a bare listener stapling them.
 *
 * For every case:
 * - the library's verdict is the one written in the case (the refusal code pins the check);
 * - Firefox loads the library's server, whatever the library decided;
 * - Firefox's verdict on the bytes stapled is the one written in the case (`firefox`);
 * - when any judge rejects the response, the library refuses it, unless the case names those
 *   judges in `staplesDespite` with the reason (docs/STRICTNESS.md says it too);
 * - when the library refuses what every judge here accepts, the case says why in `stricter`.
 * Judge verdicts are asserted exactly, so a change in a client shows up here. Each case runs on
 * a fork of the PKI (leaves with serial numbers of their own), made twice when Firefox judges
 * the refused bytes: one Firefox visit per CertID (test/fixtures/browsers.ts, FirefoxSession).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { StaplingErrorCode } from '../src/index.js';
import { bool, buildResponse, certId, currentWindow, extension, forgedCopy, octets, oid, pemDer, seq, tlv, type SingleSpec } from './fixtures/craft.js';
import { firefoxSession, type FirefoxSession } from './fixtures/browsers.js';
import { describeVerdicts, judge, judgeCerts, JUDGES, limited, type JudgeCerts, type JudgeName, type Verdicts } from './fixtures/judges.js';
import { makePki, type Pki } from './fixtures/pki.js';

const DAY = 86_400_000;

/** What a case can build from. */
interface Fixture {
  readonly pki: Pki;
  /** DER of the PKI's certificates. */
  readonly der: { readonly ca: Buffer; readonly root: Buffer; readonly leaf: Buffer; readonly responder: Buffer; readonly otherCa: Buffer };
  /** A SingleResponse for pki.leaf, good and current (SHA-1 CertID). */
  readonly ours: SingleSpec;
  /** thisUpdate an hour ago, nextUpdate in six days. */
  readonly window: { readonly thisUpdate: Date; readonly nextUpdate: Date };
}

interface MatrixCase {
  readonly name: string;
  readonly make: (f: Fixture) => Buffer;
  /** Whose certificates (default pki.leaf issued by pki.ca). */
  readonly certs?: (pki: Pki) => JudgeCerts;
  /** The library's verdict: `'ok'` (stapled) or its refusal code. */
  readonly library: 'ok' | StaplingErrorCode;
  /** Judges that reject a response the library staples, and why that is right. */
  readonly staplesDespite?: { readonly clients: readonly JudgeName[]; readonly why: string };
  /** Why the library refuses a response that every judge here accepts. */
  readonly stricter?: string;
  /** Firefox's error when it rejects the bytes stapled (measured), absent when it accepts them. */
  readonly firefox?: string;
}

const CARRIED =
  'the unsigned certs field may hold only what responders send (nothing or the issuer; the responder, then optionally the issuer): ' +
  'each client picks signers and chain certificates from it by its own rules (STRICTNESS.md, "The certs field")';
const NONCE = '1.3.6.1.5.5.7.48.1.2';
const PRIVATE = '1.3.6.1.4.1.55555.9';
const nonce = extension(NONCE, octets(Buffer.alloc(16, 7)));
const SCT_LIST = '1.3.6.1.4.1.11129.2.4.5';
const sct = (list: Buffer) => extension(SCT_LIST, octets(list));
const expired = (s: SingleSpec): SingleSpec => ({ ...s, thisUpdate: new Date(Date.now() - 9 * DAY), nextUpdate: new Date(Date.now() - 8 * DAY) });

const SHA256_CERTID =
  'curl 7.88 and openssl ocsp look the staple up by a SHA-1 CertID only, so without a staple they fail the same way; ' +
  'GnuTLS and Firefox accept SHA-256 CertIDs, and some CAs answer only SHA-256 (STRICTNESS.md, "CertID hash")';

export const CASES: MatrixCase[] = [
  // Neighbours: the rules that held before families 1-3.
  { name: 'good, issuer-signed, made by openssl ocsp', make: ({ pki }) => pki.respond(), library: 'ok' },
  { name: 'good, issuer-signed, crafted', make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours] }), library: 'ok' },
  {
    name: 'good, delegated responder carried alone',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.responder, singles: [ours], certs: [der.responder] }),
    library: 'ok',
  },
  { name: 'revoked', make: ({ pki }) => pki.respond({ status: 'revoked' }), library: 'ERR_OCSP_REVOKED', firefox: 'SEC_ERROR_REVOKED_CERTIFICATE' },
  {
    name: 'unknown',
    make: ({ pki }) => pki.respond({ status: 'unknown' }),
    library: 'ERR_OCSP_UNKNOWN',
    firefox: 'SEC_ERROR_OCSP_UNKNOWN_CERT',
    // Measured: gnutls-cli 3.7.9 with and without --ocsp completes the handshake on an "unknown" staple.
    // curl refuses it: stapling nothing is then no worse, and a good staple kept is better.
  },
  { name: 'not DER at all', make: () => Buffer.from('garbage'), library: 'ERR_OCSP_MALFORMED', firefox: 'SEC_ERROR_OCSP_MALFORMED_RESPONSE' },
  { name: 'signed by another CA with the same name', make: ({ pki }) => pki.respond({ signer: pki.otherCa }), library: 'ERR_OCSP_BAD_SIGNATURE', firefox: 'SEC_ERROR_OCSP_BAD_SIGNATURE' },
  {
    // Two days, not one: Firefox accepts a response up to a day after nextUpdate (its slop), so
    // a day would put the case on Firefox's edge. The library staples nothing past nextUpdate.
    name: 'expired (nextUpdate two days ago)',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, thisUpdate: new Date(Date.now() - 4 * DAY), nextUpdate: new Date(Date.now() - 2 * DAY) }] }),
    library: 'ERR_OCSP_EXPIRED',
    firefox: 'SEC_ERROR_OCSP_OLD_RESPONSE',
  },
  // Family 5: freshness as Firefox judges it (thisUpdate + 10 days, whatever nextUpdate says).
  {
    name: 'a 30-day response 9 days after thisUpdate',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, thisUpdate: new Date(Date.now() - 9 * DAY), nextUpdate: new Date(Date.now() + 21 * DAY) }] }),
    library: 'ok',
  },
  {
    name: 'a 30-day response 15 days after thisUpdate',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, thisUpdate: new Date(Date.now() - 15 * DAY), nextUpdate: new Date(Date.now() + 15 * DAY) }] }),
    library: 'ERR_OCSP_TOO_OLD',
    // Firefox fails a staple older than thisUpdate + 10 days (STRICTNESS.md, "Freshness").
    firefox: 'SEC_ERROR_OCSP_OLD_RESPONSE',
  },
  {
    name: 'a forged copy of the responder carried before the real one',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.responder, singles: [ours], certs: [forgedCopy(der.responder, pki.otherCa), der.responder] }),
    library: 'ERR_OCSP_SIGNER_UNAUTHORIZED',
  },
  {
    name: 'SHA-256 CertID only',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, certId: certId(pki.leaf, pki.ca, 'sha256') }] }),
    library: 'ok',
    staplesDespite: { clients: ['curl', 'openssl'], why: SHA256_CERTID },
  },
  {
    name: 'ours second of two SingleResponses',
    make: ({ pki, ours, window }) => buildResponse({ signer: pki.ca, singles: [{ certId: certId(pki.leaf2, pki.ca), ...window }, ours] }),
    library: 'ERR_OCSP_CERTID_MISMATCH',
  },
  { name: 'trailing bytes after the response', make: ({ pki }) => Buffer.concat([pki.respond(), Buffer.from([0])]), library: 'ERR_OCSP_TRAILING_DATA', firefox: 'SEC_ERROR_OCSP_MALFORMED_RESPONSE' }, // gnutls-cli rejects it; curl and openssl read the first value
  { name: 'responseStatus tryLater', make: () => Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x03]), library: 'ERR_OCSP_RESPONSE_STATUS', firefox: 'SEC_ERROR_OCSP_TRY_SERVER_LATER' },
  {
    // Not two days: Firefox's day of slop would put the case on its edge.
    name: 'no nextUpdate, thisUpdate three days ago',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, thisUpdate: new Date(Date.now() - 3 * DAY), nextUpdate: null }] }),
    library: 'ERR_OCSP_EXPIRED',
    // Firefox counts a response without nextUpdate as current for one day after thisUpdate, plus a day of slop (pkixocsp.cpp SingleResponse; STRICTNESS.md, "Freshness").
    firefox: 'SEC_ERROR_OCSP_OLD_RESPONSE',
  },
  {
    name: 'a carried certificate that is not a certificate',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours], certs: [seq(tlv(0x02, Buffer.from([1])))] }),
    library: 'ERR_OCSP_MALFORMED',
  },
  // Family 1: the unsigned certs field.
  { name: 'issuer-signed, carrying an exact copy of the issuer', make: ({ pki, ours, der }) => buildResponse({ signer: pki.ca, singles: [ours], certs: [der.ca] }), library: 'ok' },
  {
    name: 'delegated, carrying the responder then the issuer',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.responder, singles: [ours], certs: [der.responder, der.ca] }),
    library: 'ok',
  },
  {
    name: "issuer-signed, carrying a self-made certificate with the issuer's name and key",
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.ca, singles: [ours], certs: [forgedCopy(der.ca, pki.otherCa)] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
  },
  {
    name: 'issuer-signed byKey, carrying the self-made look-alike',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.ca, responderId: 'key', singles: [ours], certs: [forgedCopy(der.ca, pki.otherCa)] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
  },
  {
    name: 'issuer-signed, carrying the look-alike before the real issuer',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.ca, singles: [ours], certs: [forgedCopy(der.ca, pki.otherCa), der.ca] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
  },
  {
    name: 'issuer-signed, carrying the look-alike after the real issuer',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.ca, singles: [ours], certs: [der.ca, forgedCopy(der.ca, pki.otherCa)] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
    stricter: CARRIED,
  },
  {
    name: 'issuer-signed, carrying another CA with the same name',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.ca, singles: [ours], certs: [der.otherCa] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
  },
  {
    name: 'issuer-signed, carrying the issuer and the root',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.ca, singles: [ours], certs: [der.ca, der.root] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
    stricter: CARRIED,
  },
  {
    name: 'issuer-signed, carrying a delegated responder nobody needs',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.ca, singles: [ours], certs: [der.responder] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
    stricter: CARRIED,
  },
  {
    name: 'delegated, carrying the look-alike of the issuer after the responder',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.responder, singles: [ours], certs: [der.responder, forgedCopy(der.ca, pki.otherCa)] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
  },
  {
    name: 'delegated byKey, carrying the look-alike of the issuer after the responder',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.responder, responderId: 'key', singles: [ours], certs: [der.responder, forgedCopy(der.ca, pki.otherCa)] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
  },
  {
    name: 'delegated, carrying the issuer before the responder',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.responder, singles: [ours], certs: [der.ca, der.responder] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
    stricter: CARRIED,
  },
  {
    name: 'delegated, carrying the responder, the issuer and the root',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.responder, singles: [ours], certs: [der.responder, der.ca, der.root] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
    stricter: CARRIED,
  },
  {
    name: 'delegated, carrying a forged copy of the responder after the real one',
    make: ({ pki, ours, der }) => buildResponse({ signer: pki.responder, singles: [ours], certs: [der.responder, forgedCopy(der.responder, pki.otherCa)] }),
    library: 'ERR_OCSP_CARRIED_CERTS',
    stricter: CARRIED,
  },
  // Family 2: extensions.
  { name: 'a nonce in responseExtensions', make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours], responseExtensions: seq(nonce) }), library: 'ok' },
  {
    // Firefox ignores every non-critical extension it does not process, twice or not; so do the others.
    name: 'the same nonce twice in responseExtensions',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours], responseExtensions: seq(nonce, nonce) }),
    library: 'ok',
  },
  {
    name: 'a private extension twice in singleExtensions',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, extensions: seq(extension(PRIVATE, tlv(0x05)), extension(PRIVATE, tlv(0x05))) }] }),
    library: 'ok',
  },
  // The SCT list (RFC 6962 section 3.3) is the one singleExtension Firefox processes: once, not empty.
  { name: 'an SCT list in singleExtensions', make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, extensions: seq(sct(Buffer.from([0, 0]))) }] }), library: 'ok' },
  {
    name: 'an SCT list twice in singleExtensions',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, extensions: seq(sct(Buffer.from([0, 0])), sct(Buffer.from([0, 0]))) }] }),
    library: 'ERR_OCSP_EXTENSION_INVALID',
    firefox: 'SEC_ERROR_EXTENSION_VALUE_INVALID',
  },
  {
    name: 'an SCT list extension whose extnValue is empty',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, extensions: seq(extension(SCT_LIST, Buffer.alloc(0))) }] }),
    library: 'ERR_OCSP_EXTENSION_INVALID',
    firefox: 'SEC_ERROR_EXTENSION_VALUE_INVALID',
  },
  {
    // Firefox decodes the list itself later, for Certificate Transparency, and ignores one it cannot read.
    name: 'an SCT list extension holding an empty OCTET STRING',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, extensions: seq(sct(Buffer.alloc(0))) }] }),
    library: 'ok',
  },
  {
    name: 'ours twice in SHA-1, each with an SCT list',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, extensions: seq(sct(Buffer.from([0, 0]))) }, { ...ours, extensions: seq(sct(Buffer.from([0, 0]))) }] }),
    library: 'ERR_OCSP_EXTENSION_INVALID',
    firefox: 'SEC_ERROR_EXTENSION_VALUE_INVALID',
  },
  {
    name: 'an SCT list twice in the SingleResponse of another certificate',
    make: ({ pki, ours, window }) =>
      buildResponse({ signer: pki.ca, singles: [ours, { certId: certId(pki.leaf2, pki.ca), ...window, extensions: seq(sct(Buffer.from([0, 0])), sct(Buffer.from([0, 0]))) }] }),
    library: 'ok',
  },
  {
    name: 'an empty responseExtensions list, and an explicit critical FALSE (both seen in the field; mozilla::pkix takes them)',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, extensions: seq(extension(PRIVATE, tlv(0x05), false)) }], responseExtensions: seq() }),
    library: 'ok',
  },
  {
    name: 'responseExtensions that is not a SEQUENCE',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours], responseExtensions: octets(Buffer.from([1, 2])) }),
    library: 'ERR_OCSP_MALFORMED',
    firefox: 'SEC_ERROR_OCSP_MALFORMED_RESPONSE',
  },
  { name: 'responseExtensions as a SET', make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours], responseExtensions: tlv(0x31, nonce) }), library: 'ERR_OCSP_MALFORMED', firefox: 'SEC_ERROR_OCSP_MALFORMED_RESPONSE' },
  {
    name: 'an Extension without extnValue',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours], responseExtensions: seq(seq(oid(PRIVATE))) }),
    library: 'ERR_OCSP_MALFORMED',
    firefox: 'SEC_ERROR_OCSP_MALFORMED_RESPONSE',
  },
  {
    name: 'an Extension with critical after extnValue',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours], responseExtensions: seq(seq(oid(PRIVATE), octets(Buffer.alloc(1)), bool(true))) }),
    library: 'ERR_OCSP_MALFORMED',
    firefox: 'SEC_ERROR_OCSP_MALFORMED_RESPONSE',
  },
  {
    name: 'singleExtensions with an item that is not a SEQUENCE',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, extensions: seq(octets(Buffer.alloc(2))) }] }),
    library: 'ERR_OCSP_MALFORMED',
    firefox: 'SEC_ERROR_OCSP_MALFORMED_RESPONSE',
  },
  {
    name: 'an extnValue that is not an OCTET STRING in singleExtensions',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, extensions: seq(seq(oid(PRIVATE), tlv(0x05))) }] }),
    library: 'ERR_OCSP_MALFORMED',
    firefox: 'SEC_ERROR_OCSP_MALFORMED_RESPONSE',
  },
  {
    name: 'a critical nonce',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours], responseExtensions: seq(extension(NONCE, octets(Buffer.alloc(16, 7)), true)) }),
    library: 'ERR_OCSP_CRITICAL_EXTENSION',
    // mozilla::pkix (OptionalExtensions) fails on a critical extension it does not process (STRICTNESS.md, "Extensions").
    firefox: 'SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION',
  },
  {
    name: 'a critical unknown singleExtension',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, extensions: seq(extension(PRIVATE, tlv(0x05), true)) }] }),
    library: 'ERR_OCSP_CRITICAL_EXTENSION',
    // mozilla::pkix (OptionalExtensions) fails on a critical extension it does not process (STRICTNESS.md, "Extensions").
    firefox: 'SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION',
  },
  // Family 3: several SingleResponses.
  {
    name: 'ours, then other certificates of the same CA (one revoked, one expired)',
    make: ({ pki, ours, window }) =>
      buildResponse({ signer: pki.ca, singles: [ours, { certId: certId(pki.leaf2, pki.ca), ...window, status: 'revoked' }, expired({ certId: certId(pki.leaf2, pki.ca), ...window })] }),
    library: 'ok',
  },
  {
    name: 'ours, then a SingleResponse of another CA',
    make: ({ pki, ours, window }) => buildResponse({ signer: pki.ca, singles: [ours, { certId: certId(pki.otherLeaf, pki.otherCa), ...window }] }),
    library: 'ERR_OCSP_MIXED_ISSUERS',
  },
  {
    name: 'delegated: ours, then a SingleResponse of another CA',
    make: ({ pki, ours, window, der }) => buildResponse({ signer: pki.responder, certs: [der.responder], singles: [ours, { certId: certId(pki.otherLeaf, pki.otherCa), ...window }] }),
    library: 'ERR_OCSP_MIXED_ISSUERS',
  },
  {
    name: 'ours, then a CertID with a hash algorithm nobody knows',
    make: ({ pki, ours, window }) =>
      buildResponse({ signer: pki.ca, singles: [ours, { certId: seq(seq(oid('1.2.3.4.5')), octets(Buffer.alloc(20)), octets(Buffer.alloc(20)), tlv(0x02, Buffer.from([5]))), ...window }] }),
    library: 'ERR_OCSP_MIXED_ISSUERS',
  },
  {
    name: 'ours in SHA-1 and in SHA-256, both good',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours, { ...ours, certId: certId(pki.leaf, pki.ca, 'sha256') }] }),
    library: 'ok',
  },
  // Firefox checks every SingleResponse that names the certificate: any expired one fails, a
  // future one too, and revoked wins (pkixocsp.cpp SingleResponse; STRICTNESS.md, "Several SingleResponses").
  {
    name: 'ours in SHA-256 first, ours in SHA-1 second and expired (curl reads the SHA-1 one)',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [{ ...ours, certId: certId(pki.leaf, pki.ca, 'sha256') }, expired(ours)] }),
    library: 'ERR_OCSP_EXPIRED',
    firefox: 'SEC_ERROR_OCSP_OLD_RESPONSE',
  },
  {
    name: 'ours twice in SHA-1, the second expired',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours, expired(ours)] }),
    library: 'ERR_OCSP_EXPIRED',
    firefox: 'SEC_ERROR_OCSP_OLD_RESPONSE',
  },
  {
    name: 'ours twice in SHA-1, the second not valid for two more days',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours, { ...ours, thisUpdate: new Date(Date.now() + 2 * DAY), nextUpdate: new Date(Date.now() + 9 * DAY) }] }),
    library: 'ERR_OCSP_NOT_YET_VALID',
    firefox: 'SEC_ERROR_OCSP_FUTURE_RESPONSE',
  },
  {
    name: 'ours twice in SHA-1, the second revoked',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours, { ...ours, status: 'revoked' }] }),
    library: 'ERR_OCSP_REVOKED',
    firefox: 'SEC_ERROR_REVOKED_CERTIFICATE',
  },
  {
    name: 'ours twice in SHA-1, the second unknown',
    make: ({ pki, ours }) => buildResponse({ signer: pki.ca, singles: [ours, { ...ours, status: 'unknown' }] }),
    library: 'ERR_OCSP_UNKNOWN',
    stricter:
      'the library never staples an answer of unknown (curl refuses one alone), and two answers for one certificate leave the choice to each client; ' +
      'every judge here, and Firefox (good wins over unknown), takes the good one (STRICTNESS.md, "Several SingleResponses")',
  },
];

let pki: Pki;
let firefox: FirefoxSession | undefined;
const verdicts = new Map<string, Verdicts>();

before(async () => {
  pki = makePki();
  firefox = await firefoxSession(pki.root.cert);
  const der = (file: string) => pemDer(readFileSync(file, 'latin1'));
  const fixture = (p: Pki): Fixture => {
    const window = currentWindow();
    return {
      pki: p,
      der: { ca: der(p.ca.cert), root: der(p.root.cert), leaf: der(p.leaf.cert), responder: der(p.responder.cert), otherCa: der(p.otherCa.cert) },
      ours: { certId: certId(p.leaf, p.ca), ...window },
      window,
    };
  };
  // Every case on a fork of its own (leaves with their own serial numbers): Firefox caches OCSP
  // answers by CertID for the whole session.
  const results = await limited(
    CASES.map((c) => async () => {
      const make = () => {
        const fork = pki.fork();
        return { bytes: c.make(fixture(fork)), certs: (c.certs ?? judgeCerts)(fork) };
      };
      const first = make();
      return [c.name, await judge(first.bytes, first.certs, { session: firefox!, again: make })] as const;
    }),
  );
  for (const [name, v] of results) verdicts.set(name, v);
});
after(async () => {
  await firefox?.close();
  pki?.remove();
});

describe('crafted responses: the library refuses whatever a strict client rejects', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const v = verdicts.get(c.name)!;
      const summary = describeVerdicts(v);
      assert.equal(v.library.verify, c.library, summary);
      assert.ok(v.firefox?.served.loads, `Firefox loads the library's server: ${summary}`);
      assert.equal(v.firefox.staple.loads ? undefined : v.firefox.staple.error, c.firefox, `Firefox on the bytes stapled: ${summary}`);
      if (v.stapled) {
        const allowed = new Set(c.staplesDespite?.clients ?? []);
        assert.deepEqual(v.rejectedBy, JUDGES.filter((n) => allowed.has(n)), `stapled; judges rejecting: ${summary}`);
      } else {
        assert.equal(c.staplesDespite, undefined, 'a refused case cannot be stapled despite judges');
        if (v.rejectedBy.length === 0) assert.ok(c.stricter, `the library refuses what every judge accepts; say why: ${summary}`);
        else assert.equal(c.stricter, undefined, `judges reject it (${v.rejectedBy.join(', ')}): not stricter, drop the note`);
      }
    });
  }
});

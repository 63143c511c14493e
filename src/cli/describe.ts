import { decodeDer, oidFrom, TAG, type DerNode } from '../der.js';
import type { OcspResponse, SingleResponse } from '../ocsp/parse.js';
import { CRL_REASONS } from '../ocsp/parse.js';
import { algorithmName, DEFAULT_LIMITS, OCSP_SIGNING, staplingEnd } from '../ocsp/verify.js';
import { readCertificate } from '../pki.js';
import { nameLine, printable } from '../printable.js';

/** "3d 4h 5m" for a span of milliseconds; "0m" under a minute. */
export function span(ms: number): string {
  const minutes = Math.floor(Math.abs(ms) / 60_000);
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  const parts = [d ? `${d}d` : '', h ? `${h}h` : '', `${m}m`].filter(Boolean);
  return (d || h) && m === 0 ? parts.slice(0, -1).join(' ') : parts.join(' ');
}

/** "valid for 3h 2m more" or "expired 5m ago". */
export function timeLeft(until: number, now: number): string {
  return until > now ? `${span(until - now)} left` : `expired ${span(now - until)} ago`;
}

const NAME_ATTRIBUTES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** An X.501 Name (DER) as "CN=..., O=...", printable; the hex when it cannot be read. */
export function nameToString(der: Buffer): string {
  try {
    const parts: string[] = [];
    for (const rdn of decodeDer(der).children) {
      for (const atv of rdn.children) {
        const [type, value] = atv.children as [DerNode, DerNode];
        const oid = oidFrom(der, type);
        const text = value.tag === TAG.SEQUENCE ? '?' : der.subarray(value.contentStart, value.end).toString(value.tag === 0x1e ? 'utf16le' : 'utf8');
        parts.push(`${NAME_ATTRIBUTES[oid] ?? oid}=${text}`);
      }
    }
    return printable(parts.join(', '));
  } catch {
    return der.toString('hex');
  }
}

/** Plain, JSON-friendly facts about one parsed response, for `inspect`. */
export interface Inspection {
  readonly responseStatus: 'successful';
  readonly responder: string;
  readonly producedAt: string;
  readonly signatureAlgorithm: string;
  readonly certificates: ReadonlyArray<{
    subject: string;
    issuer: string;
    serial: string;
    notBefore: string;
    notAfter: string;
    ocspSigning: boolean;
    error?: string;
  }>;
  readonly responses: ReadonlyArray<{
    certId: { hashAlgorithm: string; issuerNameHash: string; issuerKeyHash: string; serialNumber: string };
    certStatus: string;
    revocationTime: string | null;
    revocationReason: string | null;
    thisUpdate: string;
    nextUpdate: string | null;
    /**
     * When the library stops stapling it with default limits: nextUpdate, or earlier when
     * thisUpdate plus 10 days (Firefox's limit) comes first (one day without nextUpdate).
     * A delegated responder's notAfter can end it sooner; `check` says.
     */
    validUntil: string;
    /** What ends it: `nextUpdate`, `maxAgeWithoutNextUpdate` or `maxAge` (10 days after thisUpdate). */
    endsBy: 'nextUpdate' | 'maxAgeWithoutNextUpdate' | 'maxAge';
    timeLeft: string;
  }>;
}

/** Everything `inspect` shows about a parsed response; no check is made. */
export function inspect(response: OcspResponse, now: number): Inspection {
  const id = response.responderId;
  const certificates = response.certs.map((der) => {
    try {
      const cert = readCertificate(der);
      return {
        subject: nameLine(cert.x509.subject),
        issuer: nameLine(cert.x509.issuer),
        serial: cert.x509.serialNumber.toUpperCase(),
        notBefore: cert.notBefore.toISOString(),
        notAfter: cert.notAfter.toISOString(),
        ocspSigning: cert.extendedKeyUsage.includes(OCSP_SIGNING),
      };
    } catch (err) {
      return { subject: '?', issuer: '?', serial: '?', notBefore: '?', notAfter: '?', ocspSigning: false, error: printable(String((err as Error).message ?? err)) };
    }
  });
  return {
    responseStatus: 'successful',
    responder: 'byName' in id ? `byName ${nameToString(id.byName)}` : `byKey ${id.byKey.toString('hex')}`,
    producedAt: response.producedAt.toISOString(),
    signatureAlgorithm: algorithmName(response.signatureAlgorithm),
    certificates,
    responses: response.responses.map((single) => describeSingle(single, now)),
  };
}

function describeSingle(single: SingleResponse, now: number): Inspection['responses'][number] {
  const { certId } = single;
  const reason = single.revocationReason;
  const { until, ownEnd } = staplingEnd(single, DEFAULT_LIMITS);
  return {
    certId: {
      hashAlgorithm: certId.hash ?? certId.hashAlgorithm,
      issuerNameHash: certId.issuerNameHash.toString('hex'),
      issuerKeyHash: certId.issuerKeyHash.toString('hex'),
      serialNumber: certId.serialNumber.toString('hex').toUpperCase(),
    },
    certStatus: single.certStatus,
    revocationTime: single.revocationTime?.toISOString() ?? null,
    revocationReason: reason === undefined ? null : (CRL_REASONS[reason] ?? String(reason)),
    thisUpdate: single.thisUpdate.toISOString(),
    nextUpdate: single.nextUpdate?.toISOString() ?? null,
    validUntil: new Date(until).toISOString(),
    endsBy: until < ownEnd ? 'maxAge' : single.nextUpdate ? 'nextUpdate' : 'maxAgeWithoutNextUpdate',
    timeLeft: timeLeft(until, now),
  };
}

const ENDS_BY: Record<Inspection['responses'][number]['endsBy'], string> = {
  nextUpdate: 'nextUpdate',
  maxAgeWithoutNextUpdate: `no nextUpdate: thisUpdate + ${span(DEFAULT_LIMITS.maxAgeWithoutNextUpdateMs)}`,
  maxAge: `thisUpdate + ${span(DEFAULT_LIMITS.maxAgeMs)}, Firefox's limit, before nextUpdate`,
};

/** The human dump of {@link inspect}. */
export function inspectionText(file: string, bytes: number, i: Inspection): string {
  const lines = [
    `${file}: ${bytes} bytes`,
    `responseStatus:     ${i.responseStatus}`,
    `responder:          ${i.responder}`,
    `producedAt:         ${i.producedAt}`,
    `signatureAlgorithm: ${i.signatureAlgorithm}`,
    `certificates:       ${i.certificates.length}`,
  ];
  i.certificates.forEach((c, n) => {
    lines.push(`  [${n}] subject ${c.subject}`);
    if (c.error) lines.push(`      unreadable: ${c.error}`);
    else {
      lines.push(`      issuer ${c.issuer}, serial ${c.serial}`);
      lines.push(`      valid ${c.notBefore} to ${c.notAfter}${c.ocspSigning ? ', id-kp-OCSPSigning' : ''}`);
    }
  });
  lines.push(`responses:          ${i.responses.length}`);
  i.responses.forEach((r, n) => {
    lines.push(`  [${n}] CertID ${r.certId.hashAlgorithm} serial ${r.certId.serialNumber}`);
    lines.push(`      issuerNameHash ${r.certId.issuerNameHash}`);
    lines.push(`      issuerKeyHash  ${r.certId.issuerKeyHash}`);
    const status = r.certStatus === 'revoked' ? `REVOKED at ${r.revocationTime}${r.revocationReason ? `, reason ${r.revocationReason}` : ''}` : r.certStatus;
    lines.push(`      certStatus ${status}`);
    lines.push(`      thisUpdate ${r.thisUpdate}, nextUpdate ${r.nextUpdate ?? 'none'}`);
    lines.push(`      stapled until ${r.validUntil} (${ENDS_BY[r.endsBy]}; ${r.timeLeft})`);
  });
  return lines.join('\n');
}

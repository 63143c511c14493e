/**
 * Firefox ESR and Chromium as judges (test/fixtures/browsers.ts): what a real browser makes of
 * a staple, sent either by a bare OCSPRequest listener that staples the bytes unchecked, or by a
 * server stapling through the library. For each case the library's verdict is pinned, and so is
 * each browser's, exactly:
 * - what the library staples, the browser loads;
 * - what the library refuses, a bare listener makes the browser fail with the staple's own error,
 *   while the library's server staples nothing: a Must-Staple site then fails with Firefox's
 *   Must-Staple error (the refusal is visible, not silent), any other site loads (Firefox asks
 *   the AIA responder, which the test PKI puts on the banned port 9, and soft-fails).
 *
 * Leaves are valid 825 days (Firefox skips OCSP for leaves under 10 days) and certificates are
 * valid now; responses are signed at test time with any thisUpdate, so the cases hold on any date.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { StaplingErrorCode } from '../src/index.js';
import { browserJudge, browserJudgeLibrary, firefoxSession, type BrowserName, type BrowserVerdict, type FirefoxSession } from './fixtures/browsers.js';
import { buildResponse, certId, currentWindow, extension, seq, tlv } from './fixtures/craft.js';
import { judgeCerts, type JudgeCerts } from './fixtures/judges.js';
import { makePki, type Pki } from './fixtures/pki.js';
import { craftResponder, GOOD_RESPONDER_EXTENSIONS, issueResponder } from './fixtures/responders.js';

const DAYS = 24 * 60;

/** What the browser must say: `'loads'`, or its error code. */
type Expected = 'loads' | string;

interface BrowserCase {
  readonly name: string;
  readonly browser: BrowserName;
  /** Whose staple (default pki.leaf: no Must-Staple). */
  readonly mustStaple?: boolean;
  readonly make: (pki: Pki) => Buffer;
  /** The library's verdict: `'ok'` (stapled) or its refusal code. */
  readonly library: 'ok' | StaplingErrorCode;
  /** The browser, when a bare listener staples the bytes unchecked. Not run when absent. */
  readonly bare?: Expected;
  /** The browser, when the library serves the file. */
  readonly served: Expected;
}

/** A good, current SingleResponse for pki.leaf (SHA-1 CertID), for crafted responses. */
const ours = (pki: Pki) => ({ certId: certId(pki.leaf, pki.ca), ...currentWindow() });

const MUST_STAPLE_MISSING = 'MOZILLA_PKIX_ERROR_REQUIRED_TLS_FEATURE_MISSING';

export const CASES: BrowserCase[] = [
  {
    name: 'a good staple on a Must-Staple certificate loads',
    browser: 'firefox',
    mustStaple: true,
    make: (pki) => pki.respond({ certs: [pki.mustStaple] }),
    library: 'ok',
    served: 'loads',
  },
  // Family 5, freshness: Firefox counts a response as current until thisUpdate + 10 days at most.
  {
    name: 'a 30-day response 15 days after thisUpdate, Must-Staple: the library refuses it, Firefox fails it',
    browser: 'firefox',
    mustStaple: true,
    make: (pki) => pki.respond({ certs: [pki.mustStaple], at: '-15d', validMinutes: 30 * DAYS }),
    library: 'ERR_OCSP_TOO_OLD',
    bare: 'SEC_ERROR_OCSP_OLD_RESPONSE',
    served: MUST_STAPLE_MISSING,
  },
  {
    name: 'a 30-day response 15 days after thisUpdate, no Must-Staple: the library refuses it and the site still loads',
    browser: 'firefox',
    make: (pki) => pki.respond({ at: '-15d', validMinutes: 30 * DAYS }),
    library: 'ERR_OCSP_TOO_OLD',
    // Stapled anyway, Firefox fails it as above (SEC_ERROR_OCSP_OLD_RESPONSE): one run is enough.
    served: 'loads',
  },
  {
    name: 'a 30-day response 9 days after thisUpdate is stapled and loads',
    browser: 'firefox',
    mustStaple: true,
    make: (pki) => pki.respond({ certs: [pki.mustStaple], at: '-9d', validMinutes: 30 * DAYS }),
    library: 'ok',
    served: 'loads',
  },
  // Family 4, delegated responders: a rule only Firefox enforces.
  {
    name: 'a delegated responder that is a CA (basicConstraints cA TRUE)',
    browser: 'firefox',
    make: (pki) =>
      pki.respond({ signer: issueResponder(pki, { extensions: GOOD_RESPONDER_EXTENSIONS.replace('basicConstraints = CA:FALSE', 'basicConstraints = critical, CA:TRUE') }) }),
    library: 'ERR_OCSP_SIGNER_UNAUTHORIZED',
    bare: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT',
    served: 'loads',
  },
  {
    name: "a delegated responder whose issuer Name is the CA's subject in PrintableString (the CA's is UTF8String)",
    browser: 'firefox',
    // curl, gnutls-cli and openssl accept it (names compared canonically); Firefox compares bytes.
    make: (pki) => pki.respond({ signer: craftResponder(pki, issueResponder(pki), { printableIssuer: true }) }),
    library: 'ERR_OCSP_SIGNER_UNAUTHORIZED',
    bare: 'SEC_ERROR_OCSP_INVALID_SIGNING_CERT',
    served: 'loads',
  },
  {
    name: 'a good staple signed by a delegated responder loads',
    browser: 'firefox',
    mustStaple: true,
    make: (pki) => pki.respond({ certs: [pki.mustStaple], signer: pki.responder }),
    library: 'ok',
    served: 'loads',
  },
  // Family 2, extensions: a critical extension Firefox does not process.
  {
    name: 'a critical unknown singleExtension',
    browser: 'firefox',
    make: (pki) => buildResponse({ signer: pki.ca, singles: [{ ...ours(pki), extensions: seq(extension('1.3.6.1.4.1.55555.9', tlv(0x05), true)) }] }),
    library: 'ERR_OCSP_CRITICAL_EXTENSION',
    bare: 'SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION',
    served: 'loads',
  },
  // Family 3, several SingleResponses: Firefox checks every one that names the certificate.
  {
    name: 'ours twice, the second expired',
    browser: 'firefox',
    make: (pki) => {
      const now = Math.floor(Date.now() / 1000) * 1000;
      // nextUpdate two days ago, not one: Firefox accepts a response up to a day past its end.
      return buildResponse({ signer: pki.ca, singles: [ours(pki), { ...ours(pki), thisUpdate: new Date(now - 4 * 86_400_000), nextUpdate: new Date(now - 2 * 86_400_000) }] });
    },
    library: 'ERR_OCSP_EXPIRED',
    bare: 'SEC_ERROR_OCSP_OLD_RESPONSE',
    served: 'loads',
  },
  // Chromium acts on a current, validly signed "revoked" staple only.
  {
    name: 'a revoked staple: Chromium fails it, and loads the library\'s server, which staples nothing',
    browser: 'chromium',
    make: (pki) => pki.respond({ status: 'revoked' }),
    library: 'ERR_OCSP_REVOKED',
    bare: 'net::ERR_CERT_REVOKED',
    served: 'loads',
  },
  {
    name: 'a good staple on a Must-Staple certificate loads in Chromium',
    browser: 'chromium',
    mustStaple: true,
    make: (pki) => pki.respond({ certs: [pki.mustStaple] }),
    library: 'ok',
    served: 'loads',
  },
];

interface Result {
  readonly library: 'ok' | StaplingErrorCode;
  readonly served: BrowserVerdict;
  readonly bare: BrowserVerdict | undefined;
}

let pki: Pki;
const results = new Map<string, Result>();

function said(v: BrowserVerdict): Expected {
  return v.loads ? 'loads' : (v.error ?? `no error code (${v.detail})`);
}

let firefox: FirefoxSession | undefined;

before(async () => {
  pki = makePki();
  // Firefox: one session, each visit on a fork of the PKI (a leaf of its own: Firefox caches OCSP
  // answers by CertID). Chromium: a fresh browser per visit, at most two at a time.
  firefox = await firefoxSession(pki.root.cert);
  const session = firefox;
  await Promise.all(
    CASES.map(async (c) => {
      const make = () => {
        const p = c.browser === 'firefox' ? pki.fork() : pki;
        const certs: JudgeCerts = c.mustStaple ? judgeCerts(p, p.mustStaple) : judgeCerts(p);
        return { bytes: c.make(p), certs };
      };
      const first = make();
      const servedVisit = c.browser === 'firefox' ? session.served(first.bytes, first.certs) : browserJudgeLibrary(c.browser, first.bytes, first.certs);
      const bareVisit = () => {
        if (c.browser === 'chromium') return browserJudge(c.browser, first.bytes, first.certs);
        const again = make();
        return session.bare(again.bytes, again.certs);
      };
      const [library, bare] = await Promise.all([servedVisit, c.bare ? bareVisit() : undefined]);
      const code = library.status.stapling ? 'ok' : (library.status.lastRefusal?.code ?? 'ERR_OCSP_FILE_READ');
      results.set(c.name, { library: code, served: library.verdict, bare });
    }),
  );
  const all = [...results.values()].flatMap((r) => [r.served, ...(r.bare ? [r.bare] : [])]);
  for (const name of ['firefox', 'chromium'] as const) {
    const times = all.filter((v) => v.browser === name).map((v) => v.ms);
    console.log(`${name}: ${times.length} verdicts, ${times.join(', ')} ms each (${name === 'firefox' ? 'one page of a running session' : 'launch to close'})`);
  }
});
after(async () => {
  await firefox?.close();
  pki?.remove();
});

describe('real browsers judge staples: what the library staples loads, what it refuses fails when stapled anyway', () => {
  for (const c of CASES) {
    it(`${c.browser}: ${c.name}`, () => {
      const r = results.get(c.name)!;
      assert.equal(r.library, c.library, 'the library\'s verdict');
      assert.equal(said(r.served), c.served, `${c.browser} on the library's server: ${r.served.detail}`);
      if (c.bare) assert.equal(said(r.bare!), c.bare, `${c.browser} on a bare listener stapling the same bytes: ${r.bare!.detail}`);
      if (c.library === 'ok') assert.equal(c.served, 'loads', 'whatever the library staples must load');
    });
  }
});

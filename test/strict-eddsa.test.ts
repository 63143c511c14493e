/**
 * OCSP responses signed by an issuing CA whose own key is Ed25519 or Ed448, judged.
 *
 * mozilla::pkix (Firefox) takes only RSA and ECDSA keys (`CheckSubjectPublicKeyInfoContents`), so
 * a delegated responder with an EdDSA key is refused (test/strict-responder.test.ts, "an Ed25519
 * responder"). When the *issuing CA* has the EdDSA key, it also signed the leaf with it: Firefox
 * cannot build the served chain at all, whatever is stapled, while curl, GnuTLS and OpenSSL verify
 * both the chain and the staple. Refusing the staple would help no client and cost the ones that
 * check it, so the library keeps stapling it; this file pins that decision with every judge.
 *
 * At test time the openssl CLI issues an RSA root, under it a CA with an Ed25519 key and one with
 * an Ed448 key, RSA leaves of each (test/fixtures/pki.ts's extensions: SAN localhost and
 * 127.0.0.1, the dead AIA URL http://127.0.0.1:9/), and good responses each CA signs itself
 * (`openssl ocsp` with no `-rmd`: EdDSA takes no separate digest). For each key:
 * - judge() (test/fixtures/judges.ts): curl --cert-status, gnutls-cli with and without --ocsp,
 *   openssl ocsp -respin and the library; Firefox on the library's server stapling it;
 * - Firefox on a second leaf's good response stapled unchecked by a bare listener;
 * - Firefox on the library's server of a third leaf that staples nothing (its file holds another
 *   leaf's response, which it refuses): what Firefox would see if the library refused;
 * - the judges on the response with one signature byte changed, so that the clients' "accept"
 *   above is a verified EdDSA signature and not one skipped.
 * One Firefox session, one visit per CertID (each visit its own leaf), seven visits in all, the
 * last a control: the RSA CA's leaf, which Firefox loads.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { StapleStatus } from '../src/index.js';
import { firefoxSession, type BrowserVerdict, type FirefoxSession } from './fixtures/browsers.js';
import { CLIENTS, describeVerdicts, judge, limited, type JudgeCerts, type Verdicts } from './fixtures/judges.js';
import { extensionsConfig } from './fixtures/pki.js';

/** The EdDSA keys, with their signature length (RFC 8032: 64 and 114 bytes). */
const ALGORITHMS = [
  { name: 'Ed25519', genpkey: 'ED25519', signatureBytes: 64 },
  { name: 'Ed448', genpkey: 'ED448', signatureBytes: 114 },
] as const;
type Algorithm = (typeof ALGORITHMS)[number];

/** Firefox's error for a chain signed with a key it does not support (mozilla::pkix ERROR_UNSUPPORTED_KEYALG). */
const FIREFOX_ERROR = 'SEC_ERROR_UNSUPPORTED_KEYALG';


interface Measured {
  /** Every judge on a good response the EdDSA CA signed; Firefox on the library's server stapling it. */
  readonly good: Verdicts;
  /** Firefox on another leaf's good response, stapled unchecked. */
  readonly bare: BrowserVerdict;
  /** Firefox on the library's server of a third leaf, stapling nothing. */
  readonly nothing: { readonly verdict: BrowserVerdict; readonly status: StapleStatus };
  /** Every client on the good response with one signature byte changed (no Firefox). */
  readonly forged: Verdicts;
}

/** A CA of this file: its certificate and key files. */
interface Ca {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
}

let dir: string;
let root: Ca;
let firefox: FirefoxSession | undefined;
let control: BrowserVerdict;
const measured = new Map<Algorithm['name'], Measured>();
let serial = 0xed00;
const exec = promisify(execFile);
const path = (file: string) => join(dir, file);
const openssl = (args: readonly string[]) => exec('openssl', [...args]);
const nextSerial = () => (serial++).toString(16).toUpperCase();

/** A CA issued by the RSA root, with a fresh key of `algorithm` (`openssl genpkey`: RSA, ED25519, ED448). */
async function issueCa(algorithm: string): Promise<Ca> {
  const name = `${algorithm.toLowerCase()}-ca`;
  const [cert, key, csr] = [path(`${name}.pem`), path(`${name}.key`), path(`${name}.csr`)];
  await openssl(['genpkey', '-algorithm', algorithm, '-out', key]);
  await openssl(['req', '-new', '-key', key, '-out', csr, '-subj', `/O=ocsp-stapler tests/CN=Test ${algorithm} CA`]);
  await openssl(['x509', '-req', '-in', csr, '-CA', root.cert, '-CAkey', root.key, '-set_serial', `0x${nextSerial()}`,
    '-days', '825', '-extfile', path('ext.cnf'), '-extensions', 'ca', '-out', cert]);
  return { name, cert, key };
}

/** A leaf and the files a judgement of its staple needs. */
interface Leaf extends JudgeCerts {
  /** Serial number in hex. */
  readonly serial: string;
}

/** A leaf of `ca`: the one RSA-2048 leaf key and request, a new serial. */
async function issueLeaf(ca: Ca): Promise<Leaf> {
  const serial = nextSerial();
  const [leaf, chain] = [path(`${ca.name}-leaf-${serial}.pem`), path(`${ca.name}-leaf-${serial}.chain.pem`)];
  await openssl(['x509', '-req', '-in', path('leaf.csr'), '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${serial}`,
    '-days', '825', '-extfile', path('ext.cnf'), '-extensions', 'leaf', '-out', leaf]);
  writeFileSync(chain, readFileSync(leaf, 'utf8') + readFileSync(ca.cert, 'utf8'));
  return { chain, leaf, key: path('leaf.key'), issuer: ca.cert, root: root.cert, dir, serial };
}

let responses = 0;

/**
 * A good response for `leaf`, signed by its CA itself. `openssl ocsp` without `-rmd`: EdDSA
 * signs the message itself, and OpenSSL 3.0 refuses `-rmd sha256` and `-rmd null` for an EdDSA
 * key ("eddsa_digest_signverify_init: invalid digest", an internalError response).
 */
async function respond(ca: Ca, leaf: Leaf, noCerts = false): Promise<Buffer> {
  const id = ++responses;
  const [index, req, resp] = [path(`index-${id}.txt`), path(`req-${id}.der`), path(`resp-${id}.der`)];
  writeFileSync(index, `V\t351231235959Z\t\t${leaf.serial}\tunknown\t/CN=localhost\n`);
  await openssl(['ocsp', '-issuer', ca.cert, '-cert', leaf.leaf, '-no_nonce', '-reqout', req]);
  await openssl(['ocsp', '-index', index, '-CA', ca.cert, '-rsigner', ca.cert, '-rkey', ca.key, '-reqin', req, '-respout', resp,
    '-nmin', String(60 * 24), ...(noCerts ? ['-resp_no_certs'] : [])]);
  return readFileSync(resp);
}

/** `bytes` (carrying no certificates, so the signature BIT STRING ends them) with the signature's first byte changed. */
function forge(bytes: Buffer, signatureBytes: number): Buffer {
  const forged = Buffer.from(bytes);
  const start = forged.length - signatureBytes;
  assert.deepEqual([...forged.subarray(start - 3, start)], [0x03, signatureBytes + 1, 0x00], 'the response ends with its signature');
  forged[start]! ^= 0x01;
  return forged;
}

async function measure(ca: Ca, algorithm: Algorithm): Promise<Measured> {
  // One leaf per Firefox visit: Firefox caches OCSP answers by CertID for the whole session.
  const [served, bare, nothing, spare] = await Promise.all([issueLeaf(ca), issueLeaf(ca), issueLeaf(ca), issueLeaf(ca)]);
  const [good, other, unsigned, spared] = await Promise.all([respond(ca, served), respond(ca, bare), respond(ca, served, true), respond(ca, spare)]);
  // judge() staples the case made again on `spare` to Firefox only if the library refuses `good`.
  const verdicts = await judge(good, served, { session: firefox!, again: () => ({ bytes: spared, certs: spare }) });
  const [bareVerdict, nothingVerdict, forged] = await Promise.all([
    firefox!.bare(other, bare),
    // The library's server of `nothing` refuses `served`'s response (another CertID) and staples nothing.
    firefox!.served(good, nothing),
    judge(forge(unsigned, algorithm.signatureBytes), served),
  ]);
  return { good: verdicts, bare: bareVerdict, nothing: nothingVerdict, forged };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ocsp-stapler-eddsa-'));
  writeFileSync(path('ext.cnf'), extensionsConfig());
  root = { name: 'root', cert: path('root.pem'), key: path('root.key') };
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', root.key, '-out', root.cert, '-subj', '/CN=Test Root CA', '-days', '3650',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  // Firefox starts while the rest of the PKI is made (and is closed by after() if that fails).
  const starting = firefoxSession(root.cert);
  let cas: Ca[];
  try {
    [, ...cas] = await Promise.all([
      openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('leaf.key'), '-out', path('leaf.csr'), '-subj', '/CN=localhost']),
      issueCa('RSA'),
      ...ALGORITHMS.map((a) => issueCa(a.genpkey)),
    ]);
  } finally {
    firefox = await starting;
  }
  const [rsaCa, ...eddsaCas] = cas as [Ca, ...Ca[]];
  const results = await limited(ALGORITHMS.map((a, i) => async () => [a.name, await measure(eddsaCas[i]!, a)] as const), 2);
  for (const [name, m] of results) measured.set(name, m);
  const certs = await issueLeaf(rsaCa);
  control = (await firefox!.served(await respond(rsaCa, certs), certs)).verdict;
});
after(async () => {
  await firefox?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const { name } of ALGORITHMS) {
  describe(`a response signed by the issuing CA itself, whose key is ${name}`, () => {
    it('is stapled, and every client that can verify the chain accepts it', () => {
      const v = measured.get(name)!.good;
      const summary = describeVerdicts(v);
      assert.deepEqual(v.library, { verify: 'ok', context: 'stapled' }, summary);
      for (const client of CLIENTS) assert.ok(v[client].accepts, `${client} accepts: ${summary}\n${v[client].out}`);
      assert.deepEqual(v.rejectedBy, ['firefox'], summary);
    });

    it(`Firefox fails the site whatever is stapled (${FIREFOX_ERROR}), so refusing the staple would help no client`, () => {
      const m = measured.get(name)!;
      assert.equal(m.good.firefox?.served.error, FIREFOX_ERROR, `the library's server stapling it: ${m.good.firefox?.served.detail}`);
      assert.equal(m.bare.error, FIREFOX_ERROR, `a bare listener stapling it: ${m.bare.detail}`);
      assert.equal(m.nothing.status.stapling, false);
      assert.equal(m.nothing.status.lastRefusal?.code, 'ERR_OCSP_CERTID_MISMATCH');
      assert.equal(m.nothing.verdict.error, FIREFOX_ERROR, `the library's server stapling nothing: ${m.nothing.verdict.detail}`);
    });

    it('with one signature byte changed, is refused by the library and every client', () => {
      const v = measured.get(name)!.forged;
      const summary = describeVerdicts(v);
      assert.equal(v.library.verify, 'ERR_OCSP_BAD_SIGNATURE', summary);
      assert.deepEqual(v.rejectedBy, [...CLIENTS], summary);
      assert.equal(v.curl.code, 91, `curl took the chain and refused the staple: ${summary}`);
    });
  });
}

it('Firefox in the same session loads the RSA CA\'s leaf with a good staple (the control)', () => {
  assert.ok(control.loads, control.detail);
});

/**
 * Property-based fuzzing of everything that reads untrusted OCSP bytes: mutants of valid
 * openssl-made responses and random bytes go to verifyOcspResponse, and through a file to a
 * live context's reload and its OCSPRequest listener.
 *
 * Properties:
 * - verifyOcspResponse returns or throws a StaplingError, nothing else;
 * - every accepted mutant is also good and current for `openssl ocsp -respin` (openssl is the
 *   oracle; it is laxer about DER, so "we refuse, openssl accepts" is fine, the reverse is not);
 * - reload resolves or rejects with a StaplingError; the listener never throws and calls back
 *   exactly once with (null, Buffer | null); it hands out the last accepted bytes, never a
 *   refused mutant.
 *
 * Runs are seeded; counts come from the environment (scripts/adversarial-long.mjs raises them).
 * A failing case found once is kept in test/fixtures/regressions/fuzz.json and replayed here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createStaplingContext, StaplingError, type StaplingContext } from '../src/index.js';
import { verifyOcspResponse } from '../src/ocsp/verify.js';
import { loadCertificateChain, type CertificateChain } from '../src/pki.js';
import { envInt, mutateAll, mutationArb, readTree, writeTree, type Mutation, type Tlv } from './fixtures/mutate.js';
import { cli } from './fixtures/cli.js';
import { handshake } from './fixtures/client.js';
import { makePki, opensslAccepts, type Issued, type Pki } from './fixtures/pki.js';

const SEED = envInt('FUZZ_SEED', 20261124);
const VERIFY_RUNS = envInt('FUZZ_VERIFY_RUNS', 3000);
const RANDOM_RUNS = envInt('FUZZ_RANDOM_RUNS', 1000);
const RELOAD_RUNS = envInt('FUZZ_RELOAD_RUNS', 400);
const CERT_RUNS = envInt('FUZZ_CERT_RUNS', 300);
const LIMITS = { clockSkewMs: 300_000, maxAgeWithoutNextUpdateMs: 86_400_000, maxResponseBytes: 65_536 };

interface Seed {
  readonly name: string;
  readonly bytes: Buffer;
  readonly cert: Issued;
  readonly issuer: Issued;
  readonly hash: string;
}

interface Regression {
  readonly note: string;
  /** A seed name and mutations, replayed on a fresh PKI... */
  readonly seed?: string;
  readonly mutations?: Mutation[];
  /** ...or raw bytes, in hex. */
  readonly hex?: string;
}

let pki: Pki;
let seeds: Seed[];
let donors: Buffer[];
const chains = new Map<Issued, CertificateChain>();

/** What happened to every input, for the test's diagnostics and docs/RELIABILITY.md. */
const tally = { cases: 0, refused: 0, accepted: 0, acceptedIdentical: 0, opensslChecked: 0, codes: new Map<string, number>() };

before(async () => {
  pki = makePki();
  const s = (name: string, bytes: Buffer, cert = pki.leaf, issuer = pki.ca, hash = 'sha1'): Seed => ({ name, bytes, cert, issuer, hash });
  seeds = [
    s('issuer-signed', pki.respond()),
    s('issuer-signed, no certs', pki.respond({ noCerts: true })),
    s('delegated', pki.respond({ signer: pki.responder })),
    s('delegated, byKey', pki.respond({ signer: pki.responder, keyId: true })),
    s('sha256 CertID', pki.respond({ hash: 'sha256' }), pki.leaf, pki.ca, 'sha256'),
    s('two SingleResponses', pki.respond({ certs: [pki.leaf, pki.leaf2] })),
    s('no nextUpdate', pki.respond({ validMinutes: 'none' })),
    s('ECDSA', pki.respond({ issuer: pki.ecCa, certs: [pki.ecLeaf] }), pki.ecLeaf, pki.ecCa),
  ];
  donors = [
    ...seeds.map((x) => x.bytes),
    pki.respond({ status: 'revoked' }),
    pki.respond({ status: 'unknown' }),
    pki.respond({ certs: [pki.leaf2] }),
    pki.respond({ signer: pki.otherCa }),
    pki.respond({ signer: pki.responderNoEku }),
    pki.respond({ at: '-3d' }),
  ];
  for (const seed of seeds) {
    assert.ok(opensslAccepts(pki, seed.bytes, seed.cert, seed.issuer, seed.hash), `openssl accepts the seed ${seed.name}`);
    if (!chains.has(seed.cert)) chains.set(seed.cert, await loadCertificateChain(seed.cert.chain));
  }
});
after(() => pki.remove());

/** An accepted input says which CertID hash matched: the oracle must look that CertID up. */
type Outcome = { accepted: true; hash: string } | { accepted: false; code: string };

/** Runs verifyOcspResponse; throws (failing the property) on anything but a StaplingError. */
function verdict(bytes: Buffer, cert: Issued): Outcome {
  const chain = chains.get(cert)!;
  try {
    const verified = verifyOcspResponse(bytes, chain.leaf, chain.issuer, { now: Date.now(), ...LIMITS });
    return { accepted: true, hash: verified.single.certId.hash! };
  } catch (err) {
    if (!(err instanceof StaplingError)) throw new Error(`verifyOcspResponse threw a non-StaplingError: ${String(err)}`, { cause: err });
    return { accepted: false, code: err.code };
  }
}

/** The oracle check for an accepted input; identical copies of a seed need none. */
function assertOracleAgrees(bytes: Buffer, seed: Seed, hash = seed.hash): void {
  if (bytes.equals(seed.bytes)) {
    tally.acceptedIdentical++;
    return;
  }
  tally.opensslChecked++;
  assert.ok(
    opensslAccepts(pki, bytes, seed.cert, seed.issuer, hash),
    `accepted a mutant of "${seed.name}" that openssl ocsp does not report good and current: ${bytes.toString('hex')}`,
  );
}

function count(outcome: Outcome): void {
  tally.cases++;
  if (outcome.accepted) tally.accepted++;
  else {
    tally.refused++;
    tally.codes.set(outcome.code, (tally.codes.get(outcome.code) ?? 0) + 1);
  }
}

/** fc.assert, with the failing assertion's own message in the report (fast-check 4 keeps it only as `cause`). */
async function holds<T>(property: fc.IProperty<T> | fc.IAsyncProperty<T>, params: fc.Parameters<T>): Promise<void> {
  try {
    await fc.assert(property, params);
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `\n${err.cause.message}` : '';
    throw new Error(`${err instanceof Error ? err.message : String(err)}${cause}`, { cause: err });
  }
}

const caseArb = fc.tuple(fc.nat(), fc.array(mutationArb, { minLength: 1, maxLength: 4 }));

describe('fuzz: verifyOcspResponse', () => {
  it('the lax tree reader round-trips every seed byte for byte (so structural mutants differ only where mutated)', () => {
    for (const seed of seeds) assert.ok(writeTree(readTree(seed.bytes)!).equals(seed.bytes), seed.name);
  });

  it(`throws only StaplingError and accepts no mutant openssl would refuse (${VERIFY_RUNS} mutants, seed ${SEED})`, async (t) => {
    await holds(
      fc.property(caseArb, ([which, mutations]) => {
        const seed = seeds[which % seeds.length]!;
        const bytes = mutateAll(seed.bytes, mutations, donors);
        const outcome = verdict(bytes, seed.cert);
        count(outcome);
        // A transplant can swap in another seed's whole response, with another CertID hash.
        if (outcome.accepted) assertOracleAgrees(bytes, seed, outcome.hash);
      }),
      { seed: SEED, numRuns: VERIFY_RUNS },
    );
    t.diagnostic(`cases ${tally.cases}, refused ${tally.refused}, accepted ${tally.accepted} (identical to a seed ${tally.acceptedIdentical}, openssl-checked ${tally.opensslChecked})`);
    t.diagnostic(`refusals by code: ${JSON.stringify(Object.fromEntries([...tally.codes].sort((a, b) => b[1] - a[1])))}`);
    assert.ok(tally.refused > tally.cases / 2, 'most mutants are refused: the mutations really damage the responses');
  });

  it(`refuses random bytes, raw and wrapped in a SEQUENCE header (${RANDOM_RUNS} inputs)`, async () => {
    const raw = fc.uint8Array({ maxLength: 4096 }).map((a) => Buffer.from(a));
    const wrapped = fc.uint8Array({ maxLength: 2048 }).map((a) => writeTree([{ tag: 0x30, content: Buffer.from(a), children: null }]));
    // A successful OCSPResponse header followed by random bytes: reaches the inner parser.
    const shaped = fc.uint8Array({ maxLength: 1024 }).map((a) => {
      const inner = { tag: 0x04, content: writeTree([{ tag: 0x30, content: Buffer.from(a), children: null }]), children: null };
      const type = { tag: 0x06, content: Buffer.from('2b0601050507300101', 'hex'), children: null };
      const bytes = { tag: 0xa0, content: Buffer.alloc(0), children: [{ tag: 0x30, content: Buffer.alloc(0), children: [type, inner] }] };
      return writeTree([{ tag: 0x30, content: Buffer.alloc(0), children: [{ tag: 0x0a, content: Buffer.from([0]), children: null }, bytes] }]);
    });
    await holds(
      fc.property(fc.oneof(raw, wrapped, shaped), (bytes) => {
        const outcome = verdict(bytes, pki.leaf);
        count(outcome);
        assert.equal(outcome.accepted, false, `accepted random bytes ${bytes.toString('hex')}`);
      }),
      { seed: SEED + 1, numRuns: RANDOM_RUNS },
    );
  });

  it('replays every kept regression case', () => {
    const file = join(import.meta.dirname, 'fixtures', 'regressions', 'fuzz.json');
    const cases = JSON.parse(readFileSync(file, 'utf8')) as Regression[];
    for (const c of cases) {
      if (c.hex !== undefined) {
        const outcome = verdict(Buffer.from(c.hex, 'hex'), pki.leaf);
        if (outcome.accepted) assert.ok(opensslAccepts(pki, Buffer.from(c.hex, 'hex')), c.note);
        continue;
      }
      const seed = seeds.find((x) => x.name === c.seed);
      assert.ok(seed, `regression case names a seed that exists: ${c.seed}`);
      const bytes = mutateAll(seed.bytes, c.mutations ?? [], donors);
      const outcome = verdict(bytes, seed.cert);
      if (outcome.accepted) assertOracleAgrees(bytes, seed, outcome.hash);
    }
  });
});

/** The node at `path` (child indices from the root list). */
function nodeAt(tree: Tlv[], path: readonly number[]): Tlv {
  let list = tree;
  let node: Tlv | undefined;
  for (const i of path) {
    node = list[i];
    assert.ok(node, `path ${path.join('.')} exists`);
    list = node.children ?? [];
  }
  return node!;
}

// OCSPResponse > responseBytes [0] > ResponseBytes > response OCTET STRING > BasicOCSPResponse
const BASIC = [0, 1, 0, 1, 0];
const FIRST_CARRIED_CERT = [...BASIC, 3, 0, 0];

/** A copy of `bytes` with `edit` applied to its tree, re-encoded with correct lengths. */
function edited(bytes: Buffer, edit: (tree: Tlv[]) => void): Buffer {
  const tree = readTree(bytes)!;
  edit(tree);
  return writeTree(tree);
}

function refusedAsMalformed(bytes: Buffer, cert: Issued = pki.leaf): void {
  const outcome = verdict(bytes, cert);
  assert.deepEqual(outcome, { accepted: false, code: 'ERR_OCSP_MALFORMED' });
}

describe('regressions found by fuzzing', () => {
  // A duplicated OID inside the carried certificate's issuer Name: our DER reader sees valid
  // structure, OpenSSL cannot decode the certificate and so refuses the whole response.
  const damageCarriedCert = (tree: Tlv[]) => {
    const atv = nodeAt(tree, [...FIRST_CARRIED_CERT, 0, 3, 0, 0]);
    atv.children!.unshift({ ...atv.children![0]! });
  };

  it('refuses an issuer-signed response carrying a certificate OpenSSL cannot read (it ignored it before)', () => {
    const bytes = edited(seeds[0]!.bytes, damageCarriedCert);
    assert.equal(opensslAccepts(pki, bytes), false, 'openssl refuses it');
    refusedAsMalformed(bytes);
  });

  it('refuses, with a StaplingError, a delegated response whose responder certificate OpenSSL cannot read (it threw a plain Error before)', () => {
    const bytes = edited(seeds[2]!.bytes, damageCarriedCert);
    assert.equal(opensslAccepts(pki, bytes), false, 'openssl refuses it');
    refusedAsMalformed(bytes);
  });

  it('refuses a signatureAlgorithm with a third field', () => {
    const bytes = edited(seeds[0]!.bytes, (tree) => {
      const alg = nodeAt(tree, [...BASIC, 1]);
      alg.children!.push({ ...alg.children![0]! });
    });
    assert.equal(opensslAccepts(pki, bytes), false, 'openssl refuses it');
    refusedAsMalformed(bytes);
  });

  it('refuses signatureAlgorithm parameters retagged to end-of-contents (tag 0)', () => {
    const bytes = edited(seeds[0]!.bytes, (tree) => {
      nodeAt(tree, [...BASIC, 1, 1]).tag = 0x00; // NULL parameters of sha256WithRSAEncryption
    });
    assert.equal(opensslAccepts(pki, bytes), false, 'openssl refuses it');
    refusedAsMalformed(bytes);
  });

  it('refuses with a StaplingError a delegated response whose responder certificate has an empty subject (it threw a TypeError)', () => {
    const bytes = edited(seeds[3]!.bytes, (tree) => {
      nodeAt(tree, [...FIRST_CARRIED_CERT, 0, 5]).children = []; // tbsCertificate > subject: an empty Name
    });
    assert.equal(opensslAccepts(pki, bytes), false, 'openssl refuses it');
    const outcome = verdict(bytes, pki.leaf);
    assert.equal(outcome.accepted, false);
  });

  it('ocsp-stapler inspect describes a response carrying a certificate with an empty subject (it crashed with a TypeError)', async () => {
    const bytes = edited(seeds[3]!.bytes, (tree) => {
      nodeAt(tree, [...FIRST_CARRIED_CERT, 0, 5]).children = [];
    });
    const result = await cli(['inspect', pki.file(bytes)]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\[0\] subject \n/);
  });

  /** A leaf of pki.ca with an empty subject Name and a critical SAN (RFC 5280 4.1.2.6), and a good response for it. */
  let nameless: { issued: Issued; bytes: Buffer } | undefined;
  function namelessLeaf(): { issued: Issued; bytes: Buffer } {
    if (nameless) return nameless;
    const dir = pki.dir;
    const key = join(dir, 'empty-subject.key');
    const csr = join(dir, 'empty-subject.csr');
    const cert = join(dir, 'empty-subject.pem');
    const ext = join(dir, 'empty-subject.cnf');
    writeFileSync(ext, 'subjectAltName = critical, DNS:localhost\nbasicConstraints = CA:FALSE\n');
    execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-subj', '/', '-out', csr], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', pki.ca.cert, '-CAkey', pki.ca.key, '-set_serial', '0x5AB1EC7', '-days', '30', '-extfile', ext, '-out', cert], { stdio: 'ignore' });
    const chain = join(dir, 'empty-subject.chain.pem');
    writeFileSync(chain, readFileSync(cert, 'utf8') + readFileSync(pki.ca.cert, 'utf8'));
    const issued: Issued = { name: 'empty-subject', cert, key, chain, serial: '05AB1EC7' };
    const bytes = pki.respond({ certs: [issued], status: 'good' });
    assert.ok(opensslAccepts(pki, bytes, issued), 'openssl accepts the response');
    nameless = { issued, bytes };
    return nameless;
  }

  it('ocsp-stapler fetch works for a server certificate with an empty subject (it crashed with a TypeError)', async () => {
    const { issued, bytes } = namelessLeaf();
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(bytes));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const out = join(pki.dir, 'nameless.ocsp');
      const result = await cli(['fetch', '--cert', issued.chain, '--url', `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, '--out', out]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.ok(readFileSync(out).equals(bytes));
    } finally {
      server.close();
    }
  });

  it('staples for, and reports on, a server certificate with an empty subject and a critical SAN (status() threw a TypeError)', async () => {
    const { issued, bytes } = namelessLeaf();
    const chain = issued.chain;
    const ctx = await createStaplingContext({ certFile: chain, ocspFile: pki.file(bytes) });
    try {
      const status = ctx.status();
      assert.equal(status.subject, '');
      assert.equal(status.stapling, true, JSON.stringify(status.lastRefusal));
      assert.ok(ctx.stapleNow()?.equals(bytes));
    } finally {
      await ctx.close();
    }
  });

  it('rejects a leaf whose issuer Name is empty, and no issuer given, with ERR_ISSUER_NOT_FOUND (it threw a TypeError)', async () => {
    const dir = pki.dir;
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'nameless-ca.key'), '-out', join(dir, 'nameless-ca.pem'), '-subj', '/', '-days', '30',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'subjectAltName=critical,DNS:ca.invalid'], { stdio: 'ignore' });
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'nameless-leaf.key'), '-subj', '/CN=localhost', '-out', join(dir, 'nameless-leaf.csr')], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'nameless-leaf.csr'), '-CA', join(dir, 'nameless-ca.pem'), '-CAkey', join(dir, 'nameless-ca.key'), '-set_serial', '7', '-days', '30', '-out', join(dir, 'nameless-leaf.pem')], { stdio: 'ignore' });
    await assert.rejects(createStaplingContext({ certFile: join(dir, 'nameless-leaf.pem'), ocspFile: join(dir, 'none.ocsp') }), (err: unknown) => err instanceof StaplingError && err.code === 'ERR_ISSUER_NOT_FOUND');
  });

  for (const [name, tag, content] of [
    ['a primitive SEQUENCE', 0x10, ''],
    ['a primitive SET', 0x11, '00'],
    ['a UniversalString of 3 bytes', 0x1c, '000041'],
    ['a BMPString of 1 byte', 0x1e, '41'],
  ] as const) {
    it(`refuses ${name} as signatureAlgorithm parameters (OpenSSL does; we took it as an unknown primitive)`, () => {
      const bytes = edited(seeds[0]!.bytes, (tree) => {
        Object.assign(nodeAt(tree, [...BASIC, 1, 1]), { tag, content: Buffer.from(content, 'hex'), children: null });
      });
      assert.equal(opensslAccepts(pki, bytes), false, 'openssl refuses it');
      refusedAsMalformed(bytes);
    });
  }

  it('refuses a CertID hashAlgorithm with a third field', () => {
    const bytes = edited(seeds[0]!.bytes, (tree) => {
      // tbsResponseData > responses > SingleResponse > CertID > hashAlgorithm
      const alg = nodeAt(tree, [...BASIC, 0, 2, 0, 0, 0]);
      alg.children!.push({ ...alg.children![0]! });
    });
    assert.equal(opensslAccepts(pki, bytes), false, 'openssl refuses it');
    refusedAsMalformed(bytes);
  });
});

describe('fuzz: a live context, its reload and its OCSPRequest listener', () => {
  let server: Server;
  before(() => {
    server = createServer();
  });

  /** Calls the attached listener like Node does; resolves after any late second callback would have come. */
  async function ask(certificate: Buffer): Promise<Buffer | null> {
    const listener = server.listeners('OCSPRequest')[0] as (c: Buffer, i: Buffer | null, cb: (e: Error | null, r?: Buffer | null) => void) => void;
    const calls: Array<[Error | null, Buffer | null | undefined]> = [];
    assert.doesNotThrow(() => listener(certificate, null, (err, response) => calls.push([err, response])));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(calls.length, 1, 'the listener calls back exactly once');
    const [err, response] = calls[0]!;
    assert.equal(err, null);
    assert.ok(response === null || Buffer.isBuffer(response), `calls back with a Buffer or null, got ${String(response)}`);
    return response ?? null;
  }

  for (const [label, pick] of [['RSA leaf', () => pki.leaf], ['ECDSA leaf', () => pki.ecLeaf]] as const) {
    it(`reload + listener on mutants of the ${label}'s responses (${RELOAD_RUNS} reloads, seed ${SEED + 2})`, async (t) => {
      const cert = pick();
      const ownSeeds = seeds.filter((x) => x.cert === cert);
      const file = join(pki.dir, `fuzz-${cert.name}.ocsp`);
      writeFileSync(file, ownSeeds[0]!.bytes);
      const ctx: StaplingContext = await createStaplingContext({ certFile: cert.chain, ocspFile: file });
      ctx.attach(server);
      let lastGood: Buffer | null = ctx.stapleNow();
      assert.ok(lastGood?.equals(ownSeeds[0]!.bytes), 'starts stapling the seed');
      let accepted = 0;
      let refused = 0;
      try {
        await holds(
          fc.asyncProperty(caseArb, fc.nat(), async ([which, mutations], restore) => {
            const seed = ownSeeds[which % ownSeeds.length]!;
            // Now and then a valid file again, so that the next refusals are refusals after a swap.
            const bytes = restore % 8 === 0 ? seed.bytes : mutateAll(seed.bytes, mutations, donors);
            writeFileSync(file, bytes);
            let ok = false;
            try {
              await ctx.reload();
              ok = true;
            } catch (err) {
              assert.ok(err instanceof StaplingError, `reload rejected with a non-StaplingError: ${String(err)}`);
            }
            if (ok) {
              accepted++;
              lastGood = bytes;
              assertOracleAgrees(bytes, seed, ctx.status().certIdHash!);
            } else {
              refused++;
            }
            const staple = await ask(ctx.certificate);
            assert.ok(staple !== null && lastGood !== null && staple.equals(lastGood), 'the listener hands out the last accepted bytes, never a refused mutant');
            // A certificate Node might hand over that is not ours, mutated or random: (null, null).
            const other = mutateAll(ctx.certificate, mutations.slice(0, 1));
            if (!other.equals(ctx.certificate)) assert.equal(await ask(other), null);
          }),
          { seed: SEED + 2, numRuns: RELOAD_RUNS },
        );
        // After the run, a real TLS server and client: the staple on the wire is the last accepted bytes.
        const tlsServer = createServer({ cert: readFileSync(cert.chain), key: readFileSync(cert.key) });
        ctx.attach(tlsServer);
        await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
        try {
          for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
            const { staple } = await handshake({ port: (tlsServer.address() as AddressInfo).port, version });
            assert.ok(staple?.equals(lastGood!), `${version}: the stapled bytes are the last accepted ones`);
          }
        } finally {
          tlsServer.close();
        }
      } finally {
        await ctx.close();
      }
      t.diagnostic(`${label}: reloads ${accepted + refused}, accepted ${accepted}, refused ${refused}`);
      tally.cases += accepted + refused;
      assert.ok(refused > 0 && accepted > 0);
    });
  }

  after(() => {
    server.close();
  });
});

describe('fuzz: certificate files', () => {
  it(`createStaplingContext resolves or rejects with an ERR_CERT_* / ERR_ISSUER_NOT_FOUND StaplingError for mutants of the leaf and of its CA in the PEM chain (${CERT_RUNS} files, seed ${SEED + 3})`, async (t) => {
    const leafDer = new X509Certificate(readFileSync(pki.leaf.cert)).raw;
    const caDer = new X509Certificate(readFileSync(pki.ca.cert)).raw;
    const pem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
    const ocspFile = pki.file(seeds[0]!.bytes);
    const file = join(pki.dir, 'fuzz-chain.pem');
    const codes = new Map<string, number>();
    let stapling = 0;
    await holds(
      fc.asyncProperty(fc.boolean(), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), async (mutateLeaf, mutations) => {
        const leaf = mutateLeaf ? mutateAll(leafDer, mutations) : leafDer;
        const ca = mutateLeaf ? caDer : mutateAll(caDer, mutations);
        writeFileSync(file, pem(leaf) + pem(ca));
        let code = 'ok';
        try {
          const ctx = await createStaplingContext({ certFile: file, ocspFile });
          // A context made from a mutant only staples what verifies for the certificate it holds.
          const status = ctx.status();
          if (status.stapling) {
            stapling++;
            assert.ok(ctx.certificate.equals(leaf));
            verifyOcspResponse(seeds[0]!.bytes, ctx.chain.leaf, ctx.chain.issuer, { now: Date.now(), ...LIMITS });
          }
          await ctx.close();
        } catch (err) {
          assert.ok(err instanceof StaplingError, `createStaplingContext rejected with a non-StaplingError: ${String(err)}`);
          assert.match(err.code, /^ERR_(CERT_PARSE|CERT_READ|ISSUER_NOT_FOUND)$/);
          code = err.code;
        }
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }),
      { seed: SEED + 3, numRuns: CERT_RUNS },
    );
    t.diagnostic(`${JSON.stringify(Object.fromEntries(codes))}; stapling after load: ${stapling}`);
  });
});

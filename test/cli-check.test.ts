import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cli, json } from './fixtures/cli.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;

before(() => {
  pki = makePki();
});
after(() => pki.remove());

describe('ocsp-stapler check', () => {
  it('exits 0 for a response the library would staple, and says how long it stays valid', async () => {
    const file = pki.file(pki.respond({ validMinutes: 180 }));
    const r = await cli(['check', '--cert', pki.leaf.chain, file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^OK .*good for CN=localhost/);
    assert.match(r.stdout, /\((2h 59m|3h) left\)/);
  });

  it('reports the facts as JSON', async () => {
    const file = pki.file(pki.respond({ signer: pki.responder }));
    const r = json(await cli(['check', '--cert', pki.leaf.cert, '--issuer', pki.ca.cert, '--json', file]));
    assert.equal(r.result, 'ok');
    assert.equal(r.certStatus, 'good');
    assert.equal(r.signedBy, 'delegated');
    assert.equal(typeof r.remainingMs, 'number');
  });

  it('exits 5 and says REVOKED for a revoked certificate', async () => {
    const file = pki.file(pki.respond({ certs: [pki.revoked] }));
    const r = await cli(['check', '--cert', pki.revoked.chain, file]);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /^REVOKED .*ERR_OCSP_REVOKED/);
  });

  const refusals: Array<[string, () => string, string]> = [
    ['an expired response', () => pki.file(pki.respond({ validMinutes: 60, at: '-1d' })), 'ERR_OCSP_EXPIRED'],
    ['a 30-day response 15 days after thisUpdate (Firefox: SEC_ERROR_OCSP_OLD_RESPONSE)', () => pki.file(pki.respond({ validMinutes: 30 * 24 * 60, at: '-15d' })), 'ERR_OCSP_TOO_OLD'],
    ["another certificate's response", () => pki.file(pki.respond({ certs: [pki.leaf2] })), 'ERR_OCSP_CERTID_MISMATCH'],
    ['a responder without id-kp-OCSPSigning', () => pki.file(pki.respond({ signer: pki.responderNoEku })), 'ERR_OCSP_SIGNER_UNAUTHORIZED'],
    ['garbage', () => pki.file('<html>not ocsp</html>'), 'ERR_OCSP_MALFORMED'],
    ['a missing file', () => join(pki.dir, 'missing.der'), 'ERR_OCSP_FILE_READ'],
  ];
  for (const [name, make, code] of refusals) {
    it(`exits 5 for ${name} (${code})`, async () => {
      const r = await cli(['check', '--cert', pki.leaf.chain, '--json', make()]);
      assert.equal(r.code, 5);
      assert.equal(json(r).code, code);
    });
  }

  it('exits 2 when the certificate has no issuer to check against', async () => {
    const r = await cli(['check', '--cert', pki.leaf.cert, pki.file(pki.respond())]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /issuer was not found/);
  });
});

describe('ocsp-stapler inspect', () => {
  it('dumps status, CertID, times, responder, signature algorithm and embedded certificates', async () => {
    const file = pki.file(pki.respond({ signer: pki.responder, hash: 'sha256' }));
    const r = await cli(['inspect', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /responseStatus: +successful/);
    assert.match(r.stdout, /responder: +byName CN=Test OCSP Responder/);
    assert.match(r.stdout, /signatureAlgorithm: +sha256WithRSAEncryption/);
    assert.match(r.stdout, /certificates: +1\n {2}\[0\] subject CN=Test OCSP Responder/);
    assert.match(r.stdout, /id-kp-OCSPSigning/);
    assert.match(r.stdout, /CertID sha256 serial 0ABCDE01/);
    assert.match(r.stdout, /certStatus good/);
    assert.match(r.stdout, /thisUpdate \S+Z, nextUpdate \S+Z\n {6}stapled until \S+Z \(nextUpdate; (23h 59m|1d) left\)/);
  });

  it('says a response is stapled only until thisUpdate + 10 days when nextUpdate is later', async () => {
    const file = pki.file(pki.respond({ validMinutes: 30 * 24 * 60, at: '-9d' }));
    const r = await cli(['inspect', file]);
    assert.match(r.stdout, /stapled until \S+Z \(thisUpdate \+ 10d, Firefox's limit, before nextUpdate; (23h 59m|1d) left\)/);
    const facts = json(await cli(['inspect', '--json', file]));
    const [single] = facts.responses as Array<{ thisUpdate: string; validUntil: string; endsBy: string }>;
    assert.equal(Date.parse(single!.validUntil) - Date.parse(single!.thisUpdate), 10 * 86_400_000);
    assert.equal(single!.endsBy, 'maxAge');
    const check = json(await cli(['check', '--cert', pki.leaf.chain, '--json', file]));
    assert.equal(check.validUntil, single!.validUntil, 'check and inspect agree');
  });

  it('dumps responses that fail the checks: revoked, expired, other certificates', async () => {
    const revoked = await cli(['inspect', pki.file(pki.respond({ certs: [pki.revoked] }))]);
    assert.equal(revoked.code, 0);
    assert.match(revoked.stdout, /certStatus REVOKED at 2024-01-01T00:00:00.000Z, reason keyCompromise/);
    const expired = json(await cli(['inspect', '--json', pki.file(pki.respond({ validMinutes: 60, at: '-1d', keyId: true, certs: [pki.leaf, pki.leaf2] }))]));
    const responses = expired.responses as Array<{ timeLeft: string; certId: { serialNumber: string } }>;
    assert.equal(responses.length, 2);
    assert.match(responses[0]!.timeLeft, /^expired 2[23]h/);
    assert.equal(responses[0]!.certId.serialNumber, '0ABCDE01');
    assert.match(String(expired.responder), /^byKey [0-9a-f]{40}$/);
  });

  it('exits 5 for a file that is not an OCSP response, and for tryLater', async () => {
    const garbage = await cli(['inspect', pki.file('hello')]);
    assert.equal(garbage.code, 5);
    assert.match(garbage.stderr, /ERR_OCSP_MALFORMED/);
    const tryLater = await cli(['inspect', '--json', pki.file(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x03]))]);
    assert.equal(tryLater.code, 5);
    assert.equal(json(tryLater).code, 'ERR_OCSP_RESPONSE_STATUS');
    assert.match(String(json(tryLater).message), /tryLater/);
  });
});

describe('the ocsp-stapler bin', () => {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };

  it('is declared in package.json, and its source starts with a shebang', () => {
    assert.equal(pkg.bin['ocsp-stapler'], 'dist/cli/main.js');
    assert.match(readFileSync(join(root, 'src/cli/main.ts'), 'utf8'), /^#!\/usr\/bin\/env node\n/);
  });

  it('runs as an executable once built', { skip: !existsSync(join(root, 'dist/cli/main.js')) && 'dist/ is not built' }, () => {
    const bin = join(root, pkg.bin['ocsp-stapler']!);
    accessSync(bin, constants.X_OK);
    assert.match(execFileSync(bin, ['--help']).toString(), /^Usage: ocsp-stapler/);
  });
});

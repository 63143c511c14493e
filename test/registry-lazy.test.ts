/** A lazy registry: the certificates' OpenSSL checks run in the background, before the first staple. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createStaplingRegistry, type StaplingContext, type StaplingError } from '../src/index.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let dir: string;
before(() => {
  pki = makePki();
  dir = mkdtempSync(join(tmpdir(), 'registry-lazy-'));
});
after(() => {
  pki.remove();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Two entries: `good` (leaf and its chain, its staple) and `forged`: the leaf followed by otherCa,
 * a CA with the name of the leaf's issuer but another key, which did not sign it, and a staple
 * from otherCa for the leaf's serial. Only the issuer's signature on the leaf tells them apart:
 * the staple passes every other check for the chain (leaf, otherCa).
 */
function entries() {
  const sub = mkdtempSync(join(dir, 'sites-'));
  const good = { certFile: join(sub, 'good.pem'), ocspFile: pki.file(pki.respond()) };
  copyFileSync(pki.leaf.chain, good.certFile);
  const forged = { certFile: join(sub, 'forged.pem'), ocspFile: pki.file(pki.respond({ issuer: pki.otherCa, certs: [pki.leaf], status: 'good' })) };
  writeFileSync(forged.certFile, Buffer.concat([readFileSync(pki.leaf.cert), readFileSync(pki.otherCa.cert)]));
  return { good, forged };
}

describe('lazy registry', () => {
  it('eager: a leaf its issuer did not sign rejects the registry (ERR_ISSUER_NOT_FOUND)', async () => {
    const { good, forged } = entries();
    await assert.rejects(createStaplingRegistry({ entries: [good, forged] }), { code: 'ERR_ISSUER_NOT_FOUND', file: forged.certFile });
  });

  it('lazy: resolves before the signature check; a leaf its issuer did not sign never staples and is refused with ERR_ISSUER_NOT_FOUND; the other staples', async () => {
    const { good, forged } = entries();
    const registry = await createStaplingRegistry({ entries: [good, forged], load: 'lazy' });
    const refused: [StaplingError, StaplingContext][] = [];
    registry.on('refused', (error, context) => refused.push([error, context]));
    try {
      const [a, b] = registry.contexts();
      assert.equal(registry.size, 2);
      // Resolved before the check: nothing refused yet, nothing stapled.
      assert.deepEqual(registry.status().map((s) => [s.stapling, s.lastRefusal]), [[false, null], [false, null]]);
      await registry.ready;
      assert.equal(a!.status().stapling, true);
      assert.equal(b!.status().stapling, false);
      assert.equal(b!.stapleNow(), null);
      assert.equal(b!.status().lastRefusal?.code, 'ERR_ISSUER_NOT_FOUND');
      assert.deepEqual(refused.map(([e, c]) => [e.code, e.file, c === b]), [['ERR_ISSUER_NOT_FOUND', forged.certFile, true]]);
      // Asked again, it refuses again with the same reason (the file is not re-read: reload({ certificate: true }) does that).
      await assert.rejects(b!.reload(), { code: 'ERR_ISSUER_NOT_FOUND' });
      assert.throws(() => b!.verify(pki.respond()), { code: 'ERR_ISSUER_NOT_FOUND' });
      // reloadFromFile never staples it; for a response that names its serial and issuer name, it says why.
      const result = await registry.reloadFromFile(forged.ocspFile);
      assert.equal(result.ok, false);
      assert.equal(result.context, b);
      assert.equal(result.error?.code, 'ERR_ISSUER_NOT_FOUND');
      assert.equal(b!.status().stapling, false);
      // A good chain put in its place and reloaded with the certificate: it staples.
      copyFileSync(pki.leaf.chain, forged.certFile);
      await b!.reload({ certificate: true, ocspFile: good.ocspFile });
      assert.equal(b!.status().stapling, true);
    } finally {
      await registry.close();
    }
  });
  it('a leaf with a same-named wrong CA: eager rejects (ERR_ISSUER_NOT_FOUND), strict or not; lazy resolves, strict or not, and refuses it in the background', async () => {
    const { good, forged } = entries();
    for (const strict of [false, true]) {
      await assert.rejects(createStaplingRegistry({ entries: [good, forged], strict }), { code: 'ERR_ISSUER_NOT_FOUND', file: forged.certFile });
      const registry = await createStaplingRegistry({ entries: [good, forged], load: 'lazy', strict });
      try {
        await registry.ready;
        assert.equal(registry.size, 2);
        assert.deepEqual(registry.skipped(), []);
        assert.deepEqual(
          registry.status().map((s) => [s.stapling, s.lastRefusal?.code ?? null]),
          [
            [true, null],
            [false, 'ERR_ISSUER_NOT_FOUND'],
          ],
        );
      } finally {
        await registry.close();
      }
    }
  });
  it("reloadFromFile: a correct response for a certificate refused in the background says so: that certificate's code and file, nothing changed", async () => {
    const { forged } = entries();
    const other = { certFile: join(dir, `leaf2-${Math.random()}.pem`), ocspFile: pki.file(pki.respond({ certs: [pki.leaf2] })) };
    copyFileSync(pki.leaf2.chain, other.certFile);
    const registry = await createStaplingRegistry({ entries: [other, forged], load: 'lazy' });
    try {
      await registry.ready;
      const b = registry.contexts()[1]!;
      const before = b.status();
      assert.equal(before.lastRefusal?.code, 'ERR_ISSUER_NOT_FOUND');
      const file = pki.file(pki.respond(), `for-leaf-${Math.random()}.der`);
      const result = await registry.reloadFromFile(file);
      assert.equal(result.ok, false);
      assert.equal(result.context, b);
      assert.equal(result.error?.code, 'ERR_ISSUER_NOT_FOUND');
      assert.equal(result.error?.file, file);
      assert.ok(result.error?.message.includes(`the response is for ${forged.certFile} (serial ${before.serial}), whose certificate cannot take a staple`), result.error?.message);
      assert.equal((result.error?.cause as StaplingError | undefined)?.file, forged.certFile);
      // Nothing changed: not its file, no new refusal counted.
      assert.deepEqual(b.status(), before);
      assert.deepEqual(b.counters().refusalsByCode, { ERR_ISSUER_NOT_FOUND: 1 });
      // A response for no certificate of the registry is still ERR_OCSP_CERTID_MISMATCH.
      const none = await registry.reloadFromFile(pki.file(pki.respond({ certs: [pki.mustStaple] }), `m-${Math.random()}.der`));
      assert.deepEqual([none.error?.code, none.context], ['ERR_OCSP_CERTID_MISMATCH', undefined]);
    } finally {
      await registry.close();
    }
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { after, before, describe, it, mock } from 'node:test';
import { createStaplingContext, createStaplingRegistry, fetchOcspResponse, loadCertificateChain, StaplingContext, StaplingError, verifyOcspResponse, type StaplingErrorCode } from '../src/index.js';
import { buildResponse, certId, pemDer } from './fixtures/craft.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let good: Buffer;
let good2: Buffer;

before(() => {
  pki = makePki();
  good = pki.respond();
  good2 = pki.respond({ signer: pki.responder });
});
after(() => pki.remove());

async function rejectsWith(promise: Promise<unknown>, code: StaplingErrorCode): Promise<StaplingError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof StaplingError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected rejection with ${code}`);
}

async function stapled(file = pki.file(good)): Promise<{ ctx: StaplingContext; file: string }> {
  const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file });
  assert.equal(ctx.status().stapling, true, JSON.stringify(ctx.status().lastRefusal));
  return { ctx, file };
}

describe('createStaplingContext: the certificate side', () => {
  it('rejects an unreadable certificate file with ERR_CERT_READ', async () => {
    const err = await rejectsWith(createStaplingContext({ certFile: join(pki.dir, 'nope.pem'), ocspFile: pki.file(good) }), 'ERR_CERT_READ');
    assert.match(err.message, /ENOENT/);
  });
  it('rejects a file without a certificate with ERR_CERT_PARSE', async () => {
    await rejectsWith(createStaplingContext({ certFile: pki.file('not a certificate'), ocspFile: pki.file(good) }), 'ERR_CERT_PARSE');
    await rejectsWith(createStaplingContext({ certFile: pki.file(''), ocspFile: pki.file(good) }), 'ERR_CERT_PARSE');
  });
  it('rejects a damaged certificate with ERR_CERT_PARSE', async () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n';
    await rejectsWith(createStaplingContext({ certFile: pki.file(pem), ocspFile: pki.file(good) }), 'ERR_CERT_PARSE');
  });
  it('rejects a leaf without its issuer with ERR_ISSUER_NOT_FOUND', async () => {
    await rejectsWith(createStaplingContext({ certFile: pki.leaf.cert, ocspFile: pki.file(good) }), 'ERR_ISSUER_NOT_FOUND');
  });
  it('rejects an issuer file holding a same-named CA with another key', async () => {
    await rejectsWith(createStaplingContext({ certFile: pki.leaf.cert, issuerFile: pki.otherCa.cert, ocspFile: pki.file(good) }), 'ERR_ISSUER_NOT_FOUND');
  });
  it('finds the issuer in issuerFile when the certificate file has no chain', async () => {
    const ctx = await createStaplingContext({ certFile: pki.leaf.cert, issuerFile: pki.ca.cert, ocspFile: pki.file(good) });
    assert.equal(ctx.status().stapling, true);
    await ctx.close();
  });
  it('reports Must-Staple from the TLS Feature extension', async () => {
    const plain = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good) });
    const must = await createStaplingContext({ certFile: pki.mustStaple.chain, ocspFile: pki.file(pki.respond({ certs: [pki.mustStaple] })) });
    assert.equal(plain.status().mustStaple, false);
    assert.equal(must.status().mustStaple, true);
    assert.equal(must.status().stapling, true);
  });
});

describe('createStaplingContext: the OCSP side never rejects', () => {
  it('starts without a staple when the OCSP file is missing, and says why', async () => {
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: join(pki.dir, 'missing.ocsp') });
    const status = ctx.status();
    assert.equal(status.stapling, false);
    assert.equal(ctx.stapleNow(), null);
    assert.equal(status.lastRefusal?.code, 'ERR_OCSP_FILE_READ');
    assert.match(status.lastRefusal!.message, /ENOENT/);
  });
  it('starts without a staple when the OCSP file is revoked', async () => {
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(pki.respond({ certs: [pki.revoked] })) });
    assert.equal(ctx.status().stapling, false);
    assert.equal(ctx.status().lastRefusal?.code, 'ERR_OCSP_CERTID_MISMATCH');
  });
  it('reports the facts of a loaded staple', async () => {
    const { ctx } = await stapled(pki.file(good2));
    const status = ctx.status();
    assert.equal(status.certStatus, 'good');
    assert.equal(status.signedBy, 'delegated');
    assert.match(status.responder!, /Test OCSP Responder/);
    assert.equal(status.serial, '0ABCDE01');
    assert.equal(status.bytes, good2.length);
    assert.ok(status.thisUpdate! <= new Date() && status.nextUpdate! > new Date());
    assert.deepEqual(status.validUntil, status.nextUpdate);
    assert.equal(status.lastRefusal, null);
    assert.ok(ctx.stapleNow()!.equals(good2));
  });
});

describe('reload keeps the last good staple when the new file is bad', () => {
  const bad: Array<[string, StaplingErrorCode, (file: string) => void]> = [
    ['deleted', 'ERR_OCSP_FILE_READ', (f) => unlinkSync(f)],
    ['empty', 'ERR_OCSP_EMPTY', (f) => writeFileSync(f, '')],
    ['replaced by a directory', 'ERR_OCSP_FILE_READ', (f) => { unlinkSync(f); mkdirSync(f); }],
    ['a symlink loop', 'ERR_OCSP_FILE_READ', (f) => { unlinkSync(f); symlinkSync(f, f); }],
    ['garbage', 'ERR_OCSP_MALFORMED', (f) => writeFileSync(f, 'garbage\n')],
    ['truncated', 'ERR_OCSP_MALFORMED', (f) => writeFileSync(f, good.subarray(0, good.length - 20))],
    ['followed by trailing bytes', 'ERR_OCSP_TRAILING_DATA', (f) => writeFileSync(f, Buffer.concat([good, Buffer.from('\n')]))],
    ['5 MB', 'ERR_OCSP_TOO_LARGE', (f) => writeFileSync(f, Buffer.alloc(5 * 1024 * 1024, 0x30))],
    ["another certificate's response", 'ERR_OCSP_CERTID_MISMATCH', (f) => writeFileSync(f, pki.respond({ certs: [pki.leaf2] }))],
    ['revoked', 'ERR_OCSP_REVOKED', (f) => writeFileSync(f, pki.respond({ status: 'revoked' }))],
    ['unknown', 'ERR_OCSP_UNKNOWN', (f) => writeFileSync(f, pki.respond({ status: 'unknown' }))],
    ['expired', 'ERR_OCSP_EXPIRED', (f) => writeFileSync(f, pki.respond({ at: '-3d' }))],
    ['too old for Firefox (30-day response, 15 days after thisUpdate)', 'ERR_OCSP_TOO_OLD', (f) => writeFileSync(f, pki.respond({ at: '-15d', validMinutes: 30 * 24 * 60 }))],
    ['forged', 'ERR_OCSP_BAD_SIGNATURE', (f) => writeFileSync(f, pki.respond({ signer: pki.otherCa }))],
    ['signed by an unauthorised responder', 'ERR_OCSP_SIGNER_UNAUTHORIZED', (f) => writeFileSync(f, pki.respond({ signer: pki.responderNoEku }))],
    ['tryLater', 'ERR_OCSP_RESPONSE_STATUS', (f) => writeFileSync(f, Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x03]))],
  ];
  for (const [name, code, spoil] of bad) {
    it(`refuses a file ${name} with ${code} and keeps stapling the old bytes`, async () => {
      const dir = join(pki.dir, `reload-${code}-${name.replace(/\W+/g, '-')}`);
      mkdirSync(dir);
      const file = join(dir, 'leaf.ocsp');
      writeFileSync(file, good);
      const { ctx } = await stapled(file);
      const refusals: StaplingError[] = [];
      ctx.on('refused', (err) => refusals.push(err));
      spoil(file);
      const err = await rejectsWith(ctx.reload(), code);
      assert.equal(err.file, file);
      assert.equal(refusals.length, 1);
      assert.equal(refusals[0], err);
      assert.ok(ctx.stapleNow()!.equals(good), 'the previous staple is still handed out');
      const status = ctx.status();
      assert.equal(status.stapling, true);
      assert.equal(status.lastRefusal?.code, code);
      rmSync(dir, { recursive: true, force: true });
      await ctx.close();
    });
  }
});

describe('reload swaps in good files', () => {
  it('swaps to the new response and emits reload', async () => {
    const { ctx, file } = await stapled();
    const events: unknown[] = [];
    ctx.on('reload', (s) => events.push(s));
    writeFileSync(file, good2);
    const status = await ctx.reload();
    assert.equal(status.signedBy, 'delegated');
    assert.ok(ctx.stapleNow()!.equals(good2));
    assert.equal(events.length, 1);
    await ctx.close();
  });

  it('coalesces concurrent reloads and the newest file wins', async () => {
    const { ctx, file } = await stapled();
    let reloads = 0;
    ctx.on('reload', () => reloads++);
    const first = ctx.reload();
    writeFileSync(file, good2);
    const second = ctx.reload();
    const third = ctx.reload();
    assert.equal(second, third, 'calls made during a reload share one follow-up');
    await first;
    const status = await third;
    assert.equal(status.signedBy, 'delegated');
    assert.ok(ctx.stapleNow()!.equals(good2));
    assert.equal(reloads, 2);
    await ctx.close();
  });

  it('reload({ ocspFile }) switches to another file only when it passes every check', async () => {
    const { ctx, file } = await stapled();
    const revoked = pki.file(pki.respond({ status: 'revoked' }));
    await rejectsWith(ctx.reload({ ocspFile: revoked }), 'ERR_OCSP_REVOKED');
    assert.equal(ctx.status().ocspFile, file, 'a refused file does not become the staple file');
    assert.ok(ctx.stapleNow()!.equals(good));
    const other = pki.file(good2);
    const status = await ctx.reload({ ocspFile: other });
    assert.equal(status.ocspFile, other);
    assert.ok(ctx.stapleNow()!.equals(good2));
    const newer = pki.respond();
    writeFileSync(other, newer);
    await ctx.reload();
    assert.ok(ctx.stapleNow()!.equals(newer), 'later reloads read the new file');
    await ctx.close();
  });

  it('a refused reload followed by a good one clears lastRefusal', async () => {
    const { ctx, file } = await stapled();
    writeFileSync(file, 'junk');
    await rejectsWith(ctx.reload(), 'ERR_OCSP_MALFORMED');
    writeFileSync(file, good);
    await ctx.reload();
    assert.equal(ctx.status().lastRefusal, null);
    await ctx.close();
  });
});

describe('a reload never steps back to an older response', () => {
  const HOUR = 3_600_000;
  /** A response for pki.leaf with exactly this thisUpdate, valid six days, signed by the CA or its delegated responder. */
  const at = (thisUpdate: number, signer: 'issuer' | 'delegated' = 'issuer') =>
    buildResponse({
      signer: signer === 'issuer' ? pki.ca : pki.responder,
      certs: signer === 'issuer' ? undefined : [pemDer(readFileSync(pki.responder.cert, 'latin1'))],
      singles: [{ certId: certId(pki.leaf, pki.ca), thisUpdate: new Date(thisUpdate), nextUpdate: new Date(thisUpdate + 6 * 24 * HOUR) }],
    });
  const wholeSecond = () => Math.floor(Date.now() / 1000) * 1000;

  it('refuses a replayed older response (ERR_OCSP_OLDER_THAN_HELD) and keeps stapling the newer one', async () => {
    const held = pki.respond();
    const older = pki.respond({ at: '-2h' });
    const { ctx, file } = await stapled(pki.file(held));
    const refusals: StaplingError[] = [];
    ctx.on('refused', (err) => refusals.push(err));
    writeFileSync(file, older);
    const err = await rejectsWith(ctx.reload(), 'ERR_OCSP_OLDER_THAN_HELD');
    assert.equal(err.family, 'response');
    assert.equal(err.file, file);
    const heldThisUpdate = ctx.status().thisUpdate!.toISOString();
    const olderThisUpdate = verifyOcspResponse(older, ctx.chain.leaf, ctx.chain.issuer, { now: Date.now(), clockSkewMs: 300_000, maxAgeWithoutNextUpdateMs: 86_400_000, maxResponseBytes: 65_536 }).single.thisUpdate.toISOString();
    assert.match(err.expected!, new RegExp(`^thisUpdate at or after ${heldThisUpdate} \\(the staple held`));
    assert.equal(err.found, `thisUpdate ${olderThisUpdate}`);
    assert.deepEqual(refusals, [err]);
    assert.ok(ctx.stapleNow()!.equals(held), 'the newer staple is still handed out');
    assert.equal(ctx.status().lastRefusal?.code, 'ERR_OCSP_OLDER_THAN_HELD');
    assert.deepEqual(ctx.counters().refusalsByCode, { ERR_OCSP_OLDER_THAN_HELD: 1 });
    // reload({ ocspFile }) follows the same rule, and the context keeps its file.
    const elsewhere = pki.file(older);
    await rejectsWith(ctx.reload({ ocspFile: elsewhere }), 'ERR_OCSP_OLDER_THAN_HELD');
    assert.equal(ctx.status().ocspFile, file);
    assert.ok(ctx.stapleNow()!.equals(held));
    // A newer response is taken as always.
    writeFileSync(file, pki.respond());
    await ctx.reload();
    assert.equal(ctx.status().lastRefusal, null);
    await ctx.close();
  });

  it('registry.reloadFromFile() refuses an older file for a certificate it staples, and keeps the staple', async () => {
    const held = pki.respond();
    const older = pki.file(pki.respond({ at: '-2h' }));
    const registry = await createStaplingRegistry({ entries: [{ certFile: pki.leaf.chain, ocspFile: pki.file(held) }] });
    const result = await registry.reloadFromFile(older);
    assert.equal(result.ok, false);
    assert.equal(result.error?.code, 'ERR_OCSP_OLDER_THAN_HELD');
    assert.ok(result.context!.stapleNow()!.equals(held));
    await registry.close();
  });

  it('takes a file with the same thisUpdate and other bytes (re-signed, or another signer)', async () => {
    const thisUpdate = wholeSecond() - HOUR;
    const { ctx, file } = await stapled(pki.file(at(thisUpdate, 'issuer')));
    const resigned = at(thisUpdate, 'delegated');
    writeFileSync(file, resigned);
    const status = await ctx.reload();
    assert.equal(status.signedBy, 'delegated');
    assert.ok(ctx.stapleNow()!.equals(resigned));
    await ctx.close();
  });

  it('takes an older file once the staple held no longer staples (better than nothing)', async () => {
    let now = Date.now();
    const thisUpdate = wholeSecond() - HOUR;
    const held = buildResponse({ signer: pki.ca, singles: [{ certId: certId(pki.leaf, pki.ca), thisUpdate: new Date(thisUpdate), nextUpdate: new Date(thisUpdate + 2 * HOUR) }] });
    const older = at(thisUpdate - HOUR);
    const file = pki.file(held);
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file, now: () => now });
    writeFileSync(file, older);
    await rejectsWith(ctx.reload(), 'ERR_OCSP_OLDER_THAN_HELD');
    now = ctx.status().validUntil!.getTime();
    assert.equal(ctx.stapleNow(), null, 'the staple held has expired');
    await ctx.reload();
    assert.ok(ctx.stapleNow()!.equals(older), 'the older, still valid file is stapled');
    await ctx.close();
  });

  it('reads a file refused only for being older again when the staple held expires', async (t) => {
    let now = Date.now();
    const thisUpdate = wholeSecond() - HOUR;
    const held = buildResponse({ signer: pki.ca, singles: [{ certId: certId(pki.leaf, pki.ca), thisUpdate: new Date(thisUpdate), nextUpdate: new Date(thisUpdate + 2 * HOUR) }] });
    const older = at(thisUpdate - HOUR);
    const file = pki.file(held);
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file, now: () => now });
      t.after(() => ctx.close());
      writeFileSync(file, older);
      await rejectsWith(ctx.reload(), 'ERR_OCSP_OLDER_THAN_HELD');
      const events: string[] = [];
      ctx.on('expired', () => events.push('expired'));
      // setInterval is not mocked: it only turns a missing event into a failure instead of a hang.
      const reloaded = new Promise<void>((resolve, reject) => {
        const guard = setInterval(() => {
          clearInterval(guard);
          reject(new Error('the file was not read again when the staple held expired'));
        }, 20_000);
        ctx.once('reload', () => {
          clearInterval(guard);
          resolve();
        });
      });
      const validUntil = ctx.status().validUntil!.getTime();
      const ms = validUntil - now;
      now = validUntil;
      mock.timers.tick(ms);
      await reloaded;
      assert.deepEqual(events, ['expired']);
      assert.ok(ctx.stapleNow()!.equals(older));
      assert.equal(ctx.status().lastRefusal, null);
      await ctx.close();
    } finally {
      mock.timers.reset();
    }
  });

  it("never compares a renewed certificate's file with the previous certificate's staple", async () => {
    const dir = join(pki.dir, 'step-back-rotation');
    mkdirSync(dir);
    const certFile = join(dir, 'site.pem');
    const ocspFile = join(dir, 'site.pem.ocsp');
    copyFileSync(pki.leaf.chain, certFile);
    writeFileSync(ocspFile, pki.respond());
    const ctx = await createStaplingContext({ certFile, ocspFile });
    const leaf2Older = pki.respond({ certs: [pki.leaf2], at: '-2h' });
    copyFileSync(pki.leaf2.chain, certFile);
    writeFileSync(ocspFile, leaf2Older);
    const status = await ctx.reload({ certificate: true });
    assert.equal(status.serial, pki.leaf2.serial);
    assert.ok(ctx.stapleNow()!.equals(leaf2Older));
    assert.equal(status.previous?.serial, pki.leaf.serial, 'the previous certificate keeps its own staple');
    await ctx.close();
  });
});

describe('check 7: the staple stops exactly at nextUpdate', () => {
  it('stops stapling at nextUpdate and emits expiring then expired', async () => {
    const bytes = pki.respond({ validMinutes: 120 });
    const file = pki.file(bytes);
    let now = Date.now();
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file, now: () => now, expiringMarginMs: 30 * 60_000 });
      const nextUpdate = ctx.status().nextUpdate!.getTime();
      const events: string[] = [];
      ctx.on('expiring', () => events.push('expiring'));
      ctx.on('expired', (s) => events.push(`expired stapling=${s.stapling}`));
      const advance = (ms: number) => {
        now += ms;
        mock.timers.tick(ms);
      };
      advance(nextUpdate - 30 * 60_000 - now - 1);
      assert.deepEqual(events, []);
      advance(1);
      assert.deepEqual(events, ['expiring']);
      advance(nextUpdate - now - 1);
      assert.ok(ctx.stapleNow()!.equals(bytes), 'still stapled 1 ms before nextUpdate');
      advance(1);
      assert.equal(ctx.stapleNow(), null, 'not stapled at nextUpdate');
      assert.equal(ctx.status().stapling, false);
      assert.deepEqual(events, ['expiring', 'expired stapling=false']);
      await ctx.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('stops at thisUpdate + maxAgeMs (10 days) when nextUpdate is later: status, expiring, expired', async () => {
    const bytes = pki.respond({ at: '-9d', validMinutes: 30 * 24 * 60 });
    let now = Date.now();
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(bytes), now: () => now, expiringMarginMs: 30 * 60_000 });
      const status = ctx.status();
      const cap = status.thisUpdate!.getTime() + 10 * 86_400_000;
      assert.equal(status.validUntil!.getTime(), cap, 'validUntil is thisUpdate + 10 days');
      assert.ok(status.nextUpdate!.getTime() > cap + 19 * 86_400_000, 'nextUpdate is three weeks later');
      const events: string[] = [];
      ctx.on('expiring', () => events.push('expiring'));
      ctx.on('expired', (s) => events.push(`expired stapling=${s.stapling}`));
      const advance = (ms: number) => {
        now += ms;
        mock.timers.tick(ms);
      };
      advance(cap - 30 * 60_000 - now - 1);
      assert.deepEqual(events, []);
      advance(1);
      assert.deepEqual(events, ['expiring']);
      advance(cap - now - 1);
      assert.ok(ctx.stapleNow()!.equals(bytes), 'still stapled 1 ms before the cap');
      advance(1);
      assert.equal(ctx.stapleNow(), null, 'not stapled at thisUpdate + 10 days');
      assert.deepEqual(events, ['expiring', 'expired stapling=false']);
      await rejectsWith(ctx.reload(), 'ERR_OCSP_TOO_OLD');
      await ctx.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('follows the maxAgeMs option', async () => {
    let now = Date.now();
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good), now: () => now, maxAgeMs: 3_600_000 });
    const thisUpdate = ctx.status().thisUpdate!.getTime();
    assert.equal(ctx.status().validUntil!.getTime(), thisUpdate + 3_600_000);
    now = thisUpdate + 3_600_000;
    assert.equal(ctx.stapleNow(), null);
    await ctx.close();
  });

  it('refuses a maxAgeMs that is not a number of ms from 1 to 2^31-1, everywhere it enters (ERR_INVALID_OPTION)', async () => {
    const { leaf, issuer } = await loadCertificateChain(pki.leaf.chain);
    const limits = { now: Date.now(), clockSkewMs: 300_000, maxAgeWithoutNextUpdateMs: 86_400_000, maxResponseBytes: 65_536 };
    const entry = { certFile: pki.leaf.chain, ocspFile: pki.file(good) };
    for (const maxAgeMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '10d' as unknown as number]) {
      const found = `${typeof maxAgeMs === 'string' ? 'string' : 'number'} ${typeof maxAgeMs === 'string' ? `"${maxAgeMs}"` : String(maxAgeMs)}`;
      const invalid = (err: unknown) => {
        assert.ok(err instanceof StaplingError, String(err));
        assert.equal(err.code, 'ERR_INVALID_OPTION');
        assert.match(err.message, /option maxAgeMs is not valid/);
        assert.match(err.expected!, /from 1 to 2147483647/);
        assert.equal(err.found, `the ${found}`);
        return true;
      };
      await assert.rejects(createStaplingContext({ ...entry, maxAgeMs }), invalid);
      await assert.rejects(createStaplingRegistry({ entries: [entry], maxAgeMs }), invalid);
      await assert.rejects(fetchOcspResponse({ cert: leaf, issuer, url: 'http://127.0.0.1:9/', maxAgeMs }), invalid);
      assert.throws(() => verifyOcspResponse(good, leaf, issuer, { ...limits, maxAgeMs }), invalid);
    }
    const ctx = await createStaplingContext({ ...entry, maxAgeMs: 0x7fffffff });
    assert.equal(ctx.status().stapling, true);
    await ctx.close();
  });

  it('refuses to staple even if the timer is late: the handshake path compares the clock itself', async () => {
    const bytes = pki.respond({ validMinutes: 10 });
    let now = Date.now();
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(bytes), now: () => now });
    now = ctx.status().nextUpdate!.getTime();
    assert.equal(ctx.stapleNow(), null);
    await ctx.close();
  });

  it('stops stapling if the clock jumps back before thisUpdate minus the skew', async () => {
    let now = Date.now();
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good), now: () => now, clockSkewMs: 60_000 });
    now = ctx.status().thisUpdate!.getTime() - 60_001;
    assert.equal(ctx.stapleNow(), null);
    now += 1;
    assert.ok(ctx.stapleNow());
    await ctx.close();
  });
});

describe('attach and close', () => {
  it('close() lets the running reload finish, cancels the queued one, and refuses later reloads', async () => {
    const { ctx, file } = await stapled();
    let reloads = 0;
    ctx.on('reload', () => reloads++);
    const running = ctx.reload();
    const queued = ctx.reload();
    writeFileSync(file, good2);
    await ctx.close();
    await running;
    await assert.rejects(queued, { name: 'StaplingError', code: 'ERR_CLOSED' });
    await assert.rejects(ctx.reload(), { name: 'StaplingError', code: 'ERR_CLOSED' });
    assert.equal(reloads, 1, 'only the reload that was running when close() was called');
  });

  it('shares one OCSPRequest listener among contexts and removes it with the last', async () => {
    const server = createServer();
    const a = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good) });
    const b = await createStaplingContext({ certFile: pki.leaf2.chain, ocspFile: pki.file(pki.respond({ certs: [pki.leaf2] })) });
    a.attach(server);
    b.attach(server);
    a.attach(server);
    assert.equal(server.listenerCount('OCSPRequest'), 1);
    await a.close();
    assert.equal(server.listenerCount('OCSPRequest'), 1);
    b.detach(server);
    assert.equal(server.listenerCount('OCSPRequest'), 0);
    assert.throws(() => a.attach(server), { name: 'StaplingError', code: 'ERR_CLOSED' });
    await b.close();
  });

  it('calls back (null, staple) for its certificate, (null, null) for others, and never throws', async () => {
    const server = createServer();
    const { ctx } = await stapled();
    ctx.attach(server);
    const listener = server.listeners('OCSPRequest')[0] as (c: Buffer, i: Buffer | null, cb: (e: Error | null, r?: Buffer | null) => void) => void;
    const results: Array<[Error | null, Buffer | null | undefined]> = [];
    const cb = (e: Error | null, r?: Buffer | null) => results.push([e, r]);
    listener(ctx.certificate, null, cb);
    listener(Buffer.from(ctx.certificate), null, cb);
    listener(Buffer.alloc(0), null, cb);
    listener(Buffer.from('short'), null, cb);
    const other = Buffer.from(ctx.certificate);
    other[10] = other[10]! ^ 0xff; // same tail, different body
    listener(other, null, cb);
    assert.deepEqual(results.map(([e]) => e), [null, null, null, null, null]);
    assert.ok(results[0]![1]!.equals(good));
    assert.ok(results[1]![1]!.equals(good));
    assert.deepEqual(results.slice(2).map(([, r]) => r), [null, null, null]);
    await ctx.close();
  });
});

describe('special files', () => {
  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    const fifo = join(pki.dir, 'staple.fifo');
    execFileSync('mkfifo', [fifo]);
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: fifo });
    assert.equal(ctx.status().lastRefusal?.code, 'ERR_OCSP_FILE_READ');
    assert.match(ctx.status().lastRefusal!.message, /special file/);
    await ctx.close();
  });
});

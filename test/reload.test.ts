/**
 * Reload from anywhere: file watches (rename-over, in-place rewrite, delete and recreate,
 * Kubernetes ..data symlink swap), certificate rotation, and swaps under full handshake load.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, unwatchFile, watchFile as pollFile, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createStaplingContext, watchFile, type StaplingContext } from '../src/index.js';
import { writeFileAtomic } from '../src/ocsp/file.js';
import { handshake, type HandshakeResult } from './fixtures/client.js';
import { buildResponse, certId, currentWindow, pemDer } from './fixtures/craft.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let good: Buffer;
let good2: Buffer;
let dirCount = 0;

before(() => {
  pki = makePki();
  good = pki.respond();
  good2 = pki.respond({ signer: pki.responder });
});
after(() => pki.remove());

function freshDir(): string {
  const dir = join(pki.dir, `watch-${++dirCount}`);
  mkdirSync(dir);
  return dir;
}

/** Resolves with the next 'reload' status, or rejects after `ms`. */
function nextEvent(ctx: StaplingContext, event: 'reload' | 'refused', ms = 8000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' event within ${ms} ms`)), ms);
    ctx.once(event, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const WATCH = { debounceMs: 20, pollMs: 100 };

describe('watch', () => {
  it('follows a rename over the file (atomic writers, editors)', async () => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file })).watch(WATCH);
    const reloaded = nextEvent(ctx, 'reload');
    await writeFileAtomic(file, good2);
    await reloaded;
    assert.ok(ctx.stapleNow()!.equals(good2));
    await ctx.close();
  });

  it('follows an in-place rewrite', async () => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file })).watch(WATCH);
    const reloaded = nextEvent(ctx, 'reload');
    writeFileSync(file, good2);
    await reloaded;
    assert.ok(ctx.stapleNow()!.equals(good2));
    await ctx.close();
  });

  it('keeps the staple through deletion, then follows the recreated file', async () => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file })).watch(WATCH);
    const refused = nextEvent(ctx, 'refused');
    unlinkSync(file);
    await refused;
    assert.ok(ctx.stapleNow()!.equals(good), 'still stapling the good response');
    const reloaded = nextEvent(ctx, 'reload');
    writeFileSync(file, good2);
    await reloaded;
    assert.ok(ctx.stapleNow()!.equals(good2));
    await ctx.close();
  });

  it('follows a Kubernetes-style ..data symlink swap', async () => {
    const dir = freshDir();
    const version = (n: number, bytes: Buffer) => {
      const v = join(dir, `..2026_11_24_${n}`);
      mkdirSync(v);
      writeFileSync(join(v, 'leaf.ocsp'), bytes);
      return `..2026_11_24_${n}`;
    };
    symlinkSync(version(1, good), join(dir, '..data'));
    symlinkSync('..data/leaf.ocsp', join(dir, 'leaf.ocsp'));
    const file = join(dir, 'leaf.ocsp');
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file })).watch(WATCH);
    assert.ok(ctx.stapleNow()!.equals(good));
    const reloaded = nextEvent(ctx, 'reload');
    // What the kubelet does: new version directory, new ..data_tmp link, rename over ..data.
    symlinkSync(version(2, good2), join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2026_11_24_1'), { recursive: true });
    await reloaded;
    assert.ok(ctx.stapleNow()!.equals(good2));
    await ctx.close();
  });

  it('survives its directory being deleted and recreated', async () => {
    const dir = freshDir();
    const file = join(dir, 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file })).watch(WATCH);
    const refused = nextEvent(ctx, 'refused');
    rmSync(dir, { recursive: true });
    await refused;
    assert.ok(ctx.stapleNow()!.equals(good));
    mkdirSync(dir);
    const reloaded = nextEvent(ctx, 'reload');
    writeFileSync(file, good2);
    await reloaded;
    assert.ok(ctx.stapleNow()!.equals(good2));
    await ctx.close();
  });

  it('refuses a bad file written over the watched one and keeps the good staple', async () => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file })).watch(WATCH);
    const refused = nextEvent(ctx, 'refused');
    await writeFileAtomic(file, pki.respond({ status: 'revoked' }));
    await refused;
    assert.equal(ctx.status().lastRefusal?.code, 'ERR_OCSP_REVOKED');
    assert.ok(ctx.stapleNow()!.equals(good));
    await ctx.close();
  });
});

/**
 * Node keeps one stat poller per path: a listener added here runs right after the watch's own,
 * so once it has fired, the watch's poll has seen the change too. Call before the change; the
 * returned function waits for that, or for 20 poll intervals when the poll saw nothing (its
 * first stat came after the change): either way the poll has nothing more to report.
 */
async function pollWitness(file: string): Promise<() => Promise<void>> {
  // Give the watch's poll time to take its first stat, so that it sees the change.
  await delay(WATCH.pollMs * 3);
  let seen: () => void = () => undefined;
  const polled = new Promise<void>((resolve) => (seen = resolve));
  const witness = () => seen();
  pollFile(file, { interval: WATCH.pollMs, persistent: false }, witness);
  return async () => {
    await Promise.race([polled, delay(WATCH.pollMs * 20)]);
    unwatchFile(file, witness);
  };
}

/**
 * Counts the events of `ctx` while `change` runs, until the change has been reported (the
 * first event) and then seen by the stat poll too, plus a settling time of many debounce
 * periods: a second report of the same change would have landed by then.
 */
async function eventsOfOneChange(ctx: StaplingContext, file: string, change: () => unknown): Promise<{ reload: number; refused: number }> {
  const counts = { reload: 0, refused: 0 };
  const onReload = () => counts.reload++;
  const onRefused = () => counts.refused++;
  ctx.on('reload', onReload).on('refused', onRefused);
  const polled = await pollWitness(file);
  const reported = Promise.race([nextEvent(ctx, 'reload'), nextEvent(ctx, 'refused')]);
  await change();
  await reported;
  await polled();
  await delay(WATCH.debounceMs * 20);
  ctx.off('reload', onReload).off('refused', onRefused);
  return counts;
}

describe('watch: one change, one event, one counter step', () => {
  const kinds: { name: string; setUp?: (dir: string) => string; change: (file: string, dir: string) => unknown; expect: 'reload' | 'refused' }[] = [
    { name: 'rename over', change: (file) => writeFileAtomic(file, good2), expect: 'reload' },
    { name: 'in-place rewrite', change: (file) => writeFileSync(file, good2), expect: 'reload' },
    { name: 'bad file renamed over', change: (file) => writeFileAtomic(file, pki.respond({ status: 'revoked' })), expect: 'refused' },
    { name: 'delete', change: (file) => unlinkSync(file), expect: 'refused' },
    {
      name: 'Kubernetes ..data swap',
      setUp: (dir) => {
        mkdirSync(join(dir, '..v1'));
        writeFileSync(join(dir, '..v1', 'leaf.ocsp'), good);
        symlinkSync('..v1', join(dir, '..data'));
        symlinkSync('..data/leaf.ocsp', join(dir, 'leaf.ocsp'));
        return join(dir, 'leaf.ocsp');
      },
      change: (_file, dir) => {
        mkdirSync(join(dir, '..v2'));
        writeFileSync(join(dir, '..v2', 'leaf.ocsp'), good2);
        symlinkSync('..v2', join(dir, '..data_tmp'));
        renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
        rmSync(join(dir, '..v1'), { recursive: true });
      },
      expect: 'reload',
    },
  ];
  for (const kind of kinds) {
    it(`${kind.name}: exactly one '${kind.expect}'`, async () => {
      const dir = freshDir();
      const file = kind.setUp?.(dir) ?? join(dir, 'leaf.ocsp');
      if (!kind.setUp) writeFileSync(file, good);
      const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file })).watch(WATCH);
      const before = ctx.counters();
      const counts = await eventsOfOneChange(ctx, file, () => kind.change(file, dir));
      const after = ctx.counters();
      assert.deepEqual(counts, { reload: kind.expect === 'reload' ? 1 : 0, refused: kind.expect === 'refused' ? 1 : 0 });
      assert.equal(after.reloads - before.reloads, counts.reload, 'reload counter');
      assert.equal(after.refusals - before.refusals, counts.refused, 'refusal counter');
      await ctx.close();
    });
  }

  it('delete then recreate: one refusal, then one reload', async () => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file })).watch(WATCH);
    assert.deepEqual(await eventsOfOneChange(ctx, file, () => unlinkSync(file)), { reload: 0, refused: 1 });
    assert.deepEqual(await eventsOfOneChange(ctx, file, () => writeFileSync(file, good2)), { reload: 1, refused: 0 });
    assert.deepEqual(ctx.counters().refusalsByCode, { ERR_OCSP_FILE_READ: 1 });
    assert.equal(ctx.counters().reloads, 2);
    await ctx.close();
  });

  it('a file touched or rewritten with the same bytes reloads nothing, and explicit reload() still reports', async () => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file })).watch(WATCH);
    // Identity changes (inode, ctime), contents do not: the watch reads, finds nothing new.
    await assertSilent(ctx, file, () => writeFileAtomic(file, good));
    await assertSilent(ctx, file, () => chmodSync(file, 0o600));
    assert.equal(ctx.counters().reloads, 1);
    let events = 0;
    ctx.on('reload', () => events++);
    await ctx.reload();
    assert.equal(events, 1, 'reload() asked explicitly always tells');
    await ctx.close();
  });

  it('the staple in use written back after a transient refusal is no new staple', async () => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file })).watch(WATCH);
    const loadedAt = ctx.status().loadedAt;
    // A writer that truncates first: refused, the staple stays.
    assert.deepEqual(await eventsOfOneChange(ctx, file, () => writeFileSync(file, Buffer.alloc(0))), { reload: 0, refused: 1 });
    assert.equal(ctx.status().lastRefusal?.code, 'ERR_OCSP_EMPTY');
    // Then the same bytes: nothing new is stapled.
    await assertSilent(ctx, file, () => writeFileSync(file, good));
    assert.equal(ctx.counters().reloads, 1);
    assert.deepEqual(ctx.status().loadedAt, loadedAt);
    assert.equal(ctx.status().lastRefusal, null, 'the file is good again');
    assert.ok(ctx.stapleNow()!.equals(good));
    await ctx.close();
  });

  it('watchFile calls back once per change, not again when the poll catches up', async () => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    let calls = 0;
    const watch = watchFile(file, () => calls++, WATCH);
    const polled = await pollWitness(file);
    await writeFileAtomic(file, good2);
    await polled();
    await delay(WATCH.debounceMs * 20);
    watch.close();
    assert.equal(calls, 1);
  });
});

describe('watch follows the file in use', () => {
  it('after reload({ ocspFile }): a change of the new file reloads, a change of the retired one does nothing', async () => {
    const dir = freshDir();
    const first = join(dir, 'first.ocsp');
    const second = join(dir, 'second.ocsp');
    writeFileSync(first, good);
    writeFileSync(second, good2);
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: first })).watch(WATCH);
    await ctx.reload({ ocspFile: second });
    assert.equal(ctx.status().ocspFile, second);
    // The retired file changing (to a response the context would accept) must not reload.
    await assertSilent(ctx, first, () => writeFileAtomic(first, pki.respond()));
    assert.ok(ctx.stapleNow()!.equals(good2));
    // The file in use changing must.
    const fresh = pki.respond({ signer: pki.responder });
    assert.deepEqual(await eventsOfOneChange(ctx, second, () => writeFileAtomic(second, fresh)), { reload: 1, refused: 0 });
    assert.ok(ctx.stapleNow()!.equals(fresh));
    await ctx.close();
  });

  it('a refused reload({ ocspFile }) leaves the watch on the old file', async () => {
    const dir = freshDir();
    const first = join(dir, 'first.ocsp');
    const bad = join(dir, 'bad.ocsp');
    writeFileSync(first, good);
    writeFileSync(bad, pki.respond({ status: 'revoked' }));
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: first })).watch(WATCH);
    await assert.rejects(ctx.reload({ ocspFile: bad }), { code: 'ERR_OCSP_REVOKED' });
    assert.deepEqual(await eventsOfOneChange(ctx, first, () => writeFileAtomic(first, good2)), { reload: 1, refused: 0 });
    await ctx.close();
  });

  it('watch() twice keeps one watch: one change, one event, no listener pile-up', async () => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    for (let i = 0; i < 15; i++) assert.equal(ctx.watch(WATCH), ctx);
    assert.equal(ctx.watching, true);
    assert.deepEqual(await eventsOfOneChange(ctx, file, () => writeFileAtomic(file, good2)), { reload: 1, refused: 0 });
    // Node's stat poller is one emitter per path: 15 watches would add 15 listeners to it.
    await delay(50);
    process.off('warning', onWarning);
    assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning'), []);
    await ctx.close();
    assert.equal(ctx.watching, false);
  });
});

/** `change` gives no event: checked once the stat poll has seen the change and settled. */
async function assertSilent(ctx: StaplingContext, file: string, change: () => unknown): Promise<void> {
  let events = 0;
  const count = () => events++;
  ctx.on('reload', count).on('refused', count);
  const polled = await pollWitness(file);
  await change();
  await polled();
  await delay(WATCH.debounceMs * 20);
  ctx.off('reload', count).off('refused', count);
  assert.equal(events, 0);
}

describe('certificate rotation', () => {
  it('never hands the old staple out with the new certificate; new cert first, new staple later', async () => {
    const dir = freshDir();
    const certFile = join(dir, 'site.pem');
    const ocspFile = join(dir, 'site.pem.ocsp');
    copyFileSync(pki.leaf.chain, certFile);
    writeFileSync(ocspFile, good);
    const ctx = await createStaplingContext({ certFile, ocspFile });
    const oldDer = ctx.certificate;
    // Renewal: the certificate changes first, the staple file still holds the old response.
    copyFileSync(pki.leaf2.chain, certFile);
    await assert.rejects(ctx.reload({ certificate: true }), { code: 'ERR_OCSP_CERTID_MISMATCH' });
    assert.ok(!ctx.certificate.equals(oldDer), 'the context follows the new certificate');
    assert.equal(ctx.stapleNow(), null, 'the old staple is gone');
    assert.equal(ctx.status().serial, pki.leaf2.serial);
    // A minute later the job writes the new certificate's staple.
    const leaf2Staple = pki.respond({ certs: [pki.leaf2] });
    writeFileSync(ocspFile, leaf2Staple);
    await ctx.reload();
    assert.ok(ctx.stapleNow()!.equals(leaf2Staple));
    await ctx.close();
  });

  it('keeps certificate and staple when the new certificate file is unusable', async () => {
    const dir = freshDir();
    const certFile = join(dir, 'site.pem');
    copyFileSync(pki.leaf.chain, certFile);
    const ctx = await createStaplingContext({ certFile, ocspFile: pki.file(good) });
    writeFileSync(certFile, 'half-written');
    await assert.rejects(ctx.reload({ certificate: true }), { code: 'ERR_CERT_PARSE' });
    assert.ok(ctx.stapleNow()!.equals(good));
    await ctx.close();
  });

  it('rotates under load with setSecureContext: every staple matches the certificate served', async (t) => {
    const dir = freshDir();
    const certFile = join(dir, 'site.pem');
    const ocspFile = join(dir, 'site.pem.ocsp');
    copyFileSync(pki.leaf.chain, certFile);
    writeFileSync(ocspFile, good);
    const staples = new Map<string, Buffer>([[pki.leaf.serial, good], [pki.leaf2.serial, pki.respond({ certs: [pki.leaf2] })]]);
    const server = createServer({ cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) }, (s) => s.end());
    const ctx = (await createStaplingContext({ certFile, ocspFile })).attach(server);
    const port = await listen(server);
    let stop = false;
    const seen = { stapled: 0, none: 0, wrong: 0, failed: 0 };
    // Each phase lasts a number of handshakes, not a time: a loaded machine only makes it slower.
    let done = 0;
    let waiter: { at: number; resolve: () => void } | null = null;
    const handshakes = (n: number) => new Promise<void>((resolve) => (waiter = { at: done + n, resolve }));
    const client = async () => {
      while (!stop) {
        const result = await fullHandshake(port).catch(() => null);
        if (!result) seen.failed++;
        else if (!result.staple) seen.none++;
        else if (result.staple.equals(staples.get(result.serial)!)) seen.stapled++;
        else seen.wrong++;
        done++;
        if (waiter && done >= waiter.at) {
          waiter.resolve();
          waiter = null;
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    await handshakes(12);
    server.setSecureContext({ cert: readFileSync(pki.leaf2.chain), key: readFileSync(pki.leaf2.key) });
    copyFileSync(pki.leaf2.chain, certFile);
    await ctx.reload({ certificate: true }).catch(() => undefined);
    await handshakes(12);
    writeFileSync(ocspFile, staples.get(pki.leaf2.serial)!);
    await ctx.reload();
    await handshakes(12);
    stop = true;
    await Promise.all(clients);
    await ctx.close();
    await closeServer(server);
    t.diagnostic(`handshakes ${JSON.stringify(seen)}`);
    assert.equal(seen.wrong, 0, 'no handshake got a staple for another certificate');
    assert.equal(seen.failed, 0);
    assert.ok(seen.stapled > 10, JSON.stringify(seen));
  });
});

describe('zero dropped handshakes', () => {
  it('8 clients doing full handshakes while the file is swapped and reloaded 60 times, a third of them bad', async (t) => {
    // Four good variants with one thisUpdate (a reload never steps back to an older one): issuer
    // by name, delegated, issuer by key hash, SHA-256 CertID.
    const { thisUpdate, nextUpdate } = currentWindow();
    const variant = (signer: 'ca' | 'responder', responderId: 'name' | 'key', hash: 'sha1' | 'sha256') =>
      buildResponse({
        signer: pki[signer],
        responderId,
        certs: signer === 'responder' ? [pemDer(readFileSync(pki.responder.cert, 'latin1'))] : undefined,
        singles: [{ certId: certId(pki.leaf, pki.ca, hash), thisUpdate, nextUpdate }],
      });
    const goodFiles = [variant('ca', 'name', 'sha1'), variant('responder', 'name', 'sha1'), variant('ca', 'key', 'sha1'), variant('ca', 'name', 'sha256')];
    const badFiles = [
      pki.respond({ status: 'revoked' }),
      pki.respond({ signer: pki.otherCa }),
      pki.respond({ certs: [pki.leaf2] }),
      pki.respond({ at: '-3d' }),
      Buffer.from('garbage'),
      good.subarray(0, 100),
    ];
    const dir = freshDir();
    const ocspFile = join(dir, 'leaf.ocsp');
    writeFileSync(ocspFile, goodFiles[0]!);
    const server = createServer({ cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) }, (s) => s.end());
    const ctx = (await createStaplingContext({ certFile: pki.leaf.chain, ocspFile })).attach(server);
    const port = await listen(server);
    let stop = false;
    const seen = { handshakes: 0, failed: 0, none: 0, foreign: 0 };
    const client = async () => {
      while (!stop) {
        const result = await fullHandshake(port).catch(() => null);
        seen.handshakes++;
        if (!result) seen.failed++;
        else if (!result.staple) seen.none++;
        else if (!goodFiles.some((g) => g.equals(result.staple!))) seen.foreign++;
      }
    };
    const clients = Array.from({ length: 8 }, client);
    let refused = 0;
    for (let i = 0; i < 60; i++) {
      const bytes = i % 3 === 2 ? badFiles[i % badFiles.length]! : goodFiles[i % goodFiles.length]!;
      await writeFileAtomic(ocspFile, bytes);
      await ctx.reload().catch(() => refused++);
      await delay(5);
    }
    stop = true;
    await Promise.all(clients);
    await ctx.close();
    await closeServer(server);
    t.diagnostic(`handshakes ${JSON.stringify(seen)}, reloads refused ${refused}`);
    assert.equal(refused, 20);
    assert.deepEqual({ failed: seen.failed, none: seen.none, foreign: seen.foreign }, { failed: 0, none: 0, foreign: 0 }, JSON.stringify(seen));
    assert.ok(seen.handshakes >= 60, `only ${seen.handshakes} handshakes`);
  });
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One full handshake (no session reuse), verified against the root but not the name. */
function fullHandshake(port: number): Promise<HandshakeResult> {
  return handshake({ port, ca: readFileSync(pki.root.cert), checkName: false });
}

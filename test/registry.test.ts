/** Many certificates on one server; Prometheus counters; a cluster reloading on one command. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import cluster from 'node:cluster';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSecureContext, createServer, type Server } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { once } from 'node:events';
import { createStaplingRegistry, reloadClusterWorkers, renderPrometheus, type SkippedEntry, type StaplingContext } from '../src/index.js';
import { handshake } from './fixtures/client.js';
import { makePki, type Issued, type Pki } from './fixtures/pki.js';

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.remove());

function siteDir(sites: Array<[string, Issued, Buffer | null]>): string {
  const dir = join(pki.dir, `sites-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  for (const [name, leaf, staple] of sites) {
    copyFileSync(leaf.chain, join(dir, `${name}.pem`));
    copyFileSync(leaf.key, join(dir, `${name}.key`));
    if (staple) writeFileSync(join(dir, `${name}.pem.ocsp`), staple);
  }
  return dir;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function stapleFor(port: number, servername: string): Promise<Buffer | null> {
  return (await handshake({ port, servername })).staple;
}

describe('registry', () => {
  it("loads a directory in HAProxy's convention and staples each SNI name its own response", async () => {
    const staples = { a: pki.respond(), b: pki.respond({ certs: [pki.leaf2] }), ec: pki.respond({ issuer: pki.ecCa, certs: [pki.ecLeaf] }) };
    const dir = siteDir([['a', pki.leaf, staples.a], ['b', pki.leaf2, staples.b], ['ec', pki.ecLeaf, staples.ec], ['none', pki.mustStaple, null]]);
    const registry = await createStaplingRegistry({ dir });
    assert.equal(registry.size, 4);
    const byName = new Map(['a', 'b', 'ec', 'none'].map((n) => [n, createSecureContext({ cert: readFileSync(join(dir, `${n}.pem`)), key: readFileSync(join(dir, `${n}.key`)) })]));
    const server = createServer({ SNICallback: (name, cb) => cb(null, byName.get(name)) }, (s) => s.end());
    registry.attach(server);
    assert.equal(server.listenerCount('OCSPRequest'), 1);
    const port = await listen(server);
    try {
      assert.ok((await stapleFor(port, 'a'))!.equals(staples.a));
      assert.ok((await stapleFor(port, 'b'))!.equals(staples.b));
      assert.ok((await stapleFor(port, 'ec'))!.equals(staples.ec));
      assert.equal(await stapleFor(port, 'none'), null);
      const statuses = registry.status();
      assert.deepEqual(statuses.map((s) => s.stapling), [true, true, true, false]);
      assert.equal(statuses[3]!.lastRefusal?.code, 'ERR_OCSP_FILE_READ');

      const metrics = renderPrometheus({ contexts: [registry], servers: [server] });
      assert.match(metrics, /# TYPE ocsp_stapler_handshakes_total counter/);
      const id = (n: string) => `cert_file="${join(dir, `${n}.pem`)}",ocsp_file="${join(dir, `${n}.pem.ocsp`)}"`;
      assert.ok(metrics.includes(`ocsp_stapler_handshakes_total{${id('a')},result="stapled"} 1\n`), metrics);
      assert.ok(metrics.includes(`ocsp_stapler_certificate_info{${id('a')},subject="CN=localhost",serial="${pki.leaf.serial}"} 1\n`), metrics);
      assert.ok(metrics.includes(`ocsp_stapler_stapling{${id('none')}} 0\n`), metrics);
      assert.ok(metrics.includes(`ocsp_stapler_refusals_total{${id('none')},code="ERR_OCSP_FILE_READ"} 1\n`), metrics);
      assert.ok(metrics.includes(`ocsp_stapler_must_staple{${id('none')}} 1\n`), metrics);
      assert.ok(metrics.includes(`ocsp_stapler_unknown_certificate_total{listener="127.0.0.1:${port}"} 0\n`), metrics);
    } finally {
      await registry.close();
      await new Promise((r) => server.close(r));
    }
  });

  it('reloadAll reports each file; a bad file keeps its good staple; lazy load resolves ready', async () => {
    const good = pki.respond();
    const dir = siteDir([['a', pki.leaf, good], ['b', pki.leaf2, pki.respond({ certs: [pki.leaf2] })]]);
    const registry = await createStaplingRegistry({ dir, load: 'lazy' });
    await registry.ready;
    assert.deepEqual(registry.status().map((s) => s.stapling), [true, true]);
    writeFileSync(join(dir, 'a.pem.ocsp'), pki.respond({ status: 'revoked' }));
    const results = await registry.reloadAll();
    assert.deepEqual(results.map((r) => [r.ok, r.error?.code]), [[false, 'ERR_OCSP_REVOKED'], [true, undefined]]);
    assert.ok(registry.contexts()[0]!.stapleNow()!.equals(good));
    await registry.close();
  });

  it('reloadFromFile finds the certificate a response file is for and makes it its file; a refusal changes no staple', async () => {
    const staples = { a: pki.respond(), b: pki.respond({ certs: [pki.leaf2] }) };
    const dir = siteDir([['a', pki.leaf, staples.a], ['b', pki.leaf2, null]]);
    const registry = await createStaplingRegistry({ dir });
    try {
      const [a, b] = registry.contexts();
      const forB = pki.file(staples.b, `b-${Math.random()}.der`);
      const ok = await registry.reloadFromFile(forB);
      assert.deepEqual([ok.ok, ok.context === b, ok.error], [true, true, undefined]);
      assert.equal(b!.status().ocspFile, forB);
      assert.ok(b!.stapleNow()!.equals(staples.b));
      // Revoked: about a, refused by a; a keeps its staple and its file.
      const revoked = await registry.reloadFromFile(pki.file(pki.respond({ status: 'revoked' }), `r-${Math.random()}.der`));
      assert.deepEqual([revoked.ok, revoked.context === a, revoked.error?.code], [false, true, 'ERR_OCSP_REVOKED']);
      assert.ok(a!.stapleNow()!.equals(staples.a));
      assert.equal(a!.status().ocspFile, join(dir, 'a.pem.ocsp'));
      // For no certificate of the registry, garbage, a FIFO and a device: no context is touched.
      const other = await registry.reloadFromFile(pki.file(pki.respond({ certs: [pki.mustStaple] }), `m-${Math.random()}.der`));
      assert.deepEqual([other.ok, other.context, other.error?.code], [false, undefined, 'ERR_OCSP_CERTID_MISMATCH']);
      const garbage = await registry.reloadFromFile(pki.file(Buffer.from('garbage'), `g-${Math.random()}.der`));
      assert.deepEqual([garbage.context, garbage.error?.code], [undefined, 'ERR_OCSP_MALFORMED']);
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      const fromFifo = await registry.reloadFromFile(fifo);
      assert.deepEqual([fromFifo.context, fromFifo.error?.code], [undefined, 'ERR_OCSP_FILE_READ']);
      const zero = await registry.reloadFromFile('/dev/zero');
      assert.deepEqual([zero.context, zero.error?.code], [undefined, 'ERR_OCSP_FILE_READ']);
      assert.deepEqual(registry.status().map((s) => s.stapling), [true, true]);
      assert.equal(a!.status().lastRefusal?.code, 'ERR_OCSP_REVOKED');
    } finally {
      await registry.close();
    }
  });

  it('skips a .pem of the directory that is not a usable certificate chain (a key, a CA alone, garbage) and lists it with its error; the sites staple', async () => {
    const staple = pki.respond();
    const dir = siteDir([['site', pki.leaf, staple]]);
    // What /etc/ssl layouts hold beside the site certificates.
    copyFileSync(pki.leaf.key, join(dir, 'privkey.pem'));
    copyFileSync(pki.ca.cert, join(dir, 'ca.pem'));
    writeFileSync(join(dir, 'broken.pem'), 'not a certificate');
    for (const load of ['eager', 'lazy'] as const) {
      const registry = await createStaplingRegistry({ dir, load });
      try {
        await registry.ready;
        assert.deepEqual(
          registry.skipped().map((s) => [s.certFile, s.ocspFile, s.error.code, s.error.file]),
          [
            [join(dir, 'broken.pem'), join(dir, 'broken.pem.ocsp'), 'ERR_CERT_PARSE', join(dir, 'broken.pem')],
            [join(dir, 'ca.pem'), join(dir, 'ca.pem.ocsp'), 'ERR_ISSUER_NOT_FOUND', join(dir, 'ca.pem')],
            [join(dir, 'privkey.pem'), join(dir, 'privkey.pem.ocsp'), 'ERR_CERT_PARSE', join(dir, 'privkey.pem')],
          ],
          load,
        );
        assert.deepEqual(registry.status().map((s) => [s.certFile, s.stapling]), [[join(dir, 'site.pem'), true]], load);
        assert.ok(registry.contexts()[0]!.stapleNow()!.equals(staple));
      } finally {
        await registry.close();
      }
    }
  });

  it('strict: true rejects when a .pem of the directory is unreadable as PEM and DER; so does such an entry of `entries`, in both modes', async () => {
    const dir = siteDir([['a', pki.leaf, pki.respond()]]);
    writeFileSync(join(dir, 'broken.pem'), 'not a certificate');
    for (const load of ['eager', 'lazy'] as const) {
      await assert.rejects(createStaplingRegistry({ dir, load, strict: true }), { code: 'ERR_CERT_PARSE', file: join(dir, 'broken.pem') });
      await assert.rejects(createStaplingRegistry({ entries: [{ certFile: join(dir, 'broken.pem'), ocspFile: join(dir, 'a.pem.ocsp') }], load }), { code: 'ERR_CERT_PARSE' });
    }
    const registry = await createStaplingRegistry({ dir, strict: false });
    assert.equal(registry.size, 1);
    await registry.close();
  });
});

describe('cluster', () => {
  it('one call in the primary reloads both workers and reports each result', async () => {
    const good = pki.respond();
    const good2 = pki.respond({ signer: pki.responder });
    const dir = siteDir([['a', pki.leaf, good]]);
    const ocspFile = join(dir, 'a.pem.ocsp');
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('./fixtures/cluster-worker.mts', import.meta.url)),
      execArgv: ['--import', 'tsx'],
      silent: false,
    });
    const workers = [0, 1].map(() => cluster.fork({ SITE_DIR: dir }));
    try {
      await Promise.all(workers.map((w) => new Promise<void>((resolve) => w.once('message', () => resolve()))));
      writeFileSync(ocspFile, good2);
      const ok = await reloadClusterWorkers();
      assert.equal(ok.length, 2);
      for (const w of ok) {
        assert.equal(w.answered, true);
        assert.deepEqual(w.files.map((f) => [f.ocspFile, f.ok]), [[ocspFile, true]]);
      }
      writeFileSync(ocspFile, 'junk');
      const refused = await reloadClusterWorkers();
      for (const w of refused) assert.deepEqual(w.files.map((f) => [f.ok, f.code, typeof f.validUntil]), [[false, 'ERR_OCSP_MALFORMED', 'string']]);
    } finally {
      for (const w of workers) w.kill();
    }
  });
});

describe('registry watch', () => {
  it('covers contexts added after watch(), and a second watch() piles up nothing', async () => {
    const dir = siteDir([['a', pki.leaf, pki.respond()]]);
    copyFileSync(pki.leaf2.chain, join(dir, 'b.pem'));
    const bFile = join(dir, 'b.pem.ocsp');
    writeFileSync(bFile, pki.respond({ certs: [pki.leaf2] }));
    const registry = await createStaplingRegistry({ entries: [{ certFile: join(dir, 'a.pem'), ocspFile: join(dir, 'a.pem.ocsp') }] });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 15; i++) registry.watch({ debounceMs: 20, pollMs: 100 });
      const b = await registry.add({ certFile: join(dir, 'b.pem'), ocspFile: bFile });
      assert.equal(b.watching, true, 'a context added after watch() is watched');
      const next = pki.respond({ certs: [pki.leaf2], signer: pki.responder });
      // The watch's timers do not hold the event loop open: this one does, and bounds the wait.
      let timer: NodeJS.Timeout | undefined;
      const reloaded = new Promise<unknown>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error('no reload of the added context within 8000 ms')), 8000);
        registry.on('reload', (_status, context) => context === b && resolve(context));
      });
      writeFileSync(bFile, next);
      await reloaded.finally(() => clearTimeout(timer));
      assert.ok(b.stapleNow()!.equals(next));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning'), []);
    } finally {
      process.off('warning', onWarning);
      await registry.close();
    }
  });
});

describe('cluster: a closed registry', () => {
  it('gives ERR_CLOSED results for its files; the worker keeps serving the others', async () => {
    const dir = siteDir([['a', pki.leaf, pki.respond()]]);
    const ocspFile = join(dir, 'a.pem.ocsp');
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('./fixtures/cluster-worker.mts', import.meta.url)),
      execArgv: ['--import', 'tsx'],
      silent: false,
    });
    const worker = cluster.fork({ SITE_DIR: dir, CLOSED_FIRST: '1' });
    let exitCode: number | null = null;
    worker.on('exit', (code) => (exitCode = code));
    try {
      await new Promise<void>((resolve) => worker.once('message', () => resolve()));
      for (let round = 0; round < 2; round++) {
        const [result] = await reloadClusterWorkers({ timeoutMs: 30_000 });
        assert.equal(result!.answered, true, `round ${round}: answered`);
        assert.deepEqual(
          result!.files.map((f) => [f.ocspFile, f.ok, f.code]),
          [
            [ocspFile, false, 'ERR_CLOSED'],
            [ocspFile, true, undefined],
          ],
        );
      }
      assert.equal(worker.isConnected(), true);
      assert.equal(exitCode, null);
    } finally {
      worker.kill();
    }
  });
});

describe('registry memory', () => {
  it('keeps one parsed copy of a CA certificate shared by many leaves', async () => {
    const dir = siteDir([['a', pki.leaf, pki.respond()], ['b', pki.leaf2, pki.respond({ certs: [pki.leaf2] })], ['c', pki.mustStaple, pki.respond({ certs: [pki.mustStaple] })]]);
    const registry = await createStaplingRegistry({ dir });
    const issuers = registry.contexts().map((c) => c.chain.issuer);
    assert.equal(issuers.length, 3);
    assert.ok(issuers.every((i) => i === issuers[0]), 'the same CertificateInfo object');
    assert.deepEqual(registry.status().map((s) => s.stapling), [true, true, true]);
    await registry.close();
  });
});

describe('skipped files come back', () => {
  /** A site whose deploy has written the leaf without its chain, beside a good site `a`. */
  function halfDeployed(): { dir: string; site: string; staple: Buffer } {
    const staple = pki.respond();
    const dir = siteDir([['a', pki.leaf2, pki.respond({ certs: [pki.leaf2] })]]);
    const site = join(dir, 'site.pem');
    copyFileSync(pki.leaf.cert, site);
    writeFileSync(`${site}.ocsp`, staple);
    return { dir, site, staple };
  }

  // A time limit: the test waits on events, and a watch that never fires must fail it, not stall the suite.
  it('watch(): a skipped file is tried again when it or NAME.pem.issuer changes; once usable it joins, staples on the attached server and leaves skipped()', { timeout: 60_000 }, async () => {
    const { dir, site, staple } = halfDeployed();
    const registry = await createStaplingRegistry({ dir });
    const server = createServer({ cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) }, (s) => s.end());
    registry.attach(server).watch({ debounceMs: 10, pollMs: 50 });
    const port = await listen(server);
    try {
      assert.deepEqual(registry.skipped().map((s) => [s.certFile, s.error.code]), [[site, 'ERR_ISSUER_NOT_FOUND']]);
      assert.equal(await stapleFor(port, 'localhost'), null);
      // A try that fails again: skipped() and the 'skipped' event give the new error.
      let tried = once(registry, 'skipped') as Promise<[SkippedEntry]>;
      writeFileSync(site, 'not yet');
      assert.deepEqual((await tried)[0].error.code, 'ERR_CERT_PARSE');
      assert.deepEqual(registry.skipped().map((s) => [s.certFile, s.error.code]), [[site, 'ERR_CERT_PARSE']]);
      tried = once(registry, 'skipped') as Promise<[SkippedEntry]>;
      copyFileSync(pki.leaf.cert, site);
      assert.deepEqual((await tried)[0].error.code, 'ERR_ISSUER_NOT_FOUND');
      // The issuer written beside it, as scanDirectory would have taken it: the file joins.
      const joined = once(registry, 'reload') as Promise<[unknown, StaplingContext]>;
      copyFileSync(pki.ca.cert, `${site}.issuer`);
      const context = (await joined)[1];
      assert.equal(context.status().certFile, site);
      assert.deepEqual(registry.skipped(), []);
      assert.equal(registry.size, 2);
      assert.ok((await stapleFor(port, 'localhost'))!.equals(staple));
      // It is watched like the others: a new response file is taken.
      const newer = pki.respond({ signer: pki.responder });
      const reloaded = once(context, 'reload');
      writeFileSync(`${site}.ocsp`, newer);
      await reloaded;
      assert.ok(context.stapleNow()!.equals(newer));
    } finally {
      await registry.close();
      await new Promise((r) => server.close(r));
    }
  });

  for (const load of ['eager', 'lazy'] as const) {
    it(`reloadAll() (${load}): a skipped file made usable joins, fully checked, and has a result; one still unusable stays in skipped() with no result`, async () => {
      const { dir, site, staple } = halfDeployed();
      writeFileSync(join(dir, 'privkey.pem'), readFileSync(pki.leaf.key));
      const registry = await createStaplingRegistry({ dir, load });
      try {
        await registry.ready;
        assert.equal(registry.size, 1);
        assert.deepEqual(registry.skipped().map((s) => s.certFile), [join(dir, 'privkey.pem'), site]);
        // Tried again, still without its chain: nothing joins.
        assert.deepEqual((await registry.reloadAll()).map((r) => r.ok), [true]);
        assert.equal(registry.skipped().length, 2);
        copyFileSync(pki.leaf.chain, site);
        const results = await registry.reloadAll();
        assert.deepEqual(results.map((r) => [r.ocspFile, r.ok]), [[join(dir, 'a.pem.ocsp'), true], [`${site}.ocsp`, true]]);
        assert.deepEqual(registry.skipped().map((s) => [s.certFile, s.error.code]), [[join(dir, 'privkey.pem'), 'ERR_CERT_PARSE']]);
        assert.ok(registry.contexts()[1]!.stapleNow()!.equals(staple));
        assert.match(renderPrometheus({ contexts: [registry] }), /^ocsp_stapler_certificate_file_skipped\{cert_file="[^"]*privkey\.pem",/m);
        assert.doesNotMatch(renderPrometheus({ contexts: [registry] }), /^ocsp_stapler_certificate_file_skipped\{cert_file="[^"]*site\.pem",/m);
      } finally {
        await registry.close();
      }
    });
  }

});

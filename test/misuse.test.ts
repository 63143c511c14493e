/**
 * Every public function, given bad input, throws (or rejects with) a StaplingError with a code:
 * never a TypeError, a DerError or a plain Error. Also: lifecycle misuse (closed, stopped), and
 * failures that are not refusals (a throwing clock, a failed disk write) keeping their identity.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import * as api from '../src/index.js';
import {
  buildOcspRequest,
  collectMetrics,
  createStaplingContext,
  createStaplingRegistry,
  fetchOcspResponse,
  loadCertificateChain,
  parseOcspResponse,
  readCertificate,
  Refresher,
  registerPrometheusMetrics,
  reloadClusterWorkers,
  renderPrometheus,
  scanDirectory,
  serveClusterReloads,
  startRefresh,
  StaplingContext,
  StaplingError,
  StaplingRegistry,
  verifyOcspResponse,
  watchFile,
  writeFileAtomic,
  type StaplingErrorCode,
} from '../src/index.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let responder: http.Server;
let good: Buffer;

before(async () => {
  responder = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(good));
  });
  responder.listen(0, '127.0.0.1');
  await once(responder, 'listening');
  pki = makePki(`http://127.0.0.1:${(responder.address() as net.AddressInfo).port}/`);
  good = pki.respond();
});
after(() => {
  responder.closeAllConnections();
  responder.close();
  pki.remove();
});

/**
 * Asserts that `fn` throws, or returns a promise that rejects with, a StaplingError of `code`
 * whose message contains `mentions` (the option or argument named).
 */
async function refuses(fn: () => unknown, code: StaplingErrorCode, mentions?: string | RegExp): Promise<StaplingError> {
  let error: unknown;
  try {
    await fn();
  } catch (err) {
    error = err;
  }
  assert.ok(error !== undefined, `expected ${code}, but nothing was thrown`);
  assert.ok(error instanceof StaplingError, `expected a StaplingError ${code}, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  if (typeof mentions === 'string') assert.ok(error.message.includes(mentions), `"${error.message}" names ${mentions}`);
  else if (mentions) assert.match(error.message, mentions);
  return error;
}

// Exported functions this file walks: the last test checks that the list is complete.
const walked = new Set<string>();

describe('the cases of issue 11, each with its typed error at construction', () => {
  it('clockSkewMs: "abc" names the option, what was expected and what was found', async () => {
    walked.add('createStaplingContext');
    const err = await refuses(() => createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good), clockSkewMs: 'abc' as unknown as number }), 'ERR_INVALID_OPTION', 'clockSkewMs');
    assert.equal(err.family, 'usage');
    assert.match(err.expected!, /finite number of ms/);
    assert.equal(err.found, 'the string "abc"');
  });

  it('maxResponseBytes: -1', async () => {
    const err = await refuses(() => createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good), maxResponseBytes: -1 }), 'ERR_INVALID_OPTION', 'maxResponseBytes');
    assert.equal(err.found, 'the number -1');
  });

  it('now: 5', async () => {
    await refuses(() => createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good), now: 5 as unknown as () => number }), 'ERR_INVALID_OPTION', 'option now');
  });

  it('createStaplingRegistry({ concurrency: 0 })', async () => {
    walked.add('createStaplingRegistry');
    await refuses(() => createStaplingRegistry({ concurrency: 0 }), 'ERR_INVALID_OPTION', 'concurrency');
  });

  it('an omitted ocspFile is named, not blamed on a file read', async () => {
    const err = await refuses(() => createStaplingContext({ certFile: pki.leaf.chain } as api.StaplingContextOptions), 'ERR_INVALID_OPTION', 'option ocspFile is required');
    assert.equal(err.found, 'nothing (undefined)');
  });

  it('createStaplingContext() with no argument names certFile', async () => {
    await refuses(() => (createStaplingContext as () => Promise<StaplingContext>)(), 'ERR_INVALID_OPTION', 'option certFile is required');
  });
});

describe('createStaplingContext and StaplingContext', () => {
  it('refuses every bad option', async () => {
    const base = { certFile: pki.leaf.chain, ocspFile: pki.file(good) };
    const bad: [string, unknown][] = [
      ['certFile', 5],
      ['certFile', ''],
      ['ocspFile', {}],
      ['issuerFile', 7],
      ['maxResponseBytes', 1.5],
      ['maxResponseBytes', Number.NaN],
      ['clockSkewMs', Infinity],
      ['clockSkewMs', -1],
      ['maxAgeWithoutNextUpdateMs', 0],
      ['expiringMarginMs', 'soon'],
      ['now', 'yesterday'],
    ];
    for (const [name, value] of bad) await refuses(() => createStaplingContext({ ...base, [name]: value }), 'ERR_INVALID_OPTION', `option ${name}`);
    await refuses(() => createStaplingContext(null as unknown as api.StaplingContextOptions), 'ERR_INVALID_ARGUMENT', 'options');
    await refuses(() => createStaplingContext('site.pem' as unknown as api.StaplingContextOptions), 'ERR_INVALID_ARGUMENT', 'options');
  });

  it('refuses bad arguments to its methods, and every use after close() with ERR_CLOSED', async () => {
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good) });
    const server = tls.createServer();
    await refuses(() => ctx.attach({} as tls.Server), 'ERR_INVALID_ARGUMENT', 'server');
    await refuses(() => ctx.detach(5 as unknown as tls.Server), 'ERR_INVALID_ARGUMENT', 'server');
    await refuses(() => ctx.reload({ certificate: 1 as unknown as boolean }), 'ERR_INVALID_OPTION', 'certificate');
    await refuses(() => ctx.reload({ ocspFile: 5 as unknown as string }), 'ERR_INVALID_OPTION', 'ocspFile');
    await refuses(() => ctx.reload('x' as api.ReloadOptions), 'ERR_INVALID_ARGUMENT', 'options');
    await refuses(() => ctx.watch({ debounceMs: -1 }), 'ERR_INVALID_OPTION', 'debounceMs');
    await refuses(() => ctx.watch({ pollMs: 2 ** 31 }), 'ERR_INVALID_OPTION', 'pollMs');
    await refuses(() => ctx.verify('bytes' as unknown as Uint8Array), 'ERR_INVALID_ARGUMENT', 'bytes');
    assert.equal(ctx.counters().refusals, 0, 'misuse is not a refusal of the file');
    assert.equal(ctx.status().lastRefusal, null);
    await ctx.close();
    assert.equal(ctx.closed, true);
    for (const use of [() => ctx.attach(server), () => ctx.reload(), () => ctx.watch()]) {
      const err = await refuses(use, 'ERR_CLOSED');
      assert.equal(err.family, 'lifecycle');
    }
  });

  it('cannot be made with new (a private constructor; the class stays for instanceof)', async () => {
    // @ts-expect-error the constructor is private: use createStaplingContext
    await refuses(() => new StaplingContext(), 'ERR_INVALID_ARGUMENT', 'createStaplingContext');
    // @ts-expect-error the constructor is private: use createStaplingRegistry
    await refuses(() => new StaplingRegistry(), 'ERR_INVALID_ARGUMENT', 'createStaplingRegistry');
    // @ts-expect-error the constructor is private: use startRefresh
    await refuses(() => new Refresher(), 'ERR_INVALID_ARGUMENT', 'startRefresh');
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good) });
    assert.ok(ctx instanceof StaplingContext);
    await ctx.close();
  });
});

describe('a failure that is not a refusal of the file', () => {
  it('is rethrown as itself from reload(), never counted nor reported as ERR_OCSP_MALFORMED', async () => {
    const boom = new Error('the clock broke');
    let broken = false;
    const now = () => {
      if (broken) throw boom;
      return Date.now();
    };
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good), now });
    const refused: StaplingError[] = [];
    ctx.on('refused', (err) => refused.push(err));
    broken = true;
    await assert.rejects(ctx.reload(), (err: unknown) => err === boom);
    broken = false;
    assert.deepEqual(refused, []);
    assert.equal(ctx.counters().refusals, 0);
    assert.equal(ctx.status().lastRefusal, null);
    assert.ok(ctx.stapleNow(), 'the staple held stays');
    await ctx.close();
  });

  it('makes createStaplingContext reject with that error itself', async () => {
    const boom = new Error('no clock at all');
    await assert.rejects(
      createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good), now: () => { throw boom; } }),
      (err: unknown) => err === boom,
    );
  });

  it('a clock that returns no number is a usage error, not a refusal', async () => {
    let value: unknown = Date.now();
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good), now: () => value as number });
    value = 'noon';
    await refuses(() => ctx.reload(), 'ERR_INVALID_OPTION', 'now');
    value = Date.now();
    assert.equal(ctx.counters().refusals, 0);
    await ctx.close();
  });

  it('a refresh that cannot write its file fails with ERR_FILE_WRITE (not ERR_FETCH_NETWORK)', async () => {
    walked.add('startRefresh');
    const dir = mkdtempSync(join(tmpdir(), 'misuse-'));
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: join(dir, 'gone', 'site.ocsp') });
    const errors: StaplingError[] = [];
    const refresher = startRefresh(ctx, { onError: (err) => errors.push(err) });
    try {
      const err = await refuses(() => refresher.refreshNow(), 'ERR_FILE_WRITE');
      assert.equal(err.family, 'fetch');
      assert.equal(err.file, join(dir, 'gone', 'site.ocsp'));
      assert.equal(err.found, 'ENOENT');
      assert.deepEqual(errors.map((e) => e.code), ['ERR_FILE_WRITE']);
    } finally {
      refresher.stop();
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createStaplingRegistry and StaplingRegistry', () => {
  it('refuses every bad option, naming entries by index', async () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ dir: 5 }, 'option dir'],
      [{ entries: 'site.pem' }, 'option entries'],
      [{ entries: [null] }, 'option entries[0]'],
      [{ entries: [{ certFile: pki.leaf.chain }] }, 'option entries[0].ocspFile is required'],
      [{ entries: [{ certFile: pki.leaf.chain, ocspFile: 'x', issuerFile: 3 }] }, 'option entries[0].issuerFile'],
      [{ load: 'sometimes' }, 'option load'],
      [{ concurrency: 1.5 }, 'option concurrency'],
      [{ strict: 'yes' }, 'option strict'],
      [{ clockSkewMs: 'abc' }, 'option clockSkewMs'],
      [{ now: 5 }, 'option now'],
    ];
    for (const [options, mentions] of bad) await refuses(() => createStaplingRegistry(options as api.StaplingRegistryOptions), 'ERR_INVALID_OPTION', mentions);
  });

  it('refuses bad arguments to its methods, and every use after close() with ERR_CLOSED', async () => {
    const registry = await createStaplingRegistry({ entries: [{ certFile: pki.leaf.chain, ocspFile: pki.file(good) }] });
    await refuses(() => registry.add(null as unknown as api.RegistryEntry), 'ERR_INVALID_ARGUMENT', 'entry');
    await refuses(() => registry.add({ certFile: pki.leaf2.chain } as api.RegistryEntry), 'ERR_INVALID_OPTION', 'ocspFile');
    await refuses(() => registry.remove({} as StaplingContext), 'ERR_INVALID_ARGUMENT', 'context');
    await refuses(() => registry.get('cert' as unknown as Buffer), 'ERR_INVALID_ARGUMENT', 'certificate');
    await refuses(() => registry.attach({} as tls.Server), 'ERR_INVALID_ARGUMENT', 'server');
    await refuses(() => registry.detach({} as tls.Server), 'ERR_INVALID_ARGUMENT', 'server');
    // One file cannot serve every certificate: reloadAll takes no ocspFile.
    // @ts-expect-error ocspFile is not an option of reloadAll
    await refuses(() => registry.reloadAll({ ocspFile: pki.file(good) }), 'ERR_INVALID_OPTION', 'ocspFile');
    await refuses(() => registry.reloadAll({ certificate: 'yes' as unknown as boolean }), 'ERR_INVALID_OPTION', 'certificate');
    await refuses(() => registry.watch({ pollMs: 0 }), 'ERR_INVALID_OPTION', 'pollMs');
    await registry.close();
    for (const use of [() => registry.add({ certFile: pki.leaf2.chain, ocspFile: 'x' }), () => registry.attach(tls.createServer()), () => registry.reloadAll(), () => registry.watch()]) {
      await refuses(use, 'ERR_CLOSED');
    }
  });

  it('scanDirectory refuses what is not a path', async () => {
    walked.add('scanDirectory');
    await refuses(() => scanDirectory(5 as unknown as string), 'ERR_INVALID_ARGUMENT', 'dir');
  });
});

describe('the format functions', () => {
  it('parseOcspResponse refuses what is not bytes', async () => {
    walked.add('parseOcspResponse');
    await refuses(() => parseOcspResponse('MIIB' as unknown as Uint8Array), 'ERR_INVALID_ARGUMENT', 'input');
  });

  it('readCertificate: ERR_CERT_PARSE on bad bytes (no DerError, no OpenSSL error), ERR_INVALID_ARGUMENT on what is not bytes', async () => {
    walked.add('readCertificate');
    const truncated = await refuses(() => readCertificate(Buffer.from([0x30, 0x82, 0x01])), 'ERR_CERT_PARSE');
    assert.equal(truncated.family, 'certificate');
    await refuses(() => readCertificate(Buffer.from('3003020101', 'hex')), 'ERR_CERT_PARSE');
    await refuses(() => readCertificate(good), 'ERR_CERT_PARSE');
    await refuses(() => readCertificate('-----BEGIN CERTIFICATE-----' as unknown as Uint8Array), 'ERR_INVALID_ARGUMENT', 'input');
  });

  it('loadCertificateChain refuses what is not a path', async () => {
    walked.add('loadCertificateChain');
    await refuses(() => loadCertificateChain(5 as unknown as string), 'ERR_INVALID_ARGUMENT', 'certFile');
    await refuses(() => loadCertificateChain(pki.leaf.chain, {} as unknown as string), 'ERR_INVALID_ARGUMENT', 'issuerFile');
  });

  it('verifyOcspResponse refuses bad bytes, certificates and limits', async () => {
    walked.add('verifyOcspResponse');
    const { leaf, issuer } = await loadCertificateChain(pki.leaf.chain);
    const limits = { now: Date.now(), clockSkewMs: 0, maxAgeWithoutNextUpdateMs: 1000, maxResponseBytes: 65536 };
    await refuses(() => verifyOcspResponse('x' as unknown as Uint8Array, leaf, issuer, limits), 'ERR_INVALID_ARGUMENT', 'bytes');
    await refuses(() => verifyOcspResponse(good, {} as typeof leaf, issuer, limits), 'ERR_INVALID_ARGUMENT', 'leaf');
    await refuses(() => verifyOcspResponse(good, leaf, null as unknown as typeof leaf, limits), 'ERR_INVALID_ARGUMENT', 'issuer');
    await refuses(() => verifyOcspResponse(good, leaf, issuer, undefined as unknown as typeof limits), 'ERR_INVALID_ARGUMENT', 'limits');
    await refuses(() => verifyOcspResponse(good, leaf, issuer, { ...limits, now: Number.NaN }), 'ERR_INVALID_OPTION', 'now');
    await refuses(() => verifyOcspResponse(good, leaf, issuer, { ...limits, clockSkewMs: '5' as unknown as number }), 'ERR_INVALID_OPTION', 'clockSkewMs');
    const { maxResponseBytes: _, ...missing } = limits;
    await refuses(() => verifyOcspResponse(good, leaf, issuer, missing as typeof limits), 'ERR_INVALID_OPTION', 'maxResponseBytes');
    assert.equal(verifyOcspResponse(good, leaf, issuer, limits).single.certStatus, 'good', 'good arguments still verify');
  });

  it('buildOcspRequest refuses what is not a certificate, and an unknown hash', async () => {
    walked.add('buildOcspRequest');
    const { leaf, issuer } = await loadCertificateChain(pki.leaf.chain);
    await refuses(() => buildOcspRequest({} as typeof leaf, issuer), 'ERR_INVALID_ARGUMENT', 'leaf');
    await refuses(() => buildOcspRequest(leaf, 'ca' as unknown as typeof leaf), 'ERR_INVALID_ARGUMENT', 'issuer');
    await refuses(() => buildOcspRequest(leaf, issuer, 'md5' as 'sha1'), 'ERR_INVALID_ARGUMENT', 'hash');
  });
});

describe('fetching', () => {
  it('fetchOcspResponse refuses every bad option before any request', async () => {
    walked.add('fetchOcspResponse');
    const { leaf, issuer } = await loadCertificateChain(pki.leaf.chain);
    await refuses(() => fetchOcspResponse({}), 'ERR_INVALID_OPTION', 'certFile (or cert and issuer) is required');
    await refuses(() => (fetchOcspResponse as (o?: object) => Promise<unknown>)(), 'ERR_INVALID_OPTION', 'certFile');
    await refuses(() => fetchOcspResponse({ cert: leaf }), 'ERR_INVALID_OPTION', 'certFile');
    const base = { cert: leaf, issuer };
    const bad: [string, unknown][] = [
      ['certFile', 5],
      ['cert', { der: 'x' }],
      ['url', 5],
      ['hash', 'md5'],
      ['method', 'PUT'],
      ['timeoutMs', 0],
      ['timeoutMs', 2 ** 31],
      ['maxBytes', -1],
      ['maxRedirects', 1.5],
      ['signal', 'stop'],
      ['now', 5],
      ['clockSkewMs', 'abc'],
      ['maxAgeWithoutNextUpdateMs', Number.NaN],
    ];
    for (const [name, value] of bad) await refuses(() => fetchOcspResponse({ ...base, [name]: value }), 'ERR_INVALID_OPTION', `option ${name}`);
  });

  it('fetchOcspResponse rejects with ERR_ABORTED when the caller aborts, with the reason as cause', async () => {
    const { leaf, issuer } = await loadCertificateChain(pki.leaf.chain);
    const reason = new Error('shutting down');
    const err = await refuses(() => fetchOcspResponse({ cert: leaf, issuer, signal: AbortSignal.abort(reason) }), 'ERR_ABORTED');
    assert.equal(err.cause, reason);
    assert.equal(err.family, 'lifecycle');
  });

  it('startRefresh refuses a non-context, a closed context and every bad option; a stopped refresher says ERR_STOPPED', async () => {
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good) });
    await refuses(() => startRefresh({} as StaplingContext), 'ERR_INVALID_ARGUMENT', 'ctx');
    const bad: [string, unknown][] = [
      ['refreshAt', 2],
      ['jitter', -0.1],
      ['minRetryMs', 0],
      ['maxRetryMs', 'hour'],
      ['onError', 'log'],
      ['clock', { now: () => 0 }],
      ['random', 0.5],
      ['timeoutMs', Number.NaN],
      ['hash', 'sha3'],
    ];
    for (const [name, value] of bad) await refuses(() => startRefresh(ctx, { [name]: value }), 'ERR_INVALID_OPTION', `option ${name}`);
    await refuses(() => startRefresh(ctx, { minRetryMs: 10_000, maxRetryMs: 5_000 }), 'ERR_INVALID_OPTION', 'maxRetryMs');
    const refresher = startRefresh(ctx, { refreshAt: 0.9 });
    refresher.stop();
    const err = await refuses(() => refresher.refreshNow(), 'ERR_STOPPED');
    assert.equal(err.family, 'lifecycle');
    await ctx.close();
    await refuses(() => startRefresh(ctx), 'ERR_CLOSED');
  });
});

describe('files', () => {
  it('writeFileAtomic refuses a bad path, bytes or mode', async () => {
    walked.add('writeFileAtomic');
    await refuses(() => writeFileAtomic(5 as unknown as string, good), 'ERR_INVALID_ARGUMENT', 'file');
    await refuses(() => writeFileAtomic(pki.file(good), 'x' as unknown as Uint8Array), 'ERR_INVALID_ARGUMENT', 'bytes');
    await refuses(() => writeFileAtomic(pki.file(good), good, { mode: -1 }), 'ERR_INVALID_OPTION', 'mode');
  });
});

describe('serving helpers', () => {
  it('watchFile refuses a bad path, callback or option', async () => {
    walked.add('watchFile');
    await refuses(() => watchFile(5 as unknown as string, () => undefined), 'ERR_INVALID_ARGUMENT', 'file');
    await refuses(() => watchFile(pki.leaf.chain, 'reload' as unknown as () => void), 'ERR_INVALID_ARGUMENT', 'onChange');
    await refuses(() => watchFile(pki.leaf.chain, () => undefined, { debounceMs: 'x' as unknown as number }), 'ERR_INVALID_OPTION', 'debounceMs');
  });

  it('renderPrometheus refuses what it cannot report on', async () => {
    walked.add('renderPrometheus');
    await refuses(() => renderPrometheus(null as unknown as api.MetricsSources), 'ERR_INVALID_ARGUMENT', 'options');
    await refuses(() => renderPrometheus({ contexts: 5 as unknown as [] }), 'ERR_INVALID_OPTION', 'contexts');
    await refuses(() => renderPrometheus({ contexts: [{}] as unknown as [] }), 'ERR_INVALID_OPTION', 'contexts');
    await refuses(() => renderPrometheus({ servers: [{}] as unknown as [] }), 'ERR_INVALID_ARGUMENT', 'server');
  });

  it('collectMetrics and registerPrometheusMetrics refuse the same, and a registry that is not one', async () => {
    walked.add('collectMetrics');
    walked.add('registerPrometheusMetrics');
    await refuses(() => collectMetrics({ contexts: [5] as unknown as [] }), 'ERR_INVALID_OPTION', 'collectMetrics: option contexts');
    await refuses(() => collectMetrics(undefined as unknown as api.MetricsSources), 'ERR_INVALID_ARGUMENT', 'sources');
    const registry = { registerMetric: () => undefined };
    await refuses(() => registerPrometheusMetrics(registry, { servers: 'server' as unknown as [] }), 'ERR_INVALID_OPTION', 'servers');
    await refuses(() => registerPrometheusMetrics({} as api.PrometheusRegistryLike, {}), 'ERR_INVALID_ARGUMENT', 'registry');
  });

  it('reloadClusterWorkers and serveClusterReloads refuse bad input; reloadClusterWorkers takes no ocspFile', async () => {
    walked.add('reloadClusterWorkers');
    walked.add('serveClusterReloads');
    await refuses(() => reloadClusterWorkers({ timeoutMs: 0 }), 'ERR_INVALID_OPTION', 'timeoutMs');
    await refuses(() => reloadClusterWorkers({ certificate: 'yes' as unknown as boolean }), 'ERR_INVALID_OPTION', 'certificate');
    // @ts-expect-error workers reload the files they hold: there is no ocspFile to send
    await refuses(() => reloadClusterWorkers({ ocspFile: 'x' }), 'ERR_INVALID_OPTION', 'ocspFile');
    await refuses(() => reloadClusterWorkers('all' as api.ClusterReloadOptions), 'ERR_INVALID_ARGUMENT', 'options');
    await refuses(() => serveClusterReloads(5 as unknown as []), 'ERR_INVALID_ARGUMENT', 'targets');
    await refuses(() => serveClusterReloads([{}] as unknown as []), 'ERR_INVALID_ARGUMENT', 'targets');
  });
});

describe('the walk', () => {
  it('covers every function the package exports', () => {
    const isClass = (value: unknown) => typeof value === 'function' && /^class\b/.test(Function.prototype.toString.call(value));
    const functions = Object.entries(api)
      .filter(([, value]) => typeof value === 'function' && !isClass(value))
      .map(([name]) => name)
      .sort();
    assert.deepEqual(functions.filter((name) => !walked.has(name)), [], 'every exported function has a misuse case above');
  });
});

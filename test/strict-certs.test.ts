/**
 * The `certs` attack end to end: a responder on 127.0.0.1 that, like anyone on the plain-HTTP
 * OCSP path, adds a self-made look-alike of the issuing CA to genuine, CA-signed responses (the
 * signature still verifies: `certs` is not signed). `ocsp-stapler fetch` must leave the old file
 * alone and exit 4; the in-process refresh must never write or load it; a running server keeps
 * its good staple, which real clients still accept.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createStaplingContext, startRefresh, StaplingError } from '../src/index.js';
import { handshake } from './fixtures/client.js';
import { cli } from './fixtures/cli.js';
import { buildResponse, certId, currentWindow, forgedCopy, oid, pemDer, reissued, seq, tlv, withCerts } from './fixtures/craft.js';
import { run } from './fixtures/judges.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let responder: http.Server;
let url: string;
/** What the responder sends next. */
let body: Buffer;
let good: Buffer;
let attacks: { name: string; bytes: Buffer }[];
let n = 0;

before(async () => {
  pki = makePki();
  const fake = forgedCopy(pemDer(readFileSync(pki.ca.cert, 'latin1')), pki.otherCa);
  const prepend = (bytes: Buffer) => withCerts(bytes, (certs) => [fake, ...certs]);
  good = pki.respond({ noCerts: true });
  attacks = [
    { name: 'an issuer-signed response (responderID by name) with the look-alike added', bytes: prepend(pki.respond({ noCerts: true })) },
    { name: 'an issuer-signed response (responderID by key) with the look-alike added', bytes: prepend(pki.respond({ noCerts: true, keyId: true })) },
    { name: 'a delegated response with the look-alike added after the responder', bytes: withCerts(pki.respond({ signer: pki.responder }), (certs) => [...certs, fake]) },
  ];
  responder = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(body));
  });
  responder.listen(0, '127.0.0.1');
  await once(responder, 'listening');
  url = `http://127.0.0.1:${(responder.address() as AddressInfo).port}/`;
});
after(() => {
  responder?.closeAllConnections();
  responder?.close();
  pki?.remove();
});

/** A staple file holding the good response, and how to tell whether anything touched it. */
function existing(): { file: string; untouched: () => void } {
  const file = join(pki.dir, `staple-${++n}.der`);
  writeFileSync(file, good);
  const { mtimeMs } = statSync(file);
  return {
    file,
    untouched: () => {
      assert.deepEqual(readFileSync(file), good, 'the file still holds the good response');
      assert.equal(statSync(file).mtimeMs, mtimeMs, 'the file was not rewritten');
    },
  };
}

describe('a responder path that adds a look-alike of the CA to the unsigned certs field', () => {
  it('ocsp-stapler fetch writes the untouched response (the control)', async () => {
    body = good;
    const target = existing();
    writeFileSync(target.file, 'old');
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', target.file]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(target.file), good);
  });

  it('ocsp-stapler fetch refuses each tampered response: exit 4, ERR_OCSP_CARRIED_CERTS, old file untouched', async () => {
    for (const attack of attacks) {
      body = attack.bytes;
      const target = existing();
      const r = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', target.file]);
      assert.equal(r.code, 4, `${attack.name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /ERR_OCSP_CARRIED_CERTS/, attack.name);
      target.untouched();
    }
  });

  it('the in-process refresh never writes or loads a tampered response, and the server keeps stapling the good one to curl and gnutls-cli', async () => {
    const target = existing();
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: target.file });
    const server = createServer({ cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) }, (_req, res) => res.end('hello\n'));
    ctx.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const refresher = startRefresh(ctx, { url });
    try {
      assert.equal(ctx.status().lastRefusal, null);
      for (const attack of attacks) {
        body = attack.bytes;
        await assert.rejects(refresher.refreshNow(), (err: unknown) => err instanceof StaplingError && err.code === 'ERR_OCSP_CARRIED_CERTS', attack.name);
        target.untouched();
        const { staple } = await handshake({ port, ca: readFileSync(pki.root.cert) });
        assert.deepEqual(staple, good, `${attack.name}: the good staple is still served`);
      }
      const curl = await run('curl', ['--silent', '--show-error', '--cert-status', '--cacert', pki.root.cert, `https://localhost:${port}/`]);
      assert.equal(curl.code, 0, curl.out);
      const gnutls = await run('sh', ['-c', `exec gnutls-cli --x509cafile '${pki.root.cert}' -p ${port} localhost < /dev/null`]);
      assert.equal(gnutls.code, 0, gnutls.out);
      assert.match(gnutls.out, /OCSP status request,/);
    } finally {
      refresher.stop();
      await ctx.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('ocsp-stapler fetch exits 4, not 1, on a responder certificate whose key Node cannot load', async () => {
    // A P-256 point that is not on the curve, in a responder certificate the CA signed.
    const spki = seq(seq(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7')), tlv(0x03, Buffer.from([0, 0x04]), Buffer.alloc(64, 1)));
    const odd = reissued(pemDer(readFileSync(pki.responder.cert, 'latin1')), pki.ca, { spki });
    body = buildResponse({ signer: pki.responder, singles: [{ certId: certId(pki.leaf, pki.ca), ...currentWindow() }], certs: [odd] });
    const target = existing();
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', target.file]);
    assert.equal(r.code, 4, r.stdout + r.stderr);
    assert.match(r.stderr, /ERR_OCSP_UNSUPPORTED_ALGORITHM/);
    target.untouched();
  });
});

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { StaplingError, type StaplingErrorCode } from '../src/errors.js';
import { fetchOcspResponse, type FetchOcspOptions } from '../src/fetch.js';
import { verifyOcspResponse } from '../src/ocsp/verify.js';
import { loadCertificateChain } from '../src/pki.js';
import { makePki, type Pki } from './fixtures/pki.js';

// Responders that misbehave, written in Node and bound to 127.0.0.1.

let pki: Pki;
let good: Buffer;

before(() => {
  pki = makePki();
  good = pki.respond();
});
after(() => pki.remove());

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: Buffer;
}

/** An HTTP server on 127.0.0.1 for one test; records every request. */
async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen[]) => void): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body: Buffer.concat(chunks) });
      handler(req, res, seen);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function ocsp(res: http.ServerResponse, body: Buffer): void {
  res.writeHead(200, { 'Content-Type': 'application/ocsp-response', 'Content-Length': body.length });
  res.end(body);
}

async function refuses(options: FetchOcspOptions, code: StaplingErrorCode): Promise<StaplingError> {
  let caught: unknown;
  try {
    await fetchOcspResponse({ certFile: pki.leaf.chain, ...options });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof StaplingError, `expected ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe('fetchOcspResponse against faulty responders', () => {
  it('sends a POST with Content-Type application/ocsp-request and accepts a good answer', async () => {
    const s = await serve((_req, res) => ocsp(res, good));
    try {
      const { bytes } = await fetchOcspResponse({ certFile: pki.leaf.chain, url: s.url });
      assert.deepEqual(bytes, good);
      assert.equal(s.seen[0]!.method, 'POST');
      assert.equal(s.seen[0]!.contentType, 'application/ocsp-request');
      assert.equal(s.seen[0]!.body[0], 0x30);
    } finally {
      await s.close();
    }
  });

  it('POSTs instead of GET when the GET URL would pass 255 bytes', async () => {
    const s = await serve((req, res) => ocsp(res, req.method === 'GET' ? good : pki.respond({ hash: 'sha512' })));
    try {
      await fetchOcspResponse({ certFile: pki.leaf.chain, url: `${s.url}ocsp/`, method: 'GET', hash: 'sha1' });
      assert.equal(s.seen[0]!.method, 'GET');
      await fetchOcspResponse({ certFile: pki.leaf.chain, url: `${s.url}ocsp/`, method: 'GET', hash: 'sha512' });
      assert.equal(s.seen[1]!.method, 'POST');
      assert.equal(s.seen[1]!.url, '/ocsp/');
    } finally {
      await s.close();
    }
  });

  it('reports a refused connection as ERR_FETCH_NETWORK', async () => {
    const server = net.createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const err = await refuses({ url: `http://127.0.0.1:${port}/` }, 'ERR_FETCH_NETWORK');
    assert.match(err.message, /ECONNREFUSED/);
  });

  it('gives up on a responder that never answers (ERR_FETCH_TIMEOUT)', async () => {
    const s = await serve(() => undefined);
    try {
      await refuses({ url: s.url, timeoutMs: 300 }, 'ERR_FETCH_TIMEOUT');
    } finally {
      await s.close();
    }
  });

  it('gives up on a responder that drip-feeds the body a byte at a time: the timeout covers the whole exchange', async () => {
    let sent = 0;
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/ocsp-response', 'Content-Length': good.length });
      const timer = setInterval(() => {
        if (sent >= good.length || res.destroyed) {
          clearInterval(timer);
          return;
        }
        res.write(good.subarray(sent, sent + 1));
        sent++;
      }, 20);
      res.on('close', () => clearInterval(timer));
    });
    try {
      await refuses({ url: s.url, timeoutMs: 500 }, 'ERR_FETCH_TIMEOUT');
      assert.ok(sent > 1, 'the body was flowing, so an idle timeout would not have fired');
      assert.ok(sent < good.length);
    } finally {
      await s.close();
    }
  });

  it('refuses a body cut short by a closed connection (ERR_FETCH_NETWORK)', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/ocsp-response', 'Content-Length': good.length });
      res.write(good.subarray(0, 100), () => res.socket?.destroy());
    });
    try {
      await refuses({ url: s.url }, 'ERR_FETCH_NETWORK');
    } finally {
      await s.close();
    }
  });

  it('refuses HTTP 500', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(500, { 'Content-Type': 'application/ocsp-response' });
      res.end(good);
    });
    try {
      const err = await refuses({ url: s.url }, 'ERR_FETCH_HTTP_STATUS');
      assert.match(err.message, /HTTP 500/);
    } finally {
      await s.close();
    }
  });

  it('refuses a 200 with text/html', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<html>captive portal</html>');
    });
    try {
      await refuses({ url: s.url }, 'ERR_FETCH_CONTENT_TYPE');
    } finally {
      await s.close();
    }
  });

  it('refuses a 5 MB body announced by Content-Length', async () => {
    const s = await serve((_req, res) => ocsp(res, Buffer.alloc(5 * 1024 * 1024, 0x30)));
    try {
      const err = await refuses({ url: s.url }, 'ERR_FETCH_TOO_LARGE');
      assert.match(err.message, /found Content-Length 5242880/, 'refused from the header, before reading the body');
    } finally {
      await s.close();
    }
  });

  it('refuses a 5 MB chunked body (no Content-Length) while it streams', async () => {
    let written = 0;
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/ocsp-response' });
      const chunk = Buffer.alloc(64 * 1024, 0x30);
      const pump = () => {
        while (written < 5 * 1024 * 1024 && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    try {
      await refuses({ url: s.url, maxBytes: 65_536 }, 'ERR_FETCH_TOO_LARGE');
    } finally {
      await s.close();
    }
  });

  it('follows a redirect', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/moved') ocsp(res, good);
      else res.writeHead(307, { Location: '/moved' }).end();
    });
    try {
      const { url } = await fetchOcspResponse({ certFile: pki.leaf.chain, url: s.url });
      assert.equal(url, `${s.url}moved`);
      assert.equal(s.seen[1]!.method, 'POST');
      assert.deepEqual(s.seen[1]!.body, s.seen[0]!.body);
    } finally {
      await s.close();
    }
  });

  it('refuses a 303 (it would turn the POST into a GET) with ERR_FETCH_REDIRECTS', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/moved') ocsp(res, good);
      else res.writeHead(303, { Location: '/moved' }).end();
    });
    try {
      const err = await refuses({ url: s.url }, 'ERR_FETCH_REDIRECTS');
      assert.match(err.message, /HTTP 303/);
      assert.deepEqual(s.seen.map((r) => r.url), ['/']);
    } finally {
      await s.close();
    }
  });

  it('refuses a redirect to another host or port (an internal service must never receive the POST)', async () => {
    const internal = await serve((_req, res) => ocsp(res, good));
    // Closed whatever happens: a server left listening after a failed assertion keeps the test
    // process alive, and the file hangs instead of failing.
    try {
      const target = new URL(internal.url);
      for (const location of [`${internal.url}admin/flush-all`, `http://localhost:${target.port}/admin/flush-all`]) {
        for (const status of [301, 302, 307, 308]) {
          const s = await serve((_req, res) => res.writeHead(status, { Location: location }).end());
          try {
            const outcome = await fetchOcspResponse({ certFile: pki.leaf.chain, url: s.url }).then(
              () => 'the fetch succeeded',
              (err: unknown) => err,
            );
            const reached = internal.seen.map((r) => `${r.method} ${r.url}`).join(', ');
            assert.equal(reached, '', `HTTP ${status} to ${location} was followed: the internal service received ${reached}`);
            assert.ok(outcome instanceof StaplingError, `HTTP ${status} to ${location}: expected ERR_FETCH_REDIRECTS, got ${String(outcome)}`);
            assert.equal(outcome.code, 'ERR_FETCH_REDIRECTS', outcome.message);
            assert.match(outcome.message, /another host/);
          } finally {
            await s.close();
          }
        }
      }
    } finally {
      await internal.close();
    }
  });

  it('follows a 308 to the same host with the same method and body, with GET too', async () => {
    const s = await serve((req, res) => {
      if (req.url!.startsWith('/moved')) ocsp(res, good);
      else res.writeHead(308, { Location: `/moved${req.url}` }).end();
    });
    try {
      await fetchOcspResponse({ certFile: pki.leaf.chain, url: s.url, method: 'GET' });
      assert.deepEqual(s.seen.map((r) => r.method), ['GET', 'GET']);
      assert.ok(s.seen[1]!.url.startsWith('/moved/'));
    } finally {
      await s.close();
    }
  });

  it('refuses a redirect loop after maxRedirects', async () => {
    const s = await serve((_req, res) => res.writeHead(302, { Location: '/' }).end());
    try {
      await refuses({ url: s.url, maxRedirects: 3 }, 'ERR_FETCH_REDIRECTS');
      assert.equal(s.seen.length, 4);
    } finally {
      await s.close();
    }
  });

  it('refuses a redirect without a usable Location', async () => {
    for (const headers of [{}, { Location: 'file:///etc/passwd' }]) {
      const s = await serve((_req, res) => res.writeHead(301, headers).end());
      try {
        await refuses({ url: s.url }, 'ERR_FETCH_REDIRECTS');
        assert.equal(s.seen.length, 1);
      } finally {
        await s.close();
      }
    }
  });

  it("refuses another certificate's response", async () => {
    const s = await serve((_req, res) => ocsp(res, pki.respond({ certs: [pki.leaf2] })));
    try {
      await refuses({ url: s.url }, 'ERR_OCSP_CERTID_MISMATCH');
    } finally {
      await s.close();
    }
  });

  it('refuses a response signed by an unrelated key under the issuer\'s name', async () => {
    // otherCa has the issuing CA's exact name but its own key.
    const forged = pki.respond({ signer: pki.otherCa, noCerts: true });
    const s = await serve((_req, res) => ocsp(res, forged));
    try {
      await refuses({ url: s.url }, 'ERR_OCSP_BAD_SIGNATURE');
    } finally {
      await s.close();
    }
  });

  it('refuses a response too old for Firefox (ERR_OCSP_TOO_OLD), and follows maxAgeMs', async () => {
    // A CRL-backed responder handing out a 30-day response made 15 days ago.
    const old = pki.respond({ at: '-15d', validMinutes: 30 * 24 * 60 });
    const s = await serve((_req, res) => ocsp(res, old));
    try {
      const err = await refuses({ url: s.url }, 'ERR_OCSP_TOO_OLD');
      assert.match(err.message, /too old/);
      const { verified } = await fetchOcspResponse({ certFile: pki.leaf.chain, url: s.url, maxAgeMs: 20 * 86_400_000 });
      assert.equal(verified.validUntil, verified.single.thisUpdate.getTime() + 20 * 86_400_000);
    } finally {
      await s.close();
    }
  });

  it('refuses exactly what verifyOcspResponse refuses, with the same code', async () => {
    const { leaf, issuer } = await loadCertificateChain(pki.leaf.chain);
    const bodies = [pki.respond({ signer: pki.responderNoEku }), pki.respond({ validMinutes: 1, at: '-1d' }), Buffer.concat([good, Buffer.from([0])])];
    for (const body of bodies) {
      let expected: string | undefined;
      try {
        verifyOcspResponse(body, leaf, issuer, { now: Date.now(), clockSkewMs: 300_000, maxAgeWithoutNextUpdateMs: 86_400_000, maxResponseBytes: 65_536 });
      } catch (err) {
        expected = (err as StaplingError).code;
      }
      assert.ok(expected, 'the library refuses this body');
      const s = await serve((_req, res) => ocsp(res, body));
      try {
        await refuses({ url: s.url }, expected as StaplingErrorCode);
      } finally {
        await s.close();
      }
    }
  });
});

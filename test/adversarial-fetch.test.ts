/**
 * Responder faults the fetch engineer's own tests (test/fetch-faulty.test.ts) leave out:
 * broken HTTP on raw TCP, headers drip-fed or oversized, resets mid-body, redirects to other
 * schemes, many fetches at once against a hanging responder, and fuzzed response bodies.
 * Every responder is a Node server on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { StaplingError, type StaplingErrorCode } from '../src/errors.js';
import { fetchOcspResponse, type FetchOcspOptions } from '../src/fetch.js';
import { verifyOcspResponse } from '../src/ocsp/verify.js';
import { loadCertificateChain, type CertificateChain } from '../src/pki.js';
import { envInt, mutateAll, mutationArb } from './fixtures/mutate.js';
import { makePki, opensslAccepts, type Pki } from './fixtures/pki.js';

const SEED = envInt('FETCH_SEED', 20261124);
const MUTANTS = envInt('FETCH_MUTANTS', 150);
const CONCURRENT = envInt('FETCH_CONCURRENT', 50);

let pki: Pki;
let good: Buffer;
let chain: CertificateChain;

before(async () => {
  pki = makePki();
  good = pki.respond();
  chain = await loadCertificateChain(pki.leaf.chain);
});
after(() => pki.remove());

/** A raw TCP server on 127.0.0.1: `onSocket` writes whatever bytes it likes. */
async function rawServer(onSocket: (socket: net.Socket) => void): Promise<{ url: string; sockets: Set<net.Socket>; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', () => onSocket(socket)); // answer once the request has started
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function httpServer(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function outcome(options: Partial<FetchOcspOptions>): Promise<string> {
  try {
    await fetchOcspResponse({ certFile: pki.leaf.chain, timeoutMs: 3000, ...options });
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof StaplingError, `fetch rejected with a non-StaplingError: ${String(err)}`);
    return err.code;
  }
}

const head = (body: Buffer, extra = '') =>
  `HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: ${body.length}\r\n${extra}Connection: close\r\n\r\n`;

describe('fetch: broken HTTP from the responder', () => {
  const cases: Array<[string, StaplingErrorCode | 'ok', (s: net.Socket) => void, Partial<FetchOcspOptions>?]> = [
    ['a reply that is not HTTP at all', 'ERR_FETCH_NETWORK', (s) => s.end('SSH-2.0-OpenSSH_9.2\r\n')],
    ['a connection closed without a word', 'ERR_FETCH_NETWORK', (s) => s.end()],
    ['a reset (RST) before any reply', 'ERR_FETCH_NETWORK', (s) => s.resetAndDestroy()],
    ['a reset in the middle of the body', 'ERR_FETCH_NETWORK', (s) => s.write(head(good) + good.subarray(0, 100).toString('latin1'), 'latin1', () => s.resetAndDestroy())],
    ['80 KB of response headers', 'ERR_FETCH_NETWORK', (s) => s.end(`HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n${'X-Pad: '.padEnd(1000, 'a')}\r\n`.repeat(80))],
    ['a Content-Length that is not a number', 'ERR_FETCH_NETWORK', (s) => s.end(`HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: lots\r\n\r\n`)],
    ['two different Content-Lengths (request smuggling shape)', 'ERR_FETCH_NETWORK', (s) => s.end(`HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: ${good.length}\r\nContent-Length: 5\r\n\r\n`)],
    ['the status line drip-fed a byte every 300 ms', 'ERR_FETCH_TIMEOUT', (s) => {
      const text = head(good);
      let i = 0;
      const timer = setInterval(() => (s.destroyed ? clearInterval(timer) : s.write(text[i++] ?? '')), 300);
      s.on('close', () => clearInterval(timer));
    }, { timeoutMs: 1200 }],
    ['a good response in HTTP/1.0, its body ended by closing the connection (valid HTTP)', 'ok', (s) => {
      s.end(Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n\r\n'), good]));
    }],
    ['a good response with Content-Type parameters and odd case', 'ok', (s) => s.end(Buffer.concat([Buffer.from(head(good).replace('application/ocsp-response', 'Application/OCSP-Response; charset=binary')), good]))],
  ];
  for (const [name, expected, answer, options] of cases) {
    it(`${expected === 'ok' ? 'accepts' : `refuses with ${expected}`}: ${name}`, async () => {
      const server = await rawServer(answer);
      try {
        assert.equal(await outcome({ url: server.url, ...options }), expected);
      } finally {
        await server.close();
      }
    });
  }
});

describe('fetch: redirects', () => {
  for (const location of ['file:///etc/passwd', 'ftp://127.0.0.1/ocsp', 'data:application/ocsp-response;base64,MAMKAQM=', 'javascript:alert(1)', 'http://[::1', null]) {
    it(`refuses a redirect to ${location ?? 'nowhere (no Location)'} with ERR_FETCH_REDIRECTS`, async () => {
      const server = await httpServer((_req, res) => res.writeHead(302, location === null ? {} : { Location: location }).end());
      try {
        assert.equal(await outcome({ url: server.url }), 'ERR_FETCH_REDIRECTS');
      } finally {
        await server.close();
      }
    });
  }

  it('counts the deadline across redirects: a redirect to a hanging responder times out', async () => {
    // The same host: a redirect elsewhere is refused at once (ERR_FETCH_REDIRECTS).
    const redirecting = await httpServer((req, res) => {
      if (req.url === '/') res.writeHead(307, { Location: '/hang' }).end();
      // /hang: never answers.
    });
    try {
      assert.equal(await outcome({ url: redirecting.url, timeoutMs: 500 }), 'ERR_FETCH_TIMEOUT');
    } finally {
      await redirecting.close();
    }
  });
});

describe('fetch: many at once', () => {
  it(`${CONCURRENT} fetches against a responder that never answers all time out, and every connection is closed afterwards`, async () => {
    const server = await rawServer(() => undefined);
    try {
      const results = await Promise.all(Array.from({ length: CONCURRENT }, () => outcome({ url: server.url, timeoutMs: 500 })));
      assert.deepEqual(new Set(results), new Set(['ERR_FETCH_TIMEOUT']));
      // The client closes its side of every connection; wait for the server to see each close.
      while (server.sockets.size > 0) await once([...server.sockets][0]!, 'close');
    } finally {
      await server.close();
    }
  });
});

describe('fetch: fuzzed bodies', () => {
  it(`refuses every mutant body exactly as verifyOcspResponse does, and accepts none openssl refuses (${MUTANTS} mutants, seed ${SEED})`, async (t) => {
    let body = good;
    const server = await httpServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/ocsp-response', 'Content-Length': body.length }).end(body));
    });
    const codes = new Map<string, number>();
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(mutationArb, { minLength: 1, maxLength: 3 }), async (mutations) => {
          body = mutateAll(good, mutations);
          let expected = 'ok';
          try {
            verifyOcspResponse(body, chain.leaf, chain.issuer, { now: Date.now(), clockSkewMs: 300_000, maxAgeWithoutNextUpdateMs: 86_400_000, maxResponseBytes: 65_536 });
          } catch (err) {
            expected = (err as StaplingError).code;
          }
          const got = await outcome({ url: server.url });
          codes.set(got, (codes.get(got) ?? 0) + 1);
          assert.equal(got, expected);
          if (got === 'ok' && !body.equals(good)) assert.ok(opensslAccepts(pki, body), `fetch accepted a mutant openssl refuses: ${body.toString('hex')}`);
        }),
        { seed: SEED, numRuns: MUTANTS },
      );
    } finally {
      await server.close();
    }
    t.diagnostic(JSON.stringify(Object.fromEntries(codes)));
  });
});

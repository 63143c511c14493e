import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import tls from 'node:tls';
import { createStaplingContext, type StaplingContext } from '../src/context.js';
import type { StaplingError } from '../src/errors.js';
import { startRefresh, type Refresher, type RefreshOptions } from '../src/refresh.js';
import { FakeClock } from './fixtures/fake-clock.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let server: http.Server;
let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
let requests = 0;
let n = 0;

before(async () => {
  server = http.createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => handler(req, res));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  pki = makePki(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`);
});
after(() => {
  server.closeAllConnections();
  server.close();
  pki.remove();
});
beforeEach(() => {
  requests = 0;
});

function serveBytes(bytes: Buffer): void {
  handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(bytes);
}

interface Setup {
  ctx: StaplingContext;
  clock: FakeClock;
  refresher: Refresher;
  file: string;
  errors: StaplingError[];
}

async function setup(initial: Buffer | null, options: RefreshOptions = {}): Promise<Setup> {
  const clock = new FakeClock();
  const file = join(pki.dir, `refresh-${++n}.der`);
  if (initial) writeFileSync(file, initial);
  const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file, now: () => clock.t });
  const errors: StaplingError[] = [];
  const refresher = startRefresh(ctx, { clock, random: () => 0.5, onError: (err) => errors.push(err), ...options });
  return { ctx, clock, refresher, file, errors };
}

async function teardown(s: Setup): Promise<void> {
  s.refresher.stop();
  await s.ctx.close();
}

/** Fires the pending timer and waits for the fetch it started. */
async function fireAndSettle(s: Setup): Promise<unknown> {
  s.clock.fire();
  return s.refresher.refreshNow().then(
    (status) => status,
    (err: unknown) => err,
  );
}

describe('in-process refresh', () => {
  it('fetches at once when nothing is stapled, writes ocspFile and reloads the context', async () => {
    const fresh = pki.respond();
    serveBytes(fresh);
    const s = await setup(null);
    try {
      assert.equal(s.ctx.stapleNow(), null);
      assert.equal(s.clock.due(), s.clock.t, 'due now');
      assert.equal(requests, 0, 'not fetched synchronously');
      await fireAndSettle(s);
      assert.equal(requests, 1);
      assert.deepEqual(readFileSync(s.file), fresh);
      assert.deepEqual(s.ctx.stapleNow(), fresh);
    } finally {
      await teardown(s);
    }
  });

  it('plans the next fetch at half of the validity window', async () => {
    const s = await setup(pki.respond({ validMinutes: 240 }));
    try {
      const { thisUpdate, validUntil } = s.ctx.status();
      assert.equal(s.clock.due(), (thisUpdate!.getTime() + validUntil!.getTime()) / 2);
    } finally {
      await teardown(s);
    }
  });

  it('spreads the planned fetch by the jitter, both ways', async () => {
    const staple = pki.respond({ validMinutes: 240 });
    const window = 240 * 60_000;
    for (const [random, offset] of [[0, -0.2], [0.75, 0.1]] as const) {
      const s = await setup(staple, { random: () => random, jitter: 0.2 });
      try {
        const { thisUpdate } = s.ctx.status();
        assert.equal(s.clock.due(), thisUpdate!.getTime() + window * (0.5 + offset));
      } finally {
        await teardown(s);
      }
    }
  });

  it('retries with capped exponential backoff, keeping the last good staple and its file', async () => {
    const staple = pki.respond();
    const s = await setup(staple, { minRetryMs: 60_000, maxRetryMs: 600_000 });
    handler = (_req, res) => res.writeHead(500).end();
    try {
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 6; attempt++) {
        const err = await fireAndSettle(s);
        assert.equal((err as StaplingError).code, 'ERR_FETCH_HTTP_STATUS');
        assert.equal(s.refresher.failures, attempt);
        delays.push(s.clock.due() - s.clock.t);
        assert.deepEqual(s.ctx.stapleNow(), staple, 'the last good staple stays');
        assert.deepEqual(readFileSync(s.file), staple, 'the file stays');
      }
      // random 0.5: three quarters of 60 s, 120 s, 240 s, 480 s, then the 600 s cap.
      assert.deepEqual(delays, [45_000, 90_000, 180_000, 360_000, 450_000, 450_000]);
      assert.deepEqual(s.errors.map((e) => e.code), Array(6).fill('ERR_FETCH_HTTP_STATUS'));

      // The responder recovers: the next attempt succeeds and the plan goes back to half-life.
      // The fake clock is now past the first staple's half-life; the new response is made at that time.
      const fresh = pki.respond({ at: `+${Math.round((s.clock.due() - Date.now()) / 1000)}s` });
      serveBytes(fresh);
      await fireAndSettle(s);
      assert.equal(s.refresher.failures, 0);
      assert.deepEqual(s.ctx.stapleNow(), fresh);
      const { thisUpdate, validUntil } = s.ctx.status();
      assert.equal(s.clock.due(), (thisUpdate!.getTime() + validUntil!.getTime()) / 2);
    } finally {
      await teardown(s);
    }
  });

  it('never writes a refused response: the file and the staple stay', async () => {
    const staple = pki.respond();
    const s = await setup(staple);
    serveBytes(pki.respond({ certs: [pki.leaf2] }));
    try {
      const err = await fireAndSettle(s);
      assert.equal((err as StaplingError).code, 'ERR_OCSP_CERTID_MISMATCH');
      assert.deepEqual(readFileSync(s.file), staple);
      assert.deepEqual(s.ctx.stapleNow(), staple);
    } finally {
      await teardown(s);
    }
  });

  it('merges concurrent fetches into one request', async () => {
    const fresh = pki.respond();
    let release: () => void = () => undefined;
    handler = (_req, res) => {
      release = () => res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(fresh);
    };
    const s = await setup(pki.respond({ at: '-1h' })); // older than fresh: only a newer response is written
    try {
      const a = s.refresher.refreshNow();
      const b = s.refresher.refreshNow();
      assert.equal(a, b);
      while (requests === 0) await new Promise((resolve) => setImmediate(resolve));
      release();
      await Promise.all([a, b]);
      assert.equal(requests, 1);
      assert.deepEqual(s.ctx.stapleNow(), fresh);
    } finally {
      await teardown(s);
    }
  });

  it('does not fetch during a handshake, even with nothing to staple', async () => {
    serveBytes(pki.respond());
    const s = await setup(null);
    const tlsServer = tls.createServer({ cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) }, (socket) => socket.end());
    s.ctx.attach(tlsServer);
    tlsServer.listen(0, '127.0.0.1');
    await once(tlsServer, 'listening');
    try {
      const port = (tlsServer.address() as net.AddressInfo).port;
      const options = { port, host: '127.0.0.1', rejectUnauthorized: false, requestOCSP: true } as tls.ConnectionOptions;
      const socket = tls.connect(options);
      await once(socket, 'secureConnect');
      socket.destroy();
      assert.equal(requests, 0, 'the handshake started no fetch');
      await fireAndSettle(s);
      assert.equal(requests, 1, 'the timer did');
    } finally {
      tlsServer.close();
      await teardown(s);
    }
  });

  it('plans from validUntil: a 60-day response is refreshed halfway to thisUpdate + 10 days (maxAgeMs)', async () => {
    // Before maxAgeMs this waited 30 days, in two timer steps; now validUntil - thisUpdate is at
    // most maxAgeMs (within one setTimeout), and the refresh comes in time for Firefox.
    const s = await setup(pki.respond({ validMinutes: 60 * 24 * 60 }));
    serveBytes(pki.respond());
    try {
      const { thisUpdate, validUntil, nextUpdate } = s.ctx.status();
      assert.equal(validUntil!.getTime(), thisUpdate!.getTime() + 10 * 86_400_000);
      assert.ok(nextUpdate!.getTime() > validUntil!.getTime());
      const target = thisUpdate!.getTime() + 5 * 86_400_000;
      assert.equal(s.refresher.nextRefreshAt, target);
      assert.equal(s.clock.due(), target, 'one timer reaches the target');
      await fireAndSettle(s);
      assert.equal(requests, 1);
    } finally {
      await teardown(s);
    }
  });

  it('plans from a staple loaded by someone else', async () => {
    const s = await setup(pki.respond({ validMinutes: 60 }));
    try {
      writeFileSync(s.file, pki.respond({ validMinutes: 600 }));
      await s.ctx.reload();
      const { thisUpdate, validUntil } = s.ctx.status();
      assert.equal(validUntil!.getTime() - thisUpdate!.getTime(), 600 * 60_000);
      assert.equal(s.clock.due(), thisUpdate!.getTime() + 300 * 60_000);
    } finally {
      await teardown(s);
    }
  });

  it('stops when its context is closed', async () => {
    const s = await setup(pki.respond({ validMinutes: 240 }));
    assert.notEqual(s.refresher.nextRefreshAt, null);
    await s.ctx.close();
    assert.equal(s.refresher.nextRefreshAt, null, 'no fetch planned');
    await assert.rejects(s.refresher.refreshNow(), { name: 'StaplingError', code: 'ERR_STOPPED' });
  });

  it('stops: no timer left, a running fetch aborted, nothing written', async () => {
    handler = () => undefined; // never answers
    const s = await setup(null);
    try {
      s.clock.fire();
      const running = s.refresher.refreshNow();
      while (requests === 0) await new Promise((resolve) => setImmediate(resolve));
      s.refresher.stop();
      await assert.rejects(running, { name: 'StaplingError', code: 'ERR_STOPPED', family: 'lifecycle' });
      assert.equal(s.clock.timers.size, 0);
      assert.equal(s.refresher.nextRefreshAt, null);
      assert.equal(existsSync(s.file), false);
      assert.equal(s.errors.length, 0, 'stopping is not an error');
      await assert.rejects(s.refresher.refreshNow(), { name: 'StaplingError', code: 'ERR_STOPPED' });
    } finally {
      server.closeAllConnections();
      await teardown(s);
    }
  });
});

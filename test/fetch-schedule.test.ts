/**
 * The refresh schedule against responders that have nothing newer: a CA or CDN that keeps
 * serving a valid response past our refresh point (normal for 7-day responses renewed at
 * half-life), with and without RFC 5019 section 6 caching headers. Time is a fake clock; the
 * responder is a real HTTP server on 127.0.0.1 and every fetch is a real request.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createStaplingContext, type StaplingContext } from '../src/context.js';
import { cachingOf } from '../src/fetch.js';
import { nextFetchAt, startRefresh, type Refresher, type RefreshOptions, type ScheduleInput } from '../src/refresh.js';
import { FakeClock } from './fixtures/fake-clock.js';
import { makePki, type Pki } from './fixtures/pki.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

let pki: Pki;
let server: http.Server;
let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
let requests: http.IncomingHttpHeaders[] = [];
let n = 0;

before(async () => {
  server = http.createServer((req, res) => {
    requests.push(req.headers);
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
  requests = [];
});

function serve(bytes: Buffer, headers: http.OutgoingHttpHeaders = {}): void {
  handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/ocsp-response', ...headers }).end(bytes);
}

interface Setup {
  ctx: StaplingContext;
  clock: FakeClock;
  refresher: Refresher;
  file: string;
  reloads: number;
}

async function setup(initial: Buffer, options: RefreshOptions = {}): Promise<Setup> {
  const clock = new FakeClock();
  const file = join(pki.dir, `schedule-${++n}.der`);
  writeFileSync(file, initial);
  const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file, now: () => clock.t });
  const refresher = startRefresh(ctx, { clock, random: () => 0.5, ...options });
  const s: Setup = { ctx, clock, refresher, file, reloads: 0 };
  ctx.on('reload', () => s.reloads++);
  return s;
}

async function teardown(s: Setup): Promise<void> {
  s.refresher.stop();
  await s.ctx.close();
}

/** Fires the pending timer, waits for the fetch it started, and returns the next delay. */
async function step(s: Setup): Promise<number> {
  s.clock.fire();
  await s.refresher.refreshNow().catch(() => undefined);
  return s.clock.due() - s.clock.t;
}

describe('refresh against a responder with nothing newer', () => {
  it('makes one request per growing backoff step, and writes and reloads nothing', async () => {
    // Made 13 hours ago, valid one day: its half-life (the refresh point) passed an hour ago.
    const held = pki.respond({ at: '-13h' });
    serve(held);
    const s = await setup(held, { minRetryMs: MINUTE, maxRetryMs: HOUR });
    const mtime = statSync(s.file).mtimeMs;
    try {
      assert.equal(s.clock.due(), s.clock.t, 'past the refresh point: due at once');
      const delays: number[] = [];
      for (let i = 0; i < 9; i++) delays.push(await step(s));
      assert.equal(requests.length, 9, 'one request per step');
      assert.equal(s.refresher.unchanged, 9);
      assert.equal(s.refresher.failures, 0);
      // random 0.5: three quarters of 1, 2, 4, 8, 16, 32 minutes, then the one-hour cap.
      assert.deepEqual(delays.map((d) => d / MINUTE), [0.75, 1.5, 3, 6, 12, 24, 45, 45, 45]);
      assert.equal(s.reloads, 0, 'nothing reloaded');
      assert.equal(statSync(s.file).mtimeMs, mtime, 'nothing written');
      assert.deepEqual(s.ctx.stapleNow(), held);
    } finally {
      await teardown(s);
    }
  });

  it('treats an older response (a stale cache) as nothing newer, and never goes back to it', async () => {
    const held = pki.respond({ at: '-13h' });
    serve(pki.respond({ at: '-14h' }));
    const s = await setup(held);
    try {
      await step(s);
      assert.equal(requests.length, 1);
      assert.equal(s.refresher.unchanged, 1);
      assert.deepEqual(readFileSync(s.file), held);
      assert.deepEqual(s.ctx.stapleNow(), held);
      assert.equal(s.reloads, 0);
    } finally {
      await teardown(s);
    }
  });

  it('picks up a newer response at the next step, and plans from it again', async () => {
    const held = pki.respond({ at: '-13h' });
    serve(held);
    const s = await setup(held, { minRetryMs: MINUTE, maxRetryMs: HOUR });
    try {
      for (let i = 0; i < 4; i++) await step(s);
      assert.equal(s.refresher.unchanged, 4);
      const fresh = pki.respond();
      serve(fresh);
      const delay = await step(s);
      assert.equal(requests.length, 5);
      assert.deepEqual(readFileSync(s.file), fresh, 'written');
      assert.deepEqual(s.ctx.stapleNow(), fresh, 'reloaded');
      assert.equal(s.reloads, 1);
      assert.equal(s.refresher.unchanged, 0);
      const { thisUpdate, validUntil } = s.ctx.status();
      assert.equal(s.clock.t + delay, (thisUpdate!.getTime() + validUntil!.getTime()) / 2, 'back to half-life');
    } finally {
      await teardown(s);
    }
  });

  it('a 7-day response renewed at half-life, one simulated day of a stale responder: 37 requests (the README example)', async () => {
    // Made 3.5 days ago and valid 7: the refresh point is now; the CA renews it a day later.
    const held = pki.respond({ at: '-84h', validMinutes: 7 * 24 * 60 });
    serve(held);
    const s = await setup(held); // default options; random 0.5: every delay is 3/4 of its step
    const start = s.clock.t;
    try {
      while (s.clock.due() < start + DAY) await step(s);
      const day = requests.length;
      // Requests at 0, 0.75, 2.25, 5.25, 11.25, 23.25, 47.25 minutes, then every 45 minutes.
      // With real jitter (1/2 to all of each step) the count lies between 29 and 53.
      assert.equal(day, 37);
      assert.equal(s.reloads, 0);
      // The CA publishes the renewed response: taken at the next step, within the hour.
      const renewed = pki.respond({ at: '+24h', validMinutes: 7 * 24 * 60 });
      serve(renewed);
      const before = s.clock.t;
      await step(s);
      assert.ok(s.clock.t - before <= HOUR);
      assert.deepEqual(s.ctx.stapleNow(), renewed);
      assert.equal(requests.length, day + 1);
    } finally {
      await teardown(s);
    }
  });
});

describe('refresh with RFC 5019 caching headers', () => {
  it('waits for Cache-Control max-age and asks with If-None-Match and If-Modified-Since; a 304 writes nothing', async () => {
    const held = pki.respond({ at: '-13h' });
    const lastModified = new Date(Date.now() - 13 * HOUR).toUTCString();
    let etag = '"v1"';
    let body = held;
    handler = (req, res) => {
      if (req.headers['if-none-match'] === etag) res.writeHead(304, { ETag: etag, 'Cache-Control': 'max-age=600' }).end();
      else res.writeHead(200, { 'Content-Type': 'application/ocsp-response', ETag: etag, 'Last-Modified': lastModified, 'Cache-Control': 'max-age=600, public, no-transform, must-revalidate' }).end(body);
    };
    const s = await setup(held, { method: 'GET' });
    const mtime = statSync(s.file).mtimeMs;
    try {
      const first = await step(s);
      assert.equal(requests[0]!['if-none-match'], undefined, 'nothing to validate against yet');
      assert.equal(first, 600_000, 'max-age, not the 45 s backoff');
      const second = await step(s);
      assert.equal(requests[1]!['if-none-match'], '"v1"');
      assert.equal(requests[1]!['if-modified-since'], lastModified);
      assert.equal(second, 600_000);
      assert.equal(s.refresher.unchanged, 2);
      assert.equal(statSync(s.file).mtimeMs, mtime, 'nothing written');
      assert.equal(s.reloads, 0);

      const fresh = pki.respond();
      etag = '"v2"';
      body = fresh;
      await step(s);
      assert.equal(requests[2]!['if-none-match'], '"v1"');
      assert.deepEqual(readFileSync(s.file), fresh);
      assert.equal(s.reloads, 1);
    } finally {
      await teardown(s);
    }
  });

  it('makes no conditional request after someone else loaded another staple: a 304 would mean "nothing newer" than a response no longer held', async () => {
    const held = pki.respond({ at: '-13h' });
    serve(held, { ETag: '"v1"', 'Cache-Control': 'max-age=60' });
    const s = await setup(held, { method: 'GET' });
    try {
      await step(s);
      assert.equal(requests[0]!['if-none-match'], undefined);
      writeFileSync(s.file, pki.respond({ at: '-12h' })); // a job wrote another response
      await s.ctx.reload();
      await step(s);
      assert.equal(requests.length, 2);
      assert.equal(requests[1]!['if-none-match'], undefined);
    } finally {
      await teardown(s);
    }
  });

  it('sends no conditional headers with POST (a server may answer 412)', async () => {
    const held = pki.respond({ at: '-13h' });
    serve(held, { ETag: '"v1"', 'Last-Modified': new Date().toUTCString() });
    const s = await setup(held);
    try {
      await step(s);
      await step(s);
      assert.equal(requests.length, 2);
      assert.equal(requests[1]!['if-none-match'], undefined);
      assert.equal(requests[1]!['if-modified-since'], undefined);
    } finally {
      await teardown(s);
    }
  });

  it('never lets the staple run out untried, whatever max-age says', async () => {
    // Valid 20 more minutes; the responder says its answer stays for a day.
    const held = pki.respond({ at: '-40m', validMinutes: 60 });
    serve(held, { 'Cache-Control': 'max-age=86400' });
    const s = await setup(held);
    try {
      const delay = await step(s);
      const left = s.ctx.status().validUntil!.getTime() - s.clock.t;
      assert.equal(delay, left / 2);
    } finally {
      await teardown(s);
    }
  });
});

describe('the schedule rules (nextFetchAt)', () => {
  const base: ScheduleInput = {
    now: 1_000 * DAY,
    held: { thisUpdate: 1_000 * DAY - 3.5 * DAY, validUntil: 1_000 * DAY + 3.5 * DAY },
    streak: 0,
    freshUntil: null,
    refreshAt: 0.5,
    jitter: 0.1,
    minRetryMs: MINUTE,
    maxRetryMs: HOUR,
    spread: 0,
    random: () => 0.5,
  };
  it('plans at refreshAt of the window, spread by the jitter', () => {
    const held = { thisUpdate: base.now, validUntil: base.now + 4 * DAY };
    assert.equal(nextFetchAt({ ...base, held }), base.now + 2 * DAY);
    assert.equal(nextFetchAt({ ...base, held, spread: -1 }), base.now + 2 * DAY - 0.4 * DAY);
  });
  it('fetches at once with nothing held, then backs off', () => {
    assert.equal(nextFetchAt({ ...base, held: null }), base.now);
    assert.equal(nextFetchAt({ ...base, held: null, streak: 3 }), base.now + 4 * MINUTE * 0.75);
  });
  it('waits for freshUntil, up to half of the remaining life', () => {
    assert.equal(nextFetchAt({ ...base, streak: 1, freshUntil: base.now + 2 * HOUR }), base.now + 2 * HOUR);
    assert.equal(nextFetchAt({ ...base, streak: 1, freshUntil: base.now + 3 * DAY }), base.now + 1.75 * DAY);
  });
  it('waits at least minRetryMs near the end of the life', () => {
    const held = { thisUpdate: base.now - DAY, validUntil: base.now + 10_000 };
    assert.equal(nextFetchAt({ ...base, held, streak: 9 }), base.now + MINUTE);
  });
});

describe('HTTP caching headers (cachingOf)', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('max-age less Age', () => {
    assert.equal(cachingOf({ 'cache-control': 'public, max-age=600', age: '100' }, now).freshUntil, now + 500_000);
  });
  it('max-age wins over Expires', () => {
    assert.equal(cachingOf({ 'cache-control': 'max-age=60', expires: 'Fri, 02 Jan 2026 00:00:00 GMT' }, now).freshUntil, now + 60_000);
  });
  it('Expires counted from Date, whatever our clock says', () => {
    const headers = { date: 'Mon, 01 Jun 2026 00:00:00 GMT', expires: 'Mon, 01 Jun 2026 01:00:00 GMT' };
    assert.equal(cachingOf(headers, now).freshUntil, now + HOUR);
  });
  it('no-cache, no-store and an unreadable Expires: stale at once', () => {
    assert.equal(cachingOf({ 'cache-control': 'no-cache, max-age=600' }, now).freshUntil, now);
    assert.equal(cachingOf({ 'cache-control': 'no-store' }, now).freshUntil, now);
    assert.equal(cachingOf({ expires: '0' }, now).freshUntil, now);
  });
  it('nothing said: null; validators kept verbatim', () => {
    assert.deepEqual(cachingOf({ etag: 'W/"x"', 'last-modified': 'Thu, 01 Jan 2026 00:00:00 GMT' }, now), {
      etag: 'W/"x"',
      lastModified: 'Thu, 01 Jan 2026 00:00:00 GMT',
      freshUntil: null,
    });
  });
});

/**
 * Time: clock jumps forward and back through the injectable clock, and a response whose
 * nextUpdate passes while a real TLS server is under handshake load from Node clients.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createStaplingContext, StaplingError } from '../src/index.js';
import { parseOcspResponse } from '../src/ocsp/parse.js';
import { handshake } from './fixtures/client.js';
import { envInt } from './fixtures/mutate.js';
import { makePki, opensslAccepts, type Pki } from './fixtures/pki.js';

const SEED = envInt('TIME_SEED', 20261124);
const CLOCK_STEPS = envInt('TIME_CLOCK_STEPS', 2000);
const LOAD_CLIENTS = envInt('TIME_LOAD_CLIENTS', 8);

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const SKEW = 5 * MINUTE;

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.remove());

/** thisUpdate and nextUpdate of a one-SingleResponse response, in ms. */
function windowOf(bytes: Buffer): { thisUpdate: number; nextUpdate: number } {
  const single = parseOcspResponse(bytes).responses[0]!;
  return { thisUpdate: single.thisUpdate.getTime(), nextUpdate: single.nextUpdate!.getTime() };
}

describe('clock jumps', () => {
  it(`${CLOCK_STEPS} seeded jumps of the clock (seconds to days, forward and back) with reloads of two responses: a staple is handed out exactly when now is in its window`, async (t) => {
    // Two good responses with different windows: one made now for a day, one made 20 hours ago for 22 hours.
    const current = pki.respond({ validMinutes: 24 * 60 });
    const older = pki.respond({ at: '-20h', validMinutes: 22 * 60 });
    const windows = new Map([current, older].map((b) => [b, windowOf(b)]));
    const base = windows.get(current)!.thisUpdate;
    let clock = base;
    const file = pki.file(current);
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file, clockSkewMs: SKEW, now: () => clock });
    const server = createServer();
    ctx.attach(server);
    const listener = server.listeners('OCSPRequest')[0] as (c: Buffer, i: Buffer | null, cb: (e: Error | null, r?: Buffer | null) => void) => void;
    const ask = () => {
      let answer: Buffer | null | undefined;
      let calls = 0;
      listener(ctx.certificate, null, (err, response) => {
        calls++;
        assert.equal(err, null);
        answer = response;
      });
      assert.equal(calls, 1);
      return answer ?? null;
    };
    const inWindow = (bytes: Buffer) => {
      const w = windows.get(bytes)!;
      return clock >= w.thisUpdate - SKEW && clock < w.nextUpdate;
    };

    let held: Buffer = current;
    const seen = { stapled: 0, notStapled: 0, reloadsOk: 0, reloadsRefused: new Map<string, number>() };
    const jump = fc.oneof(
      fc.integer({ min: -2 * DAY, max: 2 * DAY }), // anywhere
      fc.integer({ min: -10_000, max: 10_000 }), // small steps
      fc.constantFrom(-SKEW - 1, -SKEW, -SKEW + 1, -1, 0, 1), // the edges, relative to a window start
    );
    const step = fc.tuple(fc.nat(9), jump, fc.boolean());
    for (const [kind, delta, pickOlder] of fc.sample(step, { seed: SEED, numRuns: CLOCK_STEPS })) {
      if (kind < 5) {
        clock += delta; // a jump from wherever the clock is
      } else if (kind < 7) {
        // a jump to the edge of one window or the other: the cases that matter most
        const w = windows.get(pickOlder ? older : current)!;
        clock = (delta % 2 === 0 ? w.nextUpdate : w.thisUpdate) + (delta % 3);
      } else {
        const next = pickOlder ? older : current;
        // A reload never steps back: an earlier thisUpdate is refused while the held staple is sent.
        const stepsBack = inWindow(held) && windows.get(next)!.thisUpdate < windows.get(held)!.thisUpdate;
        writeFileSync(file, next);
        try {
          await ctx.reload();
          assert.ok(inWindow(next), 'a reload succeeds only inside the window');
          assert.ok(!stepsBack, 'a reload never steps back to an older response while the held one is sent');
          held = next;
          seen.reloadsOk++;
        } catch (err) {
          assert.ok(err instanceof StaplingError);
          if (inWindow(next)) {
            assert.ok(stepsBack, `refused ${err.code} inside the window`);
            assert.equal(err.code, 'ERR_OCSP_OLDER_THAN_HELD');
          } else {
            assert.match(err.code, /^ERR_OCSP_(EXPIRED|NOT_YET_VALID)$/);
          }
          seen.reloadsRefused.set(err.code, (seen.reloadsRefused.get(err.code) ?? 0) + 1);
        }
      }
      const staple = ask();
      if (inWindow(held)) {
        assert.ok(staple?.equals(held), `at ${new Date(clock).toISOString()} the held staple is sent`);
        seen.stapled++;
      } else {
        assert.equal(staple, null, `at ${new Date(clock).toISOString()}, outside the window, nothing is sent`);
        seen.notStapled++;
      }
      assert.equal(ctx.status().stapling, staple !== null);
    }
    await ctx.close();
    server.close();
    t.diagnostic(JSON.stringify({ ...seen, reloadsRefused: Object.fromEntries(seen.reloadsRefused) }));
    assert.ok(seen.stapled > 0 && seen.notStapled > 0 && seen.reloadsOk > 0 && seen.reloadsRefused.size === 3, JSON.stringify([...seen.reloadsRefused]));
  });
});

describe('a response valid for one second', () => {
  it('with the injected clock loaded at nextUpdate − 1 s: stapled in each of the 1,000 ms, never from nextUpdate on; expiring, then expired', { timeout: 30_000 }, async () => {
    const bytes = pki.respond({ validMinutes: 1 });
    const { nextUpdate } = windowOf(bytes);
    let clock = nextUpdate - 1000;
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(bytes), now: () => clock });
    const expiring = new Promise<void>((resolve) => ctx.once('expiring', () => resolve()));
    const expired = new Promise<number>((resolve) => ctx.once('expired', () => resolve(clock)));
    // The context's timers are unref'd (they never keep a server alive): hold the loop open here.
    const hold = setInterval(() => undefined, 1000);
    await expiring; // at once: one second left is within the one-hour margin
    let stapled = 0;
    for (; clock < nextUpdate; clock++) if (ctx.stapleNow()?.equals(bytes)) stapled++;
    assert.equal(stapled, 1000, 'stapled at every millisecond of its last second');
    for (const late of [0, 1, 1000, 60_000]) {
      clock = nextUpdate + late;
      assert.equal(ctx.stapleNow(), null, `nothing at nextUpdate + ${late} ms`);
    }
    clock = nextUpdate;
    try {
      assert.ok((await expired) >= nextUpdate, "'expired' once the clock has reached nextUpdate");
    } finally {
      clearInterval(hold);
      await ctx.close();
    }
  });
});

describe('nextUpdate passes under handshake load', () => {
  it(`a response with about three seconds left, a real server and ${LOAD_CLIENTS} Node clients: not one staple is sent once nextUpdate has passed`, async (t) => {
    // openssl ocsp -nmin counts in minutes: sign 57 s in the past for one minute, leaving about
    // 3 s (2 s proved tight on a loaded machine; the one-second case is the injected-clock test above).
    const bytes = pki.respond({ at: '-57s', validMinutes: 1 });
    const { nextUpdate } = windowOf(bytes);
    assert.ok(opensslAccepts(pki, bytes), 'openssl accepts it now');
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(bytes) });
    assert.ok(ctx.stapleNow()?.equals(bytes), 'stapled at start');
    const expired = new Promise<number>((resolve) => ctx.once('expired', () => resolve(Date.now())));
    const server = createServer({ cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) });
    ctx.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    const results: Array<{ start: number; staple: Buffer | null }> = [];
    const stopAt = nextUpdate + 1500;
    const client = async () => {
      while (Date.now() < stopAt) {
        const start = Date.now();
        const { staple } = await handshake({ port });
        results.push({ start, staple });
      }
    };
    await Promise.all(Array.from({ length: LOAD_CLIENTS }, client));
    const expiredAt = await expired;
    server.close();
    await ctx.close();

    const before_ = results.filter((r) => r.start < nextUpdate);
    const after_ = results.filter((r) => r.start >= nextUpdate);
    const stapledAfter = after_.filter((r) => r.staple !== null).length;
    t.diagnostic(`handshakes ${results.length}: ${before_.length} before nextUpdate (${before_.filter((r) => r.staple).length} stapled), ${after_.length} after (${stapledAfter} stapled); 'expired' ${expiredAt - nextUpdate} ms after nextUpdate`);
    assert.ok(before_.some((r) => r.staple?.equals(bytes)), 'stapled while valid');
    for (const r of results) if (r.staple) assert.ok(r.staple.equals(bytes));
    assert.ok(after_.length > 0, 'handshakes ran after nextUpdate');
    assert.equal(stapledAfter, 0, 'no staple after nextUpdate');
    assert.ok(expiredAt >= nextUpdate, "'expired' does not fire early");
  });
});

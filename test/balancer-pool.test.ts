/**
 * The balancer's pure parts: command line parsing and the selection rules of the Pool, with an
 * injected clock (for -T and -b without waiting).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBackend, parseControl, parseOptions, UsageError } from '../examples/balancer/options.js';
import { Pool, type Settings } from '../examples/balancer/pool.js';

describe('balancer options', () => {
  it('parses Pen backends host[:port[:maxc[:hard[:weight[:prio]]]]]', () => {
    assert.deepEqual(parseBackend('10.0.0.1', 8443), { host: '10.0.0.1', port: 8443, maxc: 0, hard: 0, weight: 0, prio: 0 });
    assert.deepEqual(parseBackend('web:8080:10:20:3:1', 0), { host: 'web', port: 8080, maxc: 10, hard: 20, weight: 3, prio: 1 });
    assert.deepEqual(parseBackend('[::1]:8080::5', 0), { host: '::1', port: 8080, maxc: 0, hard: 5, weight: 0, prio: 0 });
    for (const bad of ['', ':80', 'h:x', 'h:80:1:2:3:4:5', 'h:70000', '[::1', 'h:-1']) assert.throws(() => parseBackend(bad, 80), UsageError, bad);
    assert.throws(() => parseBackend('h', 0), /give a port/);
  });

  it('takes a TCP control address only on loopback', () => {
    assert.deepEqual(parseControl('/run/b.sock'), { path: '/run/b.sock' });
    assert.deepEqual(parseControl('10222'), { host: '127.0.0.1', port: 10222 });
    assert.deepEqual(parseControl('127.0.0.2:10222'), { host: '127.0.0.2', port: 10222 });
    assert.deepEqual(parseControl('[::1]:10222'), { host: '::1', port: 10222 });
    assert.throws(() => parseControl('0.0.0.0:10222'), /loopback/);
    assert.throws(() => parseControl('192.0.2.1:10222'), /loopback/);
    assert.throws(() => parseControl('example.com:10222'), /loopback/);
  });

  it('has Pen defaults and refuses what it cannot use', () => {
    const o = parseOptions(['8443', 'a:80'])!;
    assert.equal(o.listen.host, '0.0.0.0');
    assert.equal(o.blacklistSec, 30);
    assert.equal(o.clientsMax, 2048);
    assert.equal(o.connMax, 500);
    assert.equal(o.timeoutSec, 5);
    assert.equal(o.backends[0]!.port, 80);
    assert.equal(parseOptions(['--help']), null);
    for (const bad of [[], ['8443'], ['-x'], ['-q', '1', 'a'], ['-E', 'c.pem', '1', 'a'], ['--ocsp', 'f', '1', 'a'], ['--status', '0.0.0.0:1', '1', 'a'], ['--workers', '0', '1', 'a']]) {
      assert.throws(() => parseOptions(bad), UsageError, bad.join(' '));
    }
  });
});

describe('balancer pool', () => {
  const settings = (s: Partial<Settings> = {}): Settings => ({ roundrobin: false, hash: false, stubborn: false, blacklistSec: 30, timeoutSec: 5, connMax: 500, ...s });
  const specs = (n: number, extra: Partial<{ maxc: number; hard: number; weight: number; prio: number }> = {}) =>
    Array.from({ length: n }, (_, i) => ({ host: '127.0.0.1', port: 9000 + i, maxc: 0, hard: 0, weight: 0, prio: 0, ...extra }));
  const none = new Set<never>();

  it('forgets a client -T seconds after its last connection', () => {
    let now = 1_000_000;
    const pool = new Pool(specs(2), null, settings(), 100, 60, () => now);
    const first = pool.select('c', none)!;
    pool.track('c', first.backend);
    now += 59_000;
    assert.equal(pool.select('c', none)!.tracked, true);
    // select() does not refresh the entry: only a connection (track) does.
    now += 2_000;
    assert.equal(pool.select('c', none)!.tracked, false);
    assert.equal(pool.clients().length, 0);
  });

  it('lifts a blacklist when its time is up', () => {
    let now = 5_000_000;
    const pool = new Pool(specs(2), null, settings({ roundrobin: true }), 100, 0, () => now);
    pool.blacklist(pool.backends[0]!, 30);
    assert.equal(pool.blacklistLeft(pool.backends[0]!), 30);
    assert.deepEqual([pool.select('a', none)!.backend.index, pool.select('b', none)!.backend.index], [1, 1]);
    now += 30_000;
    assert.equal(pool.isBlacklisted(pool.backends[0]!), false);
    assert.deepEqual(new Set([pool.select('a', none)!.backend.index, pool.select('b', none)!.backend.index]), new Set([0, 1]));
  });

  it('respects maxc for new clients and hard for everyone', () => {
    const pool = new Pool(specs(2, { maxc: 1, hard: 2 }), null, settings(), 100, 0);
    const a = pool.select('a', none)!.backend;
    a.conns++;
    pool.track('a', a);
    // A new client avoids the server at maxc...
    assert.notEqual(pool.select('b', none)!.backend, a);
    // ...a tracked client may go over maxc, up to hard.
    assert.equal(pool.select('a', none)!.backend, a);
    a.conns++;
    assert.notEqual(pool.select('a', none)!.backend, a);
  });

  it('keeps the most recent clients when clients_max shrinks the table', () => {
    const pool = new Pool(specs(1), null, settings(), 10, 0);
    for (const c of ['a', 'b', 'c', 'd']) pool.track(c, pool.backends[0]!);
    pool.clientsMax = 2;
    assert.deepEqual(pool.clients().map((c) => c.address), ['d', 'c']);
  });
});

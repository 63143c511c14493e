/** /metrics and /status.json with --workers: the staple state is the worst worker's, whatever their order. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Snapshot } from '../examples/balancer/balancer.js';
import type { StapleReport } from '../examples/balancer/certificates.js';
import { mergeSnapshots, metrics } from '../examples/balancer/status.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');

function staple(stapling: boolean, validHours: number): StapleReport {
  const status = {
    stapling,
    certStatus: 'good',
    subject: 'CN=localhost',
    thisUpdate: new Date(NOW - 3_600_000),
    nextUpdate: new Date(NOW + validHours * 3_600_000),
    validUntil: new Date(NOW + validHours * 3_600_000),
    lastRefusal: stapling ? null : { code: 'ERR_OCSP_EXPIRED', message: 'expired' },
    ocspFile: '/tmp/x.ocsp',
  };
  return { name: 'default', certFile: '/tmp/x.pem', status, handshakes: { stapled: 1, withoutStaple: 0 } } as unknown as StapleReport;
}

function snapshot(pid: number, report: StapleReport): Snapshot {
  return {
    pid,
    startedAt: new Date(NOW).toISOString(),
    now: new Date(NOW).toISOString(),
    listen: '127.0.0.1:1',
    tls: true,
    mode: { roundrobin: false, hash: false, stubborn: false, xForwardedFor: false },
    limits: { connMax: 1, clientsMax: 1, timeoutSec: 1, blacklistSec: 1 },
    connections: { active: 0, total: 0, refused: 0, failed: 0 },
    servers: [],
    clientsTracked: 0,
    clients: [],
    staples: [report],
  } as unknown as Snapshot;
}

describe('balancer status with several workers', () => {
  it('a worker that lost its staple shows in /metrics whatever the workers order', () => {
    const good = snapshot(1, staple(true, 10));
    const lost = snapshot(2, staple(false, 10));
    for (const order of [[good, lost], [lost, good]]) {
      const view = mergeSnapshots(order, NOW);
      assert.equal(view.staples[0]!.stapling, false);
      assert.equal(view.staples[0]!.staplingWorkers, 1);
      assert.equal(view.staples[0]!.lastRefusal?.code, 'ERR_OCSP_EXPIRED');
      const text = metrics(view);
      assert.match(text, /^balancer_ocsp_stapling\{certificate="default"\} 0$/m);
      assert.match(text, /^balancer_ocsp_seconds_left\{certificate="default"\} 0$/m);
      assert.match(text, /^# HELP balancer_ocsp_seconds_left .*validUntil/m);
    }
  });

  it('seconds left is the worker whose staple runs out first', () => {
    const long = snapshot(1, staple(true, 10));
    const short = snapshot(2, staple(true, 2));
    for (const order of [[long, short], [short, long]]) {
      const text = metrics(mergeSnapshots(order, NOW));
      assert.match(text, /^balancer_ocsp_stapling\{certificate="default"\} 1$/m);
      assert.match(text, new RegExp(`^balancer_ocsp_seconds_left\\{certificate="default"\\} ${2 * 3600}$`, 'm'));
    }
  });
});

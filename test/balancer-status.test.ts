/**
 * The --status page in a real browser (Debian's chromium, driven by playwright-core; no
 * browser download), plus its JSON and Prometheus forms.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { get, handshake, startBackends, startBalancer, type Backend, type BalancerProcess } from './fixtures/balancer.js';
import { makePki, type Pki } from './fixtures/pki.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let pki: Pki;
let rootCa: Buffer;
let backends: Backend[];
let balancer: BalancerProcess;

before(async () => {
  pki = makePki();
  rootCa = readFileSync(pki.root.cert);
  const sniDir = join(pki.dir, 'sni');
  mkdirSync(sniDir);
  copyFileSync(pki.leaf2.chain, join(sniDir, 'second.test.pem'));
  copyFileSync(pki.leaf2.key, join(sniDir, 'second.test.key'));
  // second.test has a refused (revoked) file: the page must show it red with the reason.
  pki.file(pki.respond({ certs: [pki.leaf2], status: 'revoked' }), 'sni/second.test.pem.ocsp');
  backends = await startBackends(3);
  balancer = await startBalancer([
    '-E', pki.leaf.chain, '-K', pki.leaf.key, '--ocsp', pki.file(pki.respond({ validMinutes: 600 }), 'good.der'),
    '--sni-dir', sniDir, '--status', '127.0.0.1:0',
    '127.0.0.1:0', ...backends.map((b) => `127.0.0.1:${b.port}:10:20:1:0`),
  ]);
  for (let i = 2; i < 6; i++) await get(balancer.port, { ca: rootCa, localAddress: `127.0.0.${i}` });
  await backends[2]!.kill();
  // A new client meets the dead server: it is blacklisted and the client moves on.
  for (let i = 6; i < 9; i++) await get(balancer.port, { ca: rootCa, localAddress: `127.0.0.${i}` });
});
after(async () => {
  await balancer?.stop();
  await Promise.all((backends ?? []).map((b) => b.kill()));
  pki?.remove();
});

describe('balancer: --status', () => {
  it('serves the same data as JSON', async () => {
    const view = (await (await fetch(`${balancer.statusUrl}status.json`)).json()) as {
      servers: { index: number; blacklisted: number; total: number }[];
      connections: { total: number };
      clients: { address: string }[];
      staples: { name: string; stapling: boolean; secondsLeft: number; fractionLeft: number; lastRefusal: { code: string } | null }[];
    };
    assert.equal(view.servers.length, 3);
    assert.ok(view.servers[2]!.blacklisted > 0);
    assert.equal(view.connections.total, 7);
    assert.equal(view.clients.length, 7);
    const [main, second] = view.staples;
    assert.equal(main!.name, 'default');
    assert.equal(main!.stapling, true);
    assert.ok(main!.secondsLeft > 590 * 60 && main!.secondsLeft <= 600 * 60);
    assert.ok(main!.fractionLeft > 0.9 && main!.fractionLeft <= 1);
    assert.equal(second!.name, 'second.test');
    assert.equal(second!.stapling, false);
    assert.equal(second!.lastRefusal?.code, 'ERR_OCSP_REVOKED');
  });

  it('serves Prometheus metrics', async () => {
    const res = await fetch(`${balancer.statusUrl}metrics`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# TYPE balancer_connections_total counter$/m);
    assert.match(text, /^balancer_connections_total 7$/m);
    assert.match(text, /^balancer_ocsp_stapling\{certificate="default"\} 1$/m);
    assert.match(text, /^balancer_ocsp_stapling\{certificate="second\.test"\} 0$/m);
    assert.match(text, /^balancer_server_blacklisted_seconds\{server="2",address="127\.0\.0\.1:\d+"\} [1-9]\d*$/m);
    // Every sample line is NAME{labels} NUMBER.
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) assert.match(line, /^[a-z_]+(\{[^}]*\})? -?\d+(\.\d+)?$/, line);
    assert.match(text, /^balancer_ocsp_handshakes_total\{certificate="default",stapled="yes"\} 0$/m);
    // Two clients that ask for a staple (from 127.0.0.1, a new client): one gets it, one does not.
    assert.ok((await handshake(balancer.port, rootCa, 'localhost')).staple);
    assert.equal((await handshake(balancer.port, rootCa, 'second.test')).staple, null);
    const after = await (await fetch(`${balancer.statusUrl}metrics`)).text();
    assert.match(after, /^balancer_ocsp_handshakes_total\{certificate="default",stapled="yes"\} 1$/m);
    assert.match(after, /^balancer_ocsp_handshakes_total\{certificate="default",stapled="no"\} 0$/m);
    assert.match(after, /^balancer_ocsp_handshakes_total\{certificate="second\.test",stapled="no"\} 1$/m);
  });

  it('renders a live page in headless Chromium', async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (npm test's pretest does it as root)`);
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(balancer.statusUrl);
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });
      assert.deepEqual(errors, []);
      const servers = await page.$$eval('#servers tbody tr', (rows) => rows.map((r) => ({ cls: r.className, cells: [...r.querySelectorAll('td')].map((td) => td.textContent) })));
      assert.equal(servers.length, 3);
      assert.deepEqual(servers.map((s) => s.cls), ['up', 'up', 'down']);
      assert.match(servers[2]!.cells[2]!, /^blacklisted \d+s$/);
      const staples = await page.$$eval('#staples tbody tr', (rows) =>
        rows.map((r) => {
          // The bar as drawn: the fill's rendered width as a share of the bar's.
          const bar = r.querySelector('.bar')!.getBoundingClientRect();
          const fill = r.querySelector('.fill')!.getBoundingClientRect();
          return { text: [...r.querySelectorAll('td')].map((td) => td.textContent), fill: (fill.width / bar.width) * 100 };
        }),
      );
      assert.equal(staples.length, 2);
      assert.match(staples[0]!.text[0]!, /^default /);
      assert.equal(staples[0]!.text[1], 'stapling good');
      assert.ok(staples[0]!.fill > 90, `bar ${staples[0]!.fill}%`);
      assert.match(staples[0]!.text[3]!, /^ 9h 5\dm$/);
      assert.equal(staples[1]!.text[1], 'not stapling');
      assert.equal(staples[1]!.fill, 0);
      assert.match(staples[1]!.text[5]!, /^ERR_OCSP_REVOKED: /);
      // 7 clients from before(), and 127.0.0.1 from the metrics test.
      assert.equal(await page.$$eval('#clients tbody tr', (rows) => rows.length), 8);
      const shot = join(tmpdir(), 'balancer-status.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(readFileSync(shot).length > 10_000);
      // Live: a new connection shows up at the next refresh without reloading the page.
      await get(balancer.port, { ca: rootCa, localAddress: '127.0.0.20' });
      await page.waitForFunction("document.querySelectorAll('#clients tbody tr').length === 9", undefined, { timeout: 10_000 });
    } finally {
      await browser?.close();
    }
  });
});

/** A registry forwards every event of its contexts, with the context. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { createStaplingRegistry, type StaplingContext, type StaplingContextEvents } from '../src/index.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let dir: string;
before(() => {
  pki = makePki();
  dir = mkdtempSync(join(tmpdir(), 'registry-events-'));
});
after(() => {
  pki.remove();
  rmSync(dir, { recursive: true, force: true });
});

it('forwards reload, refused, expiring, expired, certificate and close, each with its context', async () => {
  const certFile = join(dir, 'site.pem');
  copyFileSync(pki.leaf.chain, certFile);
  const ocspFile = pki.file(pki.respond({ validMinutes: 60 }));
  let t = Date.now();
  const registry = await createStaplingRegistry({ entries: [{ certFile, ocspFile }], now: () => t, expiringMarginMs: 2 * 3_600_000 });
  const [context] = registry.contexts();
  const seen: { event: keyof StaplingContextEvents; context: StaplingContext }[] = [];
  const events: (keyof StaplingContextEvents)[] = ['reload', 'refused', 'expiring', 'expired', 'certificate', 'close'];
  for (const event of events) registry.on(event, (...args: unknown[]) => seen.push({ event, context: args[args.length - 1] as StaplingContext }));
  const expired = new Promise<void>((resolve) => registry.once('expired', () => resolve()));

  // Reloaded one second before the staple ends: 'reload', then 'expiring' (inside the margin);
  // then the clock passes the end, and the context's timer reports 'expired'.
  const validUntil = context!.status().validUntil!.getTime();
  t = validUntil - 1000;
  await registry.reloadAll();
  t = validUntil;
  const alive = setInterval(() => undefined, 1000); // the context's timers are unref'd: keep the test's process up
  await expired;
  clearInterval(alive);
  await context!.reload({ ocspFile: pki.file('not DER') }).catch(() => undefined);
  copyFileSync(pki.leaf2.chain, certFile);
  await registry.reloadAll({ certificate: true });
  await registry.close();

  const names = seen.map((s) => s.event);
  for (const event of events) assert.ok(names.includes(event), `'${event}' was forwarded (seen: ${names.join(', ')})`);
  assert.ok(seen.every((s) => s.context === context), 'each with the context it came from');
});

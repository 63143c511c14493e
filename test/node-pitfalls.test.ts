/**
 * Node's own stapling pitfalls, pinned down so that the README's advice stays true. If Node
 * fixes one of them, its test fails here and the documentation must change with it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type ConnectionOptions, type Server, type TlsOptions } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createStaplingContext, type StaplingContext } from '../src/index.js';
import { handshake } from './fixtures/client.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let rsaStaple: Buffer;
let ecStaple: Buffer;
let rsa: StaplingContext;
let ec: StaplingContext;

before(async () => {
  pki = makePki();
  rsaStaple = pki.respond();
  ecStaple = pki.respond({ issuer: pki.ecCa, certs: [pki.ecLeaf] });
  rsa = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(rsaStaple) });
  ec = await createStaplingContext({ certFile: pki.ecLeaf.chain, ocspFile: pki.file(ecStaple) });
});
after(async () => {
  await rsa.close();
  await ec.close();
  pki.remove();
});

async function serve(options: TlsOptions, contexts: StaplingContext[], fn: (port: number) => Promise<void>): Promise<void> {
  const server: Server = createServer(options, (s) => s.end());
  for (const c of contexts) c.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn((server.address() as AddressInfo).port);
  } finally {
    for (const c of contexts) c.detach(server);
    await new Promise((resolve) => server.close(resolve));
  }
}

/** A handshake with extra client options; returns the staple and the served key type. */
function clientHello(port: number, extra: ConnectionOptions, session?: Buffer): Promise<{ staple: Buffer | null; keyType: string; session: Buffer | undefined; resumed: boolean }> {
  return new Promise((resolve, reject) => {
    let staple: Buffer | null = null;
    let newSession: Buffer | undefined;
    const options = { host: '127.0.0.1', port, rejectUnauthorized: false, requestOCSP: true, session, ...extra } as ConnectionOptions;
    const socket = connect(options);
    socket.on('OCSPResponse', (r: Buffer) => (staple = r));
    socket.on('session', (s: Buffer) => (newSession = s));
    socket.on('secureConnect', () => {
      const keyType = socket.getPeerX509Certificate()?.publicKey.asymmetricKeyType ?? 'none';
      const resumed = socket.isSessionReused();
      // Wait a moment for the session (ticket) event, then hang up.
      setTimeout(() => {
        socket.destroy();
        resolve({ staple, keyType, session: newSession, resumed });
      }, 30);
    });
    socket.on('error', reject);
  });
}

describe("Node's stapling pitfalls", () => {
  it('RSA and ECDSA in ONE SecureContext: the listener gets the last certificate configured, whatever is served', async () => {
    const mixed = { cert: [readFileSync(pki.leaf.chain), readFileSync(pki.ecLeaf.chain)], key: [readFileSync(pki.leaf.key), readFileSync(pki.ecLeaf.key)] };
    await serve(mixed, [rsa, ec], async (port) => {
      const got = await clientHello(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' });
      assert.equal(got.keyType, 'rsa', 'the RSA certificate was served');
      assert.ok(got.staple?.equals(ecStaple), "yet the ECDSA certificate's staple was sent: a strict client rejects it");
    });
  });

  it('mitigation: one certificate per SecureContext staples correctly for both key types', async () => {
    await serve({ cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) }, [rsa, ec], async (port) => {
      assert.ok((await handshake({ port })).staple?.equals(rsaStaple));
    });
    await serve({ cert: readFileSync(pki.ecLeaf.chain), key: readFileSync(pki.ecLeaf.key) }, [rsa, ec], async (port) => {
      assert.ok((await handshake({ port })).staple?.equals(ecStaple));
    });
  });

  it('TLS 1.3 HelloRetryRequest loses the staple (nodejs/node#28288); keeping the default groups avoids it', async () => {
    const base = { cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) };
    await serve({ ...base, ecdhCurve: 'P-384' }, [rsa], async (port) => {
      const got = await clientHello(port, { minVersion: 'TLSv1.3' });
      assert.equal(got.staple, null, 'the client offered an X25519 key share, the server asked again for P-384: no staple');
    });
    await serve({ ...base, ecdhCurve: 'X25519:P-256:P-384' }, [rsa], async (port) => {
      const got = await clientHello(port, { minVersion: 'TLSv1.3' });
      assert.ok(got.staple?.equals(rsaStaple));
    });
  });

  it('a resumed TLS 1.2 session gets no staple (no OCSPRequest event), as RFC 6066 allows', async () => {
    await serve({ cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) }, [rsa], async (port) => {
      const first = await clientHello(port, { maxVersion: 'TLSv1.2' });
      assert.ok(first.staple?.equals(rsaStaple));
      assert.ok(first.session, 'a session to resume');
      const second = await clientHello(port, { maxVersion: 'TLSv1.2' }, first.session);
      assert.equal(second.resumed, true);
      assert.equal(second.staple, null);
    });
  });
});

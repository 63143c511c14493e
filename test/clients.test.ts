/**
 * Real clients against real servers on 127.0.0.1: Node, curl --cert-status, gnutls-cli --ocsp,
 * openssl s_client -status; servers made with tls, https and http2.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSecureContext, createServer as createTlsServer, type SecureVersion, type Server } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createStaplingContext, type StaplingContext } from '../src/index.js';
import { handshake } from './fixtures/client.js';
import { makePki, type Issued, type Pki } from './fixtures/pki.js';

let pki: Pki;
let good: Buffer;

before(() => {
  pki = makePki();
  good = pki.respond();
});
after(() => pki.remove());

type Kind = 'tls' | 'https' | 'http2';

function tlsOptions(leaf: Issued) {
  return { cert: readFileSync(leaf.chain), key: readFileSync(leaf.key) };
}

function makeServer(kind: Kind, leaf: Issued): Server {
  const options = tlsOptions(leaf);
  if (kind === 'https') return createHttpsServer(options, (_req, res) => res.end('hello over https\n'));
  if (kind === 'http2') {
    return createSecureServer({ ...options, allowHTTP1: true }, (_req, res) => res.end('hello over http2\n')) as unknown as Server;
  }
  return createTlsServer(options, (socket) => socket.end('hello over tls\n'));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Node client: returns the stapled bytes (null when none). */
async function nodeStaple(port: number, version: SecureVersion): Promise<Buffer | null> {
  const result = await handshake({ port, ca: readFileSync(pki.root.cert), version });
  assert.equal(result.protocol, version);
  return result.staple;
}

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

const curl = (port: number, version: '1.2' | '1.3') =>
  run('curl', ['--silent', '--show-error', '--cert-status', '--cacert', pki.root.cert, `--tlsv${version}`, '--tls-max', version, `https://localhost:${port}/`]);

const gnutls = (port: number, version: '1.2' | '1.3') =>
  run('sh', ['-c', `gnutls-cli --ocsp --x509cafile '${pki.root.cert}' --priority 'NORMAL:-VERS-ALL:+VERS-TLS${version}' -p ${port} localhost < /dev/null`]);

const sClient = (port: number, version: '1.2' | '1.3') =>
  run('sh', ['-c', `openssl s_client -connect 127.0.0.1:${port} -servername localhost -status -tls${version.replace('.', '_')} < /dev/null`]);

/** In a describe(): a `kind` server stapling `good` for the leaf, started before its tests. */
function stapledServer(kind: Kind): { readonly port: number } {
  let server: Server;
  let ctx: StaplingContext;
  const state = { port: 0 };
  before(async () => {
    server = makeServer(kind, pki.leaf);
    ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good) });
    ctx.attach(server);
    state.port = await listen(server);
  });
  after(async () => {
    await ctx.close();
    await close(server);
  });
  return state;
}

for (const kind of ['tls', 'https', 'http2'] as const) {
  describe(`a ${kind} server with a context`, () => {
    const served = stapledServer(kind);

    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      it(`staples exactly the file's bytes to a Node client over ${version}`, async () => {
        const staple = await nodeStaple(served.port, version);
        assert.ok(staple, 'a staple arrived');
        assert.ok(staple.equals(good), 'the staple is byte for byte the file');
      });
    }
    if (kind !== 'tls') {
      for (const version of ['1.2', '1.3'] as const) {
        it(`passes curl --cert-status over TLS ${version}`, async () => {
          const { code, out } = await curl(served.port, version);
          assert.equal(code, 0, out);
          assert.match(out, /hello over/);
        });
      }
    }
  });
}

describe('other real clients', () => {
  const served = stapledServer('tls');

  for (const version of ['1.2', '1.3'] as const) {
    it(`gnutls-cli --ocsp receives and verifies the staple over TLS ${version}`, async () => {
      const { out } = await gnutls(served.port, version);
      // Read from the handshake gnutls-cli reports, not its exit code: the server writes and hangs
      // up at once, and under load gnutls-cli then sometimes exits 1 after the handshake ("The TLS
      // connection was non-properly terminated"), a race about closing, not about the staple.
      assert.match(out, /- Status: The certificate is trusted/);
      assert.match(out, /- Handshake was completed/);
      assert.match(out, /OCSP status request,/);
      assert.doesNotMatch(out, /OCSP status request\[ignored\]/);
    });
    it(`openssl s_client -status sees a good response over TLS ${version}`, async () => {
      const { out } = await sClient(served.port, version);
      assert.match(out, /OCSP Response Status: successful/);
      assert.match(out, /Cert Status: good/);
    });
  }
});

describe('CertID hash algorithms and real clients', () => {
  it('staples a SHA-256 CertID, which gnutls-cli verifies but curl 7.88 (OpenSSL) cannot find: status() names the hash', async () => {
    const server = makeServer('https', pki.leaf);
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(pki.respond({ hash: 'sha256' })) });
    ctx.attach(server);
    const port = await listen(server);
    try {
      assert.equal(ctx.status().certIdHash, 'sha256');
      const g = await gnutls(port, '1.3');
      assert.equal(g.code, 0, g.out);
      assert.match(g.out, /OCSP status request,/);
      const c = await curl(port, '1.3');
      assert.equal(c.code, 91, 'curl looks for a SHA-1 CertID only');
      assert.match(c.out, /Could not find certificate ID/);
    } finally {
      await ctx.close();
      await close(server);
    }
  });
});

describe('why several SingleResponses must start with ours', () => {
  it('gnutls-cli fails the handshake when the first SingleResponse names another certificate (so verify refuses it)', async () => {
    const oursSecond = pki.respond({ certs: [pki.leaf2, pki.leaf] });
    const oursFirst = pki.respond({ certs: [pki.leaf, pki.leaf2] });
    // A bare listener, not the library (which refuses oursSecond): what would a client do with it?
    for (const [bytes, expected] of [[oursFirst, 0], [oursSecond, 1]] as const) {
      const server = makeServer('tls', pki.leaf);
      server.on('OCSPRequest', (_c: Buffer, _i: Buffer, cb: (e: null, r: Buffer) => void) => cb(null, bytes));
      const port = await listen(server);
      try {
        const { code, out } = await gnutls(port, '1.3');
        assert.equal(code, expected, out);
      } finally {
        await close(server);
      }
    }
  });
});

describe('what clients see when the file is bad', () => {
  it('a server whose file was refused at start staples nothing, and curl refuses it (exit 91)', async () => {
    const server = makeServer('https', pki.leaf);
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(pki.respond({ status: 'revoked' })) });
    ctx.attach(server);
    const port = await listen(server);
    try {
      assert.equal(ctx.status().lastRefusal?.code, 'ERR_OCSP_REVOKED');
      assert.equal(await nodeStaple(port, 'TLSv1.3'), null);
      const { code } = await curl(port, '1.3');
      assert.equal(code, 91, 'curl --cert-status fails without a staple');
    } finally {
      await ctx.close();
      await close(server);
    }
  });

  it('a running server keeps serving its good staple after a bad file is reloaded', async () => {
    const server = makeServer('https', pki.leaf);
    const file = pki.file(good);
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file });
    ctx.attach(server);
    const port = await listen(server);
    try {
      for (const bad of [pki.respond({ status: 'revoked' }), pki.respond({ signer: pki.otherCa }), Buffer.from('garbage')]) {
        writeFileSync(file, bad);
        await assert.rejects(ctx.reload());
        const { code, out } = await curl(port, '1.2');
        assert.equal(code, 0, out);
        assert.ok((await nodeStaple(port, 'TLSv1.3'))!.equals(good));
      }
    } finally {
      await ctx.close();
      await close(server);
    }
  });
});

describe('several certificates on one server', () => {
  it('hands each SNI name the staple of its own certificate (match by certificate DER)', async () => {
    const leaf2Response = pki.respond({ certs: [pki.leaf2] });
    const ecResponse = pki.respond({ issuer: pki.ecCa, certs: [pki.ecLeaf] });
    const contexts = new Map([
      ['second.localhost', createSecureContext(tlsOptions(pki.leaf2))],
      ['ec.localhost', createSecureContext(tlsOptions(pki.ecLeaf))],
    ]);
    const server = createTlsServer({ ...tlsOptions(pki.leaf), SNICallback: (name, cb) => cb(null, contexts.get(name)) }, (s) => s.end());
    const ctxs = await Promise.all([
      createStaplingContext({ certFile: pki.leaf.chain, ocspFile: pki.file(good) }),
      createStaplingContext({ certFile: pki.leaf2.chain, ocspFile: pki.file(leaf2Response) }),
      createStaplingContext({ certFile: pki.ecLeaf.chain, ocspFile: pki.file(ecResponse) }),
    ]);
    for (const c of ctxs) c.attach(server);
    assert.equal(server.listenerCount('OCSPRequest'), 1);
    const port = await listen(server);
    try {
      // second.localhost and ec.localhost are not in the certificates' SANs: no verification.
      const staple = async (servername: string) => (await handshake({ port, servername })).staple;
      assert.ok((await staple('localhost'))!.equals(good));
      assert.ok((await staple('second.localhost'))!.equals(leaf2Response));
      assert.ok((await staple('ec.localhost'))!.equals(ecResponse));
    } finally {
      await Promise.all(ctxs.map((c) => c.close()));
      await close(server);
    }
  });

  it('staples a Must-Staple certificate so that curl accepts it', async () => {
    const server = makeServer('https', pki.mustStaple);
    const ctx = await createStaplingContext({ certFile: pki.mustStaple.chain, ocspFile: pki.file(pki.respond({ certs: [pki.mustStaple] })) });
    ctx.attach(server);
    const port = await listen(server);
    try {
      assert.equal(ctx.status().mustStaple, true);
      const { code, out } = await curl(port, '1.3');
      assert.equal(code, 0, out);
    } finally {
      await ctx.close();
      await close(server);
    }
  });
});

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { createStaplingContext } from '../src/context.js';
import { cli, json } from './fixtures/cli.js';
import { opensslAccepts, type Pki } from './fixtures/pki.js';
import { startOpensslResponders, type LoopbackResponder, type OpensslResponders } from './fixtures/responder.js';

let pki: Pki;
let responder: LoopbackResponder;
let delegated: LoopbackResponder;
let n = 0;

let responders: OpensslResponders | undefined;

before(async () => {
  responders = await startOpensslResponders();
  ({ pki, responder, delegated } = responders);
});
after(() => responders?.close());

const out = () => join(pki.dir, `staple-${++n}.der`);

/** A file holding an older good response, to see whether a run touched it. */
function existing(): { file: string; bytes: Buffer; mtimeMs: number } {
  const file = out();
  const bytes = pki.respond({ at: '-1h' });
  writeFileSync(file, bytes);
  return { file, bytes, mtimeMs: statSync(file).mtimeMs };
}

function untouched(before: { file: string; bytes: Buffer; mtimeMs: number }): void {
  assert.deepEqual(readFileSync(before.file), before.bytes);
  assert.equal(statSync(before.file).mtimeMs, before.mtimeMs);
}

async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A responder on 127.0.0.1 that answers every request with `answer()`'s bytes. */
async function fixedResponder(answer: () => Buffer): Promise<{ url: string; close: () => void }> {
  const server = http.createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(answer()));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('ocsp-stapler fetch, against a real openssl ocsp responder', () => {
  it('writes a good response and exits 0', async () => {
    const file = out();
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^written .*: good for CN=localhost/);
    assert.ok(opensslAccepts(pki, readFileSync(file)), 'openssl accepts what was written');
  });

  it('runs --then only when the file changed', async () => {
    const file = out();
    const marker = join(pki.dir, `then-${n}.txt`);
    const then = `echo "$OCSP_STAPLER_FILE" >> ${marker}`;
    const first = await cli(['fetch', '--cert', pki.leaf.chain, '--out', file, '--then', then, '--json']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(json(first).result, 'written');
    assert.equal(readFileSync(marker, 'utf8'), `${file}\n`);
    // openssl makes a new response (new producedAt) each second; write those bytes back to
    // compare against a file that already holds exactly what the responder will send.
    const again = await cli(['fetch', '--cert', pki.leaf.chain, '--out', file, '--then', then, '--json']);
    assert.equal(again.code, 0, again.stderr);
    const result = json(again);
    if (result.changed === false) {
      assert.equal(result.result, 'unchanged');
      assert.equal(readFileSync(marker, 'utf8'), `${file}\n`, '--then did not run for an unchanged file');
    } else {
      assert.equal(readFileSync(marker, 'utf8'), `${file}\n${file}\n`, '--then ran once per change');
    }
  });

  it('reports an unchanged file and skips --then when FILE already holds the same bytes', async () => {
    // A responder answering with fixed bytes, to make "unchanged" certain.
    const bytes = pki.respond();
    const fixed = await fixedResponder(() => bytes);
    const { url } = fixed;
    try {
      const file = out();
      writeFileSync(file, bytes);
      const marker = join(pki.dir, `then-${n}.txt`);
      const r = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', file, '--then', `touch ${marker}`, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(json(r).result, 'unchanged');
      assert.equal(existsSync(marker), false, '--then must not run');
    } finally {
      fixed.close();
    }
  });

  it('refuses a revoked certificate loudly, exits 4 and leaves FILE untouched', async () => {
    const before = existing();
    const r = await cli(['fetch', '--cert', pki.revoked.chain, '--out', before.file]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /^REVOKED: /);
    assert.match(r.stderr, /ERR_OCSP_REVOKED/);
    assert.match(r.stderr, /left untouched/);
    untouched(before);
  });

  it('refuses an unknown serial with exit 4 and does not create FILE', async () => {
    const file = out();
    const r = await cli(['fetch', '--cert', pki.unlisted.chain, '--out', file, '--json']);
    assert.equal(r.code, 4);
    assert.equal(json(r).code, 'ERR_OCSP_UNKNOWN');
    assert.equal(existsSync(file), false);
  });

  it('asks with a SHA-256 CertID', async () => {
    const file = out();
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', file, '--hash', 'sha256']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(opensslAccepts(pki, readFileSync(file), pki.leaf, pki.ca, 'sha256'));
  });

  it('uses GET with --get', async () => {
    const file = out();
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', file, '--get', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(String(json(r).url), /\/M[A-Za-z0-9%]+$/);
  });

  it('accepts a delegated responder given by --url', async () => {
    const file = out();
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', file, '--url', delegated.url, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(json(r).signedBy, 'delegated');
  });

  it('takes the issuer from --issuer when the certificate file has no chain', async () => {
    const file = out();
    const r = await cli(['fetch', '--cert', pki.leaf.cert, '--issuer', pki.ca.cert, '--out', file]);
    assert.equal(r.code, 0, r.stderr);
  });
});

describe('ocsp-stapler fetch --then, after it failed', () => {
  it('retries a failed --then on the next run even when the responder sends the same bytes again', async () => {
    const bytes = pki.respond();
    const fixed = await fixedResponder(() => bytes);
    const { url } = fixed;
    try {
      const file = out();
      const pending = join(pki.dir, `.staple-${n}.der.then-pending`);
      const marker = join(pki.dir, `then-${n}.txt`);
      const failed = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', file, '--then', 'exit 1', '--json']);
      assert.equal(failed.code, 6, failed.stderr);
      assert.equal(json(failed).thenPending, true);
      assert.ok(existsSync(pending), 'a failed --then is remembered beside FILE');

      const retried = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', file, '--then', `echo run >> ${marker}`, '--json']);
      assert.equal(retried.code, 0, retried.stderr);
      assert.equal(json(retried).result, 'unchanged');
      assert.equal(json(retried).thenRetried, true);
      assert.equal(readFileSync(marker, 'utf8'), 'run\n', 'the failed --then was retried');
      assert.equal(existsSync(pending), false, 'a --then that succeeded is no longer pending');

      const quiet = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', file, '--then', `echo run >> ${marker}`, '--json']);
      assert.equal(quiet.code, 0, quiet.stderr);
      assert.equal(readFileSync(marker, 'utf8'), 'run\n', '--then does not run again once it succeeded');
    } finally {
      fixed.close();
    }
  });

  it('a retried --then that fails again exits 6 and stays pending', async () => {
    const bytes = pki.respond();
    const fixed = await fixedResponder(() => bytes);
    const { url } = fixed;
    try {
      const file = out();
      const pending = join(pki.dir, `.staple-${n}.der.then-pending`);
      assert.equal((await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', file, '--then', 'exit 1'])).code, 6);
      const again = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', file, '--then', 'exit 3', '--json']);
      assert.equal(again.code, 6, again.stderr);
      assert.equal(json(again).result, 'unchanged');
      assert.equal(json(again).thenExitCode, 3);
      assert.ok(existsSync(pending));
    } finally {
      fixed.close();
    }
  });
});

describe('ocsp-stapler fetch --then, after it failed, when FILE is kept', () => {
  it('retries a pending --then when FILE holds a newer response than the one fetched (kept), with the same reports', async () => {
    const newer = pki.respond();
    const older = pki.respond({ at: '-2h' }); // a replayed or CDN-cached response
    let served = newer;
    const fixed = await fixedResponder(() => served);
    const { url } = fixed;
    try {
      const file = out();
      const pending = join(pki.dir, `.staple-${n}.der.then-pending`);
      const marker = join(pki.dir, `then-${n}.txt`);
      const fetch = (then: string) => cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', file, '--then', then, '--json']);
      const failed = await fetch('exit 1');
      assert.equal(failed.code, 6, failed.stderr);
      assert.equal(json(failed).result, 'written');
      assert.ok(existsSync(pending), 'a failed --then is remembered beside FILE');

      served = older;
      const failedAgain = await fetch('exit 3');
      assert.equal(failedAgain.code, 6, failedAgain.stderr);
      assert.deepEqual([json(failedAgain).result, json(failedAgain).thenExitCode, json(failedAgain).thenPending], ['kept', 3, true]);
      assert.ok(existsSync(pending), 'still pending after a second failure');
      assert.deepEqual(readFileSync(file), newer, 'FILE keeps the newer response');

      const retried = await fetch(`echo run >> ${marker}`);
      assert.equal(retried.code, 0, retried.stderr);
      assert.equal(json(retried).result, 'kept');
      assert.equal(json(retried).thenRetried, true, JSON.stringify(json(retried)));
      assert.equal(readFileSync(marker, 'utf8'), 'run\n', 'the failed --then was retried although FILE was kept');
      assert.equal(existsSync(pending), false, 'a --then that succeeded is no longer pending');

      const human = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', file, '--then', `echo run >> ${marker}`]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /^kept .*--then not run$/m);
      assert.equal(readFileSync(marker, 'utf8'), 'run\n', '--then does not run again once it succeeded');
    } finally {
      fixed.close();
    }
  });
});

describe('ocsp-stapler fetch, when the responder fails', () => {
  it('exits 3 when the responder is unreachable, FILE untouched', async () => {
    const before = existing();
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', before.file, '--url', `http://127.0.0.1:${await closedPort()}/`]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^UNREACHABLE: .*ERR_FETCH_NETWORK/);
    untouched(before);
  });

  it('exits 3 on --timeout', async () => {
    const server = http.createServer(() => undefined).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', out(), '--timeout', '0.3', '--url', `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`, '--json']);
      assert.equal(r.code, 3);
      assert.equal(json(r).code, 'ERR_FETCH_TIMEOUT');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('exits 3 on an HTTP error', async () => {
    const server = http.createServer((_req, res) => res.writeHead(503).end('busy')).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', out(), '--url', `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`, '--json']);
      assert.equal(r.code, 3);
      assert.equal(json(r).code, 'ERR_FETCH_HTTP_STATUS');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  for (const [name, status] of [['tryLater', 3], ['internalError', 2], ['unauthorized', 6]] as const) {
    it(`exits 3 (transient, like an HTTP 503) when the responder answers responseStatus ${name}, FILE untouched`, async () => {
      // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } with no responseBytes (RFC 6960 4.2.1).
      const answer = Buffer.from([0x30, 0x03, 0x0a, 0x01, status]);
      const server = http.createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(answer)).listen(0, '127.0.0.1');
      await once(server, 'listening');
      try {
        const before = existing();
        const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', before.file, '--url', `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`, '--json']);
        assert.equal(r.code, 3, r.stdout + r.stderr);
        assert.equal(json(r).code, 'ERR_OCSP_RESPONSE_STATUS');
        assert.match(String(json(r).message), new RegExp(name));
        untouched(before);
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });
  }

  it('exits 6 when --then fails, after writing FILE', async () => {
    const file = out();
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', file, '--then', 'exit 7']);
    assert.equal(r.code, 6);
    assert.match(r.stderr, /exit code 7/);
    assert.ok(existsSync(file));
  });
});

describe('ocsp-stapler arguments', () => {
  const cases: Array<[string, string[]]> = [
    ['no command', []],
    ['an unknown command', ['staple']],
    ['fetch without --out', ['fetch', '--cert', 'x.pem']],
    ['fetch without --cert', ['fetch', '--out', 'x.der']],
    ['an unknown option', ['fetch', '--cert', 'x.pem', '--out', 'x.der', '--insecure']],
    ['a bad --hash', ['fetch', '--cert', 'x.pem', '--out', 'x.der', '--hash', 'md5']],
    ['a bad --timeout', ['fetch', '--cert', 'x.pem', '--out', 'x.der', '--timeout', 'soon']],
    ['check without FILE', ['check', '--cert', 'x.pem']],
    ['inspect with two files', ['inspect', 'a', 'b']],
  ];
  for (const [name, args] of cases) {
    it(`exits 2 on ${name}`, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /ocsp-stapler: /);
    });
  }

  it('exits 2 when the certificate file is missing', async () => {
    const r = await cli(['fetch', '--cert', join(pki.dir, 'nope.pem'), '--out', out(), '--json']);
    assert.equal(r.code, 2);
    assert.equal(json(r).code, 'ERR_CERT_READ');
  });

  it('exits 2 before any request when --out is in a missing directory or goes through a file (ERR_INVALID_OPTION, with the file)', async () => {
    let requests = 0;
    const server = http.createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(pki.respond());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
    try {
      for (const [file, found] of [
        [join(pki.dir, `nodir-${++n}`, 'x.ocsp'), /does not exist/],
        [join(pki.leaf.chain, 'x.ocsp'), /not a directory/],
      ] as const) {
        const r = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', file, '--json']);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.equal(json(r).code, 'ERR_INVALID_OPTION');
        assert.equal(json(r).file, file);
        assert.match(String(json(r).message), found);
        const human = await cli(['fetch', '--cert', pki.leaf.chain, '--url', url, '--out', file]);
        assert.equal(human.code, 2);
        assert.match(human.stderr, /^ocsp-stapler: --out must be in an existing directory.*\[ERR_INVALID_OPTION\]$/m);
      }
      assert.equal(requests, 0, 'the responder was not asked');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('documents every exit code in --help', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0);
    for (const code of [0, 1, 2, 3, 4, 5, 6]) assert.match(r.stdout, new RegExp(`^  ${code}  `, 'm'));
  });
});

describe('fetch, check, then a server reload', () => {
  it('a TLS client sees the new staple after fetch --then signals the server', async () => {
    // The server starts with an older good response.
    const file = out();
    writeFileSync(file, pki.respond({ at: '-2h' }));
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file });
    const server = tls.createServer({ cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) }, (s) => s.end());
    ctx.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const staple = async (): Promise<Buffer | null> => {
      // requestOCSP is missing from @types/node's ConnectionOptions, though tls.connect honours it.
      const options = { port, host: '127.0.0.1', servername: 'localhost', ca: readFileSync(pki.root.cert), requestOCSP: true } as tls.ConnectionOptions;
      const socket = tls.connect(options);
      const [response] = (await once(socket, 'OCSPResponse')) as [Buffer | null];
      socket.destroy();
      return response;
    };
    const onHup = () => void ctx.reload().catch(() => undefined);
    process.on('SIGHUP', onHup);
    try {
      const old = await staple();
      assert.deepEqual(old, readFileSync(file));

      const reloaded = once(ctx, 'reload');
      const fetched = await cli(['fetch', '--cert', pki.leaf.chain, '--out', file, '--then', `kill -HUP ${process.pid}`]);
      assert.equal(fetched.code, 0, fetched.stderr);
      const checked = await cli(['check', '--cert', pki.leaf.chain, file]);
      assert.equal(checked.code, 0, checked.stderr);
      assert.match(checked.stdout, /^OK /);
      await reloaded;

      const fresh = readFileSync(file);
      assert.notDeepEqual(fresh, old);
      assert.deepEqual(await staple(), fresh);
    } finally {
      process.off('SIGHUP', onHup);
      await ctx.close();
      server.close();
    }
  });
});

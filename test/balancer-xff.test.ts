/**
 * -H fails closed: a request-smuggling corpus through the real TLS balancer, against a strict
 * backend (Node's http) and a lenient one (Python's http.server). Every request a backend parses
 * must carry exactly one X-Forwarded-For whose last element is the real client address, and each
 * backend must see the requests the balancer framed, no more, no fewer, with the same bodies.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { ForwardedFor, MAX_HEAD } from '../examples/balancer/xff.js';
import { ROOT, startBalancer, type BalancerProcess } from './fixtures/balancer.js';

/** What a backend parsed. */
interface Seen {
  method: string;
  path: string;
  xff: string[];
  body: string;
}

interface Case {
  name: string;
  /** The bytes the client sends; `{P}` becomes the case's path prefix. Several parts are sent apart. */
  send: string | string[];
  /** Paths (after the prefix) the backend must parse, in order. */
  seen: string[];
  /** The status of every answer the client gets, in order. */
  statuses: number[];
  /** Bodies the backend must see, by path. */
  bodies?: Record<string, string>;
  /** Client-sent X-Forwarded-For values kept in front of the client address, by path. */
  kept?: Record<string, string>;
}

const CLIENT = '127.0.0.7';
const h = (path: string, fields = '', version = '1.1') => `GET {P}${path} HTTP/${version}\r\nHost: a\r\n${fields}\r\n`;
const big = 'x'.repeat(MAX_HEAD + 100);
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\nHost: a\r\n\r\n';

const CORPUS: Case[] = [
  { name: 'forged X-Forwarded-For', send: h('/a', 'X-Forwarded-For: 6.6.6.6\r\n'), seen: ['/a'], statuses: [200], kept: { '/a': '6.6.6.6' } },
  { name: 'two X-Forwarded-For headers', send: h('/a', 'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\n'), seen: ['/a'], statuses: [200], kept: { '/a': '6.6.6.6, 7.7.7.7' } },
  { name: 'X-Forwarded-For in odd case', send: h('/a', 'x-FORWARDED-for: 6.6.6.6\r\n'), seen: ['/a'], statuses: [200], kept: { '/a': '6.6.6.6' } },
  { name: 'empty X-Forwarded-For', send: h('/a', 'X-Forwarded-For:\r\n'), seen: ['/a'], statuses: [200], kept: { '/a': '' } },
  { name: 'leading empty lines', send: `\r\n\r\n${h('/a', 'X-Forwarded-For: 6.6.6.6\r\n')}`, seen: ['/a'], statuses: [200], kept: { '/a': '6.6.6.6' } },
  { name: 'leading bare LF', send: `\n${h('/a', 'X-Forwarded-For: 6.6.6.6\r\n')}`, seen: [], statuses: [400] },
  { name: 'pipelined requests, the second forged', send: h('/1') + h('/2', 'X-Forwarded-For: 6.6.6.6\r\n'), seen: ['/1', '/2'], statuses: [200, 200], kept: { '/2': '6.6.6.6' } },
  {
    name: 'Content-Length body holding a request, then a forged one',
    send: `POST {P}/post HTTP/1.1\r\nHost: a\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` + h('/after', 'X-Forwarded-For: 6.6.6.6\r\n'),
    seen: ['/post', '/after'],
    statuses: [200, 200],
    bodies: { '/post': SMUGGLED },
    kept: { '/after': '6.6.6.6' },
  },
  { name: 'CL.TE', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`, seen: [], statuses: [400] },
  { name: 'TE.CL', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'TE.TE: two Transfer-Encoding', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'TE.TE: xchunked', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'TE.TE: space before the colon', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'TE.TE: chunked, identity', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'TE.TE: obs-fold', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'TE.TE: vertical tab', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'Transfer-Encoding with a tab (allowed whitespace)', send: `POST {P}/t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tCHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, seen: ['/t'], statuses: [200], bodies: { '/t': 'hello' } },
  { name: 'Transfer-Encoding in HTTP/1.0', send: `POST {P}/p HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'two equal Content-Length', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, seen: [], statuses: [400] },
  { name: 'two different Content-Length', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 30\r\n\r\nhello`, seen: [], statuses: [400] },
  { name: 'Content-Length list', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello`, seen: [], statuses: [400] },
  { name: 'Content-Length with whitespace before the colon', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello`, seen: [], statuses: [400] },
  { name: 'Content-Length +5', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello`, seen: [], statuses: [400] },
  { name: 'Content-Length 0x5', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello`, seen: [], statuses: [400] },
  { name: 'Content-Length of 17 zeros', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000\r\n\r\n` + h('/x', 'X-Forwarded-For: 6.6.6.6\r\n'), seen: [], statuses: [400] },
  { name: 'Content-Length with a leading zero', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nContent-Length: 05\r\n\r\nhello`, seen: [], statuses: [400] },
  { name: 'absurd Content-Length', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\nhello`, seen: [], statuses: [400] },
  { name: 'Content-Length 0 then a forged request', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n` + h('/x', 'X-Forwarded-For: 6.6.6.6\r\n'), seen: ['/p', '/x'], statuses: [200, 200], kept: { '/x': '6.6.6.6' } },
  {
    name: 'chunk extensions',
    send: `POST {P}/c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;q="a;b\\"c"\r\nhello\r\n6 ; x\r\n world\r\n0;last\r\n\r\n` + h('/x', 'X-Forwarded-For: 6.6.6.6\r\n'),
    seen: ['/c', '/x'],
    kept: { '/x': '6.6.6.6' },
    statuses: [200, 200],
    bodies: { '/c': 'hello world' },
  },
  { name: 'malformed chunk extension', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a"b\r\nhello\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'junk after the chunk size', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'chunk size over 2^53', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'chunk data longer than its size', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'chunk-size line ending in a bare LF', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'X-Forwarded-For in a trailer', send: `POST {P}/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'a harmless trailer', send: `POST {P}/tr HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n` + h('/x'), seen: ['/tr', '/x'], statuses: [200, 200], bodies: { '/tr': 'hello' } },
  { name: 'bare LF line endings', send: `GET {P}/a HTTP/1.1\nHost: a\nX-Forwarded-For: 6.6.6.6\n\n`, seen: [], statuses: [400] },
  { name: 'a bare LF between fields', send: `GET {P}/a HTTP/1.1\r\nHost: a\nX-Forwarded-For: 6.6.6.6\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'a bare CR in a value', send: `GET {P}/a HTTP/1.1\r\nHost: a\r\nX-A: 1\rX-Forwarded-For: 6.6.6.6\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'NUL in a value', send: `GET {P}/a HTTP/1.1\r\nHost: a\r\nX-A: 1\x00\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'NUL in a name', send: `GET {P}/a HTTP/1.1\r\nHost: a\r\nX-Forwarded-For\x00: 6.6.6.6\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'space before the colon of X-Forwarded-For', send: h('/a', 'X-Forwarded-For : 6.6.6.6\r\n'), seen: [], statuses: [400] },
  { name: 'X_Forwarded_For', send: h('/a', 'X_Forwarded_For: 6.6.6.6\r\n'), seen: [], statuses: [400] },
  { name: 'obs-fold continuing X-Forwarded-For', send: h('/a', 'X-Forwarded-For: 1.1.1.1\r\n 6.6.6.6\r\n'), seen: [], statuses: [400] },
  { name: 'Connection: X-Forwarded-For', send: h('/a', 'Connection: keep-alive, X-Forwarded-For\r\n'), seen: [], statuses: [400] },
  { name: 'two Host fields', send: h('/a', 'Host: b\r\n'), seen: [], statuses: [400] },
  { name: 'huge head', send: h('/a', `X-Big: ${big}\r\n`), seen: [], statuses: [431] },
  { name: 'huge head that never ends', send: `GET {P}/a HTTP/1.1\r\nX-Big: ${big}`, seen: [], statuses: [431] },
  { name: 'HTTP/2 preface', send: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', seen: [], statuses: [400] },
  { name: 'HTTP/1.2', send: h('/a', '', '1.2'), seen: [], statuses: [400] },
  { name: 'two spaces in the request line', send: `GET  {P}/a HTTP/1.1\r\nHost: a\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'tab in the request line', send: `GET\t{P}/a HTTP/1.1\r\nHost: a\r\n\r\n`, seen: [], statuses: [400] },
  { name: 'HTTP/1.0 keep-alive, forged', send: h('/a', 'Connection: keep-alive\r\nX-Forwarded-For: 6.6.6.6\r\n', '1.0'), seen: ['/a'], statuses: [200], kept: { '/a': '6.6.6.6' } },
  { name: 'a good request, then a bad one', send: h('/good') + `GET {P}/bad HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n`, seen: ['/good'], statuses: [200, 400] },
  { name: 'Upgrade refused (no 101), then a forged request', send: h('/up', 'Upgrade: websocket\r\n') + h('/x', 'X-Forwarded-For: 6.6.6.6\r\n'), seen: ['/up', '/x'], statuses: [200, 200], kept: { '/x': '6.6.6.6' } },
  { name: 'a request cut into small pieces', send: chop(h('/slow', 'X-Forwarded-For: 6.6.6.6\r\n') + h('/x'), 7), seen: ['/slow', '/x'], statuses: [200, 200], kept: { '/slow': '6.6.6.6' } },
];

function chop(text: string, size: number): string[] {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += size) parts.push(text.slice(i, i + size));
  return parts;
}

/** Splits what the client received into answers: status and body (the tunnel, if any, is ignored). */
function answers(bytes: Buffer): { status: number; body: string }[] {
  const out: { status: number; body: string }[] = [];
  let rest = bytes;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = rest.subarray(0, end).toString('latin1');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    out.push({ status, body: rest.subarray(end + 4, end + 4 + length).toString('latin1') });
    rest = rest.subarray(end + 4 + length);
    if (status === 101) break;
  }
  return out;
}

/** One TLS connection from CLIENT: sends the parts (a pause between them), half-closes, reads until closed. */
function exchange(port: number, ca: Buffer, parts: readonly string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = tls.connect({ host: '127.0.0.1', port, localAddress: CLIENT, ca, servername: 'localhost' } as tls.ConnectionOptions, async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, 5));
        socket.write(Buffer.from(part, 'latin1'));
      }
      socket.end();
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    // A reset after the refusal is fine: what was read before it counts.
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
  });
}

/** Node's http, strict, echoing what it parsed. An upgrade to "echo" gets 101 and an echo tunnel. */
async function nodeBackend(): Promise<{ port: number; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const xff: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'x-forwarded-for') xff.push(req.rawHeaders[i + 1]!);
      const record = { method: req.method ?? '', path: req.url ?? '', xff, body };
      seen.push(record);
      const out = JSON.stringify(record);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  server.on('upgrade', (req, socket) => {
    const xff: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'x-forwarded-for') xff.push(req.rawHeaders[i + 1]!);
    seen.push({ method: req.method ?? '', path: req.url ?? '', xff, body: '' });
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** Python's http.server (lenient), echoing what it parsed. */
async function pythonBackend(): Promise<{ port: number; seen: Seen[]; close: () => Promise<void>; child: ChildProcess }> {
  const seen: Seen[] = [];
  const child = spawn('python3', [join(ROOT, 'test/fixtures/echo_backend.py')], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout!.setEncoding('utf8');
  let buffer = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`python backend exited with ${code}`)));
    child.stdout!.on('data', (c: string) => {
      buffer += c;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const m = /^port (\d+)$/.exec(line);
        if (m) resolve(Number(m[1]));
        else seen.push(JSON.parse(line) as Seen);
      }
    });
  });
  return { port, seen, child, close: async () => { child.kill('SIGTERM'); await once(child, 'exit').catch(() => undefined); } };
}

let dir: string;
let certFile: string;
let keyFile: string;
let ca: Buffer;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'xff-'));
  certFile = join(dir, 'site.pem');
  keyFile = join(dir, 'site.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '2', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  ca = execFileSync('cat', [certFile]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

for (const kind of ['node', 'python'] as const) {
  describe(`balancer -H against a ${kind} backend: request-smuggling corpus through TLS`, () => {
    let backend: Awaited<ReturnType<typeof nodeBackend>>;
    let balancer: BalancerProcess;
    before(async () => {
      backend = kind === 'node' ? await nodeBackend() : await pythonBackend();
      balancer = await startBalancer(['-H', '-E', certFile, '-K', keyFile, '127.0.0.1:0', `127.0.0.1:${backend.port}`]);
    });
    after(async () => {
      await balancer?.stop();
      await backend?.close();
    });

    it(`${CORPUS.length} requests: no forged X-Forwarded-For reaches the backend, and it frames them as the balancer did`, async () => {
      assert.ok(CORPUS.length >= 30);
      for (const [i, c] of CORPUS.entries()) {
        const prefix = `/c${i}`;
        const parts = (Array.isArray(c.send) ? c.send : [c.send]).map((p) => p.replaceAll('{P}', prefix));
        const got = answers(await exchange(balancer.port, ca, parts));
        assert.deepEqual(got.map((a) => a.status), c.statuses, `${c.name}: answers`);
        // The backend's own record, in the order it parsed them.
        const mine = backend.seen.filter((s) => s.path.startsWith(`${prefix}/`));
        assert.deepEqual(mine.map((s) => s.path.slice(prefix.length)), c.seen, `${c.name}: requests the backend parsed`);
        for (const s of mine) {
          const path = s.path.slice(prefix.length);
          assert.equal(s.xff.length, 1, `${c.name} ${path}: one X-Forwarded-For, found ${JSON.stringify(s.xff)}`);
          const elements = s.xff[0]!.split(',').map((e) => e.trim());
          assert.equal(elements.at(-1), CLIENT, `${c.name} ${path}: last hop ${JSON.stringify(s.xff[0])}`);
          const kept = c.kept?.[path];
          assert.equal(s.xff[0], kept ? `${kept}, ${CLIENT}` : CLIENT, `${c.name} ${path}: X-Forwarded-For`);
          if (c.bodies?.[path] !== undefined) assert.equal(s.body, c.bodies[path], `${c.name} ${path}: body`);
        }
        // What the client was answered is what the backend parsed.
        const echoed = got.filter((a) => a.status === 200).map((a) => (JSON.parse(a.body) as Seen).path.slice(prefix.length));
        assert.deepEqual(echoed, c.seen, `${c.name}: answers echo the requests parsed`);
      }
      // Every request the backend parsed in all, not only those with a case prefix, is accounted for.
      assert.equal(backend.seen.length, CORPUS.reduce((n, c) => n + c.seen.length, 0));
      assert.equal(backend.seen.filter((s) => s.xff.length !== 1 || s.xff[0]!.split(',').at(-1)!.trim() !== CLIENT).length, 0, 'forged X-Forwarded-For at the backend');
    });

    if (kind === 'node') {
      it('an upgrade becomes a tunnel only after the 101, with what the client sent early held until then', async () => {
        const before = backend.seen.length;
        const upgrade = `GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n`;
        const early = 'raw bytes, not HTTP\r\n\r\n';
        const bytes = await exchange(balancer.port, ca, [upgrade + early]);
        const text = bytes.toString('latin1');
        assert.match(text, /^HTTP\/1\.1 101 /);
        assert.ok(text.endsWith(early), `the tunnel echoes the early bytes unchanged: ${JSON.stringify(text)}`);
        assert.deepEqual(backend.seen.slice(before).map((s) => [s.path, s.xff]), [['/ws', [`6.6.6.6, ${CLIENT}`]]]);
      });
    }
  });
}

describe('ForwardedFor (the rewriter alone)', () => {
  const run = (input: string[], server: string[] = []) => {
    const rewriter = new ForwardedFor('192.0.2.1');
    const out: Buffer[] = [];
    const refused: (Buffer | null)[] = [];
    rewriter.on('data', (c: Buffer) => out.push(c));
    rewriter.on('refuse', (r: Buffer | null) => refused.push(r));
    for (const part of input) rewriter.write(Buffer.from(part, 'latin1'));
    for (const part of server) rewriter.fromServer(Buffer.from(part, 'latin1'));
    return { rewriter, text: () => Buffer.concat(out).toString('latin1'), refused };
  };

  it('holds what follows an Upgrade request until the answer, and rewrites it when the answer is not 101', async () => {
    const r = run(['GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\nGET /next HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n']);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.text(), 'GET / HTTP/1.1\r\nUpgrade: h2c\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n');
    r.rewriter.fromServer(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.text(), 'GET / HTTP/1.1\r\nUpgrade: h2c\r\nX-Forwarded-For: 192.0.2.1\r\n\r\nGET /next HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6, 192.0.2.1\r\n\r\n');
  });

  it('sends its 400 only after the answers to the requests before the bad one', async () => {
    const r = run(['GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n']);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.refused.length, 0, 'refused before the first request was answered');
    r.rewriter.fromServer(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.refused.length, 0, 'refused before the first answer ended');
    r.rewriter.fromServer(Buffer.from('0\r\n\r\n'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.refused.length, 1);
    assert.match(r.refused[0]!.toString(), /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*more than one Content-Length/);
    assert.equal(r.text(), 'GET /1 HTTP/1.1\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n');
  });

  it('closes without an answer when the server answers in a way it cannot follow', async () => {
    const r = run(['GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'], ['HTTP/1.1 200 OK\r\n\r\nuntil close']);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(r.refused, [null]);
  });
});

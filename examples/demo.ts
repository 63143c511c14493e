/**
 * `npm run demo`: the whole job on localhost, from nothing (no openssl, no configuration).
 *
 * 1. a throwaway CA and a certificate for localhost / 127.0.0.1 (`ocsp-stapler/testing`);
 * 2. a local OCSP responder for that CA, named in the certificate's AIA extension;
 * 3. a staple fetched from it with the library's `fetchOcspResponse` (checked before it is saved);
 * 4. two demo HTTP backends;
 * 5. the Pen-style balancer of examples/balancer in front of them, terminating TLS and stapling,
 *    with a control socket and a status page.
 *
 * It prints the URL, a `curl --cert-status` command that verifies the staple, and the control
 * commands to try. PORT picks the TLS port (default 8443; a free one if that is busy).
 * Ctrl-C (or SIGTERM) stops everything and removes the temporary directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchOcspResponse } from 'ocsp-stapler';
import { createTestCa, startOcspResponder } from 'ocsp-stapler/testing';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** An HTTP backend that says who it is and what the balancer told it. */
async function startBackend(n: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const lines = [
      `Hello from demo backend ${n}.`,
      '',
      `You reached it through the balancer, which terminated TLS and stapled a verified OCSP response.`,
      `X-Forwarded-For (added by the balancer's -H): ${req.headers['x-forwarded-for'] ?? '-'}`,
      `Request: ${req.method} ${req.url}`,
    ];
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(lines.join('\n') + '\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** `port` if it is free on 127.0.0.1, else 0 (any free port). */
async function freeOr(port: number): Promise<number> {
  const probe = net.createServer();
  try {
    probe.listen(port, '127.0.0.1');
    await once(probe, 'listening');
    return port;
  } catch {
    return 0;
  } finally {
    probe.close();
  }
}

const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;

const dir = await mkdtemp(join(tmpdir(), 'ocsp-stapler-demo-'));
const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'localhost.pem'), key: join(dir, 'localhost.key'), ocsp: join(dir, 'localhost.pem.ocsp'), socket: join(dir, 'balancer.sock'), revoked: join(dir, 'revoked.ocsp') };

const ca = await createTestCa();
const responder = await startOcspResponder({ ca });
const leaf = await ca.issueCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], ocspUrl: responder.url });
await writeFile(files.ca, ca.root.cert);
await writeFile(files.cert, leaf.chain);
await writeFile(files.key, leaf.key, { mode: 0o600 });

// What a cron job or `ocsp-stapler fetch` does in production: ask the responder named in the
// certificate, check the answer exactly as the server will, and only then save it.
const { bytes, verified, url } = await fetchOcspResponse({ certFile: files.cert });
await writeFile(files.ocsp, bytes);
// A response the balancer must refuse, to try ssl_ocsp_response with.
await writeFile(files.revoked, await ca.createOcspResponse(leaf, { status: 'revoked', revocationReason: 'keyCompromise' }));

const backends = await Promise.all([startBackend(1), startBackend(2)]);
const port = await freeOr(process.env.PORT ? Number(process.env.PORT) : 8443);
const args = [
  '-E', files.cert, '-K', files.key, '--ocsp', files.ocsp,
  '-C', files.socket, '--status', '127.0.0.1:0', '-H', '-X',
  `127.0.0.1:${port}`, ...backends.map((b) => `127.0.0.1:${portOf(b)}`),
];
const balancer: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'examples/balancer/cli.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });

let stopping = false;
async function stop(code: number): Promise<never> {
  stopping = true;
  if (balancer.exitCode === null && balancer.signalCode === null) {
    balancer.kill('SIGTERM');
    await once(balancer, 'exit');
  }
  for (const b of backends) b.closeAllConnections();
  await Promise.all([...backends.map((b) => new Promise((resolve) => b.close(resolve))), responder.close()]);
  await rm(dir, { recursive: true, force: true });
  process.exit(code);
}
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));
balancer.once('exit', (code) => {
  if (!stopping) {
    console.error(`the balancer exited (code ${code})`);
    void stop(1);
  }
});

// Wait for the balancer's ready line, which gives the real ports.
let out = '';
balancer.stdout!.setEncoding('utf8');
const ready = await new Promise<string>((resolve) => {
  balancer.stdout!.on('data', (chunk: string) => {
    out += chunk;
    const line = /^balancer: ready .*$/m.exec(out);
    if (line) resolve(line[0]);
  });
});
const listen = /listen=(\S+)/.exec(ready)![1]!;
const status = /status=(\S+)/.exec(ready)![1]!;
const site = `https://localhost:${listen.split(':').pop()}/`;
const ctl = `npm run -s balancerctl -- ${files.socket}`;

console.log(`ocsp-stapler demo: ${site} (the balancer, stapling a good OCSP response, in front of two backends)

CA file: ${files.ca}
OCSP responder: ${responder.url} (fetched ${bytes.length} bytes from ${url}, good until ${new Date(verified.validUntil).toISOString()})
Control socket: ${files.socket}
Status page: ${status}

Verify the staple with curl (exit code 0 means verified; 91 means a bad or missing staple):
  curl --cert-status --cacert ${files.ca} ${site}
Look at it with openssl:
  openssl s_client -connect ${listen} -servername localhost -status </dev/null | grep -A3 'OCSP Response Status'
Drive the balancer, as with Pen's penctl:
  ${ctl} ocsp
  ${ctl} servers
  ${ctl} ssl_ocsp_response ${files.revoked}   # refused: the good staple stays
  ${ctl} recent

The balancer was started as:
  npm run balancer -- ${args.join(' ')}
Press Ctrl-C to stop.`);
// From here on, the balancer's own log lines follow.
balancer.stdout!.pipe(process.stdout);

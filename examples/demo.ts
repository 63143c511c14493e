/**
 * `npm run demo`: an https server on 127.0.0.1 that staples an OCSP response, set up from
 * nothing with ocsp-stapler/testing (no openssl needed). Prints a curl command that verifies
 * the staple. PORT picks the port (default 8443; a free one if that is busy).
 */
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createStaplingContext, type StapleStatus } from 'ocsp-stapler';
import { writeTestPki, type TestPki } from 'ocsp-stapler/testing';

/** A running demo. */
export interface Demo {
  readonly url: string;
  readonly pki: TestPki;
  close(): Promise<void>;
}

/** Sets up a throwaway PKI in a temporary directory and serves https on 127.0.0.1:`port` with stapling. */
export async function startDemo(port = 8443): Promise<Demo> {
  const dir = await mkdtemp(join(tmpdir(), 'ocsp-stapler-demo-'));
  const pki = await writeTestPki(dir, { certificate: { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] } });
  const ctx = await createStaplingContext({ certFile: pki.certFile, ocspFile: pki.ocspFile });
  const server = https.createServer({ cert: await readFile(pki.certFile), key: await readFile(pki.keyFile) }, (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page(ctx.status()));
  });
  ctx.attach(server);
  await listen(server, port).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    return listen(server, 0);
  });
  const { port: actual } = server.address() as { port: number };
  return {
    url: `https://localhost:${actual}/`,
    pki,
    async close() {
      server.closeAllConnections();
      await Promise.all([new Promise((resolve) => server.close(resolve)), ctx.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function listen(server: https.Server, port: number): Promise<void> {
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
}

function page(status: StapleStatus): string {
  const rows: Array<[string, unknown]> = [
    ['stapling', status.stapling ? 'yes' : 'no'],
    ['certStatus', status.certStatus],
    ['subject', status.subject],
    ['serial', status.serial],
    ['thisUpdate', status.thisUpdate?.toISOString()],
    ['nextUpdate', status.nextUpdate?.toISOString()],
    ['signedBy', status.signedBy],
    ['staple size', status.bytes === null ? null : `${status.bytes} bytes`],
    ['last refusal', status.lastRefusal?.message ?? 'none'],
  ];
  const text = rows.map(([name, value]) => `${`${name}:`.padEnd(14)}${String(value ?? '-')}`).join('\n');
  return `<!doctype html><title>ocsp-stapler demo</title><h1>ocsp-stapler demo</h1>\n<pre>\n${escape(text)}\n</pre>\n`;
}

function escape(text: string): string {
  return text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const demo = await startDemo(process.env.PORT ? Number(process.env.PORT) : 8443);
  console.log(`ocsp-stapler demo: ${demo.url} (stapling a good OCSP response)`);
  console.log(`CA file: ${demo.pki.caFile}`);
  console.log('Verify the staple with curl (exit code 0 means verified; 91 means a bad or missing staple):');
  console.log(`  curl --cert-status --cacert ${demo.pki.caFile} ${demo.url}`);
  console.log('Press Ctrl-C to stop.');
  const stop = () => {
    demo.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

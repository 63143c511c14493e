// A TLS server for bench/handshake.ts: the same server with or without ocsp-stapler.
// argv[2]: { certFile, keyFile, ocspFile, variant: 'plain' | 'empty' | 'bare' | 'library' }. Replies { port, stapling }.
// Then answers every message with { handshakes, cpuMicros } (counted by the server itself).
// plain: no OCSPRequest listener. empty: a listener that staples nothing, cb(null, null) (what
// Node charges for calling a JS listener inside the handshake, without the staple's bytes). bare: the least a Node server can do to staple, a listener
// that hands back the same Buffer every time (no checks, no expiry). library: ocsp-stapler.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { createStaplingContext } from '../../src/index.js';

const args = JSON.parse(process.argv[2]!) as { certFile: string; keyFile: string; ocspFile: string; variant: 'plain' | 'empty' | 'bare' | 'library' };
let handshakes = 0;
const server = tls.createServer({ cert: readFileSync(args.certFile), key: readFileSync(args.keyFile) }, (socket) => {
  handshakes++;
  socket.on('error', () => undefined);
  socket.end();
});
server.on('tlsClientError', () => undefined);
let stapling = false;
if (args.variant === 'empty') {
  server.on('OCSPRequest', (_certificate: Buffer, _issuer: Buffer | null, callback: (err: Error | null, response: Buffer | null) => void) => callback(null, null));
} else if (args.variant === 'bare') {
  const staple = readFileSync(args.ocspFile);
  server.on('OCSPRequest', (_certificate: Buffer, _issuer: Buffer | null, callback: (err: Error | null, response: Buffer) => void) => callback(null, staple));
  stapling = true;
} else if (args.variant === 'library') {
  const context = await createStaplingContext({ certFile: args.certFile, ocspFile: args.ocspFile });
  context.attach(server);
  stapling = context.status().stapling;
}
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send!({ port: typeof address === 'object' && address ? address.port : 0, stapling });
});
// { sample: true } -> { handshakes, cpuMicros }: handshakes completed and CPU time used so far.
process.on('message', () => {
  const cpu = process.cpuUsage();
  process.send!({ handshakes, cpuMicros: cpu.user + cpu.system });
});
process.on('SIGTERM', () => process.exit(0));

// The two Node references of bench/balancer.ts, bundled and run with plain node like the balancer:
// `proxy`: the least a Node TLS proxy can be (TLS, the library's staple, pipe() both ways);
// `floor`: the same TLS server answering the request itself (no backend, no relay): what any
// Node server pays per new TLS connection.
// argv: MODE CERT KEY OCSP PORT [BACKEND_PORT]. Prints "ready" when listening.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { createStaplingContext } from 'ocsp-stapler';

const [mode, certFile, keyFile, ocspFile, port, backendPort] = process.argv.slice(2) as [string, string, string, string, string, string | undefined];
const context = await createStaplingContext({ certFile, ocspFile });
const ANSWER = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok';

const server = tls.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (client) => {
  client.on('error', () => client.destroy());
  if (mode === 'floor') {
    // One request per connection (the clients send Connection: close): answer at its end.
    let head = '';
    client.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) client.end(ANSWER);
    });
    return;
  }
  const upstream = net.connect({ host: '127.0.0.1', port: Number(backendPort) });
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  upstream.on('error', close).on('close', close);
  client.on('close', close);
  client.pipe(upstream).pipe(client);
});
server.on('tlsClientError', (_err, socket) => socket.destroy());
context.attach(server);
server.listen(Number(port), '127.0.0.1', () => console.log(`ready ${context.status().stapling ? 'stapling' : 'NOT stapling'}`));
process.on('SIGTERM', () => process.exit(0));

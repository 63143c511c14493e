// Full TLS handshakes in a loop, for bench/handshake.ts. No session reuse: every connection is
// new and asks for a staple (status_request), as browsers do.
// Message in: { port, version, concurrency, warmMs, ms }. Reply: { handshakes, stapled, errors, seconds }.
import tls from 'node:tls';

interface Run {
  port: number;
  version: 'TLSv1.2' | 'TLSv1.3';
  concurrency: number;
  warmMs: number;
  ms: number;
}

function handshake(port: number, version: tls.SecureVersion): Promise<{ ok: boolean; stapled: boolean }> {
  return new Promise((resolve) => {
    let stapled = false;
    // requestOCSP is a TLSSocket option that @types/node leaves out of ConnectionOptions.
    const options: tls.ConnectionOptions & { requestOCSP: boolean } = { host: '127.0.0.1', port, requestOCSP: true, rejectUnauthorized: false, minVersion: version, maxVersion: version };
    const socket = tls.connect(options);
    socket.on('OCSPResponse', (response?: Buffer | null) => {
      stapled = response != null && response.length > 0;
    });
    let ok = false;
    // Wait for the server to close: with TLS 1.3 the server only finishes its side after the
    // client's Finished, so destroying at once would cut handshakes the server never completes.
    socket.once('secureConnect', () => {
      ok = true;
      socket.end();
    });
    socket.on('data', () => undefined);
    socket.once('error', () => socket.destroy());
    socket.once('close', () => resolve({ ok, stapled }));
  });
}

async function run(r: Run) {
  const start = performance.now();
  const from = start + r.warmMs;
  const until = from + r.ms;
  let handshakes = 0;
  let stapled = 0;
  let errors = 0;
  const loop = async () => {
    while (performance.now() < until) {
      const result = await handshake(r.port, r.version);
      const now = performance.now();
      if (now < from || now > until) continue;
      if (result.ok) handshakes++;
      else errors++;
      if (result.stapled) stapled++;
    }
  };
  await Promise.all(Array.from({ length: r.concurrency }, loop));
  return { handshakes, stapled, errors, seconds: r.ms / 1000 };
}

process.on('message', (m) => {
  void run(m as Run).then((reply) => process.send!(reply));
});
process.send!({ ready: true });

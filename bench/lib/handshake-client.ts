// New TLS connections in a loop, for bench/handshake.ts and bench/balancer.ts. No session
// reuse: every connection is a full handshake asking for a staple (status_request), as browsers do.
// Message in: { port, version?, request?, concurrency, warmMs, ms, count? }. Reply: { handshakes, stapled, errors, seconds }.
// With `request`, each connection sends one HTTP/1.1 request (Connection: close) and counts only
// when a 200 response comes back.
import tls from 'node:tls';

interface Run {
  port: number;
  version?: tls.SecureVersion;
  request?: boolean;
  concurrency: number;
  warmMs: number;
  ms: number;
  /** Instead of a time window: exactly this many connections (warmMs and ms are then ignored). */
  count?: number;
}

const REQUEST = 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';

function connection(r: Run): Promise<{ ok: boolean; stapled: boolean }> {
  return new Promise((resolve) => {
    let stapled = false;
    let ok = false;
    let head = '';
    // requestOCSP is a TLSSocket option that @types/node leaves out of ConnectionOptions.
    const options: tls.ConnectionOptions & { requestOCSP: boolean } = { host: '127.0.0.1', port: r.port, requestOCSP: true, rejectUnauthorized: false };
    if (r.version) {
      options.minVersion = r.version;
      options.maxVersion = r.version;
    }
    const socket = tls.connect(options);
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('OCSPResponse', (response?: Buffer | null) => {
      stapled = response != null && response.length > 0;
    });
    // Wait for the server to close: with TLS 1.3 the server only finishes its side after the
    // client's Finished, so destroying at once would cut handshakes the server never completes.
    socket.once('secureConnect', () => {
      if (r.request) socket.write(REQUEST);
      else {
        ok = true;
        socket.end();
      }
    });
    socket.on('data', (chunk: Buffer) => {
      if (!r.request || head.length >= 12) return;
      head += chunk.toString('latin1');
      ok = head.startsWith('HTTP/1.1 200');
    });
    socket.once('error', () => socket.destroy());
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ ok, stapled });
    });
  });
}

async function runCount(r: Run & { count: number }) {
  const start = performance.now();
  let started = 0;
  let handshakes = 0;
  let stapled = 0;
  let errors = 0;
  const loop = async () => {
    while (started < r.count) {
      started++;
      const result = await connection(r);
      if (result.ok) handshakes++;
      else errors++;
      if (result.stapled) stapled++;
    }
  };
  await Promise.all(Array.from({ length: r.concurrency }, loop));
  return { handshakes, stapled, errors, seconds: (performance.now() - start) / 1000 };
}

async function run(r: Run) {
  if (r.count !== undefined) return runCount(r as Run & { count: number });
  const start = performance.now();
  const from = start + r.warmMs;
  const until = from + r.ms;
  let handshakes = 0;
  let stapled = 0;
  let errors = 0;
  const loop = async () => {
    while (performance.now() < until) {
      const result = await connection(r);
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

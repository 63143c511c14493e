// Holds many idle TLS connections open, for the memory figures of bench/balancer.ts.
// Message { open: { port, count } } -> { open: N, stapled: N } once every handshake is done;
// message { close: true } -> { closed: N } once all are closed.
import tls from 'node:tls';

const sockets: tls.TLSSocket[] = [];

function open(port: number): Promise<{ ok: boolean; stapled: boolean }> {
  return new Promise((resolve) => {
    let stapled = false;
    const options: tls.ConnectionOptions & { requestOCSP: boolean } = { host: '127.0.0.1', port, requestOCSP: true, rejectUnauthorized: false };
    const socket = tls.connect(options);
    socket.on('OCSPResponse', (response?: Buffer | null) => {
      stapled = response != null && response.length > 0;
    });
    socket.on('error', () => undefined);
    socket.once('secureConnect', () => {
      sockets.push(socket);
      resolve({ ok: true, stapled });
    });
    socket.once('close', () => resolve({ ok: false, stapled }));
  });
}

process.on('message', (m: { open?: { port: number; count: number }; close?: boolean }) => {
  if (m.open) {
    const { port, count } = m.open;
    void (async () => {
      let opened = 0;
      let stapled = 0;
      let next = 0;
      const worker = async () => {
        while (next < count) {
          next++;
          const r = await open(port);
          if (r.ok) opened++;
          if (r.stapled) stapled++;
        }
      };
      await Promise.all(Array.from({ length: 20 }, worker));
      process.send!({ open: opened, stapled });
    })();
  } else if (m.close) {
    const n = sockets.length;
    void Promise.all(sockets.splice(0).map((s) => new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.destroy();
    }))).then(() => process.send!({ closed: n }));
  }
});
process.send!({ ready: true });

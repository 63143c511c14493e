/**
 * The balancer's proxying and selection, end to end: real HTTP backends on 127.0.0.1, the
 * balancer as a child process, Node clients from several loopback source addresses.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { Backend, startBackends, startBalancer, get, waitFor, type BalancerProcess } from './fixtures/balancer.js';

const running: { balancers: BalancerProcess[]; backends: Backend[] } = { balancers: [], backends: [] };

afterEach(async () => {
  await Promise.all(running.balancers.map((b) => b.stop()));
  await Promise.all(running.backends.map((b) => b.kill()));
  running.balancers = [];
  running.backends = [];
});

async function setup(n: number, options: string[], backendSpec: (b: Backend) => string = (b) => `127.0.0.1:${b.port}`) {
  const backends = await startBackends(n);
  running.backends.push(...backends);
  const balancer = await startBalancer([...options, '127.0.0.1:0', ...backends.map(backendSpec)]);
  running.balancers.push(balancer);
  return { backends, balancer, port: balancer.port };
}

async function servedBy(port: number, count: number, localAddress = '127.0.0.1'): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await get(port, { localAddress })).backend);
  return out;
}

/**
 * A server whose accept queue is full: the kernel drops further SYNs, so a connect to it neither
 * succeeds nor fails (until the balancer's -t). Its process never runs its event loop, so
 * nothing is ever accepted.
 */
async function stuckServer(): Promise<{ port: number; close(): void }> {
  const stuck = spawn(process.execPath, ['-e', `
    const server = require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      console.log(server.address().port);
      setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0), 10);
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fillers: net.Socket[] = [];
  const close = () => {
    for (const socket of fillers) socket.destroy();
    stuck.kill('SIGKILL');
  };
  try {
    const [line] = (await once(stuck.stdout!, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    await new Promise((r) => setTimeout(r, 100));
    // Fill the accept queue (backlog + 1 on Linux); the third waits on its own.
    for (let i = 0; i < 3; i++) {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.on('error', () => {});
      fillers.push(socket);
    }
    await once(fillers[1]!, 'connect');
    return { port, close };
  } catch (err) {
    close();
    throw err;
  }
}

/** A raw TCP backend (half-open allowed); `onSocket` gets every connection. */
async function tcpBackend(onSocket: (socket: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('balancer: selection', () => {
  it('relays requests and answers to the backends, in round robin with -r', async () => {
    const { port } = await setup(3, ['-r']);
    assert.deepEqual(await servedBy(port, 6), [0, 1, 2, 0, 1, 2]);
  });

  it('keeps a client on its last server, and sends new clients round robin', async () => {
    const { port } = await setup(2, []);
    assert.deepEqual(await servedBy(port, 3, '127.0.0.2'), [0, 0, 0]);
    assert.deepEqual(await servedBy(port, 3, '127.0.0.3'), [1, 1, 1]);
    assert.deepEqual(await servedBy(port, 2, '127.0.0.4'), [0, 0]);
    assert.deepEqual(await servedBy(port, 1, '127.0.0.2'), [0]);
  });

  it('-h sends a client by hash of its address, even without the client table', async () => {
    const { port } = await setup(3, ['-r', '-h']);
    const seen = new Set<number>();
    for (let i = 2; i < 12; i++) {
      const servers = await servedBy(port, 3, `127.0.0.${i}`);
      assert.equal(new Set(servers).size, 1, `client 127.0.0.${i} went to ${servers}`);
      seen.add(servers[0]!);
    }
    assert.ok(seen.size > 1, 'ten addresses all hashed to one server');
  });

  it('prefers the lowest prio, and within it the weights', async () => {
    // Backend 0 has prio 1; backends 1 and 2 have prio 0, weights 1 and 3.
    const { port, balancer, backends } = await setup(3, ['-r'], (b) => `127.0.0.1:${b.port}:0:0:${b.index === 2 ? 3 : 1}:${b.index === 0 ? 1 : 0}`);
    // Open connections are what weight balances: hold 4 keep-alive connections at once.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const answers = await Promise.all(Array.from({ length: 4 }, () => get(port, { agent, path: '/held' })));
    const counts = [0, 0, 0];
    for (const a of answers) counts[a.backend]!++;
    assert.equal(counts[0], 0, 'prio 1 server got a client while prio 0 servers were up');
    assert.ok(counts[2]! > counts[1]!, `weights 1:3 gave ${counts[1]}:${counts[2]}`);
    agent.destroy();
    // With every prio 0 server down, the prio 1 server takes over.
    await backends[1]!.kill();
    await backends[2]!.kill();
    assert.deepEqual(await servedBy(port, 2), [0, 0]);
    assert.match((await balancer.command('servers')).text, /^1 .*blacklisted/m);
  });
});

describe('balancer: failures', () => {
  it('fails over when a backend dies mid-run, with no failed new request, and blacklists it', async () => {
    const { port, balancer, backends } = await setup(3, ['-r']);
    const served = new Set<number>();
    // Batches of 6 concurrent new clients; backend 1 dies between batches 2 and 3.
    for (let batch = 0; batch < 6; batch++) {
      if (batch === 2) await backends[1]!.kill();
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => get(port, { localAddress: `127.0.${batch + 1}.${i + 1}` })));
      for (const answer of answers) {
        served.add(answer.backend);
        if (batch >= 2) assert.notEqual(answer.backend, 1);
      }
    }
    assert.deepEqual([...served].sort(), [0, 1, 2]);
    const reply = await balancer.command('servers');
    assert.match(reply.text, /^1 .* failures 1 .*blacklisted \d+s$/m);
    assert.doesNotMatch(reply.text, /^0 .*blacklisted/m);
  });

  it('moves a tracked client to another server when its server dies', async () => {
    const { port, backends } = await setup(2, []);
    assert.equal((await get(port, { localAddress: '127.0.0.9' })).backend, 0);
    await backends[0]!.kill();
    assert.deepEqual(await servedBy(port, 2, '127.0.0.9'), [1, 1]);
  });

  it('-s (stubborn) refuses a tracked client whose server is down instead of moving it', async () => {
    const { port, backends } = await setup(2, ['-s']);
    assert.equal((await get(port, { localAddress: '127.0.0.9' })).backend, 0);
    await backends[0]!.kill();
    await assert.rejects(get(port, { localAddress: '127.0.0.9' }), /socket hang up|ECONNRESET/);
    // A new client is not bound to the dead server.
    assert.equal((await get(port, { localAddress: '127.0.0.10' })).backend, 1);
  });

  it('lifts the blacklist after -b seconds', async () => {
    const { port, balancer, backends } = await setup(2, ['-r', '-b', '1']);
    await backends[0]!.kill();
    assert.deepEqual(await servedBy(port, 2), [1, 1]);
    assert.match((await balancer.command('servers')).text, /^0 .*blacklisted 1s$/m);
    await backends[0]!.start();
    // Still blacklisted right after the restart: everything goes to 1.
    assert.equal((await get(port)).backend, 1);
    await waitFor(async () => !/blacklisted/.test((await balancer.command('servers')).text), 5000, 'the blacklist to expire');
    assert.deepEqual(new Set(await servedBy(port, 4)), new Set([0, 1]));
  });

  it('gives up a connect after -t seconds, blacklists the server and fails over', async () => {
    const stuck = await stuckServer();
    try {
      const backends = await startBackends(1);
      running.backends.push(...backends);
      const balancer = await startBalancer(['-r', '-t', '1', '127.0.0.1:0', `127.0.0.1:${stuck.port}`, `127.0.0.1:${backends[0]!.port}`]);
      running.balancers.push(balancer);
      assert.equal((await get(balancer.port)).backend, 0);
      assert.match((await balancer.command('servers')).text, /^0 .* failures 1 .*blacklisted \d+s$/m);
    } finally {
      stuck.close();
    }
  });

  it('uses the -e emergency server only when every backend is down', async () => {
    const emergency = await new Backend(99).start();
    running.backends.push(emergency);
    const { port, backends } = await setup(2, ['-r', '-e', `127.0.0.1:${emergency.port}`]);
    assert.deepEqual(await servedBy(port, 2), [0, 1]);
    await backends[0]!.kill();
    await backends[1]!.kill();
    assert.equal((await get(port)).backend, 99);
  });

  it('closes the client when no server is left', async () => {
    const { port, backends, balancer } = await setup(1, []);
    await backends[0]!.kill();
    await assert.rejects(get(port), /socket hang up|ECONNRESET/);
    assert.match((await balancer.command('status')).text, /1 with no server/);
  });

  it('-x caps simultaneous client connections', async () => {
    const { port, balancer } = await setup(1, ['-x', '1']);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // The first client holds its keep-alive connection open.
    assert.equal((await get(port, { agent })).backend, 0);
    await assert.rejects(get(port), /socket hang up|ECONNRESET/);
    assert.match((await balancer.command('status')).text, /1 refused over conn_max/);
    agent.destroy();
    await waitFor(async () => /connections: 0 active/.test((await balancer.command('status')).text), 5000, 'the held connection to close');
    assert.equal((await get(port)).backend, 0);
    // conn_max changes the cap at run time.
    assert.equal((await balancer.command('conn_max 2')).text, '2');
    const agent2 = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await get(port, { agent: agent2 });
    assert.equal((await get(port)).backend, 0);
    agent2.destroy();
  });
});

describe('balancer: -H X-Forwarded-For', () => {
  it('adds the client address to every request of a keep-alive connection, after bodies too', async () => {
    const { port, backends } = await setup(1, ['-H']);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await get(port, { agent, localAddress: '127.0.0.5' });
    assert.equal(first.xff, '127.0.0.5');
    const existing = await get(port, { agent, localAddress: '127.0.0.5', headers: { 'X-Forwarded-For': '203.0.113.7' } });
    assert.equal(existing.xff, '203.0.113.7, 127.0.0.5');
    // A POST with a body, then a GET on the same connection.
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/post', agent, localAddress: '127.0.0.5', headers: { 'content-length': '26' } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end('GET /smuggled HTTP/1.1\r\n\r\n');
    });
    const after = await get(port, { agent, localAddress: '127.0.0.5', path: '/after' });
    assert.equal(after.xff, '127.0.0.5');
    agent.destroy();
    const post = backends[0]!.seen.find((s) => s.path === '/post')!;
    assert.equal(post.body, 'GET /smuggled HTTP/1.1\r\n\r\n', 'the body was changed');
    assert.equal(post.xff, '127.0.0.5');
    assert.ok(!backends[0]!.seen.some((s) => s.path === '/smuggled'));
  });

  it('passes a chunked request body through intact (and the rest of that connection unchanged)', async () => {
    const { port, backends } = await setup(1, ['-H']);
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/chunked', agent: false, localAddress: '127.0.0.6' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      // No Content-Length: Node sends Transfer-Encoding: chunked.
      req.write('first chunk, ');
      req.write('GET /x HTTP/1.1\r\n\r\n');
      req.end('last chunk');
    });
    assert.equal(JSON.parse(answer).xff, '127.0.0.6');
    assert.equal(backends[0]!.seen[0]!.body, 'first chunk, GET /x HTTP/1.1\r\n\r\nlast chunk');
  });

  it('does not touch requests without -H', async () => {
    const { port } = await setup(1, []);
    assert.equal((await get(port, { localAddress: '127.0.0.5' })).xff, null);
  });

  it('passes non-HTTP bytes through unchanged', async () => {
    const { port } = await setup(1, ['-H']);
    // The backend is HTTP: a non-HTTP line must reach it verbatim and get its 400.
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end('HELLO\r\n\r\n'));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (text += c));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
  });
});

describe('balancer: relay', () => {
  it('passes a half-close on while the backend connect is pending: with bytes before the FIN, and with the FIN alone', async () => {
    // The backend answers once it has read everything, i.e. once the balancer passed the FIN on.
    const echo = await tcpBackend((socket) => {
      let got = '';
      socket.setEncoding('latin1');
      socket.on('data', (c: string) => (got += c));
      socket.on('end', () => socket.end(`read ${got.length} bytes: ${got.toUpperCase()}`));
    });
    const stuck = await stuckServer();
    try {
      // Every new client goes first to the stuck server (prio 0 before the echo's 1; -b 0: never
      // blacklisted; -r: no client table), whose connect hangs for -t 1 s; the client's bytes
      // and FIN arrive meanwhile, then the balancer fails over to the echo.
      const balancer = await startBalancer(['-r', '-t', '1', '-b', '0', '127.0.0.1:0', `127.0.0.1:${stuck.port}`, `127.0.0.1:${echo.port}:0:0:0:1`]);
      running.balancers.push(balancer);
      const exchange = (bytes: string) =>
        new Promise<string>((resolve, reject) => {
          const socket = net.connect({ host: '127.0.0.1', port: balancer.port, allowHalfOpen: true }, () => socket.end(bytes));
          let text = '';
          socket.setEncoding('latin1');
          socket.on('data', (c: string) => (text += c));
          socket.on('end', () => resolve(text));
          socket.on('error', reject);
          // Bounds the wait (without the FIN passed on, nobody would ever end this connection).
          socket.setTimeout(30_000, () => reject(new Error(`no end after 30 s idle; got "${text}"`)));
        });
      // A paused socket emits 'end' at once when the FIN comes alone (nothing buffered): the
      // relay must see that it already ended; with bytes first, 'end' waits for them.
      assert.equal(await exchange('hello'), 'read 5 bytes: HELLO');
      assert.equal(await exchange(''), 'read 0 bytes: ');
      assert.match((await balancer.command('servers')).text, /^0 .* failures 2 /m);
    } finally {
      stuck.close();
      echo.close();
    }
  });

  it('holds back a fast backend while the client reads nothing (backpressure), then relays every byte in order and counts them', async () => {
    const total = 128 * 2 ** 20;
    const chunk = Buffer.alloc(2 ** 20);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7 + (i >> 8)) & 0xff;
    let accepted = 0;
    const source = await tcpBackend((socket) => {
      // Writes as fast as the balancer takes the bytes, honouring 'drain': `accepted` is what
      // the balancer's side of the loopback has taken off the backend so far (plus kernel buffers).
      const pump = () => {
        while (accepted < total) {
          accepted += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
        socket.end();
      };
      socket.once('data', pump);
    });
    try {
      const balancer = await startBalancer(['127.0.0.1:0', `127.0.0.1:${source.port}`]);
      running.balancers.push(balancer);
      const client = net.connect({ host: '127.0.0.1', port: balancer.port });
      await once(client, 'connect');
      client.pause();
      client.write('go');
      // Wait until the backend stops making progress: with backpressure it stalls once the
      // kernel buffers and the balancer's stream buffers are full; without it the balancer
      // would read all 128 MiB into its own memory. Only bounds a wait, times nothing.
      let last = -1;
      let still = 0;
      while (still < 5 && accepted < total) {
        await new Promise((r) => setTimeout(r, 200));
        still = accepted === last ? still + 1 : 0;
        last = accepted;
      }
      assert.ok(accepted < total / 2, `the balancer took ${accepted} bytes from the backend while the client read nothing`);
      const hash = createHash('sha256');
      let received = 0;
      client.on('data', (c: Buffer) => {
        received += c.length;
        hash.update(c);
      });
      client.resume();
      await once(client, 'end');
      client.destroy();
      const expected = createHash('sha256');
      for (let sent = 0; sent < total; sent += chunk.length) expected.update(chunk);
      assert.equal(received, total);
      assert.equal(hash.digest('hex'), expected.digest('hex'));
      const servers = (await balancer.command('servers')).data as { servers: { bytesToServer: number; bytesToClient: number }[] };
      assert.equal(servers.servers[0]!.bytesToServer, 2);
      assert.equal(servers.servers[0]!.bytesToClient, total);
    } finally {
      source.close();
    }
  });
});

describe('balancer: SIGTERM', () => {
  it('stops accepting, lets an open request finish, and exits 0', async () => {
    const { port, balancer, backends } = await setup(1, []);
    backends[0]!.delayMs = 300;
    const pending = get(port, { path: '/slow' });
    await waitFor(() => backends[0]!.seen.length > 0, 5000, 'the request to reach the backend');
    balancer.child.kill('SIGTERM');
    const answer = await pending;
    assert.equal(answer.path, '/slow');
    assert.equal(await balancer.exited(), 0);
    await assert.rejects(get(port), /ECONNREFUSED/);
  });
});

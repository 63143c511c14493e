/**
 * One balancer process: accepts clients (TLS when a certificate is given, else plain TCP),
 * picks a server with {@link Pool}, connects with a timeout, fails over to another server
 * when the connect fails, and copies bytes both ways.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Certificates, type StapleReport } from './certificates.js';
import type { Options } from './options.js';
import { Pool, type Backend, type Client } from './pool.js';
import { endRefused, ForwardedFor } from './xff.js';

/** Everything the status page, `status` and the metrics show, for one process. Plain data. */
export interface Snapshot {
  readonly pid: number;
  readonly startedAt: string;
  readonly now: string;
  readonly listen: string;
  readonly tls: boolean;
  readonly mode: ModeFlags;
  readonly limits: { readonly connMax: number; readonly clientsMax: number; readonly timeoutSec: number; readonly blacklistSec: number };
  readonly connections: { readonly active: number; readonly total: number; readonly refused: number; readonly failed: number };
  readonly servers: readonly ServerView[];
  /** Clients in the client table: all of them, however many. */
  readonly clientsTracked: number;
  /** The most recent of them, at most {@link SNAPSHOT_CLIENTS}. */
  readonly clients: readonly ClientView[];
  readonly staples: readonly StapleReport[];
}

/** Selection flags, as the `mode` command shows them. */
export interface ModeFlags {
  readonly roundrobin: boolean;
  readonly hash: boolean;
  readonly stubborn: boolean;
  readonly xForwardedFor: boolean;
}

/** One backend (or the emergency server, index -1) in a {@link Snapshot}. */
export interface ServerView {
  readonly index: number;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly conns: number;
  readonly total: number;
  readonly failures: number;
  readonly maxc: number;
  readonly hard: number;
  readonly weight: number;
  readonly prio: number;
  readonly bytesToServer: number;
  readonly bytesToClient: number;
  /** Seconds of blacklist left; 0 when usable. */
  readonly blacklisted: number;
  readonly emergency: boolean;
}

/** One tracked client in a {@link Snapshot}; `server` -1 is the emergency server. */
export interface ClientView {
  readonly address: string;
  readonly server: number;
  readonly lastSeen: string;
  readonly conns: number;
  readonly total: number;
}

/** How many tracked clients a snapshot lists (the table can hold millions); `clientsTracked` counts them all. */
export const SNAPSHOT_CLIENTS = 200;

/** A running balancer in this process. */
export class Balancer {
  readonly options: Options;
  readonly pool: Pool;
  readonly certificates: Certificates | null;
  readonly server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #startedAt = new Date();
  #total = 0;
  #refused = 0;
  #failed = 0;
  /** -H, changed at run time by the `http` / `no http` commands. */
  xForwardedFor: boolean;

  private constructor(options: Options, certificates: Certificates | null) {
    this.options = options;
    this.certificates = certificates;
    this.xForwardedFor = options.xForwardedFor;
    this.pool = new Pool(
      options.backends,
      options.emergency,
      { roundrobin: options.roundrobin, hash: options.hash, stubborn: options.stubborn, blacklistSec: options.blacklistSec, timeoutSec: options.timeoutSec, connMax: options.connMax },
      options.clientsMax,
      options.trackingSec,
    );
    if (certificates) {
      // allowHalfOpen only once the handshake is done: a client that half-closes (sends its
      // request, then FIN) still gets the answer, while a FIN before the handshake ends the
      // connection at once. Set on the server, it kept such connections (and their -x slot)
      // until handshakeTimeout (found by test/adversarial-balancer.test.ts).
      // handshakeTimeout: a client that connects and never finishes its handshake gives its
      // -x slot back after 30 s rather than Node's default 120 s.
      const server = tls.createServer({ ...certificates.serverOptions(), handshakeTimeout: 30_000 }, (socket) => {
        socket.allowHalfOpen = true;
        this.#onClient(socket);
      });
      certificates.attach(server);
      // Handshake failures (scanners, clients that hang up, connections over -x) are routine.
      server.on('tlsClientError', (_err, socket) => socket.destroy());
      this.server = server;
    } else {
      this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.#onClient(socket));
    }
    // 'connection' sees the TCP socket before any TLS: refuse over -x before spending a handshake.
    this.server.on('connection', (socket: net.Socket) => {
      socket.on('error', () => socket.destroy());
      if (this.#sockets.size >= this.pool.settings.connMax) {
        this.#refused++;
        socket.destroy();
        return;
      }
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** Loads certificates and staples, and makes the server (not yet listening). */
  static async create(options: Options): Promise<Balancer> {
    const tlsWanted = options.certFile !== null || options.sniDir !== null;
    const certificates = tlsWanted ? await Certificates.load(options) : null;
    return new Balancer(options, certificates);
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  /** Client connections open now. */
  get active(): number {
    return this.#sockets.size;
  }

  #onClient(client: net.Socket): void {
    client.on('error', () => client.destroy());
    client.pause();
    this.#total++;
    const address = normalize(client.remoteAddress ?? '');
    const tried = new Set<Backend>();
    const attempt = (): void => {
      if (client.destroyed) return;
      const choice = this.pool.select(address, tried);
      if (!choice) {
        this.#failed++;
        client.destroy();
        return;
      }
      const backend = choice.backend;
      tried.add(backend);
      backend.conns++;
      let settled = false;
      const upstream = net.connect({ host: backend.host, port: backend.port, allowHalfOpen: true });
      const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), this.pool.settings.timeoutSec * 1000);
      const onFail = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        backend.conns--;
        backend.failures++;
        upstream.destroy();
        if (backend.index >= 0) this.pool.blacklist(backend);
        attempt();
      };
      upstream.once('error', onFail);
      upstream.once('close', onFail);
      client.once('close', () => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          backend.conns--;
          upstream.destroy();
        }
      });
      upstream.once('connect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        upstream.off('error', onFail);
        upstream.off('close', onFail);
        this.#pipe(client, upstream, backend, this.pool.track(address, backend), address);
      });
    };
    attempt();
  }

  #pipe(client: net.Socket, upstream: net.Socket, backend: Backend, tracked: Client | null, address: string): void {
    backend.total++;
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      backend.conns--;
      if (tracked) tracked.conns--;
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', close);
    upstream.on('close', close);
    client.on('close', close);
    if (this.xForwardedFor) {
      const rewriter = new ForwardedFor(address);
      rewriter.on('error', close);
      upstream.on('data', (chunk: Buffer) => rewriter.fromServer(chunk));
      rewriter.on('refuse', (response: Buffer | null) => {
        // Reset, not close, the server's connection: it may hold a request cut short, which a
        // lenient server would complete at a clean end. The client still gets its answer (a
        // destroyed upstream relays nothing more, and the relay does not end a client already ended).
        upstream.off('close', close).off('error', close).on('error', () => {});
        upstream.resetAndDestroy();
        endRefused(client, response);
      });
      relay(client, rewriter, backend, true);
      rewriter.pipe(upstream);
    } else {
      relay(client, upstream, backend, true);
    }
    relay(upstream, client, backend, false);
    client.resume();
  }

  /** Plain-data view of this process. */
  snapshot(): Snapshot {
    const p = this.pool;
    const view = (b: Backend): ServerView => ({
      index: b.index,
      address: `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`,
      host: b.host,
      port: b.port,
      conns: b.conns,
      total: b.total,
      failures: b.failures,
      maxc: b.maxc,
      hard: b.hard,
      weight: b.weight,
      prio: b.prio,
      bytesToServer: b.bytesToServer,
      bytesToClient: b.bytesToClient,
      blacklisted: p.blacklistLeft(b),
      emergency: b.index < 0,
    });
    const listen = this.server.address();
    return {
      pid: process.pid,
      startedAt: this.#startedAt.toISOString(),
      now: new Date().toISOString(),
      listen: listen && typeof listen === 'object' ? `${listen.address}:${listen.port}` : `${this.options.listen.host}:${this.options.listen.port}`,
      tls: this.certificates !== null,
      mode: { roundrobin: p.settings.roundrobin, hash: p.settings.hash, stubborn: p.settings.stubborn, xForwardedFor: this.xForwardedFor },
      limits: { connMax: p.settings.connMax, clientsMax: p.clientsMax, timeoutSec: p.settings.timeoutSec, blacklistSec: p.settings.blacklistSec },
      connections: { active: this.active, total: this.#total, refused: this.#refused, failed: this.#failed },
      servers: [...p.backends, ...(p.emergency ? [p.emergency] : [])].map(view),
      clientsTracked: p.clientsTracked,
      clients: p.clients().slice(0, SNAPSHOT_CLIENTS).map((c) => ({ address: c.address, server: c.server, lastSeen: new Date(c.lastSeen).toISOString(), conns: c.conns, total: c.total })),
      staples: this.certificates?.reports() ?? [],
    };
  }

  /**
   * Stops accepting, waits up to `seconds` for open connections to end, then closes the rest
   * and the staples' timers.
   */
  async drain(seconds: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000).unref());
    await Promise.race([closed, deadline]);
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    await this.certificates?.close();
  }
}

/**
 * Copies `from` into `to` and counts the bytes in `backend`'s totals: what `from.pipe(to)` plus a byte-counting
 * 'data' listener did, in one 'data' handler (hot path: it runs for every chunk of every
 * connection; bench/RESULTS.md has what it saves). It keeps the pipe() semantics the balancer
 * relies on: backpressure (`from` pauses while `to`'s buffer is full and resumes on 'drain')
 * and half-close (`from`'s end ends `to`, also when `from` ended before the relay was set up:
 * a paused socket whose buffer is empty emits 'end' as soon as the FIN arrives, so a client that
 * half-closes without sending anything while the backend connect is pending has already ended
 * here, as pipe() handles through readableEnded). Errors and close are the
 * caller's: it destroys both sockets together.
 */
function relay(from: net.Socket, to: net.Socket | ForwardedFor, backend: Backend, toServer: boolean): void {
  from.on('data', (chunk: Buffer) => {
    if (toServer) backend.bytesToServer += chunk.length;
    else backend.bytesToClient += chunk.length;
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  const end = (): void => {
    if (!to.writableEnded) to.end();
  };
  if (from.readableEnded) end();
  else from.once('end', end);
}

/** `::ffff:1.2.3.4` is the IPv4 client 1.2.3.4. */
function normalize(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

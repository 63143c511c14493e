/**
 * The backends, the client table and the choice of a server: Pen's selection rules, without
 * any I/O, so a test or the control socket can look at every decision.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Address, BackendSpec } from './options.js';

/** One backend and its counters. Mutable: the control socket changes these fields. */
export interface Backend {
  /** Position on the command line, from 0; what `server N ...` refers to. */
  readonly index: number;
  host: string;
  port: number;
  maxc: number;
  hard: number;
  weight: number;
  prio: number;
  /** Connections open now. */
  conns: number;
  /** Connections made since start. */
  total: number;
  /** Failed connect attempts since start. */
  failures: number;
  /** Bytes client to server, server to client. */
  bytesToServer: number;
  bytesToClient: number;
  /** Blacklisted until this time (ms since the epoch); 0 when not blacklisted. */
  blacklistedUntil: number;
}

/** One tracked client. */
export interface Client {
  readonly address: string;
  /** Index of its server; -1 for the emergency server. */
  server: number;
  /** Last connection (ms since the epoch). */
  lastSeen: number;
  /** Connections open now and since it was first seen. */
  conns: number;
  total: number;
}

/** The selection settings the control socket can change. */
export interface Settings {
  roundrobin: boolean;
  hash: boolean;
  stubborn: boolean;
  blacklistSec: number;
  timeoutSec: number;
  connMax: number;
}

/** The server picked for a connection. */
export interface Choice {
  readonly backend: Backend;
  /** True when the client table sent the client there. */
  readonly tracked: boolean;
}

/** Backends, client table and selection. */
export class Pool {
  readonly backends: Backend[];
  /** The -e server; index -1. */
  readonly emergency: Backend | null;
  readonly settings: Settings;
  #clients: LRUCache<string, Client>;
  #trackingMs: number;
  #next = 0;
  readonly #now: () => number;

  constructor(specs: readonly BackendSpec[], emergency: Address | null, settings: Settings, clientsMax: number, trackingSec: number, now: () => number = Date.now) {
    this.backends = specs.map((spec, index) => newBackend(index, spec));
    this.emergency = emergency ? newBackend(-1, { ...emergency, maxc: 0, hard: 0, weight: 0, prio: 0 }) : null;
    this.settings = settings;
    this.#trackingMs = trackingSec * 1000;
    this.#now = now;
    this.#clients = this.#makeTable(clientsMax);
  }

  #makeTable(max: number): LRUCache<string, Client> {
    // ttl 0 means "no ttl" to lru-cache; Pen's -T 0 means the same.
    // The table's clock is the pool's (perf), so -T follows an injected clock in tests.
    return new LRUCache<string, Client>({ max, ...(this.#trackingMs > 0 ? { ttl: this.#trackingMs, ttlResolution: 0, perf: { now: this.#now } } : {}) });
  }

  /** Size of the client table (-c). */
  get clientsMax(): number {
    return this.#clients.max;
  }

  /** Resizes the client table, keeping the most recent clients. */
  set clientsMax(max: number) {
    const table = this.#makeTable(max);
    // entries() lists the most recent first; set them oldest first so the order survives.
    for (const [key, client] of [...this.#clients.entries()].reverse()) table.set(key, client);
    this.#clients = table;
  }

  /** How many clients the table holds now (those past -T are not counted). */
  get clientsTracked(): number {
    if (this.#trackingMs === 0) return this.#clients.size;
    let n = 0;
    for (const _ of this.#clients.values()) n++;
    return n;
  }

  /** Tracked clients, most recent first. */
  clients(): Client[] {
    return [...this.#clients.values()];
  }

  /** A backend by its index, or undefined. */
  backend(index: number): Backend | undefined {
    return Number.isInteger(index) ? this.backends[index] : undefined;
  }

  /** True while `backend`'s blacklist time runs. */
  isBlacklisted(backend: Backend): boolean {
    return backend.blacklistedUntil > this.#now();
  }

  /** Seconds of blacklist left, rounded up; 0 when not blacklisted. */
  blacklistLeft(backend: Backend): number {
    return Math.max(0, Math.ceil((backend.blacklistedUntil - this.#now()) / 1000));
  }

  /** Blacklists `backend` for `seconds` (0 lifts it). */
  blacklist(backend: Backend, seconds = this.settings.blacklistSec): void {
    backend.blacklistedUntil = seconds > 0 ? this.#now() + seconds * 1000 : 0;
  }

  /**
   * Picks a server for a connection from `address`, skipping `tried` (servers that already
   * failed for this connection). Returns null when nothing can take it.
   *
   * Order, as Pen: the client's last server (unless -r); then, for new clients, the
   * available servers of the lowest prio; among them by weight (fewest connections per unit
   * of weight), else by hash of the address (-h), else round robin; then the emergency server.
   */
  select(address: string, tried: ReadonlySet<Backend>): Choice | null {
    const s = this.settings;
    if (!s.roundrobin) {
      const client = this.#clients.get(address);
      const known = client ? (client.server === -1 ? this.emergency : this.backends[client.server]) : undefined;
      if (known) {
        // A tracked client may go over the soft limit (maxc) but never over the hard one.
        if (!tried.has(known) && !this.isBlacklisted(known) && !full(known, known.hard)) return { backend: known, tracked: true };
        if (s.stubborn && known.index >= 0) return null;
      }
    }
    const free = this.backends.filter((b) => !tried.has(b) && !this.isBlacklisted(b) && !full(b, b.maxc) && !full(b, b.hard));
    if (free.length === 0) {
      const e = this.emergency;
      return e && !tried.has(e) && !full(e, e.hard) ? { backend: e, tracked: false } : null;
    }
    const prio = Math.min(...free.map((b) => b.prio));
    const best = free.filter((b) => b.prio === prio);
    let pick: Backend | undefined;
    const weighted = best.filter((b) => b.weight > 0);
    if (weighted.length > 0) {
      const load = (b: Backend) => (b.conns + 1) / b.weight;
      const least = Math.min(...weighted.map(load));
      pick = this.#roundRobin(weighted.filter((b) => load(b) === least));
    } else if (s.hash) {
      // Hash over every server, then walk on to the first usable one, so a client keeps its
      // server whenever that server is up, whatever happens to the others.
      const n = this.backends.length;
      const start = createHash('sha1').update(address).digest().readUInt32BE(0) % n;
      for (let i = 0; i < n && !pick; i++) {
        const b = this.backends[(start + i) % n]!;
        if (best.includes(b)) pick = b;
      }
    } else {
      pick = this.#roundRobin(best);
    }
    return pick ? { backend: pick, tracked: false } : null;
  }

  #roundRobin(candidates: readonly Backend[]): Backend | undefined {
    const n = this.backends.length;
    for (let i = 0; i < n; i++) {
      const b = this.backends[(this.#next + i) % n]!;
      if (candidates.includes(b)) {
        this.#next = (b.index + 1) % n;
        return b;
      }
    }
    return undefined;
  }

  /** Records that `address` now uses `backend` (a connection opened). */
  track(address: string, backend: Backend): Client | null {
    if (this.settings.roundrobin) return null;
    const now = this.#now();
    let client = this.#clients.get(address);
    if (!client) client = { address, server: backend.index, lastSeen: now, conns: 0, total: 0 };
    client.server = backend.index;
    client.lastSeen = now;
    client.conns++;
    client.total++;
    // set() again so the entry's ttl (-T) counts from this connection.
    this.#clients.set(address, client);
    return client;
  }

  /** Clients seen in the last `seconds`, most recent first. */
  recent(seconds: number): Client[] {
    const since = this.#now() - seconds * 1000;
    return this.clients().filter((c) => c.lastSeen >= since).sort((a, b) => b.lastSeen - a.lastSeen);
  }
}

function full(b: Backend, limit: number): boolean {
  return limit > 0 && b.conns >= limit;
}

function newBackend(index: number, spec: BackendSpec): Backend {
  return { index, ...spec, conns: 0, total: 0, failures: 0, bytesToServer: 0, bytesToClient: 0, blacklistedUntil: 0 };
}

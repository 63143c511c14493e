/**
 * --status: a live HTML page in the spirit of HAProxy's stats page (`/`), the same data as
 * JSON (`/status.json`), and Prometheus metrics (`/metrics`). With --workers, the primary
 * serves it and merges one snapshot per worker.
 */
import http from 'node:http';
import type { StapleReport } from './certificates.js';
import type { ClientView, ServerView, Snapshot } from './balancer.js';
import type { Address } from './options.js';

/** A certificate's staple on the page: the worst worker's view (see `worst`), plus how many workers staple it. */
export interface StapleView {
  readonly name: string;
  readonly certFile: string;
  readonly stapling: boolean;
  /** Workers stapling it now, of `workers`. */
  readonly staplingWorkers: number;
  readonly certStatus: string | null;
  readonly subject: string | null;
  readonly thisUpdate: string | null;
  readonly nextUpdate: string | null;
  readonly validUntil: string | null;
  /** Seconds until stapling stops; 0 when not stapling. */
  readonly secondsLeft: number;
  /** secondsLeft as a share of the response's thisUpdate..validUntil window, 0..1. */
  readonly fractionLeft: number;
  readonly lastRefusal: { readonly code: string; readonly message: string } | null;
  readonly ocspFile: string | null;
  /** Handshakes that asked for a staple, summed over the workers: got one, got none. */
  readonly handshakes: { readonly stapled: number; readonly withoutStaple: number };
}

/** `/status.json`. */
export interface StatusView {
  readonly generatedAt: string;
  readonly workers: number;
  readonly pids: readonly number[];
  readonly startedAt: string;
  readonly listen: string;
  readonly tls: boolean;
  readonly mode: Snapshot['mode'];
  readonly limits: Snapshot['limits'];
  readonly connections: Snapshot['connections'];
  readonly servers: readonly ServerView[];
  /** Entries in the client tables, summed over the workers (each worker has its own table). */
  readonly clientsTracked: number;
  /** The most recent clients, at most 200. */
  readonly clients: readonly ClientView[];
  readonly staples: readonly StapleView[];
}

/** Merges the workers' snapshots: counters add up, a server is blacklisted as long as any worker says so. */
export function mergeSnapshots(snapshots: readonly Snapshot[], now = Date.now()): StatusView {
  const first = snapshots[0]!;
  const sum = (f: (s: Snapshot) => number) => snapshots.reduce((n, s) => n + f(s), 0);
  const servers = first.servers.map((server, i) => {
    const all = snapshots.map((s) => s.servers[i] ?? server);
    const add = (f: (v: ServerView) => number) => all.reduce((n, v) => n + f(v), 0);
    return {
      ...server,
      conns: add((v) => v.conns),
      total: add((v) => v.total),
      failures: add((v) => v.failures),
      bytesToServer: add((v) => v.bytesToServer),
      bytesToClient: add((v) => v.bytesToClient),
      blacklisted: Math.max(...all.map((v) => v.blacklisted)),
    };
  });
  const clients = snapshots.flatMap((s) => s.clients).sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
  const staples = first.staples.map((report) => {
    const all = snapshots.map((s) => s.staples.find((r) => r.name === report.name));
    return stapleView(worst(all) ?? { ...report, status: null }, all, now);
  });
  return {
    generatedAt: new Date(now).toISOString(),
    workers: snapshots.length,
    pids: snapshots.map((s) => s.pid),
    startedAt: first.startedAt,
    listen: first.listen,
    tls: first.tls,
    mode: first.mode,
    limits: first.limits,
    connections: { active: sum((s) => s.connections.active), total: sum((s) => s.connections.total), refused: sum((s) => s.connections.refused), failed: sum((s) => s.connections.failed) },
    servers,
    clientsTracked: sum((s) => s.clientsTracked),
    clients: clients.slice(0, 200),
    staples,
  };
}

/**
 * The worst of the workers' views of one certificate, so that a worker that lost its staple shows
 * whatever the workers' order: a worker with no report or not stapling, else the one whose staple
 * stops being valid first.
 */
function worst(all: readonly (StapleReport | undefined)[]): StapleReport | undefined {
  const rank = (r: StapleReport | undefined) => (r?.status?.stapling && r.status.validUntil ? new Date(r.status.validUntil).getTime() : -Infinity);
  return all.reduce((a, b) => (rank(b) < rank(a) ? b : a));
}

function stapleView(report: StapleReport, all: readonly (StapleReport | undefined)[], now: number): StapleView {
  const s = report.status;
  const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);
  const until = s?.validUntil ? new Date(s.validUntil).getTime() : 0;
  const from = s?.thisUpdate ? new Date(s.thisUpdate).getTime() : now;
  const secondsLeft = s?.stapling ? Math.max(0, Math.floor((until - now) / 1000)) : 0;
  const window = until - from;
  return {
    name: report.name,
    certFile: report.certFile,
    stapling: s?.stapling ?? false,
    staplingWorkers: all.filter((r) => r?.status?.stapling).length,
    certStatus: s?.certStatus ?? null,
    subject: s?.subject ?? null,
    thisUpdate: iso(s?.thisUpdate),
    nextUpdate: iso(s?.nextUpdate),
    validUntil: iso(s?.validUntil),
    secondsLeft,
    fractionLeft: s?.stapling && window > 0 ? Math.min(1, Math.max(0, (until - now) / window)) : 0,
    lastRefusal: s?.lastRefusal ? { code: s.lastRefusal.code, message: s.lastRefusal.message } : null,
    ocspFile: s?.ocspFile ?? null,
    handshakes: {
      stapled: all.reduce((n, r) => n + (r?.handshakes.stapled ?? 0), 0),
      withoutStaple: all.reduce((n, r) => n + (r?.handshakes.withoutStaple ?? 0), 0),
    },
  };
}

/** Prometheus text exposition format 0.0.4. */
export function metrics(view: StatusView): string {
  const out: string[] = [];
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const family = (name: string, type: 'gauge' | 'counter', help: string, rows: [labels: Record<string, string>, value: number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of rows) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${esc(v)}"`).join(',');
      out.push(`${name}${l ? `{${l}}` : ''} ${value}`);
    }
  };
  const c = view.connections;
  family('balancer_workers', 'gauge', 'Balancer processes.', [[{}, view.workers]]);
  family('balancer_connections_active', 'gauge', 'Client connections open now.', [[{}, c.active]]);
  family('balancer_connections_total', 'counter', 'Client connections accepted (TLS done) since start.', [[{}, c.total]]);
  family('balancer_connections_refused_total', 'counter', 'Connections closed because conn_max was reached.', [[{}, c.refused]]);
  family('balancer_connections_failed_total', 'counter', 'Client connections closed because no server could take them.', [[{}, c.failed]]);
  family('balancer_clients_tracked', 'gauge', 'Clients in the client table.', [[{}, view.clientsTracked]]);
  const label = (s: ServerView) => ({ server: s.emergency ? 'emergency' : String(s.index), address: s.address });
  family('balancer_server_connections', 'gauge', 'Connections open to the server.', view.servers.map((s) => [label(s), s.conns]));
  family('balancer_server_connections_total', 'counter', 'Connections made to the server.', view.servers.map((s) => [label(s), s.total]));
  family('balancer_server_failures_total', 'counter', 'Failed connects to the server.', view.servers.map((s) => [label(s), s.failures]));
  family('balancer_server_bytes_total', 'counter', 'Bytes relayed.', view.servers.flatMap((s): [Record<string, string>, number][] => [[{ ...label(s), direction: 'to_server' }, s.bytesToServer], [{ ...label(s), direction: 'to_client' }, s.bytesToClient]]));
  family('balancer_server_blacklisted_seconds', 'gauge', 'Seconds of blacklist left; 0 when usable.', view.servers.map((s) => [label(s), s.blacklisted]));
  family('balancer_ocsp_stapling', 'gauge', '1 when the certificate gets a staple now in every worker.', view.staples.map((s) => [{ certificate: s.name }, s.stapling ? 1 : 0]));
  family('balancer_ocsp_handshakes_total', 'counter', 'Handshakes that asked for a staple, by whether one was sent.', view.staples.flatMap((s): [Record<string, string>, number][] => [[{ certificate: s.name, stapled: 'yes' }, s.handshakes.stapled], [{ certificate: s.name, stapled: 'no' }, s.handshakes.withoutStaple]]));
  family('balancer_ocsp_seconds_left', 'gauge', 'Seconds until the staple stops being valid (validUntil), in the worst worker.', view.staples.map((s) => [{ certificate: s.name }, s.secondsLeft]));
  family('balancer_ocsp_next_update_timestamp_seconds', 'gauge', 'nextUpdate of the stapled response, Unix time.', view.staples.filter((s) => s.nextUpdate).map((s) => [{ certificate: s.name }, Math.floor(Date.parse(s.nextUpdate!) / 1000)]));
  return out.join('\n') + '\n';
}

/** Serves the page. `collect` returns one snapshot per process. */
export async function startStatus(address: Address, collect: () => Promise<Snapshot[]>): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'GET only\n');
    if (path === '/') return send(200, 'text/html; charset=utf-8', PAGE);
    if (path !== '/status.json' && path !== '/metrics') return send(404, 'text/plain', 'not found\n');
    collect().then(
      (snapshots) => {
        const view = mergeSnapshots(snapshots);
        if (path === '/metrics') send(200, 'text/plain; version=0.0.4', metrics(view));
        else send(200, 'application/json', JSON.stringify(view, null, 2));
      },
      (err: unknown) => send(503, 'text/plain', `no snapshot: ${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

// The page renders /status.json in the browser and refreshes it every 2 s. Everything from the
// JSON goes through textContent, never innerHTML: server addresses and refusal messages are
// data, not markup.
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>balancer status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; }
  h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
  .meta { color: #555; }
  table { border-collapse: collapse; background: #fff; min-width: 40em; }
  th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; white-space: nowrap; }
  th { background: #e8eef6; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  tr.down td { background: #fbe3e3; }
  tr.up td:first-child { border-left: 4px solid #3a3; }
  tr.down td:first-child { border-left: 4px solid #c33; }
  .bar { width: 14em; height: .9em; background: #ddd; border-radius: 3px; overflow: hidden; display: inline-block; vertical-align: middle; }
  .fill { display: block; height: 100%; background: #3a3; }
  .fill.low { background: #e0a000; }
  .fill.none { background: #c33; width: 0; }
  .bad { color: #b00; }
  td.refusal { white-space: normal; max-width: 40em; }
  .ok { color: #270; font-weight: 600; }
</style>
</head>
<body>
<h1>balancer</h1>
<div class="meta" id="meta">loading…</div>
<noscript>This page needs JavaScript; the data is at <a href="status.json">status.json</a> and <a href="metrics">metrics</a>.</noscript>
<h2>Servers</h2>
<table id="servers"><thead><tr><th>#</th><th>address</th><th>state</th><th>conn</th><th>total</th><th>failures</th><th>max</th><th>hard</th><th>weight</th><th>prio</th><th>to server</th><th>to client</th></tr></thead><tbody></tbody></table>
<h2>Connections</h2>
<table id="connections"><tbody></tbody></table>
<h2>OCSP staples</h2>
<table id="staples"><thead><tr><th>certificate</th><th>status</th><th>nextUpdate</th><th>time left</th><th>workers</th><th>last refusal</th></tr></thead><tbody></tbody></table>
<h2>Clients</h2>
<table id="clients"><thead><tr><th>address</th><th>server</th><th>conn</th><th>total</th><th>last seen</th></tr></thead><tbody></tbody></table>
<p class="meta"><a href="status.json">status.json</a> · <a href="metrics">metrics</a></p>
<script>
"use strict";
function cell(row, text, cls) { const td = row.insertCell(); td.textContent = String(text); if (cls) td.className = cls; return td; }
function fill(id, rows, render) { const body = document.querySelector('#' + id + ' tbody'); body.replaceChildren(); for (const r of rows) render(body.insertRow(), r); }
function left(s) { if (s <= 0) return 'expired'; const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60); return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm'; }
async function refresh() {
  let v;
  try { v = await (await fetch('status.json', { cache: 'no-store' })).json(); }
  catch (e) { document.getElementById('meta').textContent = 'status unavailable: ' + e; return; }
  document.getElementById('meta').textContent = 'listening on ' + v.listen + (v.tls ? ' (TLS)' : '') + ' · ' + v.workers + ' worker(s) · started ' + v.startedAt + ' · updated ' + v.generatedAt +
    ' · mode: ' + ['roundrobin', 'hash', 'stubborn'].map(k => (v.mode[k] ? '' : 'no ') + k).join(', ') + (v.mode.xForwardedFor ? ', X-Forwarded-For' : '');
  fill('servers', v.servers, (row, s) => {
    row.className = s.blacklisted > 0 ? 'down' : 'up';
    cell(row, s.emergency ? 'emergency' : s.index); cell(row, s.address);
    cell(row, s.blacklisted > 0 ? 'blacklisted ' + s.blacklisted + 's' : 'up', s.blacklisted > 0 ? 'bad state' : 'ok state');
    for (const k of ['conns', 'total', 'failures', 'maxc', 'hard', 'weight', 'prio', 'bytesToServer', 'bytesToClient']) cell(row, s[k], 'num');
  });
  fill('connections', [['active', v.connections.active], ['total', v.connections.total], ['refused (conn_max ' + v.limits.connMax + ')', v.connections.refused], ['no server available', v.connections.failed], ['clients tracked (max ' + v.limits.clientsMax + ')', v.clientsTracked]], (row, r) => { cell(row, r[0]); cell(row, r[1], 'num'); });
  fill('staples', v.staples, (row, s) => {
    cell(row, s.name + ' (' + s.certFile + ')');
    cell(row, s.stapling ? 'stapling ' + s.certStatus : 'not stapling', s.stapling ? 'ok staple-state' : 'bad staple-state');
    cell(row, s.nextUpdate || '-');
    const td = cell(row, '');
    const bar = document.createElement('span'); bar.className = 'bar'; bar.title = Math.round(s.fractionLeft * 100) + '% of the response lifetime left';
    const f = document.createElement('span'); f.className = 'fill' + (s.stapling ? (s.fractionLeft < 0.2 ? ' low' : '') : ' none'); f.style.width = (s.fractionLeft * 100).toFixed(1) + '%';
    bar.append(f); td.append(bar, ' ' + (s.stapling ? left(s.secondsLeft) : '-'));
    cell(row, s.staplingWorkers + '/' + v.workers, 'num');
    cell(row, s.lastRefusal ? s.lastRefusal.code + ': ' + s.lastRefusal.message : '', s.lastRefusal ? 'bad refusal' : 'refusal');
  });
  fill('clients', v.clients, (row, c) => { cell(row, c.address); cell(row, c.server === -1 ? 'emergency' : c.server); cell(row, c.conns, 'num'); cell(row, c.total, 'num'); cell(row, c.lastSeen); });
  document.body.dataset.loaded = 'true';
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;

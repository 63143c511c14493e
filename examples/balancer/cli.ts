/**
 * `npm run balancer -- [options] [host:]port backend ...`
 *
 * One process, or with --workers N a node:cluster primary that forks N workers sharing the
 * port. The primary then owns the control socket and the status page and sends every command
 * and every reload (SIGHUP) to every worker over IPC.
 */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { Balancer, type Snapshot } from './balancer.js';
import { execute, type Reply } from './commands.js';
import { readSecret, startControl } from './control.js';
import { parseOptions, USAGE, UsageError, type Options } from './options.js';
import { startStatus } from './status.js';

/** Messages between the primary and its workers. */
type ToWorker = { type: 'command'; id: number; line: string } | { type: 'snapshot'; id: number } | { type: 'reload'; id: number } | { type: 'drain' };
type ToPrimary = { type: 'ready'; address: string; port: number } | { type: 'reply'; id: number; reply: Reply } | { type: 'snapshot'; id: number; snapshot: Snapshot } | { type: 'fatal'; message: string };

const log = (message: string) => console.log(`balancer: ${message}`);

function options(): Options {
  try {
    const parsed = parseOptions(process.argv.slice(2));
    if (parsed === null) {
      console.log(USAGE);
      process.exit(0);
    }
    return parsed;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`balancer: ${err.message}\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
}

function fatal(err: unknown): never {
  console.error(`balancer: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

/** Ready line: tests and scripts read it to learn the ports (port 0 means "any free port"). */
function ready(o: Options, listen: string, control: net.Server | null, status: net.Server | null): void {
  const c = o.control === null ? '' : 'path' in o.control ? ` control=${o.control.path}` : ` control=${addressOf(control)}`;
  const s = status ? ` status=http://${addressOf(status)}/` : '';
  log(`ready listen=${listen} tls=${o.certFile !== null || o.sniDir !== null ? 'yes' : 'no'} workers=${o.workers}${c}${s}`);
}

function addressOf(server: net.Server | null): string {
  const a = server?.address();
  return a && typeof a === 'object' ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : '';
}

/** The TCP control socket's secret, read once at start; a bad secret file stops the start. */
function secretOf(o: Options): Buffer | null {
  if (o.controlSecret === null) return null;
  try {
    return readSecret(o.controlSecret);
  } catch (err) {
    return fatal(err);
  }
}

/**
 * --pidfile: the pid of this process, the one signals must go to. Written once ready, through a
 * temporary file and a rename so that a reader never sees half a pid. A file naming another live
 * process stops the start: two balancers would fight over it.
 */
function writePidFile(o: Options): void {
  if (o.pidFile === null) return;
  let old = NaN;
  try {
    old = Number(readFileSync(o.pidFile, 'utf8').trim());
  } catch {
    // none yet
  }
  if (Number.isSafeInteger(old) && old > 0 && old !== process.pid && alive(old)) fatal(new Error(`--pidfile ${o.pidFile}: process ${old} is running; is another balancer using this file?`));
  const temp = `${o.pidFile}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, `${process.pid}\n`, { mode: 0o644 });
    renameSync(temp, o.pidFile);
  } catch (err) {
    fatal(new Error(`--pidfile ${o.pidFile}: cannot write it (${(err as NodeJS.ErrnoException).code ?? String(err)})`));
  }
}

/** Removes the pidfile if it still names this process. */
function removePidFile(o: Options): void {
  if (o.pidFile === null) return;
  try {
    if (readFileSync(o.pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(o.pidFile);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeSocket(o: Options): void {
  if (o.control && 'path' in o.control) {
    try {
      unlinkSync(o.control.path);
    } catch {
      // already gone
    }
  }
}

async function single(o: Options): Promise<void> {
  const secret = secretOf(o);
  const balancer = await Balancer.create(o);
  const address = await balancer.listen();
  let stopping = false;
  let control: net.Server | null = null;
  let status: net.Server | null = null;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: draining ${balancer.active} connection(s)`);
    control?.close();
    removeSocket(o);
    status?.close();
    await balancer.drain(o.drainSec);
    removePidFile(o);
    log('stopped');
    process.exit(0);
  };
  const handle = async (line: string): Promise<Reply> => {
    const reply = await execute(balancer, line, o.allowExit);
    if (reply.ok && line.trim() === 'exit') setImmediate(() => void stop('exit'));
    return reply;
  };
  control = o.control ? await startControl(o.control, handle, secret) : null;
  status = o.status ? await startStatus(o.status, async () => [balancer.snapshot()]) : null;
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => {
    void balancer.certificates?.reloadAll().then(({ lines }) => lines.forEach((l) => log(`SIGHUP ${l}`)));
  });
  for (const r of balancer.certificates?.reports() ?? []) log(`ocsp ${r.name}: ${r.status ? (r.status.stapling ? `stapling until ${r.status.validUntil?.toISOString()}` : `not stapling (${r.status.lastRefusal?.code ?? 'no response yet'})`) : 'no OCSP file'}`);
  writePidFile(o);
  ready(o, `${address.address}:${address.port}`, control, status);
}

async function worker(o: Options): Promise<void> {
  const send = (message: ToPrimary) => process.send?.(message);
  let balancer: Balancer;
  try {
    balancer = await Balancer.create(o);
    const address = await balancer.listen();
    send({ type: 'ready', address: address.address, port: address.port });
  } catch (err) {
    send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  let draining = false;
  const drain = async () => {
    if (draining) return;
    draining = true;
    await balancer.drain(o.drainSec);
    process.exit(0);
  };
  // The primary decides when to stop: a Ctrl-C reaches the whole process group, and workers
  // must drain on the primary's word, not die on the spot.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void drain());
  process.on('SIGHUP', () => void balancer.certificates?.reloadAll());
  process.on('disconnect', () => void drain());
  process.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'command':
        void execute(balancer, message.line, o.allowExit).then((reply) => send({ type: 'reply', id: message.id, reply }));
        break;
      case 'snapshot':
        send({ type: 'snapshot', id: message.id, snapshot: balancer.snapshot() });
        break;
      case 'reload':
        void (balancer.certificates?.reloadAll() ?? Promise.resolve({ ok: true, lines: ['no certificates'] })).then(({ ok, lines }) =>
          send({ type: 'reply', id: message.id, reply: { ok, text: lines.join('\n'), data: { lines } } }),
        );
        break;
      case 'drain':
        void drain();
        break;
    }
  });
}

/**
 * Commands whose replies carry a worker's own counters or clients (connections, bytes, handshakes):
 * always one section per worker, even when the workers' replies read the same.
 */
function perWorker(line: string): boolean {
  const cmd = line.trim().split(/\s+/)[0];
  return cmd === 'servers' || cmd === 'server' || cmd === 'status' || cmd === 'recent' || cmd === 'ocsp';
}

/**
 * For commands whose effect a new worker must get too: what they set (later commands with the
 * same key replace earlier ones). Null for queries such as `servers`.
 */
function stateKey(line: string): string | null {
  const words = line.trim().split(/\s+/);
  const [cmd, ...args] = words;
  switch (cmd) {
    case 'ssl_ocsp_response':
      return words.join(' ');
    case 'server':
      return `server ${args[0]} ${args[1]}`;
    case 'roundrobin':
    case 'hash':
    case 'stubborn':
    case 'http':
      return cmd;
    case 'no':
      return args[0] ?? null;
    case 'blacklist':
    case 'clients_max':
    case 'conn_max':
    case 'timeout':
      return args.length > 0 ? cmd : null;
    default:
      return null;
  }
}

async function primary(o: Options): Promise<void> {
  const secret = secretOf(o);
  const workers = new Map<number, Worker>();
  // Replies awaited, by request id, with the worker asked: a worker that dies answers null.
  const pending = new Map<number, { worker: Worker; answer: (message: ToPrimary | null) => void }>();
  let nextId = 1;
  let stopping = false;
  let listen = '';
  let control: net.Server | null = null;
  let status: net.Server | null = null;

  // Commands that changed the workers' state, in order: replayed to a worker started to replace
  // one that died, so that it serves the same staples and settings as the others.
  const replay: string[] = [];

  const fork = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const w = cluster.fork();
      // IPC errors (a worker dying mid-send) are handled where we send; they must not kill the primary.
      w.on('error', () => {});
      w.on('message', (message: ToPrimary) => {
        if (message.type === 'ready') {
          listen = `${message.address}:${message.port}`;
          void (async () => {
            for (const line of replay) await askOne(w, (id) => ({ type: 'command', id, line }));
            workers.set(w.id, w);
            resolve(w);
          })();
        } else if (message.type === 'fatal') {
          reject(new Error(message.message));
        } else {
          pending.get(message.id)?.answer(message);
        }
      });
      w.on('exit', (code) => {
        workers.delete(w.id);
        for (const p of [...pending.values()]) if (p.worker === w) p.answer(null);
        reject(new Error(`worker exited with code ${code} before it was ready`));
        if (!stopping) {
          log(`worker ${w.process.pid} exited (code ${code}); starting another`);
          // A pause, so that a worker that cannot start does not spin the CPU.
          setTimeout(() => fork().catch((err: unknown) => log(`could not restart a worker: ${String(err)}`)), 1000).unref();
        }
      });
    });

  // Asks one worker; null if it does not answer within 10 s.
  const askOne = <T extends ToPrimary>(w: Worker, build: (id: number) => ToWorker): Promise<T | null> =>
    new Promise<T | null>((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(null);
      }, 10_000);
      const done = (message: T | null) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(message);
      };
      pending.set(id, { worker: w, answer: (message) => done(message as T | null) });
      // A worker that just died may still be listed until its 'exit': its channel is closed.
      if (!w.isConnected()) return done(null);
      w.send(build(id), undefined, (err) => {
        if (err) done(null);
      });
    });

  // Asks every worker; a worker that does not answer is reported, not waited for.
  const ask = <T extends ToPrimary>(build: (id: number) => ToWorker): Promise<{ pid: number; message: T | null }[]> =>
    Promise.all([...workers.values()].map(async (w) => ({ pid: w.process.pid ?? 0, message: await askOne<T>(w, build) })));

  const merge = (replies: { pid: number; message: { type: 'reply'; reply: Reply } | null }[], line = ''): Reply => {
    const list = replies.map((r) => ({ pid: r.pid, ...(r.message?.reply ?? { ok: false, text: 'error: the worker did not answer' }) }));
    if (list.length === 0) return { ok: false, text: 'error: no worker is running', data: { workers: [] } };
    // Counters are per worker: equal replies from N workers are N times the count, never one.
    const same = !perWorker(line) && list.every((r) => r.text === list[0]!.text);
    const text = same ? list[0]!.text : list.map((r, i) => `worker ${i + 1} (pid ${r.pid}):\n${r.text}`).join('\n');
    return { ok: list.every((r) => r.ok), text, data: { workers: list.map((r) => ({ pid: r.pid, ok: r.ok, data: r.data })) } };
  };

  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: draining ${workers.size} worker(s)`);
    control?.close();
    removeSocket(o);
    status?.close();
    await Promise.all([...workers.values()].map((w) => new Promise<void>((resolve) => {
      w.once('exit', () => resolve());
      w.send({ type: 'drain' } satisfies ToWorker);
    })));
    removePidFile(o);
    log('stopped');
    process.exit(0);
  };

  const handle = async (line: string): Promise<Reply> => {
    if (line.trim() === 'exit') {
      if (!o.allowExit) return { ok: false, text: 'error: exit is disabled; start the balancer with -X to allow it' };
      setImmediate(() => void stop('exit'));
      return { ok: true, text: 'exiting', data: { exiting: true } };
    }
    const reply = merge(await ask<{ type: 'reply'; id: number; reply: Reply }>((id) => ({ type: 'command', id, line })), line);
    const key = stateKey(line);
    if (reply.ok && key !== null) {
      // Only the last command of each kind matters: the log stays as small as the state.
      const earlier = replay.findIndex((l) => stateKey(l) === key);
      if (earlier >= 0) replay.splice(earlier, 1);
      replay.push(line.trim());
    }
    return reply;
  };

  // Each worker accepts from the shared listening socket itself. node:cluster's default on
  // Linux (SCHED_RR) has the primary accept every connection and pass it to a worker over IPC:
  // measured 1.5-1.6x the CPU per new connection of one process with 2 workers (bench/RESULTS.md).
  // The price: the kernel, not the primary, picks the worker, so the split is not round robin
  // (README.md, "Workers"). Must be set before the first fork. NODE_CLUSTER_SCHED_POLICY=rr in
  // the environment keeps node:cluster's round robin (the benchmark compares both).
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
  try {
    await Promise.all(Array.from({ length: o.workers }, fork));
  } catch (err) {
    stopping = true;
    for (const w of workers.values()) w.kill();
    fatal(err);
  }
  control = o.control ? await startControl(o.control, handle, secret) : null;
  status = o.status
    ? await startStatus(o.status, async () => {
        const snaps = await ask<{ type: 'snapshot'; id: number; snapshot: Snapshot }>((id) => ({ type: 'snapshot', id }));
        const got = snaps.flatMap((s) => (s.message ? [s.message.snapshot] : []));
        if (got.length === 0) throw new Error('no worker answered');
        return got;
      })
    : null;
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => {
    void ask<{ type: 'reply'; id: number; reply: Reply }>((id) => ({ type: 'reload', id })).then((replies) => {
      const r = merge(replies);
      log(`SIGHUP reloaded ${workers.size} worker(s): ${r.text.replace(/\n/g, '; ')}`);
    });
  });
  writePidFile(o);
  ready(o, listen, control, status);
}

const o = options();
if (o.workers > 1 && cluster.isPrimary) primary(o).catch(fatal);
else if (cluster.isWorker) worker(o).catch(fatal);
else single(o).catch(fatal);

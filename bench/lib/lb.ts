// Load balancers for bench/balancer.ts: the example balancer, Pen and HAProxy, all on 127.0.0.1.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './proc.js';
import { sleep } from './report.js';

const exec = promisify(execFile);

/** A free TCP port on 127.0.0.1 (closed again at once; fine on a quiet loopback). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  return typeof address === 'object' && address ? address.port : 0;
}

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${what} did not listen on 127.0.0.1:${port}`);
    await sleep(100);
  }
}

/** A server process started by the benchmark, stopped by its pid. */
export interface Running {
  readonly name: string;
  readonly port: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Kills a process that failed to start, then rethrows. */
function killOn(proc: ChildProcess): (err: unknown) => never {
  return (err) => {
    proc.kill('SIGKILL');
    throw err;
  };
}

function running(name: string, port: number, proc: ChildProcess): Running {
  proc.on('error', () => undefined);
  return {
    name,
    port,
    process: proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The files every load balancer gets: the same certificate, key and staple. */
export interface LbFiles {
  readonly dir: string;
  /** Leaf + intermediate. */
  readonly certFile: string;
  readonly keyFile: string;
  /** The DER staple. */
  readonly ocspFile: string;
  /** For HAProxy: leaf + intermediate + key, with `site.pem.ocsp` beside it. */
  readonly haproxyPem: string;
}

/** Copies the certificate, key and staple into `dir`, readable by Pen's `-u nobody`. */
export async function lbFiles(dir: string, pki: { certFile: string; keyFile: string; ocspFile: string }): Promise<LbFiles> {
  await mkdir(dir, { recursive: true });
  // Pen drops to nobody and reads the staple file then: every directory above must be searchable.
  await chmod(dir, 0o755);
  await chmod(dirname(dir), 0o755);
  const files = {
    dir,
    certFile: join(dir, 'cert.pem'),
    keyFile: join(dir, 'key.pem'),
    ocspFile: join(dir, 'cert.pem.ocsp'),
    haproxyPem: join(dir, 'site.pem'),
  };
  await copyFile(pki.certFile, files.certFile);
  await copyFile(pki.keyFile, files.keyFile);
  await copyFile(pki.ocspFile, files.ocspFile);
  await writeFile(files.haproxyPem, (await readFile(pki.certFile, 'utf8')) + (await readFile(pki.keyFile, 'utf8')));
  await copyFile(pki.ocspFile, `${files.haproxyPem}.ocsp`);
  for (const f of [files.certFile, files.keyFile, files.ocspFile, files.haproxyPem, `${files.haproxyPem}.ocsp`]) await chmod(f, 0o644);
  return files;
}

/** The HTTP backend: an HAProxy answering every request with a 2-byte body, keep-alive. */
export async function startBackend(dir: string): Promise<Running> {
  const port = await freePort();
  const cfg = join(dir, 'backend.cfg');
  await writeFile(cfg, `global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend backend
  bind 127.0.0.1:${port}
  http-request return status 200 content-type text/plain string ok
`);
  const proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 'the backend').catch(killOn(proc));
  return running('backend', port, proc);
}

/** HAProxy terminating TLS in TCP mode (like Pen and the balancer: bytes relayed after TLS), stapling `site.pem.ocsp`. */
export async function startHaproxy(files: LbFiles, backendPort: number, threads: number): Promise<Running> {
  const port = await freePort();
  const cfg = join(files.dir, `haproxy-${threads}.cfg`);
  await writeFile(cfg, `global
  nbthread ${threads}
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend tls
  bind 127.0.0.1:${port} ssl crt ${files.haproxyPem}
  default_backend http
backend http
  server b1 127.0.0.1:${backendPort}
`);
  const proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 'HAProxy').catch(killOn(proc));
  return running(`HAProxy nbthread ${threads}`, port, proc);
}

/** Pen 0.34 with `-E`/`-K`, its staple installed through the control port (`ssl_ocsp_response`). */
export async function startPen(files: LbFiles, backendPort: number): Promise<Running> {
  const port = await freePort();
  const control = await freePort();
  // -u nobody: Pen refuses a control port as root otherwise. -x/-c: room for 1,000 idle clients.
  const proc = spawn('pen', ['-f', '-u', 'nobody', '-x', '5000', '-c', '5000', '-E', files.certFile, '-K', files.keyFile, '-C', `127.0.0.1:${control}`, `127.0.0.1:${port}`, `127.0.0.1:${backendPort}`], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    await waitForPort(port, 'Pen');
    await waitForPort(control, 'Pen control port');
    await exec('penctl', [`127.0.0.1:${control}`, `ssl_ocsp_response ${files.ocspFile}`]);
  } catch (err) {
    killOn(proc)(err);
  }
  return running('Pen', port, proc);
}

/**
 * The example balancer, bundled once with esbuild into .tmp/bench (git-ignored; inside the
 * package, so that its \`import 'ocsp-stapler'\` resolves to dist/) and run with plain
 * `node` (as it would run in production; tsx's loader would add its own memory and start-up).
 */
export async function startBalancer(files: LbFiles, backendPort: number, workers: number, execArgv: string[] = []): Promise<Running> {
  const bundle = await balancerBundle();
  const port = await freePort();
  const args = [...execArgv, bundle, '-E', files.certFile, '-K', files.keyFile, '--ocsp', files.ocspFile, '-x', '5000', '-c', '5000', '--drain-timeout', '2', ...(workers > 1 ? ['--workers', String(workers)] : []), `127.0.0.1:${port}`, `127.0.0.1:${backendPort}`];
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the balancer did not start: ${out}`)), 20_000);
    proc.stdout!.on('data', (chunk: string) => {
      out += chunk;
      if (/balancer: ready/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`the balancer exited with ${code}: ${out}`)));
  }).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
  proc.stdout!.resume();
  // With --workers the workers log their staples after the primary's ready line; the clients'
  // stapled counts check every server anyway.
  if (workers === 1 && !/stapling until/.test(out)) {
    proc.kill('SIGKILL');
    throw new Error(`the balancer holds no staple: ${out}`);
  }
  return running(workers > 1 ? `balancer --workers ${workers}` : 'balancer', port, proc);
}

let bundled: Promise<string> | undefined;
function balancerBundle(): Promise<string> {
  bundled ??= (async () => {
    const out = join(ROOT, '.tmp', 'bench', 'balancer.mjs');
    await exec(join(ROOT, 'node_modules', '.bin', 'esbuild'), [
      join(ROOT, 'examples', 'balancer', 'cli.ts'),
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      '--packages=external',
      `--outfile=${out}`,
      '--log-level=warning',
    ]);
    return out;
  })();
  return bundled;
}

/** `pid` and all its descendants. */
async function tree(pid: number): Promise<Array<{ pid: number; rssBytes: number }>> {
  const { stdout } = await exec('ps', ['-e', '-o', 'pid=,ppid=,rss=']);
  const rows = stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number) as [number, number, number]);
  const children = new Map<number, number[]>();
  for (const [p, pp] of rows) children.set(pp, [...(children.get(pp) ?? []), p]);
  const rss = new Map(rows.map(([p, , r]) => [p, r]));
  const out: Array<{ pid: number; rssBytes: number }> = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    out.push({ pid: p, rssBytes: (rss.get(p) ?? 0) * 1024 });
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** RSS of `pid` and all its descendants, in bytes (from ps). */
export async function treeRss(pid: number): Promise<{ bytes: number; processes: number }> {
  const all = await tree(pid);
  return { bytes: all.reduce((a, p) => a + p.rssBytes, 0), processes: all.length };
}

// Linux clock ticks per second for /proc/PID/stat (USER_HZ; 100 on every mainstream kernel).
const TICKS = 100;

/** CPU time (user + system, all threads) used so far by `pid` and its descendants, in ms; `root`: by `pid` alone. */
export async function treeCpuMs(pid: number): Promise<{ total: number; root: number }> {
  let ms = 0;
  let root = 0;
  for (const { pid: p } of await tree(pid)) {
    try {
      const stat = await readFile(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the command: state is field 3, utime 14, stime 15 (1-based), i.e. index 11, 12 here.
      const used = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
      ms += used;
      if (p === pid) root = used;
    } catch {
      // exited meanwhile
    }
  }
  return { total: ms, root };
}

/** What wrk reports. */
export interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

function ms(value: string, unit: string): number {
  return Number(value) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1);
}

/** `wrk --latency` against https://127.0.0.1:port/ (keep-alive; wrk does not verify certificates). */
export async function wrk(port: number, seconds: number, threads: number, connections: number): Promise<WrkResult> {
  const { stdout } = await exec('wrk', [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', `https://127.0.0.1:${port}/`]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const p = (q: string) => {
    const m = new RegExp(`^\\s+${q}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(stdout);
    return m ? ms(m[1]!, m[2]!) : NaN;
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0);
  return { rps, p50ms: p('50'), p99ms: p('99'), errors };
}

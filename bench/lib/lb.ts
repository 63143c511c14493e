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

/** The global and defaults sections of the one-thread HAProxy in http mode (the backend, the HAProxy floor). */
const HTTP_HEAD = `global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
`;

/** The HTTP backend: an HAProxy answering every request with a 2-byte body, keep-alive. */
export async function startBackend(dir: string): Promise<Running> {
  const port = await freePort();
  const cfg = join(dir, 'backend.cfg');
  await writeFile(cfg, `${HTTP_HEAD}frontend backend
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

/**
 * HAProxy terminating TLS and answering every request itself (`http-request return`, no backend):
 * HAProxy's floor, as the Node floor is Node's. HAProxy's relay cost is HAProxy tcp minus this.
 */
export async function startHaproxyFloor(files: LbFiles): Promise<Running> {
  const port = await freePort();
  const cfg = join(files.dir, 'haproxy-floor.cfg');
  await writeFile(cfg, `${HTTP_HEAD}frontend tls
  bind 127.0.0.1:${port} ssl crt ${files.haproxyPem}
  http-request return status 200 content-type text/plain string ok
`);
  const proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 'HAProxy floor').catch(killOn(proc));
  return running('HAProxy floor', port, proc);
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

/** How to start the example balancer (bundled, run with plain node). */
export interface BalancerStart {
  readonly workers?: number;
  /** node:cluster's scheduling policy for --workers (the balancer's default is SCHED_NONE). */
  readonly schedulingPolicy?: 'none' | 'rr';
  /** A control socket path, to ask the workers for their counts. */
  readonly control?: string;
  readonly execArgv?: readonly string[];
  readonly name?: string;
}

export async function startBalancer(files: LbFiles, backendPort: number, how: BalancerStart = {}): Promise<Running> {
  const workers = how.workers ?? 1;
  const file = await bundle('examples/balancer/cli.ts', 'balancer.mjs');
  const port = await freePort();
  const args = [...(how.execArgv ?? []), file, '-E', files.certFile, '-K', files.keyFile, '--ocsp', files.ocspFile, '-x', '5000', '-c', '5000', '--drain-timeout', '2', ...(how.control ? ['-C', how.control] : []), ...(workers > 1 ? ['--workers', String(workers)] : []), `127.0.0.1:${port}`, `127.0.0.1:${backendPort}`];
  const env = { ...process.env };
  delete env.NODE_CLUSTER_SCHED_POLICY;
  if (how.schedulingPolicy) env.NODE_CLUSTER_SCHED_POLICY = how.schedulingPolicy;
  const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
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
  return running(how.name ?? (workers > 1 ? `balancer --workers ${workers}` : 'balancer'), port, proc);
}

/**
 * bench/lib/min-proxy.ts, bundled and run with plain node: `proxy` (the minimal Node proxy) or
 * `floor` (the Node server answering by itself).
 */
export async function startMinNode(files: LbFiles, backendPort: number, mode: 'proxy' | 'floor', execArgv: readonly string[] = []): Promise<Running> {
  const file = await bundle('bench/lib/min-proxy.ts', 'min-proxy.mjs');
  const port = await freePort();
  const proc = spawn(process.execPath, [...execArgv, file, mode, files.certFile, files.keyFile, files.ocspFile, String(port), String(backendPort)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  proc.stdout!.setEncoding('utf8');
  const [line] = (await Promise.race([once(proc.stdout!, 'data'), once(proc, 'exit').then(() => [''])])) as [string];
  if (!/^ready stapling/.test(line)) {
    proc.kill('SIGKILL');
    throw new Error(`${mode}: ${line || 'exited'}`);
  }
  proc.stdout!.resume();
  return running(mode === 'proxy' ? 'minimal Node proxy' : 'Node floor', port, proc);
}

const bundles = new Map<string, Promise<string>>();
/**
 * `source` bundled once with esbuild into .tmp/bench (git-ignored; inside the package, so that
 * its `import 'ocsp-stapler'` resolves to dist/), to run with plain `node` as in production
 * (tsx's loader would add its own memory and start-up).
 */
function bundle(source: string, name: string): Promise<string> {
  let done = bundles.get(name);
  if (!done) {
    done = (async () => {
      const out = join(ROOT, '.tmp', 'bench', name);
      await exec(join(ROOT, 'node_modules', '.bin', 'esbuild'), [join(ROOT, source), '--bundle', '--platform=node', '--format=esm', '--target=node20', '--packages=external', `--outfile=${out}`, '--log-level=warning']);
      return out;
    })();
    bundles.set(name, done);
  }
  return done;
}

/**
 * The balancer as an operator meets it: staple files that are FIFOs, devices or PEM; certificate
 * and key files mixed up; the pidfile and signals to the node process; the TCP control socket's
 * opt-in and secret; real counts in every status output; per-worker replies.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { CLI_ARGV, CTL_ARGV, ROOT, get, handshake, startBackends, startBalancer, waitFor, type Backend, type BalancerProcess } from './fixtures/balancer.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let rootCa: Buffer;
let good: Buffer;
let goodFile: string;
let backends: Backend[];
const running: BalancerProcess[] = [];

before(async () => {
  pki = makePki();
  rootCa = readFileSync(pki.root.cert);
  good = pki.respond();
  goodFile = pki.file(good, 'ops-good.der');
  backends = await startBackends(1);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((b) => b.stop()));
});
after(async () => {
  await Promise.all(backends.map((b) => b.kill()));
  pki.remove();
});

async function balancer(args: string[]): Promise<BalancerProcess> {
  const b = await startBalancer([...args, '127.0.0.1:0', ...backends.map((be) => `127.0.0.1:${be.port}`)]);
  running.push(b);
  return b;
}

const tlsArgs = (ocsp: string = goodFile) => ['-E', pki.leaf.chain, '-K', pki.leaf.key, '--ocsp', ocsp];

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000, cwd: ROOT }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe('balancer: staple files an operator gets wrong', () => {
  it('ssl_ocsp_response with a FIFO or /dev/zero is refused at once, and the balancer keeps serving its staple', async () => {
    const b = await balancer(tlsArgs());
    const fifo = join(pki.dir, 'ops.fifo');
    execFileSync('mkfifo', [fifo]);
    for (const file of [fifo, '/dev/zero']) {
      // No writer ever opens the FIFO: a blocking read would hang this command and every later one.
      const reply = await b.command(`ssl_ocsp_response ${file}`);
      assert.equal(reply.ok, false, reply.text);
      assert.match(reply.text, /refused ERR_OCSP_FILE_READ: the OCSP response file is not a regular file; expected a regular file; found a special file/);
      assert.match(reply.text, /no staple changed \(default: the previous staple stays/);
      assert.deepEqual((await handshake(b.port, rootCa)).staple, good);
    }
    assert.equal((await b.command('servers')).ok, true);
  });

  it('a PEM response file gets "this is PEM; a DER file is expected" with a conversion that works', async () => {
    const b = await balancer(tlsArgs());
    const fresh = pki.respond({ validMinutes: 100 });
    const pem = pki.file(`-----BEGIN OCSP RESPONSE-----\n${fresh.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END OCSP RESPONSE-----\n`, 'ops-response.pem');
    const reply = await b.command(`ssl_ocsp_response ${pem}`);
    assert.equal(reply.ok, false);
    assert.match(reply.text, /ERR_OCSP_MALFORMED: this is PEM; a DER file is expected; expected the DER bytes of the OCSPResponse \(convert with `openssl base64 -d -in FILE\.pem -out FILE\.der`/);
    // The conversion the message gives, done by openssl, gives a file the balancer staples.
    const der = join(pki.dir, 'ops-response.der');
    execFileSync('openssl', ['base64', '-d', '-in', pem, '-out', der]);
    const converted = await b.command(`ssl_ocsp_response ${der}`);
    assert.equal(converted.ok, true, converted.text);
    assert.deepEqual((await handshake(b.port, rootCa)).staple, fresh);
    // A certificate given as the staple file is named for what it is.
    const cert = await b.command(`ssl_ocsp_response ${pki.leaf.cert}`);
    assert.match(cert.text, /this is PEM; a DER file is expected; .*found a PEM "CERTIFICATE" block, not an OCSP response/);
  });
});

describe('balancer: certificate files', () => {
  it('-E and -K swapped: exits 1 naming both files, not with a raw OpenSSL error', async () => {
    const { code, out } = await run(process.execPath, [...CLI_ARGV, '-E', pki.leaf.key, '-K', pki.leaf.chain, '127.0.0.1:0', '127.0.0.1:1']);
    assert.equal(code, 1, out);
    assert.ok(out.includes(pki.leaf.key) && out.includes(pki.leaf.chain), out);
    assert.match(out, /-E and -K look swapped/);
    assert.doesNotMatch(out, /routines::/);
  });

  it('a key that is not the certificate\'s: exits 1 naming both files', async () => {
    const { code, out } = await run(process.execPath, [...CLI_ARGV, '-E', pki.leaf.chain, '-K', pki.leaf2.key, '127.0.0.1:0', '127.0.0.1:1']);
    assert.equal(code, 1, out);
    assert.match(out, new RegExp(`cannot use ${pki.leaf.chain.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} with the key ${pki.leaf2.key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the key is not the certificate's`));
  });

  it('an --sni-dir certificate without its issuer: exits 1 naming the file', async () => {
    const dir = join(pki.dir, 'ops-sni');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'a.test.pem'), readFileSync(pki.leaf.cert));
    writeFileSync(join(dir, 'a.test.key'), readFileSync(pki.leaf.key));
    const { code, out } = await run(process.execPath, [...CLI_ARGV, '--sni-dir', dir, '127.0.0.1:0', '127.0.0.1:1']);
    assert.equal(code, 1, out);
    assert.ok(out.includes(join(dir, 'a.test.pem')), out);
  });
});

/** One raw exchange with a control socket: what a non-balancerctl client (socat, nc) sees. */
function rawControl(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(text));
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (reply += c));
    socket.on('close', () => resolve(reply));
    socket.on('error', reject);
  });
}

describe('balancer: TCP control socket', () => {
  const SECRET = 'correct-horse-battery-staple-42';

  it('is refused without --control-tcp and --control-secret, and with a secret file others can read', async () => {
    const bare = await run(process.execPath, [...CLI_ARGV, '-C', '127.0.0.1:0', '127.0.0.1:0', '127.0.0.1:1']);
    assert.equal(bare.code, 2, bare.out);
    assert.match(bare.out, /needs --control-tcp and --control-secret FILE/);
    const file = join(pki.dir, 'loose.secret');
    writeFileSync(file, `${SECRET}\n`);
    chmodSync(file, 0o644);
    const loose = await run(process.execPath, [...CLI_ARGV, '-C', '127.0.0.1:0', '--control-tcp', '--control-secret', file, '127.0.0.1:0', '127.0.0.1:1']);
    assert.equal(loose.code, 1, loose.out);
    assert.match(loose.out, /readable or writable by group or others \(mode 0644\); run chmod 600/);
    chmodSync(file, 0o640);
    assert.equal((await run(process.execPath, [...CLI_ARGV, '-C', '127.0.0.1:0', '--control-tcp', '--control-secret', file, '127.0.0.1:0', '127.0.0.1:1'])).code, 1);
    writeFileSync(join(pki.dir, 'short.secret'), 'short\n', { mode: 0o600 });
    const short = await run(process.execPath, [...CLI_ARGV, '-C', '127.0.0.1:0', '--control-tcp', '--control-secret', join(pki.dir, 'short.secret'), '127.0.0.1:0', '127.0.0.1:1']);
    assert.match(short.out, /shorter than 16 characters/);
  });

  it('runs no command without the shared secret, and every command with it', async () => {
    const file = join(pki.dir, 'control.secret');
    writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    const b = await balancer(['-C', '127.0.0.1:0', '--control-tcp', '--control-secret', file]);
    const port = Number(b.control.split(':')[1]);
    // Without the secret, a command that would move backend 0 to the caller's port does nothing.
    for (const attempt of ['server 0 port 9\n', 'wrong-secret-wrong-secret\nserver 0 port 9\n', `${JSON.stringify({ command: 'server 0 port 9' })}\n`, `${JSON.stringify({ command: 'server 0 port 9', secret: 'nope' })}\n`]) {
      assert.match(await rawControl(port, attempt), /needs the shared secret/);
    }
    b.secret = Buffer.from(SECRET);
    assert.match((await b.command('servers')).text, new RegExp(`^0 addr 127\\.0\\.0\\.1 port ${backends[0]!.port} `, 'm'));
    // With it: the Pen-style plain-text form (secret line, command line) and balancerctl.
    assert.equal(await rawControl(port, `${SECRET}\nmode\n`), 'no roundrobin no hash no stubborn no http\n');
    const ctl = await run(process.execPath, [...CTL_ARGV, '--secret-file', file, b.control, 'mode']);
    assert.equal(ctl.code, 0, ctl.out);
    assert.equal(ctl.out.trim(), 'no roundrobin no hash no stubborn no http');
    const noSecret = await run(process.execPath, [...CTL_ARGV, b.control, 'mode']);
    assert.equal(noSecret.code, 2);
    assert.match(noSecret.out, /--secret-file/);
  });
});

describe('balancer: pidfile and signals to the node process', () => {
  it('writes the pid of the process that handles signals; SIGHUP to it reloads; SIGTERM removes the file', async () => {
    const pidFile = join(pki.dir, 'balancer.pid');
    const file = pki.file(good, 'ops-hup.der');
    // Started as the README says: node --import tsx examples/balancer/cli.ts (no npm in between).
    const b = await balancer([...tlsArgs(file), '--pidfile', pidFile]);
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    assert.equal(pid, b.child.pid);
    // A second balancer on the same pidfile is refused while the first runs.
    const second = await run(process.execPath, [...CLI_ARGV, '--pidfile', pidFile, '127.0.0.1:0', '127.0.0.1:1']);
    assert.equal(second.code, 1, second.out);
    assert.match(second.out, new RegExp(`process ${pid} is running`));
    const fresh = pki.respond({ validMinutes: 80 });
    writeFileSync(file, fresh);
    process.kill(pid, 'SIGHUP');
    await waitFor(async () => (await handshake(b.port, rootCa)).staple?.equals(fresh) === true, 10_000, 'the SIGHUP reload');
    assert.match(b.output, /SIGHUP default: stapling until/);
    assert.equal(await b.stop(), 0);
    assert.equal(existsSync(pidFile), false);
  });
});

describe('balancer: real counts', () => {
  it('status, status.json and /metrics count every tracked client, not the 200 listed', async () => {
    const b = await balancer(['-c', '4096', '--status', '127.0.0.1:0']);
    const CLIENTS = 260;
    for (let i = 0; i < CLIENTS; i++) await get(b.port, { localAddress: `127.0.${1 + Math.floor(i / 200)}.${1 + (i % 200)}` });
    const view = (await (await fetch(`${b.statusUrl}status.json`)).json()) as { clientsTracked: number; clients: unknown[] };
    assert.equal(view.clientsTracked, CLIENTS);
    assert.equal(view.clients.length, 200);
    const metrics = await (await fetch(`${b.statusUrl}metrics`)).text();
    assert.match(metrics, new RegExp(`^balancer_clients_tracked ${CLIENTS}$`, 'm'));
    assert.match((await b.command('status')).text, new RegExp(`clients tracked: ${CLIENTS} of 4096`));
  });

  it('--workers: replies that carry counters are one section per worker, even when they read the same', async () => {
    const b = await balancer(['--workers', '2']);
    for (const command of ['servers', 'status', 'ocsp']) {
      const reply = await b.command(command);
      assert.equal(reply.text.match(/^worker [12] \(pid \d+\):$/gm)?.length, 2, `${command}: ${reply.text}`);
    }
    // Settings are not counters: equal replies still read once.
    assert.equal((await b.command('conn_max')).text, '500');
  });
});

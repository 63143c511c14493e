/**
 * The balancer as a TLS terminator that staples: curl --cert-status (which verifies the staple),
 * openssl s_client and Node clients through the balancer to real HTTP backends; staple changes
 * through the control socket, SIGHUP, SNI, and --workers.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { CLI_ARGV, CTL_ARGV, ROOT, handshake, get, socketPath, startBackends, startBalancer, waitFor, type Backend, type BalancerProcess } from './fixtures/balancer.js';
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
  goodFile = pki.file(good, 'good.der');
  backends = await startBackends(2);
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

function run(cmd: string, args: string[], input = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 30_000, cwd: ROOT }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
    child.stdin?.end(input);
  });
}

const curl = (port: number) =>
  run('curl', ['--silent', '--show-error', '--cert-status', '--cacert', pki.root.cert, '--resolve', `localhost:${port}:127.0.0.1`, `https://localhost:${port}/`]);

const ctl = (b: BalancerProcess, ...command: string[]) => run(process.execPath, [...CTL_ARGV, b.control, ...command]);

describe('balancer: TLS with a staple', () => {
  it('serves the backends over TLS with a staple that curl --cert-status verifies', async () => {
    const b = await balancer(tlsArgs());
    const result = await curl(b.port);
    assert.equal(result.code, 0, result.out);
    assert.equal(JSON.parse(result.out).backend, 0);
    const shake = await handshake(b.port, rootCa);
    assert.deepEqual(shake.staple, good);
    assert.equal((await get(b.port, { ca: rootCa, localAddress: '127.0.0.2' })).backend, 1);
  });

  it('is seen by openssl s_client -status', async () => {
    const b = await balancer(tlsArgs());
    const result = await run('openssl', ['s_client', '-connect', `127.0.0.1:${b.port}`, '-servername', 'localhost', '-status'], '');
    assert.match(result.out, /OCSP Response Status: successful/);
    assert.match(result.out, /Cert Status: good/);
  });

  it('staples nothing for a file it refuses, so curl --cert-status fails', async () => {
    const revoked = pki.file(pki.respond({ status: 'revoked' }), 'revoked.der');
    const b = await balancer(tlsArgs(revoked));
    assert.match(b.output, /ocsp default: not stapling \(ERR_OCSP_REVOKED\)/);
    const result = await curl(b.port);
    assert.equal(result.code, 91, result.out);
  });

  it('keeps the good staple when ssl_ocsp_response names a bad file, and says so', async () => {
    const b = await balancer(tlsArgs());
    const revoked = pki.file(pki.respond({ status: 'revoked' }), 'revoked2.der');
    const garbage = pki.file(Buffer.from('not an OCSP response'), 'garbage.der');
    const other = pki.file(pki.respond({ certs: [pki.leaf2] }), 'other.der');
    const expectations: [string, RegExp][] = [
      [revoked, /ERR_OCSP_REVOKED/],
      [garbage, /ERR_OCSP_MALFORMED/],
      [other, /ERR_OCSP_CERTID_MISMATCH/],
      [join(pki.dir, 'missing.der'), /ERR_OCSP_FILE_READ/],
    ];
    for (const [file, code] of expectations) {
      const reply = await b.command(`ssl_ocsp_response ${file}`);
      assert.equal(reply.ok, false, reply.text);
      assert.match(reply.text, code);
      assert.match(reply.text, /the previous staple stays \(stapling until \d{4}-/);
      assert.deepEqual((await handshake(b.port, rootCa)).staple, good);
    }
    // balancerctl prints the same and exits 1.
    const result = await ctl(b, 'ssl_ocsp_response', revoked);
    assert.equal(result.code, 1);
    assert.match(result.out, /refused ERR_OCSP_REVOKED.*previous staple stays/);
    assert.equal((await curl(b.port)).code, 0);
  });

  it('switches to a good file given by ssl_ocsp_response and answers until when it staples', async () => {
    const b = await balancer(tlsArgs());
    const fresh = pki.respond({ validMinutes: 120 });
    const file = pki.file(fresh, 'fresh.der');
    const result = await ctl(b, 'ssl_ocsp_response', file);
    assert.equal(result.code, 0, result.out);
    const until = /stapling until (\S+)/.exec(result.out)![1]!;
    const minutes = (Date.parse(until) - Date.now()) / 60_000;
    assert.ok(minutes > 100 && minutes <= 121, `nextUpdate ${until}`);
    assert.deepEqual((await handshake(b.port, rootCa)).staple, fresh);
    const ocsp = await run(process.execPath, [...CTL_ARGV, '--json', b.control, 'ocsp']);
    const data = JSON.parse(ocsp.out) as { ok: boolean; staples: { name: string; status: { ocspFile: string; stapling: boolean } }[] };
    assert.equal(data.ok, true);
    assert.equal(data.staples[0]!.status.ocspFile, file);
    assert.equal(data.staples[0]!.status.stapling, true);
  });

  it('re-reads the staple file on SIGHUP, and keeps the old staple if the new file is bad', async () => {
    const file = pki.file(good, 'hup.der');
    const b = await balancer(tlsArgs(file));
    writeFileSync(file, 'garbage');
    b.child.kill('SIGHUP');
    await waitFor(() => /SIGHUP default: refused ERR_OCSP_MALFORMED/.test(b.output), 10_000, 'the SIGHUP refusal');
    assert.deepEqual((await handshake(b.port, rootCa)).staple, good);
    const fresh = pki.respond({ validMinutes: 90 });
    writeFileSync(file, fresh);
    b.child.kill('SIGHUP');
    await waitFor(async () => (await handshake(b.port, rootCa)).staple?.equals(fresh) ?? false, 10_000, 'the new staple');
    assert.match(b.output, /SIGHUP default: stapling until/);
  });

  it('serves and staples one certificate per name from --sni-dir', async () => {
    const dir = join(pki.dir, 'sni');
    mkdirSync(dir);
    copyFileSync(pki.leaf2.chain, join(dir, 'second.test.pem'));
    copyFileSync(pki.leaf2.key, join(dir, 'second.test.key'));
    const second = pki.respond({ certs: [pki.leaf2] });
    writeFileSync(join(dir, 'second.test.pem.ocsp'), second);
    copyFileSync(pki.mustStaple.chain, join(dir, 'third.test.pem'));
    copyFileSync(pki.mustStaple.key, join(dir, 'third.test.key'));
    // A certificate without its key is skipped, not fatal.
    copyFileSync(pki.leaf.chain, join(dir, 'lonely.test.pem'));
    const b = await balancer([...tlsArgs(), '--sni-dir', dir]);
    const byDefault = await handshake(b.port, rootCa, 'localhost');
    assert.equal(byDefault.serial, pki.leaf.serial);
    assert.deepEqual(byDefault.staple, good);
    const bySni = await handshake(b.port, rootCa, 'second.test');
    assert.equal(bySni.serial, pki.leaf2.serial);
    assert.deepEqual(bySni.staple, second);
    // third.test has no .ocsp file yet: its certificate, no staple; then ssl_ocsp_response finds it.
    const third = await handshake(b.port, rootCa, 'third.test');
    assert.equal(third.serial, pki.mustStaple.serial);
    assert.equal(third.staple, null);
    const thirdResponse = pki.respond({ certs: [pki.mustStaple] });
    const reply = await b.command(`ssl_ocsp_response ${pki.file(thirdResponse, 'third.der')}`);
    assert.match(reply.text, /^third\.test: stapling until /);
    assert.deepEqual((await handshake(b.port, rootCa, 'third.test')).staple, thirdResponse);
    const ocsp = await b.command('ocsp');
    assert.match(ocsp.text, /^default .*: stapling until/m);
    assert.match(ocsp.text, /^second\.test .*: stapling until/m);
    assert.match(ocsp.text, /^third\.test .*: stapling until/m);
    assert.doesNotMatch(ocsp.text, /lonely/);
  });
});

describe('balancer: control socket', () => {
  it('is a Unix socket with mode 0600', async () => {
    const b = await balancer(tlsArgs());
    const st = statSync(b.control);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  it('answers bad input with errors and keeps running', async () => {
    const b = await balancer([...tlsArgs(), '-x', '50']);
    const raw = (bytes: string | Buffer) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect({ path: b.control }, () => socket.end(bytes));
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (c: string) => (text += c));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
    assert.match(await raw('x'.repeat(100_000)), /^error: command longer than 4096 bytes/);
    assert.match(await raw(Buffer.from([0, 255, 254, 10])), /^error: unknown command/);
    assert.match(await raw('\n'), /^error: empty command/);
    assert.match(await raw('{"command": 5}\n'), /"ok":false/);
    assert.match(await raw('{not json\n'), /"ok":false/);
    for (const bad of ['server', 'server 9 weight 1', 'server 0 weight -1', 'server 0 flavour 2', 'blacklist x', 'conn_max 0', 'recent 1 2', 'no', 'no thing', 'ssl_ocsp_response', 'exit']) {
      const reply = await b.command(bad);
      assert.equal(reply.ok, false, `${bad}: ${reply.text}`);
      assert.match(reply.text, /^error: /);
    }
    // Plain text, Pen style, with no JSON.
    assert.match(await raw('conn_max\n'), /^50\n$/);
    assert.equal((await b.command('server 1 weight 5')).ok, true);
    assert.match((await b.command('servers')).text, /^1 .* weight 5 /m);
    assert.equal((await curl(b.port)).code, 0);
    assert.equal(b.child.exitCode, null);
  });

  it('runs exit only with -X, and then exits 0', async () => {
    const b = await balancer([...tlsArgs(), '-X']);
    const result = await ctl(b, 'exit');
    assert.equal(result.code, 0, result.out);
    assert.equal(await b.exited(), 0);
  });

  it('listens on TCP only on loopback, and only when asked', async () => {
    const refused = await run(process.execPath, [...CLI_ARGV, '-C', '192.0.2.1:9999', '127.0.0.1:0', '127.0.0.1:1']);
    assert.equal(refused.code, 2);
    assert.match(refused.out, /loopback/);
    // TCP needs the opt-in and a shared secret (test/balancer-ops.test.ts checks both).
    const secretFile = join(pki.dir, 'control.secret');
    writeFileSync(secretFile, 'a-shared-secret-of-some-length\n', { mode: 0o600 });
    const b = await balancer([...tlsArgs(), '-C', '127.0.0.1:0', '--control-tcp', '--control-secret', secretFile]);
    b.secret = Buffer.from('a-shared-secret-of-some-length');
    assert.match(b.control, /^127\.0\.0\.1:\d+$/);
    assert.equal((await b.command('mode')).text, 'no roundrobin no hash no stubborn no http');
  });
});

describe('balancer: --workers', () => {
  it('sends ssl_ocsp_response and SIGHUP reloads to every worker', async () => {
    const revoked = pki.file(pki.respond({ status: 'revoked' }), 'w-revoked.der');
    const b = await balancer([...tlsArgs(revoked), '--workers', '2', '-C', socketPath(), '--status', '127.0.0.1:0']);
    type Workers = { workers: { pid: number; ok: boolean; data: { staples: { status: { stapling: boolean; nextUpdate: string } }[] } }[] };
    const ocsp = async () => (await b.command('ocsp')).data as Workers;
    assert.equal((await ocsp()).workers.length, 2);
    assert.ok((await ocsp()).workers.every((w) => !w.data.staples[0]!.status.stapling));
    assert.equal((await curl(b.port)).code, 91);

    const file = pki.file(good, 'w-good.der');
    const reply = await b.command(`ssl_ocsp_response ${file}`);
    assert.equal(reply.ok, true, reply.text);
    const data = reply.data as { workers: { pid: number; ok: boolean }[] };
    assert.equal(data.workers.length, 2);
    assert.equal(new Set(data.workers.map((w) => w.pid)).size, 2);
    assert.ok((await ocsp()).workers.every((w) => w.data.staples[0]!.status.stapling));
    // Connections are spread over both workers: every one gets the staple.
    for (let i = 0; i < 8; i++) {
      const result = await curl(b.port);
      assert.equal(result.code, 0, `${result.out}\n${b.output}`);
    }

    const fresh = pki.respond({ validMinutes: 75 });
    writeFileSync(file, fresh);
    const primary = b.child.pid!;
    process.kill(primary, 'SIGHUP');
    await waitFor(async () => (await ocsp()).workers.every((w) => Math.abs(Date.parse(w.data.staples[0]!.status.nextUpdate) - Date.now() - 75 * 60_000) < 5 * 60_000), 20_000, 'both workers to reload').catch(async (err: Error) => {
      throw new Error(`${err.message}\n${JSON.stringify(await ocsp())}\n${b.output}`);
    });
    for (let i = 0; i < 6; i++) assert.deepEqual((await handshake(b.port, rootCa)).staple, fresh);
    // The primary's status page merges both workers: 8 curl and 6 Node connections at least.
    const view = (await (await fetch(`${b.statusUrl}status.json`)).json()) as { workers: number; pids: number[]; connections: { total: number }; staples: { staplingWorkers: number }[] };
    assert.equal(view.workers, 2);
    assert.equal(new Set(view.pids).size, 2);
    assert.equal(view.staples[0]!.staplingWorkers, 2);
    assert.ok(view.connections.total >= 14, `total ${view.connections.total}`);
    assert.equal(await b.stop(), 0);
  });

  it('replaces a worker that dies, with the staple file and settings the others have', async () => {
    const b = await balancer([...tlsArgs(), '--workers', '2']);
    const fresh = pki.respond({ validMinutes: 45 });
    const file = pki.file(fresh, 'w-fresh.der');
    assert.equal((await b.command(`ssl_ocsp_response ${file}`)).ok, true);
    assert.equal((await b.command('server 1 weight 7')).ok, true);
    assert.equal((await b.command('conn_max 77')).ok, true);
    type Workers = { workers: { pid: number; data: { staples: { status: { ocspFile: string } }[] } }[] };
    const before = ((await b.command('ocsp')).data as Workers).workers.map((w) => w.pid);
    process.kill(before[0]!, 'SIGKILL');
    await waitFor(async () => {
      const pids = ((await b.command('ocsp')).data as Workers).workers.map((w) => w.pid);
      return pids.length === 2 && !pids.includes(before[0]!);
    }, 15_000, 'a new worker');
    const ocsp = (await b.command('ocsp')).data as Workers;
    assert.deepEqual(ocsp.workers.map((w) => w.data.staples[0]!.status.ocspFile), [file, file]);
    const servers = await b.command('servers');
    assert.ok(servers.ok);
    assert.match(servers.text, /^1 .* weight 7 /m);
    // One section per worker (their counters are their own); both have the replayed weight.
    assert.equal(servers.text.match(/^1 .* weight 7 /gm)?.length, 2, servers.text);
    assert.doesNotMatch(servers.text, /^1 .* weight (?!7 )/m, 'the workers disagree on the servers');
    assert.equal((await b.command('conn_max')).text, '77');
    for (let i = 0; i < 6; i++) assert.deepEqual((await handshake(b.port, rootCa)).staple, fresh);
  });
});

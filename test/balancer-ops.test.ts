/**
 * The balancer as an operator meets it: staple files that are FIFOs, devices or PEM; certificate
 * and key files mixed up; the pidfile and signals to the node process; the TCP control socket's
 * opt-in and secret; real counts in every status output; per-worker replies.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { CLI, ROOT, handshake, startBackends, startBalancer, type Backend, type BalancerProcess } from './fixtures/balancer.js';
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
      assert.match(reply.text, /refused ERR_OCSP_FILE_READ: the OCSP response path is not a regular file/);
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
    const { code, out } = await run(process.execPath, ['--import', 'tsx', CLI, '-E', pki.leaf.key, '-K', pki.leaf.chain, '127.0.0.1:0', '127.0.0.1:1']);
    assert.equal(code, 1, out);
    assert.ok(out.includes(pki.leaf.key) && out.includes(pki.leaf.chain), out);
    assert.match(out, /-E and -K look swapped/);
    assert.doesNotMatch(out, /routines::/);
  });

  it('a key that is not the certificate\'s: exits 1 naming both files', async () => {
    const { code, out } = await run(process.execPath, ['--import', 'tsx', CLI, '-E', pki.leaf.chain, '-K', pki.leaf2.key, '127.0.0.1:0', '127.0.0.1:1']);
    assert.equal(code, 1, out);
    assert.match(out, new RegExp(`cannot use ${pki.leaf.chain.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} with the key ${pki.leaf2.key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the key is not the certificate's`));
  });

  it('an --sni-dir certificate without its issuer: exits 1 naming the file', async () => {
    const dir = join(pki.dir, 'ops-sni');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'a.test.pem'), readFileSync(pki.leaf.cert));
    writeFileSync(join(dir, 'a.test.key'), readFileSync(pki.leaf.key));
    const { code, out } = await run(process.execPath, ['--import', 'tsx', CLI, '--sni-dir', dir, '127.0.0.1:0', '127.0.0.1:1']);
    assert.equal(code, 1, out);
    assert.ok(out.includes(join(dir, 'a.test.pem')), out);
  });
});

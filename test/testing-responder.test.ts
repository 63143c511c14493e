/**
 * startOcspResponder, with `openssl ocsp -url` as the client: what a real fetcher would send
 * and check. Loopback only.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createOcspErrorResponse, createTestCa, startOcspResponder, type OcspResponder, type TestCa, type TestCertificate } from '../src/testing/index.js';

const run = promisify(execFile);
let dir: string;
let ca: TestCa;
let responder: OcspResponder;
let leaf: TestCertificate;
let revoked: TestCertificate;
const files: Record<string, string> = {};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ocsp-stapler-responder-'));
  ca = await createTestCa();
  responder = await startOcspResponder({ ca });
  leaf = await ca.issueCertificate({ ocspUrl: responder.url });
  revoked = await ca.issueCertificate({ ocspUrl: responder.url });
  const write = (name: string, text: string) => {
    files[name] = join(dir, name);
    writeFileSync(files[name], text);
  };
  write('root.pem', ca.root.cert);
  write('issuer.pem', ca.issuer.cert);
  write('leaf.pem', leaf.cert);
  write('revoked.pem', revoked.cert);
});
after(async () => {
  await responder.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `openssl ocsp -url` about `cert`: sends a request with a nonce and verifies the answer. */
async function ask(cert: string | string[], extra: string[] = [], url = responder.url): Promise<{ code: number; out: string }> {
  const certs = (Array.isArray(cert) ? cert : [cert]).flatMap((c) => ['-cert', c]);
  try {
    const { stdout, stderr } = await run('openssl', ['ocsp', '-url', url, '-issuer', files['issuer.pem']!, ...extra, ...certs,
      '-CAfile', files['root.pem']!, '-verify_other', files['issuer.pem']!, '-timeout', '10']);
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('startOcspResponder', () => {
  it('listens on 127.0.0.1 only, on a free port', () => {
    assert.match(responder.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers good for a certificate the CA issued, with the nonce echoed and a signature openssl verifies', async () => {
    const { code, out } = await ask(files['leaf.pem']!);
    assert.equal(code, 0, out);
    assert.match(out, /Response verify OK/);
    assert.match(out, /leaf\.pem: good/);
    assert.doesNotMatch(out, /WARNING/); // no "no nonce in response", no bad times
  });

  it('answers revoked, with reason, once setStatus revokes the serial', async () => {
    assert.match((await ask(files['revoked.pem']!)).out, /revoked\.pem: good/);
    responder.setStatus(revoked.serial, { status: 'revoked', revocationReason: 'superseded' });
    const { out } = await ask(files['revoked.pem']!);
    assert.match(out, /revoked\.pem: revoked/);
    assert.match(out, /Reason: superseded/);
  });

  it('answers unknown for a serial the CA never issued', async () => {
    const { out } = await ask([], ['-serial', '0x123456789']);
    assert.match(out, /Response verify OK/);
    assert.match(out, /: unknown/);
  });

  it('answers every CertID of a request, in a SHA-256 CertID when asked', async () => {
    const { out } = await ask([files['leaf.pem']!, files['revoked.pem']!], ['-sha256']);
    assert.match(out, /Response verify OK/);
    assert.match(out, /leaf\.pem: good/);
    assert.match(out, /revoked\.pem: revoked/);
  });

  it('takes statuses and response options at start: a delegated signer and a fixed window', async () => {
    const delegate = await ca.issueResponder();
    const other = await startOcspResponder({ ca, statuses: { [leaf.serial.toLowerCase()]: 'unknown' }, response: { signer: delegate, responderId: 'key' } });
    try {
      const { out } = await ask(files['leaf.pem']!, [], other.url);
      assert.match(out, /Response verify OK/);
      assert.match(out, /leaf\.pem: unknown/);
    } finally {
      await other.close();
    }
  });

  it('says unauthorized for a certificate of another CA', async () => {
    const stranger = await createTestCa({ name: 'Stranger CA', intermediate: false });
    const strangerLeaf = await stranger.issueCertificate();
    const issuerFile = join(dir, 'stranger.pem');
    const leafFile = join(dir, 'stranger-leaf.pem');
    writeFileSync(issuerFile, stranger.issuer.cert);
    writeFileSync(leafFile, strangerLeaf.cert);
    const { stdout } = await run('openssl', ['ocsp', '-url', responder.url, '-issuer', issuerFile, '-cert', leafFile, '-no_nonce', '-timeout', '10'])
      .catch((err: { stdout: string }) => err);
    assert.match(stdout, /Responder Error: unauthorized \(6\)/i);
  });

  it('serves RFC 5019 GET requests', async () => {
    const reqFile = join(dir, 'req.der');
    await run('openssl', ['ocsp', '-issuer', files['issuer.pem']!, '-cert', files['leaf.pem']!, '-no_nonce', '-reqout', reqFile]);
    const encoded = encodeURIComponent(readFileSync(reqFile).toString('base64'));
    const res = await fetch(`${responder.url}/${encoded}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/ocsp-response');
    const respFile = join(dir, 'get.der');
    writeFileSync(respFile, Buffer.from(await res.arrayBuffer()));
    const { stdout } = await run('openssl', ['ocsp', '-respin', respFile, '-issuer', files['issuer.pem']!, '-cert', files['leaf.pem']!,
      '-CAfile', files['root.pem']!, '-verify_other', files['issuer.pem']!, '-no_nonce']);
    assert.match(stdout, /leaf\.pem: good/);
  });

  it('says malformedRequest for bytes that are not an OCSPRequest, and refuses other methods', async () => {
    const res = await fetch(responder.url, { method: 'POST', body: 'not der', headers: { 'content-type': 'application/ocsp-request' } });
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from('3003 0a01 01'.replace(/ /g, ''), 'hex'));
    assert.equal((await fetch(responder.url, { method: 'PUT', body: 'x' })).status, 405);
  });

  it('sends fixed bytes after setFixedResponse, until reset, and counts requests', async () => {
    const before = responder.requests;
    responder.setFixedResponse(createOcspErrorResponse('tryLater'));
    assert.match((await ask(files['leaf.pem']!)).out, /Responder Error: trylater \(3\)/i);
    responder.setFixedResponse(null);
    assert.match((await ask(files['leaf.pem']!)).out, /leaf\.pem: good/);
    assert.equal(responder.requests, before + 2);
  });

  it('close() stops it', async () => {
    const other = await startOcspResponder({ ca });
    await other.close();
    await assert.rejects(fetch(other.url, { method: 'POST', body: 'x' }));
  });
});

/** The one capped, regular-file-only, non-blocking reader (src/files.ts), for certificates and responses alike. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCappedFile, readCappedFileSync, writeFileAtomic, type ReadLimits } from '../src/files.js';
import { createStaplingContext, DEFAULTS, StaplingError } from '../src/index.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let dir: string;
before(() => {
  pki = makePki();
  dir = mkdtempSync(join(tmpdir(), 'files-'));
});
after(() => {
  pki.remove();
  rmSync(dir, { recursive: true, force: true });
});

const limits = { maxBytes: 10, what: 'test file', readCode: 'ERR_OCSP_FILE_READ', tooLargeCode: 'ERR_OCSP_TOO_LARGE' } as const;
let n = 0;
const path = () => join(dir, `f${++n}`);

// The synchronous twin (a lazy registry's start) makes the same checks and gives the same errors.
const readers: [string, (file: string, limits: ReadLimits) => Promise<Buffer>][] = [
  ['readCappedFile', readCappedFile],
  ['readCappedFileSync', async (file, limits) => readCappedFileSync(file, limits)],
];
for (const [name, readCappedFile] of readers) describe(name, () => {
  it('reads a regular file up to the cap, and an empty one as empty', async () => {
    const file = path();
    writeFileSync(file, '0123456789');
    assert.equal((await readCappedFile(file, limits)).toString(), '0123456789');
    writeFileSync(file, '');
    assert.equal((await readCappedFile(file, limits)).length, 0);
  });

  it('refuses one byte past the cap, and a huge sparse file without reading it', { timeout: 20_000 }, async () => {
    const file = path();
    writeFileSync(file, '01234567890');
    await assert.rejects(readCappedFile(file, limits), { code: 'ERR_OCSP_TOO_LARGE', expected: 'at most 10 bytes', found: '11 bytes', file });
    truncateSync(file, 16 * 2 ** 30);
    await assert.rejects(readCappedFile(file, limits), { code: 'ERR_OCSP_TOO_LARGE', found: `${16 * 2 ** 30} bytes` });
  });

  it('reads on past fstat\'s size, and stops one byte past the cap, when a file grows while being read', async () => {
    // A regular file that holds more than fstat says: /proc/self/status has st_size 0 and some
    // 1,500 bytes, the deterministic image of a file another process appends to mid-read.
    const whole = readFileSync('/proc/self/status');
    assert.ok(whole.length > 100);
    const read = await readCappedFile('/proc/self/status', { ...limits, maxBytes: 64 * 1024 });
    assert.match(read.toString(), /^Name:/);
    await assert.rejects(readCappedFile('/proc/self/status', { ...limits, maxBytes: 100 }), {
      code: 'ERR_OCSP_TOO_LARGE',
      found: 'more than 100 bytes (it grew while being read)',
    });
  });

  it('refuses directories, FIFOs and devices at once (a FIFO would block, /dev/zero never ends)', { timeout: 20_000 }, async () => {
    const directory = path();
    mkdirSync(directory);
    const fifo = path();
    execFileSync('mkfifo', [fifo]);
    const zero = path();
    symlinkSync('/dev/zero', zero);
    await assert.rejects(readCappedFile(directory, limits), { code: 'ERR_OCSP_FILE_READ', found: 'a directory' });
    await assert.rejects(readCappedFile(fifo, limits), { code: 'ERR_OCSP_FILE_READ', found: 'a special file' });
    await assert.rejects(readCappedFile(zero, limits), { code: 'ERR_OCSP_FILE_READ', found: 'a special file' });
    await assert.rejects(readCappedFile(path(), limits), { code: 'ERR_OCSP_FILE_READ', found: 'ENOENT' });
  });
});

describe('certificate files', () => {
  it(`are capped at DEFAULTS.maxCertificateFileBytes (${DEFAULTS.maxCertificateFileBytes} bytes), even when the certificate in them is good`, async () => {
    const certFile = path();
    const pem = readFileSync(pki.leaf.chain, 'latin1');
    writeFileSync(certFile, pem + '#'.repeat(DEFAULTS.maxCertificateFileBytes - pem.length + 1));
    const err = await createStaplingContext({ certFile, ocspFile: pki.file(pki.respond()) }).then(
      () => assert.fail('accepted a certificate file past the cap'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StaplingError);
    assert.equal(err.code, 'ERR_CERT_READ');
    assert.equal(err.expected, `at most ${DEFAULTS.maxCertificateFileBytes} bytes`);
    assert.equal(err.file, certFile);
    writeFileSync(certFile, pem + '#'.repeat(DEFAULTS.maxCertificateFileBytes - pem.length));
    const ctx = await createStaplingContext({ certFile, ocspFile: pki.file(pki.respond()) });
    assert.ok(ctx.stapleNow(), 'exactly at the cap is accepted');
    await ctx.close();
  });
});

describe('writeFileAtomic (public)', () => {
  it('writes the whole file, and fails with ERR_FILE_WRITE naming the file', async () => {
    const file = path();
    await writeFileAtomic(file, Buffer.from('staple'));
    assert.equal(readFileSync(file, 'utf8'), 'staple');
    const missing = join(dir, 'no-such-dir', 'x.ocsp');
    await assert.rejects(writeFileAtomic(missing, Buffer.from('x')), { name: 'StaplingError', code: 'ERR_FILE_WRITE', file: missing, found: 'ENOENT' });
    await assert.rejects(writeFileAtomic(file, 'text' as unknown as Uint8Array), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(writeFileAtomic(file, Buffer.from('x'), { mode: 0o10000 }), { code: 'ERR_INVALID_OPTION' });
  });
});

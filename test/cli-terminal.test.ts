/**
 * Output safe for terminals and logs: certificate names and OCSP times with control characters
 * (made by openssl, or patched into openssl's bytes) are printed escaped by inspect, check,
 * error messages and lastRefusal.message.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createStaplingContext } from '../src/context.js';
import { StaplingError } from '../src/errors.js';
import { printable, printableJson } from '../src/printable.js';
import { cli } from './fixtures/cli.js';
import { makePki, type Issued, type Pki } from './fixtures/pki.js';

// ESC ] 0 ; title BEL (retitles the terminal), ESC [ 2 J (clears it), a C1 CSI (U+009B, as UTF-8)
// and a right-to-left override (U+202E).
const EVIL = '\x1b]0;PWNED\x07\x1b[2J\u009b31m\u202e';
// Any of these in output can drive a terminal; \n is the only control we print.
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

let pki: Pki;
let leaf: Issued;
let responder: Issued;

function issue(name: string, cn: string, section: string): Issued {
  const at = (f: string) => join(pki.dir, f);
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-utf8', '-keyout', at(`${name}.key`), '-out', at(`${name}.csr`), '-subj', `/CN=${cn}/O=Org${EVIL}`], { stdio: 'pipe' });
  execFileSync('openssl', ['x509', '-req', '-in', at(`${name}.csr`), '-CA', pki.ca.cert, '-CAkey', pki.ca.key, '-set_serial', '0x7E57', '-days', '30', '-extfile', at('ext.cnf'), '-extensions', section, '-out', at(`${name}.pem`)], { stdio: 'pipe' });
  writeFileSync(at(`${name}.chain.pem`), readFileSync(at(`${name}.pem`), 'utf8') + readFileSync(pki.ca.cert, 'utf8'));
  return { name, cert: at(`${name}.pem`), key: at(`${name}.key`), chain: at(`${name}.chain.pem`), serial: '7E57' };
}

before(() => {
  pki = makePki();
  leaf = issue('evil-leaf', `evil${EVIL}.example`, 'leaf');
  responder = issue('evil-responder', `responder${EVIL}`, 'responder');
});
after(() => pki.remove());

/** The openssl response with a control character patched into thisUpdate's GeneralizedTime. */
function evilTime(): Buffer {
  const bytes = Buffer.from(pki.respond());
  const at = bytes.indexOf(Buffer.from([0x18, 0x0f]), bytes.indexOf(Buffer.from([0x18, 0x0f])) + 2); // thisUpdate: after producedAt
  bytes[at + 2 + 4] = 0x1b;
  bytes[at + 2 + 6] = 0x9b;
  return bytes;
}

function assertSafe(text: string, shows: RegExp): void {
  assert.doesNotMatch(text, UNSAFE, `raw control characters in: ${JSON.stringify(text)}`);
  assert.match(text, shows);
}

describe('control characters from certificates and responses are printed escaped', () => {
  it('inspect: responder name and embedded certificate names, human and --json', async () => {
    const file = pki.file(pki.respond({ certs: [leaf], signer: responder, status: 'good' }));
    const human = await cli(['inspect', file]);
    assert.equal(human.code, 0, human.stderr);
    assertSafe(human.stdout, /responder\\x1b\]0;PWNED\\x07\\x1b\[2J\\x9b31m\\u\{202e\}/);
    const json = await cli(['inspect', '--json', file]);
    assert.equal(json.code, 0, json.stderr);
    assertSafe(json.stdout, /PWNED/);
    assert.equal(typeof JSON.parse(json.stdout), 'object');
  });

  it('check: the subject of the certificate', async () => {
    const file = pki.file(pki.respond({ certs: [leaf], status: 'good' }));
    for (const args of [['check', '--cert', leaf.chain, file], ['check', '--json', '--cert', leaf.chain, file]]) {
      const r = await cli(args);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assertSafe(r.stdout, /evil.*PWNED.*x9b31m.*202e/); // Node escapes C0 in names (\\1B); we escape the rest
    }
  });

  it('a time with control characters: lastRefusal.message, check and inspect', async () => {
    const file = pki.file(evilTime());
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file });
    try {
      const refusal = ctx.status().lastRefusal!;
      assert.equal(refusal.code, 'ERR_OCSP_MALFORMED');
      assertSafe(refusal.message, /\\x1b.*\\x9b/);
    } finally {
      await ctx.close();
    }
    const check = await cli(['check', '--cert', pki.leaf.chain, file]);
    assert.equal(check.code, 5);
    assertSafe(check.stderr, /\\x1b/);
    const inspect = await cli(['inspect', file]);
    assert.equal(inspect.code, 5);
    assertSafe(inspect.stderr, /\\x1b/);
  });

  it('StaplingError escapes reason, expected and found, and the message built from them; file stays as given', () => {
    const err = new StaplingError('ERR_FETCH_HTTP_STATUS', 'bad\x1b', { expected: 'x\u202e', found: `HTTP 500 ${EVIL}`, file: '/tmp/a\x07b' });
    assertSafe(err.message, /found HTTP 500 \\x1b\]0;PWNED/);
    assert.equal(err.found, printable(`HTTP 500 ${EVIL}`));
    assert.equal(err.reason, 'bad\\x1b');
    assert.equal(err.file, '/tmp/a\x07b');
    assert.equal(err.withFile('/x').found, err.found, 'escaping twice changes nothing');
  });

  it('printable and printableJson', () => {
    assert.equal(printable('\x00\t\n\x7f\u0085\u2028\u2066 é ü 漢'), '\\x00\\x09\\x0a\\x7f\\x85\\u{2028}\\u{2066} é ü 漢');
    const text = printableJson({ s: `a${EVIL}` });
    assert.doesNotMatch(text, UNSAFE);
    assert.deepEqual(JSON.parse(text), { s: `a${EVIL}` }, 'still parses to the same value');
  });
});

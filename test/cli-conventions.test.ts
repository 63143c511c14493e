/**
 * The conventions of openssl/curl-like tools: --version, per-command --help, --json for every
 * outcome (usage errors included), exit 2 for configuration errors, one clear line per failure.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StaplingError } from '../src/errors.js';
import { fetchOcspResponse } from '../src/fetch.js';
import { startRefresh } from '../src/refresh.js';
import { createStaplingContext } from '../src/context.js';
import { cli, json } from './fixtures/cli.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.remove());

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('ocsp-stapler --version and --help', () => {
  it('--version prints the package version', async () => {
    const r = await cli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `ocsp-stapler ${VERSION}\n`);
    assert.deepEqual(json(await cli(['--version', '--json'])), { result: 'version', exitCode: 0, version: VERSION });
  });

  for (const command of ['fetch', 'check', 'inspect']) {
    it(`${command} --help and help ${command} print that command's help only`, async () => {
      for (const args of [[command, '--help'], ['help', command], [command, '-h']]) {
        const r = await cli(args);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^Usage: ocsp-stapler ${command} `));
        for (const other of ['fetch', 'check', 'inspect'].filter((c) => c !== command)) assert.doesNotMatch(r.stdout, new RegExp(`ocsp-stapler ${other} `));
        assert.match(r.stdout, /^Exit codes:/m);
      }
    });
  }
});

describe('ocsp-stapler usage errors', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['no command', [], /^no command given$/],
    ['an unknown command', ['staple'], /^unknown command "staple"$/],
    ['an unknown option', ['fetch', '--cert', 'x.pem', '--out', 'x.der', '--insecure'], /^unknown option --insecure$/],
    ['an option without its value', ['fetch', '--out', 'x.der', '--cert'], /^option --cert needs a value$/],
    ['a value for a flag', ['fetch', '--get=yes'], /^option --get takes no value$/],
    ['fetch without --cert', ['fetch', '--out', 'x.der'], /needs --cert/],
    ['an ftp: --url', ['fetch', '--cert', 'x.pem', '--out', 'x.der', '--url', 'ftp://ocsp.example/'], /--url must be http: or https:, not ftp:/],
    ['a --timeout of 2^31 ms', ['fetch', '--cert', 'x.pem', '--out', 'x.der', '--timeout', '2147484'], /--timeout must be a number of seconds from 0.001 to 2147483/],
    ['a bad --mode', ['fetch', '--cert', 'x.pem', '--out', 'x.der', '--mode', 'rw'], /--mode must be octal/],
  ];
  for (const [name, args, message] of cases) {
    it(`${name}: exit 2, one line of our own, and one JSON object with --json`, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^ocsp-stapler: .* \(see 'ocsp-stapler( \w+)? --help'\)$/);
      assert.doesNotMatch(r.stderr, /To specify a positional argument/, "not parseArgs' text");
      const j = await cli([...args, '--json']);
      assert.equal(j.code, 2);
      assert.equal(j.stderr, '');
      const object = json(j);
      assert.equal(object.result, 'usage');
      assert.equal(object.exitCode, 2);
      assert.match(String(object.message), message);
    });
  }

  it('a certificate without an OCSP URL exits 2 (configuration), not 3: retrying will not help', async () => {
    const r = await cli(['fetch', '--cert', pki.root.cert, '--issuer', pki.root.cert, '--out', join(pki.dir, 'none.der'), '--json']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(json(r).code, 'ERR_FETCH_NO_URL');
    const human = await cli(['fetch', '--cert', pki.root.cert, '--issuer', pki.root.cert, '--out', join(pki.dir, 'none.der')]);
    assert.equal(human.code, 2);
    assert.equal(human.stderr.split('\n').filter(Boolean).length, 1);
    assert.match(human.stderr, /ERR_FETCH_NO_URL/);
  });
});

describe('timeouts beyond setTimeout', () => {
  it('fetchOcspResponse refuses timeoutMs of 2^31 ms or more with ERR_INVALID_OPTION, before any request', async () => {
    for (const timeoutMs of [2 ** 31, 1e12, Infinity, 0, Number.NaN]) {
      await assert.rejects(fetchOcspResponse({ certFile: pki.leaf.chain, timeoutMs }), (err: unknown) => err instanceof StaplingError && err.code === 'ERR_INVALID_OPTION' && /timeoutMs/.test(err.message));
    }
  });

  it('startRefresh refuses it at once', async () => {
    const ctx = await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: join(pki.dir, 'absent.der') });
    try {
      assert.throws(() => startRefresh(ctx, { timeoutMs: 2 ** 31 }), (err: unknown) => err instanceof StaplingError && err.code === 'ERR_INVALID_OPTION');
    } finally {
      await ctx.close();
    }
  });
});

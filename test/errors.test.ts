/** StaplingError's codes and families (src/errors.ts). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_FAMILIES, StaplingError, type StaplingErrorCode } from '../src/errors.js';

const root = resolve(import.meta.dirname, '..');
const codes = Object.keys(ERROR_FAMILIES) as StaplingErrorCode[];

describe('StaplingError families', () => {
  it('gives every error its family as data, so callers need no code prefixes', () => {
    assert.equal(new StaplingError('ERR_CERT_PARSE', 'x').family, 'certificate');
    assert.equal(new StaplingError('ERR_ISSUER_NOT_FOUND', 'x').family, 'certificate');
    assert.equal(new StaplingError('ERR_OCSP_REVOKED', 'x').family, 'response');
    assert.equal(new StaplingError('ERR_FETCH_TIMEOUT', 'x').family, 'fetch');
    assert.equal(new StaplingError('ERR_INVALID_OPTION', 'x').family, 'usage');
    assert.equal(new StaplingError('ERR_CLOSED', 'x').family, 'lifecycle');
    assert.equal(new StaplingError('ERR_STOPPED', 'x').withFile('f').family, 'lifecycle');
  });

  it('puts every ERR_OCSP_ code in the response family and every ERR_FETCH_ code in fetch', () => {
    for (const code of codes) {
      if (code.startsWith('ERR_OCSP_')) assert.equal(ERROR_FAMILIES[code], 'response', code);
      if (code.startsWith('ERR_FETCH_')) assert.equal(ERROR_FAMILIES[code], 'fetch', code);
    }
  });

  it('documents every code in the comment of StaplingErrorCode and in the README', () => {
    const source = readFileSync(resolve(root, 'src/errors.ts'), 'utf8');
    const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
    for (const code of codes) {
      assert.match(source, new RegExp(`^ \\* - \`${code}\``, 'm'), `${code} is listed in errors.ts's comment`);
      assert.ok(readme.includes(`\`${code}\``), `${code} is in the README`);
    }
  });

  it('cannot be changed after the fact', () => {
    assert.ok(Object.isFrozen(ERROR_FAMILIES));
  });
});

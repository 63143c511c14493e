import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeDer, DerError, oidFrom, TAG, timeFrom } from '../src/der.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const refuses = (s: string, pattern: RegExp) => assert.throws(() => decodeDer(hex(s)), (err: unknown) => err instanceof DerError && pattern.test(err.message));

describe('strict DER reader', () => {
  it('reads a nested SEQUENCE and its offsets', () => {
    const root = decodeDer(hex('30 06 02 01 05 04 01 ff'));
    assert.equal(root.tag, TAG.SEQUENCE);
    assert.deepEqual(root.children.map((c) => [c.tag, c.contentStart, c.end]), [[0x02, 4, 5], [0x04, 7, 8]]);
  });
  it('refuses indefinite lengths', () => refuses('30 80 02 01 05 00 00', /indefinite/));
  it('refuses non-minimal long-form lengths', () => {
    refuses('04 81 05 0102030405', /non-minimal length/);
    refuses('04 82 00 05 0102030405', /non-minimal length/);
  });
  it('refuses a child running past its parent', () => refuses('30 03 02 02 05 05', /past its container/));
  it('refuses a length running past the input', () => refuses('04 05 01', /past its container/));
  it('refuses trailing bytes, and says they are trailing', () => {
    assert.throws(() => decodeDer(hex('05 00 00')), (err: unknown) => err instanceof DerError && err.trailing);
    assert.equal(decodeDer(hex('05 00 00'), true).end, 2);
  });
  it('refuses constructed encodings of primitive types', () => refuses('24 03 04 01 00', /constructed form/));
  it('refuses multi-byte tag numbers', () => refuses('1f 81 00 00', /multi-byte tag/));
  it('refuses non-canonical BOOLEAN', () => {
    refuses('01 01 01', /BOOLEAN/);
    refuses('01 02 ff ff', /BOOLEAN/);
    decodeDer(hex('01 01 ff'));
  });
  it('refuses non-minimal INTEGER and ENUMERATED, and empty INTEGER', () => {
    refuses('02 02 00 7f', /non-minimal INTEGER/);
    refuses('02 02 ff 80', /non-minimal INTEGER/);
    refuses('0a 02 00 01', /non-minimal INTEGER/);
    refuses('02 00', /empty INTEGER/);
    decodeDer(hex('02 02 00 80'));
  });
  it('refuses bad BIT STRINGs', () => {
    refuses('03 00', /BIT STRING/);
    refuses('03 02 08 00', /BIT STRING/);
    refuses('03 01 01', /BIT STRING/);
  });
  it('refuses NULL with content', () => refuses('05 01 00', /NULL/));
  it('refuses empty and non-minimal OBJECT IDENTIFIERs', () => {
    refuses('06 00', /OBJECT IDENTIFIER/);
    refuses('06 02 2b 86', /OBJECT IDENTIFIER/);
    refuses('06 03 2b 80 01', /non-minimal OBJECT IDENTIFIER arc/);
    const oid = hex('06 08 2b 06 01 05 05 07 30 01');
    assert.equal(oidFrom(oid, decodeDer(oid)), '1.3.6.1.5.5.7.48.1');
  });
  it('reads GeneralizedTime only in the DER form with Z', () => {
    const time = (s: string) => Buffer.concat([Buffer.from([0x18, s.length]), Buffer.from(s, 'latin1')]);
    const read = (s: string) => timeFrom(time(s), decodeDer(time(s))).toISOString();
    assert.equal(read('20261124101500Z'), '2026-11-24T10:15:00.000Z');
    assert.equal(read('20261124101500.25Z'), '2026-11-24T10:15:00.250Z');
    for (const bad of ['20261124101500+0100', '20261124101500', '202611241015Z', '20261124101500.50Z', '20261131101500Z', '20261124241500Z', '20261124101500.Z']) {
      assert.throws(() => decodeDer(time(bad)), DerError, bad);
    }
  });
  it('reads UTCTime with the RFC 5280 century rule', () => {
    const time = (s: string) => Buffer.concat([Buffer.from([0x17, s.length]), Buffer.from(s, 'latin1')]);
    assert.equal(timeFrom(time('491231235959Z'), decodeDer(time('491231235959Z'))).getUTCFullYear(), 2049);
    assert.equal(timeFrom(time('500101000000Z'), decodeDer(time('500101000000Z'))).getUTCFullYear(), 1950);
    assert.throws(() => decodeDer(time('5001010000Z')), DerError);
  });
  it('refuses nesting deeper than 32 levels instead of exhausting the stack', () => {
    let value = hex('05 00');
    for (let i = 0; i < 40; i++) value = Buffer.concat([Buffer.from([0x30, value.length]), value]);
    assert.throws(() => decodeDer(value), /nesting too deep/);
  });
});

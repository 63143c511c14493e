/** The option checks' building blocks (src/options.ts); every public function's use is in test/misuse.test.ts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StaplingError } from '../src/errors.js';
import { DEFAULT_LIMITS, DEFAULTS, describeValue, MAX_TIMER_MS, OptionReader } from '../src/options.js';

interface Options {
  n?: unknown;
  s?: unknown;
  b?: unknown;
  f?: unknown;
  e?: unknown;
  c?: unknown;
  p?: unknown;
}

const reader = (options: Options | undefined) => new OptionReader<Options>('fn', options);

function assertInvalid(fn: () => unknown, option: string, expected: RegExp, found: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StaplingError);
    assert.equal(err.code, 'ERR_INVALID_OPTION');
    assert.equal(err.family, 'usage');
    assert.match(err.message, new RegExp(`^fn: option ${option} `));
    assert.match(err.expected ?? '', expected);
    assert.equal(err.found, found);
    return true;
  });
}

describe('OptionReader', () => {
  it('gives the default for an absent option and the value for a good one', () => {
    assert.equal(reader({}).duration('n', 7), 7);
    assert.equal(reader(undefined).duration('n', 7), 7);
    assert.equal(reader({ n: 0 }).duration('n', 7), 0);
    assert.equal(reader({ s: 'x' }).string('s'), 'x');
    assert.equal(reader({}).string('s', undefined), undefined);
    assert.equal(reader({ b: false }).boolean('b', true), false);
    assert.equal(reader({ e: 'b' }).oneOf('e', ['a', 'b'], 'a'), 'b');
    assert.equal(reader({ n: MAX_TIMER_MS }).timer('n', 5), MAX_TIMER_MS);
  });

  it('refuses a wrong type, naming the option, the expected and the found', () => {
    assertInvalid(() => reader({ n: 'abc' }).duration('n', 7), 'n', /finite number of ms/, 'the string "abc"');
    assertInvalid(() => reader({ s: 5 }).string('s'), 's', /non-empty string/, 'the number 5');
    assertInvalid(() => reader({ b: 'yes' }).boolean('b', true), 'b', /true or false/, 'the string "yes"');
    assertInvalid(() => reader({ f: 5 }).function('f', Date.now), 'f', /a function/, 'the number 5');
    assertInvalid(() => reader({ e: 'c' }).oneOf('e', ['a', 'b'], 'a'), 'e', /one of "a", "b"/, 'the string "c"');
    assertInvalid(() => reader({ c: {} }).methods<{ now(): number }>('c', ['now']), 'c', /methods now/, 'an object (Object)');
    assertInvalid(() => reader({ p: 'a\0b' }).path('p'), 'p', /file path/, 'the string "a\\u0000b"');
  });

  it('refuses numbers out of range, not finite, or not whole where whole is needed', () => {
    assertInvalid(() => reader({ n: -1 }).duration('n', 7), 'n', /from 0/, 'the number -1');
    assertInvalid(() => reader({ n: Number.NaN }).duration('n', 7), 'n', /finite/, 'the number NaN');
    assertInvalid(() => reader({ n: Infinity }).duration('n', 7), 'n', /finite/, 'the number Infinity');
    assertInvalid(() => reader({ n: 0 }).bytes('n', 7), 'n', /at least 1/, 'the number 0');
    assertInvalid(() => reader({ n: 1.5 }).bytes('n', 7), 'n', /whole number/, 'the number 1.5');
    assertInvalid(() => reader({ n: 0 }).timer('n', 7), 'n', /setTimeout's range/, 'the number 0');
    assertInvalid(() => reader({ n: MAX_TIMER_MS + 1 }).timer('n', 7), 'n', /setTimeout's range/, `the number ${MAX_TIMER_MS + 1}`);
  });

  it('says a required option is missing', () => {
    assertInvalid(() => reader({}).string('s'), 's', /non-empty string/, 'nothing (undefined)');
    assertInvalid(() => reader(undefined).path('p'), 'p', /file path/, 'nothing (undefined)');
  });

  it('refuses options that are not an object with ERR_INVALID_ARGUMENT', () => {
    for (const bad of [null, 'x', 5, [1]]) {
      assert.throws(() => reader(bad as Options), (err: unknown) => err instanceof StaplingError && err.code === 'ERR_INVALID_ARGUMENT' && /fn: argument options/.test(err.message));
    }
  });
});

describe('defaults', () => {
  it('keep the limits a subset of DEFAULTS, frozen', () => {
    assert.equal(DEFAULT_LIMITS.maxResponseBytes, DEFAULTS.maxResponseBytes);
    assert.equal(DEFAULT_LIMITS.clockSkewMs, DEFAULTS.clockSkewMs);
    assert.equal(DEFAULT_LIMITS.maxAgeWithoutNextUpdateMs, DEFAULTS.maxAgeWithoutNextUpdateMs);
    assert.ok(Object.isFrozen(DEFAULTS) && Object.isFrozen(DEFAULT_LIMITS));
  });

  it('describes values by type and value', () => {
    assert.equal(describeValue(undefined), 'undefined');
    assert.equal(describeValue(null), 'null');
    assert.equal(describeValue('x'.repeat(100)), `the string "${'x'.repeat(60)}..."`);
    assert.equal(describeValue(Object.create(null)), 'an object (no prototype)');
  });
});

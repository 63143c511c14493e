/**
 * The one home of option checks and defaults. Every public function checks the options it is
 * given here, when it is called (a bad value fails at once, naming the option, what was expected
 * and what was found: `ERR_INVALID_OPTION`), and takes every default from {@link DEFAULTS}.
 */
import { StaplingError } from './errors.js';

/** setTimeout's longest delay (2^31-1 ms, about 24.8 days); Node fires longer ones after 1 ms. */
export const MAX_TIMER_MS = 0x7fffffff;

/** The furthest a Date can be from the epoch, in ms (ECMA-262 section 21.4.1.1): a bound for durations. */
const MAX_DURATION_MS = 8.64e15;

/**
 * Every default of every option, each with its reason. One line per option: add yours where it
 * belongs.
 */
export const DEFAULTS = Object.freeze({
  /**
   * Largest OCSP response accepted, in bytes (the context's `maxResponseBytes`, fetch's
   * `maxBytes`): 64 KiB. Real responses are 1 to 4 KB, and a cap keeps a runaway job from making
   * the server read gigabytes.
   */
  maxResponseBytes: 65_536,
  /**
   * How far thisUpdate may lie in the future, in ms: 5 minutes, as `openssl ocsp
   * -validity_period`. Never applied to nextUpdate.
   */
  clockSkewMs: 300_000,
  /**
   * How long after thisUpdate a response without nextUpdate may be stapled, in ms: one day,
   * long enough for a daily job, short enough that a stale "good" cannot circulate for long.
   */
  maxAgeWithoutNextUpdateMs: 86_400_000,
  /**
   * How long after thisUpdate any response may be stapled, in ms, even when its nextUpdate is
   * later: 10 days, Firefox's limit. mozilla::pkix treats a response for an end-entity
   * certificate as current only until the earlier of nextUpdate and thisUpdate +
   * `maxOCSPLifetimeInDays` = 10 (`NSSCertDBTrustDomain::CheckRevocation` in Gecko's
   * security/manager/ssl/NSSCertDBTrustDomain.cpp; the cut is made in `SingleResponse`,
   * security/nss/lib/mozpkix/lib/pkixocsp.cpp) and fails an older staple with
   * SEC_ERROR_OCSP_OLD_RESPONSE. Firefox adds one day of slop; we do not: the strictest judge wins.
   */
  maxAgeMs: 864_000_000,
  /** How long before the staple stops being valid the context's `'expiring'` event fires, in ms: one hour. */
  expiringMarginMs: 3_600_000,
  /**
   * Largest certificate or issuer file read, in bytes: 1 MiB. A certificate with its chain is a
   * few KB, and even a whole CA bundle used as issuerFile is a few hundred KB; the cap keeps a
   * wrong path (a log, a device) from being read into memory.
   */
  maxCertificateFileBytes: 1_048_576,
  /** How many files a registry reads and checks at once: 16, enough to overlap I/O without a burst of open files. */
  concurrency: 16,
  /** When a registry loads its OCSP files: `eager`, before it resolves, so a server starts stapled. */
  load: 'eager',
  /** CertID hash of fetched responses: `sha1`, the one RFC 5019 responders must answer and every client matches. */
  hash: 'sha1',
  /** HTTP method of a fetch: `POST`, which every responder accepts. */
  method: 'POST',
  /** Time allowed for a whole fetch, redirects and body included, in ms: 10 seconds. */
  timeoutMs: 10_000,
  /** Redirects a fetch follows: 3, enough for a CDN hop without looping. */
  maxRedirects: 3,
  /** Where in the staple's validity window the refresher fetches again: halfway, leaving the other half for retries. */
  refreshAt: 0.5,
  /** Random spread of that instant, as a fraction of the window both ways: 0.1, so a fleet does not fetch together. */
  jitter: 0.1,
  /** First retry delay of the refresher after a failure, in ms (doubling each time): one minute. */
  minRetryMs: 60_000,
  /** Longest retry delay of the refresher, in ms: one hour. */
  maxRetryMs: 3_600_000,
  /** Quiet time after a file change before a watch reloads, in ms: 200, for writers that write in steps. */
  debounceMs: 200,
  /** Interval of a watch's stat poll, in ms: 2 seconds. */
  pollMs: 2_000,
  /** How long {@link reloadClusterWorkers} waits for each worker, in ms: 10 seconds. */
  clusterTimeoutMs: 10_000,
} as const);

/**
 * The defaults of the limits a response is checked against (the context's, fetch's and the
 * CLI's), as {@link verifyOcspResponse} takes them: a subset of {@link DEFAULTS}.
 */
export const DEFAULT_LIMITS = Object.freeze({
  /** As `DEFAULTS.maxResponseBytes`: 64 KiB. */
  maxResponseBytes: DEFAULTS.maxResponseBytes,
  /** As `DEFAULTS.clockSkewMs`: 5 minutes. */
  clockSkewMs: DEFAULTS.clockSkewMs,
  /** As `DEFAULTS.maxAgeWithoutNextUpdateMs`: one day. */
  maxAgeWithoutNextUpdateMs: DEFAULTS.maxAgeWithoutNextUpdateMs,
  /** As `DEFAULTS.maxAgeMs`: 10 days. */
  maxAgeMs: DEFAULTS.maxAgeMs,
} as const);

/** Bounds of a number option. */
interface NumberRange {
  readonly min: number;
  readonly max: number;
  /** Whole numbers only. */
  readonly integer?: boolean;
  /** How to say what is expected, e.g. `"a whole number of bytes"`. Default from the bounds. */
  readonly what?: string;
}

/**
 * @internal Reads and checks the options of one public function. Each method reads one option:
 * absent (`undefined`), it gives the default, or fails when the option is required; present, it
 * must have the right type and range, or the call fails with `ERR_INVALID_OPTION`.
 *
 * @example
 * ```ts
 * const o = new OptionReader('createStaplingContext', options);
 * const certFile = o.path('certFile');
 * const clockSkewMs = o.duration('clockSkewMs', DEFAULTS.clockSkewMs);
 * ```
 */
export class OptionReader<T extends object> {
  readonly #where: string;
  readonly #options: Record<string, unknown>;

  /** `options` must be an object or undefined (then every option is absent). */
  constructor(where: string, options: T | undefined) {
    this.#where = where;
    if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
      throw invalidArgument(where, 'options', 'an object', options);
    }
    this.#options = (options ?? {}) as Record<string, unknown>;
  }

  /** The raw value, unchecked. */
  raw(name: keyof T & string): unknown {
    return this.#options[name];
  }

  /** A finite number within `range`. */
  number(name: keyof T & string, range: NumberRange, fallback: number): number;
  number(name: keyof T & string, range: NumberRange, fallback?: number): number | undefined;
  number(name: keyof T & string, range: NumberRange, fallback?: number): number | undefined {
    const value = this.#options[name];
    if (value === undefined) return fallback;
    const ok = typeof value === 'number' && Number.isFinite(value) && value >= range.min && value <= range.max && (!range.integer || Number.isInteger(value));
    if (!ok) throw this.#invalid(name, range.what ?? describeRange(range), value);
    return value;
  }

  /** A whole number of bytes, at least 1. */
  bytes(name: keyof T & string, fallback: number): number {
    return this.number(name, { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true, what: 'a whole number of bytes, at least 1' }, fallback);
  }

  /** A length of time in ms: finite, at least `min` (default 0). Not a timer delay: see {@link timer}. */
  duration(name: keyof T & string, fallback: number, min = 0): number {
    return this.number(name, { min, max: MAX_DURATION_MS, what: `a finite number of ms from ${min} to ${MAX_DURATION_MS}` }, fallback);
  }

  /** A timer delay in ms, within setTimeout's range (1 to 2^31-1, about 24.8 days). */
  timer(name: keyof T & string, fallback: number): number {
    return this.number(name, { min: 1, max: MAX_TIMER_MS, what: `a number of ms from 1 to ${MAX_TIMER_MS} (setTimeout's range)` }, fallback);
  }

  /** A non-empty string; required when `fallback` is not given. */
  string(name: keyof T & string): string;
  string<F extends string | undefined>(name: keyof T & string, fallback: F): string | F;
  string(name: keyof T & string, ...fallback: [] | [string | undefined]): string | undefined {
    const value = this.#options[name];
    if (value === undefined) {
      if (fallback.length > 0) return fallback[0];
      throw this.#missing(name, 'a non-empty string');
    }
    if (typeof value !== 'string' || value === '') throw this.#invalid(name, 'a non-empty string', value);
    return value;
  }

  /** A file path: a non-empty string without NUL bytes; required when `fallback` is not given. */
  path(name: keyof T & string): string;
  path(name: keyof T & string, fallback: undefined): string | undefined;
  path(name: keyof T & string, ...fallback: [] | [undefined]): string | undefined {
    const value = this.#options[name];
    if (value === undefined) {
      if (fallback.length > 0) return undefined;
      throw this.#missing(name, 'a file path');
    }
    if (typeof value !== 'string' || value === '' || value.includes('\0')) throw this.#invalid(name, 'a file path (a non-empty string without NUL bytes)', value);
    return value;
  }

  /** A boolean. */
  boolean(name: keyof T & string, fallback: boolean): boolean {
    const value = this.#options[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw this.#invalid(name, 'true or false', value);
    return value;
  }

  /** A function. */
  function<F extends (...args: never[]) => unknown>(name: keyof T & string, fallback: F): F;
  function<F extends (...args: never[]) => unknown>(name: keyof T & string, fallback?: F): F | undefined;
  function<F extends (...args: never[]) => unknown>(name: keyof T & string, fallback?: F): F | undefined {
    const value = this.#options[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'function') throw this.#invalid(name, 'a function', value);
    return value as F;
  }

  /** One of `allowed`. */
  oneOf<const V extends string>(name: keyof T & string, allowed: readonly V[], fallback: V): V {
    const value = this.#options[name];
    if (value === undefined) return fallback;
    if (!allowed.includes(value as V)) throw this.#invalid(name, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
    return value as V;
  }

  /** An object with the given methods, e.g. a clock. */
  methods<O extends object>(name: keyof T & string, methods: readonly (keyof O & string)[], fallback: O): O;
  methods<O extends object>(name: keyof T & string, methods: readonly (keyof O & string)[], fallback?: O): O | undefined;
  methods<O extends object>(name: keyof T & string, methods: readonly (keyof O & string)[], fallback?: O): O | undefined {
    const value = this.#options[name];
    if (value === undefined) return fallback;
    const ok = typeof value === 'object' && value !== null && methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
    if (!ok) throw this.#invalid(name, `an object with methods ${methods.join(', ')}`, value);
    return value as O;
  }

  /** An instance of `type` (e.g. `AbortSignal`). */
  instance<I>(name: keyof T & string, type: abstract new (...args: never[]) => I): I | undefined {
    const value = this.#options[name];
    if (value === undefined) return undefined;
    if (!(value instanceof type)) throw this.#invalid(name, `an instance of ${type.name}`, value);
    return value;
  }

  /** A value `accept` returns true for; `expected` says what that is. */
  check<V>(name: keyof T & string, expected: string, accept: (value: unknown) => value is V): V | undefined {
    const value = this.#options[name];
    if (value === undefined) return undefined;
    if (!accept(value)) throw this.#invalid(name, expected, value);
    return value;
  }

  /** The error for option `name`, when a check spans several options. */
  invalid(name: keyof T & string, expected: string, found: unknown): StaplingError {
    return this.#invalid(name, expected, found);
  }

  #invalid(name: string, expected: string, value: unknown): StaplingError {
    return invalidOption(this.#where, name, expected, value);
  }

  #missing(name: string, expected: string): StaplingError {
    return new StaplingError('ERR_INVALID_OPTION', `${this.#where}: option ${name} is required`, { expected, found: 'nothing (undefined)' });
  }
}

/** @internal `ERR_INVALID_OPTION` for option `name` of `where`. */
export function invalidOption(where: string, name: string, expected: string, value: unknown): StaplingError {
  return new StaplingError('ERR_INVALID_OPTION', `${where}: option ${name} is not valid`, { expected, found: describeValue(value) });
}

/** @internal `ERR_INVALID_ARGUMENT` for argument `name` of `where`. */
export function invalidArgument(where: string, name: string, expected: string, value: unknown): StaplingError {
  return new StaplingError('ERR_INVALID_ARGUMENT', `${where}: argument ${name} is not valid`, { expected, found: describeValue(value) });
}

/** @internal A value in a few words, for the `found` part of a message: type and (short) value. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value)}`;
    case 'number':
      return `the number ${String(value)}`;
    case 'bigint':
      return `the bigint ${String(value)}n`;
    case 'boolean':
      return String(value);
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default:
      if (Array.isArray(value)) return `an array of ${value.length}`;
      return `an object (${(value as object).constructor?.name ?? 'no prototype'})`;
  }
}

function describeRange({ min, max, integer }: NumberRange): string {
  return `a finite ${integer ? 'whole ' : ''}number from ${min} to ${max}`;
}

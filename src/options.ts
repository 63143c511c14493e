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
   * After a certificate renewal, how long the previous certificate keeps its staple, in ms: one
   * day, for servers that call setSecureContext some time after the files changed.
   */
  previousCertificateMs: 86_400_000,
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
  readonly #prefix: string;
  readonly #options: Record<string, unknown>;

  /**
   * `options` must be an object or undefined (then every option is absent). `prefix` is put
   * before each option's name in messages (e.g. `entries[2].`).
   */
  constructor(where: string, options: T | undefined, prefix = '') {
    this.#where = where;
    this.#prefix = prefix;
    if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
      throw prefix ? invalidOption(where, prefix.replace(/\.$/, ''), 'an object', options) : invalidArgument(where, 'options', 'an object', options);
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
    return invalidOption(this.#where, this.#prefix + name, expected, value);
  }

  #missing(name: string, expected: string): StaplingError {
    return new StaplingError('ERR_INVALID_OPTION', `${this.#where}: option ${this.#prefix}${name} is required`, { expected, found: 'nothing (undefined)' });
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

// ---------------------------------------------------------------------------------------------
// The options of each public function, checked and with their defaults applied.
// ---------------------------------------------------------------------------------------------

/** @internal The checks' limits, as every function that checks a response takes them. */
export interface CheckOptions {
  readonly maxResponseBytes: number;
  readonly clockSkewMs: number;
  readonly maxAgeWithoutNextUpdateMs: number;
  readonly maxAgeMs: number;
}

type CheckOptionNames = 'maxResponseBytes' | 'clockSkewMs' | 'maxAgeWithoutNextUpdateMs' | 'maxAgeMs';

function readChecks(o: OptionReader<Partial<Record<CheckOptionNames, unknown>>>): CheckOptions {
  return {
    maxResponseBytes: o.bytes('maxResponseBytes', DEFAULTS.maxResponseBytes),
    clockSkewMs: o.duration('clockSkewMs', DEFAULTS.clockSkewMs),
    // 0 would refuse every response without nextUpdate at once: at least 1 ms.
    maxAgeWithoutNextUpdateMs: o.duration('maxAgeWithoutNextUpdateMs', DEFAULTS.maxAgeWithoutNextUpdateMs, 1),
    // Within setTimeout's range: validUntil - thisUpdate <= maxAgeMs, so the expiry and refresh
    // timers planned from a staple's window always fit one timer.
    maxAgeMs: o.timer('maxAgeMs', DEFAULTS.maxAgeMs),
  };
}

/** @internal The options every context of a registry shares, checked. */
export interface ContextChecks extends CheckOptions {
  readonly expiringMarginMs: number;
  readonly previousCertificateMs: number;
  readonly now: () => number;
}

/** @internal A context's options, checked, with defaults. */
export interface ResolvedContextOptions extends ContextChecks {
  readonly certFile: string;
  readonly ocspFile: string;
  readonly issuerFile: string | undefined;
}

interface ContextOptionsShape {
  certFile?: unknown;
  ocspFile?: unknown;
  issuerFile?: unknown;
  maxResponseBytes?: unknown;
  clockSkewMs?: unknown;
  maxAgeWithoutNextUpdateMs?: unknown;
  maxAgeMs?: unknown;
  expiringMarginMs?: unknown;
  previousCertificateMs?: unknown;
  now?: unknown;
}

function readContextChecks(o: OptionReader<ContextOptionsShape>): ContextChecks {
  return {
    ...readChecks(o),
    expiringMarginMs: o.duration('expiringMarginMs', DEFAULTS.expiringMarginMs),
    previousCertificateMs: o.duration('previousCertificateMs', DEFAULTS.previousCertificateMs),
    now: o.function('now', Date.now),
  };
}

/** @internal Checks the options of {@link createStaplingContext}. */
export function contextOptions(where: string, options: object | undefined): ResolvedContextOptions {
  const o = new OptionReader<ContextOptionsShape>(where, options);
  return { certFile: o.path('certFile'), ocspFile: o.path('ocspFile'), issuerFile: o.path('issuerFile', undefined), ...readContextChecks(o) };
}

/** @internal A registry's options, checked, with defaults. */
export interface ResolvedRegistryOptions {
  readonly dir: string | undefined;
  readonly entries: readonly ResolvedEntry[];
  readonly load: 'eager' | 'lazy';
  readonly concurrency: number;
  readonly strict: boolean;
  readonly checks: ContextChecks;
}

/** @internal One registry entry, checked. */
export interface ResolvedEntry {
  readonly certFile: string;
  readonly ocspFile: string;
  readonly issuerFile: string | undefined;
}

interface RegistryOptionsShape extends Omit<ContextOptionsShape, 'certFile' | 'ocspFile' | 'issuerFile'> {
  dir?: unknown;
  entries?: unknown;
  load?: unknown;
  concurrency?: unknown;
  strict?: unknown;
}

/** @internal Checks the options of {@link createStaplingRegistry}, entries included. */
export function registryOptions(where: string, options: object | undefined): ResolvedRegistryOptions {
  const o = new OptionReader<RegistryOptionsShape>(where, options);
  const list = o.check('entries', 'an array of { certFile, ocspFile, issuerFile? }', Array.isArray) ?? [];
  return {
    dir: o.path('dir', undefined),
    entries: list.map((entry: unknown, i: number) => registryEntry(where, entry, `entries[${i}].`)),
    load: o.oneOf('load', ['eager', 'lazy'], DEFAULTS.load),
    concurrency: o.number('concurrency', { min: 1, max: 65_536, integer: true }, DEFAULTS.concurrency),
    strict: o.boolean('strict', false),
    checks: readContextChecks(o),
  };
}

/** @internal Checks one {@link RegistryEntry}: an element of `entries` (with its `prefix`), or the argument of `add`. */
export function registryEntry(where: string, entry: unknown, prefix?: string): ResolvedEntry {
  if (prefix === undefined && (typeof entry !== 'object' || entry === null)) throw invalidArgument(where, 'entry', 'an object { certFile, ocspFile, issuerFile? }', entry);
  const o = new OptionReader<{ certFile?: unknown; ocspFile?: unknown; issuerFile?: unknown }>(where, (entry ?? null) as object, prefix);
  return { certFile: o.path('certFile'), ocspFile: o.path('ocspFile'), issuerFile: o.path('issuerFile', undefined) };
}

/** @internal Checks the options of a context's or a registry's reload. */
export function reloadOptions(where: string, options: object | undefined, allowFile: boolean): { certificate: boolean; ocspFile: string | undefined } {
  const o = new OptionReader<{ certificate?: unknown; ocspFile?: unknown }>(where, options);
  if (!allowFile && o.raw('ocspFile') !== undefined) {
    throw o.invalid('ocspFile', 'nothing: one file cannot serve every certificate (reload that context instead)', o.raw('ocspFile'));
  }
  return { certificate: o.boolean('certificate', false), ocspFile: o.path('ocspFile', undefined) };
}

/** @internal A watch's options, checked, with defaults. */
export interface ResolvedWatchOptions {
  readonly debounceMs: number;
  readonly pollMs: number;
  readonly certificate: boolean;
}

/** @internal Checks the options of {@link watchFile} and of a context's or registry's watch. */
export function watchOptions(where: string, options: object | undefined): ResolvedWatchOptions {
  const o = new OptionReader<{ debounceMs?: unknown; pollMs?: unknown; certificate?: unknown }>(where, options);
  return { debounceMs: o.timer('debounceMs', DEFAULTS.debounceMs), pollMs: o.timer('pollMs', DEFAULTS.pollMs), certificate: o.boolean('certificate', false) };
}

/** @internal How a fetch is sent, checked, with defaults. */
export interface ResolvedTransport {
  readonly url: string | URL | undefined;
  readonly hash: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  readonly method: 'POST' | 'GET';
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly maxRedirects: number;
}

interface TransportShape {
  url?: unknown;
  hash?: unknown;
  method?: unknown;
  timeoutMs?: unknown;
  maxBytes?: unknown;
  maxRedirects?: unknown;
}

/** The CertID hashes a request can use. */
const HASHES = ['sha1', 'sha256', 'sha384', 'sha512'] as const;

function readTransport(o: OptionReader<TransportShape>): ResolvedTransport {
  return {
    url: o.check('url', 'a URL (string or URL)', (v): v is string | URL => (typeof v === 'string' && v !== '') || v instanceof URL),
    hash: o.oneOf('hash', HASHES, DEFAULTS.hash),
    method: o.oneOf('method', ['POST', 'GET'], DEFAULTS.method),
    timeoutMs: o.timer('timeoutMs', DEFAULTS.timeoutMs),
    maxBytes: o.bytes('maxBytes', DEFAULTS.maxResponseBytes),
    maxRedirects: o.number('maxRedirects', { min: 0, max: 20, integer: true }, DEFAULTS.maxRedirects),
  };
}

/** @internal The options of {@link fetchOcspResponse}, checked, with defaults. */
export interface ResolvedFetchOptions extends ResolvedTransport {
  readonly certFile: string | undefined;
  readonly issuerFile: string | undefined;
  readonly cert: CertificateShape | undefined;
  readonly issuer: CertificateShape | undefined;
  readonly signal: AbortSignal | undefined;
  readonly now: () => number;
  readonly clockSkewMs: number;
  readonly maxAgeWithoutNextUpdateMs: number;
  readonly maxAgeMs: number;
}

interface FetchShape extends TransportShape {
  certFile?: unknown;
  issuerFile?: unknown;
  cert?: unknown;
  issuer?: unknown;
  signal?: unknown;
  now?: unknown;
  clockSkewMs?: unknown;
  maxAgeWithoutNextUpdateMs?: unknown;
  maxAgeMs?: unknown;
}

/** @internal Checks the options of {@link fetchOcspResponse}. */
export function fetchOptions(where: string, options: object | undefined): ResolvedFetchOptions {
  const o = new OptionReader<FetchShape>(where, options);
  const certFile = o.path('certFile', undefined);
  const cert = o.check('cert', 'a CertificateInfo (from loadCertificateChain or readCertificate)', isCertificateInfo);
  const issuer = o.check('issuer', 'a CertificateInfo (from loadCertificateChain or readCertificate)', isCertificateInfo);
  if (certFile === undefined && (cert === undefined || issuer === undefined)) {
    throw new StaplingError('ERR_INVALID_OPTION', `${where}: option certFile (or cert and issuer) is required`, {
      expected: 'certFile, or both cert and issuer',
      found: cert === undefined && issuer === undefined ? 'none of them' : `only ${cert === undefined ? 'issuer' : 'cert'}`,
    });
  }
  const { clockSkewMs, maxAgeWithoutNextUpdateMs, maxAgeMs } = readChecks(o);
  return {
    certFile,
    issuerFile: o.path('issuerFile', undefined),
    cert,
    issuer,
    ...readTransport(o),
    signal: o.instance('signal', AbortSignal),
    now: o.function('now', Date.now),
    clockSkewMs,
    maxAgeWithoutNextUpdateMs,
    maxAgeMs,
  };
}

/** @internal The options of {@link startRefresh}, checked, with defaults. */
export interface ResolvedRefreshOptions extends ResolvedTransport {
  readonly refreshAt: number;
  readonly jitter: number;
  readonly minRetryMs: number;
  readonly maxRetryMs: number;
  readonly onError: ((error: StaplingError) => void) | undefined;
  readonly clock: ClockShape | undefined;
  readonly random: () => number;
}

interface RefreshShape extends TransportShape {
  refreshAt?: unknown;
  jitter?: unknown;
  minRetryMs?: unknown;
  maxRetryMs?: unknown;
  onError?: unknown;
  clock?: unknown;
  random?: unknown;
}

/** @internal Checks the options of {@link startRefresh}. */
export function refreshOptions(where: string, options: object | undefined): ResolvedRefreshOptions {
  const o = new OptionReader<RefreshShape>(where, options);
  const minRetryMs = o.timer('minRetryMs', DEFAULTS.minRetryMs);
  const maxRetryMs = o.timer('maxRetryMs', Math.max(DEFAULTS.maxRetryMs, minRetryMs));
  if (maxRetryMs < minRetryMs) throw o.invalid('maxRetryMs', `at least minRetryMs (${minRetryMs})`, maxRetryMs);
  return {
    ...readTransport(o),
    refreshAt: o.number('refreshAt', { min: 0, max: 1 }, DEFAULTS.refreshAt),
    jitter: o.number('jitter', { min: 0, max: 1 }, DEFAULTS.jitter),
    minRetryMs,
    maxRetryMs,
    onError: o.function('onError'),
    clock: o.methods<ClockShape>('clock', ['now', 'setTimeout', 'clearTimeout']),
    random: o.function('random', Math.random),
  };
}

/** @internal The options of {@link reloadClusterWorkers}, checked, with defaults. */
export function clusterReloadOptions(where: string, options: object | undefined): { certificate: boolean; timeoutMs: number } {
  const o = new OptionReader<{ certificate?: unknown; timeoutMs?: unknown; ocspFile?: unknown }>(where, options);
  if (o.raw('ocspFile') !== undefined) throw o.invalid('ocspFile', 'nothing: workers reload the files they hold', o.raw('ocspFile'));
  return { certificate: o.boolean('certificate', false), timeoutMs: o.timer('timeoutMs', DEFAULTS.clusterTimeoutMs) };
}

/** @internal Checks the limits given to {@link verifyOcspResponse} (all required). */
export function verifyLimits(where: string, limits: object | undefined): CheckOptions & { now: number } {
  if (limits === undefined) throw invalidArgument(where, 'limits', 'an object { now, clockSkewMs, maxAgeWithoutNextUpdateMs, maxResponseBytes }', limits);
  const o = new OptionReader<{ now?: unknown } & Partial<Record<CheckOptionNames, unknown>>>(where, limits);
  const required = (name: 'now' | CheckOptionNames) => {
    if (o.raw(name) === undefined) throw o.invalid(name, 'a number (required)', undefined);
  };
  for (const name of ['now', 'maxResponseBytes', 'clockSkewMs', 'maxAgeWithoutNextUpdateMs'] as const) required(name);
  return { now: o.number('now', { min: -MAX_DURATION_MS, max: MAX_DURATION_MS, what: 'a time in ms since the epoch' }, 0), ...readChecks(o) };
}

/** @internal Checks the arguments of {@link verifyOcspResponse}: bytes, two certificates and the limits. */
export function checkVerifyArguments(where: string, bytes: unknown, leaf: unknown, issuer: unknown, limits: unknown): void {
  checkBytes(where, 'bytes', bytes);
  checkCertificate(where, 'leaf', leaf);
  checkCertificate(where, 'issuer', issuer);
  if (typeof limits !== 'object' || limits === null) throw invalidArgument(where, 'limits', 'an object { now, clockSkewMs, maxAgeWithoutNextUpdateMs, maxResponseBytes }', limits);
  verifyLimits(where, limits);
}

/** The clock shape of src/clock.ts, repeated here so that this file imports no other module. */
interface ClockShape {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The fields of a CertificateInfo that requests and checks read. */
interface CertificateShape {
  readonly der: Buffer;
  readonly serialNumber: Buffer;
  readonly issuerName: Buffer;
  readonly subjectName: Buffer;
  readonly publicKeyBits: Buffer;
}

/** @internal True for a CertificateInfo as readCertificate makes it (checked by shape: it is plain data). */
export function isCertificateInfo(value: unknown): value is CertificateShape {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return ['der', 'serialNumber', 'issuerName', 'subjectName', 'publicKeyBits'].every((k) => Buffer.isBuffer(v[k])) && typeof v.x509 === 'object' && v.x509 !== null;
}

/** @internal Throws `ERR_INVALID_ARGUMENT` unless `value` is a Uint8Array (Buffers are). */
export function checkBytes(where: string, name: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalidArgument(where, name, 'a Uint8Array or Buffer', value);
}

/** @internal Throws `ERR_INVALID_ARGUMENT` unless `value` is a CertificateInfo. */
export function checkCertificate(where: string, name: string, value: unknown): void {
  if (!isCertificateInfo(value)) throw invalidArgument(where, name, 'a CertificateInfo (from loadCertificateChain or readCertificate)', value);
}

/** @internal Throws `ERR_INVALID_ARGUMENT` unless `value` is a file path. */
export function checkPath(where: string, name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '' || value.includes('\0')) throw invalidArgument(where, name, 'a file path (a non-empty string without NUL bytes)', value);
}

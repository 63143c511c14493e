import type { StapleStatus, StaplingContext } from './context.js';
import { StaplingError } from './errors.js';
import { fetchWithPlan, transportWithDefaults, type FetchOcspOptions } from './fetch.js';
import { writeFileAtomic } from './ocsp/file.js';

/** The timers a {@link Refresher} uses; inject a fake one to test a schedule without waiting. */
export interface RefreshClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms`; the returned handle goes to `clearTimeout`. Must not keep the process alive. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer made by `setTimeout`. */
  clearTimeout(handle: unknown): void;
}

/**
 * Options of {@link startRefresh}. All optional. How each fetch is sent (`url`, `hash`,
 * `method`, `timeoutMs`, `maxBytes`, `maxRedirects`) is as for {@link fetchOcspResponse}, with
 * the same defaults; the certificate, issuer and checks are the context's.
 */
export interface RefreshOptions extends Pick<FetchOcspOptions, 'url' | 'hash' | 'method' | 'timeoutMs' | 'maxBytes' | 'maxRedirects'> {
  /**
   * Where in the staple's validity window (thisUpdate to nextUpdate) to fetch the next one, as
   * a fraction. Default 0.5: halfway leaves the other half for retries while the responder is
   * down, and follows the usual practice of CAs that renew responses at half-life.
   */
  refreshAt?: number;
  /**
   * Random spread around that instant, as a fraction of the window, both ways. Default 0.1, so
   * that a fleet started together does not hit the responder together.
   */
  jitter?: number;
  /** First retry delay after a failure, in ms. Doubles each failure. Default 60000. */
  minRetryMs?: number;
  /** Longest retry delay, in ms. Default 3600000 (one hour). */
  maxRetryMs?: number;
  /** Called with each failed attempt's error (the staple held stays). Default: ignore. */
  onError?: (error: StaplingError) => void;
  /** The clock and timers. Default: `Date.now` and unref'd `setTimeout`. For tests. */
  clock?: RefreshClock;
  /** Random numbers in [0, 1) for jitter. Default `Math.random`. For tests. */
  random?: () => number;
}

// setTimeout's longest delay; longer waits are done in steps.
const MAX_TIMER = 0x7fffffff;

const REAL_CLOCK: RefreshClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Keeps one context's staple fresh from inside the process. Made by {@link startRefresh}.
 *
 * Fetches run only from timers or {@link Refresher.refreshNow}: never from a handshake. Each
 * good response is written to the context's `ocspFile` atomically, then the context reloads it
 * (so the file is checked again, exactly as at start-up, and a restart starts stapled). A failed
 * fetch changes nothing: the context keeps stapling the last good response while it is valid.
 */
export class Refresher {
  readonly #ctx: StaplingContext;
  readonly #options: RefreshOptions;
  readonly #clock: RefreshClock;
  readonly #random: () => number;
  #timer: unknown = null;
  #nextAt: number | null = null;
  #running: Promise<StapleStatus> | null = null;
  #abort: AbortController | null = null;
  #failures = 0;
  #stopped = false;
  readonly #onReload = () => {
    // Someone else (a job, a watch) loaded a new staple: plan from it, unless we are the ones loading.
    if (this.#running) return;
    this.#failures = 0;
    this.#plan();
  };
  readonly #onCertificate = () => {
    // A new certificate drops the staple held: fetch for the new one at once.
    if (!this.#running) this.#arm(this.#clock.now());
  };

  /** @internal Use {@link startRefresh}. */
  constructor(ctx: StaplingContext, options: RefreshOptions) {
    this.#ctx = ctx;
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#random = options.random ?? Math.random;
    ctx.on('reload', this.#onReload);
    ctx.on('certificate', this.#onCertificate);
    ctx.once('close', this.#onClose);
    this.#plan();
  }

  /** When the next fetch is due (ms since the epoch), or null when stopped or fetching. */
  get nextRefreshAt(): number | null {
    return this.#nextAt;
  }

  /** Failed attempts since the last success. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Fetches now, unless a fetch is already running: then resolves with that one (concurrent
   * calls share one fetch). Resolves with the context's status after the reload; rejects with
   * the fetch's {@link StaplingError}, and schedules a retry.
   */
  refreshNow(): Promise<StapleStatus> {
    if (this.#stopped) return Promise.reject(new Error('this Refresher is stopped'));
    if (this.#running) return this.#running;
    this.#disarm();
    const run = this.#run().finally(() => {
      this.#running = null;
      this.#abort = null;
    });
    this.#running = run;
    return run;
  }

  /** Stops the schedule and aborts a running fetch. The staple held stays. Idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#disarm();
    this.#abort?.abort(new Error('refresh stopped'));
    this.#ctx.off('reload', this.#onReload);
    this.#ctx.off('certificate', this.#onCertificate);
    this.#ctx.off('close', this.#onClose);
  }

  readonly #onClose = (): void => this.stop();

  async #run(): Promise<StapleStatus> {
    const abort = new AbortController();
    this.#abort = abort;
    const o = this.#options;
    const chain = this.#ctx.chain;
    const { leaf, issuer } = chain;
    try {
      const { bytes } = await fetchWithPlan({
        leaf,
        issuer,
        ...transportWithDefaults(o),
        signal: abort.signal,
        // The context's own check, with its limits and clock: one implementation.
        verify: (body) => this.#ctx.verify(body),
      });
      if (this.#stopped) throw new Error('refresh stopped');
      // A certificate renewed during the fetch: this response is for the old one; never write it.
      if (this.#ctx.chain !== chain) throw new StaplingError('ERR_OCSP_CERTID_MISMATCH', 'the certificate changed during the fetch');
      const file = this.#ctx.status().ocspFile;
      await writeFileAtomic(file, bytes);
      const status = await this.#ctx.reload();
      this.#failures = 0;
      this.#plan();
      return status;
    } catch (err) {
      if (!this.#stopped) {
        this.#failures++;
        this.#retry();
        const error = err instanceof StaplingError ? err : new StaplingError('ERR_FETCH_NETWORK', 'refresh failed', { found: String((err as Error)?.message ?? err), cause: err });
        try {
          o.onError?.(error);
        } catch {
          // A throwing onError must not stop the schedule.
        }
      }
      throw err;
    }
  }

  // Next fetch at refreshAt of the staple's window, with jitter; at once without a staple.
  #plan(): void {
    const status = this.#ctx.status();
    const now = this.#clock.now();
    if (!status.stapling || !status.thisUpdate || !status.validUntil) {
      this.#arm(now);
      return;
    }
    const from = status.thisUpdate.getTime();
    const window = status.validUntil.getTime() - from;
    const jitter = (this.#random() * 2 - 1) * (this.#options.jitter ?? 0.1) * window;
    this.#arm(Math.max(now, from + window * (this.#options.refreshAt ?? 0.5) + jitter));
  }

  // Capped exponential backoff with jitter between half and all of the delay.
  #retry(): void {
    const min = this.#options.minRetryMs ?? 60_000;
    const max = this.#options.maxRetryMs ?? 3_600_000;
    const delay = Math.min(max, min * 2 ** Math.min(this.#failures - 1, 30));
    this.#arm(this.#clock.now() + delay * (0.5 + this.#random() / 2));
  }

  #arm(at: number): void {
    this.#disarm();
    if (this.#stopped) return;
    this.#nextAt = at;
    const wait = Math.min(Math.max(at - this.#clock.now(), 0), MAX_TIMER);
    this.#timer = this.#clock.setTimeout(() => this.#fire(at), wait);
  }

  #disarm(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#nextAt = null;
  }

  #fire(at: number): void {
    this.#timer = null;
    if (this.#stopped) return;
    if (this.#clock.now() < at) {
      this.#arm(at); // a wait longer than one timer allows
      return;
    }
    this.#nextAt = null;
    this.refreshNow().catch(() => undefined); // reported through onError
  }
}

/**
 * Opt-in: keeps `ctx`'s staple fresh from inside the process, for servers that prefer that to a
 * scheduled `ocsp-stapler fetch` job. Fetches at about half of each staple's validity window
 * (with jitter), at once when nothing is stapled; retries failures with capped exponential
 * backoff; writes each good response to the context's `ocspFile` atomically and reloads it.
 * `ctx.close()` stops it too.
 *
 * @example
 * ```ts
 * const ctx = await createStaplingContext({ certFile: 'site.pem', ocspFile: 'site.pem.ocsp' });
 * const refresher = startRefresh(ctx, { onError: (err) => log.warn(err.message) });
 * ctx.attach(server);
 * // on shutdown (also stops the refresher):
 * await ctx.close();
 * ```
 */
export function startRefresh(ctx: StaplingContext, options: RefreshOptions = {}): Refresher {
  return new Refresher(ctx, options);
}

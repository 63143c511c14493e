import { startDeadline, systemClock, type Clock, type Deadline } from './clock.js';
import { StaplingContext, type StapleStatus } from './context.js';
import { StaplingError } from './errors.js';
import { fetchWithPlan, type FetchOcspOptions, type Validators } from './fetch.js';
import { writeFileAtomic } from './ocsp/file.js';
import { invalidArgument, refreshOptions, type ResolvedRefreshOptions } from './options.js';

/** The clock and timers a {@link Refresher} uses: the library's one {@link Clock}. Inject a fake one to test a schedule without waiting. */
export type RefreshClock = Clock;

/**
 * Options of {@link startRefresh}. All optional. How each fetch is sent (`url`, `hash`,
 * `method`, `timeoutMs`, `maxBytes`, `maxRedirects`) is as for {@link fetchOcspResponse}, with
 * the same defaults; the certificate, issuer and checks are the context's.
 *
 * The schedule: the first fetch at `refreshAt` of the staple's window;
 * then, while fetches fail or bring nothing newer than the staple held, again after growing,
 * randomised delays from `minRetryMs` up to `maxRetryMs`, never before the responder's HTTP
 * caching says its answer may change, and never later than half of the staple's remaining life.
 */
export interface RefreshOptions extends Pick<FetchOcspOptions, 'url' | 'hash' | 'method' | 'timeoutMs' | 'maxBytes' | 'maxRedirects'> {
  /**
   * Where in the staple's validity window (thisUpdate to its `validUntil`) to fetch the next
   * one, as a fraction. Default 0.5: halfway leaves the other half for retries while the
   * responder is down, and follows the usual practice of CAs that renew responses at half-life.
   */
  refreshAt?: number;
  /**
   * Random spread around that instant, as a fraction of the window, both ways. Default 0.1, so
   * that a fleet started together does not hit the responder together.
   */
  jitter?: number;
  /**
   * First delay after a failed fetch, or after one that brought nothing newer than the staple
   * held (the same thisUpdate, or a 304), in ms. Doubles with each such fetch in a row, and each
   * delay is randomised between half and all of its value. Default 60000.
   */
  minRetryMs?: number;
  /** Longest such delay, in ms. Default 3600000 (one hour). */
  maxRetryMs?: number;
  /** Called with each failed attempt's error (the staple held stays). Default: ignore. */
  onError?: (error: StaplingError) => void;
  /** The clock and timers. Default {@link systemClock}: `Date.now` and unref'd `setTimeout`. For tests. */
  clock?: Clock;
  /** Random numbers in [0, 1) for jitter. Default `Math.random`. For tests. */
  random?: () => number;
}

/** @internal What {@link nextFetchAt} plans from. */
export interface ScheduleInput {
  readonly now: number;
  /** The staple held, or null when nothing is stapled (or what is held is no longer valid). */
  readonly held: { readonly thisUpdate: number; readonly validUntil: number } | null;
  /** Fetches in a row that failed or brought nothing newer than `held`. */
  readonly streak: number;
  /** Until when the responder's last answer may be served unchanged by HTTP caches (RFC 5019 section 6), or null. */
  readonly freshUntil: number | null;
  readonly refreshAt: number;
  readonly jitter: number;
  readonly minRetryMs: number;
  readonly maxRetryMs: number;
  /** Where in the jitter this staple's plan falls, in [-1, 1]: drawn once per staple, so that a backoff never redraws it. */
  readonly spread: number;
  /** Random numbers in [0, 1), for the backoff. */
  readonly random: () => number;
}

/**
 * @internal When to fetch next, in ms since the epoch. The rules, in order:
 * 1. Plan from the staple held: `thisUpdate + refreshAt * window`, spread by `jitter`, where the
 *    window ends at its `validUntil` (nextUpdate, or earlier when the checks cap its life).
 * 2. After `streak` fetches in a row that failed or brought nothing newer, wait
 *    `minRetryMs * 2^(streak-1)`, capped at `maxRetryMs`, randomised between half and all of it:
 *    one request per step, however long the responder keeps its old answer.
 * 3. Not before `freshUntil`: until then caches on the way answer with the same bytes.
 * 4. But never later than half of the staple's remaining life (at least `minRetryMs` from now),
 *    unless the plan of rule 1 is later still: the staple never runs out untried.
 * With nothing held: at once, then by rule 2.
 */
export function nextFetchAt(i: ScheduleInput): number {
  const backoff = i.streak === 0 ? 0 : Math.min(i.maxRetryMs, i.minRetryMs * 2 ** Math.min(i.streak - 1, 30)) * (0.5 + i.random() / 2);
  if (i.held === null || i.held.validUntil <= i.now) return i.now + backoff;
  const { thisUpdate, validUntil } = i.held;
  const window = validUntil - thisUpdate;
  const planned = thisUpdate + window * (i.refreshAt + i.spread * i.jitter);
  const at = Math.max(i.now + backoff, planned, i.freshUntil ?? -Infinity);
  const latest = Math.max(planned, i.now + Math.max(i.minRetryMs, (validUntil - i.now) / 2));
  return Math.min(at, latest);
}

// Only startRefresh makes refreshers: see the private constructor.
const CREATE = Symbol('Refresher.create');

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
  readonly #options: ResolvedRefreshOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  #timer: Deadline | null = null;
  #nextAt: number | null = null;
  #running: Promise<StapleStatus> | null = null;
  #abort: AbortController | null = null;
  #failures = 0;
  #unchanged = 0;
  // Fetches in a row that failed or brought nothing newer: the backoff exponent.
  #streak = 0;
  #freshUntil: number | null = null;
  #validators: Validators | undefined;
  // The jitter of the plan, drawn once per staple held (keyed by its thisUpdate).
  #spread = { thisUpdate: NaN, value: 0 };
  #stopped = false;
  readonly #onReload = () => {
    // Someone else (a job, a watch) loaded a new staple: plan from it, unless we are the ones loading.
    if (this.#running) return;
    this.#failures = 0;
    this.#unchanged = 0;
    this.#streak = 0;
    this.#freshUntil = null;
    this.#validators = undefined; // they named the response we fetched, not the one now held
    this.#plan();
  };
  readonly #onCertificate = () => {
    // A new certificate drops the staple held: fetch for the new one at once.
    this.#streak = 0;
    this.#freshUntil = null;
    this.#validators = undefined;
    if (!this.#running) this.#arm(this.#clock.now());
  };

  // Private: a refresher is made by startRefresh, never with `new`.
  private constructor(token: symbol, ctx: StaplingContext, options: ResolvedRefreshOptions) {
    if (token !== CREATE) throw invalidArgument('new Refresher', 'token', 'nothing: make refreshers with startRefresh()', token);
    this.#ctx = ctx;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
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

  /** Failed attempts since the last fetch that reached the responder and passed the checks. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Fetches in a row that passed the checks but brought nothing newer than the staple held
   * (the same thisUpdate or older, or a `304 Not Modified`): nothing was written or reloaded.
   */
  get unchanged(): number {
    return this.#unchanged;
  }

  /** @internal {@link startRefresh}'s constructor, for options already checked. */
  static create(ctx: StaplingContext, options: ResolvedRefreshOptions): Refresher {
    return new Refresher(CREATE, ctx, options);
  }

  /**
   * Fetches now, unless a fetch is already running: then resolves with that one (concurrent
   * calls share one fetch). Resolves with the context's status: after the reload when the
   * response was newer than the staple held, as it was when it was not (nothing is written
   * then). Rejects with the fetch's {@link StaplingError} (`ERR_FILE_WRITE` when the response
   * could not be written), and schedules a retry. After {@link stop} (or the context's close),
   * rejects with `ERR_STOPPED`.
   */
  refreshNow(): Promise<StapleStatus> {
    if (this.#stopped) return Promise.reject(stoppedError());
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
    this.#abort?.abort(stoppedError());
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
      const result = await fetchWithPlan({
        leaf,
        issuer,
        transport: o,
        signal: abort.signal,
        now: () => this.#clock.now(),
        // Conditional only while a staple is held: a 304 says "nothing newer than what you have".
        validators: this.#ctx.status().stapling ? this.#validators : undefined,
        // The context's own check, with its limits and clock: one implementation.
        verify: (body) => this.#ctx.verify(body),
      });
      if (this.#stopped) throw stoppedError();
      // A certificate renewed during the fetch: this response is for the old one; never write it.
      if (this.#ctx.chain !== chain) throw new StaplingError('ERR_OCSP_CERTID_MISMATCH', 'the certificate changed during the fetch');
      this.#failures = 0;
      this.#freshUntil = result.caching.freshUntil;
      const { etag, lastModified } = result.caching;
      if (etag || lastModified || !('notModified' in result)) this.#validators = { etag, lastModified };
      const held = this.#ctx.status();
      // Nothing newer (a 304, the same response, or an older one from a cache): write nothing,
      // reload nothing, and back off (nextFetchAt).
      if ('notModified' in result || (held.stapling && held.thisUpdate && result.verified.single.thisUpdate.getTime() <= held.thisUpdate.getTime())) {
        this.#unchanged++;
        this.#streak++;
        this.#plan();
        return held;
      }
      const file = held.ocspFile;
      try {
        await writeFileAtomic(file, result.bytes);
      } catch (err) {
        if (err instanceof StaplingError) throw err; // ERR_FILE_WRITE already
        throw new StaplingError('ERR_FILE_WRITE', 'cannot write the fetched response to its file', {
          found: (err as NodeJS.ErrnoException).code ?? String(err),
          file,
          cause: err,
        });
      }
      const status = await this.#ctx.reload();
      this.#unchanged = 0;
      this.#streak = 0;
      this.#plan();
      return status;
    } catch (err) {
      // Stopped mid-fetch: whatever the fetch said (ERR_ABORTED, mostly), the answer is ERR_STOPPED.
      if (this.#stopped) throw stoppedError();
      this.#failures++;
      this.#streak++;
      this.#plan();
      // Only StaplingErrors reach onError; anything else (a bug) is rethrown as itself.
      if (err instanceof StaplingError) {
        try {
          o.onError?.(err);
        } catch {
          // A throwing onError must not stop the schedule.
        }
      }
      throw err;
    }
  }

  #plan(): void {
    const status = this.#ctx.status();
    const o = this.#options;
    const thisUpdate = status.thisUpdate?.getTime() ?? NaN;
    if (this.#spread.thisUpdate !== thisUpdate) this.#spread = { thisUpdate, value: this.#random() * 2 - 1 };
    this.#arm(
      nextFetchAt({
        now: this.#clock.now(),
        held: status.stapling && status.thisUpdate && status.validUntil ? { thisUpdate: status.thisUpdate.getTime(), validUntil: status.validUntil.getTime() } : null,
        streak: this.#streak,
        freshUntil: this.#freshUntil,
        refreshAt: o.refreshAt,
        jitter: o.jitter,
        minRetryMs: o.minRetryMs,
        maxRetryMs: o.maxRetryMs,
        spread: this.#spread.value,
        random: this.#random,
      }),
    );
  }

  #arm(at: number): void {
    this.#disarm();
    if (this.#stopped) return;
    this.#nextAt = at;
    // startDeadline waits in steps when `at` is further than one setTimeout allows.
    this.#timer = startDeadline(at, () => this.#fire(), this.#clock);
  }

  #disarm(): void {
    this.#timer?.cancel();
    this.#timer = null;
    this.#nextAt = null;
  }

  #fire(): void {
    this.#timer = null;
    if (this.#stopped) return;
    this.#nextAt = null;
    this.refreshNow().catch((err: unknown) => {
      // StaplingErrors went to onError; anything else is a bug, and must not vanish.
      if (!(err instanceof StaplingError)) process.emitWarning(err instanceof Error ? err : String(err), { code: 'OCSP_STAPLER_REFRESH' });
    });
  }
}

/**
 * Opt-in: keeps `ctx`'s staple fresh from inside the process, for servers that prefer that to a
 * scheduled `ocsp-stapler fetch` job. Fetches at about half of each staple's validity window
 * (with jitter), at once when nothing is stapled; backs off exponentially (capped, randomised)
 * while fetches fail or bring nothing newer, honouring the responder's HTTP caching headers
 * and making conditional GETs; writes each newer good response to the context's `ocspFile`
 * atomically and reloads it, and never writes or reloads an unchanged one.
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
export function startRefresh(ctx: StaplingContext, options?: RefreshOptions): Refresher {
  if (!(ctx instanceof StaplingContext)) throw invalidArgument('startRefresh', 'ctx', 'a StaplingContext', ctx);
  if (ctx.closed) throw new StaplingError('ERR_CLOSED', 'startRefresh: the context is closed', { expected: 'a context not yet closed', found: 'close() was called' });
  return Refresher.create(ctx, refreshOptions('startRefresh', options));
}

function stoppedError(): StaplingError {
  return new StaplingError('ERR_STOPPED', 'the refresher is stopped', { expected: 'a refresher not stopped', found: 'stop() was called, or its context was closed' });
}

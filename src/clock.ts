/**
 * One clock and one long-deadline timer, shared by the context (expiring/expired events) and the
 * refresher (next fetch). setTimeout cannot wait longer than 2^31-1 ms (about 24.8 days; Node
 * fires a longer delay after 1 ms), and a staple may be valid for months: {@link startDeadline}
 * waits in steps.
 */
import { MAX_TIMER_MS } from './options.js';

/** The time and the timers the library uses; inject a fake one to test a schedule without waiting. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms`; the returned handle goes to `clearTimeout`. Must not keep the process alive. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer made by `setTimeout`. */
  clearTimeout(handle: unknown): void;
  /**
   * How often a long deadline looks at `now()` again, in ms. Default 5 minutes
   * (the system clock's time can jump forward while its timers wait).
   * A fake clock whose time moves only when its timers fire may say Infinity.
   */
  readonly checkEveryMs?: number;
}

/** The real clock: `Date.now`, and unref'd timers so that a pending deadline never keeps the process alive. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
});

/** @internal A clock that reads the time from `now` and keeps the real timers (the context's `now` option). */
export function clockWithNow(now: () => number): Clock {
  return now === Date.now ? systemClock : { now, setTimeout: systemClock.setTimeout, clearTimeout: systemClock.clearTimeout };
}

/**
 * @internal The longest a deadline sleeps before it looks at the wall clock again: 5 minutes.
 * Timers run on the monotonic clock, which neither follows a wall clock set forward nor advances
 * while a VM is suspended; without this, a fetch due on the 4th whose wall clock jumped to the 7th
 * would still wait three more days of real time. Cheap: one wake-up per deadline per 5 minutes.
 */
export const WALL_CLOCK_CHECK_MS = 5 * 60_000;

/** A pending {@link startDeadline}. */
export interface Deadline {
  /** The instant it fires at, in ms since the epoch. */
  readonly at: number;
  /** Stops it; `fn` is then never called. Idempotent. */
  cancel(): void;
}

/**
 * @internal Calls `fn` once, as soon as `clock.now() >= at`, however far away `at` is: waits in
 * steps of at most {@link WALL_CLOCK_CHECK_MS} (so a wall clock that jumps forward, or a resumed
 * VM, is noticed within 5 minutes) and, when woken early (a long wait, or a clock that jumped
 * back), waits again. Never keeps the process alive with the system clock. `at` of Infinity never fires.
 */
export function startDeadline(at: number, fn: () => void, clock: Clock = systemClock): Deadline {
  if (Number.isNaN(at)) throw new RangeError('startDeadline: at is NaN');
  return new PendingDeadline(at, fn, clock);
}

// A class rather than closures: a registry holds one deadline per certificate, and four closures
// and their context cost about 1 KiB each (bench/RESULTS.md, registry memory); this is one object
// and one bound callback.
class PendingDeadline implements Deadline {
  readonly at: number;
  readonly #fn: () => void;
  readonly #clock: Clock;
  readonly #tick = (): void => this.#onTimer();
  #handle: unknown = null;
  #done = false;

  constructor(at: number, fn: () => void, clock: Clock) {
    this.at = at;
    this.#fn = fn;
    this.#clock = clock;
    if (at !== Infinity) this.#arm();
  }

  cancel(): void {
    this.#done = true;
    if (this.#handle !== null) this.#clock.clearTimeout(this.#handle);
    this.#handle = null;
  }

  #arm(): void {
    const wait = Math.min(Math.max(this.at - this.#clock.now(), 0), this.#clock.checkEveryMs ?? WALL_CLOCK_CHECK_MS, MAX_TIMER_MS);
    this.#handle = this.#clock.setTimeout(this.#tick, wait);
  }

  #onTimer(): void {
    this.#handle = null;
    if (this.#done) return;
    if (this.#clock.now() < this.at) {
      this.#arm();
      return;
    }
    this.#done = true;
    this.#fn();
  }
}

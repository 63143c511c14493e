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

/** A pending {@link startDeadline}. */
export interface Deadline {
  /** The instant it fires at, in ms since the epoch. */
  readonly at: number;
  /** Stops it; `fn` is then never called. Idempotent. */
  cancel(): void;
}

/**
 * @internal Calls `fn` once, as soon as `clock.now() >= at`, however far away `at` is: waits in
 * steps of at most 2^31-1 ms and, when woken early (a long wait, or a clock that jumped back),
 * waits again. Never keeps the process alive with the system clock. `at` of Infinity never fires.
 */
export function startDeadline(at: number, fn: () => void, clock: Clock = systemClock): Deadline {
  if (Number.isNaN(at)) throw new RangeError('startDeadline: at is NaN');
  let handle: unknown = null;
  let done = false;
  const arm = () => {
    const wait = Math.min(Math.max(at - clock.now(), 0), MAX_TIMER_MS);
    handle = clock.setTimeout(tick, wait);
  };
  const tick = () => {
    handle = null;
    if (done) return;
    if (clock.now() < at) {
      arm();
      return;
    }
    done = true;
    fn();
  };
  if (at !== Infinity) arm();
  return {
    at,
    cancel() {
      done = true;
      if (handle !== null) clock.clearTimeout(handle);
      handle = null;
    },
  };
}

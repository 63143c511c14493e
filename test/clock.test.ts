/** The one clock and the long-deadline timer (src/clock.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDeadline, systemClock, WALL_CLOCK_CHECK_MS, type Clock } from '../src/clock.js';
import { MAX_TIMER_MS } from '../src/options.js';

/** A clock whose timers fire only when the test moves time. */
class ManualClock implements Clock {
  t = 0;
  #next = 1;
  readonly timers = new Map<number, { at: number; ms: number; fn: () => void }>();
  readonly delays: number[] = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.delays.push(ms);
    this.timers.set(id, { at: this.t + ms, ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Fires the one pending timer, moving time to it (or to `to`, for a clock that jumps). */
  fire(to?: number): void {
    assert.equal(this.timers.size, 1, 'exactly one timer is pending');
    const [id, timer] = [...this.timers.entries()][0]!;
    this.timers.delete(id);
    this.t = to ?? timer.at;
    timer.fn();
  }
}

describe('startDeadline', () => {
  it('waits beyond setTimeout\'s 2^31-1 ms in steps, and fires once at the deadline', () => {
    const clock = new ManualClock();
    const at = 3 * MAX_TIMER_MS + 5;
    let fired = 0;
    startDeadline(at, () => fired++, clock);
    while (fired === 0) clock.fire();
    assert.ok(clock.delays.every((ms) => ms <= WALL_CLOCK_CHECK_MS && ms <= MAX_TIMER_MS), 'no step longer than the wall-clock check or than setTimeout allows');
    assert.equal(clock.delays.at(-1), at % WALL_CLOCK_CHECK_MS);
    assert.equal(clock.t, at);
    assert.equal(fired, 1);
    assert.equal(clock.timers.size, 0, 'nothing left pending');
  });

  it('notices a wall clock that jumps forward (or a resumed VM) within WALL_CLOCK_CHECK_MS of timer time', () => {
    // Timers run on the monotonic clock; the wall clock is monotonic time plus an offset that jumps.
    const clock = new ManualClock();
    const day = 86_400_000;
    let fired = -1;
    let monotonic = 0;
    startDeadline(3 * day, () => (fired = monotonic), clock);
    let offset = 0;
    for (let step = 0; fired < 0 && step < 10_000; step++) {
      const [id, timer] = [...clock.timers.entries()][0]!;
      clock.timers.delete(id);
      monotonic += timer.ms;
      if (offset === 0 && monotonic >= 60_000) offset = 3.3 * day; // set forward at the first wake-up after a minute
      clock.t = monotonic + offset;
      timer.fn();
    }
    assert.ok(fired >= 0, 'fired');
    assert.ok(fired <= 60_000 + WALL_CLOCK_CHECK_MS, `fired after ${fired} ms of timer time, not within ${WALL_CLOCK_CHECK_MS} ms of the jump`);
  });

  it('waits again when woken early by a clock that went back', () => {
    const clock = new ManualClock();
    let fired = 0;
    startDeadline(1000, () => fired++, clock);
    clock.fire(400); // the timer ran, but the clock says 400
    assert.equal(fired, 0);
    assert.deepEqual(clock.delays, [1000, 600]);
    clock.fire();
    assert.equal(fired, 1);
  });

  it('fires at once (after a zero wait) for a deadline already past', () => {
    const clock = new ManualClock();
    clock.t = 5000;
    let fired = 0;
    startDeadline(10, () => fired++, clock);
    assert.deepEqual(clock.delays, [0]);
    clock.fire(5000);
    assert.equal(fired, 1);
  });

  it('never fires after cancel(), even mid-chain', () => {
    const clock = new ManualClock();
    let fired = 0;
    const deadline = startDeadline(2 * MAX_TIMER_MS, () => fired++, clock);
    clock.fire();
    deadline.cancel();
    deadline.cancel();
    assert.equal(clock.timers.size, 0, 'the pending step is cleared');
    assert.equal(fired, 0);
  });

  it('arms nothing for a deadline of Infinity, and refuses NaN', () => {
    const clock = new ManualClock();
    startDeadline(Infinity, () => assert.fail('fired'), clock);
    assert.equal(clock.timers.size, 0);
    assert.throws(() => startDeadline(Number.NaN, () => undefined, clock), RangeError);
  });

  it('with the system clock: fires, and its timer does not keep the process alive', async () => {
    let handle: unknown;
    const spy: Clock = {
      now: systemClock.now,
      setTimeout: (fn, ms) => (handle = systemClock.setTimeout(fn, ms)),
      clearTimeout: systemClock.clearTimeout,
    };
    await new Promise<void>((resolve) => startDeadline(Date.now() + 5, resolve, spy));
    assert.equal((handle as NodeJS.Timeout).hasRef(), false, 'unref\'d');
  });
});

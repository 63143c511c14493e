/** The one clock and the long-deadline timer (src/clock.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDeadline, systemClock, type Clock } from '../src/clock.js';
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
    assert.deepEqual(clock.delays, [MAX_TIMER_MS], 'no single timer is longer than setTimeout allows');
    clock.fire();
    clock.fire();
    assert.equal(fired, 0, 'not before the deadline');
    clock.fire();
    assert.deepEqual(clock.delays, [MAX_TIMER_MS, MAX_TIMER_MS, MAX_TIMER_MS, 5]);
    assert.equal(fired, 0);
    clock.fire();
    assert.equal(clock.t, at);
    assert.equal(fired, 1);
    assert.equal(clock.timers.size, 0, 'nothing left pending');
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

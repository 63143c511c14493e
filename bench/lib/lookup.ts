import type { OcspRequestListener } from '../../src/dispatch.js';

/** What one measurement of the OCSPRequest listener gives. */
export interface LookupTiming {
  /** ns per call of the listener under test. */
  readonly listenerNs: number[];
  /** ns per call of an empty listener (`cb(null, null)`), same loop, same inputs. */
  readonly emptyNs: number[];
  /** Calls that got a staple back, out of all calls of the listener under test. */
  readonly stapled: number;
  readonly calls: number;
}

let sink: Buffer | null | undefined = null;
let stapled = 0;
const callback = (_err: Error | null, response?: Buffer | null) => {
  sink = response;
  if (response) stapled++;
};

function loop(listener: OcspRequestListener, ders: readonly Buffer[], calls: number, fresh: boolean): number {
  const n = ders.length;
  const start = process.hrtime.bigint();
  if (fresh) for (let i = 0; i < calls; i++) listener(Buffer.from(ders[i % n]!), null, callback);
  else for (let i = 0; i < calls; i++) listener(ders[i % n]!, null, callback);
  return Number(process.hrtime.bigint() - start) / calls;
}

/**
 * Calls `listener` `calls` times per round, cycling through `ders`, alternating rounds with an
 * empty listener. `fresh`: pass a new copy of the DER on every call, as Node does (it encodes
 * the certificate into a new Buffer per handshake, which is then in the CPU cache); the copy
 * is in both loops, so it cancels out in the difference. Otherwise the stored Buffers are
 * passed as they are (for 10,000 of them: cold in cache, the worst case).
 */
export function timeListener(listener: OcspRequestListener, ders: readonly Buffer[], rounds: number, calls: number, fresh: boolean): LookupTiming {
  const empty: OcspRequestListener = (_c, _i, cb) => cb(null, null);
  // Warm-up: let both reach optimised code.
  loop(listener, ders, calls, fresh);
  loop(empty, ders, calls, fresh);
  const listenerNs: number[] = [];
  const emptyNs: number[] = [];
  stapled = 0;
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      listenerNs.push(loop(listener, ders, calls, fresh));
      emptyNs.push(loop(empty, ders, calls, fresh));
    } else {
      emptyNs.push(loop(empty, ders, calls, fresh));
      listenerNs.push(loop(listener, ders, calls, fresh));
    }
  }
  void sink;
  return { listenerNs, emptyNs, stapled, calls: rounds * calls };
}

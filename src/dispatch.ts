import type { Server as TlsServer } from 'node:tls';

/** Anything that can hand a ready staple for one certificate. */
export interface StapleSource {
  /** DER of the certificate this source staples for. */
  readonly certificate: Buffer;
  /**
   * Called once per handshake that asked for status: the staple to send now, or null.
   * Must be cheap (it runs inside the handshake) and must not throw.
   */
  stapleForHandshake(): Buffer | null;
}

/** Handshakes one server's listener saw for certificates no source knows. */
export interface DispatcherCounters {
  /** Status requests for a certificate that no attached context or registry holds. */
  unknownCertificate: number;
}

/** The OCSPRequest listener signature, as Node calls it. */
export type OcspRequestListener = (
  certificate: Buffer,
  issuer: Buffer | null,
  callback: (err: Error | null, response?: Buffer | null) => void,
) => void;

// One dispatcher per server, found through a global symbol so that two copies of this library
// (say ESM and CJS builds in one process) still share it: two listeners would both call back,
// and Node throws ERR_MULTIPLE_CALLBACK on the second call.
const DISPATCHER = Symbol.for('ocsp-stapler.dispatcher');

interface WithDispatcher {
  [DISPATCHER]?: Dispatcher;
}

/**
 * Finds the staple for the certificate Node hands to the OCSPRequest listener.
 *
 * Hot path: called on every handshake that asks for status. Sources are indexed by the last
 * six bytes of their DER, which sit inside the signature and are as good as random, so a
 * lookup reads one integer from the buffer, does one Map get and one memcmp: no allocation,
 * no hashing of the whole certificate.
 */
export class Dispatcher {
  readonly #byTail = new Map<number, StapleSource[]>();
  #count = 0;
  /** Counted here because no source can count a certificate it does not hold. */
  readonly counters: DispatcherCounters = { unknownCertificate: 0 };

  /** Sources registered. */
  get size(): number {
    return this.#count;
  }

  add(source: StapleSource): void {
    const key = tailKey(source.certificate);
    const list = this.#byTail.get(key);
    if (list?.includes(source)) return;
    if (list) list.push(source);
    else this.#byTail.set(key, [source]);
    this.#count++;
  }

  delete(source: StapleSource): boolean {
    const key = tailKey(source.certificate);
    const list = this.#byTail.get(key);
    const at = list ? list.indexOf(source) : -1;
    if (!list || at < 0) return false;
    list.splice(at, 1);
    if (list.length === 0) this.#byTail.delete(key);
    this.#count--;
    return true;
  }

  /** The staple for `certificate`, or null. Never throws. */
  lookup(certificate: Buffer): Buffer | null {
    if (certificate.length >= 6) {
      const list = this.#byTail.get(certificate.readUIntBE(certificate.length - 6, 6));
      if (list !== undefined) {
        for (let i = 0; i < list.length; i++) {
          const source = list[i]!;
          if (source.certificate.equals(certificate)) return source.stapleForHandshake();
        }
      }
    }
    this.counters.unknownCertificate++;
    return null;
  }

  /** The listener to put on a server: a lookup and one callback, whatever happens. */
  readonly listener: OcspRequestListener = (certificate, _issuer, callback) => {
    let staple: Buffer | null = null;
    try {
      staple = this.lookup(certificate);
    } catch {
      staple = null;
    }
    callback(null, staple);
  };
}

function tailKey(der: Buffer): number {
  return der.length < 6 ? -1 : der.readUIntBE(der.length - 6, 6);
}

/** Adds `source` to the server's one dispatcher, creating and attaching it when needed. */
export function attachSource(server: TlsServer, source: StapleSource): void {
  const holder = server as TlsServer & WithDispatcher;
  let dispatcher = holder[DISPATCHER];
  if (!dispatcher) {
    dispatcher = new Dispatcher();
    holder[DISPATCHER] = dispatcher;
    server.on('OCSPRequest', dispatcher.listener);
  }
  dispatcher.add(source);
}

/** The dispatcher attached to `server`, if any context or registry is attached. */
export function dispatcherOf(server: TlsServer): Dispatcher | undefined {
  return (server as TlsServer & WithDispatcher)[DISPATCHER];
}

/** Removes `source`; the listener goes when its last source does, so handshakes pay nothing. */
export function detachSource(server: TlsServer, source: StapleSource): void {
  const holder = server as TlsServer & WithDispatcher;
  const dispatcher = holder[DISPATCHER];
  if (!dispatcher || !dispatcher.delete(source)) return;
  if (dispatcher.size === 0) {
    server.off('OCSPRequest', dispatcher.listener);
    delete holder[DISPATCHER];
  }
}

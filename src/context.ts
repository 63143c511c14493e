import { EventEmitter } from 'node:events';
import { Server as TlsServerClass, type Server as TlsServer } from 'node:tls';
import { clockWithNow, startDeadline, type Clock, type Deadline } from './clock.js';
import { attachSource, detachSource, type StapleSource } from './dispatch.js';
import { StaplingError, type StaplingErrorCode } from './errors.js';
import { readOcspFile } from './ocsp/file.js';
import type { CertIdHash, CertStatus } from './ocsp/parse.js';
import { verifyOcspResponse, type SignedBy, type VerifiedResponse, type VerifyLimits } from './ocsp/verify.js';
import { checkBytes, contextOptions, invalidArgument, reloadOptions, watchOptions, type ResolvedContextOptions } from './options.js';
import { checkChain, loadCertificateChain, type CertificateChain, type UncheckedChain } from './pki.js';
import { watchFile, type FileWatch, type WatchOptions } from './watch.js';

/** Options of {@link createStaplingContext}. Only `certFile` and `ocspFile` are required. */
export interface StaplingContextOptions {
  /** PEM file with the server certificate first, optionally followed by its chain. */
  certFile: string;
  /** The DER OCSP response file that a job keeps fresh (e.g. `ocsp-stapler fetch --out`). */
  ocspFile: string;
  /** PEM file holding the issuer, when `certFile` has no chain. Searched after the chain. */
  issuerFile?: string;
  /**
   * Largest response file accepted, in bytes. Default 65536: real responses are 1 to 4 KB,
   * and a cap keeps a runaway job from making the server read gigabytes.
   */
  maxResponseBytes?: number;
  /**
   * How far thisUpdate may lie in the future, in ms, for server and responder clocks that
   * disagree. Default 300000 (5 minutes, as `openssl ocsp -validity_period`). Never applied to
   * nextUpdate: a staple is never sent past nextUpdate.
   */
  clockSkewMs?: number;
  /**
   * For a response without nextUpdate (allowed by RFC 6960, rare in practice): how long after
   * thisUpdate it may be stapled, in ms. Default 86400000 (one day): long enough for a daily
   * job, short enough that a stale "good" cannot circulate for long.
   */
  maxAgeWithoutNextUpdateMs?: number;
  /**
   * How long after thisUpdate any response may be stapled, in ms, even when its nextUpdate is
   * later. Default 864000000 (10 days): Firefox fails a staple older than that with
   * SEC_ERROR_OCSP_OLD_RESPONSE (mozilla::pkix's `maxOCSPLifetimeInDays` for end-entity
   * certificates), and Must-Staple sites then fail outright. At most 2147483647 (setTimeout's range).
   */
  maxAgeMs?: number;
  /** How long before the staple stops being valid the `'expiring'` event fires, in ms. Default 3600000 (one hour). */
  expiringMarginMs?: number;
  /**
   * After a certificate renewal (`reload({ certificate: true })`, or a watch with
   * `certificate: true`), how long the previous certificate keeps its staple, in ms, for
   * servers that still present it: a server that reloads its certificate on a signal or a timer
   * calls `setSecureContext` after the files changed, and Must-Staple clients fail without a
   * staple in between. Never past that staple's own validity. Default 86400000 (one day). 0
   * drops the previous staple at once.
   */
  previousCertificateMs?: number;
  /** The clock, in ms since the epoch. Default `Date.now`. For tests. */
  now?: () => number;
}

/** A refused OCSP file, as {@link StapleStatus.lastRefusal} reports it. */
export interface Refusal {
  /** Stable error code, e.g. `ERR_OCSP_REVOKED`. */
  readonly code: StaplingErrorCode;
  /** The whole message: what was expected and what was found. */
  readonly message: string;
  /** When the refusal happened. */
  readonly at: Date;
}

/**
 * The certificate a context stapled for before a renewal, kept with its staple while servers
 * may still present it (see {@link StaplingContextOptions.previousCertificateMs}).
 */
export interface PreviousCertificateStatus {
  /** True when a handshake presenting this certificate would get its staple now. */
  readonly stapling: boolean;
  /** Subject of the previous certificate, one line. */
  readonly subject: string;
  /** Serial number of the previous certificate, upper-case hex. */
  readonly serial: string;
  /** When its staple stops being valid. */
  readonly validUntil: Date;
  /** When it is dropped: `validUntil`, or earlier when `previousCertificateMs` ends first. */
  readonly keptUntil: Date;
}

/** A snapshot of one context, from {@link StaplingContext.status}. Plain data; JSON-friendly. */
export interface StapleStatus {
  /** True when the next handshake for this certificate (the current one) would get a staple. */
  readonly stapling: boolean;
  /** The certificate file this context staples for. */
  readonly certFile: string;
  /** The OCSP response file it reads. */
  readonly ocspFile: string;
  /** Subject of the server certificate, one line. */
  readonly subject: string;
  /** Serial number of the server certificate, upper-case hex. */
  readonly serial: string;
  /** The certificate requires a staple (TLS Feature status_request, RFC 7633). */
  readonly mustStaple: boolean;
  /** certStatus of the loaded response (always `good`: nothing else is loaded), or null. */
  readonly certStatus: CertStatus | null;
  /** thisUpdate of the staple held: when the responder vouched for the status. */
  readonly thisUpdate: Date | null;
  /** nextUpdate of the staple held, if the response has one. */
  readonly nextUpdate: Date | null;
  /** When the responder signed the response. */
  readonly producedAt: Date | null;
  /**
   * When stapling stops: the earliest of nextUpdate, thisUpdate plus `maxAgeMs` (10 days by
   * default), and the delegated responder certificate's notAfter.
   */
  readonly validUntil: Date | null;
  /** `issuer` when the CA signed the response, `delegated` for an authorised responder. */
  readonly signedBy: SignedBy | null;
  /**
   * Hash algorithm of the matching CertID. Clients that look a staple up by a SHA-1 CertID
   * only (curl with OpenSSL, measured with curl 7.88) do not find a `sha256` one: fetch SHA-1
   * CertIDs (the CLI's default) unless every client you serve handles others.
   */
  readonly certIdHash: CertIdHash | null;
  /** Subject of the delegated responder certificate, when there is one. */
  readonly responder: string | null;
  /** Size of the staple in bytes. */
  readonly bytes: number | null;
  /** When the staple now held was loaded. */
  readonly loadedAt: Date | null;
  /** The most recent refusal, if the last load attempt failed; null after a successful load. */
  readonly lastRefusal: Refusal | null;
  /**
   * After a renewal, the previous certificate, whose staple handshakes presenting it still
   * get (a server that has not called `setSecureContext` yet); null otherwise. The fields
   * above are those of the current certificate.
   */
  readonly previous: PreviousCertificateStatus | null;
}

/** Counters of one context since it was made; see also {@link renderPrometheus}. */
export interface StaplingCounters {
  /** Handshakes that asked for status and got a staple. */
  readonly handshakesStapled: number;
  /** Handshakes that asked for status and got none (no valid staple held). */
  readonly handshakesWithoutStaple: number;
  /** Reloads that swapped in a new staple. */
  readonly reloads: number;
  /** Reloads refused, in all. */
  readonly refusals: number;
  /** Reloads refused, by error code. */
  readonly refusalsByCode: Readonly<Partial<Record<StaplingErrorCode, number>>>;
}

/** Options of {@link StaplingContext.reload}. */
export interface ReloadOptions {
  /**
   * Re-read `certFile` (and `issuerFile`) too, for a renewed certificate. The staple held is
   * dropped if the certificate changed (it was checked against the old CertID), then the OCSP
   * file is checked against the new certificate. Default false.
   */
  certificate?: boolean;
  /**
   * Read this file instead, and make it the context's `ocspFile` from now on, but only if it
   * passes every check (Pen's `ssl_ocsp_response FILE`). When refused, nothing changes: the
   * context keeps its file and its staple. A running {@link StaplingContext.watch} moves to the
   * new file once it is in use, and stops watching the old one.
   */
  ocspFile?: string;
}

/** Options of {@link StaplingContext.watch}. */
export interface ContextWatchOptions extends WatchOptions {
  /** Also watch `certFile` and follow certificate renewals (`reload({ certificate: true })`). Default false. */
  certificate?: boolean;
}

/** Events of a {@link StaplingContext}, with their arguments. */
export interface StaplingContextEvents {
  /** A new response passed every check and is now stapled. */
  reload: [status: StapleStatus];
  /** A file was refused; the previous staple, if any, stays while valid. */
  refused: [error: StaplingError];
  /** The staple stops being valid within `expiringMarginMs`. */
  expiring: [status: StapleStatus];
  /** The staple reached `validUntil` (nextUpdate, `maxAgeMs` after thisUpdate, or its responder's notAfter) and is no longer sent. */
  expired: [status: StapleStatus];
  /** The certificate was renewed (a reload with `certificate: true` found a new one). */
  certificate: [status: StapleStatus];
  /** {@link StaplingContext.close} was called: helpers bound to the context (refresh) stop. */
  close: [];
}

// What status() reports of a loaded staple, kept instead of the VerifiedResponse: the parsed
// response holds copies of the response's parts (about 3 KiB a certificate, bench/RESULTS.md),
// which a registry of thousands of certificates need not keep.
interface Loaded {
  readonly bytes: Buffer;
  readonly certStatus: CertStatus;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  readonly producedAt: number;
  readonly signedBy: SignedBy;
  readonly certIdHash: CertIdHash | null;
  readonly responder: string | null;
  readonly validFrom: number;
  readonly validUntil: number;
  readonly loadedAt: number;
}

// The certificate before a renewal and the staple checked for it, served through its own
// dispatcher source (keyed by its DER) until keptUntil.
interface Previous extends StapleSource {
  readonly chain: CertificateChain;
  readonly loaded: Loaded;
  readonly keptUntil: number;
  timer: Deadline | null;
  stapleNow(): Buffer | null;
}

// Only createStaplingContext and the registry make contexts: see StaplingContext.create.
const CREATE = Symbol('StaplingContext.create');

/**
 * Staples the OCSP response held in one file for one certificate, on any number of servers.
 * Made by {@link createStaplingContext}.
 *
 * The handshake path ({@link StaplingContext.stapleNow}) only compares two numbers and hands
 * back a Buffer made ready at load time: no I/O, no parsing, no crypto.
 */
export class StaplingContext extends EventEmitter<StaplingContextEvents> {
  // ocspFile changes with reload({ ocspFile }); the rest is fixed.
  readonly #options: { -readonly [K in keyof ResolvedContextOptions]: ResolvedContextOptions[K] };
  readonly #clock: Clock;
  #chain: CertificateChain;
  // A lazy registry's chain until the first load checks it (checkChain): no staple before that.
  #unchecked: UncheckedChain | null;
  // Why that check failed: the context never staples until a certificate reload brings a good one.
  #chainRefusal: StaplingError | null = null;
  #loaded: Loaded | null = null;
  #previous: Previous | null = null;
  #lastRefusal: Refusal | null = null;
  readonly #servers = new Set<TlsServer>();
  #timer: Deadline | null = null;
  #expiringSent = false;
  #closed = false;
  #running: Promise<StapleStatus> | null = null;
  #queued: Promise<StapleStatus> | null = null;
  #certificatePending = false;
  #pendingFile: string | undefined;
  // True when reload() (not a watch) asked for the pending load: the caller is told every outcome.
  #explicitPending = false;
  // What the last load attempt read and concluded, so that a watch reporting a file that reads
  // the same and ends the same way emits nothing.
  #lastAttempt: { readonly bytes: Buffer | null; readonly code: StaplingErrorCode | null } | null = null;
  // The running watch, if any: its options, and the file watches it keeps (the OCSP one is
  // moved when reload({ ocspFile }) changes the file in use).
  #watching: { readonly options: WatchOptions; ocspFile: string; ocsp: FileWatch; certificate: FileWatch | null } | null = null;
  #stapled = 0;
  #notStapled = 0;
  #reloads = 0;
  readonly #refusalsByCode: Partial<Record<StaplingErrorCode, number>> = {};

  // Private: a context is made by createStaplingContext (or a registry), never with `new`.
  private constructor(token: symbol, options: ResolvedContextOptions, chain: CertificateChain | UncheckedChain, checked: boolean) {
    super();
    if (token !== CREATE) throw invalidArgument('new StaplingContext', 'token', 'nothing: make contexts with createStaplingContext()', token);
    this.#options = { ...options };
    this.#clock = clockWithNow(options.now);
    this.#chain = chain;
    this.#unchecked = checked ? null : (chain as UncheckedChain);
  }

  /** @internal A context for options already checked (by createStaplingContext or a registry). */
  static create(options: ResolvedContextOptions, chain: CertificateChain): StaplingContext {
    return new StaplingContext(CREATE, options, chain, true);
  }

  /**
   * @internal A lazy registry's context: its chain is checked ({@link checkChain}) by its first
   * load, before anything can staple; a chain that fails is refused like an OCSP file.
   */
  static createUnchecked(options: ResolvedContextOptions, chain: UncheckedChain): StaplingContext {
    return new StaplingContext(CREATE, options, chain, false);
  }

  // Synchronous; throws the certificate-family StaplingError of the check, every time it is asked
  // again (the files are read again only by a certificate reload).
  #checkChain(): void {
    if (this.#chainRefusal) throw this.#chainRefusal;
    const unchecked = this.#unchecked;
    if (unchecked === null) return;
    try {
      this.#chain = checkChain(unchecked);
    } catch (err) {
      if (isRefusal(err)) this.#chainRefusal = err;
      throw err;
    }
    this.#unchecked = null;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** DER of the server certificate: the key the OCSPRequest listener matches on. */
  get certificate(): Buffer {
    return this.#chain.leaf.der;
  }

  /**
   * The server certificate and its issuer as loaded now (a certificate reload replaces them). Used
   * by `startRefresh`. In a lazy registry, reading it before the certificate's first load checks
   * the chain then (a chain that fails the check is returned as read; no staple is ever sent for it).
   */
  get chain(): CertificateChain {
    try {
      this.#checkChain();
    } catch {
      // Reported by the loads (status().lastRefusal, the 'refused' event).
    }
    return this.#chain;
  }

  /**
   * The staple to send right now, or null. This is what the OCSPRequest listener calls; custom
   * servers and proxies can call it too. Two comparisons and a field read; never throws.
   */
  stapleNow(): Buffer | null {
    const loaded = this.#loaded;
    if (loaded === null) return null;
    const now = this.#options.now();
    return now >= loaded.validFrom && now < loaded.validUntil ? loaded.bytes : null;
  }

  /**
   * {@link stapleNow}, counted in {@link counters}: what the OCSPRequest listener calls once per
   * handshake. A custom server or proxy that staples by itself should call this one.
   */
  stapleForHandshake(): Buffer | null {
    const staple = this.stapleNow();
    if (staple === null) this.#notStapled++;
    else this.#stapled++;
    return staple;
  }

  /** Handshake and reload counters since the context was made. */
  counters(): StaplingCounters {
    const refusalsByCode = { ...this.#refusalsByCode };
    const refusals = Object.values(refusalsByCode).reduce((a, b) => a + b, 0);
    return { handshakesStapled: this.#stapled, handshakesWithoutStaple: this.#notStapled, reloads: this.#reloads, refusals, refusalsByCode };
  }

  /**
   * Adds this context to `server`'s OCSPRequest listener (one listener per server, shared by
   * every context and registry attached to it). Works for `tls`, `https` and `http2` servers.
   *
   * @example
   * ```ts
   * const server = https.createServer({ cert, key }, app);
   * ctx.attach(server);
   * ```
   */
  attach(server: TlsServer): this {
    if (this.#closed) throw closedError('attach');
    checkServer('StaplingContext.attach', server);
    attachSource(server, this);
    if (this.#previous) attachSource(server, this.#previous);
    this.#servers.add(server);
    return this;
  }

  /** Removes this context from `server`. */
  detach(server: TlsServer): this {
    checkServer('StaplingContext.detach', server);
    detachSource(server, this);
    if (this.#previous) detachSource(server, this.#previous);
    this.#servers.delete(server);
    return this;
  }

  /**
   * Re-reads `ocspFile`, checks it, and only then swaps it in. Resolves with the new status.
   * Rejects with a {@link StaplingError} when the file is refused; the previous staple then
   * stays in use for as long as it is itself valid. Never steps back: while the staple held is
   * stapled, a file with an earlier thisUpdate is refused (`ERR_OCSP_OLDER_THAN_HELD`); an equal
   * thisUpdate is taken, and so is an older file once the staple held has ended. Calls made while a reload runs share one
   * follow-up reload, which reads the file after the running one ends: the newest file wins.
   * After {@link close}, rejects with a plain `Error`.
   */
  reload(options?: ReloadOptions): Promise<StapleStatus> {
    if (this.#closed) return Promise.reject(closedError('reload'));
    let checked: ReloadOptions;
    try {
      checked = reloadOptions('StaplingContext.reload', options, true);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#explicitPending = true;
    return this.#request(checked);
  }

  // reload() without asking for events when nothing changed: what a watch calls.
  #request(options: ReloadOptions): Promise<StapleStatus> {
    if (this.#closed) return Promise.reject(closedError('reload'));
    if (options.certificate) this.#certificatePending = true;
    if (options.ocspFile !== undefined) this.#pendingFile = options.ocspFile;
    if (!this.#running) return this.#start();
    this.#queued ??= this.#running
      .then(noop, noop)
      .then(() => {
        this.#queued = null;
        return this.#start();
      });
    return this.#queued;
  }

  /** A snapshot of what is stapled and why. */
  status(): StapleStatus {
    const { leaf } = this.#chain;
    const loaded = this.#loaded;
    const date = (ms: number | undefined) => (ms === undefined ? null : new Date(ms));
    return {
      stapling: this.stapleNow() !== null,
      certFile: this.#options.certFile,
      ocspFile: this.#options.ocspFile,
      subject: leaf.subjectLine,
      serial: leaf.serialHex,
      mustStaple: leaf.mustStaple,
      certStatus: loaded?.certStatus ?? null,
      thisUpdate: date(loaded?.thisUpdate),
      nextUpdate: date(loaded?.nextUpdate),
      producedAt: date(loaded?.producedAt),
      validUntil: date(loaded?.validUntil),
      signedBy: loaded?.signedBy ?? null,
      certIdHash: loaded?.certIdHash ?? null,
      responder: loaded?.responder ?? null,
      bytes: loaded ? loaded.bytes.length : null,
      loadedAt: date(loaded?.loadedAt),
      lastRefusal: this.#lastRefusal,
      previous: this.#previousStatus(),
    };
  }

  #previousStatus(): PreviousCertificateStatus | null {
    const previous = this.#previous;
    if (!previous) return null;
    const { leaf } = previous.chain;
    return {
      stapling: previous.stapleNow() !== null,
      subject: leaf.subjectLine,
      serial: leaf.serialHex,
      validUntil: new Date(previous.loaded.validUntil),
      keptUntil: new Date(previous.keptUntil),
    };
  }

  /**
   * Checks `bytes` exactly as a reload would, without reading any file or changing what is
   * stapled. Throws the {@link StaplingError} a reload would reject with, except
   * `ERR_OCSP_OLDER_THAN_HELD`: the bytes are judged alone, not compared with the staple held.
   */
  verify(bytes: Uint8Array): VerifiedResponse {
    checkBytes('StaplingContext.verify', 'bytes', bytes);
    this.#checkChain();
    return verifyOcspResponse(bytes, this.#chain.leaf, this.#chain.issuer, this.#limits());
  }

  /**
   * Reloads by itself when `ocspFile` changes: rewritten, renamed over, deleted and recreated,
   * or swapped through a Kubernetes `..data` symlink. Debounced. A refused file changes nothing
   * (the `'refused'` event tells); the watch goes on. One change gives one `'reload'` or
   * `'refused'` event and one counter step: a file whose identity (inode, size, times) has not
   * changed is not read again, and one that reads the same as last time and ends the same way
   * (touched, rewritten with the same bytes) emits nothing. With `certificate: true`, a change of
   * `certFile` reloads the certificate too. Stopped by {@link close}.
   *
   * @example
   * ```ts
   * ctx.watch({ certificate: true }).on('refused', (err) => log.warn(err.message));
   * ```
   */
  watch(options?: ContextWatchOptions): this {
    if (this.#closed) throw closedError('watch');
    const checked = watchOptions('StaplingContext.watch', options);
    const watchOpts: WatchOptions = { debounceMs: checked.debounceMs, pollMs: checked.pollMs };
    // One watch per context: a second call keeps the running one (adding the certificate watch
    // if asked for), rather than piling up file watches and listeners.
    this.#watching ??= { options: watchOpts, ocspFile: this.#options.ocspFile, ocsp: this.#watchOcsp(this.#options.ocspFile, watchOpts), certificate: null };
    if (checked.certificate && this.#watching.certificate === null) {
      this.#watching.certificate = watchFile(this.#options.certFile, () => this.#request({ certificate: true }).catch(quiet), this.#watching.options);
    }
    return this;
  }

  /** True while a {@link watch} runs (from the first watch() call until {@link close}). */
  get watching(): boolean {
    return this.#watching !== null;
  }

  #watchOcsp(file: string, options: WatchOptions): FileWatch {
    return watchFile(file, () => this.#request({}).catch(quiet), options);
  }

  // reload({ ocspFile }) made another file the one in use: the watch follows it.
  #followFile(file: string): void {
    const watching = this.#watching;
    if (watching === null || watching.ocspFile === file) return;
    watching.ocsp.close();
    watching.ocspFile = file;
    watching.ocsp = this.#watchOcsp(file, watching.options);
  }

  /** Detaches from every server and clears timers, so the process can exit. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.emit('close');
    }
    const watching = this.#watching;
    this.#watching = null;
    watching?.ocsp.close();
    watching?.certificate?.close();
    for (const server of [...this.#servers]) this.detach(server);
    this.#dropPrevious();
    this.#clearTimer();
    // Let the running reload settle, and the queued one refuse to start: no work outlives close().
    await Promise.all([this.#running, this.#queued].map((p) => p?.then(noop, noop)));
  }

  #limits(): VerifyLimits {
    const o = this.#options;
    return {
      now: o.now(),
      clockSkewMs: o.clockSkewMs,
      maxAgeWithoutNextUpdateMs: o.maxAgeWithoutNextUpdateMs,
      maxAgeMs: o.maxAgeMs,
      maxResponseBytes: o.maxResponseBytes,
    };
  }

  #start(): Promise<StapleStatus> {
    // A reload queued before close() must not run after it.
    if (this.#closed) return Promise.reject(closedError('reload'));
    const run = this.#load().finally(() => {
      if (this.#running === run) this.#running = null;
    });
    this.#running = run;
    return run;
  }

  async #load(): Promise<StapleStatus> {
    const explicit = this.#explicitPending;
    this.#explicitPending = false;
    let renewed = false;
    if (this.#certificatePending) {
      this.#certificatePending = false;
      try {
        const chain = await loadCertificateChain(this.#options.certFile, this.#options.issuerFile);
        // A chain read and checked in full replaces one still unchecked or refused.
        this.#unchecked = null;
        this.#chainRefusal = null;
        renewed = this.#swapCertificate(chain);
      } catch (err) {
        // Only a refusal of the files is counted; anything else is rethrown as itself.
        throw isRefusal(err) ? this.#refuse(err) : err;
      }
    }
    const file = this.#pendingFile ?? this.#options.ocspFile;
    this.#pendingFile = undefined;
    // A watch reporting what was already seen (same bytes, same verdict, same certificate) is silent.
    const unchanged = (bytes: Buffer | null, code: StaplingErrorCode | null) => {
      const last = this.#lastAttempt;
      this.#lastAttempt = { bytes, code };
      return !explicit && !renewed && last !== null && last.code === code && (last.bytes === null ? bytes === null : bytes !== null && last.bytes.equals(bytes));
    };
    // A lazy registry's certificate is checked here, in the background load, before its first
    // staple: refused like a file, with the certificate file in the error.
    try {
      this.#checkChain();
    } catch (err) {
      if (!isRefusal(err)) throw err;
      if (unchanged(null, err.code)) throw err;
      throw this.#refuse(err);
    }
    let bytes: Buffer | null = null;
    let verified: VerifiedResponse;
    try {
      bytes = await readOcspFile(file, this.#options.maxResponseBytes);
      verified = this.verify(bytes);
      this.#checkNotOlder(verified);
    } catch (err) {
      // An unexpected failure (a bug, a throwing `now`) is not a refusal of the file: rethrown
      // as itself, never counted, never reported as a malformed file.
      if (!isRefusal(err)) throw err;
      const error = err.withFile(file);
      if (unchanged(bytes, error.code)) throw error;
      throw this.#refuse(error);
    }
    // The staple in use read again (after a transient refusal: a truncated file, then the same
    // bytes back) is no new staple: no event, no counter step, loadedAt stays. The file is good
    // again, so the refusal it gave is over.
    unchanged(bytes, null);
    if (!explicit && !renewed && this.#loaded !== null && this.#loaded.bytes.equals(bytes) && file === this.#options.ocspFile) {
      this.#lastRefusal = null;
      return this.status();
    }
    this.#options.ocspFile = file;
    this.#followFile(file);
    this.#loaded = {
      bytes,
      certStatus: verified.single.certStatus,
      thisUpdate: verified.single.thisUpdate.getTime(),
      nextUpdate: verified.single.nextUpdate?.getTime(),
      producedAt: verified.response.producedAt.getTime(),
      signedBy: verified.signedBy,
      certIdHash: verified.single.certId.hash ?? null,
      responder: verified.responder ? verified.responder.subjectLine : null,
      validFrom: verified.validFrom,
      validUntil: verified.validUntil,
      loadedAt: this.#options.now(),
    };
    this.#lastRefusal = null;
    this.#expiringSent = false;
    this.#reloads++;
    this.#schedule();
    const status = this.status();
    this.emit('reload', status);
    return status;
  }

  // A reload never steps back: while the staple held is stapled, a file whose thisUpdate is
  // earlier (a replayed response, say a "good" from before a revocation, or a stale CDN object)
  // is refused and the held staple stays. An equal thisUpdate is no step back (the responder
  // re-signed, or another signer vouched for the same instant) and is taken. A held staple that
  // no longer staples (past validUntil) is no reason to refuse: a usable older file beats
  // nothing. After a certificate renewal nothing is held for the new certificate (#swapCertificate).
  #checkNotOlder(verified: VerifiedResponse): void {
    const held = this.#loaded;
    if (held === null || this.stapleNow() === null) return;
    const found = verified.single.thisUpdate.getTime();
    if (found >= held.thisUpdate) return;
    throw new StaplingError('ERR_OCSP_OLDER_THAN_HELD', 'the response is older than the staple held, which stays in use', {
      expected: `thisUpdate at or after ${new Date(held.thisUpdate).toISOString()} (the staple held, valid until ${new Date(held.validUntil).toISOString()})`,
      found: `thisUpdate ${verified.single.thisUpdate.toISOString()}`,
    });
  }

  #refuse(error: StaplingError): StaplingError {
    this.#lastRefusal = { code: error.code, message: error.message, at: new Date(this.#options.now()) };
    this.#refusalsByCode[error.code] = (this.#refusalsByCode[error.code] ?? 0) + 1;
    this.emit('refused', error);
    return error;
  }

  // A renewed certificate gets a new dispatcher key, and the staple held moves to the previous
  // certificate's own key: it was checked against the old CertID and must never be handed out
  // with the new certificate (HAProxy kept the old CertID after renewal: haproxy#2319), but
  // servers that still present the old certificate keep getting it.
  #swapCertificate(chain: CertificateChain): boolean {
    const old = this.#chain;
    if (chain.leaf.der.equals(old.leaf.der) && chain.issuer.der.equals(old.issuer.der)) return false;
    const servers = [...this.#servers];
    for (const server of servers) detachSource(server, this);
    this.#dropPrevious();
    if (!chain.leaf.der.equals(old.leaf.der) && this.#loaded) this.#keepPrevious(old, this.#loaded);
    this.#chain = chain;
    this.#loaded = null;
    this.#clearTimer();
    for (const server of servers) attachSource(server, this);
    this.emit('certificate', this.status());
    return true;
  }

  #keepPrevious(chain: CertificateChain, loaded: Loaded): void {
    const now = this.#options.now();
    const keptUntil = Math.min(loaded.validUntil, now + this.#options.previousCertificateMs);
    if (now >= keptUntil) return;
    const clock = this.#options.now;
    const previous: Previous = {
      chain,
      loaded,
      keptUntil,
      timer: null,
      certificate: chain.leaf.der,
      // The handshake path, as stapleForHandshake: two comparisons, counted with the context's.
      stapleForHandshake: () => {
        const staple = previous.stapleNow();
        if (staple === null) this.#notStapled++;
        else this.#stapled++;
        return staple;
      },
      stapleNow: () => {
        const t = clock();
        return t >= loaded.validFrom && t < keptUntil ? loaded.bytes : null;
      },
    };
    this.#previous = previous;
    for (const server of this.#servers) attachSource(server, previous);
    previous.timer = startDeadline(
      keptUntil,
      () => {
        previous.timer = null;
        if (this.#previous === previous) this.#dropPrevious();
      },
      this.#clock,
    );
  }

  #dropPrevious(): void {
    const previous = this.#previous;
    if (!previous) return;
    this.#previous = null;
    previous.timer?.cancel();
    for (const server of this.#servers) detachSource(server, previous);
  }

  // One timer at a time, for the next of: 'expiring', 'expired'.
  #schedule(): void {
    this.#clearTimer();
    const loaded = this.#loaded;
    if (!loaded || this.#closed) return;
    const now = this.#options.now();
    if (now >= loaded.validUntil) return;
    const expiringAt = loaded.validUntil - this.#options.expiringMarginMs;
    const next = !this.#expiringSent ? Math.max(expiringAt, now) : loaded.validUntil;
    this.#timer = startDeadline(next, () => this.#tick(loaded), this.#clock);
  }

  #tick(loaded: Loaded): void {
    this.#timer = null;
    if (this.#loaded !== loaded || this.#closed) return;
    const now = this.#options.now();
    if (now >= loaded.validUntil) {
      this.emit('expired', this.status());
      // A file refused only for being older than this staple may be stapled now that this one
      // has ended (#checkNotOlder); no watch would read it again, as it has not changed.
      if (this.#lastRefusal?.code === 'ERR_OCSP_OLDER_THAN_HELD' && !this.#closed) this.#request({}).catch(quiet);
      return;
    }
    if (!this.#expiringSent && now >= loaded.validUntil - this.#options.expiringMarginMs) {
      this.#expiringSent = true;
      this.emit('expiring', this.status());
    }
    this.#schedule();
  }

  #clearTimer(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }
}

function noop(): void {}

// A refusal of the files (certificate or response family) is counted; a usage error (a `now`
// that returns no number) or a bug is not.
function isRefusal(err: unknown): err is StaplingError {
  return err instanceof StaplingError && (err.family === 'response' || err.family === 'certificate');
}

function closedError(method: string): StaplingError {
  return new StaplingError('ERR_CLOSED', `StaplingContext.${method}: the context is closed`, { expected: 'a context not yet closed', found: 'close() was called' });
}

/** @internal Throws `ERR_INVALID_ARGUMENT` unless `server` can take an OCSPRequest listener. */
export function checkServer(where: string, server: unknown): asserts server is TlsServer {
  if (!(server instanceof TlsServerClass)) throw invalidArgument(where, 'server', 'a tls.Server (https, http2 secure or tls)', server);
}

/**
 * Loads the certificate and its issuer, then the OCSP response file, and returns a context
 * ready to {@link StaplingContext.attach} to servers.
 *
 * Rejects (with a {@link StaplingError}) when an option is missing or not valid
 * (`ERR_INVALID_OPTION`, at once) or the certificate side is unusable: `ERR_CERT_READ`,
 * `ERR_CERT_PARSE`, `ERR_ISSUER_NOT_FOUND`. A missing or refused OCSP file
 * does not reject: the job that writes it may not have run yet. The context then staples
 * nothing and `status().lastRefusal` says why, until a {@link StaplingContext.reload} succeeds.
 *
 * @example
 * ```ts
 * import https from 'node:https';
 * import { readFileSync } from 'node:fs';
 * import { createStaplingContext } from 'ocsp-stapler';
 *
 * const ctx = await createStaplingContext({ certFile: 'site.pem', ocspFile: 'site.pem.ocsp' });
 * const server = https.createServer({ cert: readFileSync('site.pem'), key: readFileSync('site.key') }, handler);
 * ctx.attach(server);
 * process.on('SIGHUP', () => ctx.reload().catch((err) => console.error(err.message)));
 * server.listen(443);
 * ```
 */
export async function createStaplingContext(options: StaplingContextOptions): Promise<StaplingContext> {
  const checked = contextOptions('createStaplingContext', options);
  const chain = await loadCertificateChain(checked.certFile, checked.issuerFile);
  const context = StaplingContext.create(checked, chain);
  await context.reload().catch(async (err: unknown) => {
    // A refused file is reported by status(); anything else is a failure of its own.
    if (isRefusal(err)) return;
    await context.close();
    throw err;
  });
  return context;
}

// A watch's reloads report refusals through the 'refused' event, not a rejection.
function quiet(): void {}

import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Server as TlsServer } from 'node:tls';
import { checkServer, StaplingContext, type ReloadOptions, type StapleStatus, type StaplingContextEvents, type StaplingContextOptions } from './context.js';
import { StaplingError, type StaplingErrorCode } from './errors.js';
import { readOcspFile } from './ocsp/file.js';
import { parseOcspResponse, type OcspResponse } from './ocsp/parse.js';
import { checkPath, invalidArgument, registryEntry, registryOptions, reloadOptions, watchOptions, type ResolvedEntry, type ResolvedRegistryOptions, type ResolvedWatchOptions } from './options.js';
import { loadChain, readChainUnchecked, type CertificateCache } from './pki.js';
import { watchFile, type FileWatch } from './watch.js';

/** One certificate of a registry. */
export interface RegistryEntry {
  /** PEM leaf, optionally followed by its chain (a key in the same file is ignored). */
  certFile: string;
  /** Its DER OCSP response file. */
  ocspFile: string;
  /** PEM issuer, when `certFile` has no chain. */
  issuerFile?: string;
}

/** Options of {@link createStaplingRegistry}. The checks' options apply to every entry. */
export interface StaplingRegistryOptions extends Omit<StaplingContextOptions, 'certFile' | 'ocspFile' | 'issuerFile'> {
  /**
   * A directory in HAProxy's convention: every `NAME.pem` (certificate, chain, possibly the
   * key) is stapled from `NAME.pem.ocsp` beside it; `NAME.pem.issuer` is used as issuerFile
   * when present.
   */
  dir?: string;
  /** Entries given one by one, in addition to `dir`. */
  entries?: readonly RegistryEntry[];
  /**
   * `eager` (default): every certificate is checked and every OCSP file read and checked before
   * the registry resolves; an unusable certificate of `entries` rejects it (of `dir`: see `strict`).
   * `lazy`: the registry resolves once the certificate files are read and their DER indexed (a
   * handshake must find its certificate), which is a small part of the work: nearly all of it is
   * each leaf's OpenSSL parse and its issuer's signature check (bench/RESULTS.md, registry). Those
   * run in the background,
   * with each certificate's OCSP file, before its first staple (`ready` resolves when every
   * certificate has been through them). A certificate that fails them never staples and is
   * reported as a refused OCSP file is (`status().lastRefusal`, the `'refused'` event, with
   * `ERR_CERT_PARSE` or `ERR_ISSUER_NOT_FOUND`); the others are unaffected. Handshakes before a
   * certificate's file has loaded get no staple; nothing is ever read inside a handshake.
   */
  load?: 'eager' | 'lazy';
  /** How many files are read and checked at once while loading. Default 16. */
  concurrency?: number;
  /**
   * What a `.pem` of `dir` that is not a usable certificate chain does (a key, DH parameters or a
   * CA bundle beside the site certificates, as in many /etc/ssl layouts; a file that cannot be
   * read; a leaf without its issuer). Default false: it is skipped, and listed with its error by
   * {@link StaplingRegistry.skipped}, so that one stray file does not stop the other sites from
   * stapling. True: the registry rejects, as for an entry of `entries`. With `load: 'lazy'`, the
   * checks run in the background (a leaf OpenSSL refuses, an issuer that did not sign the leaf)
   * neither skip nor reject, whatever `strict` and whether the certificate came from `dir` or
   * `entries`: it is held, staples nothing, and is reported as a refused file (see `load`). Only
   * what the start itself reads (the file, its PEM and DER) rejects or skips in lazy mode.
   */
  strict?: boolean;
}

/** A `.pem` of the registry's directory that is not a usable certificate chain: see {@link StaplingRegistryOptions.strict}. */
export interface SkippedEntry {
  /** The file skipped. */
  readonly certFile: string;
  /** The OCSP response file it would have been stapled from. */
  readonly ocspFile: string;
  /** Why: `ERR_CERT_READ`, `ERR_CERT_PARSE` or `ERR_ISSUER_NOT_FOUND`, naming the file. */
  readonly error: StaplingError;
}

/** The outcome of reloading one entry. */
export interface ReloadResult {
  /** The OCSP response file reloaded. */
  readonly ocspFile: string;
  /** True when it passed every check and is now stapled. */
  readonly ok: boolean;
  /** Set when `ok` is false. */
  readonly error: StaplingError | undefined;
  /** The context's status after the reload. */
  readonly status: StapleStatus;
}

/** The outcome of {@link StaplingRegistry.reloadFromFile}. */
export interface FileReloadResult {
  /** The OCSP response file given. */
  readonly ocspFile: string;
  /** True when it passed every check and is now the staple (and the file) of `context`. */
  readonly ok: boolean;
  /** Set when `ok` is false. */
  readonly error: StaplingError | undefined;
  /**
   * The context the response is for: the one now stapling it, or the one that refused it for a
   * reason of its own (revoked, expired, bad signature...), or one whose certificate cannot take
   * a staple (a lazy registry's certificate refused by its own checks, whose serial and issuer
   * name the response gives): then `error` has that certificate's code (`ERR_ISSUER_NOT_FOUND`,
   * `ERR_CERT_PARSE`) and a message naming its `certFile`, and nothing changed. Undefined when the
   * file could not be read, is not a usable response at all, or names none of the registry's
   * certificates: then no context changed.
   */
  readonly context: StaplingContext | undefined;
}

/** Refusals that say nothing about which certificate a response is for: every context would give them. */
const NOT_ABOUT_A_CERTIFICATE: ReadonlySet<StaplingErrorCode> = new Set<StaplingErrorCode>([
  'ERR_OCSP_FILE_READ',
  'ERR_OCSP_EMPTY',
  'ERR_OCSP_TOO_LARGE',
  'ERR_OCSP_MALFORMED',
  'ERR_OCSP_TRAILING_DATA',
  'ERR_OCSP_RESPONSE_STATUS',
  'ERR_OCSP_RESPONSE_TYPE',
]);

/**
 * Events of a {@link StaplingRegistry}: every event of its contexts (see
 * {@link StaplingContextEvents}), with the context as one more argument. E.g.
 * `registry.on('refused', (error, context) => ...)`.
 */
export type StaplingRegistryEvents = {
  [K in keyof StaplingContextEvents]: [...StaplingContextEvents[K], context: StaplingContext];
} & {
  /**
   * A skipped `.pem` of `dir` was tried again ({@link StaplingRegistry.watch} saw it change, or
   * {@link StaplingRegistry.reloadAll}) and is still not a usable certificate chain: the entry,
   * with its new error, as {@link StaplingRegistry.skipped} now lists it.
   */
  skipped: [entry: SkippedEntry];
};

// Every context event, forwarded: a new event does not compile until it is listed here.
const FORWARDED: { readonly [K in keyof StaplingContextEvents]: true } = {
  reload: true,
  refused: true,
  expiring: true,
  expired: true,
  certificate: true,
  close: true,
};

/**
 * Certificate files a lazy start reads (synchronously) before it lets the event loop run: a few ms
 * of work (read, PEM, DER: tens of µs a file), so that timers and handshakes already running wait
 * no longer than that.
 */
const LAZY_BATCH = 64;

// Only createStaplingRegistry makes registries: see StaplingRegistry.create.
const CREATE = Symbol('StaplingRegistry.create');

/**
 * Many certificates stapled through one OCSPRequest listener per server. Each handshake is
 * matched to its certificate by the DER that Node passes (one Map lookup and one memcmp,
 * whatever the number of certificates).
 */
export class StaplingRegistry extends EventEmitter<StaplingRegistryEvents> {
  readonly #contexts: StaplingContext[] = [];
  readonly #servers = new Set<TlsServer>();
  readonly #options: ResolvedRegistryOptions;
  /** One parsed copy of each CA certificate, whatever the number of leaves it issued. */
  readonly #issuers: CertificateCache = new Map();
  #closed = false;
  /** The options of the running {@link watch}, applied to contexts added later too. */
  #watching: ResolvedWatchOptions | null = null;
  /** One listener per forwarded event, shared by every context (see the constructor). */
  readonly #forward: Record<keyof StaplingContextEvents, (this: StaplingContext, ...args: unknown[]) => void>;
  /** The skipped `.pem` files of `dir`, in directory order, each with what tries it again. */
  readonly #skipped: Skipped[] = [];
  /** Resolves when every OCSP file has been loaded once (at once for `load: 'eager'`). */
  ready: Promise<void> = Promise.resolve();

  // Private: a registry is made by createStaplingRegistry, never with `new`.
  private constructor(token: symbol, options: ResolvedRegistryOptions) {
    super();
    if (token !== CREATE) throw invalidArgument('new StaplingRegistry', 'token', 'nothing: make registries with createStaplingRegistry()', token);
    this.#options = options;
    // One listener per event shared by every context (an EventEmitter calls its listeners with
    // itself as `this`), rather than a closure per event and context: 10,000 contexts made 60,000.
    const emit = this.emit.bind(this) as (event: string, ...args: unknown[]) => boolean;
    const forward = (name: string) =>
      function (this: StaplingContext, ...args: unknown[]) {
        emit(name, ...args, this);
      };
    this.#forward = Object.fromEntries(Object.keys(FORWARDED).map((name) => [name, forward(name)])) as Record<keyof StaplingContextEvents, (this: StaplingContext, ...args: unknown[]) => void>;
  }

  /** @internal A registry for options already checked by createStaplingRegistry. */
  static create(options: ResolvedRegistryOptions): StaplingRegistry {
    return new StaplingRegistry(CREATE, options);
  }

  /** Number of certificates held. */
  get size(): number {
    return this.#contexts.length;
  }

  /** The contexts held, one per certificate. */
  contexts(): readonly StaplingContext[] {
    return this.#contexts;
  }

  /**
   * The `.pem` files of `dir` left out because they are not usable certificate chains, each with
   * its error, in directory order; empty when none was (see {@link StaplingRegistryOptions.strict}).
   * A snapshot: {@link watch} and {@link reloadAll} try each again, and one that has become usable
   * joins the registry and leaves this list. `renderPrometheus` reports each as
   * `ocsp_stapler_certificate_file_skipped`.
   *
   * @example
   * ```ts
   * for (const { certFile, error } of registry.skipped()) log.warn(`${certFile} skipped: ${error.message}`);
   * ```
   */
  skipped(): readonly SkippedEntry[] {
    return this.#skipped.map((s) => s.entry);
  }

  // Tries a skipped file again once any try running for it has ended: when it is now a usable
  // chain it joins the registry as add() would (its OCSP file not loaded yet: the caller does)
  // and leaves skipped(); otherwise skipped() gets its new error and 'skipped' is emitted.
  #retry(skipped: Skipped): Promise<StaplingContext | null> {
    const next = skipped.queue.then(() => this.#retryNow(skipped));
    skipped.queue = next.catch(() => null);
    return next;
  }

  async #retryNow(skipped: Skipped): Promise<StaplingContext | null> {
    if (this.#closed || !this.#skipped.includes(skipped)) return null;
    const { certFile, ocspFile } = skipped.entry;
    // As scanDirectory decides: NAME.pem.issuer is the issuer file when present (a deploy may write it last).
    const issuerFile = (await isFile(`${certFile}.issuer`)) ? `${certFile}.issuer` : undefined;
    let chain: Awaited<ReturnType<typeof loadChain>>;
    try {
      chain = await loadChain(certFile, issuerFile, this.#issuers);
    } catch (err) {
      if (!(err instanceof StaplingError)) throw err;
      if (this.#closed || !this.#skipped.includes(skipped)) return null;
      skipped.entry = { certFile, ocspFile, error: err };
      this.emit('skipped', skipped.entry);
      return null;
    }
    if (this.#closed || !this.#skipped.includes(skipped)) return null;
    this.#skipped.splice(this.#skipped.indexOf(skipped), 1);
    for (const watch of skipped.watches) watch.close();
    return this.#hold(StaplingContext.create({ ...this.#options.checks, certFile, ocspFile, issuerFile }, chain));
  }

  // Under watch(): a change of the skipped file (or of NAME.pem.issuer beside it) tries it again.
  #watchSkipped(skipped: Skipped): void {
    const watching = this.#watching;
    if (watching === null || skipped.watches.length > 0) return;
    const options = { debounceMs: watching.debounceMs, pollMs: watching.pollMs };
    const retry = () => {
      this.#retry(skipped)
        .then((context) => context?.reload())
        .catch(() => undefined); // A refused OCSP file is reported by the context ('refused').
    };
    skipped.watches = [skipped.entry.certFile, `${skipped.entry.certFile}.issuer`].map((file) => watchFile(file, retry, options));
  }

  /**
   * Adds one certificate (rejects like {@link createStaplingContext} when the certificate side
   * is unusable) and attaches it to the registry's servers. Its OCSP file is loaded before the
   * promise resolves; a refused file leaves it without a staple, as for a context.
   */
  async add(entry: RegistryEntry): Promise<StaplingContext> {
    if (this.#closed) throw closedError('add');
    const context = await this.#open(registryEntry('StaplingRegistry.add', entry));
    await context.reload().catch(() => undefined);
    return context;
  }

  async #open(entry: ResolvedEntry): Promise<StaplingContext> {
    return this.#hold(StaplingContext.create({ ...this.#options.checks, ...entry }, await loadChain(entry.certFile, entry.issuerFile, this.#issuers)));
  }

  // A lazy start: the certificate read without its OpenSSL checks, which its first load does.
  #openUnchecked(entry: ResolvedEntry): StaplingContext {
    return this.#hold(StaplingContext.createUnchecked({ ...this.#options.checks, ...entry }, readChainUnchecked(entry.certFile, entry.issuerFile, this.#issuers)));
  }

  #hold(context: StaplingContext): StaplingContext {
    for (const name of Object.keys(FORWARDED) as (keyof StaplingContextEvents)[]) context.on(name, this.#forward[name] as () => void);
    this.#contexts.push(context);
    for (const server of this.#servers) context.attach(server);
    if (this.#watching) context.watch(this.#watching);
    return context;
  }

  /** Removes one context from the registry and its servers, and closes it. */
  async remove(context: StaplingContext): Promise<void> {
    if (!(context instanceof StaplingContext)) throw invalidArgument('StaplingRegistry.remove', 'context', 'a StaplingContext of this registry', context);
    const at = this.#contexts.indexOf(context);
    if (at < 0) return;
    this.#contexts.splice(at, 1);
    await context.close();
  }

  /** The context whose certificate has this DER, if any. */
  get(certificate: Buffer): StaplingContext | undefined {
    if (!Buffer.isBuffer(certificate)) throw invalidArgument('StaplingRegistry.get', 'certificate', 'a Buffer (certificate DER)', certificate);
    return this.#contexts.find((c) => c.certificate.equals(certificate));
  }

  /** Attaches every context, present and future, to `server`. */
  attach(server: TlsServer): this {
    if (this.#closed) throw closedError('attach');
    checkServer('StaplingRegistry.attach', server);
    this.#servers.add(server);
    for (const context of this.#contexts) context.attach(server);
    return this;
  }

  /** Detaches every context from `server`. */
  detach(server: TlsServer): this {
    checkServer('StaplingRegistry.detach', server);
    this.#servers.delete(server);
    for (const context of this.#contexts) context.detach(server);
    return this;
  }

  /**
   * Reloads every context, a few at a time; each result says how it went. First it tries every
   * skipped `.pem` of `dir` again (see {@link skipped}): one that is now a usable certificate chain
   * joins the registry (as {@link add} would; fully checked, whatever `load`) and has a result
   * like the others; one still unusable has none, and stays in `skipped()` with its new error (the
   * `'skipped'` event). Rejects only on
   * misuse: after {@link close} (`ERR_CLOSED`) or with a bad option (`ERR_INVALID_OPTION`;
   * `ocspFile` is one: one file cannot serve every certificate, see {@link reloadFromFile}).
   */
  async reloadAll(options?: Pick<ReloadOptions, 'certificate'>): Promise<ReloadResult[]> {
    if (this.#closed) throw closedError('reloadAll');
    const { certificate } = reloadOptions('StaplingRegistry.reloadAll', options, false);
    // Skipped files first: one that has become usable joins, and is reloaded with the others.
    await mapLimit([...this.#skipped], this.#options.concurrency, (s) => this.#retry(s));
    return mapLimit(this.#contexts, this.#options.concurrency, (context) => reloadForResult(context, { certificate }));
  }

  /**
   * Pen's `ssl_ocsp_response FILE` for many certificates: reads `file` once (capped at
   * `maxResponseBytes`, regular files only, never blocking on a FIFO), finds the certificate it
   * is for by checking it against each context (pure: nothing is swapped), then reloads that
   * context from `file`, which becomes its `ocspFile` if it passes. Never rejects: the result
   * says how it went. When the file is refused, nothing changes but that context's
   * `lastRefusal`: every staple stays. A response for a certificate that cannot take a staple (a
   * lazy registry's certificate refused by its own checks) is refused with that certificate's code
   * and a message naming it, and changes nothing (see {@link FileReloadResult.context}). Throws
   * only on misuse: `ERR_CLOSED`, `ERR_INVALID_ARGUMENT`.
   *
   * @example
   * ```ts
   * const { ok, context, error } = await registry.reloadFromFile('/var/lib/ocsp/site.der');
   * console.log(ok ? `${context!.status().subject}: stapling` : `refused: ${error!.message}`);
   * ```
   */
  async reloadFromFile(file: string): Promise<FileReloadResult> {
    if (this.#closed) throw closedError('reloadFromFile');
    checkPath('StaplingRegistry.reloadFromFile', 'file', file);
    const refused = (error: StaplingError, context?: StaplingContext): FileReloadResult => ({ ocspFile: file, ok: false, error, context });
    let bytes: Buffer;
    try {
      bytes = await readOcspFile(file, this.#options.checks.maxResponseBytes);
    } catch (err) {
      return refused(err as StaplingError);
    }
    let target: StaplingContext | undefined;
    let mismatch: StaplingError | undefined;
    // A certificate that failed its own checks (lazy load) and that the response names.
    let blocked: { context: StaplingContext; error: StaplingError } | undefined;
    let response: OcspResponse | null | undefined;
    for (const context of this.#contexts) {
      try {
        context.verify(bytes);
        target = context;
        break;
      } catch (err) {
        // An unexpected failure (a bug) is not a refusal of the file: rethrown as itself.
        if (!(err instanceof StaplingError)) throw err;
        // A context whose certificate failed its checks (lazy load) staples nothing: not a
        // candidate, but when the response names its certificate, that is why it is refused.
        if (err.family === 'certificate') {
          if (blocked === undefined) {
            response ??= parseOrNull(bytes);
            if (response && namesCertificate(response, context)) blocked = { context, error: err };
          }
          continue;
        }
        const error = err.withFile(file);
        if (NOT_ABOUT_A_CERTIFICATE.has(error.code)) return refused(error);
        if (error.code !== 'ERR_OCSP_CERTID_MISMATCH') target ??= context;
        else mismatch ??= error;
      }
    }
    if (target === undefined && blocked !== undefined) {
      const { context, error } = blocked;
      const { certFile, serial } = context.status();
      return refused(
        new StaplingError(error.code, `the response is for ${certFile} (serial ${serial}), whose certificate cannot take a staple: ${error.reason}`, {
          expected: error.expected,
          found: error.found,
          file,
          cause: error,
        }),
        context,
      );
    }
    if (target === undefined) {
      return refused(
        new StaplingError('ERR_OCSP_CERTID_MISMATCH', "the response is for none of the registry's certificates", {
          expected: `a response for one of ${this.#contexts.length} certificate(s)`,
          found: mismatch?.found ?? 'no certificate in the registry',
          file,
        }),
      );
    }
    const result = await reloadForResult(target, { ocspFile: file });
    return { ocspFile: file, ok: result.ok, error: result.error, context: target };
  }

  /** The status of every context. */
  status(): StapleStatus[] {
    return this.#contexts.map((c) => c.status());
  }

  /**
   * Makes every context watch its files; see {@link StaplingContext.watch}. Each context polls
   * its own file (every `pollMs`, default 2 s): for thousands of certificates, raise `pollMs`
   * or drive {@link reloadAll} from the job that writes the files (SIGHUP, control socket).
   * Contexts added later ({@link add}) are watched too. Calling it again keeps the running
   * watches (a context has one watch; `certificate: true` adds the certificate watch).
   *
   * Each skipped `.pem` of `dir` (see {@link skipped}) is watched too, with `NAME.pem.issuer`
   * beside it: when either changes, the file is tried again, and once it is a usable certificate
   * chain it joins the registry as {@link add} would (fully checked, whatever `load`; its OCSP
   * file loaded, then watched) and leaves `skipped()`. While it is not, `skipped()` shows its
   * latest error and the `'skipped'` event tells each failed try. `.pem` files created in `dir`
   * later are not picked up: {@link add} them.
   */
  watch(options?: Parameters<StaplingContext['watch']>[0]): this {
    if (this.#closed) throw closedError('watch');
    const checked = watchOptions('StaplingRegistry.watch', options);
    const certificate = checked.certificate || this.#watching?.certificate === true;
    this.#watching = { ...(this.#watching ?? { debounceMs: checked.debounceMs, pollMs: checked.pollMs }), certificate };
    for (const context of this.#contexts) context.watch(this.#watching);
    for (const skipped of this.#skipped) this.#watchSkipped(skipped);
    return this;
  }

  /** Closes every context. Idempotent; afterwards `add`, `attach`, `reloadAll`, `reloadFromFile` and `watch` fail with `ERR_CLOSED`. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const skipped of this.#skipped) for (const watch of skipped.watches.splice(0)) watch.close();
    for (const server of [...this.#servers]) this.detach(server);
    await Promise.all(this.#contexts.map((c) => c.close()));
  }

  /**
   * @internal Opens the entries of the directory (`found`; skipped when unusable unless `strict`)
   * and of the `entries` option, then loads their OCSP files.
   */
  async load(found: readonly ResolvedEntry[], listed: readonly ResolvedEntry[], mode: 'eager' | 'lazy'): Promise<void> {
    const concurrency = this.#options.concurrency;
    const entries = [...found, ...listed];
    const skipped = new Array<SkippedEntry | undefined>(found.length);
    // A directory's file that is not a usable chain is skipped (unless strict); anything else throws.
    const skip = (err: unknown, entry: ResolvedEntry, i: number): null => {
      if (i >= found.length || this.#options.strict || !(err instanceof StaplingError) || err.family !== 'certificate') throw err;
      skipped[i] = { certFile: entry.certFile, ocspFile: entry.ocspFile, error: err };
      return null;
    };
    let opened: (StaplingContext | null)[];
    if (mode === 'lazy') {
      opened = [];
      for (const [i, entry] of entries.entries()) {
        // Read synchronously (see readChainUnchecked), LAZY_BATCH files between turns of the event loop.
        if (i > 0 && i % LAZY_BATCH === 0) await nextTurn();
        try {
          opened.push(this.#openUnchecked(entry));
        } catch (err) {
          opened.push(skip(err, entry, i));
        }
      }
    } else {
      opened = await mapLimit([...entries.keys()], concurrency, (i) => this.#open(entries[i]!).catch((err: unknown) => skip(err, entries[i]!, i)));
    }
    for (const entry of skipped) if (entry !== undefined) this.#skipped.push({ entry, watches: [], queue: Promise.resolve(null) });
    const contexts = opened.filter((c) => c !== null);
    // #open adds each context when its certificate has loaded, in no fixed order: keep the
    // order the entries were given, so that status() and reloadAll() list them stably.
    const loaded = new Set(contexts);
    const earlier = this.#contexts.filter((c) => !loaded.has(c));
    this.#contexts.splice(0, this.#contexts.length, ...earlier, ...contexts);
    // Lazy: the background load starts after a turn of the event loop, so that the caller, who has
    // the registry by then, sees every 'refused' event of it (certificate checks included).
    const start = mode === 'lazy' ? nextTurn() : Promise.resolve();
    const loading = start.then(() => mapLimit(contexts, concurrency, (c) => c.reload().catch(() => undefined))).then(() => undefined);
    if (mode === 'eager') await loading;
    this.ready = loading;
  }
}

function parseOrNull(bytes: Buffer): OcspResponse | null {
  try {
    return parseOcspResponse(bytes);
  } catch {
    return null;
  }
}

/**
 * A SingleResponse names the context's leaf: its serial, and the hash of the issuer Name the leaf
 * carries. Not its issuer's key: for a certificate whose chain failed, that key is not known.
 */
function namesCertificate(response: OcspResponse, context: StaplingContext): boolean {
  const { leaf } = context.chain;
  return response.responses.some(({ certId }) => certId.hash !== undefined && certId.serialNumber.equals(leaf.serialNumber) && certId.issuerNameHash.equals(createHash(certId.hash).update(leaf.issuerName).digest()));
}

/** @internal Reloads one context; never rejects: the result says how it went. */
export async function reloadForResult(context: StaplingContext, options: ReloadOptions): Promise<ReloadResult> {
  try {
    const status = await context.reload(options);
    return { ocspFile: status.ocspFile, ok: true, error: undefined, status };
  } catch (err) {
    // A refusal is a result; anything else (a bug) is rethrown as itself.
    if (!(err instanceof StaplingError)) throw err;
    const status = context.status();
    return { ocspFile: status.ocspFile, ok: false, error: err, status };
  }
}

/**
 * Makes a registry for many certificates: from a directory in HAProxy's convention
 * (`NAME.pem` beside `NAME.pem.ocsp`), from a list of entries, or both.
 * Rejects when a certificate of `entries` is unusable (like {@link createStaplingContext}); a
 * `.pem` of `dir` that is not a usable certificate chain is skipped and listed by
 * {@link StaplingRegistry.skipped}, unless `strict` (see {@link StaplingRegistryOptions.strict}).
 * With `load: 'lazy'`, only a certificate file that cannot be read or whose PEM and DER do not
 * read does either: a leaf OpenSSL refuses or that its issuer did not sign is held and refused in
 * the background (`ERR_CERT_PARSE`, `ERR_ISSUER_NOT_FOUND` in `status().lastRefusal`), even with
 * `strict: true` (see {@link StaplingRegistryOptions.load}).
 *
 * @example
 * ```ts
 * const registry = await createStaplingRegistry({ dir: '/etc/ssl/sites' });
 * registry.attach(server).watch();
 * process.on('SIGHUP', () => registry.reloadAll());
 * ```
 */
export async function createStaplingRegistry(options?: StaplingRegistryOptions): Promise<StaplingRegistry> {
  const checked = registryOptions('createStaplingRegistry', options);
  const registry = StaplingRegistry.create(checked);
  const found = checked.dir !== undefined ? await scanDirectory(checked.dir) : [];
  await registry.load(
    found.map((e) => ({ ...e, issuerFile: e.issuerFile })),
    checked.entries,
    checked.load,
  );
  return registry;
}

/** The entries of a directory in HAProxy's convention. */
export async function scanDirectory(dir: string): Promise<RegistryEntry[]> {
  checkPath('scanDirectory', 'dir', dir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new StaplingError('ERR_CERT_READ', 'cannot read the certificate directory', { found: (err as NodeJS.ErrnoException).code ?? String(err), file: dir, cause: err });
  }
  const present = new Set(names);
  const entries: RegistryEntry[] = [];
  for (const name of names.filter((n) => n.endsWith('.pem')).sort()) {
    const certFile = join(dir, name);
    const entry: RegistryEntry = { certFile, ocspFile: `${certFile}.ocsp` };
    if (present.has(`${name}.issuer`)) entry.issuerFile = `${certFile}.issuer`;
    entries.push(entry);
  }
  return entries;
}

/** A skipped `.pem` of `dir`: what skipped() shows, and what tries it again. */
interface Skipped {
  /** Replaced at each failed try, with its new error. */
  entry: SkippedEntry;
  /** Under watch(): the file and its NAME.pem.issuer. */
  watches: FileWatch[];
  /** The last try: the next one starts after it. */
  queue: Promise<StaplingContext | null>;
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function closedError(method: string): StaplingError {
  return new StaplingError('ERR_CLOSED', `StaplingRegistry.${method}: the registry is closed`, { expected: 'a registry not yet closed', found: 'close() was called' });
}

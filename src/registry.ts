import { EventEmitter } from 'node:events';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import { StaplingContext, type ReloadOptions, type StapleStatus, type StaplingContextOptions } from './context.js';
import { StaplingError, type StaplingErrorCode } from './errors.js';
import { readOcspFile } from './ocsp/file.js';
import { DEFAULT_LIMITS } from './options.js';
import { readMaxAgeMs } from './ocsp/verify.js';
import { loadCertificateChain, type CertificateCache } from './pki.js';

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
   * `eager` (default): every OCSP file is read and checked before the registry resolves.
   * `lazy`: the registry resolves once the certificates are read and indexed (they are always
   * read up front: a handshake must find its certificate); OCSP files load in the background (`ready` resolves when they all have). Handshakes before a certificate's file
   * has loaded get no staple; nothing is ever read inside a handshake.
   */
  load?: 'eager' | 'lazy';
  /** How many files are read and checked at once while loading. Default 16. */
  concurrency?: number;
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
   * reason of its own (revoked, expired, bad signature...). Undefined when the file could not be
   * read, is not a usable response at all, or names none of the registry's certificates: then no
   * context changed.
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

/** Events of a {@link StaplingRegistry}: those of its contexts, with the context. */
export interface StaplingRegistryEvents {
  /** A context swapped in a new staple. */
  reload: [status: StapleStatus, context: StaplingContext];
  /** A context refused a file; its previous staple stays while valid. */
  refused: [error: StaplingError, context: StaplingContext];
  /** A context's staple stops being valid within its margin. */
  expiring: [status: StapleStatus, context: StaplingContext];
  /** A context's staple reached nextUpdate. */
  expired: [status: StapleStatus, context: StaplingContext];
}

/**
 * Many certificates stapled through one OCSPRequest listener per server. Each handshake is
 * matched to its certificate by the DER that Node passes (one Map lookup and one memcmp,
 * whatever the number of certificates).
 */
export class StaplingRegistry extends EventEmitter<StaplingRegistryEvents> {
  readonly #contexts: StaplingContext[] = [];
  readonly #servers = new Set<TlsServer>();
  readonly #options: StaplingRegistryOptions;
  /** One parsed copy of each CA certificate, whatever the number of leaves it issued. */
  readonly #issuers: CertificateCache = new Map();
  /** Resolves when every OCSP file has been loaded once (at once for `load: 'eager'`). */
  ready: Promise<void> = Promise.resolve();

  /** @internal Use {@link createStaplingRegistry}. */
  constructor(options: StaplingRegistryOptions) {
    super();
    readMaxAgeMs('createStaplingRegistry', options);
    this.#options = options;
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
   * Adds one certificate (rejects like {@link createStaplingContext} when the certificate side
   * is unusable) and attaches it to the registry's servers. Its OCSP file is loaded before the
   * promise resolves; a refused file leaves it without a staple, as for a context.
   */
  async add(entry: RegistryEntry): Promise<StaplingContext> {
    const context = await this.#open(entry);
    await context.reload().catch(() => undefined);
    return context;
  }

  async #open(entry: RegistryEntry): Promise<StaplingContext> {
    const { dir: _dir, entries: _entries, load: _load, concurrency: _concurrency, ...checks } = this.#options;
    const chain = await loadCertificateChain(entry.certFile, entry.issuerFile, this.#issuers);
    const context = new StaplingContext({ ...checks, ...entry }, chain);
    context.on('reload', (s) => this.emit('reload', s, context));
    context.on('refused', (e) => this.emit('refused', e, context));
    context.on('expiring', (s) => this.emit('expiring', s, context));
    context.on('expired', (s) => this.emit('expired', s, context));
    this.#contexts.push(context);
    for (const server of this.#servers) context.attach(server);
    return context;
  }

  /** Removes one context from the registry and its servers, and closes it. */
  async remove(context: StaplingContext): Promise<void> {
    const at = this.#contexts.indexOf(context);
    if (at < 0) return;
    this.#contexts.splice(at, 1);
    await context.close();
  }

  /** The context whose certificate has this DER, if any. */
  get(certificate: Buffer): StaplingContext | undefined {
    return this.#contexts.find((c) => c.certificate.equals(certificate));
  }

  /** Attaches every context, present and future, to `server`. */
  attach(server: TlsServer): this {
    this.#servers.add(server);
    for (const context of this.#contexts) context.attach(server);
    return this;
  }

  /** Detaches every context from `server`. */
  detach(server: TlsServer): this {
    this.#servers.delete(server);
    for (const context of this.#contexts) context.detach(server);
    return this;
  }

  /** Reloads every context, a few at a time; never rejects: each result says how it went. */
  async reloadAll(options: ReloadOptions = {}): Promise<ReloadResult[]> {
    return mapLimit(this.#contexts, this.#options.concurrency ?? 16, (context) => reloadForResult(context, options));
  }

  /**
   * Pen's `ssl_ocsp_response FILE` for many certificates: reads `file` once (capped at
   * `maxResponseBytes`, regular files only, never blocking on a FIFO), finds the certificate it
   * is for by checking it against each context (pure: nothing is swapped), then reloads that
   * context from `file`, which becomes its `ocspFile` if it passes. Never rejects: the result
   * says how it went. When the file is refused, nothing changes but that context's
   * `lastRefusal`: every staple stays.
   *
   * @example
   * ```ts
   * const { ok, context, error } = await registry.reloadFromFile('/var/lib/ocsp/site.der');
   * console.log(ok ? `${context!.status().subject}: stapling` : `refused: ${error!.message}`);
   * ```
   */
  async reloadFromFile(file: string): Promise<FileReloadResult> {
    const refused = (error: StaplingError, context?: StaplingContext): FileReloadResult => ({ ocspFile: file, ok: false, error, context });
    let bytes: Buffer;
    try {
      bytes = await readOcspFile(file, this.#options.maxResponseBytes ?? DEFAULT_LIMITS.maxResponseBytes);
    } catch (err) {
      return refused(err as StaplingError);
    }
    let target: StaplingContext | undefined;
    let mismatch: StaplingError | undefined;
    for (const context of this.#contexts) {
      try {
        context.verify(bytes);
        target = context;
        break;
      } catch (err) {
        const error = err instanceof StaplingError ? err.withFile(file) : new StaplingError('ERR_OCSP_MALFORMED', 'unexpected failure while checking the response', { found: String(err), file, cause: err });
        if (NOT_ABOUT_A_CERTIFICATE.has(error.code)) return refused(error);
        if (error.code !== 'ERR_OCSP_CERTID_MISMATCH') target ??= context;
        else mismatch ??= error;
      }
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
   */
  watch(options?: Parameters<StaplingContext['watch']>[0]): this {
    for (const context of this.#contexts) context.watch(options);
    return this;
  }

  /** Closes every context. */
  async close(): Promise<void> {
    for (const server of [...this.#servers]) this.detach(server);
    await Promise.all(this.#contexts.map((c) => c.close()));
  }

  /** @internal */
  async load(entries: readonly RegistryEntry[], mode: 'eager' | 'lazy'): Promise<void> {
    const concurrency = this.#options.concurrency ?? 16;
    const contexts = await mapLimit(entries, concurrency, (entry) => this.#open(entry));
    // #open adds each context when its certificate has loaded, in no fixed order: keep the
    // order the entries were given, so that status() and reloadAll() list them stably.
    const loaded = new Set(contexts);
    const earlier = this.#contexts.filter((c) => !loaded.has(c));
    this.#contexts.splice(0, this.#contexts.length, ...earlier, ...contexts);
    const loading = mapLimit(contexts, concurrency, (c) => c.reload().catch(() => undefined)).then(() => undefined);
    if (mode === 'eager') await loading;
    this.ready = loading;
  }
}

/** @internal Reloads one context; never rejects: the result says how it went. */
export async function reloadForResult(context: StaplingContext, options: ReloadOptions): Promise<ReloadResult> {
  try {
    const status = await context.reload(options);
    return { ocspFile: status.ocspFile, ok: true, error: undefined, status };
  } catch (err) {
    const status = context.status();
    return { ocspFile: status.ocspFile, ok: false, error: err as StaplingError, status };
  }
}

/**
 * Makes a registry for many certificates: from a directory in HAProxy's convention
 * (`NAME.pem` beside `NAME.pem.ocsp`), from a list of entries, or both.
 * Rejects when a certificate is unusable (like {@link createStaplingContext}).
 *
 * @example
 * ```ts
 * const registry = await createStaplingRegistry({ dir: '/etc/ssl/sites' });
 * registry.attach(server).watch();
 * process.on('SIGHUP', () => registry.reloadAll());
 * ```
 */
export async function createStaplingRegistry(options: StaplingRegistryOptions = {}): Promise<StaplingRegistry> {
  const registry = new StaplingRegistry(options);
  const entries = [...(options.dir ? await scanDirectory(options.dir) : []), ...(options.entries ?? [])];
  await registry.load(entries, options.load ?? 'eager');
  return registry;
}

/** The entries of a directory in HAProxy's convention. */
export async function scanDirectory(dir: string): Promise<RegistryEntry[]> {
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

/**
 * The balancer's certificates and their staples: -E/-K/--ocsp, plus one per server name in
 * --sni-dir. The staples are the library's own answer for many certificates: one
 * `StaplingRegistry` holds a context per certificate, attaches them (and those added later) to
 * the server, reloads them all on SIGHUP, finds the certificate a `ssl_ocsp_response FILE` is
 * for, and closes them. This file only adds what a TLS server needs besides staples: the key
 * files, and a SecureContext per server name.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { createStaplingRegistry, type RegistryEntry, type StaplingContext, type StaplingRegistry, type StapleStatus } from 'ocsp-stapler';

/** One certificate the balancer serves. */
export interface Certificate {
  /** `default` for -E, else the server name from --sni-dir. */
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM contents of certFile and keyFile, read once at start. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Its staple; null until an OCSP file is configured (-E without --ocsp). */
  stapling: StaplingContext | null;
  /** For SNI names: the SecureContext SNICallback hands out. */
  readonly secureContext: tls.SecureContext | null;
}

/** A certificate's staple, as `ocsp`, the status page and the metrics show it. */
export interface StapleReport {
  readonly name: string;
  readonly certFile: string;
  /** Null when no OCSP file is configured for this certificate. */
  readonly status: StapleStatus | null;
  /** Handshakes that asked for a staple since start: got one, got none. */
  readonly handshakes: { readonly stapled: number; readonly withoutStaple: number };
}

/** What `ssl_ocsp_response FILE` did. */
export interface ResponseResult {
  readonly ok: boolean;
  readonly text: string;
  /** The certificate the response is for; null when it is for none (or is no response at all). */
  readonly certificate: string | null;
  readonly status: StapleStatus | null;
  readonly refusal: { code: string; message: string } | null;
}

/** Server names are host names: nothing that could walk out of the directory. */
const NAME = /^[a-z0-9*]([a-z0-9.-]{0,252})$/i;

/** Every certificate and staple of one TLS server. */
export class Certificates {
  readonly list: Certificate[];
  readonly registry: StaplingRegistry;

  private constructor(list: Certificate[], registry: StaplingRegistry) {
    this.list = list;
    this.registry = registry;
  }

  /**
   * Loads -E/-K/--ocsp and the --sni-dir. Throws, naming the files, on unusable certificates or
   * keys; a bad OCSP file only leaves that name unstapled.
   */
  static async load(options: { certFile: string | null; keyFile: string | null; ocspFile: string | null; sniDir: string | null }): Promise<Certificates> {
    const found: { name: string; certFile: string; keyFile: string; ocspFile: string | null; sni: boolean }[] = [];
    if (options.certFile && options.keyFile) found.push({ name: 'default', certFile: options.certFile, keyFile: options.keyFile, ocspFile: options.ocspFile, sni: false });
    if (options.sniDir) {
      for (const file of readdirSync(options.sniDir).sort()) {
        if (!file.endsWith('.pem')) continue;
        const name = file.slice(0, -4);
        if (!NAME.test(name)) continue;
        const certFile = join(options.sniDir, file);
        const keyFile = join(options.sniDir, `${name}.key`);
        // A certificate without its key is not a name we can serve (README: "each NAME.pem with a NAME.key").
        if (!isFile(keyFile)) continue;
        found.push({ name: name.toLowerCase(), certFile, keyFile, ocspFile: `${certFile}.ocsp`, sni: true });
      }
    }
    if (found.length === 0) throw new Error(`no certificate: --sni-dir ${options.sniDir} has no name.pem with name.key`);
    const list = found.map((f): Certificate => {
      const { cert, key, secureContext } = certificateAndKey(f.certFile, f.keyFile, f.sni ? '' : '-E/-K: ');
      return { name: f.name, certFile: f.certFile, keyFile: f.keyFile, cert, key, stapling: null, secureContext: f.sni ? secureContext : null };
    });
    // Only certificates with an OCSP file go in at start: -E without --ocsp needs no issuer.
    const stapled = found.flatMap((f, i) => (f.ocspFile ? [{ entry: { certFile: f.certFile, ocspFile: f.ocspFile } satisfies RegistryEntry, certificate: list[i]! }] : []));
    const registry = await createStaplingRegistry({ entries: stapled.map((s) => s.entry) });
    // The registry keeps the entries' order.
    registry.contexts().forEach((context, i) => (stapled[i]!.certificate.stapling = context));
    return new Certificates(list, registry);
  }

  /** Options for tls.createServer: the default certificate, and SNICallback for the rest. */
  serverOptions(): tls.TlsOptions {
    const byName = new Map(this.list.filter((c) => c.secureContext).map((c) => [c.name, c.secureContext!]));
    const fallback = this.list.find((c) => c.name === 'default') ?? this.list[0]!;
    const options: tls.TlsOptions = { cert: fallback.cert, key: fallback.key };
    if (byName.size > 0) {
      options.SNICallback = (servername, callback) => {
        const name = servername.toLowerCase();
        const wildcard = name.includes('.') ? `*${name.slice(name.indexOf('.'))}` : '';
        // undefined: the server's own (default) context.
        callback(null, byName.get(name) ?? byName.get(wildcard));
      };
    }
    return options;
  }

  /** Attaches every staple to `server`, those added later (ssl_ocsp_response) too. */
  attach(server: tls.Server): void {
    this.registry.attach(server);
  }

  /** Staple state of every certificate. */
  reports(): StapleReport[] {
    return this.list.map((c) => {
      const counters = c.stapling?.counters();
      const handshakes = { stapled: counters?.handshakesStapled ?? 0, withoutStaple: counters?.handshakesWithoutStaple ?? 0 };
      return { name: c.name, certFile: c.certFile, status: c.stapling?.status() ?? null, handshakes };
    });
  }

  /** Re-reads every staple file (SIGHUP). One line per certificate with a staple file. */
  async reloadAll(): Promise<{ ok: boolean; lines: string[] }> {
    const results = await this.registry.reloadAll();
    const lines = results.map((r, i) => {
      const name = this.#nameOf(this.registry.contexts()[i]);
      return r.ok ? `${name}: ${describe(r.status)}` : `${name}: refused ${r.error!.code}: ${r.error!.message}; ${keeps(r.status)}`;
    });
    return { ok: results.every((r) => r.ok), lines };
  }

  /**
   * `ssl_ocsp_response FILE`: like Pen, FILE becomes the staple file of the certificate it is
   * for, but only if it passes every check; otherwise nothing changes and the previous staple,
   * if any, stays. The registry reads FILE once with the library's reader (capped, regular
   * files only, never blocking) and finds the certificate it names.
   */
  async setResponse(file: string): Promise<ResponseResult> {
    // A certificate served without a staple file (-E without --ocsp) can take one now.
    for (const c of this.list) {
      if (c.stapling) continue;
      try {
        c.stapling = await this.registry.add({ certFile: c.certFile, ocspFile: `${c.certFile}.ocsp` });
      } catch {
        // Its issuer is not in -E: it cannot be stapled, and the response cannot be for it.
      }
    }
    const result = await this.registry.reloadFromFile(file);
    const certificate = result.context ? this.#nameOf(result.context) : null;
    const status = result.context?.status() ?? null;
    if (result.ok) return { ok: true, text: `${certificate}: ${describe(status)}`, certificate, status, refusal: null };
    const { code, message } = result.error!;
    const stays = certificate === null ? `no staple changed (${this.list.map((c) => `${c.name}: ${keeps(c.stapling?.status() ?? null)}`).join('; ')})` : keeps(status);
    return { ok: false, text: `${certificate ?? file}: refused ${code}: ${message}; ${stays}`, certificate, status, refusal: { code, message } };
  }

  #nameOf(context: StaplingContext | undefined): string {
    return this.list.find((c) => c.stapling === context)?.name ?? '?';
  }

  /** Closes every StaplingContext (timers), for a clean exit. */
  async close(): Promise<void> {
    await this.registry.close();
  }
}

/**
 * Reads a certificate and its key and checks that they make a TLS identity, with errors that
 * name both files: OpenSSL's own ("error:1E08010C:DECODER routines::unsupported") do not, and
 * do not say that -E and -K look swapped.
 */
function certificateAndKey(certFile: string, keyFile: string, prefix: string): { cert: Buffer; key: Buffer; secureContext: tls.SecureContext } {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`${prefix}cannot read the ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const cert = read(certFile, 'certificate');
  const key = read(keyFile, 'key');
  const hasCert = cert.includes('-----BEGIN CERTIFICATE-----');
  const keyInCert = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(cert.toString('latin1'));
  const hasKey = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString('latin1'));
  if (!hasCert || !hasKey) {
    const swapped = !hasCert && keyInCert && key.includes('-----BEGIN CERTIFICATE-----') ? ' (-E and -K look swapped)' : '';
    const problems = [
      ...(hasCert ? [] : [`${certFile} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`]),
      ...(hasKey ? [] : [`${keyFile} holds no PEM private key ("-----BEGIN ... PRIVATE KEY-----")`]),
    ];
    throw new Error(`${prefix}${problems.join('; ')}${swapped}`);
  }
  try {
    return { cert, key, secureContext: tls.createSecureContext({ cert, key }) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const hint = /key values mismatch/i.test(reason) ? ': the key is not the certificate\'s' : '';
    throw new Error(`${prefix}cannot use ${certFile} with the key ${keyFile}${hint} (${reason})`);
  }
}

/** "stapling until <nextUpdate>" or why not. */
export function describe(status: StapleStatus | null): string {
  if (status === null) return 'no OCSP file configured';
  if (status.stapling && status.validUntil) return `stapling until ${status.validUntil.toISOString()}`;
  if (status.lastRefusal) return `not stapling: ${status.lastRefusal.code}: ${status.lastRefusal.message}`;
  return 'not stapling';
}

/** What stays stapled after a refusal. */
function keeps(status: StapleStatus | null): string {
  if (status?.stapling && status.validUntil) return `the previous staple stays (stapling until ${status.validUntil.toISOString()})`;
  return 'nothing was stapled before, and nothing is stapled now';
}

/** True when `path` is a regular file (for --sni-dir checks). */
function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

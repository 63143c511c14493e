/**
 * The balancer's certificates and their staples: -E/-K/--ocsp, plus one per server name in
 * --sni-dir. Every staple goes through a StaplingContext from the library, so a bad file is
 * never stapled and never replaces a good staple.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { createStaplingContext, type StaplingContext, type StapleStatus } from 'ocsp-stapler';

/** One certificate the balancer serves. */
export interface Certificate {
  /** `default` for -E, else the server name from --sni-dir. */
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Its staple; null until an OCSP file is configured. */
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
  readonly certificate: string | null;
  readonly status: StapleStatus | null;
  readonly refusal: { code: string; message: string } | null;
}

/** Server names are host names: nothing that could walk out of the directory. */
const NAME = /^[a-z0-9*]([a-z0-9.-]{0,252})$/i;

/** Every certificate and staple of one TLS server. */
export class Certificates {
  readonly list: Certificate[] = [];
  readonly #servers = new Set<tls.Server>();

  /** Loads -E/-K/--ocsp and the --sni-dir. Throws on unusable certificates; a bad OCSP file only leaves that name unstapled. */
  static async load(options: { certFile: string | null; keyFile: string | null; ocspFile: string | null; sniDir: string | null }): Promise<Certificates> {
    const certs = new Certificates();
    if (options.certFile && options.keyFile) {
      const stapling = options.ocspFile ? await createStaplingContext({ certFile: options.certFile, ocspFile: options.ocspFile }) : null;
      certs.list.push({ name: 'default', certFile: options.certFile, keyFile: options.keyFile, stapling, secureContext: null });
    }
    if (options.sniDir) {
      for (const file of readdirSync(options.sniDir).sort()) {
        if (!file.endsWith('.pem')) continue;
        const name = file.slice(0, -4);
        if (!NAME.test(name)) continue;
        const certFile = join(options.sniDir, file);
        const keyFile = join(options.sniDir, `${name}.key`);
        // A certificate without its key is not a name we can serve (README: "each NAME.pem with a NAME.key").
        if (!isFile(keyFile)) continue;
        const ocspFile = `${certFile}.ocsp`;
        const secureContext = tls.createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
        const stapling = await createStaplingContext({ certFile, ocspFile });
        certs.list.push({ name: name.toLowerCase(), certFile, keyFile, stapling, secureContext });
      }
    }
    if (certs.list.length === 0) throw new Error(`no certificate: --sni-dir ${options.sniDir} has no name.pem with name.key`);
    return certs;
  }

  /** Options for tls.createServer: the default certificate, and SNICallback for the rest. */
  serverOptions(): tls.TlsOptions {
    const byName = new Map(this.list.filter((c) => c.secureContext).map((c) => [c.name, c.secureContext!]));
    const fallback = this.list.find((c) => c.name === 'default') ?? this.list[0]!;
    const options: tls.TlsOptions = { cert: readFileSync(fallback.certFile), key: readFileSync(fallback.keyFile) };
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

  /** Attaches every staple to `server`; later staples (ssl_ocsp_response) are attached too. */
  attach(server: tls.Server): void {
    this.#servers.add(server);
    for (const c of this.list) c.stapling?.attach(server);
  }

  /** Staple state of every certificate. */
  reports(): StapleReport[] {
    return this.list.map((c) => {
      const counters = c.stapling?.counters();
      const handshakes = { stapled: counters?.handshakesStapled ?? 0, withoutStaple: counters?.handshakesWithoutStaple ?? 0 };
      return { name: c.name, certFile: c.certFile, status: c.stapling?.status() ?? null, handshakes };
    });
  }

  /** Re-reads every staple file (SIGHUP). One line per certificate. */
  async reloadAll(): Promise<{ ok: boolean; lines: string[] }> {
    const lines: string[] = [];
    let ok = true;
    for (const c of this.list) {
      if (!c.stapling) continue;
      try {
        const status = await c.stapling.reload();
        lines.push(`${c.name}: ${describe(status)}`);
      } catch (err) {
        ok = false;
        lines.push(`${c.name}: refused ${errorText(err)}; ${keeps(c.stapling.status())}`);
      }
    }
    return { ok, lines };
  }

  /**
   * `ssl_ocsp_response FILE`: like Pen, FILE becomes the staple file of the certificate it is
   * for, but only if it passes every check; otherwise nothing changes and the previous staple,
   * if any, stays. With several certificates, the one the response names is found with
   * `verify()` (pure: nothing is swapped), then that context reloads from FILE.
   */
  async setResponse(file: string): Promise<ResponseResult> {
    let bytes: Buffer | null = null;
    try {
      bytes = readFileSync(file);
    } catch {
      // Let the context report the read error with its code.
    }
    let target = this.list[0]!;
    for (const c of this.list) {
      const context = await this.#stapling(c);
      try {
        if (bytes) context.verify(bytes);
        target = c;
        break;
      } catch (err) {
        // Prefer the certificate the response is about: anything but a CertID mismatch names it.
        if ((err as { code?: string }).code !== 'ERR_OCSP_CERTID_MISMATCH') target = c;
      }
    }
    const context = await this.#stapling(target);
    try {
      const status = await context.reload({ ocspFile: file });
      return { ok: true, text: `${target.name}: ${describe(status)}`, certificate: target.name, status, refusal: null };
    } catch (err) {
      const { code, message } = err as { code: string; message: string };
      const status = context.status();
      return { ok: false, text: `${target.name}: refused ${code}: ${message}; ${keeps(status)}`, certificate: target.name, status, refusal: { code, message } };
    }
  }

  /** The certificate's context; one without an OCSP file yet gets one (it staples nothing until a file passes). */
  async #stapling(c: Certificate): Promise<StaplingContext> {
    if (!c.stapling) {
      c.stapling = await createStaplingContext({ certFile: c.certFile, ocspFile: `${c.certFile}.ocsp` });
      for (const server of this.#servers) c.stapling.attach(server);
    }
    return c.stapling;
  }

  /** Closes every StaplingContext (timers), for a clean exit. */
  async close(): Promise<void> {
    for (const c of this.list) await c.stapling?.close();
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

function errorText(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && 'message' in err) return `${String(err.code)}: ${String(err.message)}`;
  return String(err);
}

/** True when `path` is a regular file (for --sni-dir checks). */
function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

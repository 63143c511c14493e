import type { Server as TlsServer } from 'node:tls';
import type { StaplingContext } from './context.js';
import { dispatcherOf } from './dispatch.js';
import type { StaplingRegistry } from './registry.js';

/** What {@link renderPrometheus} can report on. */
export interface MetricsSources {
  /** Contexts and registries to report, one series per certificate. */
  readonly contexts?: Iterable<StaplingContext | StaplingRegistry>;
  /** Servers whose handshakes for unknown certificates are counted. */
  readonly servers?: Iterable<TlsServer>;
  /** The time for "seconds left". Default `Date.now()`. */
  readonly now?: number;
}

/**
 * Renders the state and counters of contexts and registries in the Prometheus text
 * exposition format (version 0.0.4), one series per certificate, labelled by subject and
 * serial.
 *
 * @example
 * ```ts
 * http.createServer((req, res) => {
 *   res.setHeader('content-type', 'text/plain; version=0.0.4');
 *   res.end(renderPrometheus({ contexts: [registry], servers: [server] }));
 * }).listen(9100, '127.0.0.1');
 * ```
 */
export function renderPrometheus(sources: MetricsSources): string {
  const now = sources.now ?? Date.now();
  const contexts: StaplingContext[] = [];
  for (const item of sources.contexts ?? []) {
    if ('contexts' in item) contexts.push(...item.contexts());
    else contexts.push(item);
  }
  const families: Record<string, { help: string; type: 'gauge' | 'counter'; lines: string[] }> = {};
  const add = (name: string, type: 'gauge' | 'counter', help: string, labels: Record<string, string>, value: number) => {
    const family = (families[name] ??= { help, type, lines: [] });
    const text = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
    family.lines.push(`${name}${text ? `{${text}}` : ''} ${Number.isFinite(value) ? value : 0}`);
  };
  for (const context of contexts) {
    const status = context.status();
    const counters = context.counters();
    const cert = { subject: status.subject, serial: status.serial };
    add('ocsp_stapler_stapling', 'gauge', '1 when the next handshake gets a staple.', cert, status.stapling ? 1 : 0);
    add('ocsp_stapler_must_staple', 'gauge', '1 when the certificate carries OCSP Must-Staple.', cert, status.mustStaple ? 1 : 0);
    add('ocsp_stapler_staple_seconds_left', 'gauge', 'Seconds until the staple stops being valid (0 without one).', cert, status.validUntil ? Math.max(0, (status.validUntil.getTime() - now) / 1000) : 0);
    add('ocsp_stapler_handshakes_total', 'counter', 'Handshakes that asked for status, by result.', { ...cert, result: 'stapled' }, counters.handshakesStapled);
    add('ocsp_stapler_handshakes_total', 'counter', 'Handshakes that asked for status, by result.', { ...cert, result: 'none' }, counters.handshakesWithoutStaple);
    add('ocsp_stapler_reloads_total', 'counter', 'Reloads that swapped in a new staple.', cert, counters.reloads);
    for (const [code, n] of Object.entries(counters.refusalsByCode)) {
      add('ocsp_stapler_refusals_total', 'counter', 'OCSP files refused, by error code.', { ...cert, code }, n ?? 0);
    }
  }
  let server = 0;
  for (const s of sources.servers ?? []) {
    const dispatcher = dispatcherOf(s);
    add('ocsp_stapler_unknown_certificate_total', 'counter', 'Status requests for a certificate no context holds.', { server: String(server++) }, dispatcher?.counters.unknownCertificate ?? 0);
  }
  return Object.entries(families)
    .map(([name, f]) => `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n${f.lines.join('\n')}\n`)
    .join('');
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import { checkServer, StaplingContext } from './context.js';
import { dispatcherOf } from './dispatch.js';
import { invalidArgument, OptionReader } from './options.js';
import { StaplingRegistry } from './registry.js';

/** What {@link renderPrometheus} and {@link registerPrometheusMetrics} report on. */
export interface MetricsSources {
  /**
   * Contexts and registries to report. A context given twice (itself and through a registry)
   * counts once; distinct contexts for the same `certFile` and `ocspFile` are merged into one
   * series (counters summed, the earliest `valid_until`).
   */
  readonly contexts?: Iterable<StaplingContext | StaplingRegistry>;
  /** Servers whose handshakes for unknown certificates are counted, labelled by listening address. */
  readonly servers?: Iterable<TlsServer>;
}

/** One sample of a {@link MetricFamily}. */
export interface MetricSample {
  /** Label names and values, unescaped. */
  readonly labels: Readonly<Record<string, string>>;
  /** The value; always finite. */
  readonly value: number;
}

/** One metric family: what a `# HELP` / `# TYPE` block holds. */
export interface MetricFamily {
  /** Metric name, e.g. `ocsp_stapler_handshakes_total`. */
  readonly name: string;
  /** The `# HELP` text. */
  readonly help: string;
  /** `gauge` or `counter`. */
  readonly type: 'gauge' | 'counter';
  /** Its samples, no two with the same labels. */
  readonly samples: readonly MetricSample[];
}

/** The names of every family {@link collectMetrics} returns, in order. */
export const METRIC_NAMES = [
  'ocsp_stapler_certificate_info',
  'ocsp_stapler_stapling',
  'ocsp_stapler_must_staple',
  'ocsp_stapler_valid_until_timestamp_seconds',
  'ocsp_stapler_last_reload_timestamp_seconds',
  'ocsp_stapler_previous_certificate_stapling',
  'ocsp_stapler_handshakes_total',
  'ocsp_stapler_reloads_total',
  'ocsp_stapler_refusals_total',
  'ocsp_stapler_unknown_certificate_total',
  'ocsp_stapler_certificate_file_skipped',
] as const;

/** A name of {@link METRIC_NAMES}. */
export type MetricName = (typeof METRIC_NAMES)[number];

/** How prom-client's cluster `AggregatorRegistry` combines the workers' samples of a family. */
const AGGREGATOR: Record<MetricName, 'sum' | 'min' | 'max'> = {
  ocsp_stapler_certificate_info: 'max',
  ocsp_stapler_stapling: 'min',
  ocsp_stapler_must_staple: 'max',
  ocsp_stapler_valid_until_timestamp_seconds: 'min',
  ocsp_stapler_last_reload_timestamp_seconds: 'min',
  ocsp_stapler_previous_certificate_stapling: 'min',
  ocsp_stapler_handshakes_total: 'sum',
  ocsp_stapler_reloads_total: 'sum',
  ocsp_stapler_refusals_total: 'sum',
  ocsp_stapler_unknown_certificate_total: 'sum',
  ocsp_stapler_certificate_file_skipped: 'max',
};

const HELP: Record<MetricName, [type: 'gauge' | 'counter', help: string]> = {
  ocsp_stapler_certificate_info: ['gauge', 'The certificate a context staples for now (always 1).'],
  ocsp_stapler_stapling: ['gauge', '1 when the next handshake presenting the current certificate gets a staple.'],
  ocsp_stapler_must_staple: ['gauge', '1 when the current certificate carries OCSP Must-Staple (RFC 7633).'],
  ocsp_stapler_valid_until_timestamp_seconds: ['gauge', 'When the staple held stops being valid, in Unix seconds; 0 without one.'],
  ocsp_stapler_last_reload_timestamp_seconds: ['gauge', 'When the staple held was loaded, in Unix seconds; 0 without one.'],
  ocsp_stapler_previous_certificate_stapling: ['gauge', '1 while the certificate before a renewal still gets its staple.'],
  ocsp_stapler_handshakes_total: ['counter', 'Handshakes that asked for status, by result.'],
  ocsp_stapler_reloads_total: ['counter', 'Reloads that swapped in a new staple.'],
  ocsp_stapler_refusals_total: ['counter', 'OCSP and certificate files refused, by error code.'],
  ocsp_stapler_unknown_certificate_total: ['counter', 'Status requests for a certificate no attached context holds, by server.'],
  ocsp_stapler_certificate_file_skipped: ['gauge', 'A .pem of a registry directory left out as not a usable certificate chain, by error code (always 1; gone once it joins).'],
};

/**
 * The metrics of contexts, registries and servers as plain families: what
 * {@link renderPrometheus} prints and {@link registerPrometheusMetrics} hands to prom-client.
 *
 * Every context is labelled by `cert_file` and `ocsp_file` (stable across renewals, unique per
 * context); `ocsp_stapler_certificate_info` adds its `subject` and `serial`. A registry's skipped
 * `.pem` files ({@link StaplingRegistry.skipped}) have no context: each is one
 * `ocsp_stapler_certificate_file_skipped` sample, labelled by its files and error `code`. Servers are labelled
 * by `listener`, their listening address (`127.0.0.1:443`, a socket path, or `""` when not
 * listening).
 */
export function collectMetrics(sources: MetricsSources): MetricFamily[] {
  checkSources('collectMetrics', sources);
  const contexts = new Set<StaplingContext>();
  const registries = new Set<StaplingRegistry>();
  for (const item of sources.contexts ?? []) {
    if ('contexts' in item) {
      registries.add(item);
      for (const c of item.contexts()) contexts.add(c);
    } else contexts.add(item);
  }
  // Samples keyed by family, then by their label set: a second sample with the same labels is merged.
  const families = new Map<MetricName, Map<string, { labels: Record<string, string>; value: number }>>(METRIC_NAMES.map((n) => [n, new Map()]));
  const add = (name: MetricName, labels: Record<string, string>, value: number, merge: (a: number, b: number) => number) => {
    const samples = families.get(name)!;
    const key = JSON.stringify(labels);
    const v = Number.isFinite(value) ? value : 0;
    const had = samples.get(key);
    if (had) had.value = merge(had.value, v);
    else samples.set(key, { labels, value: v });
  };
  const sum = (a: number, b: number) => a + b;
  const min = Math.min;
  const max = Math.max;
  const seconds = (date: Date | null) => (date ? date.getTime() / 1000 : 0);
  for (const context of contexts) {
    const status = context.status();
    const counters = context.counters();
    const id = { cert_file: status.certFile, ocsp_file: status.ocspFile };
    add('ocsp_stapler_certificate_info', { ...id, subject: status.subject, serial: status.serial }, 1, max);
    add('ocsp_stapler_stapling', id, status.stapling ? 1 : 0, min);
    add('ocsp_stapler_must_staple', id, status.mustStaple ? 1 : 0, max);
    // Without a staple, 0: an alert on "valid_until - time() < margin" fires for it too.
    const validUntil = status.stapling ? seconds(status.validUntil) : 0;
    add('ocsp_stapler_valid_until_timestamp_seconds', id, validUntil, min);
    add('ocsp_stapler_last_reload_timestamp_seconds', id, seconds(status.loadedAt), min);
    add('ocsp_stapler_previous_certificate_stapling', id, status.previous?.stapling ? 1 : 0, min);
    add('ocsp_stapler_handshakes_total', { ...id, result: 'stapled' }, counters.handshakesStapled, sum);
    add('ocsp_stapler_handshakes_total', { ...id, result: 'none' }, counters.handshakesWithoutStaple, sum);
    add('ocsp_stapler_reloads_total', id, counters.reloads, sum);
    for (const [code, n] of Object.entries(counters.refusalsByCode)) add('ocsp_stapler_refusals_total', { ...id, code }, n ?? 0, sum);
  }
  // A skipped file has no context: without this, a site whose certificate is not usable yet
  // (a deploy that has not written the chain) would have no series at all.
  for (const registry of registries) {
    for (const { certFile, ocspFile, error } of registry.skipped()) add('ocsp_stapler_certificate_file_skipped', { cert_file: certFile, ocsp_file: ocspFile, code: error.code }, 1, max);
  }
  for (const server of new Set(sources.servers ?? [])) {
    const dispatcher = dispatcherOf(server);
    add('ocsp_stapler_unknown_certificate_total', { listener: listenerOf(server) }, dispatcher?.counters.unknownCertificate ?? 0, sum);
  }
  return METRIC_NAMES.map((name) => ({ name, type: HELP[name][0], help: HELP[name][1], samples: [...families.get(name)!.values()] })).filter((f) => f.samples.length > 0);
}

function listenerOf(server: TlsServer): string {
  const address = server.address() as AddressInfo | string | null;
  if (address === null) return '';
  if (typeof address === 'string') return address;
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

/**
 * Renders {@link collectMetrics} in the Prometheus text exposition format (version 0.0.4),
 * which `promtool check metrics` accepts: HELP and TYPE lines, unit-suffixed names, label
 * values escaped, no series twice.
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
  checkSources('renderPrometheus', sources);
  let out = '';
  for (const family of collectMetrics(sources)) {
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      const labels = Object.entries(sample.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
      out += `${family.name}${labels ? `{${labels}}` : ''} ${sample.value}\n`;
    }
  }
  return out;
}

// https://prometheus.io/docs/instrumenting/exposition_formats/#comments-help-text-and-type-information
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A metric family as prom-client's `Registry` reads it from a metric's `get()`. */
export interface CollectedFamily {
  /** Family name. */
  readonly name: string;
  /** The `# HELP` text. */
  readonly help: string;
  /** `gauge` or `counter`. */
  readonly type: 'gauge' | 'counter';
  /** How prom-client's `AggregatorRegistry` combines workers: `sum` for counters. */
  readonly aggregator: 'sum' | 'min' | 'max';
  /** The samples. */
  readonly values: readonly MetricSample[];
}

/** What {@link registerPrometheusMetrics} registers: one per family, shaped as prom-client reads metrics. */
export interface CollectorMetric {
  /** Family name. */
  readonly name: string;
  /** The `# HELP` text. */
  readonly help: string;
  /** `gauge` or `counter`. */
  readonly type: 'gauge' | 'counter';
  /** See {@link CollectedFamily.aggregator}. */
  readonly aggregator: 'sum' | 'min' | 'max';
  /** Collects the family now (every family is collected once per scrape). */
  get(): Promise<CollectedFamily>;
  /** Nothing to reset: the values are read from the contexts. */
  reset(): void;
}

/** The part of a prom-client `Registry` that {@link registerPrometheusMetrics} uses. */
export interface PrometheusRegistryLike {
  /**
   * prom-client's `Registry#registerMetric`; it is handed {@link CollectorMetric} objects. The
   * parameter is typed `never` so that a registry declaring its own metric classes (as
   * prom-client's typings do) fits without a cast.
   */
  registerMetric(metric: never): void;
  /** prom-client's `Registry#contentType`. For OpenMetrics, counter families are named without `_total`, which prom-client then appends. */
  readonly contentType?: string;
}

/**
 * Registers the families of {@link collectMetrics} in a prom-client `Registry` (or anything with
 * its `registerMetric`), so that an app that already serves `register.metrics()` (or
 * aggregates workers with `AggregatorRegistry`) gets them on its existing endpoint. prom-client
 * is not a dependency of this package: the registry is passed in. `sources` is read at every
 * scrape, so contexts a registry gains later are included.
 *
 * @example
 * ```ts
 * import client from 'prom-client';
 * registerPrometheusMetrics(client.register, { contexts: [registry], servers: [server] });
 * ```
 */
export function registerPrometheusMetrics(registry: PrometheusRegistryLike, sources: MetricsSources): CollectorMetric[] {
  if (typeof (registry as Partial<PrometheusRegistryLike> | null)?.registerMetric !== 'function') {
    throw invalidArgument('registerPrometheusMetrics', 'registry', 'a prom-client Registry (with registerMetric)', registry);
  }
  checkSources('registerPrometheusMetrics', sources);
  const openMetrics = registry.contentType?.startsWith('application/openmetrics-text') ?? false;
  // One collection per scrape: prom-client calls every metric's get() in the same tick.
  let collected: Map<string, MetricFamily> | null = null;
  const collect = () => {
    if (!collected) {
      collected = new Map(collectMetrics(sources).map((f) => [f.name, f]));
      setImmediate(() => (collected = null));
    }
    return collected;
  };
  const metrics = METRIC_NAMES.map((sampleName): CollectorMetric => {
    const [type, help] = HELP[sampleName];
    const name = openMetrics && type === 'counter' ? sampleName.replace(/_total$/, '') : sampleName;
    const aggregator = AGGREGATOR[sampleName];
    return {
      name,
      help,
      type,
      aggregator,
      get: async () => {
        const values = collect().get(sampleName)?.samples ?? [];
        return { name, help, type, aggregator, values };
      },
      reset: () => undefined,
    };
  });
  for (const metric of metrics) registry.registerMetric(metric as never);
  return metrics;
}

// Checked where they enter, so that a scrape never throws for a mistake made at set-up.
function checkSources(where: string, sources: MetricsSources): void {
  if (sources === undefined) throw invalidArgument(where, 'sources', 'an object { contexts?, servers? }', sources);
  const o = new OptionReader<MetricsSources>(where, sources);
  const expected = 'an iterable of StaplingContext and StaplingRegistry';
  const iterable = (v: unknown): v is Iterable<unknown> => typeof (v as Partial<Iterable<unknown>> | null)?.[Symbol.iterator] === 'function' && typeof v !== 'string';
  const items = o.check('contexts', expected, iterable);
  for (const item of items ?? []) {
    if (!(item instanceof StaplingRegistry) && !(item instanceof StaplingContext)) throw o.invalid('contexts', expected, item);
  }
  const servers = o.check('servers', 'an iterable of tls.Server', iterable);
  for (const server of servers ?? []) checkServer(where, server);
}

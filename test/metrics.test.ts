/**
 * Prometheus metrics that Prometheus accepts: `promtool check metrics` (Debian's prometheus
 * package) on what renderPrometheus and prom-client print, no series twice, label values
 * escaped, and the README's alert rules checked and unit-tested by `promtool`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type Server } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import client from 'prom-client';
import {
  collectMetrics,
  createStaplingContext,
  createStaplingRegistry,
  METRIC_NAMES,
  registerPrometheusMetrics,
  renderPrometheus,
  type MetricsSources,
  type StaplingContext,
  type StaplingRegistry,
} from '../src/index.js';
import { handshake } from './fixtures/client.js';
import { makePki, type Pki } from './fixtures/pki.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');
let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.remove());

/** Runs promtool with `input` on stdin; never rejects. */
function promtool(args: string[], input = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
    });
    child.stdin!.end(input);
  });
}

/** Every sample line's name and labels, for finding one printed twice. */
function seriesOf(text: string): string[] {
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.slice(0, l.lastIndexOf(' ')));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/**
 * What an operator might hand over: a registry of two certificates (one file refused), one of
 * its contexts again on its own, a second context for the same files (another server's), a
 * context whose file names need escaping, a listening server and one that is not.
 */
async function scene(): Promise<{ sources: MetricsSources; registry: StaplingRegistry; extra: StaplingContext[]; servers: Server[]; port: number; odd: string }> {
  const dir = join(pki.dir, `metrics-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  copyFileSync(pki.leaf.chain, join(dir, 'a.pem'));
  writeFileSync(join(dir, 'a.pem.ocsp'), pki.respond());
  copyFileSync(pki.leaf2.chain, join(dir, 'b.pem'));
  // A site certificate written without its chain: skipped, so it has no context.
  copyFileSync(pki.leaf.cert, join(dir, 'c.pem'));
  writeFileSync(join(dir, 'c.pem.ocsp'), pki.respond());
  const registry = await createStaplingRegistry({ dir });
  const twin = await createStaplingContext({ certFile: join(dir, 'a.pem'), ocspFile: join(dir, 'a.pem.ocsp') });
  // Quote, backslash and newline: all three must be escaped in a label value.
  const odd = join(dir, 'we"ird\\na\nme.pem');
  copyFileSync(pki.leaf.chain, odd);
  const oddContext = await createStaplingContext({ certFile: odd, ocspFile: join(dir, 'a.pem.ocsp') });
  const listening = createServer({ cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) }, (s) => s.end());
  const idle = createServer({ cert: readFileSync(pki.leaf.chain), key: readFileSync(pki.leaf.key) });
  registry.attach(listening);
  twin.attach(idle);
  const port = await listen(listening);
  await handshake({ port, servername: 'localhost' });
  const contexts = [registry, registry.contexts()[0]!, twin, oddContext, registry];
  return { sources: { contexts, servers: [listening, idle, listening] }, registry, extra: [twin, oddContext], servers: [listening, idle], port, odd };
}

async function tearDown(s: Awaited<ReturnType<typeof scene>>): Promise<void> {
  await s.registry.close();
  for (const c of s.extra) await c.close();
  for (const server of s.servers) if (server.listening) await new Promise((r) => server.close(r));
}

describe('renderPrometheus', () => {
  it('passes promtool check metrics and never prints a series twice', async () => {
    const s = await scene();
    try {
      const text = renderPrometheus(s.sources);
      const checked = await promtool(['check', 'metrics'], text);
      assert.equal(checked.code, 0, `${checked.out}\n${text}`);
      assert.equal(checked.out, '', 'no lint findings');
      const series = seriesOf(text);
      assert.deepEqual(series.filter((x, i) => series.indexOf(x) !== i), [], 'no duplicate series');
      for (const name of METRIC_NAMES) assert.match(text, new RegExp(`^# HELP ${name} .+\\n# TYPE ${name} (gauge|counter)$`, 'm'));
    } finally {
      await tearDown(s);
    }
  });

  it('labels contexts by their files and servers by their address, and escapes label values', async () => {
    const s = await scene();
    try {
      const text = renderPrometheus(s.sources);
      const a = join(s.registry.contexts()[0]!.status().certFile);
      const id = `cert_file="${a}",ocsp_file="${a}.ocsp"`;
      // The registry's context and its twin for the same files: one series, counters summed.
      assert.ok(text.includes(`ocsp_stapler_handshakes_total{${id},result="stapled"} 1\n`), text);
      assert.ok(text.includes(`ocsp_stapler_reloads_total{${id}} 2\n`), text);
      assert.ok(text.includes(`ocsp_stapler_certificate_info{${id},subject="CN=localhost",serial="${pki.leaf.serial}"} 1\n`), text);
      assert.ok(text.includes(`ocsp_stapler_refusals_total{cert_file="${a.replace('a.pem', 'b.pem')}",ocsp_file="${a.replace('a.pem', 'b.pem')}.ocsp",code="ERR_OCSP_FILE_READ"} 1\n`), text);
      assert.ok(text.includes(`ocsp_stapler_unknown_certificate_total{listener="127.0.0.1:${s.port}"} 0\n`), text);
      assert.ok(text.includes(`ocsp_stapler_unknown_certificate_total{listener=""} 0\n`), text);
      // The skipped site is seen, though it has no context; the registry is given twice: one series.
      const c = a.replace('a.pem', 'c.pem');
      assert.ok(text.includes(`ocsp_stapler_certificate_file_skipped{cert_file="${c}",ocsp_file="${c}.ocsp",code="ERR_ISSUER_NOT_FOUND"} 1\n`), text);
      assert.equal(text.match(/^ocsp_stapler_certificate_file_skipped\{/gm)?.length, 1, text);
      assert.ok(!text.includes(`cert_file="${c}",ocsp_file="${c}.ocsp"}`), 'no context series for it');
      const escaped = s.odd.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
      assert.ok(text.includes(`ocsp_stapler_stapling{cert_file="${escaped}",`), text);
      // The timestamps alerts are written on.
      const status = s.registry.contexts()[0]!.status();
      assert.ok(text.includes(`ocsp_stapler_valid_until_timestamp_seconds{${id}} ${status.validUntil!.getTime() / 1000}\n`), text);
      const loaded = Math.min(status.loadedAt!.getTime(), s.extra[0]!.status().loadedAt!.getTime()) / 1000;
      assert.ok(text.includes(`ocsp_stapler_last_reload_timestamp_seconds{${id}} ${loaded}\n`), text);
      const b = `cert_file="${a.replace('a.pem', 'b.pem')}",ocsp_file="${a.replace('a.pem', 'b.pem')}.ocsp"`;
      assert.ok(text.includes(`ocsp_stapler_valid_until_timestamp_seconds{${b}} 0\n`), 'no staple: 0, so that a time-left alert fires');
    } finally {
      await tearDown(s);
    }
  });
});

describe('registerPrometheusMetrics (prom-client)', () => {
  it('gives prom-client the same samples, which promtool accepts', async () => {
    const s = await scene();
    try {
      const registry = new client.Registry();
      new client.Counter({ name: 'app_requests_total', help: 'The app’s own metric.', registers: [registry] }).inc();
      registerPrometheusMetrics(registry, s.sources);
      const text = await registry.metrics();
      const checked = await promtool(['check', 'metrics'], text);
      assert.equal(checked.code, 0, `${checked.out}\n${text}`);
      const ours = seriesOf(renderPrometheus(s.sources)).sort();
      const theirs = seriesOf(text).filter((x) => x.startsWith('ocsp_stapler_')).sort();
      assert.deepEqual(theirs, ours);
      assert.ok(text.includes('app_requests_total 1'));
      // Read at every scrape: a context added later shows up.
      const before = collectMetrics(s.sources).find((f) => f.name === 'ocsp_stapler_stapling')!.samples.length;
      copyFileSync(pki.mustStaple.chain, join(s.odd, '..', 'c.pem'));
      await s.registry.add({ certFile: join(s.odd, '..', 'c.pem'), ocspFile: join(s.odd, '..', 'c.pem.ocsp') });
      const later = await registry.getSingleMetric('ocsp_stapler_stapling')!.get();
      assert.equal(later.values.length, before + 1);
    } finally {
      await tearDown(s);
    }
  });

  it('names counter families without _total for an OpenMetrics registry, as prom-client appends it', async () => {
    const s = await scene();
    try {
      const registry = new client.Registry<client.OpenMetricsContentType>();
      registry.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
      registerPrometheusMetrics(registry, s.sources);
      const text = await registry.metrics();
      assert.match(text, /^# TYPE ocsp_stapler_handshakes counter$/m);
      assert.match(text, /^ocsp_stapler_handshakes_total\{/m);
      assert.doesNotMatch(text, /_total_total/);
    } finally {
      await tearDown(s);
    }
  });
});

describe("the README's alert rules", () => {
  const rules = (): string => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /```yaml\n(groups:[\s\S]*?)```/.exec(readme);
    assert.ok(block, 'README has a rule file');
    return block[1]!;
  };

  it('pass promtool check rules', async () => {
    const file = join(pki.dir, 'rules.yml');
    writeFileSync(file, rules());
    const checked = await promtool(['check', 'rules', file]);
    assert.equal(checked.code, 0, checked.out);
    assert.match(checked.out, /SUCCESS: 3 rules found/);
  });

  it('fire for a staple ending soon or missing, not for a fresh one (promtool test rules)', async () => {
    writeFileSync(join(pki.dir, 'rules.yml'), rules());
    const labels = (f: string) => `cert_file="/etc/ssl/${f}.pem",ocsp_file="/etc/ssl/${f}.pem.ocsp"`;
    // promtool's clock starts at 0: at 30m, time() is 1800.
    const test = `rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'ocsp_stapler_valid_until_timestamp_seconds{${labels('soon')}}'
        values: '7200+0x60'
      - series: 'ocsp_stapler_valid_until_timestamp_seconds{${labels('missing')}}'
        values: '0+0x60'
      - series: 'ocsp_stapler_valid_until_timestamp_seconds{${labels('fresh')}}'
        values: '864000+0x60'
      - series: 'ocsp_stapler_refusals_total{${labels('fresh')},code="ERR_OCSP_REVOKED"}'
        values: '0 0 0 1+0x57'
      - series: 'ocsp_stapler_certificate_file_skipped{${labels('unchained')},code="ERR_ISSUER_NOT_FOUND"}'
        values: '1+0x60'
    alert_rule_test:
      - eval_time: 30m
        alertname: OcspStapleEndingSoon
        exp_alerts:
          - exp_labels: { severity: page, ${labels('soon').replace(/=/g, ': ')} }
            exp_annotations:
              summary: 'OCSP staple for /etc/ssl/soon.pem ends within 12 hours, or is missing'
              description: 'Check the fetch job (ocsp-stapler fetch) and the responder; refusals: ocsp_stapler_refusals_total.'
          - exp_labels: { severity: page, ${labels('missing').replace(/=/g, ': ')} }
            exp_annotations:
              summary: 'OCSP staple for /etc/ssl/missing.pem ends within 12 hours, or is missing'
              description: 'Check the fetch job (ocsp-stapler fetch) and the responder; refusals: ocsp_stapler_refusals_total.'
      - eval_time: 30m
        alertname: OcspStapleFileRefused
        exp_alerts:
          - exp_labels: { severity: ticket, code: ERR_OCSP_REVOKED, ${labels('fresh').replace(/=/g, ': ')} }
            exp_annotations:
              summary: '/etc/ssl/fresh.pem.ocsp was refused (ERR_OCSP_REVOKED); the previous staple is kept while valid'
      - eval_time: 30m
        alertname: OcspCertificateFileSkipped
        exp_alerts:
          - exp_labels: { severity: page, code: ERR_ISSUER_NOT_FOUND, ${labels('unchained').replace(/=/g, ': ')} }
            exp_annotations:
              summary: '/etc/ssl/unchained.pem is not a usable certificate chain (ERR_ISSUER_NOT_FOUND): nothing is stapled for it'
`;
    const file = join(pki.dir, 'rules.test.yml');
    writeFileSync(file, test);
    const tested = await promtool(['test', 'rules', file]);
    assert.equal(tested.code, 0, tested.out);
    assert.match(tested.out, /SUCCESS/);
  });
});

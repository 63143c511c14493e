/**
 * Safe OCSP stapling for Node.js TLS servers.
 *
 * @packageDocumentation
 */
// The public surface, curated. Left out on purpose:
// - the handshake plumbing (src/dispatch.ts: Dispatcher, StapleSource, OcspRequestListener,
//   DispatcherCounters): contexts and registries attach themselves; a custom server calls
//   StaplingContext.stapleForHandshake();
// - internal caches and plans (CertificateCache, FetchPlan, the resolved option records), and the
//   option checkers of src/options.ts (OptionReader): their shapes may change;
// - the DER reader (src/der.ts) and the CLI (src/cli/): the CLI is the package's `bin`;
// - constructors: StaplingContext, StaplingRegistry and Refresher are exported for `instanceof`
//   and types, and made only by createStaplingContext, createStaplingRegistry and startRefresh;
// - the testing helpers, which live in `ocsp-stapler/testing`.

// Serving: one certificate, many certificates, and what runs beside them.
export { createStaplingContext, StaplingContext } from './context.js';
export type {
  ContextWatchOptions,
  PreviousCertificateStatus,
  Refusal,
  ReloadOptions,
  StapleStatus,
  StaplingContextEvents,
  StaplingContextOptions,
  StaplingCounters,
} from './context.js';
export { createStaplingRegistry, scanDirectory, StaplingRegistry } from './registry.js';
export type { FileReloadResult, RegistryEntry, ReloadResult, SkippedEntry, StaplingRegistryEvents, StaplingRegistryOptions } from './registry.js';
export { watchFile } from './watch.js';
export type { FileWatch, WatchOptions } from './watch.js';
export { collectMetrics, METRIC_NAMES, registerPrometheusMetrics, renderPrometheus } from './metrics.js';
export type { CollectedFamily, CollectorMetric, MetricFamily, MetricName, MetricSample, MetricsSources, PrometheusRegistryLike } from './metrics.js';
export { reloadClusterWorkers, serveClusterReloads } from './cluster.js';
export type { ClusterReloadOptions, WorkerFileResult, WorkerReloadResult } from './cluster.js';

// Fetching: the job half.
export { fetchOcspResponse } from './fetch.js';
export type { FetchOcspOptions, FetchedOcspResponse, ResponseCaching } from './fetch.js';
export { startRefresh, Refresher } from './refresh.js';
export type { RefreshOptions } from './refresh.js';
export { writeFileAtomic } from './files.js';
export type { WriteFileOptions } from './files.js';

// The format: pure functions of bytes, certificates and time.
export { parseOcspResponse } from './ocsp/parse.js';
export type { CertId, CertIdHash, CertStatus, OcspExtension, OcspResponse, ResponderId, ResponseStatus, SingleResponse } from './ocsp/parse.js';
export { verifyOcspResponse } from './ocsp/verify.js';
export type { SignedBy, VerifiedResponse, VerifyLimits } from './ocsp/verify.js';
export { buildOcspRequest } from './ocsp/request.js';
export { readCertificate, loadCertificateChain } from './pki.js';
export type { CertificateChain, CertificateInfo } from './pki.js';

// Errors, defaults and the clock.
export { ERROR_FAMILIES, StaplingError } from './errors.js';
export type { StaplingErrorCode, StaplingErrorDetails, StaplingErrorFamily } from './errors.js';
export { DEFAULT_LIMITS, DEFAULTS } from './options.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';

/**
 * Safe OCSP stapling for Node.js TLS servers.
 *
 * @packageDocumentation
 */
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
export type { FileReloadResult, RegistryEntry, ReloadResult, StaplingRegistryEvents, StaplingRegistryOptions } from './registry.js';
export { collectMetrics, METRIC_NAMES, registerPrometheusMetrics, renderPrometheus } from './metrics.js';
export type { CollectedFamily, CollectorMetric, MetricFamily, MetricName, MetricSample, MetricsSources, PrometheusRegistryLike } from './metrics.js';
export { reloadClusterWorkers, serveClusterReloads } from './cluster.js';
export type { WorkerFileResult, WorkerReloadResult } from './cluster.js';
export { watchFile } from './watch.js';
export type { FileWatch, WatchOptions } from './watch.js';
export { ERROR_FAMILIES, StaplingError } from './errors.js';
export type { StaplingErrorCode, StaplingErrorDetails, StaplingErrorFamily } from './errors.js';
export { DEFAULT_LIMITS, DEFAULTS } from './options.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { parseOcspResponse } from './ocsp/parse.js';
export type { CertId, CertIdHash, CertStatus, OcspExtension, OcspResponse, ResponderId, ResponseStatus, SingleResponse } from './ocsp/parse.js';
export { verifyOcspResponse } from './ocsp/verify.js';
export type { SignedBy, VerifiedResponse, VerifyLimits } from './ocsp/verify.js';
export { readCertificate, loadCertificateChain } from './pki.js';
export type { CertificateCache, CertificateChain, CertificateInfo } from './pki.js';
export type { DispatcherCounters, OcspRequestListener, StapleSource } from './dispatch.js';
export { fetchOcspResponse } from './fetch.js';
export type { FetchOcspOptions, FetchedOcspResponse, ResponseCaching } from './fetch.js';
export { buildOcspRequest } from './ocsp/request.js';
export { startRefresh, Refresher } from './refresh.js';
export type { RefreshClock, RefreshOptions } from './refresh.js';

/**
 * Safe OCSP stapling for Node.js TLS servers.
 *
 * @packageDocumentation
 */
export { createStaplingContext, StaplingContext } from './context.js';
export type { Refusal, StapleStatus, StaplingContextEvents, StaplingContextOptions } from './context.js';
export { StaplingError } from './errors.js';
export type { StaplingErrorCode, StaplingErrorDetails } from './errors.js';
export { parseOcspResponse } from './ocsp/parse.js';
export type { CertId, CertIdHash, CertStatus, OcspResponse, ResponderId, ResponseStatus, SingleResponse } from './ocsp/parse.js';
export { verifyOcspResponse } from './ocsp/verify.js';
export type { SignedBy, VerifiedResponse, VerifyLimits } from './ocsp/verify.js';
export { readCertificate, loadCertificateChain } from './pki.js';
export type { CertificateChain, CertificateInfo } from './pki.js';
export type { OcspRequestListener, StapleSource } from './dispatch.js';

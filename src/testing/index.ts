/**
 * Test helpers, imported as `ocsp-stapler/testing`: a throwaway CA, certificates, signed OCSP
 * responses of any status and time window, and a local OCSP responder, in pure JavaScript
 * (pkijs and Node's crypto; no openssl CLI). For tests and demos only: keys are made in
 * memory and never protected.
 *
 * @example
 * ```ts
 * import { createTestCa, startOcspResponder } from 'ocsp-stapler/testing';
 *
 * const ca = await createTestCa();
 * const leaf = await ca.issueCertificate({ mustStaple: true });
 * const good = await ca.createOcspResponse(leaf);
 * const revoked = await ca.createOcspResponse(leaf, { status: 'revoked' });
 * const responder = await startOcspResponder({ ca });
 * ```
 *
 * @packageDocumentation
 */
export { createTestCa, TestCa } from './ca.js';
export type { CertificateOptions, IssueOptions, ResponderOptions, TestCaOptions, TestCertificate } from './ca.js';
export type { PemKeyPair, TestKeyType } from './keys.js';
export { createOcspErrorResponse } from './response.js';
export type { CertStatusOptions, CrlReason, OcspErrorStatus, OcspResponseOptions } from './response.js';
export { startOcspResponder } from './responder.js';
export type { OcspResponder, OcspResponderOptions } from './responder.js';
export { writeTestPki } from './files.js';
export type { TestPki, TestPkiOptions } from './files.js';
export type { CertIdHash, CertStatus } from '../ocsp/parse.js';

import { printable } from './printable.js';

/**
 * Every refusal the library can give has its own stable code. Codes never change meaning
 * between versions; new codes may be added.
 *
 * Certificate side (family `certificate`; these make {@link createStaplingContext} reject):
 * - `ERR_CERT_READ`: the certificate or issuer file could not be read.
 * - `ERR_CERT_PARSE`: the file holds no usable X.509 certificate.
 * - `ERR_ISSUER_NOT_FOUND`: no certificate in the chain or issuer file issued the leaf.
 *
 * OCSP side (family `response`; these never stop a running server; the last good staple stays):
 * - `ERR_OCSP_FILE_READ`: missing, unreadable, a directory, or changed while being read.
 * - `ERR_OCSP_EMPTY`: the file has no bytes.
 * - `ERR_OCSP_TOO_LARGE`: larger than `maxResponseBytes`.
 * - `ERR_OCSP_MALFORMED`: not exactly one strict-DER OCSPResponse (garbage, truncated, bad encoding).
 * - `ERR_OCSP_TRAILING_DATA`: bytes after the end of the OCSPResponse.
 * - `ERR_OCSP_RESPONSE_STATUS`: responseStatus is not `successful` (e.g. `tryLater`).
 * - `ERR_OCSP_RESPONSE_TYPE`: the response is not id-pkix-ocsp-basic.
 * - `ERR_OCSP_CERTID_MISMATCH`: no SingleResponse names this certificate (issuer name hash,
 *   issuer key hash and serial), or the one that does is not the first.
 * - `ERR_OCSP_MIXED_ISSUERS`: a SingleResponse names another CA than the issuer, or uses a hash
 *   algorithm that cannot be checked (OpenSSL requires every one to name the signer's CA).
 * - `ERR_OCSP_CARRIED_CERTS`: the unsigned `certs` field holds more than the signer needs: anything
 *   but nothing or an exact copy of the issuer (issuer-signed), or the responder optionally followed
 *   by an exact copy of the issuer (delegated).
 * - `ERR_OCSP_CRITICAL_EXTENSION`: responseExtensions or singleExtensions has an extension
 *   marked critical (Firefox refuses them).
 * - `ERR_OCSP_EXTENSION_INVALID`: an extension Firefox processes has a value it refuses: the
 *   SingleResponses for the certificate carry the SCT list extension twice, or empty.
 * - `ERR_OCSP_REVOKED`: the certificate is revoked.
 * - `ERR_OCSP_UNKNOWN`: the responder does not know the certificate.
 * - `ERR_OCSP_NOT_YET_VALID`: thisUpdate is in the future beyond the allowed clock skew.
 * - `ERR_OCSP_EXPIRED`: nextUpdate has passed (or, without nextUpdate, thisUpdate is too old).
 * - `ERR_OCSP_TOO_OLD`: nextUpdate has not passed, but thisUpdate is older than `maxAgeMs`
 *   (default 10 days, after which Firefox fails the staple with SEC_ERROR_OCSP_OLD_RESPONSE).
 * - `ERR_OCSP_SIGNER_NOT_FOUND`: the responderID names neither the issuer nor a certificate
 *   carried in the response.
 * - `ERR_OCSP_SIGNER_UNAUTHORIZED`: the signer is not the issuer and not a responder the
 *   issuer delegated to with id-kp-OCSPSigning (RFC 6960 section 4.2.2.2).
 * - `ERR_OCSP_SIGNER_INVALID`: the delegated responder certificate is one a strict client refuses
 *   to use: a repeated or malformed extension, an authorityKeyIdentifier naming another issuer, or
 *   a key or signature algorithm a client refuses (RSA under 1024 bits, EC curves other than
 *   P-256/P-384/P-521 or explicit parameters, SHA-1, MD5 or SHA-224 signatures; docs/STRICTNESS.md).
 * - `ERR_OCSP_SIGNER_EXPIRED`: the delegated responder certificate is not valid now.
 * - `ERR_OCSP_UNSUPPORTED_ALGORITHM`: the signature algorithm is not one we can check.
 * - `ERR_OCSP_BAD_SIGNATURE`: the signature does not verify.
 * - `ERR_OCSP_OLDER_THAN_HELD`: the file passes every check, but its thisUpdate is earlier than
 *   that of the staple a context holds and still staples for the same certificate (a replayed
 *   response, a stale CDN object): a reload never steps back. Only a context's reload and watch
 *   give it; {@link verifyOcspResponse} and `StaplingContext.verify` judge bytes alone.
 *
 * Fetching from a responder (family `fetch`; {@link fetchOcspResponse}, `ocsp-stapler fetch`, refresh):
 * - `ERR_FETCH_NO_URL`: no responder URL: the certificate has no AIA OCSP URL and none was given,
 *   or the URL is not http: or https:.
 * - `ERR_FETCH_NETWORK`: the responder could not be reached (DNS, refused, reset).
 * - `ERR_FETCH_TIMEOUT`: the whole exchange took longer than the timeout (slow or drip-feeding responder).
 * - `ERR_FETCH_HTTP_STATUS`: the HTTP status was not 200.
 * - `ERR_FETCH_CONTENT_TYPE`: the body is not `application/ocsp-response`.
 * - `ERR_FETCH_TOO_LARGE`: the body is larger than the limit.
 * - `ERR_FETCH_REDIRECTS`: too many redirects, or a redirect without a usable Location.
 * - `ERR_FILE_WRITE`: a good response could not be written to its file (refresh, `ocsp-stapler
 *   fetch`); the previous file is left as it was.
 *
 * Using the library (family `usage`: a mistake in the calling code or its configuration):
 * - `ERR_INVALID_OPTION`: an option has the wrong type or is out of range, or a required one is
 *   missing; the message names the option, what was expected and what was found.
 * - `ERR_INVALID_ARGUMENT`: a positional argument (not an option) has the wrong type or value.
 *
 * Lifecycle (family `lifecycle`: the object can no longer do what was asked):
 * - `ERR_CLOSED`: the context or registry was closed.
 * - `ERR_STOPPED`: the refresher was stopped (also the rejection of a fetch that stop() aborted).
 * - `ERR_ABORTED`: the caller's `AbortSignal` fired; `cause` is the signal's reason.
 *
 * Each code belongs to one {@link StaplingErrorFamily}: see {@link ERROR_FAMILIES} and
 * {@link StaplingError.family}.
 */
export type StaplingErrorCode =
  | 'ERR_CERT_READ'
  | 'ERR_CERT_PARSE'
  | 'ERR_ISSUER_NOT_FOUND'
  | 'ERR_OCSP_FILE_READ'
  | 'ERR_OCSP_EMPTY'
  | 'ERR_OCSP_TOO_LARGE'
  | 'ERR_OCSP_MALFORMED'
  | 'ERR_OCSP_TRAILING_DATA'
  | 'ERR_OCSP_RESPONSE_STATUS'
  | 'ERR_OCSP_RESPONSE_TYPE'
  | 'ERR_OCSP_CERTID_MISMATCH'
  | 'ERR_OCSP_MIXED_ISSUERS'
  | 'ERR_OCSP_CARRIED_CERTS'
  | 'ERR_OCSP_CRITICAL_EXTENSION'
  | 'ERR_OCSP_EXTENSION_INVALID'
  | 'ERR_OCSP_REVOKED'
  | 'ERR_OCSP_UNKNOWN'
  | 'ERR_OCSP_NOT_YET_VALID'
  | 'ERR_OCSP_EXPIRED'
  | 'ERR_OCSP_TOO_OLD'
  | 'ERR_OCSP_SIGNER_NOT_FOUND'
  | 'ERR_OCSP_SIGNER_UNAUTHORIZED'
  | 'ERR_OCSP_SIGNER_INVALID'
  | 'ERR_OCSP_SIGNER_EXPIRED'
  | 'ERR_OCSP_UNSUPPORTED_ALGORITHM'
  | 'ERR_OCSP_BAD_SIGNATURE'
  | 'ERR_OCSP_OLDER_THAN_HELD'
  | 'ERR_FETCH_NO_URL'
  | 'ERR_FETCH_NETWORK'
  | 'ERR_FETCH_TIMEOUT'
  | 'ERR_FETCH_HTTP_STATUS'
  | 'ERR_FETCH_CONTENT_TYPE'
  | 'ERR_FETCH_TOO_LARGE'
  | 'ERR_FETCH_REDIRECTS'
  | 'ERR_FILE_WRITE'
  | 'ERR_INVALID_OPTION'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_CLOSED'
  | 'ERR_STOPPED'
  | 'ERR_ABORTED';

/**
 * What kind of failure a code is, so that callers need no string prefixes:
 * - `certificate`: the certificate or issuer side is unusable (a context cannot be made).
 * - `response`: an OCSP response was refused; a running server keeps its last good staple.
 * - `fetch`: the job half could not deliver a response (responder unreachable, HTTP error,
 *   file not written); nothing was refused and nothing changed.
 * - `usage`: the calling code passed a bad option or argument.
 * - `lifecycle`: the object was closed or stopped, or the caller aborted.
 */
export type StaplingErrorFamily = 'certificate' | 'response' | 'fetch' | 'usage' | 'lifecycle';

/**
 * The family of every code. A `Record` over the code union: a new code does not compile until
 * it has a family. One line per code, grouped as in the union, to keep merges simple.
 *
 * @example
 * ```ts
 * if (ERROR_FAMILIES[err.code] === 'response') metrics.refused.inc();
 * ```
 */
export const ERROR_FAMILIES: Readonly<Record<StaplingErrorCode, StaplingErrorFamily>> = Object.freeze({
  ERR_CERT_READ: 'certificate',
  ERR_CERT_PARSE: 'certificate',
  ERR_ISSUER_NOT_FOUND: 'certificate',
  ERR_OCSP_FILE_READ: 'response',
  ERR_OCSP_EMPTY: 'response',
  ERR_OCSP_TOO_LARGE: 'response',
  ERR_OCSP_MALFORMED: 'response',
  ERR_OCSP_TRAILING_DATA: 'response',
  ERR_OCSP_RESPONSE_STATUS: 'response',
  ERR_OCSP_RESPONSE_TYPE: 'response',
  ERR_OCSP_CERTID_MISMATCH: 'response',
  ERR_OCSP_MIXED_ISSUERS: 'response',
  ERR_OCSP_CARRIED_CERTS: 'response',
  ERR_OCSP_CRITICAL_EXTENSION: 'response',
  ERR_OCSP_EXTENSION_INVALID: 'response',
  ERR_OCSP_REVOKED: 'response',
  ERR_OCSP_UNKNOWN: 'response',
  ERR_OCSP_NOT_YET_VALID: 'response',
  ERR_OCSP_EXPIRED: 'response',
  ERR_OCSP_TOO_OLD: 'response',
  ERR_OCSP_SIGNER_NOT_FOUND: 'response',
  ERR_OCSP_SIGNER_UNAUTHORIZED: 'response',
  ERR_OCSP_SIGNER_INVALID: 'response',
  ERR_OCSP_SIGNER_EXPIRED: 'response',
  ERR_OCSP_UNSUPPORTED_ALGORITHM: 'response',
  ERR_OCSP_BAD_SIGNATURE: 'response',
  ERR_OCSP_OLDER_THAN_HELD: 'response',
  ERR_FETCH_NO_URL: 'fetch',
  ERR_FETCH_NETWORK: 'fetch',
  ERR_FETCH_TIMEOUT: 'fetch',
  ERR_FETCH_HTTP_STATUS: 'fetch',
  ERR_FETCH_CONTENT_TYPE: 'fetch',
  ERR_FETCH_TOO_LARGE: 'fetch',
  ERR_FETCH_REDIRECTS: 'fetch',
  ERR_FILE_WRITE: 'fetch',
  ERR_INVALID_OPTION: 'usage',
  ERR_INVALID_ARGUMENT: 'usage',
  ERR_CLOSED: 'lifecycle',
  ERR_STOPPED: 'lifecycle',
  ERR_ABORTED: 'lifecycle',
});

/** Extra facts carried by a {@link StaplingError}. */
export interface StaplingErrorDetails {
  /** What the check wanted, in words (e.g. `"responseStatus successful (0)"`). */
  expected?: string;
  /** What the input held instead (e.g. `"tryLater (3)"`). */
  found?: string;
  /** The file the input came from, when there was one. */
  file?: string;
  /** The lower-level error, when one caused this one. */
  cause?: unknown;
}

/**
 * The one error class of this library. Test `err.code`, never the message: codes are stable,
 * messages are for people.
 *
 * @example
 * ```ts
 * try {
 *   await ctx.reload();
 * } catch (err) {
 *   if (err instanceof StaplingError && err.code === 'ERR_OCSP_REVOKED') alertOnCall(err.message);
 * }
 * ```
 */
export class StaplingError extends Error {
  /** Stable machine-readable code, see {@link StaplingErrorCode}. */
  readonly code: StaplingErrorCode;
  /** The code's family (from {@link ERROR_FAMILIES}): test this rather than a code prefix. */
  readonly family: StaplingErrorFamily;
  /** The refusal in a few words, without expected/found/file. Printable (see below). */
  readonly reason: string;
  /** What the check wanted. Printable. */
  readonly expected: string | undefined;
  /** What the input held instead. Printable. */
  readonly found: string | undefined;
  /** The file the input came from, when there was one: the path as given, unescaped. */
  readonly file: string | undefined;

  /**
   * The message, `reason`, `expected` and `found` are printable: control characters from the
   * input (a certificate name, an OCSP time, an HTTP status line, a file name) are written as
   * escapes such as `\x1b`, so that printing or logging an error cannot drive a terminal.
   */
  constructor(code: StaplingErrorCode, reason: string, details: StaplingErrorDetails = {}) {
    const text = (value: string | undefined) => (value === undefined ? undefined : printable(value));
    const parts = [printable(reason)];
    if (details.expected !== undefined) parts.push(`expected ${text(details.expected)}`);
    if (details.found !== undefined) parts.push(`found ${text(details.found)}`);
    super(parts.join('; ') + (details.file ? ` (${printable(details.file)})` : ''), { cause: details.cause });
    this.name = 'StaplingError';
    this.code = code;
    this.family = ERROR_FAMILIES[code];
    this.reason = printable(reason);
    this.expected = text(details.expected);
    this.found = text(details.found);
    this.file = details.file;
  }

  /** The same refusal, said to come from `file`. */
  withFile(file: string): StaplingError {
    if (this.file === file) return this;
    const { expected, found, cause } = this;
    return new StaplingError(this.code, this.reason, { expected, found, file, cause });
  }
}

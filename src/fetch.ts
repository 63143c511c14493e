import http from 'node:http';
import https from 'node:https';
import { StaplingError } from './errors.js';
import type { CertIdHash } from './ocsp/parse.js';
import { buildOcspRequest, getUrlFor, responderUrl } from './ocsp/request.js';
import { verifyOcspResponse, type VerifiedResponse } from './ocsp/verify.js';
import { fetchOptions, type ResolvedTransport } from './options.js';
import { loadCertificateChain, type CertificateInfo } from './pki.js';

/** Options of {@link fetchOcspResponse}. Give either `certFile` or `cert` and `issuer`. */
export interface FetchOcspOptions {
  /** PEM file with the certificate first, optionally followed by its chain. */
  certFile?: string;
  /** PEM file holding the issuer, when `certFile` has no chain. */
  issuerFile?: string;
  /** The certificate, already read (e.g. from {@link loadCertificateChain}). Used when `certFile` is absent. */
  cert?: CertificateInfo;
  /** Its issuer, with `cert`. */
  issuer?: CertificateInfo;
  /** Responder URL. Default: the first http(s) OCSP URL of the certificate's AIA extension. */
  url?: string | URL;
  /**
   * CertID hash algorithm. Default `sha1`: RFC 5019 responders (most public CAs) are only
   * required to answer SHA-1 CertIDs; ask for `sha256` where the responder supports it.
   */
  hash?: CertIdHash;
  /**
   * `POST` (default, `application/ocsp-request`), or `GET` as RFC 5019 section 5 describes,
   * which CDNs can cache. GET is used only while the whole URL stays within 255 bytes;
   * larger requests are POSTed, as the RFC requires.
   */
  method?: 'POST' | 'GET';
  /**
   * Time allowed for the whole exchange, redirects and body included, in ms. Default 10000.
   * One deadline rather than an idle timeout, so that a responder sending a byte every second
   * cannot hold the job forever.
   */
  timeoutMs?: number;
  /** Largest body accepted, in bytes, counted while it streams in. Default 65536 (as the context's `maxResponseBytes`). */
  maxBytes?: number;
  /** Redirects followed before giving up. Default 3. */
  maxRedirects?: number;
  /** Cancels the fetch; the promise then rejects with `ERR_ABORTED`, whose `cause` is `signal.reason`. */
  signal?: AbortSignal;
  /** The clock the response is checked against, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** As {@link StaplingContextOptions.clockSkewMs}. Default 300000. */
  clockSkewMs?: number;
  /** As {@link StaplingContextOptions.maxAgeWithoutNextUpdateMs}. Default 86400000. */
  maxAgeWithoutNextUpdateMs?: number;
  /** As {@link StaplingContextOptions.maxAgeMs}. Default 864000000 (10 days, Firefox's limit). */
  maxAgeMs?: number;
}

/**
 * What the responder's HTTP headers say about caching its answer (RFC 5019 section 6.1 asks
 * responders to send `Cache-Control: max-age`, `Expires`, `ETag` and `Last-Modified`).
 */
export interface ResponseCaching {
  /** The `ETag` header, verbatim, or null. Refresh sends it back as `If-None-Match` (GET only). */
  readonly etag: string | null;
  /** The `Last-Modified` header, verbatim, or null. Refresh sends it back as `If-Modified-Since` (GET only). */
  readonly lastModified: string | null;
  /**
   * Until when HTTP caches on the way may keep serving this same answer, in ms since the epoch
   * by the caller's clock: `Cache-Control: max-age` less `Age`, else `Expires` (counted from
   * `Date`, so that the responder's clock does not matter), or the time of the answer for
   * `no-cache` or `no-store`; null when the headers say nothing. Asking again before then
   * mostly gets the same bytes back.
   */
  readonly freshUntil: number | null;
}

/** What {@link fetchOcspResponse} resolves with: bytes that passed every check, and their facts. */
export interface FetchedOcspResponse {
  /** The DER response, exactly as received: ready to write to an `ocspFile`. */
  readonly bytes: Buffer;
  /** The verdict of {@link verifyOcspResponse} on these bytes. */
  readonly verified: VerifiedResponse;
  /** The URL the response finally came from (after redirects). */
  readonly url: string;
  /** The responder's caching headers. */
  readonly caching: ResponseCaching;
}

/** @internal A conditional request answered `304 Not Modified`: the responder has nothing newer. */
export interface NotModified {
  readonly notModified: true;
  readonly url: string;
  readonly caching: ResponseCaching;
}

/** @internal Validators of the answer held, sent back on a conditional GET (RFC 9110 section 13.1). */
export interface Validators {
  readonly etag: string | null;
  readonly lastModified: string | null;
}

/** @internal How one fetch is sent and checked; shared by {@link fetchOcspResponse} and the in-process refresh. */
export interface FetchPlan {
  readonly leaf: CertificateInfo;
  readonly issuer: CertificateInfo;
  /** Where and how the request is sent, as checked by options.ts. */
  readonly transport: ResolvedTransport;
  readonly signal: AbortSignal | undefined;
  /** The one check: {@link verifyOcspResponse} with the caller's limits. */
  readonly verify: (bytes: Buffer) => VerifiedResponse;
  /** The clock `caching.freshUntil` is given in. */
  readonly now: () => number;
  /**
   * Validators to make a GET conditional; a `304 Not Modified` then resolves with
   * {@link NotModified}. Never sent with POST: a server may answer a conditional POST with 412.
   */
  readonly validators?: Validators;
}

/**
 * Asks the certificate's OCSP responder for a fresh response and returns it only if it passes
 * exactly the checks a {@link StaplingContext} applies before stapling ({@link verifyOcspResponse}).
 *
 * Rejects with a {@link StaplingError}: `ERR_FETCH_*` when the responder could not deliver
 * (see {@link StaplingErrorCode}), `ERR_OCSP_*` when it delivered a response that must not be
 * stapled (`ERR_OCSP_REVOKED` among them), `ERR_CERT_*` when the certificate files are unusable.
 *
 * @example
 * ```ts
 * import { fetchOcspResponse } from 'ocsp-stapler';
 * import { writeFile } from 'node:fs/promises';
 *
 * const { bytes, verified } = await fetchOcspResponse({ certFile: 'site.pem', timeoutMs: 5000 });
 * await writeFile('site.pem.ocsp', bytes);
 * console.log('good until', new Date(verified.validUntil));
 * ```
 */
export async function fetchOcspResponse(options: FetchOcspOptions): Promise<FetchedOcspResponse> {
  const o = fetchOptions('fetchOcspResponse', options);
  let leaf: CertificateInfo;
  let issuer: CertificateInfo;
  if (o.certFile !== undefined) {
    ({ leaf, issuer } = await loadCertificateChain(o.certFile, o.issuerFile));
  } else {
    leaf = o.cert as CertificateInfo;
    issuer = o.issuer as CertificateInfo;
  }
  const { now, clockSkewMs, maxAgeWithoutNextUpdateMs, maxAgeMs } = o;
  try {
    // No validators: the answer is never a 304.
    return (await fetchWithPlan({
      leaf,
      issuer,
      transport: o,
      signal: o.signal,
      now,
      verify: (bytes) => verifyOcspResponse(bytes, leaf, issuer, { now: now(), clockSkewMs, maxAgeWithoutNextUpdateMs, maxAgeMs, maxResponseBytes: o.maxBytes }),
    })) as FetchedOcspResponse;
  } catch (err) {
    // The caller's signal: a StaplingError too, with the signal's reason as its cause.
    if (o.signal?.aborted && err === o.signal.reason) {
      throw new StaplingError('ERR_ABORTED', 'fetchOcspResponse: the fetch was aborted', { expected: 'a signal that does not fire', found: String((err as Error)?.message ?? err), cause: err });
    }
    throw err;
  }
}

/** @internal The fetch itself, with the check supplied by the caller. */
export async function fetchWithPlan(plan: FetchPlan): Promise<FetchedOcspResponse | NotModified> {
  if (plan.signal?.aborted) throw abortedBy(plan.signal.reason);
  const base = responderUrl(plan.leaf, plan.transport.url);
  const request = buildOcspRequest(plan.leaf, plan.issuer, plan.transport.hash);
  const getUrl = plan.transport.method === 'GET' ? getUrlFor(base, request) : null;
  const answer = await exchange(getUrl ?? base, getUrl ? null : request, plan, getUrl ? plan.validators : undefined);
  if (answer.body === null) return { notModified: true, url: answer.url, caching: answer.caching };
  return { bytes: answer.body, verified: plan.verify(answer.body), url: answer.url, caching: answer.caching };
}

/** @internal The caching facts of one HTTP answer, received at `now` (RFC 9111 sections 4.2.1 and 5). */
export function cachingOf(headers: http.IncomingHttpHeaders, now: number): ResponseCaching {
  const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value) ?? null;
  const directives = new Map<string, string>();
  for (const part of (one(headers['cache-control']) ?? '').split(',')) {
    const [name, value = ''] = part.split('=', 2).map((x) => x.trim());
    if (name) directives.set(name.toLowerCase(), value.replace(/^"|"$/g, ''));
  }
  const seconds = (text: string | undefined) => (text !== undefined && /^\d{1,10}$/.test(text) ? Number(text) : null);
  let freshUntil: number | null = null;
  const maxAge = seconds(directives.get('max-age'));
  if (directives.has('no-cache') || directives.has('no-store')) freshUntil = now;
  else if (maxAge !== null) freshUntil = now + Math.max(0, maxAge - (seconds(one(headers.age) ?? undefined) ?? 0)) * 1000;
  else if (headers.expires !== undefined) {
    const expires = Date.parse(headers.expires);
    const date = headers.date === undefined ? NaN : Date.parse(headers.date);
    // An unreadable Expires means "already expired" (RFC 9111 section 5.3).
    freshUntil = Number.isNaN(expires) ? now : now + Math.max(0, expires - (Number.isNaN(date) ? now : date));
  }
  return { etag: one(headers.etag), lastModified: one(headers['last-modified']), freshUntil };
}

/** Redirect statuses. Only those that keep the method and body are followed (see {@link redirectRefusal}). */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const FOLLOWED = new Set([301, 302, 307, 308]);

/**
 * Why a redirect from `from` (first asked `origin`) to `next` with `status` must not be followed,
 * or null. A redirect is followed only with the same method and body (so never a 303, which RFC
 * 9110 section 15.4.4 turns into a GET), only to http: or https: on the responder's own host and
 * port (an on-path attacker must not make us POST to an internal service: blind request
 * forgery), and never from https: down to http:. OpenSSL's client follows no redirect of a POST
 * at all, and none from https to http.
 */
function redirectRefusal(status: number, origin: URL, from: URL, next: URL): string | null {
  if (!FOLLOWED.has(status)) return `HTTP ${status}, which changes the method`;
  if (next.protocol !== 'http:' && next.protocol !== 'https:') return `a ${next.protocol} Location`;
  if (from.protocol === 'https:' && next.protocol === 'http:') return `a downgrade from https: to ${next.href}`;
  if (next.hostname.toLowerCase() !== origin.hostname.toLowerCase() || effectivePort(next) !== effectivePort(origin)) {
    return `another host: ${next.host} instead of ${origin.host}`;
  }
  return null;
}

function effectivePort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}

interface Answer {
  /** The body of a 200, or null for a 304 to a conditional request. */
  readonly body: Buffer | null;
  readonly url: string;
  readonly caching: ResponseCaching;
}

/**
 * One request and its redirects under one deadline; resolves with a 200
 * application/ocsp-response body, or a 304 when `validators` made the request conditional.
 */
function exchange(first: URL, post: Buffer | null, plan: FetchPlan, validators: Validators | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let current: http.ClientRequest | null = null;
    const finish = (err: unknown, value?: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      plan.signal?.removeEventListener('abort', onAbort);
      current?.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const deadline = setTimeout(() => {
      finish(new StaplingError('ERR_FETCH_TIMEOUT', 'the responder did not answer in time', {
        expected: `a complete response within ${plan.transport.timeoutMs} ms`,
        found: 'no complete response',
      }));
    }, plan.transport.timeoutMs);
    const onAbort = () => finish(abortedBy(plan.signal!.reason));
    plan.signal?.addEventListener('abort', onAbort, { once: true });

    const send = (url: URL, redirects: number) => {
      const transport = url.protocol === 'https:' ? https : http;
      const headers: http.OutgoingHttpHeaders = { Accept: 'application/ocsp-response', Connection: 'close' };
      if (post) {
        headers['Content-Type'] = 'application/ocsp-request';
        headers['Content-Length'] = post.length;
      }
      if (validators?.etag) headers['If-None-Match'] = validators.etag;
      if (validators?.lastModified) headers['If-Modified-Since'] = validators.lastModified;
      let req: http.ClientRequest;
      try {
        // agent: false: one connection per fetch, closed afterwards, so nothing keeps the process alive.
        req = transport.request(url, { method: post ? 'POST' : 'GET', headers, agent: false });
      } catch (err) {
        finish(networkError(url, err));
        return;
      }
      current = req;
      req.on('error', (err) => finish(networkError(url, err)));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (REDIRECTS.has(status)) {
          res.resume();
          const location = res.headers.location;
          let next: URL | null = null;
          try {
            next = location ? new URL(location, url) : null;
          } catch {
            next = null;
          }
          const refusal = next ? redirectRefusal(status, first, url, next) : 'no usable Location';
          if (!next || refusal) {
            finish(new StaplingError('ERR_FETCH_REDIRECTS', 'the responder redirected somewhere this client does not follow', {
              expected: `a 301, 302, 307 or 308 to http(s) on ${first.host}, the responder's own host and port`,
              found: `${refusal}${location === undefined ? '' : ` (Location: ${location})`}`,
            }));
          } else if (redirects >= plan.transport.maxRedirects) {
            finish(new StaplingError('ERR_FETCH_REDIRECTS', 'too many redirects', {
              expected: `at most ${plan.transport.maxRedirects}`,
              found: `another redirect (${status}) to ${next.href}`,
            }));
          } else {
            req.destroy();
            send(next, redirects + 1);
          }
          return;
        }
        if (status === 304 && validators && (validators.etag || validators.lastModified)) {
          res.resume();
          finish(null, { body: null, url: url.href, caching: cachingOf(res.headers, plan.now()) });
          return;
        }
        if (status !== 200) {
          finish(new StaplingError('ERR_FETCH_HTTP_STATUS', 'the responder answered with an HTTP error', {
            expected: 'HTTP 200',
            found: `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''} from ${url.href}`,
          }));
          return;
        }
        const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/ocsp-response') {
          finish(new StaplingError('ERR_FETCH_CONTENT_TYPE', 'the responder did not send an OCSP response', {
            expected: 'Content-Type application/ocsp-response',
            found: res.headers['content-type'] ? `Content-Type ${res.headers['content-type']}` : 'no Content-Type',
          }));
          return;
        }
        const tooLarge = (found: string) =>
          new StaplingError('ERR_FETCH_TOO_LARGE', 'the response body is too large', { expected: `at most ${plan.transport.maxBytes} bytes`, found });
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > plan.transport.maxBytes) {
          finish(tooLarge(`Content-Length ${declared}`));
          return;
        }
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (length > plan.transport.maxBytes) finish(tooLarge(`more than ${plan.transport.maxBytes} bytes`));
          else chunks.push(chunk);
        });
        res.on('error', (err) => finish(networkError(url, err)));
        res.on('aborted', () => finish(networkError(url, new Error('the connection closed before the body ended'))));
        res.on('end', () => {
          if (!res.complete) finish(networkError(url, new Error('the connection closed before the body ended')));
          else finish(null, { body: Buffer.concat(chunks, length), url: url.href, caching: cachingOf(res.headers, plan.now()) });
        });
      });
      req.end(post ?? undefined);
    };
    send(first, 0);
  });
}

function networkError(url: URL, err: unknown): StaplingError {
  const code = (err as NodeJS.ErrnoException).code;
  return new StaplingError('ERR_FETCH_NETWORK', 'cannot reach the OCSP responder', {
    expected: `an HTTP answer from ${url.origin}`,
    found: code ? `${code} (${(err as Error).message})` : String((err as Error).message ?? err),
    cause: err,
  });
}

/** ERR_ABORTED for the caller's AbortSignal, whose reason stays the cause (and shows in the message). */
function abortedBy(reason: unknown): StaplingError {
  return new StaplingError('ERR_ABORTED', 'the fetch was aborted', {
    found: reason instanceof Error ? reason.message : String(reason),
    cause: reason,
  });
}

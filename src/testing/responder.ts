import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as pkijs from 'pkijs';
import { CERT_ID_HASHES, type CertStatus } from '../ocsp/parse.js';
import { issuerHashes, readCertificate } from '../pki.js';
import { serialKey, type Signer, type TestCa } from './ca.js';
import { createOcspErrorResponse, signOcspResponse, type CertStatusOptions, type OcspResponseOptions, type SingleRequest } from './response.js';

/** Options of {@link startOcspResponder}. Only `ca` is required. */
export interface OcspResponderOptions {
  /** The CA to answer for: requests about certificates issued by its issuer or its root. */
  ca: TestCa;
  /** TCP port on 127.0.0.1. Default 0: a free port, read it from `url`. */
  port?: number;
  /**
   * certStatus per serial number (hex, any case, leading zeros ignored). Serials not listed
   * are `good` when the CA issued them and `unknown` otherwise, as a real responder answers.
   */
  statuses?: Readonly<Record<string, CertStatus | CertStatusOptions>>;
  /**
   * Options of every response (signer, responderId, fixed thisUpdate/nextUpdate...). The
   * CertID hash always follows the request. Default: signed by the CA, valid for 7 days from
   * the moment of the request.
   */
  response?: Omit<OcspResponseOptions, 'hash' | keyof CertStatusOptions>;
}

/** A running test OCSP responder, from {@link startOcspResponder}. */
export interface OcspResponder {
  /** Base URL, `http://127.0.0.1:PORT`, for `ocspUrl` of {@link TestCa.issueCertificate} and `openssl ocsp -url`. */
  readonly url: string;
  /** Requests received so far, well-formed or not. */
  readonly requests: number;
  /** Changes the certStatus answered for `serial` from now on (e.g. revoke a certificate mid-test). */
  setStatus(serial: string, status: CertStatus | CertStatusOptions): void;
  /**
   * Answers every request with these exact bytes from now on (e.g. `createOcspErrorResponse('tryLater')`,
   * an expired response, garbage); `null` goes back to signing fresh responses.
   */
  setFixedResponse(bytes: Uint8Array | null): void;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

const NONCE = '1.3.6.1.5.5.7.48.1.2';
const MAX_REQUEST = 65_536;

/**
 * Starts a small OCSP responder on 127.0.0.1 that signs a fresh response for every request:
 * POST with `application/ocsp-request` and RFC 5019 GET (`/base64-of-request`). It echoes the
 * request's nonce, answers each CertID of the request, and says `unauthorized` for CertIDs of
 * another CA and `malformedRequest` for bytes it cannot parse.
 *
 * @example
 * ```ts
 * import { createTestCa, startOcspResponder } from 'ocsp-stapler/testing';
 *
 * const ca = await createTestCa();
 * const responder = await startOcspResponder({ ca });
 * const leaf = await ca.issueCertificate({ ocspUrl: responder.url });
 * responder.setStatus(leaf.serial, { status: 'revoked', revocationReason: 'keyCompromise' });
 * // openssl ocsp -url <responder.url> -issuer issuer.pem -cert leaf.pem ...
 * await responder.close();
 * ```
 */
export async function startOcspResponder(options: OcspResponderOptions): Promise<OcspResponder> {
  const { ca } = options;
  const statuses = new Map<string, CertStatusOptions>();
  const setStatus = (serial: string, status: CertStatus | CertStatusOptions) => {
    statuses.set(serialKey(serial), typeof status === 'string' ? { status } : status);
  };
  for (const [serial, status] of Object.entries(options.statuses ?? {})) setStatus(serial, status);
  let fixed: Buffer | null = null;
  let requests = 0;
  const cas = ca.signers().map((signer) => ({ signer, info: readCertificate(signer.der) }));

  const answer = async (der: Buffer): Promise<Buffer> => {
    let request: pkijs.OCSPRequest;
    try {
      request = pkijs.OCSPRequest.fromBER(der);
    } catch {
      return createOcspErrorResponse('malformedRequest');
    }
    const list = request.tbsRequest.requestList;
    if (list.length === 0) return createOcspErrorResponse('malformedRequest');
    let issuer: Signer | undefined;
    const singles: SingleRequest[] = [];
    for (const { reqCert } of list) {
      const hash = CERT_ID_HASHES[reqCert.hashAlgorithm.algorithmId];
      const match = hash && cas.find(({ info }) => {
        const expected = issuerHashes(info, hash);
        return expected.nameHash.equals(reqCert.issuerNameHash.valueBlock.valueHexView) && expected.keyHash.equals(reqCert.issuerKeyHash.valueBlock.valueHexView);
      });
      // One response has one signer: every CertID must name the same CA.
      if (!match || (issuer && issuer !== match.signer)) return createOcspErrorResponse('unauthorized');
      issuer = match.signer;
      const serial = serialKey(Buffer.from(reqCert.serialNumber.valueBlock.valueHexView).toString('hex'));
      const status = statuses.get(serial) ?? { status: ca.issued(serial) ? 'good' : 'unknown' };
      singles.push({ certId: reqCert, status });
    }
    const nonce = request.tbsRequest.requestExtensions?.filter((e) => e.extnID === NONCE);
    return signOcspResponse(issuer!, singles, options.response ?? {}, nonce);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests++;
    let der: Buffer;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_REQUEST) return void res.writeHead(413).end();
        chunks.push(chunk as Buffer);
      }
      der = Buffer.concat(chunks);
    } else if (req.method === 'GET') {
      // RFC 5019 section 5: GET {url}/{url-encoding of base64 of the DER request}.
      const encoded = decodeURIComponent((req.url ?? '/').replace(/^\/+/, ''));
      der = Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    } else {
      return void res.writeHead(405, { Allow: 'GET, POST' }).end();
    }
    const body = fixed ?? (await answer(der));
    res.writeHead(200, { 'Content-Type': 'application/ocsp-response', 'Content-Length': body.length }).end(body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    setStatus,
    setFixedResponse(bytes) {
      fixed = bytes === null ? null : Buffer.from(bytes);
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

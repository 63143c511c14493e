import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { ReloadOptions } from './context.js';
import { StaplingContext } from './context.js';
import { StaplingError, type StaplingErrorCode } from './errors.js';
import { clusterReloadOptions, invalidArgument } from './options.js';
import { reloadForResult, StaplingRegistry } from './registry.js';

const REQUEST = 'ocsp-stapler:reload';
const REPLY = 'ocsp-stapler:reloaded';

/** One file's outcome in one worker, as plain data (it crosses the IPC channel). */
export interface WorkerFileResult {
  /** The OCSP response file reloaded. */
  readonly ocspFile: string;
  /** True when the file passed every check and is now stapled. */
  readonly ok: boolean;
  /** Error code when refused. */
  readonly code: StaplingErrorCode | undefined;
  /** The refusal's message, when refused. */
  readonly message: string | undefined;
  /** When the staple now held stops being valid (ISO time), if stapling. */
  readonly validUntil: string | undefined;
}

/** Options of {@link reloadClusterWorkers}. */
export interface ClusterReloadOptions {
  /** Workers re-read their certificate files too, as {@link ReloadOptions.certificate}. Default false. */
  certificate?: boolean;
  /** How long to wait for each worker's answer, in ms. Default 10000. */
  timeoutMs?: number;
}

/** One worker's answer to {@link reloadClusterWorkers}. */
export interface WorkerReloadResult {
  /** `cluster.Worker#id`. */
  readonly workerId: number;
  /** False when the worker did not answer in time or had no handler. */
  readonly answered: boolean;
  /** One result per context in the worker. */
  readonly files: readonly WorkerFileResult[];
}

interface ReloadRequest {
  type: typeof REQUEST;
  id: string;
  certificate: boolean;
}

interface ReloadReply {
  type: typeof REPLY;
  id: string;
  files: WorkerFileResult[];
}

/**
 * In a cluster worker: answers reload requests from {@link reloadClusterWorkers} by reloading
 * these contexts and registries. Returns a function that stops answering. A target that cannot
 * reload (closed: `ERR_CLOSED`) gives a refused result for each of its files; the others still
 * reload and the worker goes on serving.
 *
 * @example
 * ```ts
 * if (cluster.isWorker) serveClusterReloads([registry]);
 * ```
 */
export function serveClusterReloads(targets: Iterable<StaplingContext | StaplingRegistry>): () => void {
  const expected = 'an iterable of StaplingContext and StaplingRegistry';
  if (typeof (targets as Partial<Iterable<unknown>> | null)?.[Symbol.iterator] !== 'function') throw invalidArgument('serveClusterReloads', 'targets', expected, targets);
  const list = [...targets];
  const bad = list.find((t) => !(t instanceof StaplingContext) && !(t instanceof StaplingRegistry));
  if (bad !== undefined) throw invalidArgument('serveClusterReloads', 'targets', expected, bad);
  const onMessage = async (message: unknown) => {
    if (!isRequest(message)) return;
    const options: ReloadOptions = { certificate: message.certificate };
    const files: WorkerFileResult[] = [];
    for (const target of list) {
      try {
        // A registry reloads its contexts a few at a time; a lone context on its own.
        const results = target instanceof StaplingContext ? [await reloadForResult(target, options)] : await target.reloadAll(options);
        for (const { ocspFile, ok, error, status } of results) {
          const validUntil = status.stapling ? status.validUntil?.toISOString() : undefined;
          files.push({ ocspFile, ok, code: error?.code, message: error?.message, validUntil });
        }
      } catch (err) {
        // A registry closed (ERR_CLOSED) or a failure nobody expected: an error result for each
        // of its files, never an unhandled rejection that ends the worker; the others still run.
        const code = err instanceof StaplingError ? err.code : undefined;
        const message = err instanceof Error ? err.message : String(err);
        const contexts = target instanceof StaplingContext ? [target] : target.contexts();
        for (const context of contexts) files.push({ ocspFile: context.status().ocspFile, ok: false, code, message, validUntil: undefined });
      }
    }
    const reply: ReloadReply = { type: REPLY, id: message.id, files };
    process.send?.(reply);
  };
  process.on('message', onMessage);
  return () => process.off('message', onMessage);
}

/**
 * In the cluster primary: makes every worker reload (through {@link serveClusterReloads}) and
 * resolves with each worker's result. A worker that does not answer within `timeoutMs`
 * (default 10000) is reported with `answered: false`. Rejects only on a bad option
 * (`ERR_INVALID_OPTION`; `ocspFile` is one: each worker reloads the files it holds).
 *
 * @example
 * ```ts
 * process.on('SIGHUP', async () => {
 *   for (const w of await reloadClusterWorkers()) console.log(w.workerId, w.files);
 * });
 * ```
 */
export async function reloadClusterWorkers(options?: ClusterReloadOptions): Promise<WorkerReloadResult[]> {
  const { certificate, timeoutMs } = clusterReloadOptions('reloadClusterWorkers', options);
  const id = randomUUID();
  const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined && w.isConnected());
  return Promise.all(
    workers.map(
      (worker) =>
        new Promise<WorkerReloadResult>((resolve) => {
          const done = (result: WorkerReloadResult) => {
            clearTimeout(timer);
            worker!.off('message', onMessage);
            resolve(result);
          };
          const onMessage = (message: unknown) => {
            if (isReply(message) && message.id === id) done({ workerId: worker!.id, answered: true, files: message.files });
          };
          const timer = setTimeout(() => done({ workerId: worker!.id, answered: false, files: [] }), timeoutMs);
          worker!.on('message', onMessage);
          const request: ReloadRequest = { type: REQUEST, id, certificate };
          // The channel may close between isConnected() and send(): answer for the worker then.
          worker!.send(request, (err: Error | null) => {
            if (err) done({ workerId: worker!.id, answered: false, files: [] });
          });
        }),
    ),
  );
}

function isRequest(message: unknown): message is ReloadRequest {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === REQUEST;
}

function isReply(message: unknown): message is ReloadReply {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === REPLY;
}

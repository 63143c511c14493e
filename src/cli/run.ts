import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { lstat, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createStaplingContext } from '../context.js';
import { StaplingError } from '../errors.js';
import { fetchOcspResponse } from '../fetch.js';
import { readOcspFile, writeFileAtomic } from '../ocsp/file.js';
import { parseOcspResponse, type CertIdHash } from '../ocsp/parse.js';
import { loadCertificateChain, type CertificateInfo } from '../pki.js';
import { verifyOcspResponse, type VerifiedResponse } from '../ocsp/verify.js';
import { inspect, inspectionText, timeLeft } from './describe.js';
import { nameLine, printable, printableJson } from '../printable.js';
import { DEFAULT_LIMITS, MAX_TIMER_MS } from '../options.js';

/** Exit codes of the `ocsp-stapler` command. Stable: scripts rely on them. */
export const EXIT = {
  /** fetch: FILE holds a good, current response (written or already identical); check: would be stapled; inspect: parsed. */
  OK: 0,
  /** Anything unexpected, e.g. FILE could not be written. */
  FAILED: 1,
  /** Configuration: bad arguments, unusable certificate files, no usable responder URL (from the certificate or --url), an --out that is not a regular file. */
  USAGE: 2,
  /** fetch: the responder could not be reached, timed out, answered with an HTTP error or a non-successful responseStatus (tryLater...). */
  UNREACHABLE: 3,
  /** fetch: the responder answered, but the response must not be stapled (REVOKED, unknown, bad signature...). FILE untouched. */
  REFUSED: 4,
  /** check / inspect: FILE would not be stapled / cannot be parsed. */
  CHECK_FAILED: 5,
  /** fetch: FILE was written (or unchanged or kept, after an earlier failed --then), but the --then command failed; the next run retries it. */
  THEN_FAILED: 6,
} as const;

/** Where the command writes; the real process streams, or buffers in tests. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** The longest --timeout, in seconds: setTimeout's range (2^31-1 ms). */
const MAX_TIMEOUT_SEC = Math.floor(MAX_TIMER_MS / 1000);

const FETCH_HELP = `Usage: ocsp-stapler fetch --cert CHAIN.pem --out FILE [--issuer ISSUER.pem] [--url URL]
        [--hash sha1|sha256] [--get] [--timeout SEC] [--mode OCTAL]
        [--then COMMAND] [--json]
  Asks the OCSP responder (from the certificate's AIA extension unless --url) for a
  response, checks it exactly as the library does before stapling, and only then writes
  it to FILE atomically. A refused response (REVOKED, unknown, expired, forged...) never
  touches FILE, nor does an older response than a usable one FILE holds ("kept", exit 0;
  --then only to retry an earlier failure). FILE keeps its mode, owner and group; a new
  FILE gets --mode (default 644).
  --then runs COMMAND with sh -c (FILE in $OCSP_STAPLER_FILE) only when FILE's bytes
  changed, e.g. --then 'systemctl reload my-server', or when an earlier run's --then
  failed (.FILE.then-pending beside FILE): the next run retries it, FILE kept or not.`;

const CHECK_HELP = `Usage: ocsp-stapler check --cert CHAIN.pem [--issuer ISSUER.pem] [--json] FILE
  The library's verdict on FILE: exit 0 only if it would be stapled now; says why not,
  and how long it stays valid.`;

const INSPECT_HELP = `Usage: ocsp-stapler inspect [--json] FILE
  A readable dump of FILE: status, CertIDs, times, responder, signature algorithm,
  embedded certificates, time left. Makes no check.`;

const OPTIONS_HELP = `Options:
  --cert FILE      PEM: the server certificate first, optionally followed by its chain
  --issuer FILE    PEM holding the issuer, when --cert has no chain
  --url URL        responder URL, http: or https: (default: the certificate's AIA OCSP URL)
  --hash ALG       CertID hash: sha1 (default, what RFC 5019 responders must answer) or sha256
  --get            use HTTP GET (RFC 5019) when the request is small enough; default POST
  --timeout SEC    deadline for the whole exchange, redirects and body included (default 10,
                   at most ${MAX_TIMEOUT_SEC})
  --out FILE       where fetch writes the DER response (a regular file, or none yet)
  --mode OCTAL     permissions of a new --out FILE (default 644)
  --then COMMAND   run after FILE changed, or after an earlier --then failed (not otherwise)
  --json           one JSON object on stdout for every outcome, errors included
  -h, --help       help (ocsp-stapler COMMAND --help: that command's help)
  --version        the version`;

const EXIT_HELP = `Exit codes:
  0  fetch: FILE holds a good, current response; check: FILE would be stapled; inspect: parsed
  1  unexpected failure (e.g. FILE could not be written)
  2  configuration: bad arguments, unusable certificate files, no usable responder URL
  3  fetch: responder unreachable, timed out, HTTP error, or tryLater and other
     non-successful responseStatus (FILE untouched): retry later
  4  fetch: response refused, e.g. REVOKED (FILE untouched)
  5  check/inspect: FILE would not be stapled / cannot be parsed
  6  fetch: FILE written (or unchanged, or kept), but the --then command failed: the next run retries it`;

const HELP = `Usage: ocsp-stapler <command> [options]

Commands:
${[FETCH_HELP, CHECK_HELP, INSPECT_HELP].map((h) => h.replace(/^Usage: ocsp-stapler /, '  ').replace(/\n/g, '\n  ')).join('\n')}

${OPTIONS_HELP}

${EXIT_HELP}
`;

const COMMAND_HELP: Record<string, string> = {
  fetch: `${FETCH_HELP}\n\n${OPTIONS_HELP}\n\n${EXIT_HELP}\n`,
  check: `${CHECK_HELP}\n\n${OPTIONS_HELP}\n\n${EXIT_HELP}\n`,
  inspect: `${INSPECT_HELP}\n\n${OPTIONS_HELP}\n\n${EXIT_HELP}\n`,
};

const OPTIONS = {
  cert: { type: 'string' },
  issuer: { type: 'string' },
  url: { type: 'string' },
  hash: { type: 'string' },
  get: { type: 'boolean' },
  timeout: { type: 'string' },
  out: { type: 'string' },
  then: { type: 'string' },
  mode: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

class UsageError extends Error {}

/** The package's version, from the package.json two levels up (from src/cli and from dist/cli alike). */
function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

/** parseArgs' messages in one line of our own (its own are two sentences with an unbalanced quote). */
function argumentError(err: unknown): string {
  const { code, message } = err as { code?: string; message: string };
  const option = /'(-[^' ]*)/.exec(message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return message.includes('does not take') ? `option ${option} takes no value` : `option ${option} needs a value`;
  return message.split('. ')[0]!;
}

/**
 * Runs one `ocsp-stapler` invocation and resolves with its exit code. Never throws. Everything it
 * prints is printable (control characters from certificates, responses and names are escaped),
 * and with --json it prints exactly one JSON object on stdout, whatever the outcome.
 */
export async function run(argv: readonly string[], output: Output, now: () => number = Date.now): Promise<number> {
  const lines = (text: string) => text.split('\n').map(printable).join('\n');
  const safe: Output = { out: (text) => output.out(lines(text)), err: (text) => output.err(lines(text)) };
  // Known before parsing, so that even an argument error is reported as JSON.
  const json = argv.includes('--json');
  let command: string | undefined;
  let values: Values;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
    values = parsed.values as Values;
    [command, ...positionals] = parsed.positionals;
  } catch (err) {
    return usage(safe, json, argumentError(err), argv.find((a) => a in COMMAND_HELP));
  }
  if (values.version) {
    if (json) safe.out(printableJson({ result: 'version', exitCode: EXIT.OK, version: version() }));
    else safe.out(`ocsp-stapler ${version()}`);
    return EXIT.OK;
  }
  if (values.help || command === 'help') {
    const topic = command === 'help' ? positionals[0] : command;
    if (topic !== undefined && !(topic in COMMAND_HELP)) return usage(safe, json, `unknown command "${topic}"`);
    safe.out(topic === undefined ? HELP : COMMAND_HELP[topic]!);
    return EXIT.OK;
  }
  try {
    switch (command) {
      case 'fetch':
        return await fetchCommand(values, positionals, safe, now);
      case 'check':
        return await checkCommand(values, positionals, safe, now);
      case 'inspect':
        return await inspectCommand(values, positionals, safe, now);
      default:
        throw new UsageError(command ? `unknown command "${command}"` : 'no command given');
    }
  } catch (err) {
    if (err instanceof UsageError) return usage(safe, json, err.message, command);
    // Configuration, not the network: the certificate files, a missing or unusable responder
    // URL, an option out of range. Retrying will not help, so not exit 3.
    if (err instanceof StaplingError && (err.family === 'certificate' || err.family === 'usage' || err.code === 'ERR_FETCH_NO_URL')) {
      report(safe, json, { result: 'usage', exitCode: EXIT.USAGE, code: err.code, file: err.file, message: err.message }, `ocsp-stapler: ${err.message} [${err.code}]`);
      return EXIT.USAGE;
    }
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof StaplingError ? err.code : undefined;
    const file = err instanceof StaplingError ? err.file : undefined;
    report(safe, json, { result: 'failed', exitCode: EXIT.FAILED, code, file, message }, `ocsp-stapler: ${message}${code ? ` [${code}]` : ''}`);
    return EXIT.FAILED;
  }
}

function usage(output: Output, json: boolean, message: string, command?: string): number {
  const hint = command && command in COMMAND_HELP ? `ocsp-stapler ${command} --help` : 'ocsp-stapler --help';
  report(output, json, { result: 'usage', exitCode: EXIT.USAGE, message }, `ocsp-stapler: ${message} (see '${hint}')`);
  return EXIT.USAGE;
}

function report(output: Output, json: boolean, object: Record<string, unknown>, human: string, toStderr = object.exitCode !== EXIT.OK): void {
  if (json) output.out(printableJson(object));
  else if (toStderr) output.err(human);
  else output.out(human);
}

function noPositionals(positionals: string[], command: string): void {
  if (positionals.length > 0) throw new UsageError(`${command} takes no FILE argument (got "${positionals[0]}"); use --out`);
}

function oneFile(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new UsageError(`${command} needs exactly one FILE`);
  return positionals[0]!;
}

function required(value: string | undefined, name: string, command: string): string {
  if (!value) throw new UsageError(`${command} needs --${name}`);
  return value;
}

const HASHES: Record<string, CertIdHash> = { sha1: 'sha1', sha256: 'sha256', 'sha-1': 'sha1', 'sha-256': 'sha256' };

async function fetchCommand(values: Values, positionals: string[], output: Output, now: () => number): Promise<number> {
  noPositionals(positionals, 'fetch');
  const certFile = required(values.cert, 'cert', 'fetch');
  const out = required(values.out, 'out', 'fetch');
  const hash = values.hash === undefined ? 'sha1' : HASHES[values.hash.toLowerCase()];
  if (!hash) throw new UsageError(`--hash must be sha1 or sha256, not "${values.hash}"`);
  const timeoutSec = values.timeout === undefined ? 10 : Number(values.timeout);
  if (!Number.isFinite(timeoutSec) || timeoutSec < 0.001 || timeoutSec > MAX_TIMEOUT_SEC) {
    throw new UsageError(`--timeout must be a number of seconds from 0.001 to ${MAX_TIMEOUT_SEC}, not "${values.timeout}"`);
  }
  if (values.url !== undefined) {
    const protocol = URL.canParse(values.url) ? new URL(values.url).protocol : null;
    if (protocol === null) throw new UsageError(`--url is not a URL: "${values.url}"`);
    if (protocol !== 'http:' && protocol !== 'https:') throw new UsageError(`--url must be http: or https:, not ${protocol} ("${values.url}")`);
  }
  const mode = values.mode === undefined ? 0o644 : /^[0-7]{3,4}$/.test(values.mode) ? parseInt(values.mode, 8) : NaN;
  if (Number.isNaN(mode)) throw new UsageError(`--mode must be octal permissions such as 644 or 0640, not "${values.mode}"`);
  await checkOut(out);
  const json = values.json === true;

  const { leaf, issuer } = await loadCertificateChain(certFile, values.issuer);
  const subject = nameLine(leaf.x509.subject);
  let fetched;
  try {
    fetched = await fetchOcspResponse({
      cert: leaf,
      issuer,
      url: values.url,
      hash,
      method: values.get ? 'GET' : 'POST',
      timeoutMs: Math.round(timeoutSec * 1000),
      now,
    });
  } catch (err) {
    // Configuration errors (no usable responder URL, an option out of range) exit 2, in run().
    if (!(err instanceof StaplingError) || err.code === 'ERR_FETCH_NO_URL' || err.family === 'usage' || err.family === 'certificate') throw err;
    // A responder that answered tryLater, internalError or another non-successful responseStatus
    // is as transient as an HTTP 503 from it: the next run retries (exit 3), not a person (exit 4).
    const unreachable = err.family === 'fetch' || err.code === 'ERR_OCSP_RESPONSE_STATUS';
    const exitCode = unreachable ? EXIT.UNREACHABLE : EXIT.REFUSED;
    const revoked = err.code === 'ERR_OCSP_REVOKED';
    const lead = revoked ? 'REVOKED' : unreachable ? 'UNREACHABLE' : 'REFUSED';
    report(
      output,
      json,
      { result: revoked ? 'revoked' : unreachable ? 'unreachable' : 'refused', exitCode, file: out, subject, serial: leaf.x509.serialNumber, code: err.code, message: err.message, changed: false },
      `${lead}: ${subject} (serial ${leaf.x509.serialNumber}): ${err.message} [${err.code}]; ${out} left untouched`,
    );
    return exitCode;
  }

  const { bytes, verified, url } = fetched;
  // The same capped, non-blocking, regular-file-only reader as the context: a path swapped for
  // a FIFO since the check above fails here at once instead of hanging.
  const previous = await readOcspFile(out, DEFAULT_LIMITS.maxResponseBytes).catch(() => null);
  // Never replace a newer response with an older one (a replayed response, a CDN edge holding a
  // stale object): FILE is kept when it would still be stapled and its thisUpdate is at least the
  // fetched one's. A FILE for another certificate (rotation) or no longer usable is replaced.
  const held = previous === null || previous.equals(bytes) ? null : heldResponse(previous, leaf, issuer, now());
  if (held && held.single.thisUpdate.getTime() >= verified.single.thisUpdate.getTime()) {
    const kept = {
      file: out,
      url,
      subject,
      serial: leaf.x509.serialNumber,
      thisUpdate: held.single.thisUpdate.toISOString(),
      fetchedThisUpdate: verified.single.thisUpdate.toISOString(),
      validUntil: new Date(held.validUntil).toISOString(),
      changed: false,
    };
    const human = `kept ${out}: it holds a response as new or newer (thisUpdate ${kept.thisUpdate}) than the one ${url} sent (thisUpdate ${kept.fetchedThisUpdate}); nothing written`;
    // FILE is what an earlier run wrote: if that run's --then failed, the server may never have
    // loaded it, so a pending --then is retried here exactly as on the unchanged path.
    const retry = values.then ? await retryPendingThen(values.then, out) : null;
    if (retry) return reportRetry(output, json, retry, 'kept', kept, human);
    report(output, json, { result: 'kept', exitCode: EXIT.OK, ...kept }, `${human}, --then not run`);
    return EXIT.OK;
  }
  const changed = previous === null || !previous.equals(bytes);
  if (changed) await writeFileAtomic(out, bytes, { mode });
  const facts = {
    file: out,
    url,
    subject,
    serial: leaf.x509.serialNumber,
    certStatus: verified.single.certStatus,
    thisUpdate: verified.single.thisUpdate.toISOString(),
    nextUpdate: verified.single.nextUpdate?.toISOString() ?? null,
    validUntil: new Date(verified.validUntil).toISOString(),
    signedBy: verified.signedBy,
    bytes: bytes.length,
    changed,
  };
  const human = `${changed ? 'written' : 'unchanged'} ${out}: ${verified.single.certStatus} for ${subject} (serial ${leaf.x509.serialNumber}), valid until ${facts.validUntil} (${timeLeft(verified.validUntil, now())}), from ${url}`;

  if (values.then) {
    // A failed --then leaves .FILE.then-pending beside FILE, so that the next run retries it even
    // when the responder sends the same bytes again (the server may never have loaded them).
    const outcome = changed ? await runThenRemembered(values.then, out) : await retryPendingThen(values.then, out);
    if (outcome) return reportRetry(output, json, outcome, changed ? 'written' : 'unchanged', facts, human);
  }
  report(output, json, { result: changed ? 'written' : 'unchanged', exitCode: EXIT.OK, ...facts }, human);
  return EXIT.OK;
}

/** How a --then run went: its command, exit code, and whether it retried an earlier failure. */
interface ThenOutcome {
  readonly command: string;
  readonly code: number;
  readonly retried: boolean;
}

/**
 * Runs --then, remembered in .FILE.then-pending until it succeeds, so that a later run retries
 * a failure even when it has nothing new to write.
 */
async function runThenRemembered(command: string, out: string, retried = false): Promise<ThenOutcome> {
  const pendingFile = thenPendingFile(out);
  // 'wx': never follows a symlink planted under that name; an existing marker is kept.
  await writeFile(pendingFile, `${command}\n`, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? undefined : Promise.reject(err)));
  const code = await runThen(command, out);
  if (code === 0) await unlink(pendingFile).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
  return { command, code, retried };
}

/** When FILE is not written (unchanged, kept): runs --then only if an earlier run's --then failed; else null. */
async function retryPendingThen(command: string, out: string): Promise<ThenOutcome | null> {
  const pending = await lstat(thenPendingFile(out)).then(() => true, () => false);
  return pending ? runThenRemembered(command, out, true) : null;
}

/** Reports a run of --then: exit 6 if it failed (still pending), else exit 0 with `thenRetried` for a retry. */
function reportRetry(output: Output, json: boolean, then: ThenOutcome, result: 'written' | 'unchanged' | 'kept', facts: Record<string, unknown>, human: string): number {
  if (then.code !== 0) {
    const failed = { then: then.command, thenExitCode: then.code, thenPending: true };
    report(output, json, { result, exitCode: EXIT.THEN_FAILED, ...facts, ...failed }, `${human}\nocsp-stapler: --then command failed with exit code ${then.code}: ${then.command} (retried by the next run)`);
    return EXIT.THEN_FAILED;
  }
  if (!then.retried) {
    report(output, json, { result, exitCode: EXIT.OK, ...facts }, human);
    return EXIT.OK;
  }
  report(output, json, { result, exitCode: EXIT.OK, ...facts, then: then.command, thenRetried: true }, `${human}; --then retried after an earlier failure: ${then.command}`);
  return EXIT.OK;
}

/** FILE's response if the library would staple it now for this certificate, else null. */
function heldResponse(bytes: Buffer, leaf: CertificateInfo, issuer: CertificateInfo, at: number): VerifiedResponse | null {
  try {
    return verifyOcspResponse(bytes, leaf, issuer, { now: at, ...DEFAULT_LIMITS });
  } catch {
    return null;
  }
}

/**
 * Before asking the responder: --out must be a regular file, or not exist yet in an existing
 * directory. Anything else is configuration (exit 2), found before a request is made.
 */
async function checkOut(out: string): Promise<void> {
  const refuse = (reason: string, found: string, cause?: unknown) =>
    new StaplingError('ERR_INVALID_OPTION', reason, { expected: 'a regular file, or none yet in an existing directory', found, file: out, cause });
  const existing = await stat(out).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    if (err.code === 'ENOTDIR') throw refuse('--out must be in an existing directory', 'a path through something that is not a directory', err);
    throw refuse('--out cannot be looked at', err.code ?? err.message, err);
  });
  if (existing) {
    const kind = existing.isFile() ? null : existing.isDirectory() ? 'a directory' : existing.isFIFO() ? 'a FIFO' : 'a device or special file';
    if (kind) throw refuse('--out must be a regular file (or not exist yet)', kind);
    return;
  }
  const dir = dirname(out);
  const parent = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    const found = err.code === 'ENOENT' ? `${dir} does not exist` : err.code === 'ENOTDIR' ? `${dir} goes through something that is not a directory` : `${dir} cannot be looked at (${err.code ?? err.message})`;
    throw refuse('--out must be in an existing directory', found, err);
  });
  if (!parent.isDirectory()) throw refuse('--out must be in an existing directory', `${dir} is not a directory`);
}

/** Where a failed --then is remembered until a later run's --then succeeds: .FILE.then-pending beside FILE. */
function thenPendingFile(file: string): string {
  return join(dirname(file), `.${basename(file)}.then-pending`);
}

/** Runs COMMAND with sh -c; its stdout goes to our stderr so that --json output stays one object. */
function runThen(command: string, file: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 2, 2], env: { ...process.env, OCSP_STAPLER_FILE: file } });
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function checkCommand(values: Values, positionals: string[], output: Output, now: () => number): Promise<number> {
  const file = oneFile(positionals, 'check');
  const certFile = required(values.cert, 'cert', 'check');
  const json = values.json === true;
  // The context itself decides: exit 0 means exactly "a context would staple this file now".
  const ctx = await createStaplingContext({ certFile, issuerFile: values.issuer, ocspFile: file, now });
  try {
    const status = ctx.status();
    if (status.stapling && status.validUntil) {
      const until = status.validUntil.getTime();
      const left = timeLeft(until, now());
      const facts = {
        result: 'ok',
        exitCode: EXIT.OK,
        file,
        subject: status.subject,
        serial: status.serial,
        certStatus: status.certStatus,
        thisUpdate: status.thisUpdate?.toISOString() ?? null,
        nextUpdate: status.nextUpdate?.toISOString() ?? null,
        validUntil: status.validUntil.toISOString(),
        remainingMs: until - now(),
        signedBy: status.signedBy,
        responder: status.responder,
      };
      report(output, json, facts, `OK ${file}: good for ${status.subject} (serial ${status.serial}), signed by ${status.responder ? `delegated responder ${status.responder}` : 'the issuer'}; stapled until ${facts.validUntil} (${left})`);
      return EXIT.OK;
    }
    const refusal = status.lastRefusal;
    const code = refusal?.code ?? null;
    const message = refusal?.message ?? 'not stapled';
    const lead = code === 'ERR_OCSP_REVOKED' ? 'REVOKED' : 'REFUSED';
    report(output, json, { result: lead.toLowerCase(), exitCode: EXIT.CHECK_FAILED, file, subject: status.subject, serial: status.serial, code, message }, `${lead} ${file}: ${message}${code ? ` [${code}]` : ''}`);
    return EXIT.CHECK_FAILED;
  } finally {
    await ctx.close();
  }
}

async function inspectCommand(values: Values, positionals: string[], output: Output, now: () => number): Promise<number> {
  const file = oneFile(positionals, 'inspect');
  const json = values.json === true;
  let bytes: Buffer;
  try {
    bytes = await readOcspFile(file, 16 * 1024 * 1024);
    const facts = inspect(parseOcspResponse(bytes), now());
    if (json) output.out(printableJson({ result: 'ok', exitCode: EXIT.OK, file, bytes: bytes.length, ...facts }));
    else output.out(inspectionText(file, bytes.length, facts));
    return EXIT.OK;
  } catch (err) {
    if (!(err instanceof StaplingError)) throw err;
    const error = err.withFile(file);
    report(output, json, { result: 'unparsable', exitCode: EXIT.CHECK_FAILED, file, code: error.code, message: error.message }, `cannot inspect ${file}: ${error.message} [${error.code}]`);
    return EXIT.CHECK_FAILED;
  }
}

/**
 * The edge where files come in and go out: one capped, regular-file-only, non-blocking reader
 * for certificates and OCSP responses alike, and the public atomic writer.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { StaplingError, type StaplingErrorCode } from './errors.js';
import { writeFileAtomic as writeAtomic, type WriteFileOptions } from './ocsp/file.js';
import { checkBytes, checkPath, OptionReader } from './options.js';

export type { WriteFileOptions } from './ocsp/file.js';

/** @internal What to read and how to say it failed. */
export interface ReadLimits {
  /** Largest file accepted, in bytes. */
  readonly maxBytes: number;
  /** What the file is, in words, for messages (e.g. `"OCSP response file"`). */
  readonly what: string;
  /** Code for a file that cannot be opened or read, or is not a regular file. */
  readonly readCode: StaplingErrorCode;
  /** Code for a file larger than `maxBytes`. */
  readonly tooLargeCode: StaplingErrorCode;
}

/**
 * @internal Reads a whole regular file of at most `maxBytes`, and nothing else.
 *
 * - O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever, holding one of libuv's
 *   few threads, and every later read would queue behind it. It changes nothing for regular
 *   files, and anything else (FIFO, socket, device such as /dev/zero) is refused after fstat.
 * - The cap is checked on the size fstat gives, before any byte is read (a runaway job may have
 *   written gigabytes), and again while reading: a file that grew since is caught at one byte
 *   past the cap, so at most `maxBytes + 1` bytes are ever held.
 *
 * Throws a {@link StaplingError} with `limits.readCode` (found: the errno code, `a directory` or
 * `a special file`) or `limits.tooLargeCode`. An empty file is returned as an empty Buffer: what
 * that means is the caller's to say.
 */
export async function readCappedFile(file: string, limits: ReadLimits): Promise<Buffer> {
  const { maxBytes, what, readCode } = limits;
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new StaplingError(readCode, `cannot open the ${what}`, { found: errnoOf(err), file, cause: err });
  }
  try {
    let buffer = checkedBuffer(await handle.stat(), file, limits);
    let length = 0;
    for (;;) {
      if (length === buffer.length) buffer = grown(buffer, file, limits);
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof StaplingError) throw err;
    throw new StaplingError(readCode, `cannot read the ${what}`, { found: errnoOf(err), file, cause: err });
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * @internal {@link readCappedFile}, synchronous: the same checks, errors and result. For a lazy
 * registry's start, which reads thousands of small certificate files: each of the five calls of
 * the asynchronous reader is a round trip through libuv's thread pool, and they made 90 % of the
 * reading time (10,000 files on a quiet machine: 496 ms against 84 ms, bench/RESULTS.md block 5). Blocks the event loop
 * while it reads: call it for a few files at a time between turns of the loop.
 */
export function readCappedFileSync(file: string, limits: ReadLimits): Buffer {
  const { what, readCode } = limits;
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new StaplingError(readCode, `cannot open the ${what}`, { found: errnoOf(err), file, cause: err });
  }
  try {
    let buffer = checkedBuffer(fstatSync(fd), file, limits);
    let length = 0;
    for (;;) {
      if (length === buffer.length) buffer = grown(buffer, file, limits);
      const bytesRead = readSync(fd, buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof StaplingError) throw err;
    throw new StaplingError(readCode, `cannot read the ${what}`, { found: errnoOf(err), file, cause: err });
  } finally {
    try {
      closeSync(fd);
    } catch {
      // Nothing to do: the bytes are read.
    }
  }
}

// Refuses anything but a regular file of at most maxBytes; the buffer to read it into has room for
// fstat's size plus one byte, so that a file that grew since fstat() is noticed.
function checkedBuffer(stat: Stats, file: string, limits: ReadLimits): Buffer {
  const { maxBytes, what, readCode } = limits;
  if (!stat.isFile()) {
    throw new StaplingError(readCode, `the ${what} is not a regular file`, { expected: 'a regular file', found: stat.isDirectory() ? 'a directory' : 'a special file', file });
  }
  if (stat.size > maxBytes) throw tooLarge(`${stat.size} bytes`, file, limits);
  return Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
}

// A full buffer: the file grew while being read. Read on up to one byte past the cap at most.
function grown(buffer: Buffer, file: string, limits: ReadLimits): Buffer {
  if (buffer.length > limits.maxBytes) throw tooLarge(`more than ${limits.maxBytes} bytes (it grew while being read)`, file, limits);
  const bigger = Buffer.alloc(Math.min(buffer.length * 2, limits.maxBytes + 1));
  buffer.copy(bigger);
  return bigger;
}

function tooLarge(found: string, file: string, limits: ReadLimits): StaplingError {
  return new StaplingError(limits.tooLargeCode, `the ${limits.what} is too large`, { expected: `at most ${limits.maxBytes} bytes`, found, file });
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? String(err);
}

/**
 * Writes `bytes` to `file` so that a reader (a context's reload or watch, another server) sees
 * either the old file or the whole new one, never a part: a temporary file in the same
 * directory, fsync, rename over the old one, fsync of the directory. Refuses to replace anything
 * but a regular file; a replaced file keeps its mode, owner and group. What
 * {@link startRefresh} and `ocsp-stapler fetch` do with each good response; use it to store what
 * {@link fetchOcspResponse} returns. Rejects with `ERR_FILE_WRITE` (the old file, if any, is
 * left as it was).
 *
 * @example
 * ```ts
 * const { bytes } = await fetchOcspResponse({ certFile: 'site.pem' });
 * await writeFileAtomic('site.pem.ocsp', bytes);
 * ```
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array, options?: WriteFileOptions): Promise<void> {
  checkPath('writeFileAtomic', 'file', file);
  checkBytes('writeFileAtomic', 'bytes', bytes);
  const mode = new OptionReader<WriteFileOptions>('writeFileAtomic', options).number('mode', { min: 0, max: 0o7777, integer: true, what: 'a file mode from 0 to 0o7777' });
  try {
    await writeAtomic(file, bytes, mode === undefined ? {} : { mode });
  } catch (err) {
    if (err instanceof StaplingError) throw err;
    throw new StaplingError('ERR_FILE_WRITE', 'cannot write the file', { found: errnoOf(err), file, cause: err });
  }
}

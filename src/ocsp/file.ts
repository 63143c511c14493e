import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StaplingError } from '../errors.js';

/**
 * Reads an OCSP response file, refusing directories, special files and anything larger than
 * `maxBytes` without reading it all (a runaway job may have written gigabytes).
 */
export async function readOcspFile(file: string, maxBytes: number): Promise<Buffer> {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever. It changes
    // nothing for regular files, and anything else is refused below.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new StaplingError('ERR_OCSP_FILE_READ', 'cannot open the OCSP response file', {
      found: (err as NodeJS.ErrnoException).code ?? String(err),
      file,
      cause: err,
    });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new StaplingError('ERR_OCSP_FILE_READ', 'the OCSP response path is not a regular file', {
        found: stat.isDirectory() ? 'a directory' : 'a special file',
        file,
      });
    }
    if (stat.size > maxBytes) {
      throw new StaplingError('ERR_OCSP_TOO_LARGE', 'the OCSP response file is too large', {
        expected: `at most ${maxBytes} bytes`,
        found: `${stat.size} bytes`,
        file,
      });
    }
    // Read up to one byte past the cap: a file that grew since stat() is caught here.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) {
        throw new StaplingError('ERR_OCSP_TOO_LARGE', 'the OCSP response file grew past the limit while being read', {
          expected: `at most ${maxBytes} bytes`,
          found: `more than ${maxBytes} bytes`,
          file,
        });
      }
    }
    if (length === 0) throw new StaplingError('ERR_OCSP_EMPTY', 'the OCSP response file is empty', { file });
    return Buffer.from(buffer.subarray(0, length));
  } catch (err) {
    if (err instanceof StaplingError) throw err;
    throw new StaplingError('ERR_OCSP_FILE_READ', 'cannot read the OCSP response file', {
      found: (err as NodeJS.ErrnoException).code ?? String(err),
      file,
      cause: err,
    });
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Writes `bytes` to `file` so that a reader sees either the old file or the whole new one:
 * a temporary file in the same directory, fsync, rename over, fsync of the directory.
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(file);
  const temp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  // Make the rename itself durable; some filesystems cannot fsync a directory: that is fine.
  const dirHandle = await open(dir, 'r').catch(() => null);
  if (dirHandle) {
    await dirHandle.sync().catch(() => undefined);
    await dirHandle.close().catch(() => undefined);
  }
}

import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { lstat, open, readdir, realpath, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { StaplingError } from '../errors.js';
import { readCappedFile } from '../files.js';

/**
 * Reads an OCSP response file with the one capped reader ({@link readCappedFile}): refuses
 * directories, special files and anything larger than `maxBytes` without reading it all (a
 * runaway job may have written gigabytes), and an empty file.
 */
export async function readOcspFile(file: string, maxBytes: number): Promise<Buffer> {
  const bytes = await readCappedFile(file, { maxBytes, what: 'OCSP response file', readCode: 'ERR_OCSP_FILE_READ', tooLargeCode: 'ERR_OCSP_TOO_LARGE' });
  if (bytes.length === 0) throw new StaplingError('ERR_OCSP_EMPTY', 'the OCSP response file is empty', { file });
  return bytes;
}

/** Options of {@link writeFileAtomic}. */
export interface WriteFileOptions {
  /**
   * Permission bits of a new file, exactly (the umask does not apply). Default 0o644: an OCSP
   * response is public. A file that already exists keeps its own mode, owner and group.
   */
  mode?: number;
}

// .NAME.HOST.PID.RAND.tmp: HOST and PID say whether the writer may still be running.
const HOST = hostname().replace(/[^A-Za-z0-9-]/g, '-') || 'host';
const STALE_TEMP_MS = 3_600_000;

/**
 * Writes `bytes` to `file` so that a reader sees either the old file or the whole new one:
 * a temporary file in the same directory, fsync, rename over, fsync of the directory.
 *
 * - Refuses to replace anything but a regular file (a FIFO, a device, a directory), with
 *   `ERR_FILE_WRITE`: renaming over `/dev/null` would replace the device itself.
 * - The new file keeps the mode, owner and group of the file it replaces (owner and group as far
 *   as the process may set them: as root, always); a new file gets `options.mode`, 0o644.
 * - Writes through a symbolic link: the file the link names is replaced (its mode, owner and
 *   group kept, the temporary file beside it), the link stays. A link to nothing is refused.
 * - Removes temporary files left in the directory by writers that were killed, on its first
 *   write there in this process: those of a process of this host that is gone, and any older
 *   than an hour.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array, options: WriteFileOptions = {}): Promise<void> {
  // Through a symbolic link to the file it names (`site.ocsp -> shared/site.ocsp`): renaming over
  // the link would replace the link itself and leave the shared file stale.
  const file = await resolveLinks(path);
  const dir = dirname(file);
  const base = basename(file);
  let existing: Stats | null = null;
  try {
    existing = await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw writeError(file, err);
  }
  if (existing && !existing.isFile()) {
    throw new StaplingError('ERR_FILE_WRITE', 'refusing to replace something that is not a regular file', {
      expected: 'a regular file, or no file yet',
      found: existing.isDirectory() ? 'a directory' : existing.isFIFO() ? 'a FIFO' : existing.isCharacterDevice() || existing.isBlockDevice() ? 'a device' : 'a special file',
      file,
    });
  }
  if (!scanned.has(dir)) {
    scanned.add(dir);
    await removeStaleTemps(dir);
  }
  const temp = join(dir, `.${base}.${HOST}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await open(temp, 'wx', 0o600);
  } catch (err) {
    throw writeError(file, err);
  }
  try {
    await handle.writeFile(bytes);
    // chown before chmod: chown may clear set-id bits.
    if (existing && (existing.uid !== process.getuid?.() || existing.gid !== process.getgid?.())) {
      await handle.chown(existing.uid, existing.gid).catch((err: NodeJS.ErrnoException) => {
        // Only root may give a file away; others keep what they may (their own uid).
        if (err.code !== 'EPERM') throw err;
      });
    }
    await handle.chmod(existing ? existing.mode & 0o7777 : (options.mode ?? 0o644));
    await handle.sync();
    await handle.close();
    handle = null;
    await rename(temp, file);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw writeError(file, err);
  }
  // Make the rename itself durable; some filesystems cannot fsync a directory: that is fine.
  const dirHandle = await open(dir, 'r').catch(() => null);
  if (dirHandle) {
    await dirHandle.sync().catch(() => undefined);
    await dirHandle.close().catch(() => undefined);
  }
}

/** `path` with every symbolic link resolved; a link to nothing is refused (where would we write?). */
async function resolveLinks(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw writeError(path, err);
  }
  const link = await lstat(path).catch(() => null);
  if (link?.isSymbolicLink()) {
    throw new StaplingError('ERR_FILE_WRITE', 'refusing to write through a symbolic link that points to nothing', {
      expected: 'a regular file, a symbolic link to one, or no file yet',
      found: 'a dangling symbolic link',
      file: path,
    });
  }
  // No file yet: the directory may itself be reached through links; that is fine.
  return path;
}

function writeError(file: string, err: unknown): StaplingError {
  if (err instanceof StaplingError) return err;
  return new StaplingError('ERR_FILE_WRITE', 'cannot write the OCSP response file', {
    found: (err as NodeJS.ErrnoException).code ?? String(err),
    file,
    cause: err,
  });
}

// Directories already cleaned by this process: once is enough (a registry directory may hold
// thousands of files, and a refresher writes into it for the life of the process).
const scanned = new Set<string>();

async function removeStaleTemps(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith('.') || !name.endsWith('.tmp')) continue;
    // .NAME.HOST.PID.RAND.tmp (NAME may hold dots), or .NAME.PID.RAND.tmp as written before
    // hosts were named: those are removed by age only.
    const parts = name.slice(1, -'.tmp'.length).split('.');
    if (parts.length < 3 || !/^[0-9a-f]{12}$/.test(parts.at(-1)!) || !/^\d+$/.test(parts.at(-2)!)) continue;
    const host = parts.at(-3)!;
    const pid = Number(parts.at(-2));
    const path = join(dir, name);
    const info = await lstat(path).catch(() => null);
    if (!info?.isFile()) continue;
    const gone = host === HOST && parts.length >= 4 && pid !== process.pid && !alive(pid);
    if (gone || Date.now() - info.mtimeMs > STALE_TEMP_MS) await unlink(path).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

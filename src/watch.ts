import { statSync, watch as watchDirectory, unwatchFile, watchFile as pollFile, type BigIntStats, type FSWatcher, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { checkPath, invalidArgument, watchOptions } from './options.js';

/** Options of a file watch. */
export interface WatchOptions {
  /** Quiet time after the last change before `onChange` runs, in ms. Default 200. */
  debounceMs?: number;
  /**
   * Interval of the stat poll that backs up directory events, in ms. Default 2000. The poll
   * follows symlinks, so it sees Kubernetes `..data` swaps, and it keeps working when the
   * directory watch breaks (directory deleted or replaced).
   */
  pollMs?: number;
}

/** A running watch. */
export interface FileWatch {
  /** Stops watching. Idempotent. */
  close(): void;
}

/**
 * Calls `onChange` (debounced) when `file` may have changed: rewritten in place, renamed over
 * (editors, `writeFileAtomic`, `mv`), deleted and recreated, or swapped through a symlink as
 * Kubernetes does with mounted secrets and ConfigMaps (`file -> ..data/file`, `..data` renamed).
 *
 * Two sources feed it: directory events from `fs.watch` (fast, but they stop if the directory
 * goes away) and an `fs.watchFile` stat poll (slower, follows symlinks, survives everything).
 * A broken directory watch is re-established on the next poll tick.
 *
 * `onChange` runs once per change: after the quiet time, the file (symlinks followed) is
 * stat'ed and `onChange` runs only if its identity (device, inode, size, mtime, ctime, or
 * that it is missing) differs from the one seen when `onChange` last ran (or when the watch
 * started). So the poll noticing a change that a directory event already reported calls
 * nothing, and neither do events for other entries of the directory.
 *
 * @example
 * ```ts
 * const watch = watchFile('/etc/ssl/site.pem.ocsp', () => console.log('changed'));
 * // later
 * watch.close();
 * ```
 */
export function watchFile(file: string, onChange: () => void, options?: WatchOptions): FileWatch {
  checkPath('watchFile', 'file', file);
  if (typeof onChange !== 'function') throw invalidArgument('watchFile', 'onChange', 'a function', onChange);
  const { debounceMs, pollMs } = watchOptions('watchFile', options);
  const name = basename(file);
  let timer: NodeJS.Timeout | null = null;
  let dirWatcher: FSWatcher | null = null;
  let closed = false;
  let seen = identitySync(file);
  let checking = false;
  let checkAgain = false;

  // One stat at a time; a change reported while one runs is checked again after it.
  const check = async () => {
    if (checking) {
      checkAgain = true;
      return;
    }
    checking = true;
    try {
      do {
        checkAgain = false;
        const now = await identity(file);
        if (closed) return;
        if (now !== seen) {
          seen = now;
          onChange();
        }
      } while (checkAgain);
    } finally {
      checking = false;
    }
  };

  const fire = () => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      if (!closed) void check();
    }, debounceMs);
    timer.unref();
  };

  const openDirectoryWatch = () => {
    if (dirWatcher || closed) return;
    try {
      dirWatcher = watchDirectory(dirname(file), { persistent: false }, (_event, changed) => {
        // Our file, or a Kubernetes-style hidden entry (`..data`, `..2026_11_24...`).
        if (changed === null || changed === name || String(changed).startsWith('..')) fire();
      });
      dirWatcher.on('error', () => {
        dirWatcher?.close();
        dirWatcher = null;
        fire();
      });
    } catch {
      dirWatcher = null; // The directory is missing for now; the poll retries.
    }
  };

  const onPoll = (current: Stats, previous: Stats) => {
    openDirectoryWatch();
    if (current.mtimeMs !== previous.mtimeMs || current.ino !== previous.ino || current.size !== previous.size || current.nlink !== previous.nlink) {
      fire();
    }
  };

  openDirectoryWatch();
  pollFile(file, { interval: pollMs, persistent: false }, onPoll);

  return {
    close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      dirWatcher?.close();
      unwatchFile(file, onPoll);
    },
  };
}

// What tells one version of a file from another without reading it. Nanosecond times: two
// writes in the same millisecond differ in ctime on every file system that keeps ns.
function identityOf(stats: BigIntStats | undefined, missing?: unknown): string {
  if (!stats) return `missing ${(missing as NodeJS.ErrnoException | undefined)?.code ?? ''}`;
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}

function identitySync(file: string): string {
  try {
    return identityOf(statSync(file, { bigint: true }));
  } catch (err) {
    return identityOf(undefined, err);
  }
}

async function identity(file: string): Promise<string> {
  try {
    return identityOf(await stat(file, { bigint: true }));
  } catch (err) {
    return identityOf(undefined, err);
  }
}

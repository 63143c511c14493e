import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (where node_modules/tsx is). */
export const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** A child process running one of bench/lib's TypeScript files, spoken to with one message at a time. */
export interface Child {
  readonly process: ChildProcess;
  /** Sends `message` and resolves with the next message the child sends back. */
  ask<T>(message: unknown): Promise<T>;
  /** Ends the child (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Forks `bench/lib/FILE` under tsx and waits for its first message (its "ready" reply).
 * The child gets `args` as JSON in argv[2].
 */
export async function startChild<T>(file: string, args: unknown, execArgv: string[] = []): Promise<{ child: Child; ready: T }> {
  const proc = fork(join(ROOT, 'bench', 'lib', file), [JSON.stringify(args)], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <R>() =>
    new Promise<R>((resolve, reject) => {
      const onMessage = (m: unknown) => {
        proc.off('exit', onExit);
        resolve(m as R);
      };
      const onExit = (code: number | null) => {
        proc.off('message', onMessage);
        reject(new Error(`${file} exited with ${code} before answering`));
      };
      proc.once('message', onMessage);
      proc.once('exit', onExit);
    });
  const ready = await next<T>();
  const child: Child = {
    process: proc,
    ask<R>(message: unknown) {
      const reply = next<R>();
      proc.send(message as object);
      return reply;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      await exited;
    },
  };
  return { child, ready };
}

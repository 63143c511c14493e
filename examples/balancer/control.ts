/**
 * The control socket (-C), and the client balancerctl uses.
 *
 * Protocol, Pen-compatible: connect, send one command line, read the reply until the server
 * closes. A line starting with `{` is a JSON request `{"command": "...", "json": true}` and
 * gets a JSON reply `{"ok": ..., "text": ..., "data": ...}` (balancerctl always uses it, to
 * know whether the command failed); any other line gets the plain text reply.
 *
 * A TCP control socket (-C 127.0.0.1:PORT, only with --control-tcp) is reachable by every local
 * user, so it needs a shared secret (--control-secret FILE): either a first line holding the
 * secret, then the command line, or `"secret"` in the JSON request. The Unix socket is 0600 and
 * needs none: only the balancer's user can connect.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, chmodSync, openSync, readSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { MAX_COMMAND, type Reply } from './commands.js';
import type { ControlAddress } from './options.js';

/** Runs one command line. Must not throw (a rejection becomes an error reply anyway). */
export type CommandHandler = (line: string) => Promise<Reply>;

/** A control client that sends nothing is dropped after this many ms. */
const IDLE_MS = 10_000;

/** Shortest shared secret accepted: guessing must be hopeless. */
const MIN_SECRET = 16;

/**
 * Reads the shared secret of a TCP control socket from `file`, which must be a regular file
 * owned by this user and readable by nobody else (mode 0600 or 0400): a secret others can read
 * protects nothing. Throws an Error that says what to fix.
 */
export function readSecret(file: string): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO must not hang the start.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new Error(`secret file ${file}: cannot open it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new Error(`secret file ${file}: not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new Error(`secret file ${file}: readable or writable by group or others (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${file}`);
    }
    if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) throw new Error(`secret file ${file}: owned by uid ${stat.uid}, not by this user (${process.getuid()})`);
    if (stat.size > 4096) throw new Error(`secret file ${file}: larger than 4096 bytes`);
    const buffer = Buffer.alloc(4097);
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    const secret = buffer.subarray(0, n).toString('utf8').trim();
    if (secret.length < MIN_SECRET) throw new Error(`secret file ${file}: the secret is shorter than ${MIN_SECRET} characters (make one with: openssl rand -hex 32 > ${file})`);
    if (/[\r\n]/.test(secret)) throw new Error(`secret file ${file}: the secret must be one line`);
    return Buffer.from(secret, 'utf8');
  } finally {
    closeSync(fd);
  }
}

function sameSecret(given: string, secret: Buffer): boolean {
  // Hashes first: equal lengths for timingSafeEqual, and no length leak.
  const digest = (b: Buffer | string) => createHash('sha256').update(b).digest();
  return timingSafeEqual(digest(given), digest(secret));
}

/**
 * Serves the control socket. Resolves once listening. With `secret` (TCP), a client must give it
 * before its command.
 */
export async function startControl(address: ControlAddress, handle: CommandHandler, secret: Buffer | null = null): Promise<net.Server> {
  if (!('path' in address) && secret === null) throw new Error('a TCP control socket needs a shared secret');
  // allowHalfOpen: a client that half-closes after its command (no newline) still gets the reply.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => serve(socket, handle, secret));
  server.on('error', () => {});
  if ('path' in address) {
    await removeStaleSocket(address.path);
    // The socket is created with the process umask: make it 0600 from the start, then chmod
    // to be sure, so no other user can ever connect, even for a moment.
    const umask = process.umask(0o177);
    try {
      await listen(server, { path: address.path });
    } finally {
      process.umask(umask);
    }
    chmodSync(address.path, 0o600);
  } else {
    await listen(server, { host: address.host, port: address.port });
  }
  return server;
}

function listen(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A socket file left by a balancer that died is removed; a live one is an error, as is any other file. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) throw new Error(`-C ${path}: exists and is not a socket; not removing it`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path }, () => {
      probe.destroy();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
  });
  if (live) throw new Error(`-C ${path}: another balancer is listening on it`);
  unlinkSync(path);
}

const NEED_SECRET = 'error: this control socket needs the shared secret: send it as the first line, or as "secret" in the JSON request';

function serve(socket: net.Socket, handle: CommandHandler, secret: Buffer | null): void {
  let buffer = '';
  let done = false;
  let authenticated = secret === null;
  socket.setEncoding('utf8');
  socket.setTimeout(IDLE_MS, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  const finish = (line: string): void => {
    if (done) return;
    done = true;
    socket.pause();
    // The idle limit is for reading the command; the command itself may take longer.
    socket.setTimeout(0);
    const trimmed = line.replace(/\r$/, '');
    if (trimmed.startsWith('{')) {
      let command = '';
      try {
        const request: unknown = JSON.parse(trimmed);
        if (request && typeof request === 'object' && 'command' in request && typeof request.command === 'string') command = request.command;
      } catch {
        command = '';
      }
      if (command === '') {
        socket.end(JSON.stringify({ ok: false, text: 'error: expected {"command": "..."}' }) + '\n');
        return;
      }
      if (!authenticated) {
        const given = (() => {
          try {
            const request: unknown = JSON.parse(trimmed);
            return request && typeof request === 'object' && 'secret' in request && typeof request.secret === 'string' ? request.secret : null;
          } catch {
            return null;
          }
        })();
        if (given === null || !sameSecret(given, secret!)) {
          socket.end(JSON.stringify({ ok: false, text: NEED_SECRET }) + '\n');
          return;
        }
      }
      handle(command)
        .catch((err: unknown): Reply => ({ ok: false, text: `error: ${String(err)}` }))
        .then((reply) => socket.end(JSON.stringify(reply) + '\n'));
      return;
    }
    if (!authenticated) {
      socket.end(`${NEED_SECRET}\n`);
      return;
    }
    handle(trimmed)
      .catch((err: unknown): Reply => ({ ok: false, text: `error: ${String(err)}` }))
      .then((reply) => socket.end(reply.text + '\n'));
  };
  socket.on('data', (chunk: string) => {
    if (done) return;
    buffer += chunk;
    let newline = buffer.indexOf('\n');
    // A plain-text client gives the secret as a line of its own, before the command.
    while (newline >= 0 && !authenticated && !buffer.startsWith('{')) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      if (!sameSecret(line, secret!)) {
        done = true;
        socket.end(`${NEED_SECRET}\n`);
        return;
      }
      authenticated = true;
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
    }
    if (newline >= 0) finish(buffer.slice(0, newline));
    else if (buffer.length > MAX_COMMAND + 2) {
      done = true;
      socket.end(`error: command longer than ${MAX_COMMAND} bytes\n`);
    }
  });
  // penctl-style clients may half-close without a newline.
  socket.on('end', () => finish(buffer));
}

/** Sends one command (with the shared secret, for a TCP control socket); resolves with the reply. Used by balancerctl and the tests. */
export function sendCommand(address: ControlAddress, command: string, secret?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = 'path' in address ? net.connect({ path: address.path }) : net.connect({ host: address.host, port: address.port });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(secret ? { command, secret: secret.toString('utf8') } : { command }) + '\n'));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        const reply = JSON.parse(text) as Reply;
        resolve(reply);
      } catch {
        reject(new Error(`not a reply: ${text.slice(0, 200)}`));
      }
    });
  });
}

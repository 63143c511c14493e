/**
 * The control socket (-C), and the client balancerctl uses.
 *
 * Protocol, Pen-compatible: connect, send one command line, read the reply until the server
 * closes. A line starting with `{` is a JSON request `{"command": "...", "json": true}` and
 * gets a JSON reply `{"ok": ..., "text": ..., "data": ...}` (balancerctl always uses it, to
 * know whether the command failed); any other line gets the plain text reply.
 */
import { lstatSync, chmodSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { MAX_COMMAND, type Reply } from './commands.js';
import type { ControlAddress } from './options.js';

/** Runs one command line. Must not throw (a rejection becomes an error reply anyway). */
export type CommandHandler = (line: string) => Promise<Reply>;

/** A control client that sends nothing is dropped after this many ms. */
const IDLE_MS = 10_000;

/** Serves the control socket. Resolves once listening. */
export async function startControl(address: ControlAddress, handle: CommandHandler): Promise<net.Server> {
  // allowHalfOpen: a client that half-closes after its command (no newline) still gets the reply.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => serve(socket, handle));
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

function serve(socket: net.Socket, handle: CommandHandler): void {
  let buffer = '';
  let done = false;
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
      handle(command)
        .catch((err: unknown): Reply => ({ ok: false, text: `error: ${String(err)}` }))
        .then((reply) => socket.end(JSON.stringify(reply) + '\n'));
      return;
    }
    handle(trimmed)
      .catch((err: unknown): Reply => ({ ok: false, text: `error: ${String(err)}` }))
      .then((reply) => socket.end(reply.text + '\n'));
  };
  socket.on('data', (chunk: string) => {
    if (done) return;
    buffer += chunk;
    const newline = buffer.indexOf('\n');
    if (newline >= 0) finish(buffer.slice(0, newline));
    else if (buffer.length > MAX_COMMAND + 2) {
      done = true;
      socket.end(`error: command longer than ${MAX_COMMAND} bytes\n`);
    }
  });
  // penctl-style clients may half-close without a newline.
  socket.on('end', () => finish(buffer));
}

/** Sends one command; resolves with the reply. Used by balancerctl and the tests. */
export function sendCommand(address: ControlAddress, command: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = 'path' in address ? net.connect({ path: address.path }) : net.connect({ host: address.host, port: address.port });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify({ command }) + '\n'));
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

/**
 * Command line of the balancer, Pen's letters where Pen has one:
 * `balancer [options] [host:]port backend ...`, backend = `host[:port[:maxc[:hard[:weight[:prio]]]]]`.
 * Pure: argv in, {@link Options} out, or a {@link UsageError} that says what was wrong.
 */
import { isIP } from 'node:net';

/** An address to connect to or listen on. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

/** One backend as given on the command line. */
export interface BackendSpec extends Address {
  /** Soft limit: no new clients once this many connections are open. 0 = none. */
  readonly maxc: number;
  /** Hard limit: no connection at all beyond it, tracked clients included. 0 = none. */
  readonly hard: number;
  /** Relative share of new clients; 0 = weight not used for this server. */
  readonly weight: number;
  /** Lower is preferred; higher prio servers only get clients when all lower ones are unavailable. */
  readonly prio: number;
}

/** Where the control socket listens: a Unix socket path, or TCP on a loopback address. */
export type ControlAddress = { readonly path: string } | { readonly host: string; readonly port: number };

/** Everything the command line says. Defaults follow Pen 0.34. */
export interface Options {
  readonly listen: Address;
  readonly backends: readonly BackendSpec[];
  /** -c: client table size (Pen default 2048). */
  readonly clientsMax: number;
  /** -T: seconds a client stays in the table after its last connection; 0 = until evicted (Pen default). */
  readonly trackingSec: number;
  /** -r: no client tracking. */
  readonly roundrobin: boolean;
  /** -h: new clients by hash of their IP address. */
  readonly hash: boolean;
  /** -s: a tracked client whose server is down is refused instead of moved. */
  readonly stubborn: boolean;
  /** -b: seconds a server stays blacklisted after a failed connect (Pen default 30). */
  readonly blacklistSec: number;
  /** -e: the server used when every backend is unavailable. */
  readonly emergency: Address | null;
  /** -t: connect timeout in seconds (Pen default 5). */
  readonly timeoutSec: number;
  /** -x: simultaneous client connections (Pen default 500). */
  readonly connMax: number;
  /** -H: add X-Forwarded-For to HTTP/1.x requests. */
  readonly xForwardedFor: boolean;
  /** -E: PEM file with the certificate and its chain. */
  readonly certFile: string | null;
  /** -K: PEM key of -E. */
  readonly keyFile: string | null;
  /** --ocsp: DER OCSP response file stapled for -E. */
  readonly ocspFile: string | null;
  /** --sni-dir: directory of name.pem, name.key, name.pem.ocsp. */
  readonly sniDir: string | null;
  /** -C: control socket. */
  readonly control: ControlAddress | null;
  /** --control-tcp: the explicit opt-in a TCP -C needs (every local user can reach a loopback port). */
  readonly controlTcp: boolean;
  /** --control-secret: file (mode 0600) holding the shared secret a TCP -C needs. */
  readonly controlSecret: string | null;
  /** --pidfile: where the balancer writes its pid once ready (removed on exit). */
  readonly pidFile: string | null;
  /** --status: HTTP status page (loopback only). */
  readonly status: Address | null;
  /** --workers: processes sharing the port (node:cluster). 1 = no cluster. */
  readonly workers: number;
  /** -X: the control command `exit` is allowed. */
  readonly allowExit: boolean;
  /** --drain-timeout: seconds SIGTERM waits for open connections before closing them. */
  readonly drainSec: number;
}

/** A command line that cannot be used; the message says why. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The --help text. */
export const USAGE = `usage: npm run balancer -- [options] [host:]port backend ...
  backend          host[:port[:maxc[:hard[:weight[:prio]]]]]  (port defaults to the listening port)
  -b SEC           blacklist a server that failed to connect for SEC seconds (30)
  -c N             client table size (2048)
  -T SEC           forget a client SEC seconds after its last connection (0 = only when evicted)
  -r               round robin, no client tracking
  -h               new clients by hash of their IP address
  -s               stubborn: never move a tracked client to another server
  -e HOST:PORT     emergency server, used when every backend is unavailable
  -t SEC           connect timeout (5)
  -x N             simultaneous client connections (500)
  -H               add X-Forwarded-For to HTTP/1.x requests
  -E FILE          certificate chain (PEM); enables TLS
  -K FILE          private key (PEM)
  --ocsp FILE      OCSP response (DER) to staple for -E
  --sni-dir DIR    name.pem, name.key, name.pem.ocsp per server name
  -C SOCKET        control socket: a path (mode 0600), or 127.0.0.1:PORT for TCP on loopback
                   (TCP only with --control-tcp and --control-secret: any local user can connect)
  --control-tcp    allow a TCP control socket
  --control-secret FILE  shared secret for the TCP control socket (file mode 0600)
  -p, --pidfile FILE  write the pid of this process (the one signals go to) to FILE
  -X               allow the control command "exit"
  --status H:PORT  status page, JSON and Prometheus metrics on a loopback address
  --workers N      N processes on one port (node:cluster) (1)
  --drain-timeout SEC  on SIGTERM, wait SEC seconds for open connections (30)
  --help           this text`;

/** True for 127.0.0.0/8, ::1, and `localhost`. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1' || host.startsWith('::ffff:127.');
  return false;
}

function integer(text: string | undefined, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined || !/^\d{1,15}$/.test(text)) throw new UsageError(`${what}: expected a whole number, found ${JSON.stringify(text ?? '')}`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${what}: expected ${min}..${max}, found ${n}`);
  return n;
}

/** Splits `host:rest`, `[v6]:rest` or `host` into host and the rest (without the colon). */
function splitHost(text: string): [host: string, rest: string] {
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) throw new UsageError(`unclosed [ in ${JSON.stringify(text)}`);
    const rest = text.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new UsageError(`expected : after ] in ${JSON.stringify(text)}`);
    return [text.slice(1, end), rest.slice(1)];
  }
  const colon = text.indexOf(':');
  return colon < 0 ? [text, ''] : [text.slice(0, colon), text.slice(colon + 1)];
}

/** `host:port` (both required), as for -e and --status. */
export function parseAddress(text: string, what: string): Address {
  const [host, rest] = splitHost(text);
  if (host === '' || rest === '') throw new UsageError(`${what}: expected HOST:PORT, found ${JSON.stringify(text)}`);
  return { host, port: integer(rest, `${what} port`, 0, 65535) };
}

/** `[host:]port` for the listening address; Pen listens on every interface when no host is given. */
export function parseListen(text: string): Address {
  if (/^\d+$/.test(text)) return { host: '0.0.0.0', port: integer(text, 'port', 0, 65535) };
  return parseAddress(text, 'listening address');
}

/** `host[:port[:maxc[:hard[:weight[:prio]]]]]`; the port defaults to `defaultPort`. */
export function parseBackend(text: string, defaultPort: number): BackendSpec {
  const [host, rest] = splitHost(text);
  if (host === '') throw new UsageError(`backend: no host in ${JSON.stringify(text)}`);
  const fields = rest === '' ? [] : rest.split(':');
  if (fields.length > 5) throw new UsageError(`backend: too many fields in ${JSON.stringify(text)}`);
  const field = (i: number, what: string, min = 0, max = 1_000_000) => (fields[i] === undefined || fields[i] === '' ? 0 : integer(fields[i], `backend ${what}`, min, max));
  const port = fields[0] === undefined || fields[0] === '' ? defaultPort : integer(fields[0], 'backend port', 1, 65535);
  if (port === 0) throw new UsageError(`backend ${JSON.stringify(text)}: give a port (the balancer listens on port 0)`);
  return { host, port, maxc: field(1, 'maxc'), hard: field(2, 'hard'), weight: field(3, 'weight'), prio: field(4, 'prio') };
}

/**
 * `-C` argument: a port or `host:port` means TCP, which must be on loopback; anything else is
 * a Unix socket path.
 */
export function parseControl(text: string): ControlAddress {
  if (/^\d+$/.test(text)) return { host: '127.0.0.1', port: integer(text, '-C port', 0, 65535) };
  if (/^(\[[0-9a-fA-F:.]+\]|[\w.-]+):\d+$/.test(text) && !text.includes('/')) {
    const address = parseAddress(text, '-C');
    if (!isLoopback(address.host)) throw new UsageError(`-C: a TCP control socket must be on a loopback address, found ${address.host}`);
    return address;
  }
  if (text === '') throw new UsageError('-C: empty socket path');
  return { path: text };
}

/** Parses argv (without node and script). Throws {@link UsageError}; returns null for --help. */
export function parseOptions(argv: readonly string[]): Options | null {
  const o = {
    clientsMax: 2048,
    trackingSec: 0,
    roundrobin: false,
    hash: false,
    stubborn: false,
    blacklistSec: 30,
    emergency: null as Address | null,
    timeoutSec: 5,
    connMax: 500,
    xForwardedFor: false,
    certFile: null as string | null,
    keyFile: null as string | null,
    ocspFile: null as string | null,
    sniDir: null as string | null,
    control: null as ControlAddress | null,
    controlTcp: false,
    controlSecret: null as string | null,
    pidFile: null as string | null,
    status: null as Address | null,
    workers: 1,
    allowExit: false,
    drainSec: 30,
  };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--help':
        return null;
      case '-b': o.blacklistSec = integer(value(), '-b', 0, 86_400 * 365); break;
      case '-c': o.clientsMax = integer(value(), '-c', 1, 10_000_000); break;
      case '-T': o.trackingSec = integer(value(), '-T', 0, 86_400 * 365); break;
      case '-r': o.roundrobin = true; break;
      case '-h': o.hash = true; break;
      case '-s': o.stubborn = true; break;
      case '-e': o.emergency = parseAddress(value(), '-e'); break;
      case '-t': o.timeoutSec = integer(value(), '-t', 1, 3600); break;
      case '-x': o.connMax = integer(value(), '-x', 1, 1_000_000); break;
      case '-H': o.xForwardedFor = true; break;
      case '-E': o.certFile = value(); break;
      case '-K': o.keyFile = value(); break;
      case '--ocsp': o.ocspFile = value(); break;
      case '--sni-dir': o.sniDir = value(); break;
      case '-C': o.control = parseControl(value()); break;
      case '-X': o.allowExit = true; break;
      case '--control-tcp': o.controlTcp = true; break;
      case '--control-secret': o.controlSecret = value(); break;
      case '-p':
      case '--pidfile': o.pidFile = value(); break;
      case '--status': {
        const address = parseAddress(value(), '--status');
        if (!isLoopback(address.host)) throw new UsageError(`--status: the status page shows client addresses; it listens on loopback only, found ${address.host}`);
        o.status = address;
        break;
      }
      case '--workers': o.workers = integer(value(), '--workers', 1, 256); break;
      case '--drain-timeout': o.drainSec = integer(value(), '--drain-timeout', 0, 86_400); break;
      default:
        if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
        positional.push(arg);
    }
  }
  const [listenText, ...backendTexts] = positional;
  if (listenText === undefined) throw new UsageError('missing [host:]port to listen on');
  if (backendTexts.length === 0) throw new UsageError('give at least one backend');
  const listen = parseListen(listenText);
  const backends = backendTexts.map((text) => parseBackend(text, listen.port));
  if ((o.certFile === null) !== (o.keyFile === null)) throw new UsageError('-E and -K go together');
  if (o.certFile === null && o.sniDir === null && o.ocspFile !== null) throw new UsageError('--ocsp needs -E and -K');
  const tcp = o.control !== null && !('path' in o.control);
  if (tcp && (!o.controlTcp || o.controlSecret === null)) {
    throw new UsageError(
      '-C HOST:PORT is a TCP control socket, which every local user can connect to (and with it point a backend at their own port, or make the balancer open any file): ' +
        'it needs --control-tcp and --control-secret FILE (a file of mode 0600 holding a shared secret); a Unix socket path (mode 0600) needs neither',
    );
  }
  if (!tcp && (o.controlTcp || o.controlSecret !== null)) throw new UsageError('--control-tcp and --control-secret are for a TCP control socket (-C 127.0.0.1:PORT)');
  return { ...o, listen, backends };
}

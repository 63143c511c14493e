/**
 * Control commands, Pen's names: one line in, one {@link Reply} out. Never throws: a bad
 * command is an error reply.
 */
import { describe } from './certificates.js';
import type { Balancer, ServerView } from './balancer.js';

/** The answer to one command. `text` is what balancerctl prints; `data` is the `--json` form. */
export interface Reply {
  readonly ok: boolean;
  readonly text: string;
  readonly data?: unknown;
}

/** Longest command line accepted, in bytes. */
export const MAX_COMMAND = 4096;

/** Command names, for `help`. */
export const COMMANDS = [
  'ssl_ocsp_response FILE',
  'ocsp',
  'servers',
  'server N blacklist SEC | weight W | max M | hard H | prio P | address HOST | port PORT',
  'status',
  'mode',
  'roundrobin | no roundrobin',
  'hash | no hash',
  'stubborn | no stubborn',
  'http | no http',
  'blacklist [SEC]',
  'recent [SEC]',
  'clients_max [N]',
  'conn_max [N]',
  'timeout [SEC]',
  'exit',
  'help',
];

const ok = (text: string, data?: unknown): Reply => ({ ok: true, text, data });
const fail = (text: string): Reply => ({ ok: false, text: `error: ${text}`, data: { error: text } });

function number(text: string | undefined, what: string, min: number, max: number): number | string {
  if (text === undefined || !/^\d{1,9}$/.test(text)) return `${what}: expected a whole number, found ${JSON.stringify(text ?? '')}`;
  const n = Number(text);
  return n < min || n > max ? `${what}: expected ${min}..${max}, found ${n}` : n;
}

/** One line per server, Pen-like. */
export function serverLine(s: ServerView): string {
  const name = s.emergency ? 'emergency' : String(s.index);
  const black = s.blacklisted > 0 ? ` blacklisted ${s.blacklisted}s` : '';
  return `${name} addr ${s.host} port ${s.port} conn ${s.conns} max ${s.maxc} hard ${s.hard} weight ${s.weight} prio ${s.prio} total ${s.total} failures ${s.failures} sx ${s.bytesToServer} rx ${s.bytesToClient}${black}`;
}

/**
 * Runs `line` against `balancer`. `allowExit` is -X; `exit` only answers here, the caller
 * does the exiting when the reply is ok and the command was `exit`.
 */
export async function execute(balancer: Balancer, line: string, allowExit: boolean): Promise<Reply> {
  try {
    return await run(balancer, line.trim(), allowExit);
  } catch (err) {
    return fail(`internal error: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function run(b: Balancer, line: string, allowExit: boolean): Promise<Reply> {
  if (line.length > MAX_COMMAND) return fail(`command longer than ${MAX_COMMAND} bytes`);
  const words = line.split(/\s+/).filter(Boolean);
  const [cmd, ...args] = words;
  const s = b.pool.settings;
  const setting = (name: string, get: () => number, set: (n: number) => void, min: number, max: number): Reply => {
    if (args.length > 1) return fail(`usage: ${name} [N]`);
    if (args.length === 1) {
      const n = number(args[0], name, min, max);
      if (typeof n === 'string') return fail(n);
      set(n);
    }
    return ok(String(get()), { [name]: get() });
  };
  const flag = (name: keyof typeof s | 'http', value: boolean): Reply => {
    if (args.length > 0 && !(cmd === 'no' && args.length === 1)) return fail(`${name} takes no argument`);
    if (name === 'http') b.xForwardedFor = value;
    else (s as unknown as Record<string, boolean>)[name] = value;
    return ok(`${value ? '' : 'no '}${name}`, { [name]: value });
  };
  switch (cmd) {
    case undefined:
      return fail('empty command; try help');
    case 'help':
      return ok(COMMANDS.join('\n'), { commands: COMMANDS });
    case 'ssl_ocsp_response': {
      const file = line.slice('ssl_ocsp_response'.length).trim();
      if (file === '') return fail('usage: ssl_ocsp_response FILE');
      if (!b.certificates) return fail('not a TLS balancer (no -E or --sni-dir)');
      const result = await b.certificates.setResponse(file);
      return { ok: result.ok, text: result.text, data: result };
    }
    case 'ocsp': {
      const reports = b.certificates?.reports() ?? [];
      if (reports.length === 0) return ok('no certificates', { staples: [] });
      return ok(reports.map((r) => `${r.name} ${r.certFile}: ${describe(r.status)}`).join('\n'), { staples: reports });
    }
    case 'servers': {
      const servers = b.snapshot().servers;
      return ok(servers.map(serverLine).join('\n'), { servers });
    }
    case 'server': {
      const index = number(args[0], 'server N', 0, b.pool.backends.length - 1);
      if (typeof index === 'string') return fail(index);
      const backend = b.pool.backend(index)!;
      const [, what, value] = args;
      if (args.length !== 3) return fail('usage: server N blacklist SEC | weight W | max M | hard H | prio P | address HOST | port PORT');
      const n = (min: number, max: number) => number(value, `server ${what}`, min, max);
      switch (what) {
        case 'blacklist': {
          const v = n(0, 86_400 * 365);
          if (typeof v === 'string') return fail(v);
          b.pool.blacklist(backend, v);
          break;
        }
        case 'weight':
        case 'max':
        case 'hard':
        case 'prio': {
          const v = n(0, 1_000_000);
          if (typeof v === 'string') return fail(v);
          backend[what === 'max' ? 'maxc' : what] = v;
          break;
        }
        case 'port': {
          const v = n(1, 65535);
          if (typeof v === 'string') return fail(v);
          backend.port = v;
          break;
        }
        case 'address':
          if (!/^[\w.:-]{1,253}$/.test(value!)) return fail(`server address: not a host name or IP address: ${JSON.stringify(value)}`);
          backend.host = value!;
          break;
        default:
          return fail(`server N: unknown setting ${JSON.stringify(what)}`);
      }
      const view = b.snapshot().servers[index]!;
      return ok(serverLine(view), { server: view });
    }
    case 'status': {
      const snap = b.snapshot();
      const c = snap.connections;
      const text = [
        `pid ${snap.pid}, listening on ${snap.listen}${snap.tls ? ' (TLS)' : ''}, started ${snap.startedAt}`,
        `connections: ${c.active} active, ${c.total} total, ${c.refused} refused over conn_max, ${c.failed} with no server`,
        `clients tracked: ${snap.clientsTracked} of ${snap.limits.clientsMax}`,
        ...snap.servers.map(serverLine),
        ...snap.staples.map((r) => `ocsp ${r.name}: ${describe(r.status)}`),
      ].join('\n');
      return ok(text, snap);
    }
    case 'mode': {
      if (args.length > 0) return fail('mode takes no argument');
      const m = b.snapshot().mode;
      const text = [`${m.roundrobin ? '' : 'no '}roundrobin`, `${m.hash ? '' : 'no '}hash`, `${m.stubborn ? '' : 'no '}stubborn`, `${m.xForwardedFor ? '' : 'no '}http`].join(' ');
      return ok(text, m);
    }
    case 'roundrobin':
    case 'hash':
    case 'stubborn':
      return flag(cmd, true);
    case 'http':
      return flag('http', true);
    case 'no': {
      const what = args[0];
      if (what === 'roundrobin' || what === 'hash' || what === 'stubborn' || what === 'http') return flag(what, false);
      return fail(`no: expected roundrobin, hash, stubborn or http, found ${JSON.stringify(what ?? '')}`);
    }
    case 'blacklist':
      return setting('blacklist', () => s.blacklistSec, (n) => (s.blacklistSec = n), 0, 86_400 * 365);
    case 'timeout':
      return setting('timeout', () => s.timeoutSec, (n) => (s.timeoutSec = n), 1, 3600);
    case 'conn_max':
      return setting('conn_max', () => s.connMax, (n) => (s.connMax = n), 1, 1_000_000);
    case 'clients_max':
      return setting('clients_max', () => b.pool.clientsMax, (n) => (b.pool.clientsMax = n), 1, 10_000_000);
    case 'recent': {
      const seconds = args.length === 0 ? 300 : number(args[0], 'recent', 0, 86_400 * 365);
      if (typeof seconds === 'string' || args.length > 1) return fail(typeof seconds === 'string' ? seconds : 'usage: recent [SEC]');
      const clients = b.pool.recent(seconds).map((c) => ({ ...c, lastSeen: new Date(c.lastSeen).toISOString() }));
      const text = clients.map((c) => `${c.address} server ${c.server === -1 ? 'emergency' : c.server} conn ${c.conns} total ${c.total} last ${c.lastSeen}`).join('\n');
      return ok(text || `no clients in the last ${seconds} s`, { clients });
    }
    case 'exit':
      if (!allowExit) return fail('exit is disabled; start the balancer with -X to allow it');
      return ok('exiting', { exiting: true });
    default:
      return fail(`unknown command ${JSON.stringify(cmd.slice(0, 64))}; try help`);
  }
}

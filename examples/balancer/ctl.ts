/**
 * `npm run balancerctl -- [--json] [--secret-file FILE] SOCKET COMMAND [ARGS]`: sends one control
 * command and prints the reply. Exits 1 when the balancer says the command failed, 2 on a usage
 * error, 3 when the balancer cannot be reached. SOCKET is a path, or 127.0.0.1:PORT for a TCP
 * control port, which needs --secret-file (the balancer's --control-secret file).
 */
import { readSecret, sendCommand } from './control.js';
import { parseControl, UsageError } from './options.js';

const USAGE = 'usage: npm run balancerctl -- [--json] [--secret-file FILE] SOCKET COMMAND [ARGS]   (try COMMAND help)';

const args = process.argv.slice(2);
let json = false;
let secretFile: string | null = null;
while (args[0] === '--json' || args[0] === '--secret-file') {
  if (args.shift() === '--json') json = true;
  else secretFile = args.shift() ?? null;
}
const [socket, ...command] = args;
if (socket === undefined || command.length === 0) {
  console.error(USAGE);
  process.exit(2);
}
let address;
try {
  address = parseControl(socket);
} catch (err) {
  console.error(`balancerctl: ${err instanceof UsageError ? err.message : String(err)}`);
  process.exit(2);
}
let secret: Buffer | undefined;
if (!('path' in address) && secretFile === null) {
  console.error(`balancerctl: ${socket} is a TCP control socket: give its shared secret with --secret-file FILE`);
  process.exit(2);
}
try {
  secret = secretFile === null ? undefined : readSecret(secretFile);
} catch (err) {
  console.error(`balancerctl: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
try {
  const reply = await sendCommand(address, command.join(' '), secret);
  if (json) console.log(JSON.stringify({ ok: reply.ok, ...(typeof reply.data === 'object' && reply.data !== null ? reply.data : {}), text: reply.text }, null, 2));
  else console.log(reply.text);
  process.exitCode = reply.ok ? 0 : 1;
} catch (err) {
  console.error(`balancerctl: ${socket}: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 3;
}

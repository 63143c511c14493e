/**
 * `npm run balancerctl -- [--json] SOCKET COMMAND [ARGS]`: sends one control command and prints
 * the reply. Exits 1 when the balancer says the command failed, 2 on a usage error, 3 when
 * the balancer cannot be reached. SOCKET is a path, or 127.0.0.1:PORT for a TCP control port.
 */
import { sendCommand } from './control.js';
import { parseControl, UsageError } from './options.js';

const USAGE = 'usage: npm run balancerctl -- [--json] SOCKET COMMAND [ARGS]   (try COMMAND help)';

const args = process.argv.slice(2);
const json = args[0] === '--json';
if (json) args.shift();
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
try {
  const reply = await sendCommand(address, command.join(' '));
  if (json) console.log(JSON.stringify({ ok: reply.ok, ...(typeof reply.data === 'object' && reply.data !== null ? reply.data : {}), text: reply.text }, null, 2));
  else console.log(reply.text);
  process.exitCode = reply.ok ? 0 : 1;
} catch (err) {
  console.error(`balancerctl: ${socket}: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 3;
}

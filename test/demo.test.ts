/**
 * `npm run demo` as a new user runs it: start examples/demo.ts (CA, OCSP responder, fetched
 * staple, two backends, the balancer), read the commands it prints, and run them: real curl
 * verifies the staple, balancerctl drives the balancer.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
let demo: ChildProcess | undefined;
let busy: Server | undefined;

after(() => {
  demo?.kill('SIGKILL');
  busy?.close();
});

/** Resolves with everything printed once `pattern` appears on stdout. */
function waitFor(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (pattern.test(out)) resolve(out);
    });
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`demo exited with ${code} before printing ${pattern}:\n${out}\n${err}`)));
  });
}

describe('npm run demo', () => {
  it('serves the backends through the balancer with a staple that curl --cert-status verifies, on a free port when PORT is busy, and exits cleanly on SIGTERM', async () => {
    busy = createServer().listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const busyPort = (busy.address() as { port: number }).port;

    demo = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], { env: { ...process.env, PORT: String(busyPort) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = await waitFor(demo, /^\s*curl .*$/m);
    const url = /(https:\/\/localhost:(\d+)\/)/.exec(out);
    assert.ok(url, out);
    assert.notEqual(Number(url[2]), busyPort);
    const caFile = /CA file: (\S+)/.exec(out)?.[1];
    assert.ok(caFile && existsSync(caFile), out);

    const command = /^\s*(curl .*)$/m.exec(out)![1]!;
    assert.match(command, /--cert-status/);
    const { stdout } = await run('sh', ['-c', `${command} --silent --show-error`]); // rejects unless curl exits 0
    // The page comes from a demo backend, through the balancer (which added X-Forwarded-For).
    assert.match(stdout, /^Hello from demo backend [12]\./);
    assert.match(stdout, /X-Forwarded-For .*: 127\.0\.0\.1$/m);

    // The printed control commands work as printed: the staple is reported, and a revoked
    // response is refused while the good staple stays.
    const ocsp = /^\s*(npm run -s balancerctl -- \S+ ocsp)$/m.exec(out)?.[1];
    assert.ok(ocsp, out);
    assert.match((await run('sh', ['-c', ocsp])).stdout, /^default .*: stapling until \d{4}-/);
    const refused = /^\s*(npm run -s balancerctl -- \S+ ssl_ocsp_response \S+)/m.exec(out)?.[1];
    assert.ok(refused, out);
    const failure = await run('sh', ['-c', refused]).then(
      () => assert.fail('balancerctl exited 0 for a revoked response'),
      (err: { code: number; stdout: string }) => err,
    );
    assert.equal(failure.code, 1);
    assert.match(failure.stdout, /refused ERR_OCSP_REVOKED.*the previous staple stays/);
    await run('sh', ['-c', `${command} --silent --show-error`]);

    demo.kill('SIGTERM');
    const [code] = (await once(demo, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.equal(existsSync(dirname(caFile)), false, 'the temporary directory is removed');
    demo = undefined;
  });
});

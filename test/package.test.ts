/**
 * The package as users get it. A clean copy of the source tree (what git tracks, no dist/) is
 * packed with `npm pack`, so the `prepack` build is what fills the tarball; the tarball is then
 * installed into a fresh project with an empty npm cache and --offline (the main entry has no
 * dependencies, so nothing is fetched), and used from ESM, from CommonJS (require of ESM, Node
 * >= 20.19) and from strict TypeScript: each serves a real staple over TLS.
 * The optional peers of `ocsp-stapler/testing` (pkijs, asn1js) and the TypeScript compiler are
 * linked in from this checkout's node_modules, which `npm ci` filled.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

const root = resolve(import.meta.dirname, '..');
let work: string;
let consumer: string;
let files: string[];
let installed: { dependencies?: Record<string, unknown>; peerDependencies?: Record<string, unknown> };

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false', ...env } });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`, { cause: err });
  }
}

function linkFromCheckout(name: string): void {
  const target = join(consumer, 'node_modules', name);
  mkdirSync(dirname(target), { recursive: true });
  symlinkSync(join(root, 'node_modules', name), target, 'dir');
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'ocsp-stapler-pack-'));
  const checkout = join(work, 'checkout');
  const tracked = sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], root).split('\0').filter(Boolean);
  for (const path of tracked) cpSync(join(root, path), join(checkout, path), { recursive: true, verbatimSymlinks: true });
  symlinkSync(join(root, 'node_modules'), join(checkout, 'node_modules'), 'dir');
  const emptyCache = join(work, 'npm-cache');
  const out = sh('npm', ['pack', '--json', '--pack-destination', work], checkout, { npm_config_cache: emptyCache });
  const packed = JSON.parse(out.slice(out.indexOf('\n[') + 1)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  files = packed[0]!.files.map((f) => f.path);

  consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  sh('npm', ['install', '--offline', '--no-audit', '--no-fund', join(work, packed[0]!.filename)], consumer, { npm_config_cache: emptyCache });
  installed = JSON.parse(readFileSync(join(consumer, 'node_modules', 'ocsp-stapler', 'package.json'), 'utf8')) as typeof installed;
  for (const name of ['pkijs', 'asn1js', 'typescript', '@types/node']) linkFromCheckout(name);
});
after(() => rmSync(work, { recursive: true, force: true }));

/**
 * A program, valid as JavaScript and as strict TypeScript, that writes a test PKI, serves it over
 * TLS with a staple, and prints whether the client received exactly the file's bytes.
 */
const serveOneStaple = `const dir = mkdtempSync(join(tmpdir(), 'consumer-'));
const pki = await writeTestPki(dir);
const ctx = await createStaplingContext({ certFile: pki.certFile, ocspFile: pki.ocspFile });
const server = https.createServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) });
ctx.attach(server);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const address = server.address();
const port = typeof address === 'object' && address !== null ? address.port : 0;
const got = { staple: Buffer.alloc(0) };
await new Promise((done, fail) => {
  // requestOCSP is missing from @types/node's ConnectionOptions: pass it in a variable.
  const options = { port, host: '127.0.0.1', servername: 'localhost', ca: readFileSync(pki.caFile), requestOCSP: true };
  const socket = tls.connect(options);
  socket.on('OCSPResponse', (bytes) => { got.staple = bytes; });
  socket.on('secureConnect', () => { socket.end(); done(null); });
  socket.on('error', fail);
});
console.log(got.staple.equals(readFileSync(pki.ocspFile)) ? 'stapled' : 'no staple', ctx.status().stapling);
await ctx.close();
server.close();
rmSync(dir, { recursive: true, force: true });
`;

const esm = `import https from 'node:https';
import tls from 'node:tls';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStaplingContext } from 'ocsp-stapler';
import { writeTestPki } from 'ocsp-stapler/testing';
`;

describe('the published package', () => {
  it('ships built code, types, README, CHANGELOG and LICENSE, and no tests, fixtures or sources', () => {
    for (const needed of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/testing/index.js', 'dist/testing/index.d.ts', 'dist/cli/main.js']) {
      assert.ok(files.includes(needed), `${needed} is in the tarball`);
    }
    for (const path of files) assert.doesNotMatch(path, /^(test|src|bench|examples|scripts|\.ci)\//, `${path} should not ship`);
  });

  it('installs with no runtime dependencies: pkijs and asn1js are optional peers for ocsp-stapler/testing only', () => {
    assert.equal(installed.dependencies, undefined);
    assert.deepEqual(Object.keys(installed.peerDependencies ?? {}).sort(), ['asn1js', 'pkijs']);
  });

  it('serves a staple from ESM', () => {
    writeFileSync(join(consumer, 'esm.mjs'), esm + serveOneStaple);
    assert.equal(sh('node', ['esm.mjs'], consumer).trim(), 'stapled true');
  });

  it('serves a staple from CommonJS through require()', () => {
    const cjs = `const https = require('node:https');
const tls = require('node:tls');
const { once } = require('node:events');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { createStaplingContext } = require('ocsp-stapler');
const { writeTestPki } = require('ocsp-stapler/testing');
(async () => {\n${serveOneStaple}})();`;
    writeFileSync(join(consumer, 'cjs.cjs'), cjs);
    assert.equal(sh('node', ['cjs.cjs'], consumer).trim(), 'stapled true');
  });

  it('installs the ocsp-stapler command', () => {
    const help = sh(join(consumer, 'node_modules', '.bin', 'ocsp-stapler'), ['--help'], consumer);
    for (const command of ['fetch', 'check', 'inspect']) assert.match(help, new RegExp(command));
  });

  it('type-checks under strict TypeScript and serves a staple from the compiled code', () => {
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, types: ['node'], outDir: 'out' }, files: ['use.mts'] }),
    );
    writeFileSync(
      join(consumer, 'use.mts'),
      `${esm}import { StaplingError, type StapleStatus, type StaplingErrorCode } from 'ocsp-stapler';
function onRefused(err: StaplingError): StaplingErrorCode { return err.code; }
const typed: (status: StapleStatus) => boolean = (status) => status.stapling;
void onRefused; void typed;
${serveOneStaple}`,
    );
    sh('node', [join(consumer, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], consumer);
    assert.equal(sh('node', [join('out', 'use.mjs')], consumer).trim(), 'stapled true');
  });
});

/**
 * The package as users get it: `npm pack`, installed into a fresh project from the tarball,
 * used from ESM, from CommonJS (require of ESM, Node >= 20.19) and from TypeScript.
 * Installs run with --offline: dependencies come from the npm cache that `npm ci` filled.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

const root = resolve(import.meta.dirname, '..');
let work: string;
let files: string[];

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'ocsp-stapler-pack-'));
  // --ignore-scripts: dist/ was built by `npm test`; a rebuild here would race other test files.
  const packed = JSON.parse(sh('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], root)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  files = packed[0]!.files.map((f) => f.path);
  const tarball = join(work, packed[0]!.filename);
  const devVersion = (name: string) => (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  sh('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball, `typescript@${devVersion('typescript')}`, `@types/node@${devVersion('@types/node')}`], work);
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('the published package', () => {
  it('ships built code, types, README, CHANGELOG and LICENSE, and no tests, fixtures or sources', () => {
    for (const needed of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/testing/index.js', 'dist/testing/index.d.ts']) {
      assert.ok(files.includes(needed), `${needed} is in the tarball`);
    }
    for (const path of files) assert.doesNotMatch(path, /^(test|src|bench|examples|scripts|\.ci)\//, `${path} should not ship`);
  });

  it('works from ESM', () => {
    writeFileSync(
      join(work, 'esm.mjs'),
      `import { createStaplingContext, StaplingError, renderPrometheus } from 'ocsp-stapler';
import { createTestCa } from 'ocsp-stapler/testing';
console.log(typeof createStaplingContext, typeof StaplingError, typeof renderPrometheus, typeof createTestCa);`,
    );
    assert.equal(sh('node', ['esm.mjs'], work).trim(), 'function function function function');
  });

  it('works from CommonJS through require()', () => {
    writeFileSync(join(work, 'cjs.cjs'), `const { createStaplingContext, StaplingError } = require('ocsp-stapler');\nconsole.log(typeof createStaplingContext, new StaplingError('ERR_OCSP_EMPTY', 'x').code);`);
    const out = execFileSync('node', ['cjs.cjs'], { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(out.trim(), 'function ERR_OCSP_EMPTY');
  });

  it('installs the ocsp-stapler command', () => {
    const help = sh(join(work, 'node_modules', '.bin', 'ocsp-stapler'), ['--help'], work);
    for (const command of ['fetch', 'check', 'inspect']) assert.match(help, new RegExp(command));
  });

  it('type-checks from TypeScript with tsc --noEmit', () => {
    writeFileSync(
      join(work, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, types: ['node'] }, files: ['use.mts'] }),
    );
    writeFileSync(
      join(work, 'use.mts'),
      `import https from 'node:https';
import { createStaplingContext, StaplingError, type StapleStatus, type StaplingErrorCode } from 'ocsp-stapler';
const ctx = await createStaplingContext({ certFile: 'a.pem', ocspFile: 'a.pem.ocsp' });
ctx.attach(https.createServer());
const status: StapleStatus = ctx.status();
const stapling: boolean = status.stapling;
ctx.on('refused', (err: StaplingError) => { const code: StaplingErrorCode = err.code; console.log(code, stapling); });
// @ts-expect-error: the status is read-only data
status.stapling = true;
await ctx.close();
`,
    );
    sh(join(work, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], work);
  });
});

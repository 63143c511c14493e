/**
 * The README's ten-line https example, run as written (file names and port filled in) against
 * an openssl-made certificate and staple; curl --cert-status must accept the staple.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, it } from 'node:test';
import { makePki, type Pki } from './fixtures/pki.js';

const root = resolve(import.meta.dirname, '..');
let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.remove());

function readmeExample(heading: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const at = readme.indexOf(heading);
  assert.ok(at >= 0, `README has "${heading}"`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, 'a ts block follows the heading');
  return block[1]!;
}

it("the README's https example staples a response that curl --cert-status accepts", async () => {
  const code = readmeExample('## Use it: an https server in ten lines');
  assert.ok(code.split('\n').filter((l) => l.trim()).length <= 10, 'ten lines');
  copyFileSync(pki.leaf.chain, join(pki.dir, 'site.pem'));
  copyFileSync(pki.leaf.key, join(pki.dir, 'site.key'));
  writeFileSync(join(pki.dir, 'site.pem.ocsp'), pki.respond());
  // Plain JavaScript as written; run from inside the repository so that 'ocsp-stapler' resolves to this package.
  const script = join(root, '.tmp-readme-example.mjs');
  writeFileSync(script, code.replace('server.listen(443);', "server.listen(0, '127.0.0.1', () => console.log('PORT', server.address().port));"));
  const child = spawn(process.execPath, [script], { cwd: pki.dir, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /PORT (\d+)/.exec(out);
        if (m) resolvePort(Number(m[1]));
      });
      child.once('exit', (c) => reject(new Error(`example exited with ${c}`)));
    });
    const curl = await new Promise<{ code: number; out: string }>((done) =>
      execFile('curl', ['-sS', '--cert-status', '--cacert', pki.root.cert, `https://localhost:${port}/`], (err, stdout, stderr) =>
        done({ code: err ? Number(err.code) : 0, out: stdout + stderr }),
      ),
    );
    assert.equal(curl.code, 0, curl.out);
    assert.equal(curl.out, 'hello\n');
  } finally {
    child.kill();
    rmSync(script, { force: true });
  }
});

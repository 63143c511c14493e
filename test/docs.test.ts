/** `npm run docs` builds the API site with no warnings (typedoc.json treats warnings as errors). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { it } from 'node:test';

it('typedoc renders the whole site, README code blocks included, without a warning', () => {
  const root = resolve(import.meta.dirname, '..');
  const out = mkdtempSync(join(tmpdir(), 'docs-'));
  try {
    // The same run as `npm run docs` (rendering included: highlighting warns only there), into a temp dir.
    const run = spawnSync(process.execPath, [resolve(root, 'node_modules/typedoc/bin/typedoc'), '--out', out], { cwd: root, encoding: 'utf8' });
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
    assert.doesNotMatch(`${run.stdout}${run.stderr}`, /warning/i);
    assert.ok(existsSync(join(out, 'index.html')), 'the site was written');
    assert.match(readFileSync(join(out, 'index.html'), 'utf8'), /cron\.d\/ocsp-stapler/, 'the README, with its cron block, is the front page');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

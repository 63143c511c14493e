/** `npm run docs` builds the API site with no warnings (typedoc.json treats warnings as errors). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { it } from 'node:test';

it('typedoc documents every export without a warning', () => {
  const root = resolve(import.meta.dirname, '..');
  const run = spawnSync(process.execPath, [resolve(root, 'node_modules/typedoc/bin/typedoc'), '--emit', 'none'], { cwd: root, encoding: 'utf8' });
  assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
});

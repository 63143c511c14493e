#!/usr/bin/env node
/**
 * The `ocsp-stapler` command: `fetch`, `check`, `inspect`. See `ocsp-stapler --help`.
 *
 * @packageDocumentation
 */
import { run } from './run.js';

process.exitCode = await run(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});

import { execFileSync } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/RESULTS.md */
export const RESULTS_FILE = join(dirname(dirname(fileURLToPath(import.meta.url))), 'RESULTS.md');

/** Median, quartiles and extremes of a sample. */
export interface Spread {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly q1: number;
  readonly q3: number;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** Median and spread of `values`. */
export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
  };
}

/** A number with `digits` significant decimals, no exponent. */
export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** `median (min–max)`, for tables. */
export function medianRange(s: Spread, digits = 0): string {
  return `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`;
}

/** Facts about the machine and the moment, for every result block. */
export function machine(): string {
  const cpu = cpus();
  let opensslCli = 'n/a';
  try {
    opensslCli = execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    // no openssl CLI
  }
  const load = loadavg().map((l) => l.toFixed(2)).join(', ');
  return [
    `- CPU: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores; ${Math.round(totalmem() / 2 ** 30)} GiB RAM`,
    `- Node ${process.version}, OpenSSL ${process.versions.openssl} (Node), ${opensslCli} (CLI)`,
    `- load average when the benchmark started (1, 5, 15 min): ${load}`,
  ].join('\n');
}

/** Load average now, for the end of a block (other processes share the cores). */
export function loadNow(): string {
  return loadavg().map((l) => l.toFixed(2)).join(', ');
}

/**
 * Prints a result block and appends it to bench/RESULTS.md, with the date, the machine and
 * the command that reproduces it.
 */
export async function report(title: string, command: string, startedLoad: string, body: string): Promise<void> {
  const block = [
    `### ${title}`,
    '',
    `${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} · \`${command}\``,
    '',
    startedLoad,
    `- load average when it ended: ${loadNow()}`,
    '',
    body.trim(),
    '',
    '',
  ].join('\n');
  process.stdout.write(`\n${block}`);
  let existing = '';
  try {
    existing = await readFile(RESULTS_FILE, 'utf8');
  } catch {
    // first run
  }
  if (!existing) await writeFile(RESULTS_FILE, HEADER);
  await appendFile(RESULTS_FILE, block);
}

const HEADER = `# Benchmark results

Appended by \`npm run bench\` (all) or \`npm run bench -- NAME\`; newest at the bottom. Every
comparison is measured side by side in the same run, in alternating rounds, and reported as the
median with the spread over rounds (min–max, or the interquartile range where it says so):
absolute numbers drift on shared machines, ratios much less. See bench/README.md for what each
benchmark does.

`;

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

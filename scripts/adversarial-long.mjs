#!/usr/bin/env node
/**
 * The long adversarial runs: the same test files as `npm test` (test/adversarial-*.test.ts),
 * with case counts raised through the environment. Outside `npm test`; see docs/RELIABILITY.md.
 *
 *   npm run test:long                          # the counts below
 *   npm run test:long -- --seed 7              # another seed for every generator
 *   npm run test:long -- --fuzz-verify 200000  # one count raised
 *   npm run test:long -- --only fuzz,files     # some files only
 *
 * Every count has a flag: --fuzz-verify, --fuzz-random, --fuzz-reload, --fuzz-cert, --files-storm,
 * --files-race, --clock-steps, --load-clients, --fetch-mutants, --fetch-concurrent,
 * --balancer-garbage, --balancer-control-crowd, --balancer-flood, --balancer-concurrent,
 * --balancer-resets. Reports what each test saw (its diagnostics) and exits non-zero on failure.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Flag name: [environment variable, long-run default]. */
const COUNTS = {
  'fuzz-verify': ['FUZZ_VERIFY_RUNS', 50_000],
  'fuzz-random': ['FUZZ_RANDOM_RUNS', 20_000],
  'fuzz-reload': ['FUZZ_RELOAD_RUNS', 3_000],
  'fuzz-cert': ['FUZZ_CERT_RUNS', 3_000],
  'files-storm': ['FILES_STORM_STEPS', 3_000],
  'files-race': ['FILES_RACE_RELOADS', 3_000],
  'clock-steps': ['TIME_CLOCK_STEPS', 50_000],
  'load-clients': ['TIME_LOAD_CLIENTS', 16],
  'fetch-mutants': ['FETCH_MUTANTS', 1_000],
  'fetch-concurrent': ['FETCH_CONCURRENT', 500],
  'balancer-garbage': ['BALANCER_GARBAGE', 3_000],
  'balancer-control-crowd': ['BALANCER_CONTROL_CROWD', 1_000],
  'balancer-flood': ['BALANCER_FLOOD', 20_000],
  'balancer-concurrent': ['BALANCER_CONCURRENT', 2_000],
  'balancer-resets': ['BALANCER_RESETS', 1_000],
};
const SEEDS = ['FUZZ_SEED', 'FILES_SEED', 'TIME_SEED', 'FETCH_SEED', 'BALANCER_SEED'];
const FILES = ['fuzz', 'files', 'time', 'fetch', 'balancer'];

const env = { ...process.env };
for (const [, [name, value]] of Object.entries(COUNTS)) env[name] ??= String(value);
let only = FILES;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const flag = args[i].replace(/^--/, '');
  const value = args[++i];
  if (value === undefined) usage(`--${flag} needs a value`);
  if (flag === 'seed') for (const name of SEEDS) env[name] = value;
  else if (flag === 'only') only = value.split(',');
  else if (flag in COUNTS) env[COUNTS[flag][0]] = value;
  else usage(`unknown flag --${flag}`);
  if (flag !== 'only' && !/^\d+$/.test(value)) usage(`--${flag} takes a non-negative integer`);
}
for (const name of only) if (!FILES.includes(name)) usage(`--only: no test file test/adversarial-${name}.test.ts`);

const files = only.map((name) => `test/adversarial-${name}.test.ts`);
console.log(`adversarial long run: ${files.join(' ')}`);
console.log(Object.entries(COUNTS).map(([flag, [name]]) => `  --${flag} ${env[name]}`).join('\n'));
const started = Date.now();
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=1800000', '--test-reporter=spec', ...files], {
  cwd: ROOT,
  env,
  stdio: 'inherit',
});
child.on('exit', (code, signal) => {
  console.log(`adversarial long run: ${code === 0 ? 'passed' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s`);
  process.exit(code ?? (signal ? 1 : 0));
});

function usage(message) {
  console.error(`adversarial-long: ${message}\nflags: --seed N --only ${FILES.join(',')} ${Object.keys(COUNTS).map((f) => `--${f} N`).join(' ')}`);
  process.exit(2);
}

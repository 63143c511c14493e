// 3. reload() cost (read + parse + verify) against `openssl ocsp -respin ... -CAfile` as a process.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createStaplingContext } from '../src/index.js';
import { benchPki } from './lib/fixtures.js';
import { machine, num, report, spread, type Spread } from './lib/report.js';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_RELOAD_ROUNDS ?? 25);

const iqr = (s: Spread, digits = 2) => `${num(s.median, digits)} (IQR ${num(s.q1, digits)}–${num(s.q3, digits)}, min ${num(s.min, digits)})`;

/** Runs the benchmark and appends its block to bench/RESULTS.md. */
export async function main(command: string): Promise<void> {
  const startedLoad = machine();
  const rows: string[] = [];
  for (const keyType of ['rsa', 'ec'] as const) {
    const pki = await benchPki(keyType);
    for (const signer of ['issuer', 'delegated'] as const) {
      const ocspFile = signer === 'issuer' ? pki.ocspFile : pki.delegatedOcspFile;
      const context = await createStaplingContext({ certFile: pki.certFile, ocspFile });
      if (context.status().signedBy !== signer) throw new Error(`${keyType} ${signer}: ${JSON.stringify(context.status().lastRefusal)}`);
      const opensslArgs = ['ocsp', '-respin', ocspFile, '-issuer', pki.issuerFile, '-cert', pki.leafFile, '-CAfile', pki.caFile];
      const library = async () => {
        const t = performance.now();
        await context.reload();
        return performance.now() - t;
      };
      const openssl = async () => {
        const t = performance.now();
        const { stdout, stderr } = await run('openssl', opensslArgs);
        const ms = performance.now() - t;
        if (!stderr.includes('Response verify OK') || !stdout.includes(': good')) throw new Error(`openssl did not verify ${ocspFile}: ${stderr}`);
        return ms;
      };
      await library();
      await openssl();
      const ours: number[] = [];
      const theirs: number[] = [];
      const ratios: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        let a: number;
        let b: number;
        if (round % 2 === 0) {
          a = await library();
          b = await openssl();
        } else {
          b = await openssl();
          a = await library();
        }
        ours.push(a);
        theirs.push(b);
        ratios.push(b / a);
      }
      await context.close();
      const r = spread(ratios);
      const label = `${keyType === 'ec' ? 'ECDSA P-256' : 'RSA-2048'}, ${signer === 'issuer' ? 'signed by the issuer' : 'delegated responder'}`;
      console.log(`reload ${label}: library ${num(spread(ours).median, 2)} ms, openssl ${num(spread(theirs).median, 2)} ms`);
      rows.push(`| ${label} | ${iqr(spread(ours))} | ${iqr(spread(theirs))} | **${num(r.median, 1)}×** (${num(r.min, 1)}–${num(r.max, 1)}) |`);
    }
  }
  await report('3. reload() cost against openssl ocsp', command, startedLoad, `
\`context.reload()\` on a context made by \`createStaplingContext\` (reads the file, parses it,
verifies signature, responder authorisation, CertID and times, then swaps it in), against
\`openssl ocsp -respin FILE -issuer ISSUER -cert LEAF -CAfile ROOT\` run as a process (what a cron
job that checks a response before installing it does; process start included). Both in
alternation, ${ROUNDS} rounds each after one warm-up; ms per operation; ratio = openssl / reload()
within a round (above 1: reload() is faster).

| response | reload(), ms median (IQR, min) | openssl ocsp process, ms | openssl / reload() |
|---|---|---|---|
${rows.join('\n')}
`);
}

/**
 * File faults: what a broken or hostile job can do to the OCSP response file while a server
 * reloads it. Every reload must end (no hang), end in a staple swap or a StaplingError, and the
 * staple handed out must always be a whole response that was accepted, never a part of one.
 *
 * Writers that race the reader run in a separate process, so the interleaving is real.
 */
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createStaplingContext, createStaplingRegistry, DEFAULTS, StaplingError, type StaplingContext } from '../src/index.js';
import { envInt } from './fixtures/mutate.js';
import { makePki, type Pki } from './fixtures/pki.js';

const SEED = envInt('FILES_SEED', 20261124);
const STORM_STEPS = envInt('FILES_STORM_STEPS', 300);
const RACE_RELOADS = envInt('FILES_RACE_RELOADS', 400);

let pki: Pki;
let good: Buffer;
let good2: Buffer;
let dirCount = 0;

before(() => {
  pki = makePki();
  good = pki.respond();
  good2 = pki.respond({ signer: pki.responder }); // a different size: a mix of the two is never whole
  assert.notEqual(good.length, good2.length);
});
after(() => pki.remove());

function freshDir(): string {
  const dir = join(pki.dir, `files-${++dirCount}`);
  mkdirSync(dir);
  return dir;
}

async function stapledContext(file: string, ocspFile?: string): Promise<StaplingContext> {
  const ctx = ocspFile ? await createStaplingContext({ certFile: file, ocspFile }) : await createStaplingContext({ certFile: pki.leaf.chain, ocspFile: file });
  assert.equal(ctx.status().stapling, true, JSON.stringify(ctx.status().lastRefusal));
  return ctx;
}

/** Reloads; resolves with 'ok' or the refusal code; fails on anything but a StaplingError. */
async function reloadOutcome(ctx: StaplingContext): Promise<string> {
  try {
    await ctx.reload();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof StaplingError, `reload rejected with a non-StaplingError: ${String(err)}`);
    return err.code;
  }
}

/** A node child process running `source` (an ES module) with `args`; killed in after(). */
const children: ChildProcess[] = [];
function startChild(source: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--input-type=module', '-e', source, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}
after(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

function tally(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

describe('a file rewritten in place while it is read', () => {
  it('refuses a half-written file and keeps the last good staple, then takes the finished file', async () => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = await stapledContext(file);
    // What an in-place writer (no temp file, no rename) leaves between two write() calls.
    for (const cut of [1, 100, good2.length >> 1, good2.length - 1]) {
      writeFileSync(file, good2.subarray(0, cut));
      assert.match(await reloadOutcome(ctx), /^ERR_OCSP_(MALFORMED|EMPTY)$/);
      assert.ok(ctx.stapleNow()!.equals(good), `after a cut at ${cut} bytes the old staple stays`);
    }
    writeFileSync(file, good2);
    assert.equal(await reloadOutcome(ctx), 'ok');
    assert.ok(ctx.stapleNow()!.equals(good2));
    await ctx.close();
  });

  it(`races an in-place writer in another process: ${RACE_RELOADS} reloads, only whole accepted responses are ever stapled`, async (t) => {
    const dir = freshDir();
    const file = join(dir, 'leaf.ocsp');
    writeFileSync(file, good);
    const a = join(dir, 'a.der');
    const b = join(dir, 'b.der');
    writeFileSync(a, good);
    writeFileSync(b, good2);
    // Truncate, then write the new bytes in small pieces, over and over, alternating a and b.
    const writer = startChild(
      `import { openSync, writeSync, ftruncateSync, closeSync, readFileSync } from 'node:fs';
       const [file, a, b] = process.argv.slice(1);
       const bodies = [readFileSync(a), readFileSync(b)];
       const pause = new Int32Array(new SharedArrayBuffer(4));
       for (let i = 0; ; i++) {
         const body = bodies[i % 2];
         const fd = openSync(file, 'r+');
         ftruncateSync(fd, 0);
         for (let at = 0; at < body.length; at += 97) {
           writeSync(fd, body, at, Math.min(97, body.length - at), at);
           Atomics.wait(pause, 0, 0, 1); // a slow writer: readers often meet a part of the file
         }
         closeSync(fd);
       }`,
      [file, a, b],
    );
    const ctx = await stapledContext(file);
    const outcomes = new Map<string, number>();
    let last = good;
    for (let i = 0; i < RACE_RELOADS; i++) {
      const outcome = await reloadOutcome(ctx);
      tally(outcomes, outcome);
      const staple = ctx.stapleNow();
      assert.ok(staple && (staple.equals(good) || staple.equals(good2)), 'the staple is always one whole response');
      if (outcome === 'ok') last = staple;
      assert.ok(staple.equals(last), 'and it is the last one accepted');
    }
    writer.kill('SIGKILL');
    await ctx.close();
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    assert.ok((outcomes.get('ok') ?? 0) > 0, 'some reloads saw a whole file');
  });
});

describe('a file that grows while it is read', () => {
  it('refuses a file a writer keeps appending to (trailing data, then too large), and keeps the staple', async (t) => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = await stapledContext(file);
    const appender = startChild(
      `import { appendFileSync } from 'node:fs';
       const chunk = Buffer.alloc(512, 0x41);
       const pause = new Int32Array(new SharedArrayBuffer(4));
       for (;;) {
         appendFileSync(process.argv[1], chunk);
         Atomics.wait(pause, 0, 0, 1);
       }`,
      [file],
    );
    const outcomes = new Map<string, number>();
    while (statSync(file).size === good.length) await new Promise((resolve) => setTimeout(resolve, 5));
    // Until the file passes the 64 KiB cap, and a while after.
    while (statSync(file).size < 80_000) tally(outcomes, await reloadOutcome(ctx));
    for (let i = 0; i < 20; i++) tally(outcomes, await reloadOutcome(ctx));
    appender.kill('SIGKILL');
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    assert.equal(outcomes.get('ok'), undefined, 'never accepted');
    assert.ok(outcomes.get('ERR_OCSP_TRAILING_DATA'), 'refused for trailing data while under the cap');
    assert.ok(outcomes.get('ERR_OCSP_TOO_LARGE'), 'refused as too large once past the cap');
    assert.ok(ctx.stapleNow()!.equals(good));
    await ctx.close();
  });

  it('takes a slowly written file only once it is whole: every earlier reload is refused', async () => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = await stapledContext(file);
    writeFileSync(file, '');
    // Grow it a few bytes at a time, reloading at every step, as a reader racing a slow writer would.
    for (let at = 0; at < good2.length; at += 37) {
      writeFileSync(file, good2.subarray(at, Math.min(at + 37, good2.length)), { flag: 'a' });
      const outcome = await reloadOutcome(ctx);
      if (at + 37 < good2.length) {
        assert.notEqual(outcome, 'ok', `a prefix of ${at + 37} bytes is refused`);
        assert.ok(ctx.stapleNow()!.equals(good));
      } else {
        assert.equal(outcome, 'ok');
      }
    }
    assert.ok(ctx.stapleNow()!.equals(good2));
    await ctx.close();
  });
});

describe('an unreadable file', () => {
  // Tests run as root here, and root reads a mode-000 file regardless. The honest test of
  // EACCES runs the reader as an unprivileged user: a child process with uid nobody (65534).
  it('is refused with ERR_OCSP_FILE_READ (EACCES) when the server runs as an unprivileged user, the staple stays', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to start the reader as nobody');
      return;
    }
    const dir = freshDir();
    const file = join(dir, 'leaf.ocsp');
    writeFileSync(file, good);
    chownSync(file, 65534, 65534);
    // The PKI directory is private (mkdtemp 0700); let nobody reach the certificate and the file.
    chmodSync(pki.dir, 0o755);
    chmodSync(dir, 0o777);
    for (const name of readdirSync(pki.dir)) if (name.endsWith('.pem')) chmodSync(join(pki.dir, name), 0o644);
    const script = join(dir, 'reader.mts');
    writeFileSync(
      script,
      `import { chmodSync } from 'node:fs';
       import { createStaplingContext } from ${JSON.stringify(join(import.meta.dirname, '..', 'src', 'index.ts'))};
       const [certFile, ocspFile] = process.argv.slice(2);
       const ctx = await createStaplingContext({ certFile, ocspFile });
       const before = ctx.status().stapling;
       chmodSync(ocspFile, 0o000);
       const code = await ctx.reload().then(() => 'ok', (err) => err.code + ' ' + err.found);
       console.log(JSON.stringify({ uid: process.getuid(), before, code, after: ctx.stapleNow()?.length ?? null }));
       await ctx.close();`,
    );
    const out = execFileSync(process.execPath, ['--import', 'tsx', script, pki.leaf.chain, file], {
      uid: 65534,
      gid: 65534,
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, HOME: dir, TMPDIR: dir },
    }).toString();
    const result = JSON.parse(out.trim().split('\n').pop()!) as { uid: number; before: boolean; code: string; after: number | null };
    assert.deepEqual(result, { uid: 65534, before: true, code: 'ERR_OCSP_FILE_READ EACCES', after: good.length });
  });
});

describe('the certificate file turned into a special file', () => {
  // Before the fix, reading it blocked forever (FIFO) or until memory ran out (/dev/zero), and
  // every later reload queued behind that one. Test timeouts turn a hang into a failure.
  const specials: Array<[string, (f: string) => void, RegExp]> = [
    ['a FIFO', (f) => execFileSync('mkfifo', [f]), /not a regular file; expected a regular file; found a special file/],
    ['a symlink to /dev/zero', (f) => symlinkSync('/dev/zero', f), /found a special file/],
    ['a directory', (f) => mkdirSync(f), /found a directory/],
  ];
  for (const [name, make, found] of specials) {
    it(`reload({ certificate: true }) refuses ${name} with ERR_CERT_READ at once, keeps certificate and staple, and later reloads still run`, { timeout: 20_000 }, async () => {
      const dir = freshDir();
      const certFile = join(dir, 'site.pem');
      writeFileSync(certFile, readFileSync(pki.leaf.chain));
      const ocspFile = join(dir, 'site.pem.ocsp');
      writeFileSync(ocspFile, good);
      const ctx = await stapledContext(certFile, ocspFile);
      const before = ctx.certificate;
      unlinkSync(certFile);
      make(certFile);
      await assert.rejects(ctx.reload({ certificate: true }), (err: unknown) => err instanceof StaplingError && err.code === 'ERR_CERT_READ' && found.test(err.message));
      assert.ok(ctx.certificate.equals(before));
      assert.ok(ctx.stapleNow()!.equals(good));
      writeFileSync(ocspFile, good2);
      assert.equal(await reloadOutcome(ctx), 'ok', 'the next reload is not stuck behind the refused one');
      await ctx.close();
    });

    it(`createStaplingContext rejects ${name} as certFile with ERR_CERT_READ instead of hanging`, { timeout: 20_000 }, async () => {
      const certFile = join(freshDir(), 'site.pem');
      make(certFile);
      await assert.rejects(createStaplingContext({ certFile, ocspFile: pki.file(good) }), (err: unknown) => err instanceof StaplingError && err.code === 'ERR_CERT_READ');
    });
  }
});

describe('a slow certificate file in a registry', () => {
  it('does not reorder the registry: status() lists entries in the order given, whatever loads first', async () => {
    const dir = freshDir();
    const slow = join(dir, 'slow.pem');
    // PEM readers skip text between blocks: filling the file up to the certificate file cap
    // (1 MiB) with it makes this certificate load last.
    const pem = readFileSync(pki.leaf.chain, 'utf8');
    writeFileSync(slow, pem + '#'.repeat(DEFAULTS.maxCertificateFileBytes - pem.length));
    const entries = [
      { certFile: slow, ocspFile: pki.file(good) },
      { certFile: pki.leaf2.chain, ocspFile: join(dir, 'missing.ocsp') },
      { certFile: pki.ecLeaf.chain, ocspFile: join(dir, 'missing-too.ocsp') },
    ];
    const registry = await createStaplingRegistry({ entries });
    try {
      assert.deepEqual(registry.status().map((s) => s.certFile), entries.map((e) => e.certFile));
      assert.deepEqual(registry.status().map((s) => s.stapling), [true, false, false]);
    } finally {
      await registry.close();
    }
  });
});

describe('a fault storm on one path', () => {
  /** Each fault leaves the path in a state no reload may accept; the name is for the report. */
  const faults: Record<string, (file: string) => unknown> = {
    deleted: (f) => void rmSync(f, { recursive: true, force: true }),
    directory: (f) => (rmSync(f, { recursive: true, force: true }), mkdirSync(f), writeFileSync(join(f, 'x'), good)),
    'symlink loop': (f) => (rmSync(f, { recursive: true, force: true }), symlinkSync(f, f)),
    'symlink to /dev/zero': (f) => (rmSync(f, { recursive: true, force: true }), symlinkSync('/dev/zero', f)),
    'dangling symlink': (f) => (rmSync(f, { recursive: true, force: true }), symlinkSync(`${f}.missing`, f)),
    '5 MB': (f) => (rmSync(f, { recursive: true, force: true }), writeFileSync(f, Buffer.alloc(5 * 1024 * 1024, 0x30))),
    empty: (f) => (rmSync(f, { recursive: true, force: true }), writeFileSync(f, '')),
    'half written': (f) => (rmSync(f, { recursive: true, force: true }), writeFileSync(f, good2.subarray(0, good2.length >> 1))),
    'good followed by a newline': (f) => (rmSync(f, { recursive: true, force: true }), writeFileSync(f, Buffer.concat([good2, Buffer.from('\n')]))),
    PEM: (f) => (rmSync(f, { recursive: true, force: true }), writeFileSync(f, `-----BEGIN OCSP RESPONSE-----\n${good2.toString('base64')}\n-----END OCSP RESPONSE-----\n`)),
    FIFO: (f) => (rmSync(f, { recursive: true, force: true }), execFileSync('mkfifo', [f])),
    'FIFO with a writer holding it open': (f) => {
      rmSync(f, { recursive: true, force: true });
      execFileSync('mkfifo', [f]);
      return startChild(`import { openSync } from 'node:fs'; openSync(process.argv[1], 'w'); setInterval(() => {}, 1000);`, [f]);
    },
  };
  const goods: Record<string, (f: string) => void> = {
    'good A': (f) => (rmSync(f, { recursive: true, force: true }), writeFileSync(f, good)),
    'good B': (f) => (rmSync(f, { recursive: true, force: true }), writeFileSync(f, good2)),
  };

  it(`${STORM_STEPS} seeded steps of faults and good files: every reload ends, the staple is always the last good file`, async (t) => {
    const file = join(freshDir(), 'leaf.ocsp');
    writeFileSync(file, good);
    const ctx = await stapledContext(file);
    const names = [...Object.keys(faults), ...Object.keys(goods)];
    const seen = new Map<string, number>();
    let last = good;
    const steps = fc.sample(fc.nat(names.length - 1), { seed: SEED, numRuns: STORM_STEPS });
    for (const index of steps) {
      const name = names[index]!;
      const child = name in goods ? goods[name]!(file) : faults[name]!(file);
      const outcome = await reloadOutcome(ctx);
      if (child instanceof ChildProcess) child.kill('SIGKILL');
      tally(seen, `${name}: ${outcome}`);
      if (name in goods) {
        assert.equal(outcome, 'ok', name);
        last = name === 'good A' ? good : good2;
      } else {
        assert.notEqual(outcome, 'ok', `${name} is refused`);
      }
      const staple = ctx.stapleNow();
      assert.ok(staple?.equals(last), `after "${name}" the last good staple is still handed out`);
    }
    await ctx.close();
    t.diagnostic(`steps ${steps.length}: ${JSON.stringify(Object.fromEntries([...seen].sort()))}`);
  });
});

/**
 * The fetch path cannot hang on, damage or lose the files it touches: FIFOs and devices
 * anywhere fetch reads or writes, the mode, owner and group of the file it replaces, and
 * temporary files left by killed runs.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { hostname } from 'node:os';
import type net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { StaplingError } from '../src/errors.js';
import { writeFileAtomic } from '../src/ocsp/file.js';
import { cli, CLI_ARGV, json } from './fixtures/cli.js';
import { makePki, type Pki } from './fixtures/pki.js';

let pki: Pki;
let server: http.Server;
let good: Buffer;
let n = 0;

before(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/ocsp-response' }).end(good));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  pki = makePki(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`);
  good = pki.respond();
});
after(() => {
  server.closeAllConnections();
  server.close();
  pki.remove();
});

const path = (name: string) => join(pki.dir, `${name}-${++n}`);
const fifo = () => {
  const p = path('fifo');
  execFileSync('mkfifo', [p]);
  return p;
};
const temps = (file: string) => readdirSync(join(file, '..')).filter((name) => name.startsWith(`.${file.split('/').pop()}.`) && name.endsWith('.tmp'));

describe('FIFOs and devices on the fetch path', () => {
  it('--out a FIFO: exit 2 at once (no hang despite --timeout), and the FIFO is left as it was', async () => {
    const out = fifo();
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', out, '--timeout', '2', '--json']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(String(json(r).message), /--out must be a regular file .* a FIFO/);
    assert.ok(statSync(out).isFIFO());
  });

  it('--out a device: exit 2, and /dev/null stays a device', async () => {
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', '/dev/null', '--json']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(String(json(r).message), /a device/);
    assert.ok(statSync('/dev/null').isCharacterDevice());
  });

  it('--cert or --issuer a FIFO or a device: exit 2 with ERR_CERT_READ, no hang', async () => {
    for (const args of [
      ['--cert', fifo()],
      ['--cert', pki.leaf.cert, '--issuer', fifo()],
      ['--cert', '/dev/zero'],
      ['--cert', pki.leaf.cert, '--issuer', '/dev/zero'],
    ]) {
      const r = await cli(['fetch', ...args, '--out', path('out'), '--json']);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(json(r).code, 'ERR_CERT_READ');
    }
  });

  it('the writer refuses to rename over anything but a regular file (ERR_FILE_WRITE)', async () => {
    const target = fifo();
    await assert.rejects(writeFileAtomic(target, good), (err: unknown) => err instanceof StaplingError && err.code === 'ERR_FILE_WRITE' && /a FIFO/.test(err.message));
    assert.ok(statSync(target).isFIFO());
    assert.deepEqual(temps(target), []);
  });
});

describe('the written file keeps the mode, owner and group of the one it replaces', () => {
  const root = process.getuid?.() === 0;
  it('as root: a file of nobody:nogroup, mode 0640, is replaced by one of nobody:nogroup, 0640', { skip: !root && 'needs root' }, async () => {
    const out = path('owned');
    writeFileSync(out, pki.respond({ at: '-2h' }));
    chownSync(out, 65534, 65534);
    chmodSync(out, 0o640);
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(json(r).result, 'written');
    assert.deepEqual(readFileSync(out), good);
    const st = statSync(out);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [65534, 65534, 0o640]);
  });

  it('a new file gets 0644 whatever the umask, or --mode', async () => {
    const plain = path('new');
    const strict = path('new-strict');
    for (const [out, extra, mode] of [[plain, [], 0o644], [strict, ['--mode', '0600'], 0o600]] as const) {
      const args = [...CLI_ARGV, 'fetch', '--cert', pki.leaf.chain, '--out', out, ...extra];
      const quoted = [process.execPath, ...args].map((a) => `'${a}'`).join(' ');
      // Not execFileSync: the responder runs in this process's event loop.
      await promisify(execFile)('sh', ['-c', `umask 077; exec ${quoted}`], { cwd: new URL('..', import.meta.url).pathname });
      assert.equal(statSync(out).mode & 0o7777, mode);
    }
  });
});

describe('temporary files of killed runs', () => {
  it('a SIGKILLed writer leaves its temporary file; the next clean run removes it', async () => {
    const out = path('killed');
    const big = Buffer.alloc(4 << 20, 1); // 4 MiB per write: each write takes a while
    const src = new URL('../src/ocsp/file.ts', import.meta.url).pathname;
    const script = `const { writeFileAtomic } = await import(${JSON.stringify(src)}); const b = Buffer.alloc(${big.length}, 1); for (;;) await writeFileAtomic(${JSON.stringify(out)}, b);`;
    let left: string[] = [];
    for (let attempt = 0; attempt < 30 && left.length === 0; attempt++) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'ignore', cwd: new URL('..', import.meta.url).pathname });
      // Kill it as soon as a temporary file of its own exists.
      while (child.exitCode === null && !temps(out).some((t) => t.includes(`.${child.pid}.`))) await new Promise((r) => setTimeout(r, 2));
      child.kill('SIGKILL');
      await once(child, 'exit');
      left = temps(out).filter((t) => t.includes(`.${child.pid}.`));
    }
    assert.ok(left.length > 0, 'a killed run left a temporary file');
    // Someone else's temporary file that is still being written: a live process of this host.
    const live = `.${out.split('/').pop()}.${hostname().replace(/[^A-Za-z0-9-]/g, '-')}.${process.pid}.0123456789ab.tmp`;
    writeFileSync(join(out, '..', live), 'in progress');
    // One of another host (a pod sharing the volume), two hours old.
    const old = `.${out.split('/').pop()}.other-host.1.0123456789ab.tmp`;
    writeFileSync(join(out, '..', old), 'abandoned');
    utimesSync(join(out, '..', old), new Date(Date.now() - 2 * 3_600_000), new Date(Date.now() - 2 * 3_600_000));

    // One of another host, fresh: maybe a pod writing right now, whose pid we cannot see.
    const peer = `.${out.split('/').pop()}.other-host.1.ba9876543210.tmp`;
    writeFileSync(join(out, '..', peer), 'in progress elsewhere');

    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(temps(out).sort(), [live, peer].sort(), 'the killed run\'s and the old one are gone; the live ones stay');
    assert.deepEqual(readFileSync(out), good);
  });
});

describe('writes nothing unchanged', () => {
  it('the same bytes: "unchanged", file not rewritten (same inode and mtime)', async () => {
    const out = path('same');
    writeFileSync(out, good);
    const before = statSync(out);
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(json(r).result, 'unchanged');
    const now = statSync(out);
    assert.deepEqual([now.ino, now.mtimeMs], [before.ino, before.mtimeMs]);
    assert.equal(existsSync(out), true);
  });
});

describe('symbolic links on the fetch path', () => {
  it('--out a symbolic link: the file it names is replaced (mode kept), the link stays a link', async () => {
    const shared = path('shared');
    mkdirSync(shared);
    const target = join(shared, 'site.ocsp');
    writeFileSync(target, 'old');
    chmodSync(target, 0o640);
    const link = path('site.ocsp');
    symlinkSync(target, link);
    const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', link, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(lstatSync(link).isSymbolicLink(), 'the link was replaced by a regular file');
    assert.equal(readlinkSync(link), target);
    assert.deepEqual(readFileSync(target), good);
    assert.equal(statSync(target).mode & 0o777, 0o640);
    assert.deepEqual(temps(link), []);
    assert.deepEqual(temps(target), []);
  });

  it('the writer refuses a symbolic link to nothing (ERR_FILE_WRITE), and leaves it', async () => {
    const link = path('dangling');
    symlinkSync(join(pki.dir, 'nowhere', 'site.ocsp'), link);
    await assert.rejects(writeFileAtomic(link, good), (err: unknown) => err instanceof StaplingError && err.code === 'ERR_FILE_WRITE' && /symbolic link/.test(err.message));
    assert.ok(lstatSync(link).isSymbolicLink());
  });
});

describe('fetch never replaces a newer response with an older one', () => {
  it('keeps FILE when it holds a usable response with a newer thisUpdate: exit 0, result kept, --then not run', async () => {
    const served = good;
    const out = path('held');
    const held = pki.respond();
    writeFileSync(out, held);
    good = pki.respond({ at: '-2h' }); // a replayed or CDN-cached older response
    const marker = path('then-ran');
    try {
      const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', out, '--then', `touch ${marker}`, '--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const o = json(r);
      assert.equal(o.result, 'kept');
      assert.equal(o.changed, false);
      assert.ok(Date.parse(String(o.thisUpdate)) > Date.parse(String(o.fetchedThisUpdate)));
      assert.deepEqual(readFileSync(out), held, 'FILE keeps the newer response');
      assert.equal(existsSync(marker), false, '--then did not run');
    } finally {
      good = served;
    }
  });

  it('replaces FILE when the fetched response is newer, or when FILE is for another certificate (rotation)', async () => {
    const served = good;
    try {
      for (const held of [pki.respond({ at: '-2h' }), pki.respond({ certs: [pki.leaf2] })]) {
        const out = path('replace');
        writeFileSync(out, held);
        good = pki.respond({ at: '-1h' });
        const r = await cli(['fetch', '--cert', pki.leaf.chain, '--out', out, '--json']);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(json(r).result, 'written');
        assert.deepEqual(readFileSync(out), good);
      }
    } finally {
      good = served;
    }
  });
});

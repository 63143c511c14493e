#!/usr/bin/env node
// Before `npm test`: the tests drive real tools (openssl, curl, gnutls-cli, faketime, unshare/ip,
// Debian's chromium for the balancer's status page, driven by playwright-core, Debian's firefox-esr
// and chromium as staple judges, driven by puppeteer-core, with NSS's certutil (libnss3-tools) to
// trust the test root in their profiles, and python3's http.server as a lenient backend for the
// balancer's -H smuggling corpus, and promtool (Debian's prometheus package) to check the
// metrics and the README's alert rules).
// On a Debian machine where we are root, install what is missing; elsewhere, say what to install.
import { execFileSync, spawnSync } from 'node:child_process';

const tools = { openssl: 'openssl', curl: 'curl', 'gnutls-cli': 'gnutls-bin', faketime: 'faketime', ip: 'iproute2', unshare: 'util-linux', chromium: 'chromium', 'firefox-esr': 'firefox-esr', certutil: 'libnss3-tools', python3: 'python3', promtool: 'prometheus' };
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const missing = [...new Set(Object.entries(tools).filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg))];
if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (isRoot && has('apt-get')) {
  console.log(`test-deps: installing ${missing.join(' ')} with apt-get`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  process.exit(0);
}
console.error(`test-deps: the tests need these Debian packages: ${missing.join(' ')}\n  sudo apt-get install -y ${missing.join(' ')}`);
process.exit(1);

// npm run bench [-- NAME ...]: runs every benchmark, or the ones named, in this order.
import { main as balancer } from './balancer.js';
import { main as connect } from './connect.js';
import { main as handshake } from './handshake.js';
import { main as listener } from './listener.js';
import { main as registry } from './registry.js';
import { main as reload } from './reload.js';

const BENCHMARKS: Record<string, (command: string) => Promise<void>> = {
  handshake,
  listener,
  reload,
  registry,
  balancer,
  connect,
};

const names = process.argv.slice(2);
for (const name of names) {
  if (!(name in BENCHMARKS)) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHMARKS).join(', ')}`);
    process.exit(2);
  }
}
const started = performance.now();
for (const name of names.length ? names : Object.keys(BENCHMARKS)) {
  const command = `npm run bench -- ${name}`;
  console.log(`\n== ${name} ==`);
  await BENCHMARKS[name]!(names.length ? command : `npm run bench (${command})`);
}
console.log(`\nbench: done in ${((performance.now() - started) / 1000).toFixed(0)} s; results appended to bench/RESULTS.md`);

// CPU accounting from /proc for bench/balancer.ts: what the measured processes used, to the
// nanosecond, and what the rest of the machine used meanwhile (other people's jobs on shared cores).
import { readdir, readFile } from 'node:fs/promises';

/** `root` and its descendants, found by scanning /proc once (a few ms). */
export async function processTree(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid);
      if (list) list.push(Number(name));
      else children.set(ppid, [Number(name)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU used so far by some processes: on-CPU ns of every live thread (schedstat), and user/system ms of each process (stat, 10 ms ticks, dead threads included). */
export interface CpuSample {
  readonly ns: number;
  readonly userMs: number;
  readonly systemMs: number;
}

// Linux USER_HZ: /proc/PID/stat and /proc/stat count in 1/100 s on every mainstream kernel.
const TICK_MS = 10;

/** What `pids` have used so far. */
export async function cpuOf(pids: readonly number[]): Promise<CpuSample> {
  let ns = 0;
  let userMs = 0;
  let systemMs = 0;
  for (const pid of pids) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      userMs += Number(f[11]) * TICK_MS;
      systemMs += Number(f[12]) * TICK_MS;
      for (const tid of await readdir(`/proc/${pid}/task`)) {
        const sched = await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '0');
        ns += Number(sched.split(' ')[0]);
      }
    } catch {
      // exited meanwhile
    }
  }
  return { ns, userMs, systemMs };
}

/** The difference of two samples. */
export function cpuDelta(a: CpuSample, b: CpuSample): CpuSample {
  return { ns: b.ns - a.ns, userMs: b.userMs - a.userMs, systemMs: b.systemMs - a.systemMs };
}

/** Busy CPU time of the whole machine so far, ms (all cores; /proc/stat, 10 ms ticks), and the core count. */
export async function machineBusyMs(): Promise<{ busyMs: number; cores: number }> {
  const text = await readFile('/proc/stat', 'utf8');
  const lines = text.split('\n');
  const f = lines[0]!.split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is inside user already)
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
  return { busyMs: busy * TICK_MS, cores: lines.filter((l) => /^cpu\d/.test(l)).length };
}

/** /proc/loadavg: the 1-minute load and the runnable/total task counts at this instant. */
export async function loadNow(): Promise<{ load1: number; runnable: number }> {
  const [l1, , , tasks] = (await readFile('/proc/loadavg', 'utf8')).split(' ');
  return { load1: Number(l1), runnable: Number(tasks!.split('/')[0]) };
}

// Summarises a V8 .cpuprofile (from node --cpu-prof): self time by function and by area.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one function or area, as a share of all samples. */
export interface ProfileLine {
  readonly name: string;
  readonly share: number;
}

/** Where an URL's code comes from. */
function area(url: string, functionName: string): string {
  if (!url) {
    if (functionName === '(garbage collector)') return 'garbage collector';
    if (functionName === '(idle)') return 'idle (waiting for I/O)';
    if (functionName === '(program)') return 'native, outside JS (OpenSSL handshakes and crypto, libuv, V8)';
    return `native: ${functionName || '(anonymous)'}`;
  }
  if (url.startsWith('node:')) {
    if (/tls|crypto|_tls_/.test(url)) return 'Node TLS layer (node:_tls_wrap, node:tls)';
    if (/net|stream|_stream/.test(url)) return 'Node net and streams';
    return 'other Node internals';
  }
  if (url.includes('/dist/')) return 'ocsp-stapler library (dist/)';
  if (url.includes('balancer')) return 'balancer example code';
  return 'other JS';
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*\/(node_modules|dist|examples)\//, '$1/').replace(/^file:\/\/.*\//, '');
}

/**
 * The top `limit` functions by self time, and self time grouped by area, as shares of the busy
 * (non-idle) time; `idleShare` is the idle share of all samples.
 */
export function summariseProfile(json: string, limit = 15): { idleShare: number; functions: ProfileLine[]; areas: ProfileLine[] } {
  const profile = JSON.parse(json) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfTime = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let total = 0;
  let idle = 0;
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const [id, t] of selfTime) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (!url && functionName === '(idle)') {
      idle += t;
      continue;
    }
    total += t;
    const key = url ? `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}` : functionName;
    byFunction.set(key, (byFunction.get(key) ?? 0) + t);
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + t);
  }
  const lines = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([name, t]) => ({ name, share: t / total }));
  return { idleShare: idle / (idle + total), functions: lines(byFunction).slice(0, limit), areas: lines(byArea).filter((l) => l.share >= 0.001) };
}

// Flame graphs from V8's .cpuprofile (node --cpu-prof), drawn without a dependency, and
// the frames that spend the most self time. Idle time is left out: the graph is where the
// CPU went. `node dist/bench/flame.js IN.cpuprofile OUT.svg [title]` renders one.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

interface Frame {
  name: string;
  selfMs: number;
  totalMs: number;
  children: Frame[];
}

/** "file.js:12" relative to the project (dist/…) or its package (node_modules/…). */
function where(url: string, line: number): string {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const i = path.lastIndexOf('node_modules/');
  const short =
    i >= 0
      ? path.slice(i + 'node_modules/'.length)
      : path.includes('/dist/')
        ? path.slice(path.indexOf('/dist/') + 1)
        : path;
  return `${short}:${line + 1}`;
}

const label = (n: ProfileNode) => {
  const at = where(n.callFrame.url, n.callFrame.lineNumber);
  return `${n.callFrame.functionName || '(anonymous)'}${at ? ` ${at}` : ''}`;
};

/** The call tree with milliseconds per frame, (idle) left out. */
export function callTree(p: CpuProfile): Frame {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const hits = p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
  const msPerHit = hits > 0 ? (p.endTime - p.startTime) / 1000 / hits : 0;
  const build = (n: ProfileNode): Frame => {
    const children = (n.children ?? [])
      .map((id) => byId.get(id))
      .filter((c): c is ProfileNode => c !== undefined && c.callFrame.functionName !== '(idle)')
      .map(build);
    const selfMs = (n.hitCount ?? 0) * msPerHit;
    return { name: label(n), selfMs, totalMs: selfMs + children.reduce((a, c) => a + c.totalMs, 0), children };
  };
  const root = p.nodes[0];
  if (!root) throw new Error('the profile has no nodes');
  return { ...build(root), name: 'all (idle left out)' };
}

/** Frames by self time, summed over every call site, largest first. */
export function topSelf(p: CpuProfile, n = 15): Array<{ frame: string; ms: number; share: number }> {
  const tree = callTree(p);
  const self = new Map<string, number>();
  const walk = (f: Frame) => {
    self.set(f.name, (self.get(f.name) ?? 0) + f.selfMs);
    f.children.forEach(walk);
  };
  walk(tree);
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([frame, ms]) => ({ frame, ms, share: ms / Math.max(1e-9, tree.totalMs) }));
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function colour(name: string): string {
  if (name.includes('dist/src/')) return '#e8743b'; // leaseguard's own code
  if (/^\((garbage collector|program)\)/.test(name)) return '#9e9e9e';
  if (name.includes('node:') || !name.includes(' ')) return '#5aa469'; // Node.js itself, native frames
  return '#4e8fd6'; // dependencies
}

/** An SVG flame graph: callers below, callees above, width = share of CPU time. */
export function renderFlame(p: CpuProfile, title: string): string {
  const tree = callTree(p);
  const width = 1200;
  const row = 16;
  const minMs = tree.totalMs / 2000; // narrower than ~0.6 px: left out
  const rects: string[] = [];
  let depthMax = 0;
  const place = (f: Frame, x: number, depth: number) => {
    depthMax = Math.max(depthMax, depth);
    const w = (f.totalMs / tree.totalMs) * width;
    rects.push(
      `<g><title>${esc(f.name)}: ${f.totalMs.toFixed(0)} ms, ${((f.totalMs / tree.totalMs) * 100).toFixed(1)}% (self ${f.selfMs.toFixed(0)} ms)</title>` +
        `<rect x="${x.toFixed(1)}" y="${-depth * row}" width="${Math.max(0.5, w - 0.3).toFixed(1)}" height="${row - 1}" fill="${colour(f.name)}"/>` +
        (w > 40
          ? `<text x="${(x + 3).toFixed(1)}" y="${-depth * row + 11}">${esc(f.name.slice(0, Math.floor(w / 6.5)))}</text>`
          : '') +
        '</g>',
    );
    let cx = x;
    for (const c of [...f.children].sort((a, b) => a.name.localeCompare(b.name))) {
      if (c.totalMs >= minMs) place(c, cx, depth + 1);
      cx += (c.totalMs / tree.totalMs) * width;
    }
  };
  place(tree, 0, 0);
  const top = 40;
  const height = top + (depthMax + 1) * row + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="monospace" font-size="10">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="4" y="16" font-size="13" font-family="sans-serif">${esc(title)}</text>`,
    `<text x="4" y="32" font-family="sans-serif" fill="#555">${tree.totalMs.toFixed(0)} ms of CPU sampled; orange: leaseguard, blue: dependencies, green: Node.js, grey: GC and native. Hover for times.</text>`,
    `<g transform="translate(0 ${top + depthMax * row})">`,
    ...rects,
    '</g>',
    '</svg>',
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [input, output, title] = process.argv.slice(2);
  if (!input || !output) {
    process.stderr.write('usage: node dist/bench/flame.js IN.cpuprofile OUT.svg [title]\n');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(input, 'utf8')) as CpuProfile;
  writeFileSync(output, renderFlame(profile, title ?? input));
  for (const t of topSelf(profile))
    process.stdout.write(`${(t.share * 100).toFixed(1).padStart(5)}%  ${t.ms.toFixed(0).padStart(6)} ms  ${t.frame}\n`);
}

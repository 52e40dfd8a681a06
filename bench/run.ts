// `npm run bench`: what a guarded create costs beside its floor, in one run, as ratios
// with verdicts against the targets; writes bench/RESULTS.md. The default is the run to
// trust (rounds of 60 s open-loop cells after a warm-up); --quick is for development.
// Flags: --quick, --rounds N, --cpu-prof (profile the replicas, flame graphs into
// bench/profiles/), --part alone|creates (one part only), --out FILE, --scale
// (bench/scale.ts: 100,000 live Leases).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ControlPlane } from '../test/harness/control-plane.js';
import { CONTROL_PLANE_ENV } from '../test/harness/integration-env.js';
import { ROOT } from '../test/harness/paths.js';
import { renderFlame, topSelf, type CpuProfile } from './flame.js';
import { stopChildrenOnSignal } from './children.js';
import { benchGuardedCreates, MODES, type Cell, type Idle, type Point } from './guarded-create.js';
import { spread, show } from './stats.js';
import { targets, type Target } from './targets.js';
import { benchWebhookAlone, type AloneRow } from './webhook-alone.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    out: { type: 'string' },
    scale: { type: 'boolean', default: false },
    long: { type: 'boolean', default: false },
    part: { type: 'string' },
  },
});

const started = Date.now();
const progress = (s: string) =>
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${s}\n`);

const quick = values.quick;
const settings = {
  rounds: Number(values.rounds ?? (quick ? 2 : 3)),
  warmupMs: quick ? 2000 : 15_000,
  openCellMs: quick ? 8000 : 60_000,
  closedCellMs: quick ? 8000 : 30_000,
  aloneCellMs: quick ? 5000 : 30_000,
  aloneWarmupMs: quick ? 1000 : 5000,
  idleMs: quick ? 5000 : 20_000,
};
const POINTS: Point[] = [
  { name: '50/s, 3 replicas', replicas: 3, rate: 50 },
  { name: '16 clients, 1 replica', replicas: 1, clients: 16 },
  // Lease format 2 (one annotation; the shipped default stays 1 until every replica reads 2).
  { name: '16 clients, 1 replica, Lease format 2', replicas: 1, clients: 16, env: { LEASEGUARD_LEASE_FORMAT: '2' } },
];
const ALONE_CLIENTS = 16;

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function pointTable(cells: Cell[], point: Point): string[] {
  const of = (mode: string) => cells.filter((c) => c.point === point.name && c.mode === mode);
  const procs = [...new Set(cells.filter((c) => c.point === point.name).flatMap((c) => Object.keys(c.cpuMs)))];
  const replicas = procs.filter((p) => p.startsWith('replica'));
  const lines = [
    `| mode | creates/s | p50 ms | p95 ms | p99 ms | CPU ms/create: all | ${procs.join(' | ')} | event-loop delay p99 / max ms (${replicas.join(', ')}) | not created |`,
    `|---|${'---:|'.repeat(5 + procs.length)}---|---:|`,
  ];
  for (const mode of MODES) {
    const cs = of(mode);
    if (cs.length === 0) continue;
    const col = (f: (c: Cell) => number, d = 2) => show(spread(cs.map(f)), d);
    const cpu = procs.map((p) => (cs.some((c) => p in c.cpuMs) ? col((c) => c.cpuMs[p] ?? NaN) : ''));
    const lag =
      mode === 'leaseguard'
        ? replicas
            .map((_, i) => `${col((c) => c.lag[i]?.p99 ?? NaN, 1)} / ${col((c) => c.lag[i]?.max ?? NaN, 1)}`)
            .join('; ')
        : '';
    const failed = cs.reduce(
      (a, c) =>
        a +
        Object.entries(c.result.outcomes)
          .filter(([k]) => k !== 'created')
          .reduce((x, [, n]) => x + n, 0),
      0,
    );
    lines.push(
      `| ${mode} | ${col((c) => c.result.throughput, 0)} | ${col((c) => c.result.p50)} | ${col((c) => c.result.p95)} | ${col((c) => c.result.p99)} | ${col((c) => Object.values(c.cpuMs).reduce((a, b) => a + b, 0))} | ${cpu.join(' | ')} | ${lag} | ${failed} |`,
    );
  }
  return lines;
}

function aloneTable(rows: AloneRow[]): string[] {
  const lines = [
    '| server | admissions/s | p50 ms | p99 ms | CPU µs/admission | not allowed |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const server of ['no-op', 'leaseguard'] as const) {
    const rs = rows.filter((r) => r.server === server);
    const col = (f: (r: AloneRow) => number, d = 2) => show(spread(rs.map(f)), d);
    lines.push(
      `| ${server === 'no-op' ? 'no-op koa handler' : 'leaseguard (in-process store)'} | ${col((r) => r.result.throughput, 0)} | ${col((r) => r.result.p50)} | ${col((r) => r.result.p99)} | ${col((r) => r.cpuMicros, 0)} | ${rs.reduce((a, r) => a + r.result.requests - (r.result.outcomes.allowed ?? 0), 0)} |`,
    );
  }
  return lines;
}

const verdictLine = (t: Target) =>
  `- ${t.name}: ${show(t.value)} ${t.unit} (target ${t.target}): **${t.value.n === 0 ? 'not measured' : t.met ? 'met' : 'not met'}**`;

/** Each replica's profile as an SVG flame graph in bench/profiles/, with its top self-time frames. */
async function renderProfiles(dir: string): Promise<string[]> {
  const outDir = join(ROOT, 'bench/profiles');
  await mkdir(outDir, { recursive: true });
  const lines: string[] = [];
  for (const point of readdirSync(dir)) {
    for (const replica of readdirSync(join(dir, point))) {
      for (const file of readdirSync(join(dir, point, replica)).filter((f) => f.endsWith('.cpuprofile'))) {
        const profile = JSON.parse(readFileSync(join(dir, point, replica, file), 'utf8')) as CpuProfile;
        const name = `${point}-${replica}.svg`;
        await writeFile(
          join(outDir, name),
          renderFlame(
            profile,
            `leaseguard ${replica}, ${point.replace(/-/g, ' ').trim()}: the whole run (startup, warm-ups, all three modes' cells)`,
          ),
        );
        lines.push('', `[${name}](profiles/${name}): top self time`, '', '| share | ms | frame |', '|---:|---:|---|');
        for (const t of topSelf(profile, 12))
          lines.push(`| ${(t.share * 100).toFixed(1)}% | ${t.ms.toFixed(0)} | \`${t.frame}\` |`);
      }
    }
  }
  return lines;
}

async function main(): Promise<void> {
  const interrupted = stopChildrenOnSignal(progress);
  if (values.scale) {
    await (await import('./scale.js')).runScale();
    return;
  }
  if (values.long) throw new Error('--long is gone: the default run is the long one (--quick for development)');
  const out = values.out ?? join(ROOT, 'bench/RESULTS.md');
  const dir = await mkdtemp(join(tmpdir(), 'leaseguard-bench-'));
  const profDir = values['cpu-prof'] ? join(dir, 'profiles') : undefined;
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no', '--', 'src', 'bench', 'test/harness']) !== '';
  const loadBefore = loadavg();
  progress(`logs and certificates in ${dir}; load average ${loadBefore}`);

  progress(
    `part 1: the webhook alone, new keys, ${ALONE_CLIENTS} clients (no-op koa handler vs leaseguard, in-process store)`,
  );
  const alone =
    values.part === 'creates'
      ? []
      : await benchWebhookAlone({
          dir,
          concurrency: ALONE_CLIENTS,
          rounds: settings.rounds,
          warmupMs: settings.aloneWarmupMs,
          durationMs: settings.aloneCellMs,
          progress,
          ...(profDir ? { cpuProfDir: join(profDir, 'webhook-alone', 'leaseguard') } : {}),
        });

  if (values.part !== 'alone') progress('part 2: CREATEs through a real kube-apiserver');
  const cp = values.part === 'alone' ? undefined : await ControlPlane.start((s) => progress(s));
  if (cp) interrupted.also(() => rm(cp.info.dir, { recursive: true, force: true }));
  let cells: Cell[] = [];
  let idle: Idle[] = [];
  if (cp)
    try {
      const infoFile = join(cp.info.dir, 'control-plane.json');
      await writeFile(infoFile, JSON.stringify(cp.info));
      process.env[CONTROL_PLANE_ENV] = infoFile;
      ({ cells, idle } = await benchGuardedCreates({
        cp,
        points: POINTS,
        rounds: settings.rounds,
        warmupMs: settings.warmupMs,
        cellMs: settings.openCellMs,
        closedCellMs: settings.closedCellMs,
        idleMs: settings.idleMs,
        ...(profDir ? { cpuProfDir: profDir } : {}),
        progress,
      }));
    } finally {
      await cp.stop();
    }
  const loadAfter = loadavg();
  const results = targets(cells, alone, POINTS);
  const cpu = cpus();
  const flags = [
    ...(quick ? ['--quick'] : []),
    ...(values.rounds ? ['--rounds', values.rounds] : []),
    ...(values['cpu-prof'] ? ['--cpu-prof'] : []),
  ];
  const command = `npm run bench${flags.length ? ` -- ${flags.join(' ')}` : ''}`;
  const md = [
    '# leaseguard benchmark results',
    '',
    `Measured on commit \`${commit}\`${dirty ? ' (with uncommitted changes)' : ''}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, with \`${command}\` on ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), Node.js ${process.version}; load average ${loadBefore} before, ${loadAfter} after (other work shares this machine).`,
    '',
    `${settings.rounds} rounds; each round runs every mode once, in alternating order. Each cell: ${settings.warmupMs / 1000} s warm-up, then ${settings.openCellMs / 1000} s measured (open loop) or ${settings.closedCellMs / 1000} s (closed loop). Figures are the median over rounds with the spread (min–max) in brackets. CPU: each process's user + system time from /proc/<pid>/stat over the measured cell, divided by the creates it completed. Event-loop delay: P99 of \`leaseguard_event_loop_delay_seconds\` (a timer every 100 ms, how late it ran) over the cell, from the histogram's buckets read at its start and end; max from prom-client's monitor (\`leaseguard_nodejs_eventloop_lag_max_seconds\`), reset at the cell's start.`,
    '',
    '## Targets',
    '',
    ...results.map(verdictLine),
    '',
    '## 1. The webhook alone, new keys',
    '',
    `POST /validate with a WorkflowExecution CREATE, every request a new key (each takes a Lease in the in-process store), ${ALONE_CLIENTS} closed-loop clients over keep-alive HTTPS, ${settings.aloneCellMs / 1000} s cells after a ${settings.aloneWarmupMs / 1000} s warm-up. CPU: the server process's, per admission.`,
    '',
    ...aloneTable(alone),
    '',
    '## 2. CREATEs through kube-apiserver',
    '',
    "WorkflowExecution CREATEs by a controller identity over keep-alive HTTPS, new keys. Modes: no webhook; the floor (the client writes a Lease for the key as leaseguard's identity, then the object); leaseguard with the Kubernetes store and production defaults (validating webhook only, the Deployment's memory settings), its replicas behind one round-robin TCP forwarder. One replica set at a time (the point's), started before its rounds.",
    '',
  ];
  for (const point of POINTS) {
    md.push(
      `### ${point.name} (${point.rate !== undefined ? `open loop, latency from each request's scheduled time` : 'closed loop: each client sends its next create when the last is answered'})`,
      '',
      ...pointTable(cells, point),
      '',
    );
    const still = idle.find((i) => i.point === point.name);
    if (still)
      md.push(
        `With no load, before the rounds (${settings.idleMs / 1000} s), CPU ms per second: ${Object.entries(
          still.cpuMsPerSecond,
        )
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join(', ')}.`,
        '',
      );
  }
  if (profDir)
    md.push(
      '## Profiles',
      '',
      'Each replica ran with `node --cpu-prof`; the flame graphs leave idle time out.',
      ...(await renderProfiles(profDir)),
      '',
    );
  md.push(`Total run time: ${((Date.now() - started) / 1000).toFixed(0)} s.`, '');
  await writeFile(out, md.join('\n'));
  progress(`results written to ${out}`);
  process.stdout.write(
    `Targets (${command}, commit ${commit}${dirty ? '+changes' : ''}):\n${results.map(verdictLine).join('\n')}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`[bench] failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);

// `npm run bench`: what leaseguard costs a CREATE, beside its baselines, in one run.
// Writes bench/RESULTS.md. Flags: --long (3× longer cells, more concurrency levels),
// --quick (short cells, no 10,000-Lease part), --cpu-prof DIR (profile the webhook-alone
// leaseguard process), --out FILE.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ControlPlane } from '../test/support/control-plane.js';
import { ROOT } from '../test/support/paths.js';
import { ms, rate, type LoadResult } from './load.js';
import { benchThroughApiserver, deploymentMemoryEnv, type ApiserverResults, type Scenario } from './through-apiserver.js';
import { benchWebhookAlone, type AloneRow } from './webhook-alone.js';

const { values } = parseArgs({
  options: {
    long: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench/RESULTS.md') },
    'skip-apiserver': { type: 'boolean', default: false },
  },
});

const started = Date.now();
const progress = (s: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${s}\n`);
const cellMs = values.quick ? 1500 : values.long ? 9000 : 3000;

function cells(r: LoadResult): string {
  return `${rate(r.throughput)} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)}`;
}

function pairs(rows: AloneRow[], open: boolean): Array<{ keys: string; load: number; noop: AloneRow; lg: AloneRow }> {
  const out = [];
  for (const lg of rows) {
    const load = open ? lg.rate : lg.concurrency;
    if (lg.server !== 'leaseguard' || load === undefined) continue;
    const noop = rows.find((r) => r.server === 'no-op' && r.keys === lg.keys && (open ? r.rate : r.concurrency) === load);
    if (noop) out.push({ keys: lg.keys, load, noop, lg });
  }
  return out;
}

function aloneTables(rows: AloneRow[]): string {
  const out = [
    'Closed loop: each client sends its next request when the last is answered, so this finds the most each server sustains. CPU: the server process\'s CPU time (all threads) per admission, the cost with the machine\'s noise mostly taken out.',
    '',
    '| keys | concurrency | no-op req/s | p50 | p95 | p99 | CPU µs | leaseguard req/s | p50 | p95 | p99 | CPU µs | throughput vs no-op |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { keys, load, noop, lg } of pairs(rows, false)) {
    out.push(`| ${keys} | ${load} | ${cells(noop.result)} | ${noop.cpuMicros.toFixed(0)} | ${cells(lg.result)} | ${lg.cpuMicros.toFixed(0)} | ${((lg.result.throughput / noop.result.throughput) * 100).toFixed(0)}% |`);
  }
  const open = pairs(rows, true);
  if (open.length > 0) {
    out.push(
      '',
      'Open loop: admissions at a fixed rate whatever the answers (latency from each request\'s scheduled time), the latency at a moderate load.',
      '',
      '| keys | admissions/s | no-op p50 | p95 | p99 | leaseguard p50 | p95 | p99 | not sent (overloaded) |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const { keys, load, noop, lg } of open) {
      const p = (r: LoadResult) => `${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)}`;
      out.push(`| ${keys} | ${load} | ${p(noop.result)} | ${p(lg.result)} | ${(lg.result.outcomes.overloaded ?? 0) + (noop.result.outcomes.overloaded ?? 0)} |`);
    }
  }
  return out.join('\n');
}

function apiserverTables(r: ApiserverResults): string {
  const floorP95 = (c: number) => r.floor.find((f) => f.concurrency === c)?.result.p95 ?? NaN;
  const lines: string[] = [];
  lines.push('Floor: one plain Lease create by leaseguard\'s identity, same API server, same run.', '');
  lines.push('| concurrency | Lease creates/s | p50 ms | p95 ms | p99 ms |', '|---:|---:|---:|---:|---:|');
  for (const f of r.floor) lines.push(`| ${f.concurrency} | ${cells(f.result)} |`);
  lines.push('');
  lines.push('| keys | concurrency | scenario | creates/s | p50 ms | p95 ms | p99 ms | added p95 vs no webhook | added p95 vs no-op webhook | added p95 / Lease-create p95 | outcomes |');
  lines.push('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const row of r.rows) {
    const base = (s: Scenario) => r.rows.find((x) => x.keys === row.keys && x.concurrency === row.concurrency && x.scenario === s)?.result;
    const none = base('no webhook');
    const noop = base('no-op webhook');
    const lg = row.scenario.startsWith('leaseguard');
    const addNone = lg && none ? row.result.p95 - none.p95 : NaN;
    const addNoop = lg && noop ? row.result.p95 - noop.p95 : NaN;
    const ratio = lg ? addNone / floorP95(row.concurrency) : NaN;
    const outcomes = Object.entries(row.result.outcomes).map(([k, v]) => `${k} ${v}`).join(', ');
    lines.push(
      `| ${row.keys} | ${row.concurrency} | ${row.scenario} | ${cells(row.result)} | ${lg ? ms(addNone) : ''} | ${lg ? ms(addNoop) : ''} | ${lg ? ratio.toFixed(2) : ''} | ${outcomes} |`,
    );
  }
  lines.push('', 'Correctness under load: live objects per key after every cell above ("hot" cells send every CREATE for one key).', '');
  lines.push('| scenario | objects | keys | keys with duplicates |', '|---|---:|---:|---:|');
  for (const [s, d] of Object.entries(r.duplicates)) lines.push(`| ${s} | ${d.objects} | ${d.keys} | ${d.duplicateKeys} |`);
  const failures = Object.entries(r.lockFailures);
  const total = r.rows.filter((x) => x.scenario.startsWith('leaseguard')).reduce((a, x) => a + x.result.requests, 0);
  const failed = failures.reduce((a, [, n]) => a + n, 0);
  lines.push('', `Lock failures (leaseguard answers other than created or 409): ${failed} of ${total} CREATEs (${((failed / Math.max(1, total)) * 100).toFixed(3)}%)${failed ? `: ${failures.map(([k, n]) => `${k} ${n}`).join(', ')}` : ''}.`);
  if (r.memory) {
    const m = r.memory;
    lines.push('', `### A replica holding ${m.leases} live Leases (leaseguard ×3)`, '', `Replicas run with the Deployment's memory settings: ${Object.entries(deploymentMemoryEnv()).map(([k, v]) => `\`${k}=${v}\``).join(', ')}.`, '');
    lines.push('| measure | value |', '|---|---:|');
    lines.push(`| creating them through leaseguard (32 concurrent) | ${m.createSeconds.toFixed(1)} s |`);
    lines.push(`| until the leader had bound them all | ${m.bindSeconds.toFixed(1)} s more |`);
    lines.push(`| leader resident memory after 15 s idle (it watches every guarded object in the cluster and holds ${m.leases} Leases) | ${m.leaderRssMb.toFixed(0)} MB |`);
    lines.push(`| leader JS heap used | ${m.leaderHeapMb.toFixed(0)} MB |`);
    lines.push(`| follower resident memory after 15 s idle (admission only) | ${m.followerRssMb.toFixed(0)} MB |`);
    lines.push(`| one sweep: list every Lease page by page, queue those that need work | ${(m.sweepSeconds * 1000).toFixed(0)} ms |`);
    lines.push(`| API calls per sweep interval (10 s), all Leases healthy | ${m.sweepApiCalls.toFixed(0)} |`);
    lines.push(`| leader CPU per sweep interval (10 s) | ${(m.sweepCpuSeconds * 1000).toFixed(0)} ms |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'leaseguard-bench-'));
  const cpu = cpus();
  const header = [
    '# leaseguard benchmark results',
    '',
    `Run ${new Date().toISOString().slice(0, 10)} with \`npm run bench${values.long ? ' -- --long' : values.quick ? ' -- --quick' : ''}\` on ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), Node.js ${process.version}. `,
    `Each cell runs ${cellMs / 1000} s after a 0.3 s warm-up; latencies in milliseconds. Closed-loop cells find the most a server sustains; open-loop cells (a fixed rate) show latency at a given load.`,
    'Server and load generator share the machine, so absolute numbers are modest; the comparisons are side by side in one run.',
    '',
  ];
  progress(`logs and certificates in ${dir}`);

  progress('part 1: the webhook alone over keep-alive HTTPS (no-op koa handler vs leaseguard, in-process store)');
  const alone = await benchWebhookAlone({
    dir,
    concurrencies: values.long ? [1, 8, 32, 128] : [1, 16, 64],
    rates: values.long ? [500, 2000, 5000] : [1000, 4000],
    durationMs: cellMs,
    progress,
    ...(values['cpu-prof'] ? { cpuProfDir: values['cpu-prof'] } : {}),
  });
  const sections = [
    ...header,
    '## 1. The webhook alone',
    '',
    'POST /validate with a WorkflowExecution CREATE. "distinct": every request a new key (each takes a Lease); "hot": every request the same key (one allowed, the rest busy denials).',
    '',
    aloneTables(alone),
  ];

  if (!values['skip-apiserver']) {
    progress('part 2: CREATEs through a real kube-apiserver');
    const cp = await ControlPlane.start((s) => progress(s));
    try {
      const api = await benchThroughApiserver({
        cp,
        dir,
        concurrencies: values.long ? [1, 8, 32] : [1, 16],
        durationMs: values.quick ? 1500 : values.long ? 9000 : 4000,
        memoryLeases: values.quick ? 0 : 10_000,
        progress,
      });
      sections.push(
        '',
        `## 2. CREATEs through kube-apiserver ${api.version}`,
        '',
        'WorkflowExecution CREATEs by a controller identity over keep-alive HTTPS, in four namespaces: no webhook; a no-op webhook registered as both validating and mutating (the same number of webhook calls leaseguard makes) behind the same loopback TCP forwarder as the leaseguard replicas; leaseguard with the Kubernetes store, 1 and 3 replicas behind a round-robin forwarder. Both leaseguard sets run throughout; each object is sent stamped as if by another installation (`leaseguard.kubernaut.ai/lease`), which a set\'s mutating webhook replaces with its own, so a leader binds only its own set\'s objects, as in a cluster of one installation.',
        '',
        apiserverTables(api),
      );
    } finally {
      await cp.stop();
    }
  }
  sections.push('', `Total run time: ${((Date.now() - started) / 1000).toFixed(0)} s.`, '');
  await writeFile(values.out, sections.join('\n'));
  progress(`results written to ${values.out}`);
  process.stdout.write(`${sections.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`[bench] failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);

// `npm run bench -- --scale`: a replica set holding 100,000 live Leases among 300,000
// watched objects (memory, sweep cost), into bench/RESULTS-scale.md. The trusted cost
// cells are bench/run.ts's.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { ControlPlane } from '../test/harness/control-plane.js';
import { ROOT } from '../test/harness/paths.js';
import { ms, rate, type LoadResult } from './load.js';
import { benchThroughApiserver, deploymentMemoryEnv, type ApiserverResults } from './through-apiserver.js';
import { renderChart } from './chart.js';

const { values } = parseArgs({
  options: {
    scale: { type: 'boolean', default: true },
    long: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});

const started = Date.now();
const progress = (s: string) =>
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${s}\n`);
const out = values.out ?? join(ROOT, values.scale ? 'bench/RESULTS-scale.md' : 'bench/RESULTS.md');
const big = values.long || values.scale;
const cellMs = values.quick ? 1500 : values.long ? 9000 : 3000;

function cells(r: LoadResult): string {
  return `${rate(r.throughput)} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)}`;
}

function apiserverTables(r: ApiserverResults): string {
  const floorP95 = (c: number) => r.floor.find((f) => f.concurrency === c)?.result.p95 ?? NaN;
  const lines: string[] = [];
  lines.push(
    "One plain Lease create by leaseguard's identity, same API server, same run (what one lock write costs on its own).",
    '',
  );
  lines.push('| concurrency | Lease creates/s | p50 ms | p95 ms | p99 ms |', '|---:|---:|---:|---:|---:|');
  for (const f of r.floor) lines.push(`| ${f.concurrency} | ${cells(f.result)} |`);
  lines.push('');
  lines.push(
    "Per create, counted: API write requests (all, and on Leases) and webhook calls from kube-apiserver's own /metrics, writes and bytes put from etcd's, CPU time of every process taking part from /proc (API server, etcd, the scenario's own webhook processes, its leader's watch included, and the bench process: load generator and forwarders; the other scenarios' idle webhook sets are left out). Added p95 is over the no-op webhook, which makes the same one call.",
    '',
  );
  lines.push(
    '| keys | c | scenario | creates/s | p50 ms | p95 ms | p99 ms | API writes | on Leases | webhook calls | etcd writes | etcd bytes | CPU ms | of it: API server | etcd | webhooks | load gen. | added p95 vs no-op | outcomes |',
  );
  lines.push('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const row of r.rows) {
    const noop = r.rows.find(
      (x) => x.keys === row.keys && x.concurrency === row.concurrency && x.scenario === 'no-op webhook',
    )?.result;
    const lg = row.scenario.startsWith('leaseguard');
    const c = row.cost;
    const outcomes = Object.entries(row.result.outcomes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    lines.push(
      `| ${row.keys} | ${row.concurrency} | ${row.scenario} | ${cells(row.result)} | ${c.apiWrites.toFixed(2)} | ${c.leaseWrites.toFixed(2)} | ${c.webhookCalls.toFixed(2)} | ${c.etcdWrites.toFixed(2)} | ${c.etcdPutBytes.toFixed(0)} | ${c.cpuMs.toFixed(2)} | ${['kube-apiserver', 'etcd', 'webhooks', 'load generator'].map((p) => (c.cpuMsBy[p] ?? 0).toFixed(2)).join(' | ')} | ${lg && noop ? ms(row.result.p95 - noop.p95) : ''} | ${outcomes} |`,
    );
  }
  if (r.rows.length > 0) lines.push('', ...targets(r, floorP95));
  if (r.open.length > 0) {
    const rate = r.open[0]!.rate;
    lines.push(
      '',
      `Open loop: ${rate} creates/s from one client for each scenario, latency from each request's scheduled time; added over no webhook.`,
      '',
    );
    lines.push(
      '| keys | scenario | p50 | p95 | p99 | added p50 | added p95 | added p99 | outcomes |',
      '|---|---|---:|---:|---:|---:|---:|---:|---|',
    );
    for (const row of r.open) {
      const none = r.open.find((x) => x.keys === row.keys && x.scenario === 'no webhook')?.result;
      const add = (k: 'p50' | 'p95' | 'p99') =>
        none && row.scenario !== 'no webhook' ? ms(row.result[k] - none[k]) : '';
      const outcomes = Object.entries(row.result.outcomes)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      lines.push(
        `| ${row.keys} | ${row.scenario} | ${ms(row.result.p50)} | ${ms(row.result.p95)} | ${ms(row.result.p99)} | ${add('p50')} | ${add('p95')} | ${add('p99')} | ${outcomes} |`,
      );
    }
    lines.push('');
    for (const row of r.open.filter((x) => x.scenario.startsWith('leaseguard'))) {
      const none = r.open.find((x) => x.keys === row.keys && x.scenario === 'no webhook')?.result;
      if (!none) continue;
      const added = row.result.p99 - none.p99;
      lines.push(
        `- ${row.keys} keys, ${row.scenario}: added p99 ${ms(added)} ms (target < 5 ms: ${added < 5 ? 'met' : 'not met'}).`,
      );
    }
  }
  if (r.rows.length > 0)
    lines.push(
      '',
      'Correctness under load: live objects per key after every cell above ("hot" cells send every CREATE for one key).',
      '',
    );
  lines.push('| scenario | objects | keys | keys with duplicates |', '|---|---:|---:|---:|');
  for (const [s, d] of Object.entries(r.duplicates))
    lines.push(`| ${s} | ${d.objects} | ${d.keys} | ${d.duplicateKeys} |`);
  // (the rows above: the cells' own objects; with --scale only the memory part's)
  const failures = Object.entries(r.lockFailures);
  const total = r.rows.filter((x) => x.scenario.startsWith('leaseguard')).reduce((a, x) => a + x.result.requests, 0);
  const failed = failures.reduce((a, [, n]) => a + n, 0);
  lines.push(
    '',
    `Lock failures (leaseguard answers other than created or 409): ${failed} of ${total} CREATEs (${((failed / Math.max(1, total)) * 100).toFixed(3)}%)${failed ? `: ${failures.map(([k, n]) => `${k} ${n}`).join(', ')}` : ''}.`,
  );
  if (r.memory) {
    const m = r.memory;
    lines.push(
      '',
      `### A replica holding ${m.leases} live Leases (leaseguard ×3)`,
      '',
      `Replicas run with the Deployment's memory settings: ${Object.entries(deploymentMemoryEnv())
        .map(([k, v]) => `\`${k}=${v}\``)
        .join(', ')}.`,
      '',
    );
    lines.push('| measure | value |', '|---|---:|');
    lines.push(`| creating them through leaseguard (32 concurrent) | ${m.createSeconds.toFixed(1)} s |`);
    lines.push(
      `| until the leader's next sweep counted every one stored (from its watch; nothing is written; bounded by the sweep interval) | ${m.storedSeconds.toFixed(1)} s more |`,
    );
    lines.push(
      `| most resident memory of any replica while they were created (sampled every 5 s) | ${m.peakRssMb.toFixed(0)} MB |`,
    );
    lines.push(`| most JS heap used of any replica meanwhile | ${m.peakHeapMb.toFixed(0)} MB |`);
    lines.push(`| replicas that exited meanwhile | ${m.exited.length === 0 ? 'none' : m.exited.join('; ')} |`);
    lines.push(
      `| leader resident memory after 15 s idle (it watches every guarded object in the cluster and holds ${m.leases} Leases) | ${m.leaderRssMb.toFixed(0)} MB |`,
    );
    lines.push(`| leader JS heap used | ${m.leaderHeapMb.toFixed(0)} MB |`);
    lines.push(`| follower resident memory after 15 s idle (admission only) | ${m.followerRssMb.toFixed(0)} MB |`);
    lines.push(
      `| one sweep: list every Lease page by page, queue those that need work | ${(m.sweepSeconds * 1000).toFixed(0)} ms |`,
    );
    lines.push(`| API calls per sweep interval (60 s), all Leases healthy | ${m.sweepApiCalls.toFixed(0)} |`);
    lines.push(`| leader CPU per sweep interval (60 s) | ${(m.sweepCpuSeconds * 1000).toFixed(0)} ms |`);
  }
  return lines.join('\n');
}

/** The cost targets, as ratios from this run's own rows. */
function targets(r: ApiserverResults, floorP95: (c: number) => number): string[] {
  const row = (scenario: string, keys: string, c: number) =>
    r.rows.find((x) => x.scenario === scenario && x.keys === keys && x.concurrency === c);
  const cMax = Math.max(...r.rows.map((x) => x.concurrency));
  const cMin = Math.min(...r.rows.map((x) => x.concurrency));
  const floor = row('floor: Lease, then object', 'distinct', cMax);
  const out = ['Targets, new keys (distinct), from the rows above:', ''];
  for (const scenario of ['leaseguard ×1', 'leaseguard ×3', 'leaseguard ×1, stamping']) {
    const lg = row(scenario, 'distinct', cMax);
    if (!lg || !floor) continue;
    const cpu = lg.cost.cpuMs / floor.cost.cpuMs;
    const tput = lg.result.throughput / floor.result.throughput;
    out.push(
      `- ${scenario}, c=${cMax}: CPU per create ${cpu.toFixed(2)}× the floor's (target ≤ 1.30: ${cpu <= 1.3 ? 'met' : 'not met'}); throughput ${(tput * 100).toFixed(0)}% of the floor's (target ≥ 75%: ${tput >= 0.75 ? 'met' : 'not met'}).`,
    );
  }
  for (const keys of ['distinct', 'hot']) {
    const noop = row('no-op webhook', keys, cMin);
    const lg = row('leaseguard ×1', keys, cMin);
    if (!noop || !lg) continue;
    const added = lg.result.p95 - noop.result.p95;
    const allowed = floorP95(cMin) + 2;
    out.push(
      `- ${keys} keys, c=${cMin}, leaseguard ×1: added p95 over the no-op webhook ${ms(added)} ms; allowed: one Lease create's p95 + 2 = ${ms(allowed)} ms (${added <= allowed ? 'met' : 'not met'}).`,
    );
  }
  return out;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'leaseguard-bench-'));
  const cpu = cpus();
  const header = [
    '# leaseguard benchmark results',
    '',
    `Run ${new Date().toISOString().slice(0, 10)} with \`npm run bench${values.long ? ' -- --long' : values.scale ? ' -- --scale' : values.quick ? ' -- --quick' : ''}\` on ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), Node.js ${process.version}. `,
    `Each cell runs ${cellMs / 1000} s after a 0.3 s warm-up; latencies in milliseconds. Closed-loop cells find the most a server sustains; open-loop cells (a fixed rate) show latency at a given load.`,
    'Server and load generator share the machine, so absolute numbers are modest; the comparisons are side by side in one run.',
    '',
  ];
  progress(`logs and certificates in ${dir}`);

  const sections = [...header];
  {
    progress('part 2: CREATEs through a real kube-apiserver');
    const cp = await ControlPlane.start((s) => progress(s));
    try {
      const api = await benchThroughApiserver({
        cp,
        dir,
        concurrencies: values.scale ? [] : values.long ? [1, 8, 32] : [1, 16],
        durationMs: values.quick ? 1500 : values.long ? 9000 : 4000,
        memoryLeases: values.quick ? 0 : big ? 100_000 : 10_000,
        // --long, --scale: 100,000 live Leases among 300,000 watched objects.
        ...(big ? { fillerObjects: 190_000 } : {}),
        openRate: 50,
        openMs: values.scale ? 0 : values.quick ? 4000 : 10_000,
        progress,
      });
      sections.push(
        '',
        `## 2. CREATEs through kube-apiserver ${api.version}`,
        '',
        'WorkflowExecution CREATEs by a controller identity over keep-alive HTTPS, each scenario in its own namespace: no webhook; a no-op webhook registered as validating (the one webhook call leaseguard makes by default) behind the same loopback TCP forwarder as the leaseguard replicas; the floor, where the client itself writes a Lease for the key and then the object (on a 409 for the Lease it stops, as a busy denial would); leaseguard with the Kubernetes store, 1 and 3 replicas behind a round-robin forwarder, and 1 replica with `stampAnnotations` on (validating and mutating webhooks). All three leaseguard sets run throughout.',
        '',
        apiserverTables(api),
      );
      if (api.rows.length > 0) {
        const cMax = Math.max(...api.rows.map((x) => x.concurrency));
        const bars = api.rows
          .filter((x) => x.keys === 'distinct' && x.concurrency === cMax)
          .map((x) => ({ label: x.scenario, cpuMs: x.cost.cpuMs, throughput: x.result.throughput }));
        // Beside the results: RESULTS.md → results.svg, RESULTS-long.md → results-long.svg.
        const chart = join(dirname(out), `${basename(out, '.md').toLowerCase()}.svg`);
        await writeFile(
          chart,
          renderChart(
            bars,
            `New keys, ${cMax} clients, one run of npm run bench (${new Date().toISOString().slice(0, 10)})`,
          ),
        );
        sections.push('', `![CPU per create and throughput by scenario](${basename(chart)})`);
      }
    } finally {
      await cp.stop();
    }
  }
  sections.push('', `Total run time: ${((Date.now() - started) / 1000).toFixed(0)} s.`, '');
  await writeFile(out, sections.join('\n'));
  progress(`results written to ${out}`);
  process.stdout.write(`${sections.join('\n')}\n`);
}

export { main as runScale };

// Parts 2-4: CREATEs through a real kube-apiserver with no webhook, a registered no-op
// webhook, the floor (the client writes a Lease, then the object), and leaseguard with 1
// and 3 replicas (and 1 with stamping on), each cell with what it cost per create
// (API writes, webhook calls, etcd writes, CPU of every process); an open loop at a
// moderate rate; duplicates and lock failures; a replica holding 10,000 live Leases.
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadYaml } from '@kubernetes/client-node';
import { cliCerts } from '../test/harness/certs.js';
import type { ControlPlane } from '../test/harness/control-plane.js';
import { CONTROL_PLANE_ENV, kubectl } from '../test/harness/integration-env.js';
import { ELSEWHERE, benchObject as guardedObject, token, waitEffective } from './bench-objects.js';
import { ROOT } from '../test/harness/paths.js';
import { forEachConcurrently } from '../test/harness/pool.js';
import { ReplicaSet, SCOPE_LABEL, leaseNamespace, scopedNamespace, type Replica } from '../test/harness/replicas.js';
import { runLoad, runRate, type LoadResult } from './load.js';
import { metricValue } from '../test/harness/metrics.js';
import { Client, spawnServer } from './processes.js';
import { CostMeter, type CreateCost } from './cost-meter.js';
import { startForwarder, type Forwarder } from '../test/harness/tcp-forwarder.js';

/** The memory settings of manifests/base/deployment.yaml's container, read from the manifest itself. */
export function deploymentMemoryEnv(): Record<string, string> {
  const d = loadYaml<{
    spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } };
  }>(readFileSync(join(ROOT, 'manifests/base', 'deployment.yaml'), 'utf8'));
  const env = d.spec.template.spec.containers[0]?.env ?? [];
  const out: Record<string, string> = {};
  for (const name of ['NODE_OPTIONS', 'MALLOC_ARENA_MAX']) {
    const value = env.find((e) => e.name === name)?.value;
    if (value === undefined)
      throw new Error(
        `manifests/base/deployment.yaml sets no ${name}; the memory benchmark runs replicas as the Deployment does`,
      );
    out[name] = value;
  }
  return out;
}

export type Scenario =
  | 'no webhook'
  | 'no-op webhook'
  | 'floor: Lease, then object'
  | 'leaseguard ×1'
  | 'leaseguard ×3'
  | 'leaseguard ×1, stamping';

export interface CreateRow {
  scenario: Scenario;
  keys: 'distinct' | 'hot';
  concurrency: number;
  result: LoadResult;
  cost: CreateCost;
}

export interface OpenRow {
  scenario: Scenario;
  keys: 'distinct' | 'hot';
  rate: number;
  result: LoadResult;
}

export interface ApiserverResults {
  version: string;
  floor: Array<{ concurrency: number; result: LoadResult }>;
  rows: CreateRow[];
  open: OpenRow[];
  duplicates: Record<Scenario, { objects: number; keys: number; duplicateKeys: number }>;
  lockFailures: Record<string, number>;
  memory?: {
    leases: number;
    createSeconds: number;
    leaderRssMb: number;
    leaderHeapMb: number;
    followerRssMb: number;
    sweepSeconds: number;
    sweepApiCalls: number;
    sweepCpuSeconds: number;
    /** Until the leader's watch had seen every object stored (its held-Leases gauge). */
    storedSeconds: number;
    /** The most any replica of the set used while the objects were created (sampled every 5 s). */
    peakRssMb: number;
    peakHeapMb: number;
    /** Replicas that exited while the objects were created (a heap limit reached, say). */
    exited: string[];
  };
}

const NOOP = fileURLToPath(new URL('./noop-webhook.js', import.meta.url));
const SCENARIO_NS: Record<Scenario, string> = {
  'no webhook': 'bench-none',
  'no-op webhook': 'bench-noop',
  'floor: Lease, then object': 'bench-floorobj',
  'leaseguard ×1': 'bench-lg1',
  'leaseguard ×3': 'bench-lg3',
  'leaseguard ×1, stamping': 'bench-lg1s',
};
const LG_SETS = ['leaseguard ×1', 'leaseguard ×3', 'leaseguard ×1, stamping'] as const;

async function registerNoop(port: number, ca: string, scope: string): Promise<void> {
  const webhook = (kind: string, name: string) => ({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind,
    metadata: { name: 'bench-noop' },
    webhooks: [
      {
        name,
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        timeoutSeconds: 5,
        clientConfig: { url: `https://127.0.0.1:${port}/`, caBundle: Buffer.from(ca).toString('base64') },
        rules: [
          {
            apiGroups: ['kubernaut.ai'],
            apiVersions: ['v1alpha1'],
            resources: ['workflowexecutions', 'remediationrequests'],
            operations: ['CREATE'],
          },
        ],
        namespaceSelector: { matchLabels: { [SCOPE_LABEL]: scope } },
      },
    ],
  });
  // Validating only: the number of webhook calls leaseguard makes by default.
  const list = {
    apiVersion: 'v1',
    kind: 'List',
    items: [webhook('ValidatingWebhookConfiguration', 'validate.noop.bench')],
  };
  const r = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(list) });
  if (r.code !== 0) throw new Error(r.stderr);
}

const LEASEGUARD_NS = new Set(LG_SETS.map((s) => SCENARIO_NS[s]));

const benchObject = (ns: string, name: string, target: string) =>
  guardedObject(ns, name, target, LEASEGUARD_NS.has(ns));

export async function benchThroughApiserver(o: {
  cp: ControlPlane;
  dir: string;
  concurrencies: number[];
  durationMs: number;
  memoryLeases: number;
  /** Further objects the leader watches without a Lease (--long: up to 300,000 watched). */
  fillerObjects?: number;
  /** The open loop's rate (creates/s) and length. */
  openRate: number;
  openMs: number;
  progress: (s: string) => void;
}): Promise<ApiserverResults> {
  const { cp, progress } = o;
  const infoFile = join(cp.info.dir, 'control-plane.json');
  await writeFile(infoFile, JSON.stringify(cp.info));
  process.env[CONTROL_PLANE_ENV] = infoFile;
  const ca = readFileSync(cp.info.caFile, 'utf8');
  const apiPort = Number(new URL(cp.info.server).port);

  const noopCerts = await cliCerts(join(o.dir, 'certs-noop'));
  const noop = await spawnServer([NOOP, noopCerts.dir], {}, join(o.dir, 'noop-apiserver.log'));
  let noopForwarder: Forwarder | undefined;
  // The Deployment's memory settings (manifests/base/deployment.yaml), so memory is measured as it runs there.
  // The defaults (a sweep every 60 s): a 10 s sweep over the thousands of Leases the cells
  // leave held cost a replica about a tenth of its CPU, which is not what a create costs.
  // The memory cell holds 100,000 live Leases, the default maxLeases (the leader's Lease counts too): the bound is not what it measures.
  const lgEnv = {
    LEASEGUARD_STAMP_ANNOTATIONS: 'false',
    LEASEGUARD_FOREIGN_LEASE_NAMESPACES: ELSEWHERE,
    LEASEGUARD_MAX_LEASES: '1000000',
    ...deploymentMemoryEnv(),
  };
  progress('starting leaseguard replica sets (1 and 3 replicas) with the Kubernetes store');
  const sets: Record<(typeof LG_SETS)[number], ReplicaSet> = {
    'leaseguard ×1': await ReplicaSet.start({ scope: 'bench-lg1', count: 1, env: lgEnv }),
    'leaseguard ×3': await ReplicaSet.start({ scope: 'bench-lg3', count: 3, env: lgEnv }),
    'leaseguard ×1, stamping': await ReplicaSet.start({
      scope: 'bench-lg1s',
      count: 1,
      env: { ...lgEnv, LEASEGUARD_STAMP_ANNOTATIONS: 'true' },
    }),
  };
  try {
    for (const ns of Object.values(SCENARIO_NS)) await scopedNamespace(ns, ns);
    // The no-op webhook sits behind the same kind of forwarder as the leaseguard replicas,
    // so both pay the same extra hop and the difference is leaseguard's own.
    noopForwarder = await startForwarder([noop.port]);
    await registerNoop(noopForwarder.port, noopCerts.ca, 'bench-noop');
    const maxC = Math.max(...o.concurrencies, 32);
    const creator = new Client('127.0.0.1', apiPort, ca, maxC, {
      authorization: `Bearer ${token(cp.info.kubeconfigs.controller)}`,
    });
    for (const [scenario, ns] of Object.entries(SCENARIO_NS) as Array<[Scenario, string]>) {
      await waitEffective(creator, ns, scenario.startsWith('leaseguard'), scenario === 'leaseguard ×1, stamping');
    }
    const admin = new Client('127.0.0.1', apiPort, ca, 2, {
      authorization: `Bearer ${token(cp.info.kubeconfigs.admin)}`,
    });
    const meter = new CostMeter({
      apiserver: admin,
      etcdUrl: cp.info.etcdUrl,
      processes: () => ({
        'kube-apiserver': [cp.pid('kube-apiserver')],
        etcd: [cp.pid('etcd')],
        'no-op webhook': [noop.proc.pid ?? 0],
        ...Object.fromEntries(
          Object.entries(sets).map(([name, set]) => [name, set.replicas.map((r) => r.process.pid ?? 0)]),
        ),
      }),
    });

    // The floor: one plain Lease create by leaseguard's identity, same server, same run,
    // in a namespace of its own (with leaseguard's Role) so the locks' namespaces stay clean.
    await leaseNamespace('bench-floor');
    const leaser = new Client('127.0.0.1', apiPort, ca, maxC, {
      authorization: `Bearer ${token(cp.info.kubeconfigs.leaseguard)}`,
    });
    const floor: ApiserverResults['floor'] = [];
    for (const concurrency of o.concurrencies) {
      const result = await runLoad({
        concurrency,
        durationMs: o.durationMs,
        warmupMs: 300,
        send: async (w, seq) => {
          const body = JSON.stringify({
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: `floor-${concurrency}-${w}-${seq}` },
            spec: { holderIdentity: 'bench' },
          });
          const res = await leaser.request('POST', '/apis/coordination.k8s.io/v1/namespaces/bench-floor/leases', body);
          return String(res.status);
        },
      });
      floor.push({ concurrency, result });
      progress(
        `floor: plain Lease create c=${concurrency}: p50 ${result.p50.toFixed(2)} ms  p95 ${result.p95.toFixed(2)} ms  ${result.throughput.toFixed(0)} /s`,
      );
    }

    /** One create as the scenario makes it; the floor takes a Lease for the key first, as leaseguard would. */
    const createIn = async (scenario: Scenario, name: string, target: string, lease: string): Promise<string> => {
      const ns = SCENARIO_NS[scenario];
      if (scenario === 'floor: Lease, then object') {
        const body = JSON.stringify({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: lease },
          spec: { holderIdentity: 'bench' },
        });
        const l = await leaser.request('POST', '/apis/coordination.k8s.io/v1/namespaces/bench-floor/leases', body);
        if (l.status === 409) return 'conflict';
        if (l.status !== 201) return `lease-http-${l.status}`;
      }
      const res = await creator.request(
        'POST',
        `/apis/kubernaut.ai/v1alpha1/namespaces/${ns}/workflowexecutions`,
        benchObject(ns, name, target),
      );
      return res.status === 201 ? 'created' : res.status === 409 ? 'conflict' : `http-${res.status}`;
    };

    const rows: CreateRow[] = [];
    const scenarios = Object.keys(SCENARIO_NS) as Scenario[];
    let cell = 0;
    for (const keys of ['distinct', 'hot'] as const) {
      for (const concurrency of o.concurrencies) {
        cell++;
        const order = cell % 2 === 0 ? [...scenarios].reverse() : scenarios;
        for (const scenario of order) {
          let sent = 0;
          const before = await meter.snapshot();
          const result = await runLoad({
            concurrency,
            durationMs: o.durationMs,
            warmupMs: 300,
            send: (w, seq) => {
              sent++;
              const id = keys === 'hot' ? `hot-${cell}` : `d-${cell}-${w}-${seq}`;
              return createIn(
                scenario,
                `we-${cell}-${w}-${seq}`,
                `${SCENARIO_NS[scenario]}/Deployment/${id}`,
                `floor-${id}`,
              );
            },
          });
          const webhooks = scenario === 'no-op webhook' || scenario.startsWith('leaseguard') ? scenario : undefined;
          const cost = CostMeter.perCreate(before, await meter.snapshot(), sent, webhooks);
          rows.push({ scenario, keys, concurrency, result, cost });
          progress(
            `creates  ${keys.padEnd(8)} c=${String(concurrency).padStart(2)} ${scenario.padEnd(25)} ${result.throughput.toFixed(0).padStart(5)} /s  p95 ${result.p95.toFixed(2)} ms  ` +
              `API writes ${cost.apiWrites.toFixed(2)}  webhook calls ${cost.webhookCalls.toFixed(2)}  etcd writes ${cost.etcdWrites.toFixed(2)}  CPU ${cost.cpuMs.toFixed(2)} ms  ${JSON.stringify(result.outcomes)}`,
          );
        }
      }
    }

    // The open loop: a moderate, steady rate from one client, latency from each request's scheduled time.
    const open: OpenRow[] = [];
    const openScenarios: Scenario[] = [
      'no webhook',
      'no-op webhook',
      'floor: Lease, then object',
      'leaseguard ×1',
      'leaseguard ×3',
    ];
    for (const keys of o.openMs > 0 ? (['distinct', 'hot'] as const) : []) {
      cell++;
      for (const scenario of cell % 2 === 0 ? [...openScenarios].reverse() : openScenarios) {
        const result = await runRate({
          rate: o.openRate,
          durationMs: o.openMs,
          warmupMs: 500,
          send: (w, seq) => {
            const id = keys === 'hot' ? `hot-${cell}` : `o-${cell}-${seq}`;
            return createIn(
              scenario,
              `we-${cell}-${w}-${seq}`,
              `${SCENARIO_NS[scenario]}/Deployment/${id}`,
              `floor-${id}`,
            );
          },
        });
        open.push({ scenario, keys, rate: o.openRate, result });
        progress(
          `open loop ${o.openRate}/s ${keys.padEnd(8)} ${scenario.padEnd(25)} p50 ${result.p50.toFixed(2)} ms  p95 ${result.p95.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms  ${JSON.stringify(result.outcomes)}`,
        );
      }
    }

    // Correctness under load: live objects per key, in every scenario.
    const duplicates = {} as ApiserverResults['duplicates'];
    for (const scenario of scenarios) {
      const res = await creator.request(
        'GET',
        `/apis/kubernaut.ai/v1alpha1/namespaces/${SCENARIO_NS[scenario]}/workflowexecutions`,
      );
      const items = (JSON.parse(res.body) as { items: Array<{ spec: { targetResource: string } }> }).items;
      const perKey = new Map<string, number>();
      for (const it of items) perKey.set(it.spec.targetResource, (perKey.get(it.spec.targetResource) ?? 0) + 1);
      duplicates[scenario] = {
        objects: items.length,
        keys: perKey.size,
        duplicateKeys: [...perKey.values()].filter((n) => n > 1).length,
      };
    }
    const lockFailures: Record<string, number> = {};
    for (const r of rows.filter((x) => x.scenario.startsWith('leaseguard'))) {
      for (const [outcome, n] of Object.entries(r.result.outcomes))
        if (outcome !== 'created' && outcome !== 'conflict') lockFailures[outcome] = (lockFailures[outcome] ?? 0) + n;
    }

    const results: ApiserverResults = { version: cp.info.version, floor, rows, open, duplicates, lockFailures };
    if (o.memoryLeases > 0)
      results.memory = await benchMemory(
        sets['leaseguard ×3'],
        creator,
        o.memoryLeases,
        o.fillerObjects ?? 0,
        progress,
      );
    creator.close();
    leaser.close();
    admin.close();
    return results;
  } finally {
    await Promise.all(Object.values(sets).map((s) => s.stop()));
    await kubectl([
      'delete',
      '--ignore-not-found',
      'validatingwebhookconfiguration/bench-noop',
      'mutatingwebhookconfiguration/bench-noop',
    ]);
    await noopForwarder?.close();
    await noop.stop();
  }
}

async function metricsOf(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** A replica's metrics; when it has exited, an error saying so with its log's fatal line (a heap limit reached, say). */
async function replicaMetrics(r: Replica): Promise<string> {
  try {
    return await metricsOf(r.metricsPort);
  } catch (err) {
    if (r.process.exitCode === null && r.process.signalCode === null) throw err;
    const fatal =
      (await readFile(r.logFile, 'utf8').catch(() => '')).split('\n').find((l) => l.includes('FATAL ERROR')) ?? '';
    throw new Error(
      `replica ${r.identity} exited (${r.process.exitCode ?? r.process.signalCode})${fatal ? `: ${fatal.trim()}` : ''}; its log: ${r.logFile}`,
      { cause: err },
    );
  }
}

async function countLeases(set: ReplicaSet): Promise<number> {
  const r = await kubectl([
    '-n',
    set.leaseNamespace,
    'get',
    'leases',
    '-l',
    'app.kubernetes.io/managed-by=leaseguard',
    '-o',
    'name',
  ]);
  return r.stdout.split('\n').filter(Boolean).length;
}

async function benchMemory(
  set: ReplicaSet,
  creator: Client,
  target: number,
  filler: number,
  progress: (s: string) => void,
): Promise<NonNullable<ApiserverResults['memory']>> {
  const ns = 'bench-lg3';
  const have = await countLeases(set);
  const need = Math.max(0, target - have);
  progress(`memory: creating ${need} more WorkflowExecutions through leaseguard ×3 to hold ${target} live Leases`);
  const started = performance.now();
  const peak = samplePeaks(set);
  let failures = 0;
  await forEachConcurrently(need, 32, async (i) => {
    const res = await creator.request(
      'POST',
      `/apis/kubernaut.ai/v1alpha1/namespaces/${ns}/workflowexecutions`,
      benchObject(ns, `we-mem-${i}`, `${ns}/Deployment/mem-${i}`),
    );
    if (res.status !== 201) failures++;
    if (i > 0 && i % 2000 === 0) progress(`memory: ${i}/${need} created`);
  });
  const createSeconds = (performance.now() - started) / 1000;
  if (failures > 0) progress(`memory: ${failures} creates failed`);
  if (filler > 0) {
    // Objects the leader watches but holds no Lease for (unguarded namespace, another
    // installation's stamp), as in a cluster where most objects have long finished.
    progress(`memory: creating ${filler} more watched objects outside leaseguard's namespaces`);
    let failed = 0;
    await forEachConcurrently(filler, 32, async (i) => {
      const res = await creator.request(
        'POST',
        '/apis/kubernaut.ai/v1alpha1/namespaces/bench-none/workflowexecutions',
        benchObject('bench-none', `we-fill-${i}`, `bench-none/Deployment/fill-${i}`),
      );
      if (res.status !== 201) failed++;
      if (i > 0 && i % 20_000 === 0) progress(`memory: ${i}/${filler} watched objects created`);
    });
    if (failed > 0) progress(`memory: ${failed} filler creates failed`);
  }
  const peaks = await peak.stop();
  const leaderLease = JSON.parse(
    (await kubectl(['-n', set.leaseNamespace, 'get', 'lease', 'leaseguard-leader', '-o', 'json'])).stdout,
  ) as { spec: { holderIdentity: string } };
  const leader = set.replicas.find((r) => r.identity === leaderLease.spec.holderIdentity);
  const follower = set.replicas.find((r) => r !== leader);
  if (!leader || !follower) throw new Error('no leader among the replicas');
  // Nothing is written when an object is stored: the leader's watch knows it, and its sweep
  // counts such Leases as bound in the held-Leases gauge.
  const storedStart = performance.now();
  const leases = await countLeases(set);
  const stored = async () =>
    metricValue(await replicaMetrics(leader), 'leaseguard_leases_held', { kind: 'WorkflowExecution', state: 'bound' });
  while ((await stored()) < leases && performance.now() - storedStart < 300_000)
    await new Promise((r) => setTimeout(r, 1000));
  const storedSeconds = (performance.now() - storedStart) / 1000;
  progress(`memory: ${leases} Leases held, all seen stored by the leader after ${storedSeconds.toFixed(1)} s more`);
  // Let the burst's garbage settle (V8 shrinks its heap when idle), then watch one sweep
  // (every 60 s) with nothing else happening.
  await new Promise((r) => setTimeout(r, 15_000));
  const before = await replicaMetrics(leader);
  const sweepsBefore = metricValue(before, 'leaseguard_sweep_duration_seconds_count');
  const deadline = Date.now() + 75_000; // one sweep interval (60 s) and then some
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    if (metricValue(await replicaMetrics(leader), 'leaseguard_sweep_duration_seconds_count') > sweepsBefore) break;
  }
  await new Promise((r) => setTimeout(r, 2000)); // let the queued reviews finish
  const after = await replicaMetrics(leader);
  const sweeps = metricValue(after, 'leaseguard_sweep_duration_seconds_count') - sweepsBefore;
  const followerMetrics = await replicaMetrics(follower);
  return {
    leases,
    createSeconds,
    storedSeconds,
    leaderRssMb: metricValue(after, 'leaseguard_process_resident_memory_bytes') / 2 ** 20,
    leaderHeapMb: metricValue(after, 'leaseguard_nodejs_heap_size_used_bytes') / 2 ** 20,
    followerRssMb: metricValue(followerMetrics, 'leaseguard_process_resident_memory_bytes') / 2 ** 20,
    sweepSeconds:
      (metricValue(after, 'leaseguard_sweep_duration_seconds_sum') -
        metricValue(before, 'leaseguard_sweep_duration_seconds_sum')) /
      Math.max(1, sweeps),
    sweepApiCalls:
      (metricValue(after, 'leaseguard_apiserver_request_duration_seconds_count') -
        metricValue(before, 'leaseguard_apiserver_request_duration_seconds_count')) /
      Math.max(1, sweeps),
    sweepCpuSeconds:
      (metricValue(after, 'leaseguard_process_cpu_seconds_total') -
        metricValue(before, 'leaseguard_process_cpu_seconds_total')) /
      Math.max(1, sweeps),
    ...peaks,
  };
}

/** Samples every replica's resident memory and heap every 5 s until stopped; notes the ones that exit. */
function samplePeaks(set: ReplicaSet): {
  stop: () => Promise<{ peakRssMb: number; peakHeapMb: number; exited: string[] }>;
} {
  let peakRssMb = 0;
  let peakHeapMb = 0;
  const exited = new Set<string>();
  const sample = async () => {
    for (const r of set.replicas) {
      try {
        const text = await replicaMetrics(r);
        peakRssMb = Math.max(peakRssMb, metricValue(text, 'leaseguard_process_resident_memory_bytes') / 2 ** 20);
        peakHeapMb = Math.max(peakHeapMb, metricValue(text, 'leaseguard_nodejs_heap_size_used_bytes') / 2 ** 20);
      } catch (err) {
        if (r.process.exitCode !== null || r.process.signalCode !== null) exited.add((err as Error).message);
      }
    }
  };
  const timer = setInterval(() => void sample(), 5000);
  return {
    stop: async () => {
      clearInterval(timer);
      await sample();
      return { peakRssMb, peakHeapMb, exited: [...exited] };
    },
  };
}

// Part 1: the webhook alone over keep-alive HTTPS. A no-op koa handler (the floor for
// this stack) and leaseguard on the in-process store, each in its own process, driven by
// the same client, interleaved so a noisy machine hits both alike.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliCerts } from '../test/harness/certs.js';
import { CLI } from '../test/harness/paths.js';
import { runLoad, runRate, type LoadResult } from './load.js';
import { Client, cpuTimeMs, spawnServer } from './processes.js';

export interface AloneRow {
  keys: 'distinct' | 'hot';
  /** Closed loop: this many clients, each waiting for its answer. */
  concurrency?: number;
  /** Open loop: this many admissions a second. */
  rate?: number;
  server: 'no-op' | 'leaseguard';
  result: LoadResult;
  /** The server's CPU time (all threads) per admission, in microseconds. */
  cpuMicros: number;
}

const NOOP = fileURLToPath(new URL('./noop-webhook.js', import.meta.url));

function review(uid: string, name: string, key: string): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: 'kubernaut.ai', version: 'v1alpha1', kind: 'WorkflowExecution' },
      resource: { group: 'kubernaut.ai', version: 'v1alpha1', resource: 'workflowexecutions' },
      operation: 'CREATE',
      name,
      namespace: 'bench',
      userInfo: { username: 'system:serviceaccount:kubernaut-system:remediationorchestrator' },
      object: {
        apiVersion: 'kubernaut.ai/v1alpha1',
        kind: 'WorkflowExecution',
        metadata: { name, namespace: 'bench', uid: `obj-${uid}` },
        spec: { targetResource: key, workflowRef: { workflowId: 'restart', version: 'v1', executionBundle: 'x' } },
      },
      dryRun: false,
    },
  });
}

export async function benchWebhookAlone(o: {
  dir: string;
  concurrencies: number[];
  /** Open-loop rates (admissions a second) for latency at a moderate load. */
  rates: number[];
  durationMs: number;
  progress: (s: string) => void;
  cpuProfDir?: string;
}): Promise<AloneRow[]> {
  const certs = await cliCerts(join(o.dir, 'certs-alone'));
  const lgArgs = [...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []), CLI, 'serve', '--store', 'memory', '--port', '0', '--metrics-port', '0', '--cert-dir', certs.dir];
  const servers = {
    'no-op': await spawnServer([NOOP, certs.dir], {}, join(o.dir, 'noop.log')),
    leaseguard: await spawnServer(lgArgs, { LEASEGUARD_HOST: '127.0.0.1', LEASEGUARD_LEASE_NAMESPACE: 'bench' }, join(o.dir, 'leaseguard-alone.log')),
  };
  const rows: AloneRow[] = [];
  type Load = { concurrency: number; rate?: undefined } | { rate: number; concurrency?: undefined };
  const loads: Load[] = [...o.concurrencies.map((concurrency) => ({ concurrency })), ...o.rates.map((rate) => ({ rate }))];
  let round = 0;
  try {
    for (const keys of ['distinct', 'hot'] as const) {
      for (const load of loads) {
        round++;
        // Alternate which server goes first, so drift on the machine does not favour one.
        const order = round % 2 === 0 ? (['no-op', 'leaseguard'] as const) : (['leaseguard', 'no-op'] as const);
        for (const server of order) {
          // Open loop: a fixed pool of connections, so a slow answer queues (and shows in the
          // latency) instead of opening new TLS connections mid-measurement.
          const client = new Client('127.0.0.1', servers[server].port, certs.ca, load.concurrency ?? 32);
          let sent = 0;
          const send = async (w: number, seq: number) => {
            sent++;
            const key = keys === 'hot' ? `bench/Deployment/hot-${round}` : `bench/Deployment/d-${round}-${w}-${seq}`;
            const res = await client.request('POST', '/validate', review(`${round}-${seq}`, `we-${round}-${seq}`, key));
            if (res.status !== 200) return `http-${res.status}`;
            return res.body.includes('"allowed":true') ? 'allowed' : res.body.includes('"code":409') ? 'busy' : 'other';
          };
          const pid = servers[server].proc.pid as number;
          const cpuBefore = cpuTimeMs(pid);
          const result =
            load.concurrency !== undefined
              ? await runLoad({ concurrency: load.concurrency, durationMs: o.durationMs, warmupMs: 300, send })
              : await runRate({ rate: load.rate, durationMs: o.durationMs, warmupMs: 300, send });
          const cpuMicros = ((cpuTimeMs(pid) - cpuBefore) * 1000) / Math.max(1, sent);
          client.close();
          rows.push({ keys, ...(load.concurrency !== undefined ? { concurrency: load.concurrency } : { rate: load.rate }), server, result, cpuMicros });
          const label = load.concurrency !== undefined ? `c=${String(load.concurrency).padStart(3)}` : `${load.rate}/s`;
          o.progress(
            `webhook alone  ${keys.padEnd(8)} ${label.padStart(7)} ${server.padEnd(10)} ${result.throughput.toFixed(0).padStart(6)} req/s  p50 ${result.p50.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms  ${cpuMicros.toFixed(0)} µs CPU/admission`,
          );
        }
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
  return rows;
}

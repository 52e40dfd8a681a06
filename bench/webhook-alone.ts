// Part 1: the webhook alone over keep-alive HTTPS. A no-op koa handler (the floor for
// this stack) and leaseguard on the in-process store, each in its own process, driven by
// the same client, in rounds, so a noisy machine hits both alike.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliCerts } from '../test/harness/certs.js';
import { CLI } from '../test/harness/paths.js';
import { runLoad, type LoadResult } from './load.js';
import { Client, cpuTimeMs, spawnServer } from './processes.js';
import { deploymentMemoryEnv } from './through-apiserver.js';

export interface AloneRow {
  round: number;
  /** Closed loop: this many clients, each waiting for its answer. */
  concurrency: number;
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
      namespace: 'kubernaut-system',
      userInfo: { username: 'system:serviceaccount:kubernaut-system:remediationorchestrator' },
      object: {
        apiVersion: 'kubernaut.ai/v1alpha1',
        kind: 'WorkflowExecution',
        metadata: { name, namespace: 'kubernaut-system', uid: `obj-${uid}` },
        spec: { targetResource: key, workflowRef: { workflowId: 'restart', version: 'v1', executionBundle: 'x' } },
      },
      dryRun: false,
    },
  });
}

/** New keys only (each admission takes a Lease), in rounds that alternate which server goes first. */
export async function benchWebhookAlone(o: {
  dir: string;
  concurrency: number;
  rounds: number;
  warmupMs: number;
  durationMs: number;
  progress: (s: string) => void;
  cpuProfDir?: string;
}): Promise<AloneRow[]> {
  const certs = await cliCerts(join(o.dir, 'certs-alone'));
  const lgArgs = [
    ...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []),
    CLI,
    'serve',
    '--store',
    'memory',
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--cert-dir',
    certs.dir,
  ];
  // Fresh servers each round: the in-process store keeps every new key's Lease until its
  // pending timeout, so a later round would otherwise work on a larger heap (and past the
  // default 100,000 live Leases, answer with denials).
  const start = async (round: number) => ({
    'no-op': await spawnServer([NOOP, certs.dir], {}, join(o.dir, `noop-${round}.log`)),
    // The Deployment's memory settings, objects in the default guarded namespace (kubernaut-system).
    leaseguard: await spawnServer(
      lgArgs,
      {
        LEASEGUARD_HOST: '127.0.0.1',
        LEASEGUARD_SHUTDOWN_DELAY_SECONDS: '0',
        LEASEGUARD_MAX_LEASES: '1000000',
        // New keys at ~5,600/s: with the embedded store's 30 s pending timeout (expired locks
        // dropped every timeout, so a lock lives up to twice that) a cell passes the 100,000-lock
        // cap and answers the rest with cheap denials. 6 s (> timeoutSeconds 5) keeps the live
        // locks near ~70,000, expiry's work included; its walk lags under full load, so the
        // cap is raised too (measured: 963 of 176,244 answers were LG_STORE_FULL at 6 s alone).
        LEASEGUARD_PENDING_TIMEOUT_SECONDS: '6',
        LEASEGUARD_EMBEDDED_MAX_LOCKS: '1000000',
        ...deploymentMemoryEnv(),
      },
      join(o.dir, `leaseguard-alone-${round}.log`),
    ),
  });
  const rows: AloneRow[] = [];
  let seq = 0;
  for (let round = 1; round <= o.rounds; round++) {
    const servers = await start(round);
    try {
      const order = round % 2 === 0 ? (['no-op', 'leaseguard'] as const) : (['leaseguard', 'no-op'] as const);
      for (const server of order) {
        const client = new Client('127.0.0.1', servers[server].port, certs.ca, o.concurrency);
        let sent = 0;
        const send = async () => {
          sent++;
          const n = seq++;
          const res = await client.request(
            'POST',
            '/validate',
            review(`u${n}`, `we-${n}`, `kubernaut-system/Deployment/d-${n}`),
          );
          if (res.status !== 200) return `http-${res.status}`;
          return res.body.includes('"allowed":true') ? 'allowed' : res.body.includes('"code":409') ? 'busy' : 'other';
        };
        await runLoad({ concurrency: o.concurrency, durationMs: o.warmupMs, send });
        const pid = servers[server].proc.pid as number;
        const cpuBefore = cpuTimeMs(pid);
        sent = 0;
        const result = await runLoad({ concurrency: o.concurrency, durationMs: o.durationMs, send });
        const cpuMicros = ((cpuTimeMs(pid) - cpuBefore) * 1000) / Math.max(1, sent);
        client.close();
        rows.push({ round, concurrency: o.concurrency, server, result, cpuMicros });
        o.progress(
          `webhook alone round ${round}/${o.rounds} c=${o.concurrency} ${server.padEnd(10)} ${result.throughput.toFixed(0).padStart(6)} req/s  p50 ${result.p50.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms  ${cpuMicros.toFixed(0)} µs CPU/admission  ${JSON.stringify(result.outcomes)}`,
        );
      }
    } finally {
      await Promise.all(Object.values(servers).map((s) => s.stop()));
    }
  }
  return rows;
}

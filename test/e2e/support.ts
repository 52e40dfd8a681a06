// How an end-to-end test reaches the one-node cluster that scripts/test-e2e.sh brought up
// (scripts/cluster.sh): kubectl and helm as its admin, client-node for load, and the
// node's containerd for what only the node can do (killing a container, entering a Pod's
// network namespace).
import type { ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { apiError, workflowExecution } from '../harness/objects.js';
import { sleep } from '../harness/wait.js';

const run = promisify(execFile);

export const E2E_ENV = 'LEASEGUARD_E2E';

export interface E2eInfo {
  kubeconfig: string;
  containerdAddress: string;
  helm: string;
  chart: string;
  /** The directory with the API server's admission client CA (ca.crt), from `leaseguard certs`. */
  clientCerts: string;
  /** The fixture CRDs standing in for kubernaut's own installation. */
  crds: string;
}

let cached: E2eInfo | undefined;
export function e2e(): E2eInfo {
  if (cached) return cached;
  const file = process.env[E2E_ENV];
  if (!file)
    throw new Error(`${E2E_ENV} is not set: the end-to-end tests run on the node that \`npm run test:e2e\` brings up`);
  cached = JSON.parse(readFileSync(file, 'utf8')) as E2eInfo;
  return cached;
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(bin: string, args: string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

export const kubectl = (args: string[], input?: string) =>
  exec('kubectl', ['--kubeconfig', e2e().kubeconfig, ...args], input);
export const helm = (args: string[]) => exec(e2e().helm, [...args, '--kubeconfig', e2e().kubeconfig]);
export const ctr = (args: string[]) => exec('ctr', ['-a', e2e().containerdAddress, '-n', 'k8s.io', ...args]);

/** kubectl that must succeed; its stdout. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(e2e().kubeconfig);
  return kc;
}

export const customObjects = () => kubeConfig().makeApiClient(CustomObjectsApi);
export const core = () => kubeConfig().makeApiClient(CoreV1Api);

export async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not after ${timeoutMs / 1000}s`);
    await sleep(250);
  }
}

export interface PodInfo {
  name: string;
  ready: boolean;
  containerId: string;
  ip: string;
}

export async function pods(ns: string, selector: string): Promise<PodInfo[]> {
  const list = JSON.parse(await kubectlOk(['get', 'pods', '-n', ns, '-l', selector, '-o', 'json'])) as { items: any[] };
  return list.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => ({
      name: p.metadata.name,
      ready: (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
      containerId: String(p.status.containerStatuses?.[0]?.containerID ?? '').replace(/^containerd:\/\//, ''),
      ip: p.status.podIP ?? '',
    }));
}

/** The addresses the Service's EndpointSlices list as ready. */
export async function readyEndpoints(ns: string, service: string): Promise<string[]> {
  const list = JSON.parse(
    await kubectlOk(['get', 'endpointslices', '-n', ns, '-l', `kubernetes.io/service-name=${service}`, '-o', 'json']),
  ) as { items: any[] };
  return list.items.flatMap((s) =>
    (s.endpoints ?? []).filter((e: any) => e.conditions?.ready).flatMap((e: any) => e.addresses),
  );
}

/** The host PID of a container's first process (to enter its namespaces). */
export async function containerPid(containerId: string): Promise<number> {
  const r = await ctr(['tasks', 'ls']);
  const line = r.stdout.split('\n').find((l) => l.startsWith(containerId));
  if (!line) throw new Error(`no containerd task ${containerId}`);
  return Number(line.split(/\s+/)[1]);
}

/** Runs nft inside a container's network namespace. */
export async function nftInPod(containerId: string, ruleset: string): Promise<void> {
  const pid = await containerPid(containerId);
  const r = await exec('nsenter', ['-t', String(pid), '-n', '/usr/sbin/nft', '-f', '-'], ruleset);
  if (r.code !== 0) throw new Error(`nft in pid ${pid}'s network namespace: ${r.stderr.trim()}`);
}

export interface LoadStats {
  created: number;
  failures: string[];
}

/**
 * Guarded creates with distinct keys from `clients` concurrent clients until `stop()` (or
 * the end of test `t`, however it ends: a load left running would skew the tests after
 * it): each should be admitted, so every failure is counted with its message.
 */
export function startLoad(
  t: ExecutionContext,
  ns: string,
  clients: number,
  prefix: string,
): { stop: () => Promise<LoadStats> } {
  const api = customObjects();
  const stats: LoadStats = { created: 0, failures: [] };
  let running = true;
  let seq = 0;
  const workers = Array.from({ length: clients }, async () => {
    while (running) {
      const i = seq++;
      const name = `${prefix}-${i}`;
      try {
        await api.createNamespacedCustomObject({
          group: 'kubernaut.ai',
          version: 'v1alpha1',
          namespace: ns,
          plural: 'workflowexecutions',
          body: workflowExecution(ns, name, `${ns}/Deployment/${name}`),
        });
        stats.created++;
      } catch (err) {
        const e = apiError(err);
        stats.failures.push(`${name}: ${e.code} ${e.message ?? String(err)}`);
        await sleep(20);
      }
    }
  });
  const stop = async () => {
    running = false;
    await Promise.all(workers);
    return stats;
  };
  t.teardown(stop);
  return { stop };
}

/** Keys held by two or more stored WorkflowExecutions in `ns`. */
export async function duplicateKeys(ns: string): Promise<string[]> {
  const list = (await customObjects().listNamespacedCustomObject({
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'workflowexecutions',
  })) as { items: any[] };
  const byKey = new Map<string, number>();
  for (const o of list.items) byKey.set(o.spec.targetResource, (byKey.get(o.spec.targetResource) ?? 0) + 1);
  return [...byKey].filter(([, n]) => n > 1).map(([k]) => k);
}

export { run, sleep };

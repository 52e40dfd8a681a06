// The trusted cells: WorkflowExecution CREATEs through a real kube-apiserver at two
// points (50/s open loop with the chart's three replicas; 16 closed-loop clients with one
// replica), in rounds that alternate no webhook, the floor (the client creates a Lease,
// then the object) and leaseguard, each cell after a warm-up of its own, with the CPU
// every process spent per create (from /proc) and each replica's event-loop delay.
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControlPlane } from '../test/harness/control-plane.js';
import { ReplicaSet, leaseNamespace, scopedNamespace } from '../test/harness/replicas.js';
import { metricValue } from '../test/harness/metrics.js';
import { ELSEWHERE, benchObject, token, waitEffective } from './bench-objects.js';
import { runLoad, runRate, type LoadResult } from './load.js';
import { bucketQuantile, bucketsOf, type Buckets } from './stats.js';
import { Client, cpuTimeMs } from './processes.js';
import { deploymentMemoryEnv } from './through-apiserver.js';

export type Mode = 'no webhook' | 'floor' | 'leaseguard';
export const MODES: Mode[] = ['no webhook', 'floor', 'leaseguard'];

export interface Point {
  name: string;
  replicas: number;
  /** Open loop at `rate` creates/s, or closed loop with `clients`. */
  rate?: number;
  clients?: number;
  /** Settings of this point's replicas beyond production defaults (another Lease format). */
  env?: Record<string, string>;
}

export interface Cell {
  point: string;
  round: number;
  mode: Mode;
  result: LoadResult;
  /** CPU milliseconds per create by process: kube-apiserver, etcd, replica 0.. (leaseguard only). */
  cpuMs: Record<string, number>;
  /** Per replica: event-loop delay over the cell, ms: P99 of leaseguard_event_loop_delay_seconds, the max of prom-client's monitor. */
  lag: Array<{ replica: string; p99: number; max: number }>;
}

/** CPU milliseconds per second by process with no load: the fixed cost a create's share carries at a low rate. */
export interface Idle {
  point: string;
  cpuMsPerSecond: Record<string, number>;
}

export interface CellOptions {
  cp: ControlPlane;
  points: Point[];
  rounds: number;
  warmupMs: number;
  cellMs: number;
  /** Closed-loop cells may be shorter than open-loop ones (they measure throughput and CPU). */
  closedCellMs: number;
  /** Profile every replica into this directory (one subdirectory per replica). */
  cpuProfDir?: string;
  progress: (s: string) => void;
  /** How long to measure the replicas' idle cost before the rounds (0: not at all). */
  idleMs: number;
}

const NS: Record<Mode, (p: Point) => string> = {
  'no webhook': () => 'bench-none',
  floor: () => 'bench-floorobj',
  leaseguard: (p) => `bench-lg-${p.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
};

/**
 * Per replica: leaseguard_event_loop_delay_seconds's buckets (cumulative, so a cell's
 * window is the difference of two reads) and prom-client's max gauge (reset by each
 * scrape, so the read at a cell's start opens its window).
 */
async function lagOf(set: ReplicaSet): Promise<Array<{ buckets: Buckets; max: number }>> {
  const pages = await set.metrics();
  return pages.map((page) => ({
    buckets: bucketsOf(page, 'leaseguard_event_loop_delay_seconds'),
    max: metricValue(page, 'leaseguard_nodejs_eventloop_lag_max_seconds') * 1000,
  }));
}

/** Each process's CPU, ms per second, over the next `windowMs`. */
async function cpuMsPerSecondOver(pids: Record<string, number>, windowMs: number): Promise<Record<string, number>> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuTimeMs(pid)]));
  await new Promise((r) => setTimeout(r, windowMs));
  return Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [k, ((cpuTimeMs(pid) - before[k]!) * 1000) / windowMs]),
  );
}

/** Waits (at most 3 minutes) until every process spends under 60 ms of CPU a second over 3 s; returns the wait, ms. */
async function settle(pids: Record<string, number>, progress: (s: string) => void, point: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    const busy = Object.entries(await cpuMsPerSecondOver(pids, 3000)).filter(([, msPerS]) => msPerS >= 60);
    if (busy.length === 0) return Date.now() - started;
    if (Date.now() - started > 180_000) {
      progress(
        `${point}: not settled after 3 minutes (${busy.map(([k, v]) => `${k} ${v.toFixed(0)} ms/s`).join(', ')}); measuring anyway`,
      );
      return Date.now() - started;
    }
  }
}

export async function benchGuardedCreates(o: CellOptions): Promise<{ cells: Cell[]; idle: Idle[] }> {
  const { cp, progress } = o;
  const ca = readFileSync(cp.info.caFile, 'utf8');
  const apiPort = Number(new URL(cp.info.server).port);
  const maxClients = Math.max(32, ...o.points.map((p) => p.clients ?? 0));
  const creator = new Client('127.0.0.1', apiPort, ca, maxClients, {
    authorization: `Bearer ${token(cp.info.kubeconfigs.controller)}`,
  });
  const leaser = new Client('127.0.0.1', apiPort, ca, maxClients, {
    authorization: `Bearer ${token(cp.info.kubeconfigs.leaseguard)}`,
  });
  // The floor's Leases go to a namespace of their own with leaseguard's Role, as its identity writes them.
  await leaseNamespace('bench-floor');
  for (const ns of ['bench-none', 'bench-floorobj']) await scopedNamespace('bench-unguarded', ns);
  await waitEffective(creator, 'bench-none', false, false);
  await waitEffective(creator, 'bench-floorobj', false, false);

  const cells: Cell[] = [];
  const idle: Idle[] = [];
  let seq = 0;
  try {
    for (const point of o.points) {
      const memory = deploymentMemoryEnv();
      const scope = NS.leaseguard(point);
      // Production defaults, but without stamping (the chart's default is the validating webhook alone) and with the Deployment's memory settings.
      const env = {
        LEASEGUARD_STAMP_ANNOTATIONS: 'false',
        LEASEGUARD_FOREIGN_LEASE_NAMESPACES: ELSEWHERE,
        LEASEGUARD_MAX_LEASES: '1000000',
        ...memory,
        ...point.env,
      };
      const profDir = o.cpuProfDir ? join(o.cpuProfDir, point.name.replace(/[^a-z0-9]+/gi, '-')) : undefined;
      if (profDir) await mkdir(profDir, { recursive: true });
      progress(`${point.name}: starting ${point.replicas} leaseguard replica(s) behind one forwarder`);
      const set = await ReplicaSet.start({
        scope,
        count: point.replicas,
        env,
        ...(profDir
          ? {
              replicaEnv: (i: number) => ({
                NODE_OPTIONS: `${memory.NODE_OPTIONS} --cpu-prof --cpu-prof-dir=${join(profDir, `replica-${i}`)}`,
              }),
            }
          : {}),
      });
      try {
        await scopedNamespace(scope, NS.leaseguard(point));
        await waitEffective(creator, NS.leaseguard(point), true, false);
        const leader = await set.leader();
        progress(`${point.name}: replica ${leader} leads`);
        const pidsOf = (withReplicas: boolean) => {
          const pids: Record<string, number> = { 'kube-apiserver': cp.pid('kube-apiserver'), etcd: cp.pid('etcd') };
          if (withReplicas)
            set.replicas.forEach(
              (r, i) => (pids[`replica ${i}${i === leader ? ' (leader)' : ''}`] = r.process.pid ?? 0),
            );
          return pids;
        };
        // A new leader lists and watches every guarded object the earlier points created
        // (100,000 and more by the last point): measured, 1.3 s of the API server's CPU per
        // second and 175 ms of the leader's for the first 20 s. That start-up is not a create's
        // cost: the cells wait until it is over.
        const settled = await settle(pidsOf(true), progress, point.name);
        progress(`${point.name}: settled after ${(settled / 1000).toFixed(0)} s`);
        if (o.idleMs > 0) {
          const cpuMsPerSecond = await cpuMsPerSecondOver(pidsOf(true), o.idleMs);
          idle.push({ point: point.name, cpuMsPerSecond });
          progress(
            `${point.name}: idle CPU ms/s ${Object.entries(cpuMsPerSecond)
              .map(([k, v]) => `${k} ${v.toFixed(1)}`)
              .join(', ')}`,
          );
        }
        for (let round = 1; round <= o.rounds; round++) {
          // Alternate the order, so drift on the machine does not favour one mode.
          const order = round % 2 === 1 ? MODES : [...MODES].reverse();
          for (const mode of order) {
            const ns = NS[mode](point);
            const create = async (): Promise<string> => {
              const id = `c${seq++}`;
              const target = `${ns}/Deployment/${id}`;
              if (mode === 'floor') {
                const body = JSON.stringify({
                  apiVersion: 'coordination.k8s.io/v1',
                  kind: 'Lease',
                  metadata: { name: `floor-${id}` },
                  spec: { holderIdentity: 'bench' },
                });
                const l = await leaser.request(
                  'POST',
                  '/apis/coordination.k8s.io/v1/namespaces/bench-floor/leases',
                  body,
                );
                if (l.status !== 201) return `lease-http-${l.status}`;
              }
              const res = await creator.request(
                'POST',
                `/apis/kubernaut.ai/v1alpha1/namespaces/${ns}/workflowexecutions`,
                benchObject(ns, `we-${id}`, target, mode === 'leaseguard'),
              );
              return res.status === 201 ? 'created' : `http-${res.status}`;
            };
            const load = (ms: number) =>
              point.rate !== undefined
                ? runRate({ rate: point.rate, durationMs: ms, send: create })
                : runLoad({ concurrency: point.clients ?? 1, durationMs: ms, send: create });
            await load(o.warmupMs);
            const pids = pidsOf(mode === 'leaseguard');
            const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuTimeMs(pid)]));
            const lagBefore = await lagOf(set); // opens the cell's window
            const result = await load(point.rate !== undefined ? o.cellMs : o.closedCellMs);
            const creates = Math.max(1, result.requests);
            const cpuMs = Object.fromEntries(
              Object.entries(pids).map(([k, pid]) => [k, (cpuTimeMs(pid) - before[k]!) / creates]),
            );
            const lag = (await lagOf(set)).map((after, i) => ({
              replica: `replica ${i}`,
              p99: bucketQuantile(lagBefore[i]!.buckets, after.buckets, 0.99) * 1000,
              max: after.max,
            }));
            const cell: Cell = { point: point.name, round, mode, result, cpuMs, lag };
            cells.push(cell);
            const total = Object.values(cpuMs).reduce((a, b) => a + b, 0);
            progress(
              `${point.name} round ${round}/${o.rounds} ${mode.padEnd(10)} ${result.throughput.toFixed(0).padStart(4)}/s  p50 ${result.p50.toFixed(1)}  p95 ${result.p95.toFixed(1)}  p99 ${result.p99.toFixed(1)} ms  ` +
                `CPU ${total.toFixed(2)} ms/create  lag p99 ${lag.map((l) => l.p99.toFixed(1)).join('/')} ms  ${JSON.stringify(result.outcomes)}`,
            );
          }
        }
      } finally {
        await set.stop();
      }
    }
  } finally {
    creator.close();
    leaser.close();
  }
  return { cells, idle };
}

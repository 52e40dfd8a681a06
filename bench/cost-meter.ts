// What a CREATE costs, counted rather than timed: API write requests and webhook calls from
// kube-apiserver's own /metrics, writes and bytes from etcd's, and CPU time per process
// from /proc. Counts are stable on a noisy machine where latencies are not.
import { metricValue } from '../test/harness/metrics.js';
import { cpuTimeMs, type Client } from './processes.js';

const WRITE_VERBS = ['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY'];

export interface CostSnapshot {
  apiWrites: number;
  leaseWrites: number;
  webhookCalls: number;
  etcdWrites: number;
  etcdPutBytes: number;
  /** CPU milliseconds per process name, summed over its processes. */
  cpuMs: Record<string, number>;
}

/** Per create: the difference of two snapshots divided by the creates sent between them. */
export interface CreateCost {
  apiWrites: number;
  leaseWrites: number;
  webhookCalls: number;
  etcdWrites: number;
  etcdPutBytes: number;
  /**
   * The processes taking part: API server, etcd, the scenario's own webhook processes
   * (none, the no-op server, or one leaseguard set, its leader's watch included) and the
   * load generator (forwarders included). Other scenarios' idle webhook sets are left out.
   */
  cpuMs: number;
  /** The same, by process: kube-apiserver, etcd, webhooks, load generator. */
  cpuMsBy: Record<string, number>;
}

const sum = (page: string, name: string, labelSets: Array<Record<string, string>>) =>
  labelSets.reduce((a, labels) => {
    const v = metricValue(page, name, labels);
    return a + (Number.isNaN(v) ? 0 : v);
  }, 0);

export class CostMeter {
  constructor(
    private readonly o: {
      /** Reads the API server's /metrics (a client with a token that may). */
      apiserver: Client;
      etcdUrl: string;
      /** The processes whose CPU counts, by name; read fresh at each snapshot (replicas restart). */
      processes: () => Record<string, number[]>;
    },
  ) {}

  async snapshot(): Promise<CostSnapshot> {
    const [api, etcd] = await Promise.all([
      this.o.apiserver.request('GET', '/metrics'),
      fetch(`${this.o.etcdUrl}/metrics`).then((r) => r.text()),
    ]);
    if (api.status !== 200) throw new Error(`reading kube-apiserver /metrics: HTTP ${api.status}`);
    const self = process.cpuUsage();
    const cpuMs: Record<string, number> = { 'load generator': (self.user + self.system) / 1000 };
    for (const [name, pids] of Object.entries(this.o.processes())) {
      cpuMs[name] = pids.reduce((a, pid) => {
        try {
          return a + cpuTimeMs(pid);
        } catch {
          return a; // exited meanwhile
        }
      }, 0);
    }
    return {
      apiWrites: sum(
        api.body,
        'apiserver_request_total',
        WRITE_VERBS.map((verb) => ({ verb })),
      ),
      leaseWrites: sum(
        api.body,
        'apiserver_request_total',
        WRITE_VERBS.map((verb) => ({ verb, resource: 'leases' })),
      ),
      webhookCalls: sum(api.body, 'apiserver_admission_webhook_admission_duration_seconds_count', [{}]),
      etcdWrites: sum(etcd, 'etcd_mvcc_put_total', [{}]) + sum(etcd, 'etcd_mvcc_delete_total', [{}]),
      etcdPutBytes: sum(etcd, 'etcd_debugging_mvcc_total_put_size_in_bytes', [{}]),
      cpuMs,
    };
  }

  /** `webhooks`: the process group (a key of `processes`) serving the scenario, if any. */
  static perCreate(a: CostSnapshot, b: CostSnapshot, creates: number, webhooks: string | undefined): CreateCost {
    const per = (x: number) => x / Math.max(1, creates);
    const used = (name: string) => per((b.cpuMs[name] ?? 0) - (a.cpuMs[name] ?? 0));
    const cpuMsBy: Record<string, number> = {
      'kube-apiserver': used('kube-apiserver'),
      etcd: used('etcd'),
      webhooks: webhooks === undefined ? 0 : used(webhooks),
      'load generator': used('load generator'),
    };
    return {
      apiWrites: per(b.apiWrites - a.apiWrites),
      leaseWrites: per(b.leaseWrites - a.leaseWrites),
      webhookCalls: per(b.webhookCalls - a.webhookCalls),
      etcdWrites: per(b.etcdWrites - a.etcdWrites),
      etcdPutBytes: per(b.etcdPutBytes - a.etcdPutBytes),
      cpuMs: Object.values(cpuMsBy).reduce((x, y) => x + y, 0),
      cpuMsBy,
    };
  }
}

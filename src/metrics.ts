// leaseguard's Prometheus metrics, declared once in METRICS: the registry's metrics are
// created from it, and docs/metrics.md is generated from it (metrics-doc.ts). They are
// created on a registry the caller owns so that many instances can live in one process.
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import type { ApiObserve } from './kube/api-errors.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
const HOLD_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400] as const;
export const EVENT_LOOP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;
const SWEEP_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export interface MetricSpec {
  type: 'counter' | 'gauge' | 'histogram';
  name: string;
  help: string;
  labels?: readonly string[];
  /** A label's values, where they are a fixed set (for the docs). */
  values?: Readonly<Record<string, readonly string[]>>;
  buckets?: readonly number[];
}

/** Every metric leaseguard exports (besides Node.js's process metrics), in the docs' order. */
export const METRICS = {
  admissionRequests: {
    type: 'counter',
    name: 'leaseguard_admission_requests_total',
    help: 'Admission requests answered, by webhook (validate, mutate), kind, operation and decision.',
    labels: ['webhook', 'kind', 'operation', 'decision'],
  },
  admissionDuration: {
    type: 'histogram',
    name: 'leaseguard_admission_duration_seconds',
    help: 'Time to answer an admission request, from its arrival, by webhook, kind and decision.',
    labels: ['webhook', 'kind', 'decision'],
    buckets: LATENCY_BUCKETS,
  },
  lockAttempts: {
    type: 'counter',
    name: 'leaseguard_lock_attempts_total',
    help: 'Lock acquisitions attempted (CREATE admissions of guarded kinds with a valid key).',
    labels: ['kind'],
  },
  lockAcquired: {
    type: 'counter',
    name: 'leaseguard_lock_acquired_total',
    help: 'Locks granted, by how: acquired (a new Lease), retried (the same object again), taken-over.',
    labels: ['kind', 'how'],
    values: { how: ['acquired', 'retried', 'taken-over'] },
  },
  lockFailures: {
    type: 'counter',
    name: 'leaseguard_lock_failures_total',
    help: 'Lock acquisitions that could not be decided, by reason, and CREATEs whose key is invalid (reason invalid, which failure rates leave out).',
    labels: ['kind', 'reason'],
    values: {
      reason: [
        'unavailable',
        'forbidden',
        'timeout',
        'contended',
        'full',
        'lease-rejected',
        'foreign-lease',
        'lease-format',
        'internal',
        'invalid',
      ],
    },
  },
  lockContention: {
    type: 'counter',
    name: 'leaseguard_lock_contention_total',
    help: 'Busy denials: a CREATE refused because another object holds its key.',
    labels: ['kind'],
  },
  lockTakeovers: {
    type: 'counter',
    name: 'leaseguard_lock_takeovers_total',
    help: "Locks taken over from a previous holder, by reason (holder-mismatch: the object at the holder's name has another key or UID).",
    labels: ['kind', 'reason'],
    values: {
      reason: ['holder-gone', 'holder-terminal', 'holder-mismatch', 'pending-expired', 'expired', 'max-hold-exceeded'],
    },
  },
  lockReleases: {
    type: 'counter',
    name: 'leaseguard_lock_releases_total',
    help: 'Leases released by the leader, by reason (with the embedded store: expired locks dropped, reason expired).',
    labels: ['kind', 'reason'],
    values: { reason: ['completed', 'deleted', 'swept', 'expired'] },
  },
  lockHoldDuration: {
    type: 'histogram',
    name: 'leaseguard_lock_hold_duration_seconds',
    help: 'How long a lock was held, from acquisition to release.',
    labels: ['kind'],
    buckets: HOLD_BUCKETS,
  },
  leasesHeld: {
    type: 'gauge',
    name: 'leaseguard_leases_held',
    help: 'Leases currently held, by kind and state, refreshed by each sweep; leader only (others report none).',
    labels: ['kind', 'state'],
    values: { state: ['pending', 'bound'] },
  },
  leasesPendingOverdue: {
    type: 'gauge',
    name: 'leaseguard_leases_pending_overdue',
    help: 'Leases whose object the leader has not seen stored for longer than the pending timeout plus a sweep interval (by its own clock): a sweep should have reclaimed them. Refreshed by each sweep; leader only.',
    labels: ['kind'],
  },
  leader: {
    type: 'gauge',
    name: 'leaseguard_leader',
    help: 'Whether this replica runs the release work (1) or not (0).',
  },
  leaderTransitions: {
    type: 'counter',
    name: 'leaseguard_leader_transitions_total',
    help: 'Times this replica became or stopped being the leader.',
  },
  duplicateKeys: {
    type: 'gauge',
    name: 'leaseguard_duplicate_keys',
    help: 'Lock keys that two or more live objects hold now, as the leader watches them (the invariant: 0 in a healthy cluster); leader only.',
    labels: ['kind'],
  },
  duplicatesDetected: {
    type: 'counter',
    name: 'leaseguard_duplicate_keys_detected_total',
    help: 'Times the leader found a lock key held by two or more live objects.',
    labels: ['kind'],
  },
  watchHealthy: {
    type: 'gauge',
    name: 'leaseguard_watch_healthy',
    help: "Whether the leader's watch on a guarded kind is running (1) or restarting (0); leader only.",
    labels: ['kind'],
  },
  watchRestarts: {
    type: 'counter',
    name: 'leaseguard_watch_restarts_total',
    help: 'Watches on guarded kinds restarted after an error, or replaced because they stayed open past their timeout (a dead connection).',
    labels: ['kind'],
  },
  sweepDuration: {
    type: 'histogram',
    name: 'leaseguard_sweep_duration_seconds',
    help: 'Time to list every managed Lease, page by page, and queue those that need work.',
    buckets: SWEEP_BUCKETS,
  },
  apiRequestDuration: {
    type: 'histogram',
    name: 'leaseguard_apiserver_request_duration_seconds',
    help: 'Latency of calls leaseguard makes to the Kubernetes API server, by verb, resource and outcome (ok, HTTP status, timeout, error).',
    labels: ['verb', 'resource', 'outcome'],
    buckets: LATENCY_BUCKETS,
  },
  apiServerReachable: {
    type: 'gauge',
    name: 'leaseguard_apiserver_reachable',
    help: 'Whether this replica reaches the API server (1) or not (0: two failed checks a second apart, or an admission refused for lack of it; its /readyz fails, so endpoints drop it); probed every apiServerProbeSeconds.',
  },
  guardedObjectsInOwnNamespace: {
    type: 'gauge',
    name: 'leaseguard_guarded_objects_in_own_namespace',
    help: "Whether objects of a guarded kind exist in leaseguard's own namespace (1), where they are never guarded: the webhook configurations exclude it. Checked by every replica at start and every sweepIntervalSeconds.",
    labels: ['kind'],
  },
  badRequests: {
    type: 'counter',
    name: 'leaseguard_bad_requests_total',
    help: 'HTTP requests to the webhook refused as malformed, by reason (the HTTP status).',
    labels: ['reason'],
  },
  callersRefused: {
    type: 'counter',
    name: 'leaseguard_callers_refused_total',
    help: 'Admission requests refused before any read or write because the caller is not the API server, and connections closed for attempting TLS renegotiation (renegotiation).',
    labels: ['reason'],
    values: { reason: ['no-certificate', 'untrusted-certificate', 'subject-not-allowed', 'renegotiation'] },
  },
  callersAuthenticated: {
    type: 'gauge',
    name: 'leaseguard_callers_authenticated',
    help: "Whether the admission endpoints require the API server's client certificate (1: clientCaFile set) or serve any caller (0: allowUnauthenticatedCallers, or the embedded store).",
  },
  configReloads: {
    type: 'counter',
    name: 'leaseguard_config_reloads_total',
    help: "Changes of the configuration file seen while running, by result: applied (a rule's mode, maxHoldSeconds or namespaces, the log level) or refused (invalid, or a setting that applies only at start; the running configuration keeps serving).",
    labels: ['result'],
    values: { result: ['applied', 'refused'] },
  },
  namespacesUnrestricted: {
    type: 'gauge',
    name: 'leaseguard_namespaces_unrestricted',
    help: 'Whether the kind may be created, and take a lock, in every namespace (1: its rule or guardedNamespaces says *) or only in the configured ones (0).',
    labels: ['kind'],
  },
  certificateExpiry: {
    type: 'gauge',
    name: 'leaseguard_certificate_expiry_timestamp_seconds',
    help: 'When the serving certificate in use expires (Unix seconds); follows every reload.',
  },
  eventLoopDelay: {
    type: 'histogram',
    name: 'leaseguard_event_loop_delay_seconds',
    help: 'How late a timer due every 100 ms ran (Node.js monitorEventLoopDelay): what a request arriving then waited for the event loop. Cumulative, up to 5 s behind; take a quantile of its rate.',
    buckets: EVENT_LOOP_BUCKETS,
  },
  certificateRenewals: {
    type: 'counter',
    name: 'leaseguard_certificate_renewals_total',
    help: 'Self-managed certificates issued into the Secret, by what (ca, serving) and why (missing, expiring, ca-expiring, ...).',
    labels: ['what', 'reason'],
  },
} as const satisfies Record<string, MetricSpec>;

type Specs = typeof METRICS;
type LabelsOf<S> = S extends { labels: readonly (infer L extends string)[] } ? L : string;
type MetricOf<S> = S extends { type: 'counter' }
  ? Counter<LabelsOf<S>>
  : S extends { type: 'gauge' }
    ? Gauge<LabelsOf<S>>
    : Histogram<LabelsOf<S>>;

export type Metrics = { [K in keyof Specs]: MetricOf<Specs[K]> } & {
  registry: Registry;
  /** Adapter for the API clients' latency callback. */
  observeApi: ApiObserve;
};

function create(spec: MetricSpec, registry: Registry): Counter | Gauge | Histogram {
  const common = { name: spec.name, help: spec.help, labelNames: [...(spec.labels ?? [])], registers: [registry] };
  switch (spec.type) {
    case 'counter':
      return new Counter(common);
    case 'gauge':
      return new Gauge(common);
    case 'histogram':
      return new Histogram({ ...common, ...(spec.buckets ? { buckets: [...spec.buckets] } : {}) });
  }
}

export function createMetrics(registry: Registry, options: { defaultMetrics?: boolean } = {}): Metrics {
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({
      register: registry,
      prefix: 'leaseguard_',
      // Its event-loop monitor at 100 ms, not 10: ~4.6 ms of CPU per second idle at 10 ms, ~0.7 at 100.
      eventLoopMonitoringPrecision: 100,
    });
  const made: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(METRICS)) made[field] = create(spec, registry);
  const metrics = made as { [K in keyof Specs]: MetricOf<Specs[K]> };
  return {
    ...metrics,
    registry,
    observeApi: (verb, resource, outcome, seconds) =>
      metrics.apiRequestDuration.observe({ verb, resource, outcome }, seconds),
  };
}

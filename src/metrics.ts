// leaseguard's Prometheus metrics, created on a registry the caller owns so that many
// instances can live in one process (tests, benchmarks).
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import type { ApiObserve } from './kube/api-errors.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const HOLD_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];

export interface Metrics {
  registry: Registry;
  admissionRequests: Counter<'webhook' | 'kind' | 'operation' | 'decision'>;
  admissionDuration: Histogram<'webhook' | 'kind' | 'decision'>;
  lockAttempts: Counter<'kind'>;
  lockAcquired: Counter<'kind' | 'how'>;
  lockFailures: Counter<'kind' | 'reason'>;
  lockContention: Counter<'kind'>;
  lockTakeovers: Counter<'kind' | 'reason'>;
  lockReleases: Counter<'kind' | 'reason'>;
  lockHoldDuration: Histogram<'kind'>;
  leasesHeld: Gauge<'kind' | 'state'>;
  leasesPendingOverdue: Gauge<'kind'>;
  apiRequestDuration: Histogram<'verb' | 'resource' | 'outcome'>;
  badRequests: Counter<'reason'>;
  watchHealthy: Gauge<'kind'>;
  watchRestarts: Counter<'kind'>;
  sweepDuration: Histogram<string>;
  leader: Gauge<string>;
  leaderTransitions: Counter<string>;
  duplicateKeys: Gauge<'kind'>;
  callersRefused: Counter<'reason'>;
  callersAuthenticated: Gauge<string>;
  namespacesUnrestricted: Gauge<'kind'>;
  configReloads: Counter<'result'>;
  duplicatesDetected: Counter<'kind'>;
  certificateExpiry: Gauge<string>;
  certificateRenewals: Counter<'what' | 'reason'>;
  apiServerReachable: Gauge<string>;
  guardedObjectsInOwnNamespace: Gauge<'kind'>;
  /** Adapter for the API clients' latency callback. */
  observeApi: ApiObserve;
}

export function createMetrics(registry: Registry, options: { defaultMetrics?: boolean } = {}): Metrics {
  const registers = [registry];
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'leaseguard_' });
  const apiRequestDuration = new Histogram({
    name: 'leaseguard_apiserver_request_duration_seconds',
    help: 'Latency of calls leaseguard makes to the Kubernetes API server, by verb, resource and outcome (ok, HTTP status, timeout, error).',
    labelNames: ['verb', 'resource', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  return {
    registry,
    admissionRequests: new Counter({
      name: 'leaseguard_admission_requests_total',
      help: 'Admission requests answered, by webhook (validate, mutate), kind, operation and decision.',
      labelNames: ['webhook', 'kind', 'operation', 'decision'] as const,
      registers,
    }),
    admissionDuration: new Histogram({
      name: 'leaseguard_admission_duration_seconds',
      help: 'Time to answer an admission request, by webhook, kind and decision.',
      labelNames: ['webhook', 'kind', 'decision'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    lockAttempts: new Counter({
      name: 'leaseguard_lock_attempts_total',
      help: 'Lock acquisitions attempted (CREATE admissions of guarded kinds with a valid key).',
      labelNames: ['kind'] as const,
      registers,
    }),
    lockAcquired: new Counter({
      name: 'leaseguard_lock_acquired_total',
      help: 'Locks granted, by how: acquired (new Lease), retried (same object again), taken-over.',
      labelNames: ['kind', 'how'] as const,
      registers,
    }),
    lockFailures: new Counter({
      name: 'leaseguard_lock_failures_total',
      help: 'Lock acquisitions that could not be decided, by reason (unavailable, forbidden, timeout, contended, foreign-lease, lease-format, invalid).',
      labelNames: ['kind', 'reason'] as const,
      registers,
    }),
    lockContention: new Counter({
      name: 'leaseguard_lock_contention_total',
      help: 'Busy denials: a CREATE refused because another object holds its key.',
      labelNames: ['kind'] as const,
      registers,
    }),
    lockTakeovers: new Counter({
      name: 'leaseguard_lock_takeovers_total',
      help: 'Locks taken over from a previous holder, by reason (holder-gone, holder-terminal, pending-expired, expired, max-hold-exceeded).',
      labelNames: ['kind', 'reason'] as const,
      registers,
    }),
    lockReleases: new Counter({
      name: 'leaseguard_lock_releases_total',
      help: 'Leases released by the leader, by reason (completed, deleted, swept, expired).',
      labelNames: ['kind', 'reason'] as const,
      registers,
    }),
    lockHoldDuration: new Histogram({
      name: 'leaseguard_lock_hold_duration_seconds',
      help: 'How long a lock was held, from acquisition to release.',
      labelNames: ['kind'] as const,
      buckets: HOLD_BUCKETS,
      registers,
    }),
    leasesHeld: new Gauge({
      name: 'leaseguard_leases_held',
      help: 'Leases currently held, by kind and state (pending, bound).',
      labelNames: ['kind', 'state'] as const,
      registers,
    }),
    leasesPendingOverdue: new Gauge({
      name: 'leaseguard_leases_pending_overdue',
      help: 'Leases whose object the leader has not seen stored for longer than the pending timeout plus a sweep interval (by its own clock): a sweep should have reclaimed them. Refreshed by each sweep; leader only.',
      labelNames: ['kind'] as const,
      registers,
    }),
    apiRequestDuration,
    badRequests: new Counter({
      name: 'leaseguard_bad_requests_total',
      help: 'HTTP requests to the webhook refused as malformed, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    watchHealthy: new Gauge({
      name: 'leaseguard_watch_healthy',
      help: 'Whether the watch on a guarded kind is running (1) or restarting (0); set on the leader only.',
      labelNames: ['kind'] as const,
      registers,
    }),
    watchRestarts: new Counter({
      name: 'leaseguard_watch_restarts_total',
      help: 'Watches on guarded kinds restarted after an error.',
      labelNames: ['kind'] as const,
      registers,
    }),
    sweepDuration: new Histogram({
      name: 'leaseguard_sweep_duration_seconds',
      help: 'Time to list every managed Lease and queue it for review.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    leader: new Gauge({
      name: 'leaseguard_leader',
      help: 'Whether this replica runs the release work (1) or not (0).',
      registers,
    }),
    leaderTransitions: new Counter({
      name: 'leaseguard_leader_transitions_total',
      help: 'Times this replica became or stopped being the leader.',
      registers,
    }),
    callersRefused: new Counter({
      name: 'leaseguard_callers_refused_total',
      help: 'Admission requests refused before any read or write because the caller is not the API server (no-certificate, untrusted-certificate, subject-not-allowed), and connections closed for attempting TLS renegotiation (renegotiation).',
      labelNames: ['reason'] as const,
      registers,
    }),
    callersAuthenticated: new Gauge({
      name: 'leaseguard_callers_authenticated',
      help: "Whether the admission endpoints require the API server's client certificate (1: clientCaFile set) or serve any caller (0: allowUnauthenticatedCallers, or the embedded store).",
      registers,
    }),
    configReloads: new Counter({
      name: 'leaseguard_config_reloads_total',
      help: 'Changes of the configuration file seen while running, by result: applied (a rule\'s mode, maxHoldSeconds or namespaces, the log level) or refused (invalid, or a setting that applies only at start; the running configuration keeps serving).',
      labelNames: ['result'] as const,
      registers,
    }),
    namespacesUnrestricted: new Gauge({
      name: 'leaseguard_namespaces_unrestricted',
      help: 'Whether the kind may be created, and take a lock, in every namespace (1: its rule or guardedNamespaces says *) or only in the configured ones (0).',
      labelNames: ['kind'] as const,
      registers,
    }),
    duplicateKeys: new Gauge({
      name: 'leaseguard_duplicate_keys',
      help: 'Lock keys that two or more live objects hold now, as the leader watches them (the invariant: 0 in a healthy cluster); leader only.',
      labelNames: ['kind'] as const,
      registers,
    }),
    duplicatesDetected: new Counter({
      name: 'leaseguard_duplicate_keys_detected_total',
      help: 'Times the leader found a lock key held by two or more live objects.',
      labelNames: ['kind'] as const,
      registers,
    }),
    certificateExpiry: new Gauge({
      name: 'leaseguard_certificate_expiry_timestamp_seconds',
      help: 'When the serving certificate in use expires (Unix seconds); follows every reload.',
      registers,
    }),
    certificateRenewals: new Counter({
      name: 'leaseguard_certificate_renewals_total',
      help: 'Self-managed certificates issued into the Secret, by what (ca, serving) and why (missing, expiring, ca-expiring, ...).',
      labelNames: ['what', 'reason'] as const,
      registers,
    }),
    apiServerReachable: new Gauge({
      name: 'leaseguard_apiserver_reachable',
      help: 'Whether this replica reaches the API server (1) or not (0: its /readyz fails, so endpoints drop it); probed every apiServerProbeSeconds, and set to 0 at once by an admission that could not reach it.',
      registers,
    }),
    guardedObjectsInOwnNamespace: new Gauge({
      name: 'leaseguard_guarded_objects_in_own_namespace',
      help: "Whether objects of a guarded kind exist in leaseguard's own namespace (1), where they are never guarded: the webhook configurations exclude it. Checked at start and every sweepIntervalSeconds.",
      labelNames: ['kind'] as const,
      registers,
    }),
    observeApi: (verb, resource, outcome, seconds) => apiRequestDuration.observe({ verb, resource, outcome }, seconds),
  };
}

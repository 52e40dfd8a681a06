// Wires one leaseguard instance from what the caller owns: configuration, logger,
// metrics registry, Lease store and holder reader. No module-level state, so tests and
// benchmarks can run many instances in one process.
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { DecisionRecorder } from './admission/decision-recorder.js';
import { MutatingWebhook } from './admission/mutating-webhook.js';
import { ValidatingWebhook } from './admission/validating-webhook.js';
import type { Config } from './config.js';
import { ANY_NAMESPACE, LiveRules, type GuardRule } from './core/rules.js';
import type { LeaseAges } from './lock/lease-ages.js';
import type { LeaseBudget } from './lock/lease-budget.js';
import { LockService } from './lock/lock-service.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createAdmissionApp } from './server/admission-app.js';
import { Readiness } from './readiness.js';
import { API_CHECK, ApiReachability } from './server/api-reachability.js';
import type { HolderReader } from './store/holder-reader.js';
import type { LeaseStore } from './store/lease-store.js';
import { noEvents, type EventRecorder } from './kube/event-recorder.js';

export interface LeaseguardDeps {
  config: Pick<Config, 'rules' | 'pendingTimeoutSeconds' | 'deadlineMs' | 'failOpen'> &
    Partial<
      Pick<
        Config,
        | 'leaseFormat'
        | 'clientCaFile'
        | 'clientSubjects'
        | 'clientSubjectsMatchSans'
        | 'maxReviewBytes'
        | 'foreignLeaseNamespaces'
      >
    >;
  logger: Logger;
  registry: Registry;
  store: LeaseStore;
  holders: HolderReader;
  /** Metrics already created on `registry`, when the caller made them first (API latency). */
  metrics?: Metrics;
  clock?: () => Date;
  /** Where lock ages are measured (default: a new LeaseAges on performance.now). */
  ages?: LeaseAges;
  /** Where decisions worth an Event go (default: none, as with the embedded store). */
  events?: EventRecorder;
  /**
   * How to check that the API server is reachable (readiness follows it). Without it the
   * condition always holds: the embedded store has no API server to reach.
   */
  apiProbe?: { probe: (signal: AbortSignal) => Promise<unknown>; intervalMs: number; failureThreshold: number };
  /** The bound on Leases (maxLeases), when one is kept. */
  budget?: LeaseBudget;
}

export interface Leaseguard {
  app: Koa;
  metrics: Metrics;
  readiness: Readiness;
  locks: LockService;
  /** Replaced when a reloaded configuration changes a rule's mode, hold limit or namespaces. */
  rules: LiveRules;
  validating: ValidatingWebhook;
  mutating: MutatingWebhook;
  /** Present with `apiProbe`; the caller starts it once serving. */
  reachability?: ApiReachability;
}

/** Reports, per kind, whether every namespace may create it (gauge and warning). */
export function reportNamespaces(rules: readonly GuardRule[], metrics: Metrics, logger: Logger): void {
  for (const rule of rules) {
    const unrestricted = rule.namespaces?.includes(ANY_NAMESPACE) ?? true;
    metrics.namespacesUnrestricted.set({ kind: rule.kind }, unrestricted ? 1 : 0);
    if (unrestricted) {
      logger.warn(
        { kind: rule.kind },
        `${rule.kind} may be created in every namespace (namespaces: ${ANY_NAMESPACE}): anyone who may create it anywhere can take any of its lock keys; list the namespaces it belongs in (guardedNamespaces)`,
      );
    }
  }
}

export function createLeaseguard(deps: LeaseguardDeps): Leaseguard {
  const { config, logger, store } = deps;
  const metrics = deps.metrics ?? createMetrics(deps.registry);
  metrics.callersAuthenticated.set(config.clientCaFile ? 1 : 0);
  const rules = new LiveRules(config.rules);
  reportNamespaces(config.rules, metrics, logger);
  const locks = new LockService({
    store,
    holders: deps.holders,
    pendingTimeoutSeconds: config.pendingTimeoutSeconds,
    ...(config.leaseFormat ? { leaseFormat: config.leaseFormat } : {}),
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.ages ? { ages: deps.ages } : {}),
    ...(deps.budget ? { budget: deps.budget } : {}),
  });
  const readiness = new Readiness();
  const reachability =
    deps.apiProbe && new ApiReachability({ ...deps.apiProbe, readiness, gauge: metrics.apiServerReachable, logger });
  if (!reachability) {
    readiness.set(
      API_CHECK,
      true,
      store.backend === 'memory' ? 'embedded store: no API server to reach' : 'not probed',
    );
    metrics.apiServerReachable.set(1);
  }
  const validating = new ValidatingWebhook({
    rules,
    locks,
    metrics,
    logger,
    failOpen: config.failOpen,
    ...(config.foreignLeaseNamespaces ? { foreignLeaseNamespaces: config.foreignLeaseNamespaces } : {}),
    ...(reachability ? { storeFailed: (err: unknown) => reachability.admissionFailed(err) } : {}),
  });
  const mutating = new MutatingWebhook({ rules, leaseNamespace: store.namespace });
  const app = createAdmissionApp({
    validating,
    mutating,
    metrics,
    logger,
    readiness,
    record: new DecisionRecorder({
      metrics,
      logger,
      events: deps.events ?? noEvents,
      kindLabel: (group, kind) => rules.find(group, kind)?.kind ?? 'other',
    }),
    deadlineMs: config.deadlineMs,
    ...(config.maxReviewBytes ? { maxBodyBytes: config.maxReviewBytes } : {}),
    ...(config.clientCaFile
      ? { callers: { subjects: config.clientSubjects ?? [], matchSans: config.clientSubjectsMatchSans ?? false } }
      : {}),
  });
  return { app, metrics, readiness, locks, rules, validating, mutating, ...(reachability ? { reachability } : {}) };
}

// Watch-confirmed release: deletes a Lease (with preconditions) when its object finishes
// or disappears. That the object is stored is known from the watch (the Lease records its
// UID at admission), never written per create: a new key costs its Lease create and its
// release one delete. A sweep at start and at intervals looks at every managed Lease, so
// a release missed while no replica ran is made later. Runs on the elected leader only;
// admission never depends on it.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  MANAGED_SELECTOR,
  bindAtVersionPatch,
  decodeLease,
  type LockLease,
  type LockRecord,
} from '../core/lock-record.js';
import { isHolder, type HolderState } from '../core/holder.js';
import { decideRelease, needsAge, type HolderSource, type ReleaseTrigger } from '../core/release-decision.js';
import type { GuardRule, RuleIndex } from '../core/rules.js';
import { ErrorCodes, hasCode } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Readiness } from '../readiness.js';
import type { HolderReader } from '../store/holder-reader.js';
import type { LeaseStore } from '../store/lease-store.js';
import type { LeaseAges } from '../lock/lease-ages.js';
import { DuplicateMonitor } from './duplicate-monitor.js';
import type { EventRecorder } from '../kube/event-recorder.js';
import { WatchCache } from './watch-cache.js';
import { WorkQueue } from './work-queue.js';

export interface ReleaseControllerOptions {
  kubeConfig: KubeConfig;
  store: LeaseStore;
  holders: HolderReader;
  rules: RuleIndex;
  pendingTimeoutSeconds: number;
  /** Where lock ages are measured (shared with this process's admissions). */
  ages: LeaseAges;
  /** Where the duplicate monitor's findings go as Kubernetes Events. */
  events: EventRecorder;
  /** Other installations' Lease namespaces: objects they stamped are theirs to count (default none). */
  foreignLeaseNamespaces?: readonly string[];
  sweepIntervalSeconds: number;
  /** The API server ends each watch after this long; a new one resumes (default 300). */
  watchTimeoutSeconds?: number;
  metrics: Metrics;
  logger: Logger;
  readiness: Readiness;
  workers?: number;
  clock?: () => Date;
  /** Per-call deadline for API calls made by the release work. */
  callTimeoutMs?: number;
}

const ruleId = (group: string, kind: string) => `${group}/${kind}`;
/** The /readyz check that reports one kind's watch. */
const watchCheck = (rule: GuardRule) => `watch:${rule.resource}.${rule.group}`;

/**
 * Why a Lease is queued. A sweep passes the Lease it listed, so reviewing a healthy lock
 * costs no API call; a watch event reads the Lease fresh. Writes are compare-and-swap, so
 * a stale snapshot can only lose a race, never win a wrong one.
 */
interface Work {
  trigger: ReleaseTrigger;
  /** Decoded (no managedFields, no wire noise): 10,000 queued Leases stay small. */
  snapshot?: LockLease;
  /** The UID of an object a watch saw deleted. */
  deletedUid?: string;
}
const WATCH: Work = { trigger: 'watch' };

export class ReleaseController {
  readonly #o: ReleaseControllerOptions;
  readonly #clock: () => Date;
  #queue: WorkQueue<Work>;
  readonly #caches = new Map<string, WatchCache>();
  readonly #monitors = new Map<string, DuplicateMonitor>();
  #sweepTimer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: ReleaseControllerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? (() => new Date());
    this.#queue = this.#newQueue();
  }

  /** A queue per term of leadership: a stopped queue stays stopped. */
  #newQueue(): WorkQueue<Work> {
    const { logger } = this.#o;
    return new WorkQueue<Work>({
      workers: this.#o.workers ?? 4,
      handle: (name, work) => this.reconcile(name, work),
      merge: (a, b) => {
        const deletedUid = b.deletedUid ?? a.deletedUid;
        const merged = a.trigger === 'watch' || b.trigger === 'watch' ? WATCH : b;
        return deletedUid ? { ...merged, deletedUid } : merged;
      },
      onError: (name, err, attempt) =>
        logger.warn(
          { lease: name, attempt, err: (err as Error).message },
          'release work failed; retrying with backoff',
        ),
    });
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#queue = this.#newQueue();
    const { kubeConfig, rules, logger, metrics, readiness } = this.#o;
    const api = kubeConfig.makeApiClient(CustomObjectsApi);
    for (const rule of rules.rules) {
      const monitor = new DuplicateMonitor({
        rule,
        leaseNamespace: this.#o.store.namespace,
        metrics,
        logger,
        events: this.#o.events,
      });
      this.#monitors.set(ruleId(rule.group, rule.kind), monitor);
      const cache = new WatchCache({
        kubeConfig,
        api,
        rule,
        logger,
        ...(this.#o.foreignLeaseNamespaces ? { foreignLeaseNamespaces: this.#o.foreignLeaseNamespaces } : {}),
        ...(this.#o.watchTimeoutSeconds ? { timeoutSeconds: this.#o.watchTimeoutSeconds } : {}),
        onEvent: (type, obj, key, prev) => {
          monitor.observe(type, obj, key, prev);
          if (!obj.lease) return;
          if (type === 'delete' && obj.uid) this.#queue.add(obj.lease, { trigger: 'watch', deletedUid: obj.uid });
          else if ((type === 'created' || type === 'add') && !obj.terminal && !this.#holdDueBeforeSweep(rule)) {
            // A live object appearing: nothing to write (its Lease recorded it at
            // admission). The sweep at start reviews what the first list found; a rule
            // whose maximum hold ends before the next sweep is queued to arm its recheck.
          } else this.#queue.add(obj.lease, WATCH);
        },
        onHealth: (ok, message) => {
          metrics.watchHealthy.set({ kind: rule.kind }, ok ? 1 : 0);
          readiness.set(watchCheck(rule), ok, message, { critical: false });
        },
        onRestart: () => metrics.watchRestarts.inc({ kind: rule.kind }),
        // A relist stores a successor before it removes the object it replaced.
        onListing: (listing) => (listing ? monitor.hold() : monitor.settle()),
      });
      this.#caches.set(ruleId(rule.group, rule.kind), cache);
    }
    await Promise.all([...this.#caches.values()].map((c) => c.start()));
    if (!this.#running) return;
    await this.sweep();
    this.#sweepTimer = setInterval(() => void this.sweep(), this.#o.sweepIntervalSeconds * 1000);
    this.#sweepTimer.unref();
    logger.info(
      { kinds: rules.rules.map((r) => r.kind), sweepIntervalSeconds: this.#o.sweepIntervalSeconds },
      'release work started',
    );
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    this.#queue.stop();
    for (const c of this.#caches.values()) c.stop();
    this.#caches.clear();
    for (const m of this.#monitors.values()) m.reset();
    this.#monitors.clear();
    for (const rule of this.#o.rules.rules) {
      this.#o.metrics.watchHealthy.remove({ kind: rule.kind });
      this.#o.readiness.delete(watchCheck(rule));
    }
    this.#o.metrics.leasesHeld.reset();
    this.#o.metrics.leasesPendingOverdue.reset();
    this.#o.logger.info('release work stopped');
  }

  /** Resolves when queued work is done (tests, shutdown). */
  drained(): Promise<void> {
    return this.#queue.drained();
  }

  /**
   * Lists every managed Lease a page at a time, refreshes the held-Leases gauge, and
   * queues the Leases whose review would do something. A healthy lock (its holder cached,
   * live and bound) is decided on the spot and not queued: a sweep of 10,000 such locks
   * holds one page, not 10,000 snapshots.
   */
  async sweep(): Promise<void> {
    const started = performance.now();
    const held = new Map<string, number>();
    const overdue = new Map<string, number>();
    const overdueMs = (this.#o.pendingTimeoutSeconds + this.#o.sweepIntervalSeconds) * 1000;
    const sweepMs = this.#o.sweepIntervalSeconds * 1000;
    let listed = 0;
    let queued = 0;
    try {
      for await (const page of this.#o.store.listPages(
        MANAGED_SELECTOR,
        AbortSignal.timeout(this.#o.callTimeoutMs ?? 30_000),
      )) {
        for (const raw of page) {
          const lease = decodeLease(raw);
          if (!lease.record) continue;
          listed++;
          const rule = this.#o.rules.find(lease.record.object.group, lease.record.object.kind);
          const observed = rule ? this.#observe(rule, lease.record) : undefined;
          // bound: its object seen stored (by the watch, or recorded by an older version).
          const stored =
            lease.record.state === 'bound' || (observed !== undefined && isHolder(lease.name, lease.record, observed));
          // Label values from the configuration only: a Lease recording an unknown kind counts as other.
          const label = `${rule?.kind ?? 'other'}\u0000${stored ? 'bound' : 'pending'}`;
          held.set(label, (held.get(label) ?? 0) + 1);
          if (!rule || !observed) continue;
          const input = this.#decisionInput(rule, lease, lease.record, 'sweep', observed, 'cache');
          // Not seen stored, and past the point where a sweep should have reclaimed it.
          if (!stored && input.ageMs > overdueMs) overdue.set(rule.kind, (overdue.get(rule.kind) ?? 0) + 1);
          const decision = decideRelease(input);
          // A recheck due after the next sweep is that sweep's to arm: with a maximum hold
          // of hours, every lock would otherwise be read again on every sweep.
          if (
            decision.action === 'keep' &&
            (decision.recheckAfterMs === undefined || decision.recheckAfterMs > sweepMs)
          )
            continue;
          this.#queue.add(lease.name, { trigger: 'sweep', snapshot: lease });
          queued++;
        }
      }
    } catch (err) {
      this.#o.logger.warn(
        { err: (err as Error).message },
        'sweep could not list Leases; will try at the next interval',
      );
      return;
    }
    this.#o.metrics.leasesHeld.reset();
    for (const [label, n] of held) {
      const [kind, state] = label.split('\u0000') as [string, string];
      this.#o.metrics.leasesHeld.set({ kind, state }, n);
    }
    for (const rule of this.#o.rules.rules)
      this.#o.metrics.leasesPendingOverdue.set({ kind: rule.kind }, overdue.get(rule.kind) ?? 0);
    this.#o.metrics.sweepDuration.observe((performance.now() - started) / 1000);
    this.#o.logger.debug(
      { leases: listed, queued, ms: Math.round(performance.now() - started) },
      'sweep looked at every managed Lease',
    );
  }

  /** Whether `rule`'s maximum hold (as now configured) ends before the next sweep. */
  #holdDueBeforeSweep(rule: GuardRule): boolean {
    const max = this.#o.rules.find(rule.group, rule.kind)?.maxHoldSeconds;
    return max !== undefined && max <= this.#o.sweepIntervalSeconds;
  }

  #decisionInput(
    rule: GuardRule,
    lease: LockLease,
    record: LockRecord,
    trigger: ReleaseTrigger,
    holder: HolderState,
    source: HolderSource,
  ) {
    const maxHoldMs = rule.maxHoldSeconds ? rule.maxHoldSeconds * 1000 : undefined;
    return {
      leaseName: lease.name,
      record,
      trigger,
      holder,
      source,
      now: this.#clock(),
      // Measured only where it decides; a healthy lock is not remembered, so a sweep of
      // 10,000 of them records nothing.
      ageMs: needsAge(lease.name, record, holder, maxHoldMs) ? this.#o.ages.ageOf(lease) : 0,
      pendingTimeoutMs: this.#o.pendingTimeoutSeconds * 1000,
      ...(maxHoldMs ? { maxHoldMs } : {}),
    };
  }

  #observe(rule: GuardRule, record: LockRecord): HolderState {
    const obj = this.#caches.get(ruleId(rule.group, rule.kind))?.get(record.object.namespace, record.object.name);
    if (!obj) return { kind: 'gone' };
    return { kind: obj.terminal ? 'terminal' : 'live', uid: obj.uid, lease: obj.lease, phase: obj.phase };
  }

  /** Reviews one Lease: keep, bind or release it. Throws to be retried with backoff. */
  async reconcile(name: string, work: Work): Promise<void> {
    const { store, rules, metrics, logger, holders } = this.#o;
    const { trigger, deletedUid } = work;
    // Changed meanwhile: look again, reading the Lease fresh but keeping what the watch saw.
    const again = () => this.#queue.add(name, deletedUid ? { trigger, deletedUid } : { trigger });
    const signal = AbortSignal.timeout(this.#o.callTimeoutMs ?? 10_000);
    let lease = work.snapshot;
    if (!lease) {
      const raw = await store.get(name, signal);
      if (!raw) return;
      lease = decodeLease(raw);
    }
    const record = lease.record;
    if (!record) return;
    const rule = rules.find(record.object.group, record.object.kind);
    if (!rule) return;
    const base = this.#decisionInput(rule, lease, record, trigger, this.#observe(rule, record), 'cache');
    let decision = decideRelease(base);
    if (decision.action === 'confirm-absent') {
      // "Gone" may have been true at any moment of the read: decide as of its start (an
      // absent holder's age is measured, so `base` has it).
      const live = await holders.read(rule, record.object, signal);
      const holder: HolderState = live.kind === 'gone' && deletedUid ? { kind: 'gone', deletedUid } : live;
      decision = decideRelease({ ...base, holder, source: 'live' });
    }
    const ctx = {
      lease: name,
      key: record.key,
      kind: record.object.kind,
      holder: `${record.object.namespace}/${record.object.name}`,
    };
    switch (decision.action) {
      case 'keep':
        if (decision.recheckAfterMs !== undefined) this.#queue.addAfter(name, decision.recheckAfterMs + 50, WATCH);
        return;
      case 'bind':
        try {
          await store.patch(name, bindAtVersionPatch(decision.record, lease.resourceVersion, lease.format), signal);
          logger.debug({ ...ctx, uid: decision.record.object.uid }, 'lock bound to its stored object');
        } catch (err) {
          if (hasCode(err, ErrorCodes.STORE_NOT_FOUND)) return; // released meanwhile: nothing to bind
          if (!hasCode(err, ErrorCodes.STORE_CONFLICT)) throw err;
          again();
        }
        return;
      case 'release':
        try {
          await store.delete(name, { uid: lease.uid, resourceVersion: lease.resourceVersion }, signal);
        } catch (err) {
          if (hasCode(err, ErrorCodes.STORE_NOT_FOUND)) return;
          if (!hasCode(err, ErrorCodes.STORE_CONFLICT)) throw err;
          // Another writer (a new holder, a take-over) changed it: never delete that one blindly.
          again();
          return;
        }
        {
          // For people and the histogram: this process's own measure where it has one.
          const heldMs = this.#o.ages.knownAge(lease) ?? Math.max(0, base.now.getTime() - record.acquiredAt.getTime());
          metrics.lockReleases.inc({ kind: record.object.kind, reason: decision.reason });
          metrics.lockHoldDuration.observe({ kind: record.object.kind }, heldMs / 1000);
          logger.info({ ...ctx, reason: decision.reason, heldMs }, 'lock released');
        }
        return;
      case 'confirm-absent':
        return;
    }
  }
}

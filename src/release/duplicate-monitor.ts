// The invariant, watched: from what the leader's watch already holds, counts the live
// objects of one guarded kind per lock key, and reports any key with two or more at once
// (a gauge, an error log naming the objects, a Kubernetes Event), and again when it
// clears. In a healthy cluster it stays 0; a duplicate made behind leaseguard's back
// (webhook unregistered, fail-open, a bug) shows. Objects stamped by another
// installation (their Lease annotation names another namespace) are that one's to count.
import type { Logger } from 'pino';
import type { GuardRule } from '../core/rules.js';
import type { EventRecorder } from '../kube/event-recorder.js';
import type { Metrics } from '../metrics.js';
import type { CacheEvent, CachedObject } from './watch-cache.js';

/**
 * Which live objects count for which key (by Lease name, the key's hash-named identity).
 * One object is kept as a string, several as an array: a leader watching 300,000
 * objects holds no Set per key.
 */
export class LiveKeyIndex {
  readonly #byObject = new Map<string, string>();
  readonly #byLease = new Map<string, string | string[]>();

  /** The objects counted for `lease`. */
  objects(lease: string): readonly string[] {
    const v = this.#byLease.get(lease);
    return v === undefined ? [] : typeof v === 'string' ? [v] : v;
  }

  /** Counts `object` for `lease` (or for nothing); returns the Leases whose count changed. */
  set(object: string, lease: string | undefined): string[] {
    const before = this.#byObject.get(object);
    if (before === lease) return [];
    const changed: string[] = [];
    if (before !== undefined) {
      this.#drop(before, object);
      this.#byObject.delete(object);
      changed.push(before);
    }
    if (lease !== undefined) {
      const v = this.#byLease.get(lease);
      this.#byLease.set(lease, v === undefined ? object : typeof v === 'string' ? [v, object] : [...v, object]);
      this.#byObject.set(object, lease);
      changed.push(lease);
    }
    return changed;
  }

  #drop(lease: string, object: string): void {
    const v = this.#byLease.get(lease);
    if (v === undefined || v === object) {
      this.#byLease.delete(lease);
      return;
    }
    if (typeof v === 'string') return;
    const rest = v.filter((o) => o !== object);
    this.#byLease.set(lease, rest.length === 1 ? rest[0]! : rest);
  }
}

export interface DuplicateMonitorOptions {
  rule: GuardRule;
  leaseNamespace: string;
  metrics: Metrics;
  logger: Logger;
  events: EventRecorder;
}

export class DuplicateMonitor {
  readonly #o: DuplicateMonitorOptions;
  readonly #index = new LiveKeyIndex();
  /** Keys (by Lease name) now reported as duplicated, with the key when known. */
  readonly #reported = new Map<string, string | undefined>();
  /** The last key seen per Lease name, only for Leases with objects counted twice. */
  readonly #keys = new Map<string, string>();

  constructor(options: DuplicateMonitorOptions) {
    this.#o = options;
    options.metrics.duplicateKeys.set({ kind: options.rule.kind }, 0);
  }

  /** The number of keys with two or more live objects now. */
  get duplicated(): number {
    return this.#reported.size;
  }

  observe(type: CacheEvent, obj: CachedObject, key: string | undefined): void {
    const id = obj.namespace ? `${obj.namespace}/${obj.name}` : obj.name;
    const counts = type !== 'delete' && !obj.terminal && !obj.foreign && obj.lease !== undefined;
    const changed = this.#index.set(id, counts ? obj.lease : undefined);
    if (counts && key !== undefined && obj.lease !== undefined && this.#index.objects(obj.lease).length > 1) this.#keys.set(obj.lease, key);
    for (const lease of changed) this.#review(lease);
  }

  /** Leadership lost: nothing is known any more. */
  reset(): void {
    this.#reported.clear();
    this.#keys.clear();
    this.#o.metrics.duplicateKeys.remove({ kind: this.#o.rule.kind });
  }

  #review(lease: string): void {
    const { rule, logger, metrics, events, leaseNamespace } = this.#o;
    const objects = this.#index.objects(lease);
    const key = this.#keys.get(lease);
    const subject = { kind: rule.kind, lease: `${leaseNamespace}/${lease}`, ...(key === undefined ? {} : { key }) };
    if (objects.length > 1) {
      const first = !this.#reported.has(lease);
      this.#reported.set(lease, key);
      metrics.duplicateKeys.set({ kind: rule.kind }, this.#reported.size);
      if (first) metrics.duplicatesDetected.inc({ kind: rule.kind });
      const what = `${objects.length} live ${rule.resource} hold one lock key${key === undefined ? '' : ` ${JSON.stringify(key)}`}: ${objects.join(', ')}`;
      logger.error({ ...subject, objects }, `duplicate lock key: ${what}; at most one may be live (was leaseguard bypassed: webhook unregistered, fail-open?)`);
      events.record({
        regarding: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: leaseNamespace, name: lease },
        type: 'Warning',
        reason: 'DuplicateKey',
        message: `${what}; at most one may be live`,
      });
      return;
    }
    if (!this.#reported.has(lease)) return;
    this.#reported.delete(lease);
    this.#keys.delete(lease);
    metrics.duplicateKeys.set({ kind: rule.kind }, this.#reported.size);
    logger.info({ ...subject, objects }, 'duplicate lock key cleared: at most one live object holds it again');
    events.record({
      regarding: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: leaseNamespace, name: lease },
      type: 'Normal',
      reason: 'DuplicateKeyCleared',
      message: `at most one live ${rule.kind} holds the lock key${key === undefined ? '' : ` ${JSON.stringify(key)}`} again${objects.length ? `: ${objects[0]}` : ''}`,
    });
  }
}

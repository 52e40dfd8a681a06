// The invariant, watched: from what the leader's watch already holds, counts the live
// objects of one guarded kind per lock key, and reports any key with two or more at once
// (a gauge, an error log naming the objects, a Kubernetes Event), and again when it
// clears. In a healthy cluster it stays 0; a duplicate made behind leaseguard's back
// (webhook unregistered, fail-open, a bug) shows. Objects stamped for their own lock by
// another installation this one is configured to trust (foreignLeaseNamespaces) are that
// one's to count; no other stamp hides an object.
import type { Logger } from 'pino';
import type { GuardRule } from '../core/rules.js';
import type { EventRecorder } from '../kube/event-recorder.js';
import type { Metrics } from '../metrics.js';
import type { CacheEvent, CachedObject } from './watch-cache.js';

/** Names an object as logs and Events do. */
export const objectId = (obj: Pick<CachedObject, 'namespace' | 'name'>): string =>
  obj.namespace ? `${obj.namespace}/${obj.name}` : obj.name;

const sameObject = (a: CachedObject, b: CachedObject): boolean => a.name === b.name && a.namespace === b.namespace;

/** The Lease an object counts for: live, this installation's, with a valid key. */
export function countedLease(obj: CachedObject): string | undefined {
  return obj.terminal || obj.foreign ? undefined : obj.lease;
}

/**
 * Which live objects count for which key (by Lease name, the key's hash-named identity).
 * It holds the watch cache's own entries, not copies: what an object counted for before
 * is read from the cache's previous entry, so the index adds one map entry per counted
 * key (a leader watching 300,000 objects holds no second map by object, no id string per
 * object, no Set per key: one object is kept as itself, several as an array).
 */
export class LiveKeyIndex {
  readonly #byLease = new Map<string, CachedObject | CachedObject[]>();

  /** The objects counted for `lease`. */
  objects(lease: string): readonly CachedObject[] {
    const v = this.#byLease.get(lease);
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  }

  /**
   * `object` now counts for `to` (or for nothing) where it counted for `from`; returns the
   * Leases whose count changed. An object that stays with one Lease replaces its old entry.
   */
  move(object: CachedObject, from: string | undefined, to: string | undefined): string[] {
    if (from !== undefined) this.#drop(from, object);
    if (to !== undefined) this.#add(to, object);
    if (from === to) return [];
    return [from, to].filter((l): l is string => l !== undefined);
  }

  #add(lease: string, object: CachedObject): void {
    const v = this.#byLease.get(lease);
    this.#byLease.set(lease, v === undefined ? object : Array.isArray(v) ? [...v, object] : [v, object]);
  }

  #drop(lease: string, object: CachedObject): void {
    const v = this.#byLease.get(lease);
    if (v === undefined) return;
    if (!Array.isArray(v)) {
      if (sameObject(v, object)) this.#byLease.delete(lease);
      return;
    }
    const rest = v.filter((o) => !sameObject(o, object));
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
  /** While the cache relists: the Leases whose count changed, reviewed once it is whole. */
  #held: Set<string> | undefined;

  constructor(options: DuplicateMonitorOptions) {
    this.#o = options;
    options.metrics.duplicateKeys.set({ kind: options.rule.kind }, 0);
  }

  /** The number of keys with two or more live objects now. */
  get duplicated(): number {
    return this.#reported.size;
  }

  /**
   * `prev`: the cache's entry this event replaces (an update) or removes (a delete, where
   * it is `obj` itself); what the object counted for until now.
   */
  observe(type: CacheEvent, obj: CachedObject, key: string | undefined, prev?: CachedObject): void {
    const from = prev === undefined ? undefined : countedLease(prev);
    const to = type === 'delete' ? undefined : countedLease(obj);
    const changed = this.#index.move(obj, from, to);
    if (to !== undefined && key !== undefined && this.#index.objects(to).length > 1) this.#keys.set(to, key);
    for (const lease of changed) {
      if (this.#held) this.#held.add(lease);
      else this.#review(lease);
    }
  }

  /**
   * A list is under way: a relist stores what it finds before it removes what is gone,
   * so an object deleted while the watch was down and its successor for the same key
   * are both counted until the list ends. Nothing is judged until `settle`.
   */
  hold(): void {
    this.#held ??= new Set();
  }

  /** The list is whole: judges each Lease whose count changed while held. */
  settle(): void {
    const held = this.#held;
    this.#held = undefined;
    for (const lease of held ?? []) this.#review(lease);
  }

  /** Leadership lost: nothing is known any more. */
  reset(): void {
    this.#held = undefined;
    this.#reported.clear();
    this.#keys.clear();
    this.#o.metrics.duplicateKeys.remove({ kind: this.#o.rule.kind });
  }

  #review(lease: string): void {
    const { rule, logger, metrics, events, leaseNamespace } = this.#o;
    const objects = this.#index.objects(lease).map(objectId);
    const key = this.#keys.get(lease);
    const subject = { kind: rule.kind, lease: `${leaseNamespace}/${lease}`, ...(key === undefined ? {} : { key }) };
    if (objects.length > 1) {
      const first = !this.#reported.has(lease);
      this.#reported.set(lease, key);
      metrics.duplicateKeys.set({ kind: rule.kind }, this.#reported.size);
      if (first) metrics.duplicatesDetected.inc({ kind: rule.kind });
      const what = `${objects.length} live ${rule.resource} hold one lock key${key === undefined ? '' : ` ${JSON.stringify(key)}`}: ${objects.join(', ')}`;
      logger.error(
        { ...subject, objects },
        `duplicate lock key: ${what}; at most one may be live (was leaseguard bypassed: webhook unregistered, fail-open?)`,
      );
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

// Kubernetes Events for what an operator should see where they already look. Like
// client-go's recorder, a repeat of the same event (same object, reason and message)
// within ten minutes counts on the first one instead of writing another, and a token
// bucket bounds the writes: a storm becomes a handful of Events with counts, never a
// write per occurrence. Unlike client-go's, a repeat that the bucket holds back is not
// lost: it stays counted and the Event's count is written when a token comes, so the
// counts Events show converge on the number of occurrences (the metrics' number).
// Events go to leaseguard's own namespace, about its Leases, so its RBAC stays one Role
// there. Recording never throws and never blocks a caller.
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface EventSubject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  /** Where known: `kubectl describe` finds an object's Events by uid too. */
  uid?: string;
}

export interface LeaseguardEvent {
  regarding: EventSubject;
  type: 'Normal' | 'Warning';
  /** UpperCamelCase, from EventReasons. */
  reason: string;
  message: string;
}

export interface EventRecorder {
  record(event: LeaseguardEvent): void;
}

export const noEvents: EventRecorder = { record: () => {} };

/** Every Event reason leaseguard writes, in one place (`kubectl get events --field-selector reason=...`). */
export const EventReasons = {
  /** Creates refused because another object holds the key. */
  busy: 'LockBusy',
  /** A rule in warn mode admitted a create that enforce would refuse as busy: a duplicate. */
  busyAdmitted: 'LockBusyAdmitted',
  /** A create took the lock over from a finished, deleted or never-stored holder. */
  takenOver: 'LockTakenOver',
  /** A person released a lock by hand (`locks release --force`). */
  releasedByHand: 'LockReleasedByHand',
  /** Two or more live objects hold one key (the duplicate monitor). */
  duplicate: 'DuplicateKey',
  duplicateCleared: 'DuplicateKeyCleared',
} as const;

/** Kubernetes caps an Event message at 1 KiB. */
const MAX_MESSAGE = 1024;
const AGGREGATE_MS = 10 * 60_000;
const MAX_REMEMBERED = 4096;
/**
 * The invariant's Events (the duplicate monitor's) have room and tokens of their own: a
 * storm of busy denials over thousands of keys, whose Events wait hours for tokens, can
 * neither crowd them out of memory nor spend the writes they need.
 */
const INVARIANT_REASONS: ReadonlySet<string> = new Set([EventReasons.duplicate, EventReasons.duplicateCleared]);
const MAX_REMEMBERED_INVARIANT = 1024;

export interface KubeEventRecorderOptions {
  core: CoreV1Api;
  /** Where the Events are written (leaseguard's namespace). */
  namespace: string;
  /** This replica, as `source.host` and `reportingInstance`. */
  instance: string;
  logger: Logger;
  /** `reportingComponent` and `source.component` (default leaseguard). */
  component?: string;
  /** New Events allowed at once, and the time to earn one more (client-go: 25 and 5 minutes per object; here per process). */
  burst?: number;
  refillMs?: number;
  /** Count updates of existing Events allowed at once, and the time to earn one more (default 25 and 200 ms: 5 a second). */
  updateBurst?: number;
  updateRefillMs?: number;
  /** An Event's count is rewritten at most this often (default 1 s): a storm is one patch a second. */
  minIntervalMs?: number;
  clock?: () => number;
}

/** A token bucket on the recorder's clock. */
class Bucket {
  #tokens: number;
  #at: number;
  constructor(
    readonly burst: number,
    readonly refillMs: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  take(now: number): boolean {
    const earned = Math.floor((now - this.#at) / this.refillMs);
    if (earned > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + earned);
      this.#at += earned * this.refillMs;
    }
    if (this.#tokens <= 0) return false;
    this.#tokens--;
    return true;
  }

  /** When the next token comes. */
  get nextAt(): number {
    return this.#at + this.refillMs;
  }
}

/** A class of Events with its own memory bound and write budget. */
interface Lane {
  readonly name: 'ordinary' | 'invariant';
  readonly seen: Map<string, Aggregate>;
  readonly max: number;
  /** New Events are few (a storm over many keys is a handful); updates of their counts may be more frequent. */
  readonly creates: Bucket;
  readonly updates: Bucket;
  /** Occurrences dropped for want of room since the recorder started. */
  lost: number;
}

interface Aggregate {
  lane: Lane;
  event: LeaseguardEvent;
  name: string;
  /** Occurrences so far, and how many of them the Event as written shows. */
  count: number;
  written: number;
  created: boolean;
  firstTimestamp: string;
  until: number;
  /** No write of this Event before this time (minIntervalMs after the last one). */
  notBefore: number;
  /** A write for this Event is under way: repeats meanwhile only count. */
  writing: boolean;
}

/** A core/v1 Event as leaseguard writes it (the recorder, and one-off Events of the CLI). */
export function eventBody(
  event: LeaseguardEvent,
  o: {
    name: string;
    namespace: string;
    count: number;
    firstTimestamp: string;
    lastTimestamp: string;
    instance: string;
    component: string;
  },
): CoreV1Event {
  return {
    metadata: { name: o.name, namespace: o.namespace },
    involvedObject: { ...event.regarding },
    reason: event.reason,
    message: event.message.length > MAX_MESSAGE ? `${event.message.slice(0, MAX_MESSAGE - 3)}...` : event.message,
    type: event.type,
    count: o.count,
    firstTimestamp: new Date(o.firstTimestamp),
    lastTimestamp: new Date(o.lastTimestamp),
    source: { component: o.component, host: o.instance },
    reportingComponent: `leaseguard.kubernaut.ai/${o.component}`,
    reportingInstance: o.instance,
  };
}

/** An Event name as client-go makes them: the subject's name and a time in hex. */
export function eventName(subject: string, now: number): string {
  return `${subject}.${now.toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`;
}

export class KubeEventRecorder implements EventRecorder {
  readonly #o: KubeEventRecorderOptions;
  readonly #clock: () => number;
  readonly #minIntervalMs: number;
  readonly #ordinary: Lane;
  readonly #invariant: Lane;
  /** Aggregates whose count is ahead of what was written, in the order they fell behind. */
  readonly #dirty = new Set<Aggregate>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  /** Whether the rate limit has held writes back since the last warning about it. */
  #limited = false;

  constructor(options: KubeEventRecorderOptions) {
    this.#o = options;
    this.#clock = options.clock ?? (() => Date.now());
    this.#minIntervalMs = options.minIntervalMs ?? 1000;
    const lane = (name: Lane['name'], max: number): Lane => ({
      name,
      seen: new Map(),
      max,
      creates: new Bucket(options.burst ?? 25, options.refillMs ?? 5000, this.#clock()),
      updates: new Bucket(options.updateBurst ?? 25, options.updateRefillMs ?? 200, this.#clock()),
      lost: 0,
    });
    this.#ordinary = lane('ordinary', MAX_REMEMBERED);
    this.#invariant = lane('invariant', MAX_REMEMBERED_INVARIANT);
  }

  record(event: LeaseguardEvent): void {
    const now = this.#clock();
    const lane = INVARIANT_REASONS.has(event.reason) ? this.#invariant : this.#ordinary;
    const id = `${event.regarding.namespace}/${event.regarding.name}\u0000${event.regarding.uid ?? ''}\u0000${event.reason}\u0000${event.message}`;
    let agg = lane.seen.get(id);
    if (!agg || now >= agg.until) {
      if (lane.seen.size >= lane.max && !this.#prune(lane, now)) {
        // Thousands of distinct Events unwritten at once: this one cannot be kept.
        if (lane.lost++ === 0) {
          this.#o.logger.warn(
            { events: lane.name },
            'too many distinct Events waiting to be written: some are dropped (the logs and metrics still have them)',
          );
        }
        return;
      }
      const stamp = new Date(now).toISOString();
      const name = eventName(event.regarding.name, now);
      agg = {
        lane,
        event,
        name,
        count: 0,
        written: 0,
        created: false,
        firstTimestamp: stamp,
        until: now + AGGREGATE_MS,
        notBefore: 0,
        writing: false,
      };
      lane.seen.set(id, agg);
    }
    agg.count++;
    this.#dirty.add(agg);
    this.#flush();
  }

  /** Resolves once every counted occurrence has been written or given up (tests, shutdown). */
  async settled(timeoutMs = 30_000): Promise<void> {
    const deadline = this.#clock() + timeoutMs;
    const writing = () => [this.#ordinary, this.#invariant].some((l) => [...l.seen.values()].some((a) => a.writing));
    while ((this.#dirty.size > 0 || writing()) && this.#clock() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops the timer; what is unwritten stays unwritten. */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  /** Writes every dirty Event that may be written now; arms a timer for the rest. */
  #flush(): void {
    const now = this.#clock();
    let wakeAt = Infinity;
    for (const agg of this.#dirty) {
      if (agg.writing) continue;
      if (now < agg.notBefore) {
        wakeAt = Math.min(wakeAt, agg.notBefore);
        continue;
      }
      const bucket = agg.created ? agg.lane.updates : agg.lane.creates;
      if (!this.#take(bucket, now)) {
        wakeAt = Math.min(wakeAt, bucket.nextAt);
        continue;
      }
      this.#dirty.delete(agg);
      void this.#write(agg);
    }
    if (wakeAt < this.#timerAt) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timerAt = wakeAt;
      this.#timer = setTimeout(
        () => {
          this.#timer = undefined;
          this.#timerAt = Infinity;
          this.#flush();
        },
        Math.max(0, wakeAt - now),
      );
      this.#timer.unref();
    }
  }

  #take(bucket: Bucket, now: number): boolean {
    if (bucket.take(now)) return true;
    if (!this.#limited) {
      this.#limited = true;
      this.#o.logger.warn(
        'event rate limit reached: Event counts are written more slowly for now (nothing is lost; the logs and metrics are current)',
      );
    }
    return false;
  }

  /** Forgets a lane's finished aggregates; whether it has room now. */
  #prune(lane: Lane, now: number): boolean {
    for (const [k, a] of lane.seen) if (now >= a.until && !a.writing && !this.#dirty.has(a)) lane.seen.delete(k);
    return lane.seen.size < lane.max;
  }

  async #write(agg: Aggregate): Promise<void> {
    const { core, namespace, instance, logger } = this.#o;
    const component = this.#o.component ?? 'leaseguard';
    const { event } = agg;
    agg.writing = true;
    const count = agg.count;
    const lastTimestamp = new Date(this.#clock()).toISOString();
    try {
      if (agg.created) {
        await core.patchNamespacedEvent({
          name: agg.name,
          namespace,
          body: [
            { op: 'replace', path: '/count', value: count },
            { op: 'replace', path: '/lastTimestamp', value: lastTimestamp },
          ],
        });
      } else {
        const body = eventBody(event, {
          name: agg.name,
          namespace,
          count,
          firstTimestamp: agg.firstTimestamp,
          lastTimestamp,
          instance,
          component,
        });
        await core.createNamespacedEvent({ namespace, body });
        agg.created = true;
      }
      agg.written = count;
      this.#limited = false;
    } catch (err) {
      logger.warn(
        {
          reason: event.reason,
          regarding: `${event.regarding.namespace}/${event.regarding.name}`,
          err: (err as Error).message.slice(0, 300),
        },
        'could not write a Kubernetes Event',
      );
      // Not retried: a failing API server is not made busier by its own Events. An update
      // whose Event is gone (deleted, expired) starts a new one at the next occurrence.
      if (agg.created) agg.until = 0;
      agg.written = count;
    } finally {
      agg.writing = false;
      agg.notBefore = this.#clock() + this.#minIntervalMs;
      // Occurrences counted during the write left it dirty: they are written next.
      if (this.#dirty.size > 0) this.#flush();
    }
  }
}

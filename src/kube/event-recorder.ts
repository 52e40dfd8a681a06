// Kubernetes Events for what an operator should see where they already look. Like
// client-go's recorder, a repeat of the same event on the same object within ten
// minutes updates the first one's count instead of writing another, and a token bucket
// bounds the writes: a storm becomes a handful of Events with counts, never a write per
// occurrence. Events go to leaseguard's own namespace, about its Leases, so its RBAC
// stays one Role there. Recording never throws and never blocks a caller.
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface EventSubject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

export interface LeaseguardEvent {
  regarding: EventSubject;
  type: 'Normal' | 'Warning';
  /** UpperCamelCase, from a fixed set. */
  reason: string;
  message: string;
}

export interface EventRecorder {
  record(event: LeaseguardEvent): void;
}

export const noEvents: EventRecorder = { record: () => {} };

/** Kubernetes caps an Event message at 1 KiB. */
const MAX_MESSAGE = 1024;
const AGGREGATE_MS = 10 * 60_000;
const MAX_REMEMBERED = 4096;

export interface KubeEventRecorderOptions {
  core: CoreV1Api;
  /** Where the Events are written (leaseguard's namespace). */
  namespace: string;
  /** This replica, as `source.host` and `reportingInstance`. */
  instance: string;
  logger: Logger;
  /** Writes allowed at once, and the time to earn one more (client-go: 25 and 5 minutes per object; here per process). */
  burst?: number;
  refillMs?: number;
  clock?: () => number;
}

interface Aggregate {
  name: string;
  count: number;
  firstTimestamp: string;
  until: number;
  /** A write for this event is under way: repeats meanwhile only count. */
  writing: boolean;
}

export class KubeEventRecorder implements EventRecorder {
  readonly #o: KubeEventRecorderOptions;
  readonly #clock: () => number;
  readonly #seen = new Map<string, Aggregate>();
  #tokens: number;
  #refilledAt: number;
  /** Events dropped by the rate limit since the last warning about it. */
  #dropped = 0;

  constructor(options: KubeEventRecorderOptions) {
    this.#o = options;
    this.#clock = options.clock ?? (() => Date.now());
    this.#tokens = options.burst ?? 25;
    this.#refilledAt = this.#clock();
  }

  record(event: LeaseguardEvent): void {
    const now = this.#clock();
    const id = `${event.regarding.namespace}/${event.regarding.name}\u0000${event.reason}\u0000${event.message}`;
    const known = this.#seen.get(id);
    if (known && now < known.until) {
      known.count++;
      if (!known.writing && this.#take(now)) void this.#write(event, known, true);
      return;
    }
    if (!this.#take(now)) return;
    if (this.#seen.size >= MAX_REMEMBERED) this.#prune(now);
    const stamp = new Date(now).toISOString();
    const fresh: Aggregate = { name: `${event.regarding.name}.${now.toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`, count: 1, firstTimestamp: stamp, until: now + AGGREGATE_MS, writing: false };
    this.#seen.set(id, fresh);
    void this.#write(event, fresh, false);
  }

  #take(now: number): boolean {
    const burst = this.#o.burst ?? 25;
    const refill = this.#o.refillMs ?? 5000;
    const earned = Math.floor((now - this.#refilledAt) / refill);
    if (earned > 0) {
      this.#tokens = Math.min(burst, this.#tokens + earned);
      this.#refilledAt += earned * refill;
    }
    if (this.#tokens > 0) {
      this.#tokens--;
      return true;
    }
    if (this.#dropped++ === 0) this.#o.logger.warn('event rate limit reached: further Events are dropped for now (the logs and metrics still have them)');
    return false;
  }

  #prune(now: number): void {
    for (const [k, a] of this.#seen) if (now >= a.until && !a.writing) this.#seen.delete(k);
    if (this.#seen.size >= MAX_REMEMBERED) this.#seen.clear();
  }

  async #write(event: LeaseguardEvent, agg: Aggregate, update: boolean): Promise<void> {
    const { core, namespace, instance, logger } = this.#o;
    agg.writing = true;
    const count = agg.count;
    const lastTimestamp = new Date(this.#clock()).toISOString();
    try {
      if (update) {
        await core.patchNamespacedEvent({
          name: agg.name,
          namespace,
          body: [
            { op: 'replace', path: '/count', value: count },
            { op: 'replace', path: '/lastTimestamp', value: lastTimestamp },
          ],
        });
      } else {
        const body: CoreV1Event = {
          metadata: { name: agg.name, namespace },
          involvedObject: { ...event.regarding },
          reason: event.reason,
          message: event.message.length > MAX_MESSAGE ? `${event.message.slice(0, MAX_MESSAGE - 3)}...` : event.message,
          type: event.type,
          count,
          firstTimestamp: new Date(agg.firstTimestamp),
          lastTimestamp: new Date(lastTimestamp),
          source: { component: 'leaseguard', host: instance },
          reportingComponent: 'leaseguard.kubernaut.ai/leaseguard',
          reportingInstance: instance,
        };
        await core.createNamespacedEvent({ namespace, body });
        this.#dropped = 0;
      }
    } catch (err) {
      logger.warn({ reason: event.reason, regarding: `${event.regarding.namespace}/${event.regarding.name}`, err: (err as Error).message.slice(0, 300) }, 'could not write a Kubernetes Event');
      // An update whose Event is gone (deleted, expired) starts a new one next time.
      if (update) agg.until = 0;
    } finally {
      agg.writing = false;
    }
  }
}

// Lease-based leader election with client-go's semantics, on the same compare-and-swap
// primitives as the locks. A record is expired when it has not changed for a lease
// duration *as measured by this replica's clock since it last saw it change*, so clock
// skew between nodes does not matter.
import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ErrorCodes, hasCode } from '../errors.js';
import type { ReadonlyLease } from '../core/lock-record.js';
import type { LeaseStore } from '../store/lease-store.js';

export interface LeaderElectionOptions {
  store: LeaseStore;
  /** Name of the election's Lease. */
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onNewLeader?: (identity: string) => void;
  /** Monotonic milliseconds for expiry (default performance.now). */
  monotonic?: () => number;
}

export const LEADER_LEASE_LABELS = {
  'app.kubernetes.io/name': 'leaseguard',
  'app.kubernetes.io/component': 'leader-election',
};

interface Observed {
  fingerprint: string;
  at: number;
}

function fingerprint(l: ReadonlyLease): string {
  const s = l.spec ?? {};
  return JSON.stringify([
    s.holderIdentity ?? '',
    String(s.renewTime ?? ''),
    String(s.acquireTime ?? ''),
    s.leaseTransitions ?? 0,
    s.leaseDurationSeconds ?? 0,
  ]);
}

/**
 * The Lease as read, to be sent back whole in an update (PUT replaces the object, so its
 * other fields must travel with it). Only the fields set here are new objects; the rest
 * is shared with the store's copy and never changed.
 */
function writable(l: ReadonlyLease): V1Lease {
  return l as V1Lease;
}

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  readonly #now: () => number;
  #observed: Observed | undefined;
  #leading = false;
  #lastRenew = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #lastLeader = '';
  #ticking: Promise<void> = Promise.resolve();

  constructor(options: LeaderElectionOptions) {
    this.#o = options;
    this.#now = options.monotonic ?? (() => performance.now());
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops campaigning; a leader gives the Lease up so another replica need not wait. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#ticking;
    if (this.#leading) {
      await this.#release().catch((err: unknown) =>
        this.#o.logger.warn({ err: (err as Error).message }, 'could not release leadership'),
      );
      this.#setLeading(false);
    }
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    // Jitter as client-go does (up to 20%), so replicas do not move in lockstep.
    const delay = ms === 0 ? 0 : ms * (1 + Math.random() * 0.2);
    this.#timer = setTimeout(() => {
      this.#ticking = this.#tick().finally(() => this.#schedule(this.#o.retryPeriodMs));
    }, delay);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    let ok = false;
    try {
      ok = await this.#tryAcquireOrRenew(AbortSignal.timeout(Math.max(100, this.#o.retryPeriodMs)));
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message, election: this.#o.name }, 'leader election attempt failed');
    }
    if (this.#stopped) return;
    const now = this.#now();
    if (ok) {
      this.#lastRenew = now;
      if (!this.#leading) this.#setLeading(true);
    } else if (this.#leading && now - this.#lastRenew > this.#o.renewDeadlineMs) {
      this.#o.logger.warn(
        { election: this.#o.name, renewDeadlineMs: this.#o.renewDeadlineMs },
        'failed to renew leadership before the renew deadline',
      );
      this.#setLeading(false);
    }
  }

  #setLeading(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    if (leading) {
      this.#o.logger.info({ election: this.#o.name, identity: this.#o.identity }, 'became leader');
      this.#o.onStartedLeading();
    } else {
      this.#o.logger.info({ election: this.#o.name, identity: this.#o.identity }, 'stopped leading');
      this.#o.onStoppedLeading();
    }
  }

  #spec(current: ReadonlyLease['spec'] | undefined, takingOver: boolean): V1Lease['spec'] {
    const now = new V1MicroTime(Date.now());
    return {
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
      acquireTime: takingOver || !current?.acquireTime ? now : current.acquireTime,
      renewTime: now,
      leaseTransitions: (current?.leaseTransitions ?? 0) + (takingOver && current ? 1 : 0),
    };
  }

  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { store, name, identity } = this.#o;
    const current = await store.get(name, signal);
    if (!current) {
      try {
        await store.create(
          {
            metadata: { name, namespace: store.namespace, labels: LEADER_LEASE_LABELS },
            spec: this.#spec(undefined, true),
          },
          signal,
        );
        this.#noteLeader(identity);
        return true;
      } catch (err) {
        if (hasCode(err, ErrorCodes.STORE_ALREADY_EXISTS)) return false;
        throw err;
      }
    }
    const fp = fingerprint(current);
    const now = this.#now();
    if (!this.#observed || this.#observed.fingerprint !== fp) this.#observed = { fingerprint: fp, at: now };
    const holder = current.spec?.holderIdentity ?? '';
    this.#noteLeader(holder);
    const durationMs = (current.spec?.leaseDurationSeconds ?? Math.ceil(this.#o.leaseDurationMs / 1000)) * 1000;
    if (holder !== '' && holder !== identity && this.#observed.at + durationMs > now) return false;
    try {
      const base = writable(current);
      const updated = await store.replace(
        {
          ...base,
          metadata: { ...base.metadata, labels: { ...current.metadata?.labels, ...LEADER_LEASE_LABELS } },
          spec: this.#spec(current.spec, holder !== identity),
        },
        signal,
      );
      this.#observed = { fingerprint: fingerprint(updated), at: this.#now() };
      this.#noteLeader(identity);
      return true;
    } catch (err) {
      if (hasCode(err, ErrorCodes.STORE_CONFLICT)) return false;
      throw err;
    }
  }

  #noteLeader(identity: string): void {
    if (identity && identity !== this.#lastLeader) {
      this.#lastLeader = identity;
      this.#o.onNewLeader?.(identity);
    }
  }

  async #release(): Promise<void> {
    const current = await this.#o.store.get(this.#o.name, AbortSignal.timeout(2000));
    if (!current || current.spec?.holderIdentity !== this.#o.identity) return;
    await this.#o.store.replace(
      {
        ...writable(current),
        spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(Date.now()) },
      },
      AbortSignal.timeout(2000),
    );
    this.#o.logger.info({ election: this.#o.name }, 'released leadership');
  }
}

// The embedded store's only release: no API server means no watch and no holder reads,
// so a lock expires after the pending timeout. Dropping expired Leases keeps the
// process's memory bounded by the locks taken in the last two pending timeouts.
import type { Logger } from 'pino';
import { decodeLease, type LockLease, type LockRecord } from '../core/lock-record.js';
import { expiredWithoutHolderReads } from '../core/decide.js';
import { hasCode, ErrorCodes } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { MemoryLeaseStore } from '../store/memory-lease-store.js';
import type { LeaseAges } from '../lock/lease-ages.js';

/** Leases looked at before yielding to admissions waiting on the event loop. */
const SCAN_CHUNK = 1000;

export interface EmbeddedExpiryOptions {
  store: MemoryLeaseStore;
  /** Where lock ages are measured: the lock service's, which saw every write. */
  ages: LeaseAges;
  pendingTimeoutSeconds: number;
  metrics: Metrics;
  logger: Logger;
}

export class EmbeddedExpiry {
  readonly #o: EmbeddedExpiryOptions;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: EmbeddedExpiryOptions) {
    this.#o = options;
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      this.runOnce().catch((err: Error) =>
        this.#o.logger.warn({ err: err.message }, 'embedded Lease expiry failed; retrying next interval'),
      );
    }, this.#o.pendingTimeoutSeconds * 1000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Deletes every expired lock's Lease (with preconditions); returns how many. */
  async runOnce(): Promise<number> {
    const { store, metrics, pendingTimeoutSeconds } = this.#o;
    const { ages } = this.#o;
    const yieldEvery = async (n: number) => {
      if (n % SCAN_CHUNK === 0) await new Promise((resolve) => setImmediate(resolve));
    };
    const expired: Array<LockLease & { record: LockRecord }> = [];
    let seen = 0;
    for (const raw of store.scan()) {
      // decodeLease leaves `record` undefined for a Lease leaseguard does not manage.
      const lease = decodeLease(raw);
      if (lease.record && expiredWithoutHolderReads(ages.ageOf(lease), pendingTimeoutSeconds * 1000))
        expired.push({ ...lease, record: lease.record });
      await yieldEvery(++seen);
    }
    let dropped = 0;
    for (const [i, lease] of expired.entries()) {
      await yieldEvery(i + 1);
      try {
        await store.delete(lease.name, { uid: lease.uid, resourceVersion: lease.resourceVersion });
        metrics.lockReleases.inc({ kind: lease.record.object.kind, reason: 'expired' });
        dropped++;
      } catch (err) {
        // Taken over since the scan: it is a live lock again.
        if (!hasCode(err, ErrorCodes.STORE_CONFLICT) && !hasCode(err, ErrorCodes.STORE_NOT_FOUND)) throw err;
      }
    }
    return dropped;
  }
}

// A bound on how many Leases leaseguard creates (maxLeases): every distinct key a client
// sends makes one, and nothing else limits how many keys there are. Each replica knows the
// count from a cheap read every refreshMs (the API server's remainingItemCount on a list
// of one) plus the Leases it created itself since; it is approximate across replicas (a
// burst may overshoot by what the others create in one interval) and a bound on cost, not
// a lock decision: an unknown count (not read yet, or unreadable) refuses nothing.
import type { Logger } from 'pino';
import { ErrorCodes, LeaseguardError } from '../errors.js';

export interface LeaseBudgetOptions {
  max: number;
  /** How many Leases exist now, or undefined when the API server cannot say. */
  count: (signal: AbortSignal) => Promise<number | undefined>;
  logger: Logger;
  /** How often the count is read (default 15 s); when full, at most once a second more. */
  refreshMs?: number;
  now?: () => number;
}

/** A full budget reads the count again this soon, so room made by releases shows quickly. */
const FULL_REFRESH_MS = 1000;

export class LeaseBudget {
  readonly #o: LeaseBudgetOptions;
  readonly #now: () => number;
  #known: number | undefined;
  /** Leases this replica created since the count was read. */
  #since = 0;
  #readAt = -Infinity;
  #reading: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #warned = false;

  constructor(options: LeaseBudgetOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
  }

  get max(): number {
    return this.#o.max;
  }

  /** The count as this replica knows it (undefined before a first read). */
  get count(): number | undefined {
    return this.#known === undefined ? undefined : this.#known + this.#since;
  }

  start(): void {
    void this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#o.refreshMs ?? 15_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the count now (one read at a time). */
  refresh(): Promise<void> {
    this.#reading ??= this.#read().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  async #read(): Promise<void> {
    const startedAt = this.#now();
    try {
      const n = await this.#o.count(AbortSignal.timeout(10_000));
      this.#readAt = startedAt;
      if (n === undefined) return;
      this.#known = n;
      this.#since = 0;
    } catch (err) {
      this.#readAt = startedAt;
      this.#o.logger.debug(
        { err: (err as Error).message },
        'could not count Leases for maxLeases; keeping the last count',
      );
    }
  }

  /** Whether a new Lease would pass the bound now. */
  full(): boolean {
    const count = this.count;
    if (count === undefined || count < this.#o.max) {
      this.#warned = false;
      return false;
    }
    // Room made by releases shows within a second, not at the next regular read.
    if (this.#now() - this.#readAt >= FULL_REFRESH_MS) void this.refresh();
    return true;
  }

  /** Throws STORE_FULL when a new Lease would pass the bound. */
  checkRoom(): void {
    if (!this.full()) return;
    const count = this.count ?? this.#o.max;
    if (!this.#warned) {
      this.#warned = true;
      this.#o.logger.warn(
        { leases: count, maxLeases: this.#o.max },
        'maxLeases reached: creates of new keys are refused until locks are released',
      );
    }
    throw new LeaseguardError(
      ErrorCodes.STORE_FULL,
      `leaseguard already holds about ${count} Leases, its maximum (maxLeases ${this.#o.max}): a new key cannot be locked until locks are released`,
      { statusCode: 503 },
    );
  }

  /** A Lease this replica created. */
  created(): void {
    this.#since++;
  }
}

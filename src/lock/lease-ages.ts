// How old a lock is, as far as this process can prove it. Every age that decides
// something (the pending timeout, a rule's maximum hold, the sweep's reclaim, the
// embedded store's expiry) is measured here, on this process's monotonic clock, from the
// first time this process saw the Lease's current holder, or from just before its own
// write of it. Never from a timestamp another machine wrote: a replica or leader whose
// wall clock is minutes off would otherwise take over or reclaim a lock inside its
// pending window. The first sight comes after the write, and the write after the API
// server received the create it admits, so a measured age is never more than the time
// that create has had to be stored. What this costs: a replica that first sees a lock
// late (it just started, or no request for the key reached it before) waits a full
// pending timeout from then; a restart forgets every sighting.
import { createHash } from 'node:crypto';
import type { LockLease } from '../core/lock-record.js';
import { RecentMap } from '../core/recent-map.js';

/**
 * One holder's term on a Lease: changes with every create, take-over and fresh retry
 * (each writes a new acquireTime, holder UID or Lease), and not with a bind. Compared
 * only for equality: a timestamp used as a name, never as a time. Kept as 128 bits of a
 * hash of its parts (a 24-character string): a process remembers up to 131,072 terms,
 * and the parts themselves (two UIDs, a name, as a tree of concatenations) cost ~450
 * bytes a term more.
 */
export function termOf(lease: LockLease): string | undefined {
  const r = lease.record;
  if (!r) return undefined;
  const parts = [
    lease.uid,
    r.acquiredAt.getTime(),
    r.transitions,
    r.object.uid,
    r.object.namespace,
    r.object.name,
  ].join('\u0000');
  return createHash('sha256').update(parts, 'utf8').digest().toString('base64', 0, 16);
}

interface Sighting {
  term: string;
  /** Monotonic milliseconds of the first sight (or of the write that made the term). */
  at: number;
}

export interface LeaseAgesOptions {
  /** Monotonic milliseconds (default performance.now). */
  monotonic?: () => number;
  /** Leases remembered per generation; a forgotten one is seen anew (later, never sooner). */
  generationSize?: number;
}

/** Enough for every pending lock of a large cluster; unused slots cost nothing. */
const DEFAULT_GENERATION = 65_536;

export class LeaseAges {
  readonly #now: () => number;
  readonly #seen: RecentMap<string, Sighting>;

  constructor(options: LeaseAgesOptions = {}) {
    this.#now = options.monotonic ?? (() => performance.now());
    this.#seen = new RecentMap(options.generationSize ?? DEFAULT_GENERATION);
  }

  /** This process's monotonic clock, in milliseconds. */
  now(): number {
    return this.#now();
  }

  /**
   * When this process first saw the lock `lease` records now (monotonic ms). A term not
   * seen before is first seen now: call this after the read that returned `lease`.
   */
  firstSeen(lease: LockLease): number {
    const term = termOf(lease);
    if (term === undefined) return this.#now();
    const known = this.#seen.get(lease.name);
    if (known?.term === term) {
      this.#seen.set(lease.name, known); // keep it in the current generation
      return known.at;
    }
    const at = this.#now();
    this.#seen.set(lease.name, { term, at });
    return at;
  }

  /** The lock's age at monotonic time `at` (default now): never negative. */
  ageOf(lease: LockLease, at: number = this.#now()): number {
    return Math.max(0, at - this.firstSeen(lease));
  }

  /** The age of a lock this process saw, without recording a sighting; undefined if it never did. */
  knownAge(lease: LockLease): number | undefined {
    const term = termOf(lease);
    const known = this.#seen.get(lease.name);
    return term !== undefined && known?.term === term ? Math.max(0, this.#now() - known.at) : undefined;
  }

  /**
   * This process wrote `lease` (a new term) with a request sent at monotonic `sentAt`: the
   * term is at least that old, since the create it admits reached the API server before.
   */
  wrote(lease: LockLease, sentAt: number): void {
    const term = termOf(lease);
    if (term !== undefined) this.#seen.set(lease.name, { term, at: sentAt });
  }
}

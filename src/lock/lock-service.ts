// Takes a lock for one admission: reads the Lease, asks the pure decision what to do,
// and carries it out with compare-and-swap. A lost race re-reads and decides again.
import type { V1Lease } from '@kubernetes/client-node';
import type { HolderState } from '../core/holder.js';
import { decide, type Decision, type LockRequest, type TakeoverReason } from '../core/decide.js';
import { leaseName } from '../core/lease-name.js';
import { RecentMap } from '../core/recent-map.js';
import {
  CURRENT_LEASE_FORMAT,
  decodeLease,
  encodeLease,
  type LeaseFormat,
  type LockLease,
  type LockRecord,
  type ObjectRef,
} from '../core/lock-record.js';
import type { GuardRule } from '../core/rules.js';
import { ErrorCodes, LeaseguardError, hasCode } from '../errors.js';
import type { HolderReader } from '../store/holder-reader.js';
import type { LeaseStore } from '../store/lease-store.js';
import { LeaseAges } from './lease-ages.js';
import type { LeaseBudget } from './lease-budget.js';

export type LockOutcome =
  | {
      verdict: 'allowed';
      how: 'acquired' | 'retried' | 'taken-over';
      takeover?: TakeoverReason;
      previous?: LockRecord;
      lease: string;
      /** The Lease's uid, where it existed before this create (a retry or take-over). */
      leaseUid?: string;
    }
  | {
      verdict: 'busy';
      holder: LockRecord;
      ageMs: number;
      pending?: { retryAfterSeconds: number; until: Date };
      lease: string;
      leaseUid?: string;
    }
  | { verdict: 'foreign'; recordedKey?: string; lease: string };

export interface AcquireOptions {
  dryRun: boolean;
  signal?: AbortSignal;
  /** The Lease name for the request's key, when the caller computed it already. */
  leaseName?: string;
}

export interface LockServiceOptions {
  store: LeaseStore;
  holders: HolderReader;
  pendingTimeoutSeconds: number;
  /** Wall clock, for the times written on a Lease (never compared for a decision). */
  clock?: () => Date;
  /** Where lock ages are measured; shared with the release work of the same process. */
  ages?: LeaseAges;
  /** The bound on Leases (maxLeases): a new key past it fails closed (STORE_FULL). */
  budget?: LeaseBudget;
  /** The Lease format written (both are read); default CURRENT_LEASE_FORMAT. */
  leaseFormat?: LeaseFormat;
}

/** How many recently held keys to remember (per generation) for choosing read-first over create-first. */
const RECENTLY_HELD_GENERATION = 2048;

/** Each round is one compare-and-swap another writer won; a handful is plenty. */
const MAX_ROUNDS = 5;

function isLostRace(err: unknown): boolean {
  return (
    hasCode(err, ErrorCodes.STORE_ALREADY_EXISTS) ||
    hasCode(err, ErrorCodes.STORE_CONFLICT) ||
    hasCode(err, ErrorCodes.STORE_NOT_FOUND)
  );
}

/** Settles with `work`, or rejects as soon as `signal` aborts (the work may go on; its result is dropped). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** A Lease of a later format: what it says about its lock is unknown, so nothing may be decided on it. */
function unsupportedFormat(namespace: string, lease: LockLease): LeaseguardError {
  return new LeaseguardError(
    ErrorCodes.LEASE_FORMAT_UNSUPPORTED,
    `Lease ${namespace}/${lease.name} is in format ${lease.unsupportedFormat}, written by a later leaseguard; this replica reads formats 1 and 2 only ` +
      '(finish the upgrade, or roll back only after that Lease is released)',
    { statusCode: 500 },
  );
}

export class LockService {
  readonly #store: LeaseStore;
  readonly #holders: HolderReader;
  readonly #pendingTimeoutSeconds: number;
  readonly #clock: () => Date;
  readonly #ages: LeaseAges;
  readonly #budget: LeaseBudget | undefined;
  readonly #format: LeaseFormat;
  /** Lease names seen held lately. */
  readonly #held = new RecentMap<string, true>(RECENTLY_HELD_GENERATION);
  /** The holder each Lease recorded when last read, by Lease name, with that version. */
  readonly #lastHolder = new RecentMap<string, { resourceVersion: string; ref: ObjectRef }>(RECENTLY_HELD_GENERATION);

  constructor(opts: LockServiceOptions) {
    this.#store = opts.store;
    this.#holders = opts.holders;
    this.#pendingTimeoutSeconds = opts.pendingTimeoutSeconds;
    this.#clock = opts.clock ?? (() => new Date());
    this.#ages = opts.ages ?? new LeaseAges();
    this.#budget = opts.budget;
    this.#format = opts.leaseFormat ?? CURRENT_LEASE_FORMAT;
  }

  get store(): LeaseStore {
    return this.#store;
  }

  get ages(): LeaseAges {
    return this.#ages;
  }

  /**
   * Decides whether `request` may take the lock for its key and, unless `dryRun`, makes
   * the write that takes it. Throws a coded LeaseguardError when the lock cannot be
   * verified (the caller fails closed).
   */
  async acquire(rule: GuardRule, request: LockRequest, opts: AcquireOptions): Promise<LockOutcome> {
    try {
      // A request whose deadline passed before its lock was looked at (its body was slow to
      // arrive) starts nothing.
      opts.signal?.throwIfAborted();
      const work = this.#acquire(rule, request, opts);
      return await (opts.signal ? raceAbort(work, opts.signal) : work);
    } catch (err) {
      if (opts.signal?.aborted && !(err instanceof LeaseguardError)) {
        throw new LeaseguardError(
          ErrorCodes.STORE_TIMEOUT,
          "the API server did not answer before the webhook deadline (counted from the request's arrival: a request slow to arrive spends it too)",
          {
            statusCode: 504,
            cause: err,
          },
        );
      }
      throw err;
    }
  }

  async #acquire(rule: GuardRule, request: LockRequest, opts: AcquireOptions): Promise<LockOutcome> {
    const name = opts.leaseName ?? leaseName(rule, request.key);
    const { signal, dryRun } = opts;
    const outcome = dryRun || this.#held.has(name) ? undefined : await this.#createFirst(name, request, signal);
    if (outcome) return this.#noteHeld(name, outcome);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      signal?.throwIfAborted();
      const early = round === 0 ? this.#readHolderEarly(rule, name, signal) : undefined;
      const raw = await this.#store.get(name, signal);
      const lease = raw ? decodeLease(raw) : null;
      if (lease?.unsupportedFormat !== undefined) throw unsupportedFormat(this.#store.namespace, lease);
      const firstSeen = lease ? this.#ages.firstSeen(lease) : 0;
      let holder: HolderState | undefined;
      // When the holder's state was observed (monotonic): a decision is made as of then.
      let observedAt = this.#ages.now();
      if (early && lease?.resourceVersion === early.basis.resourceVersion) {
        // The Lease is as it was when the early read began, so the early read is the read
        // that would follow this one; deciding as of its start keeps "older than the
        // pending timeout" true only of what the read could see.
        holder = await early.state;
        observedAt = early.startedAt;
      } else if (lease?.record) {
        this.#lastHolder.set(name, { resourceVersion: lease.resourceVersion, ref: lease.record.object });
      } else if (early) {
        this.#lastHolder.delete(name);
      }
      let decision: Decision;
      for (;;) {
        decision = decide({
          request,
          lease,
          holder,
          now: this.#clock(),
          ageMs: Math.max(0, observedAt - firstSeen),
          pendingTimeoutMs: this.#pendingTimeoutSeconds * 1000,
          ...(rule.maxHoldSeconds ? { maxHoldMs: rule.maxHoldSeconds * 1000 } : {}),
        });
        if (decision.action !== 'read-holder') break;
        // "Gone" may have been true at any moment of the read: count it from its start.
        observedAt = this.#ages.now();
        holder = await this.#holders.read(rule, decision.ref, signal);
      }
      try {
        const outcome = await this.#apply(decision, name, lease, dryRun, signal);
        if (outcome) return this.#noteHeld(name, outcome);
      } catch (err) {
        if (!isLostRace(err)) throw err;
        // Another writer changed the Lease between our read and write: read again.
      }
    }
    throw new LeaseguardError(
      ErrorCodes.LOCK_CONTENDED,
      `lost the compare-and-swap on Lease ${this.#store.namespace}/${name} ${MAX_ROUNDS} times in a row`,
      { statusCode: 503 },
    );
  }

  /**
   * A contended key's every admission reads its Lease and then the holder it records: two
   * round trips in a row. When the Lease was read before, the holder it recorded then is
   * read at the same time as the Lease; the answer counts only if the Lease turns out
   * unchanged (same resourceVersion), otherwise it is dropped and the holder read again.
   */
  #readHolderEarly(rule: GuardRule, name: string, signal?: AbortSignal) {
    const basis = this.#lastHolder.get(name);
    if (!basis) return undefined;
    const startedAt = this.#ages.now();
    const state = this.#holders.read(rule, basis.ref, signal);
    state.catch(() => {}); // awaited only when it counts; a dropped read's failure is no one's
    return { basis, startedAt, state };
  }

  /**
   * Most keys are free, so a key not seen held lately is first tried with a bare create:
   * the decision for "no Lease" is "create it", and a create that wins is the whole
   * compare-and-swap, one API call instead of a read and a write. A create that loses
   * (AlreadyExists) falls through to the read-and-decide path.
   */
  async #createFirst(name: string, request: LockRequest, signal?: AbortSignal): Promise<LockOutcome | undefined> {
    // At the bound, a key may still be held (busy) or retried: the read path tells.
    if (this.#budget?.full()) return undefined;
    const decision = decide({
      request,
      lease: null,
      now: this.#clock(),
      ageMs: 0,
      pendingTimeoutMs: this.#pendingTimeoutSeconds * 1000,
    });
    if (decision.action !== 'create') return undefined;
    try {
      return await this.#apply(decision, name, null, false, signal);
    } catch (err) {
      if (hasCode(err, ErrorCodes.STORE_ALREADY_EXISTS)) return undefined;
      throw err;
    }
  }

  /** Keys whose Lease exists now go straight to the read path for a while (hot keys). */
  #noteHeld(name: string, outcome: LockOutcome): LockOutcome {
    this.#held.remember(name, () => true);
    return outcome;
  }

  async #apply(
    decision: Decision,
    name: string,
    lease: LockLease | null,
    dryRun: boolean,
    signal?: AbortSignal,
  ): Promise<LockOutcome | undefined> {
    const encode = (record: LockRecord, resourceVersion?: string) =>
      encodeLease(record, {
        name,
        namespace: this.#store.namespace,
        pendingTimeoutSeconds: this.#pendingTimeoutSeconds,
        format: this.#format,
        ...(resourceVersion ? { resourceVersion } : {}),
      });
    // A write of a new term counts its age from just before it was sent (lease-ages.ts).
    const write = async (lease: V1Lease, replace: boolean) => {
      const sentAt = this.#ages.now();
      const written = replace ? await this.#store.replace(lease, signal) : await this.#store.create(lease, signal);
      this.#ages.wrote(decodeLease(written), sentAt);
    };
    // A replace keeps the Lease's uid: Events about it then match `kubectl describe lease`.
    const uid = lease?.uid ? { leaseUid: lease.uid } : {};
    switch (decision.action) {
      case 'create':
        // A dry run meets the bound as the real create would.
        this.#budget?.checkRoom();
        if (!dryRun) {
          await write(encode(decision.record), false);
          this.#budget?.created();
        }
        return { verdict: 'allowed', how: 'acquired', lease: name };
      case 'retry':
        if (!dryRun && decision.record && lease) await write(encode(decision.record, lease.resourceVersion), true);
        return { verdict: 'allowed', how: 'retried', lease: name, ...uid };
      case 'take-over':
        if (!dryRun && lease) await write(encode(decision.record, lease.resourceVersion), true);
        return {
          verdict: 'allowed',
          how: 'taken-over',
          takeover: decision.reason,
          previous: decision.previous,
          lease: name,
          ...uid,
        };
      case 'deny-busy':
        return {
          verdict: 'busy',
          holder: decision.holder,
          ageMs: decision.ageMs,
          ...(decision.pending ? { pending: decision.pending } : {}),
          lease: name,
          ...uid,
        };
      case 'deny-foreign':
        return decision.recordedKey === undefined
          ? { verdict: 'foreign', lease: name }
          : { verdict: 'foreign', recordedKey: decision.recordedKey, lease: name };
      case 'read-holder':
        return undefined;
    }
  }
}

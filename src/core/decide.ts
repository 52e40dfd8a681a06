// The lock decision: a pure function of the request, the Lease as read, the holder's
// state and the lock's age. It never performs I/O; when it needs the holder's state it
// says so (`read-holder`) and is called again with the answer.
//
// Ages never come from comparing two machines' clocks: `ageMs` is how long this replica
// has known the lock's current holder, on its own monotonic clock (lock/lease-ages.ts),
// a lower bound of the true age. A skewed clock can only make a lock look younger.
import { isHolder, type HolderState } from './holder.js';
import type { LockLease, LockRecord, ObjectRef, Requester } from './lock-record.js';

export interface LockRequest {
  /** The scoped key (the lock identity within its kind). */
  key: string;
  object: ObjectRef;
  requester: Requester;
}

export interface DecisionInput {
  request: LockRequest;
  /** The Lease as read; null when none exists. */
  lease: LockLease | null;
  /** The holder's state, once read; undefined before. */
  holder?: HolderState;
  /** Wall-clock time: written on a new record and shown to people, never compared for a decision. */
  now: Date;
  /** How long this replica has known the Lease's current holder (monotonic), as of when `holder` was read. */
  ageMs: number;
  pendingTimeoutMs: number;
  /** Optional per-rule bound on how long one object may hold the lock. */
  maxHoldMs?: number;
}

export type TakeoverReason =
  'holder-gone' | 'holder-terminal' | 'holder-mismatch' | 'pending-expired' | 'expired' | 'max-hold-exceeded';

export type Decision =
  /** No Lease: create one; the create that wins is allowed. */
  | { action: 'create'; record: LockRecord }
  /** A retried create of the lock's own object: allowed; update the Lease to `record` when set. */
  | { action: 'retry'; record: LockRecord | null }
  /** Read `ref` live, then decide again with `holder` set. */
  | { action: 'read-holder'; ref: ObjectRef }
  /** The holder is gone, finished or expired: replace the record (compare-and-swap). */
  | { action: 'take-over'; reason: TakeoverReason; record: LockRecord; previous: LockRecord }
  /**
   * Someone else holds the lock. `ageMs` is for people (since the holder's recorded
   * request time, by this clock). `pending` is set while the holder may not be stored yet
   * (its read proved nothing): it is stored or its key is free within `retryAfterSeconds`,
   * at `until` by this replica's wall clock (shown to clients, never compared).
   */
  | { action: 'deny-busy'; holder: LockRecord; ageMs: number; pending?: { retryAfterSeconds: number; until: Date } }
  /** A Lease of this name exists but records another lock (or none): never share it. */
  | { action: 'deny-foreign'; recordedKey?: string };

function freshRecord(request: LockRequest, now: Date, transitions: number): LockRecord {
  return {
    key: request.key,
    object: request.object,
    requester: request.requester,
    state: 'pending',
    acquiredAt: now,
    renewedAt: now,
    transitions,
  };
}

/** Whether two references of one kind name the same object (decide() has matched group and kind already). */
function sameObject(a: ObjectRef, b: ObjectRef): boolean {
  return a.namespace === b.namespace && a.name === b.name;
}

function retryDecision(input: DecisionInput, leaseName: string, held: LockRecord): Decision {
  const { request, holder, now } = input;
  if (held.object.uid === request.object.uid) return { action: 'retry', record: null };
  if (holder === undefined) return { action: 'read-holder', ref: held.object };
  if (holder.kind === 'live' || holder.kind === 'terminal') {
    // An object of that name is stored, so the API server will answer this retry with
    // AlreadyExists. If it has this key, the Lease keeps (or learns) its UID; if not, it
    // is no holder of this lock and the Lease is left to its pending timeout.
    if (holder.lease !== leaseName || !holder.uid || holder.uid === held.object.uid)
      return { action: 'retry', record: null };
    return { action: 'retry', record: { ...held, object: { ...held.object, uid: holder.uid }, renewedAt: now } };
  }
  // Nothing stored under that name: this attempt is the one in flight now.
  return { action: 'retry', record: freshRecord(request, now, held.transitions) };
}

/**
 * With no holder to read (embedded store), a lock lasts the pending timeout: an older one
 * is taken over at admission, and its Lease may be dropped at any time.
 */
export function expiredWithoutHolderReads(ageMs: number, pendingTimeoutMs: number): boolean {
  return ageMs >= pendingTimeoutMs;
}

export function decide(input: DecisionInput): Decision {
  const { request, lease, holder, now, ageMs, pendingTimeoutMs, maxHoldMs } = input;

  if (lease === null) return { action: 'create', record: freshRecord(request, now, 0) };

  const held = lease.record;
  if (
    !held ||
    held.key !== request.key ||
    held.object.group !== request.object.group ||
    held.object.kind !== request.object.kind
  ) {
    return held ? { action: 'deny-foreign', recordedKey: held.key } : { action: 'deny-foreign' };
  }

  if (sameObject(held.object, request.object)) return retryDecision(input, lease.name, held);

  /** `pending`: the holder may not be stored yet; only ever inside the pending window. */
  const busy = (pending: boolean): Decision => {
    const shownAgeMs = Math.max(0, now.getTime() - held.acquiredAt.getTime());
    if (!pending) return { action: 'deny-busy', holder: held, ageMs: shownAgeMs };
    const retryAfterSeconds = Math.ceil((pendingTimeoutMs - ageMs) / 1000);
    return {
      action: 'deny-busy',
      holder: held,
      ageMs: shownAgeMs,
      pending: { retryAfterSeconds, until: new Date(now.getTime() + retryAfterSeconds * 1000) },
    };
  };
  const takeOver = (reason: TakeoverReason): Decision => ({
    action: 'take-over',
    reason,
    previous: held,
    record: freshRecord(request, now, held.transitions + 1),
  });

  // Its create may still be in flight: "not found" (or an object that is not the holder)
  // proves nothing yet. The holder itself, stored and finished, does.
  if (held.state === 'pending' && ageMs < pendingTimeoutMs) {
    if (holder === undefined) return { action: 'read-holder', ref: held.object };
    // A holder read live with the lock's key (and UID) is stored, whatever the Lease's label says.
    if (isHolder(lease.name, held, holder))
      return holder.kind === 'terminal' ? takeOver('holder-terminal') : busy(false);
    return busy(true);
  }

  // Stryker disable next-line ConditionalExpression: undefined > 0 is false as well
  if (maxHoldMs !== undefined && maxHoldMs > 0 && ageMs >= maxHoldMs) return takeOver('max-hold-exceeded');

  if (holder === undefined) return { action: 'read-holder', ref: held.object };

  switch (holder.kind) {
    case 'gone':
      return takeOver(held.state === 'pending' ? 'pending-expired' : 'holder-gone');
    case 'unverifiable':
      // Here only a bound Lease is young enough to hold (a pending one was decided above).
      return expiredWithoutHolderReads(ageMs, pendingTimeoutMs) ? takeOver('expired') : busy(false);
    case 'terminal':
    case 'live':
      if (!isHolder(lease.name, held, holder)) return takeOver('holder-mismatch');
      return holder.kind === 'terminal' ? takeOver('holder-terminal') : busy(false);
  }
}

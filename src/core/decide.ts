// The lock decision: a pure function of the request, the Lease as read, the holder's
// state and the clock. It never performs I/O; when it needs the holder's state it says
// so (`read-holder`) and is called again with the answer.
import type { LockLease, LockRecord, ObjectRef, Requester } from './lock-record.js';

export interface LockRequest {
  /** The scoped key (the lock identity within its kind). */
  key: string;
  object: ObjectRef;
  requester: Requester;
}

/** What a live read of the holder found. */
export type HolderState =
  | { kind: 'live'; uid: string; phase: string }
  | { kind: 'terminal'; uid: string; phase: string }
  | { kind: 'gone' }
  /** No API server to ask (embedded store): the Lease's age decides. */
  | { kind: 'unverifiable' };

export interface DecisionInput {
  request: LockRequest;
  /** The Lease as read; null when none exists. */
  lease: LockLease | null;
  /** The holder's state, once read; undefined before. */
  holder?: HolderState;
  now: Date;
  pendingTimeoutMs: number;
  /** Optional per-rule bound on how long one object may hold the lock. */
  maxHoldMs?: number;
}

export type TakeoverReason = 'holder-gone' | 'holder-terminal' | 'pending-expired' | 'expired' | 'max-hold-exceeded';

export type Decision =
  /** No Lease: create one; the create that wins is allowed. */
  | { action: 'create'; record: LockRecord }
  /** A retried create of the lock's own object: allowed; update the Lease to `record` when set. */
  | { action: 'retry'; record: LockRecord | null }
  /** Read `ref` live, then decide again with `holder` set. */
  | { action: 'read-holder'; ref: ObjectRef }
  /** The holder is gone, finished or expired: replace the record (compare-and-swap). */
  | { action: 'take-over'; reason: TakeoverReason; record: LockRecord; previous: LockRecord }
  /** Someone else holds the lock. */
  | { action: 'deny-busy'; holder: LockRecord; ageMs: number; retryAfterSeconds?: number }
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

function sameObject(a: ObjectRef, b: ObjectRef): boolean {
  return a.group === b.group && a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}

function retryDecision(input: DecisionInput, held: LockRecord): Decision {
  const { request, holder, now } = input;
  if (held.object.uid === request.object.uid) return { action: 'retry', record: null };
  if (holder === undefined) return { action: 'read-holder', ref: held.object };
  if (holder.kind === 'live' || holder.kind === 'terminal') {
    // The object is stored: the API server will answer this retry with AlreadyExists,
    // so the Lease keeps (or learns) the stored object's UID.
    if (holder.uid === held.object.uid || !holder.uid) return { action: 'retry', record: null };
    return { action: 'retry', record: { ...held, object: { ...held.object, uid: holder.uid }, renewedAt: now } };
  }
  // Nothing stored under that name: this attempt is the one in flight now.
  return { action: 'retry', record: freshRecord(request, now, held.transitions) };
}

/**
 * With no holder to read (embedded store), a lock lasts the pending timeout: an older one
 * is taken over at admission, and its Lease may be dropped at any time.
 */
export function expiredWithoutHolderReads(record: LockRecord, now: Date, pendingTimeoutMs: number): boolean {
  return now.getTime() - record.acquiredAt.getTime() >= pendingTimeoutMs;
}

export function decide(input: DecisionInput): Decision {
  const { request, lease, holder, now, pendingTimeoutMs, maxHoldMs } = input;

  if (lease === null) return { action: 'create', record: freshRecord(request, now, 0) };

  const held = lease.record;
  if (!held || held.key !== request.key || held.object.group !== request.object.group || held.object.kind !== request.object.kind) {
    return held ? { action: 'deny-foreign', recordedKey: held.key } : { action: 'deny-foreign' };
  }

  if (sameObject(held.object, request.object)) return retryDecision(input, held);

  const ageMs = now.getTime() - held.acquiredAt.getTime();
  const busy = (): Decision => {
    const remaining = pendingTimeoutMs - ageMs;
    return held.state === 'pending' && remaining > 0
      ? { action: 'deny-busy', holder: held, ageMs, retryAfterSeconds: Math.ceil(remaining / 1000) }
      : { action: 'deny-busy', holder: held, ageMs };
  };
  const takeOver = (reason: TakeoverReason): Decision => ({
    action: 'take-over',
    reason,
    previous: held,
    record: freshRecord(request, now, held.transitions + 1),
  });

  // Its create may still be in flight: "not found" proves nothing yet. Found and
  // terminal does: the object was stored and has finished.
  if (held.state === 'pending' && ageMs < pendingTimeoutMs) {
    if (holder === undefined) return { action: 'read-holder', ref: held.object };
    return holder.kind === 'terminal' ? takeOver('holder-terminal') : busy();
  }

  if (maxHoldMs !== undefined && maxHoldMs > 0 && ageMs >= maxHoldMs) return takeOver('max-hold-exceeded');

  if (holder === undefined) return { action: 'read-holder', ref: held.object };

  switch (holder.kind) {
    case 'gone':
      return takeOver(held.state === 'pending' ? 'pending-expired' : 'holder-gone');
    case 'terminal':
      return takeOver('holder-terminal');
    case 'unverifiable':
      return expiredWithoutHolderReads(held, now, pendingTimeoutMs) ? takeOver('expired') : busy();
    case 'live':
      return busy();
  }
}

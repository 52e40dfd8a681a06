// What to do with a held Lease once its object has been seen (or not): keep it or release
// it. Pure, like the admission decision; the release controller does the I/O.
//
// "Stored" is known from the watch, not written: a Lease records its object's UID at
// admission (a validating webhook sees the final UID), so an object the watch shows with
// that UID and key is the stored holder, and a delete the watch saw of that UID proves it
// was stored. A Lease is written only where a decision depends on it: one recording no
// UID (written by hand or by an older version) learns its holder's ("bind").
import { isHolder, type HolderState } from './holder.js';
import type { LockRecord } from './lock-record.js';

/** Where the holder was seen: the leader's watch cache (may lag behind) or a live read. */
export type HolderSource = 'cache' | 'live';

export type ReleaseReason = 'completed' | 'deleted' | 'swept' | 'expired';

/** Why the Lease is being looked at: a watch event on its object, or a periodic sweep. */
export type ReleaseTrigger = 'watch' | 'sweep';

export type ReleaseDecision =
  /** Leave it; look again after `recheckAfterMs` when set. */
  | { action: 'keep'; recheckAfterMs?: number }
  /** The Lease records no UID and its holder is stored: record the holder's UID (state bound). */
  | { action: 'bind'; record: LockRecord }
  /** The cache says the holder is absent; only a live read may decide "gone". */
  | { action: 'confirm-absent' }
  /** Delete the Lease (with uid and resourceVersion preconditions). */
  | { action: 'release'; reason: ReleaseReason };

export interface ReleaseInput {
  /** The Lease's name: its key's, so an object whose key maps elsewhere is not its holder. */
  leaseName: string;
  record: LockRecord;
  holder: HolderState;
  /** Only a live read may decide that the holder is gone. */
  source: HolderSource;
  trigger: ReleaseTrigger;
  /** Wall-clock time, written on a bind; never compared. */
  now: Date;
  /** How long this process has known the Lease's current holder (lease-ages.ts); read only when no stored holder is observed, and for rules with `maxHoldMs` (see needsAge). */
  ageMs: number;
  pendingTimeoutMs: number;
  maxHoldMs?: number;
}

/**
 * Whether decideRelease reads `ageMs` for this observation: a stored holder needs no age
 * (unless its rule bounds the hold), so a sweep of 10,000 healthy locks measures none and
 * remembers nothing about them.
 */
export function needsAge(
  leaseName: string,
  record: LockRecord,
  holder: HolderState,
  maxHoldMs: number | undefined,
): boolean {
  // Stryker disable next-line ConditionalExpression: undefined > 0 is false as well
  return (maxHoldMs !== undefined && maxHoldMs > 0) || !isHolder(leaseName, record, holder);
}

export function decideRelease(input: ReleaseInput): ReleaseDecision {
  const { leaseName, record, trigger, now, ageMs, pendingTimeoutMs, maxHoldMs } = input;
  // Stryker disable next-line ConditionalExpression: undefined > 0 is false as well
  if (maxHoldMs !== undefined && maxHoldMs > 0 && ageMs >= maxHoldMs) return { action: 'release', reason: 'expired' };
  const untilMaxHold = maxHoldMs ? { recheckAfterMs: Math.max(0, maxHoldMs - ageMs) } : {};

  // An object at the holder's name that is not the holder counts as no object there.
  const { holder } = input;
  if (isHolder(leaseName, record, holder)) {
    if (holder.kind === 'terminal') return { action: 'release', reason: trigger === 'sweep' ? 'swept' : 'completed' };
    if (record.object.uid === '') {
      return {
        action: 'bind',
        record: {
          ...record,
          state: 'bound',
          object: { ...record.object, uid: holder.uid || record.object.uid },
          renewedAt: now,
        },
      };
    }
    return { action: 'keep', ...untilMaxHold };
  }

  if (input.source === 'cache') return { action: 'confirm-absent' };
  if (record.state === 'pending') {
    // Seen deleted: the very object this Lease records was stored and is gone.
    // Stryker disable next-line ConditionalExpression: for TypeScript; only 'gone' carries deletedUid
    if (holder.kind === 'gone' && holder.deletedUid && holder.deletedUid === record.object.uid) {
      return { action: 'release', reason: trigger === 'sweep' ? 'swept' : 'deleted' };
    }
    // Otherwise its create may still be in flight until the pending timeout has passed.
    if (ageMs < pendingTimeoutMs) return { action: 'keep', recheckAfterMs: pendingTimeoutMs - ageMs };
    return { action: 'release', reason: 'expired' };
  }
  return { action: 'release', reason: trigger === 'sweep' ? 'swept' : 'deleted' };
}

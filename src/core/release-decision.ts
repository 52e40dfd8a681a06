// What to do with a held Lease once its object has been seen (or not): keep it, bind it,
// or release it. Pure, like the admission decision; the release controller does the I/O.
import type { LockRecord } from './lock-record.js';

/** The holder as observed: from the watch cache, or from a live read. */
export type HolderObservation =
  | { kind: 'present'; uid: string; terminal: boolean; phase: string; source: 'cache' | 'live' }
  /** `deletedUid`: a watch saw the object with this UID deleted, so it had been stored. */
  | { kind: 'absent'; source: 'cache' | 'live'; deletedUid?: string };

export type ReleaseReason = 'completed' | 'deleted' | 'swept' | 'expired';

/** Why the Lease is being looked at: a watch event on its object, or a periodic sweep. */
export type ReleaseTrigger = 'watch' | 'sweep';

export type ReleaseDecision =
  /** Leave it; look again after `recheckAfterMs` when set. */
  | { action: 'keep'; recheckAfterMs?: number }
  /** The object is stored: record it (state bound, its UID). */
  | { action: 'bind'; record: LockRecord }
  /** The cache says the holder is absent; only a live read may decide "gone". */
  | { action: 'confirm-absent' }
  /** Delete the Lease (with uid and resourceVersion preconditions). */
  | { action: 'release'; reason: ReleaseReason };

export interface ReleaseInput {
  record: LockRecord;
  holder: HolderObservation;
  trigger: ReleaseTrigger;
  now: Date;
  pendingTimeoutMs: number;
  maxHoldMs?: number;
}

export function decideRelease(input: ReleaseInput): ReleaseDecision {
  const { record, holder, trigger, now, pendingTimeoutMs, maxHoldMs } = input;
  const ageMs = now.getTime() - record.acquiredAt.getTime();
  if (maxHoldMs !== undefined && maxHoldMs > 0 && ageMs >= maxHoldMs) return { action: 'release', reason: 'expired' };
  const untilMaxHold = maxHoldMs ? { recheckAfterMs: Math.max(0, maxHoldMs - ageMs) } : {};

  if (holder.kind === 'present') {
    if (holder.terminal) return { action: 'release', reason: trigger === 'sweep' ? 'swept' : 'completed' };
    const uidChanged = holder.uid !== '' && holder.uid !== record.object.uid;
    if (record.state === 'pending' || uidChanged) {
      return { action: 'bind', record: { ...record, state: 'bound', object: { ...record.object, uid: holder.uid || record.object.uid }, renewedAt: now } };
    }
    return { action: 'keep', ...untilMaxHold };
  }

  if (holder.source === 'cache') return { action: 'confirm-absent' };
  if (record.state === 'pending') {
    // Seen deleted: the very object this Lease records was stored and is gone.
    if (holder.deletedUid !== undefined && holder.deletedUid !== '' && holder.deletedUid === record.object.uid) {
      return { action: 'release', reason: trigger === 'sweep' ? 'swept' : 'deleted' };
    }
    // Otherwise its create may still be in flight until the pending timeout has passed.
    if (ageMs < pendingTimeoutMs) return { action: 'keep', recheckAfterMs: pendingTimeoutMs - ageMs };
    return { action: 'release', reason: 'expired' };
  }
  return { action: 'release', reason: trigger === 'sweep' ? 'swept' : 'deleted' };
}

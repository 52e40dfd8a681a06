// The object at a lock holder's namespace and name, as read live or seen by the leader's
// watch cache: one vocabulary for the admission decision and the release decision.
import type { LockRecord } from './lock-record.js';

/**
 * What a read of the object at the holder's name found. `lease` is the Lease name that
 * object's key maps to (undefined when it has no valid key): an object whose key or UID
 * differs from the Lease's is not this lock's holder. The watch cache keeps Lease names,
 * not keys (63 characters, where a key may be 1 KiB), so the comparison is by name.
 */
export type HolderState =
  | { kind: 'live'; uid: string; phase: string; lease: string | undefined }
  | { kind: 'terminal'; uid: string; phase: string; lease: string | undefined }
  /** `deletedUid`: a watch saw the object with this UID deleted, so it had been stored. */
  | { kind: 'gone'; deletedUid?: string }
  /** No API server to ask (embedded store): the Lease's age decides. */
  | { kind: 'unverifiable' };

/** A holder state naming a stored object. */
export type StoredHolder = Extract<HolderState, { uid: string }>;

/**
 * Whether the object read at the holder's name is the holder of the Lease `leaseName`: its
 * key maps to that Lease and, where the Lease records a UID, it has that UID. Anything
 * else (a forged or edited Lease, an object recreated behind the lock's back) is not, and
 * never pins the key.
 */
export function isHolder(leaseName: string, held: LockRecord, holder: HolderState): holder is StoredHolder {
  // Stryker disable next-line ConditionalExpression,BooleanLiteral: for TypeScript; 'gone' and 'unverifiable' carry no Lease name, so the next line answers false too
  if (holder.kind !== 'live' && holder.kind !== 'terminal') return false;
  return holder.lease === leaseName && (held.object.uid === '' || holder.uid === held.object.uid);
}

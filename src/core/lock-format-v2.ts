// Lease format 2: the lock packed into one annotation, `leaseguard.kubernaut.ai/lock`,
// as compact JSON. One key instead of eight also means one entry instead of eight in the
// managedFields the API server records for every create. What the Lease already says is
// not repeated: the requester is `spec.holderIdentity`, the kind's label stays for
// `kubectl get leases -l`. Every later format keeps this annotation and its `v` member,
// so a reader can always tell which format it is looking at.
import type { LockRecord, LockState, ObjectRef } from './lock-record.js';

export const LOCK_ANNOTATION = 'leaseguard.kubernaut.ai/lock';

/** The lock as packed: short member names, empty ones left out. */
interface Packed {
  v: 2;
  key: string;
  group: string;
  kind: string;
  ns?: string;
  name: string;
  uid?: string;
  pod?: string;
  /** Set only when bound (a Lease that learnt its holder's UID after admission); absent is pending. */
  bound?: true;
}

/** What the annotation holds, apart from the requester's username (holderIdentity) and times (spec). */
export interface PackedLock {
  key: string;
  object: ObjectRef;
  pod?: string;
  state: LockState;
}

export function packLock(record: Pick<LockRecord, 'key' | 'object' | 'requester' | 'state'>): string {
  const o = record.object;
  const packed: Packed = {
    v: 2,
    key: record.key,
    group: o.group,
    kind: o.kind,
    ...(o.namespace ? { ns: o.namespace } : {}),
    name: o.name,
    ...(o.uid ? { uid: o.uid } : {}),
    ...(record.requester.pod ? { pod: record.requester.pod } : {}),
    ...(record.state === 'bound' ? { bound: true as const } : {}),
  };
  return JSON.stringify(packed);
}

/**
 * The format version an annotation value declares: a number, or undefined when it is not
 * a JSON object with a numeric `v` (a malformed or edited Lease, read as no lock).
 */
export function packedVersion(value: string): { version: number; body: Record<string, unknown> } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const body = parsed as Record<string, unknown>;
  return typeof body.v === 'number' ? { version: body.v, body } : undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A format-2 body's lock, or undefined when a member is missing or of the wrong type. */
export function unpackLock(body: Record<string, unknown>): PackedLock | undefined {
  const key = str(body.key);
  const group = str(body.group);
  const kind = str(body.kind);
  const name = str(body.name);
  const namespace = body.ns === undefined ? '' : str(body.ns);
  const uid = body.uid === undefined ? '' : str(body.uid);
  const pod = body.pod === undefined ? undefined : str(body.pod);
  if (!key || group === undefined || !kind || !name || namespace === undefined || uid === undefined) return undefined;
  if (body.pod !== undefined && pod === undefined) return undefined;
  if (body.bound !== undefined && body.bound !== true) return undefined;
  return {
    key,
    object: { group, kind, namespace, name, uid },
    ...(pod ? { pod } : {}),
    state: body.bound === true ? 'bound' : 'pending',
  };
}

// The lock as recorded on a coordination.k8s.io/v1 Lease, and its codec. Two formats
// are read and either is written (the writer's setting): format 1, eight annotations and a
// state label (every release before the format was recorded, so a Lease without a
// version is format 1), and format 2, one packed annotation (lock-format-v2.ts). A Lease
// declaring a later format is not read as a lock at all: the caller fails closed.
import type { V1Lease } from '@kubernetes/client-node';
import { pointerSegment, type JsonPatchOp } from './json-patch.js';
import { MicroTime } from './micro-time.js';
import { LOCK_ANNOTATION, packLock, packedVersion, unpackLock } from './lock-format-v2.js';

export { LOCK_ANNOTATION };

/** The Lease formats this version reads; it writes the one it is set to (default the last). */
export const LEASE_FORMATS = [1, 2] as const;
export type LeaseFormat = (typeof LEASE_FORMATS)[number];
export const CURRENT_LEASE_FORMAT: LeaseFormat = 2;

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'leaseguard';
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

const P = 'leaseguard.kubernaut.ai/';
/** Format 1's annotations. */
export const Annotations = {
  key: `${P}key`,
  objectGroup: `${P}object-group`,
  objectKind: `${P}object-kind`,
  objectNamespace: `${P}object-namespace`,
  objectName: `${P}object-name`,
  objectUid: `${P}object-uid`,
  requester: `${P}requester`,
  requesterPod: `${P}requester-pod`,
} as const;
export const Labels = {
  kind: `${P}kind`,
  /** Format 1 only: format 2 packs the state. */
  state: `${P}state`,
} as const;

type DeepReadonly<T> = T extends Date
  ? T
  : T extends readonly (infer U)[]
    ? readonly DeepReadonly<U>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/**
 * A Lease as a store returns it, read-only: the in-process store hands out the objects it
 * keeps (no copy per read), so a change to one would change the store.
 */
export type ReadonlyLease = DeepReadonly<V1Lease>;

export type LockState = 'pending' | 'bound';

/** The guarded object holding a lock. `namespace` is '' for cluster-scoped objects. */
export interface ObjectRef {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

export interface Requester {
  username: string;
  /** `authentication.kubernetes.io/pod-name` from userInfo.extra: a hint, never trusted. */
  pod?: string;
}

export interface LockRecord {
  /** The scoped key: the lock's identity within its kind. */
  key: string;
  object: ObjectRef;
  requester: Requester;
  state: LockState;
  /** When this holder took the lock (Lease acquireTime). */
  acquiredAt: Date;
  /** When the record last changed (Lease renewTime). */
  renewedAt: Date;
  /** How many times the lock changed hands (Lease leaseTransitions). */
  transitions: number;
}

/** A Lease as read from a store: its identity, version and the lock it records. */
export interface LockLease {
  name: string;
  namespace: string;
  resourceVersion: string;
  uid: string;
  /** Undefined when the Lease is not a readable leaseguard lock. */
  record: LockRecord | undefined;
  /** The format it was read in (a bind writes in the same one); 1 when it records none. */
  format: LeaseFormat;
  /** Set when the Lease declares a format this version cannot read (`record` is then undefined). */
  unsupportedFormat?: number;
}

export function objectLabel(ref: ObjectRef): string {
  return ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name;
}

function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value === 'string' || typeof value === 'number') {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

export interface EncodeOptions {
  name: string;
  namespace: string;
  /** Set for updates: the compare-and-swap precondition. */
  resourceVersion?: string;
  /** Seconds a pending lock may wait for its object before it can be reclaimed (format 1 writes it). */
  pendingTimeoutSeconds: number;
  /** The format to write; default CURRENT_LEASE_FORMAT. */
  format?: LeaseFormat;
}

export function encodeLease(record: LockRecord, opts: EncodeOptions): V1Lease {
  return (opts.format ?? CURRENT_LEASE_FORMAT) === 1 ? encodeV1(record, opts) : encodeV2(record, opts);
}

/** What both formats write first: the Lease's name, namespace and, for updates, the version it replaces. */
function leaseIdentity(opts: EncodeOptions): { name: string; namespace: string; resourceVersion?: string } {
  return {
    name: opts.name,
    namespace: opts.namespace,
    ...(opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {}),
  };
}

/**
 * Format 2: labels for selection (managed-by, kind), one annotation, and the Lease's own
 * fields. The requester is holderIdentity; renewTime and leaseTransitions are written only
 * when they say something (a renewal, a take-over); leaseDurationSeconds is left out (no
 * reader used it: the pending timeout is the replicas' setting, not the Lease's).
 */
function encodeV2(record: LockRecord, opts: EncodeOptions): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      ...leaseIdentity(opts),
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [Labels.kind]: record.object.kind.toLowerCase() },
      annotations: { [LOCK_ANNOTATION]: packLock(record) },
    },
    spec: {
      holderIdentity: record.requester.username,
      acquireTime: new MicroTime(record.acquiredAt.getTime()),
      ...(record.renewedAt.getTime() !== record.acquiredAt.getTime()
        ? { renewTime: new MicroTime(record.renewedAt.getTime()) }
        : {}),
      ...(record.transitions ? { leaseTransitions: record.transitions } : {}),
    },
  };
}

/** Format 1, exactly as every release before format 2 wrote it (for rolling upgrades from those). */
function encodeV1(record: LockRecord, opts: EncodeOptions): V1Lease {
  const annotations: Record<string, string> = {
    [Annotations.key]: record.key,
    [Annotations.objectGroup]: record.object.group,
    [Annotations.objectKind]: record.object.kind,
    [Annotations.objectNamespace]: record.object.namespace,
    [Annotations.objectName]: record.object.name,
    [Annotations.objectUid]: record.object.uid,
    [Annotations.requester]: record.requester.username,
  };
  if (record.requester.pod) annotations[Annotations.requesterPod] = record.requester.pod;
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      ...leaseIdentity(opts),
      labels: {
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
        [Labels.kind]: record.object.kind.toLowerCase(),
        [Labels.state]: record.state,
      },
      annotations,
    },
    spec: {
      holderIdentity: record.requester.username,
      acquireTime: new MicroTime(record.acquiredAt.getTime()),
      renewTime: new MicroTime(record.renewedAt.getTime()),
      leaseDurationSeconds: opts.pendingTimeoutSeconds,
      leaseTransitions: record.transitions,
    },
  };
}

const label = (k: string) => `/metadata/labels/${pointerSegment(k)}`;
const annotation = (k: string) => `/metadata/annotations/${pointerSegment(k)}`;

/** The writes of a bind, whatever its conditions: state bound, the stored UID, renewed at `at`, in the Lease's own format. */
function bindWrites(bound: LockRecord, format: LeaseFormat): JsonPatchOp[] {
  const renew: JsonPatchOp = {
    op: 'add',
    path: '/spec/renewTime',
    value: new MicroTime(bound.renewedAt.getTime()).toISOString(),
  };
  if (format === 2)
    return [{ op: 'add', path: annotation(LOCK_ANNOTATION), value: packLock({ ...bound, state: 'bound' }) }, renew];
  return [
    { op: 'replace', path: label(Labels.state), value: 'bound' },
    { op: 'add', path: annotation(Annotations.objectUid), value: bound.object.uid },
    renew,
  ];
}

/**
 * A bind decided from the Lease as read at `resourceVersion` (the release work's, for a
 * Lease that recorded no UID): a `test` of that version is the compare-and-swap an
 * update would make, and unlike an update the patch never recreates a Lease deleted
 * meanwhile.
 */
export function bindAtVersionPatch(bound: LockRecord, resourceVersion: string, format: LeaseFormat): JsonPatchOp[] {
  return [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }, ...bindWrites(bound, format)];
}

/**
 * The format a Lease declares: 1 when it carries no lock annotation (every Lease written
 * before formats were recorded), the lock annotation's `v` otherwise; undefined when that
 * annotation is unreadable (malformed or edited: no lock).
 */
export function leaseFormatOf(lease: ReadonlyLease): number | undefined {
  const packed = lease.metadata?.annotations?.[LOCK_ANNOTATION];
  if (packed === undefined) return 1;
  return packedVersion(packed)?.version;
}

/** The lock a Lease records, in whichever format this version reads; undefined for anything else. */
export function decodeRecord(lease: ReadonlyLease): LockRecord | undefined {
  if (lease.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) return undefined;
  const packed = lease.metadata?.annotations?.[LOCK_ANNOTATION];
  return packed === undefined ? decodeV1(lease) : decodeV2(lease, packed);
}

function decodeV2(lease: ReadonlyLease, packed: string): LockRecord | undefined {
  const declared = packedVersion(packed);
  if (declared?.version !== 2) return undefined;
  const lock = unpackLock(declared.body);
  const spec = lease.spec ?? {};
  const acquiredAt = toDate(spec.acquireTime);
  const username = spec.holderIdentity;
  if (!lock || typeof username !== 'string' || !acquiredAt) return undefined;
  return {
    key: lock.key,
    object: lock.object,
    requester: lock.pod ? { username, pod: lock.pod } : { username },
    state: lock.state,
    acquiredAt,
    renewedAt: toDate(spec.renewTime) ?? acquiredAt,
    transitions: spec.leaseTransitions ?? 0,
  };
}

function decodeV1(lease: ReadonlyLease): LockRecord | undefined {
  const labels = lease.metadata?.labels ?? {};
  const a = lease.metadata?.annotations ?? {};
  const state = labels[Labels.state];
  if (state !== 'pending' && state !== 'bound') return undefined;
  const key = a[Annotations.key];
  const group = a[Annotations.objectGroup];
  const kind = a[Annotations.objectKind];
  const name = a[Annotations.objectName];
  const username = a[Annotations.requester];
  const spec = lease.spec ?? {};
  const acquiredAt = toDate(spec.acquireTime);
  if (!key || group === undefined || !kind || !name || username === undefined || !acquiredAt) return undefined;
  const pod = a[Annotations.requesterPod];
  return {
    key,
    object: { group, kind, namespace: a[Annotations.objectNamespace] ?? '', name, uid: a[Annotations.objectUid] ?? '' },
    requester: pod ? { username, pod } : { username },
    state,
    acquiredAt,
    renewedAt: toDate(spec.renewTime) ?? acquiredAt,
    transitions: spec.leaseTransitions ?? 0,
  };
}

export function decodeLease(lease: ReadonlyLease): LockLease {
  const version = leaseFormatOf(lease);
  const readable = version === 1 || version === 2;
  return {
    name: lease.metadata?.name ?? '',
    namespace: lease.metadata?.namespace ?? '',
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    uid: lease.metadata?.uid ?? '',
    record: readable ? decodeRecord(lease) : undefined,
    format: readable ? version : CURRENT_LEASE_FORMAT,
    // Only a managed Lease's declared format matters: anything else is no lock.
    ...(version !== undefined && !readable && lease.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE
      ? { unsupportedFormat: version }
      : {}),
  };
}

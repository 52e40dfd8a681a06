// The lock as recorded on a coordination.k8s.io/v1 Lease, and its codec.
import type { V1Lease } from '@kubernetes/client-node';
import { pointerSegment, type JsonPatchOp } from './json-patch.js';
import { MicroTime } from './micro-time.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'leaseguard';
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

const P = 'leaseguard.kubernaut.ai/';
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
  /** Seconds a pending lock may wait for its object before it can be reclaimed. */
  pendingTimeoutSeconds: number;
}

export function encodeLease(record: LockRecord, opts: EncodeOptions): V1Lease {
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
      name: opts.name,
      namespace: opts.namespace,
      ...(opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {}),
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

/** The writes of a bind, whatever its conditions: state bound, the stored UID, renewed at `at`. */
function bindWrites(uid: string, at: Date): JsonPatchOp[] {
  return [
    { op: 'replace', path: label(Labels.state), value: 'bound' },
    { op: 'add', path: annotation(Annotations.objectUid), value: uid },
    { op: 'add', path: '/spec/renewTime', value: new MicroTime(at.getTime()).toISOString() },
  ];
}

/**
 * A bind decided from the Lease as read at `resourceVersion` (the release work's, for a
 * Lease that recorded no UID): a `test` of that version is the compare-and-swap an
 * update would make, and unlike an update the patch never recreates a Lease deleted
 * meanwhile.
 */
export function bindAtVersionPatch(bound: LockRecord, resourceVersion: string): JsonPatchOp[] {
  return [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }, ...bindWrites(bound.object.uid, bound.renewedAt)];
}

export function decodeRecord(lease: ReadonlyLease): LockRecord | undefined {
  const labels = lease.metadata?.labels ?? {};
  const a = lease.metadata?.annotations ?? {};
  if (labels[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) return undefined;
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
  return {
    name: lease.metadata?.name ?? '',
    namespace: lease.metadata?.namespace ?? '',
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    uid: lease.metadata?.uid ?? '',
    record: decodeRecord(lease),
  };
}

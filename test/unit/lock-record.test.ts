import test from 'ava';
import { V1MicroTime } from '@kubernetes/client-node';
import {
  Annotations,
  Labels,
  MANAGED_BY_LABEL,
  MANAGED_SELECTOR,
  bindAtVersionPatch,
  decodeLease,
  decodeRecord,
  encodeLease,
  objectLabel,
  type LockRecord,
} from '../../src/core/lock-record.js';

// Format 1's codec, field by field (lease-format.test.ts tests format 2 and the choice between them).
const V1 = { name: 'n', namespace: 'lg', pendingTimeoutSeconds: 30, format: 1 } as const;

const record: LockRecord = {
  key: 'prod/Deployment/api',
  object: { group: 'kubernaut.ai', kind: 'WorkflowExecution', namespace: 'prod', name: 'we-1', uid: 'uid-1' },
  requester: { username: 'system:serviceaccount:kubernaut-system:ro', pod: 'ro-7d9f' },
  state: 'pending',
  acquiredAt: new Date('2026-11-22T12:00:00.123Z'),
  renewedAt: new Date('2026-11-22T12:00:01.456Z'),
  transitions: 2,
};

test('a record survives the wire (JSON, as the API server returns it)', (t) => {
  const lease = encodeLease(record, V1);
  const wire = JSON.parse(JSON.stringify(lease));
  t.is(wire.spec.acquireTime, '2026-11-22T12:00:00.123000Z', 'MicroTime has six fractional digits');
  t.deepEqual(decodeRecord(wire), record);
  t.is(wire.spec.holderIdentity, record.requester.username);
  t.is(wire.spec.leaseDurationSeconds, 30);
  t.is(wire.metadata.labels[MANAGED_BY_LABEL], 'leaseguard');
  t.is(wire.metadata.labels[Labels.state], 'pending');
  t.is(wire.metadata.annotations[Annotations.key], record.key);
});

test('an update carries the resourceVersion precondition', (t) => {
  const lease = encodeLease(record, { ...V1, resourceVersion: '17' });
  t.is(lease.metadata?.resourceVersion, '17');
});

test('a cluster-scoped holder and no pod round-trip', (t) => {
  const r: LockRecord = {
    ...record,
    object: { ...record.object, namespace: '' },
    requester: { username: 'u' },
    state: 'bound',
  };
  t.deepEqual(decodeRecord(JSON.parse(JSON.stringify(encodeLease(r, V1)))), r);
});

test('the Lease on the wire, field by field: the names other tools and people select and read', (t) => {
  t.is(MANAGED_SELECTOR, 'app.kubernetes.io/managed-by=leaseguard');
  t.deepEqual(JSON.parse(JSON.stringify(encodeLease(record, V1))), {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: 'n',
      namespace: 'lg',
      labels: {
        'app.kubernetes.io/managed-by': 'leaseguard',
        'leaseguard.kubernaut.ai/kind': 'workflowexecution',
        'leaseguard.kubernaut.ai/state': 'pending',
      },
      annotations: {
        'leaseguard.kubernaut.ai/key': 'prod/Deployment/api',
        'leaseguard.kubernaut.ai/object-group': 'kubernaut.ai',
        'leaseguard.kubernaut.ai/object-kind': 'WorkflowExecution',
        'leaseguard.kubernaut.ai/object-namespace': 'prod',
        'leaseguard.kubernaut.ai/object-name': 'we-1',
        'leaseguard.kubernaut.ai/object-uid': 'uid-1',
        'leaseguard.kubernaut.ai/requester': 'system:serviceaccount:kubernaut-system:ro',
        'leaseguard.kubernaut.ai/requester-pod': 'ro-7d9f',
      },
    },
    spec: {
      holderIdentity: 'system:serviceaccount:kubernaut-system:ro',
      acquireTime: '2026-11-22T12:00:00.123000Z',
      renewTime: '2026-11-22T12:00:01.456000Z',
      leaseDurationSeconds: 30,
      leaseTransitions: 2,
    },
  });
  const noPod = encodeLease({ ...record, requester: { username: 'u' } }, V1);
  t.false(Annotations.requesterPod in (noPod.metadata?.annotations ?? {}), 'no pod annotation without a pod');
  t.false('resourceVersion' in (noPod.metadata ?? {}), 'a create carries no resourceVersion');
});

test('objectLabel: namespace/name, or the name alone for a cluster-scoped object', (t) => {
  t.is(objectLabel(record.object), 'prod/we-1');
  t.is(objectLabel({ ...record.object, namespace: '' }), 'we-1');
});

test("bindAtVersionPatch: tests the version read, then binds to the record's UID at its renew time", (t) => {
  const bound: LockRecord = { ...record, state: 'bound', object: { ...record.object, uid: 'uid-2' } };
  t.deepEqual(bindAtVersionPatch(bound, '41', 1), [
    { op: 'test', path: '/metadata/resourceVersion', value: '41' },
    { op: 'replace', path: '/metadata/labels/leaseguard.kubernaut.ai~1state', value: 'bound' },
    { op: 'add', path: '/metadata/annotations/leaseguard.kubernaut.ai~1object-uid', value: 'uid-2' },
    { op: 'add', path: '/spec/renewTime', value: '2026-11-22T12:00:01.456000Z' },
  ]);
});

test('decodeLease: identity and version, with empty strings for what a Lease lacks', (t) => {
  const wire = JSON.parse(JSON.stringify(encodeLease(record, V1)));
  wire.metadata.resourceVersion = '9';
  wire.metadata.uid = 'lease-uid';
  t.deepEqual(decodeLease(wire), {
    name: 'n',
    namespace: 'lg',
    resourceVersion: '9',
    uid: 'lease-uid',
    record,
    format: 1,
  });
  t.deepEqual(decodeLease({}), { name: '', namespace: '', resourceVersion: '', uid: '', record: undefined, format: 1 });
  t.deepEqual(decodeLease({ metadata: {} }), {
    name: '',
    namespace: '',
    resourceVersion: '',
    uid: '',
    record: undefined,
    format: 1,
  });
});

// What a hand-written or older Lease may lack or carry, and what the record makes of it.
const lenient: Array<[string, (l: any) => void, (r: LockRecord) => LockRecord]> = [
  ['no renew time: renewed when acquired', (l) => delete l.spec.renewTime, (r) => ({ ...r, renewedAt: r.acquiredAt })],
  [
    'a garbage renew time: renewed when acquired',
    (l) => (l.spec.renewTime = 'soon'),
    (r) => ({ ...r, renewedAt: r.acquiredAt }),
  ],
  ['no transitions: 0', (l) => delete l.spec.leaseTransitions, (r) => ({ ...r, transitions: 0 })],
  [
    'no namespace annotation: cluster-scoped',
    (l) => delete l.metadata.annotations[Annotations.objectNamespace],
    (r) => ({ ...r, object: { ...r.object, namespace: '' } }),
  ],
  [
    'no UID annotation: UID unknown',
    (l) => delete l.metadata.annotations[Annotations.objectUid],
    (r) => ({ ...r, object: { ...r.object, uid: '' } }),
  ],
  [
    'an empty pod annotation: no pod',
    (l) => (l.metadata.annotations[Annotations.requesterPod] = ''),
    (r) => ({ ...r, requester: { username: r.requester.username } }),
  ],
  [
    'an empty group (the core group)',
    (l) => (l.metadata.annotations[Annotations.objectGroup] = ''),
    (r) => ({ ...r, object: { ...r.object, group: '' } }),
  ],
  [
    'an empty requester',
    (l) => (l.metadata.annotations[Annotations.requester] = ''),
    (r) => ({ ...r, requester: { username: '', pod: 'ro-7d9f' } }),
  ],
  ['an acquire time in epoch milliseconds', (l) => (l.spec.acquireTime = record.acquiredAt.getTime()), (r) => r],
  ['a bound state', (l) => (l.metadata.labels[Labels.state] = 'bound'), (r) => ({ ...r, state: 'bound' })],
];
for (const [name, mutate, expected] of lenient) {
  test(`decodeRecord: ${name}`, (t) => {
    const wire = JSON.parse(JSON.stringify(encodeLease(record, V1)));
    mutate(wire);
    t.deepEqual(decodeRecord(wire), expected(record));
  });
}

test('decodeRecord: times as Date objects (an in-process Lease) are taken as they are; an invalid Date is no time', (t) => {
  const lease = encodeLease(record, V1);
  const decoded = decodeRecord(lease)!;
  t.is(decoded.acquiredAt, lease.spec!.acquireTime as Date, 'the same Date object, not a copy');
  t.is(decoded.acquiredAt.getTime(), record.acquiredAt.getTime());
  t.is(decoded.renewedAt.getTime(), record.renewedAt.getTime());
  t.is(decodeRecord({ ...lease, spec: { ...lease.spec, acquireTime: new Date(Number.NaN) } }), undefined);
  t.is(decodeRecord({ ...lease, spec: { ...lease.spec, acquireTime: {} as V1MicroTime } }), undefined);
  t.is(decodeRecord({ ...lease, spec: undefined }), undefined);
  t.is(decodeRecord({ ...lease, metadata: undefined }), undefined);
});

const broken: Array<[string, (l: any) => void]> = [
  ['not managed by leaseguard', (l) => delete l.metadata.labels[MANAGED_BY_LABEL]],
  ['managed by something else', (l) => (l.metadata.labels[MANAGED_BY_LABEL] = 'helm')],
  ['no labels', (l) => delete l.metadata.labels],
  ['no state', (l) => delete l.metadata.labels[Labels.state]],
  ['no object group', (l) => delete l.metadata.annotations[Annotations.objectGroup]],
  ['no object kind', (l) => delete l.metadata.annotations[Annotations.objectKind]],
  ['an empty object kind', (l) => (l.metadata.annotations[Annotations.objectKind] = '')],
  ['no requester', (l) => delete l.metadata.annotations[Annotations.requester]],
  ['an empty key', (l) => (l.metadata.annotations[Annotations.key] = '')],
  ['an acquire time that is an object', (l) => (l.spec.acquireTime = { at: 1 })],
  ['an acquire time that is a boolean', (l) => (l.spec.acquireTime = true)],
  ['unknown state', (l) => (l.metadata.labels[Labels.state] = 'weird')],
  ['no key', (l) => delete l.metadata.annotations[Annotations.key]],
  ['no object name', (l) => delete l.metadata.annotations[Annotations.objectName]],
  ['no acquire time', (l) => delete l.spec.acquireTime],
  ['garbage acquire time', (l) => (l.spec.acquireTime = 'yesterday')],
  ['no annotations', (l) => delete l.metadata.annotations],
];
for (const [name, mutate] of broken) {
  test(`a Lease with ${name} is not a readable lock`, (t) => {
    const wire = JSON.parse(JSON.stringify(encodeLease(record, V1)));
    mutate(wire);
    t.is(decodeRecord(wire), undefined);
    t.is(decodeLease(wire).record, undefined);
  });
}

import test from 'ava';
import { Annotations, Labels, MANAGED_BY_LABEL, decodeLease, decodeRecord, encodeLease, type LockRecord } from '../../src/core/lock-record.js';

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
  const lease = encodeLease(record, { name: 'n', namespace: 'lg', pendingTimeoutSeconds: 30 });
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
  const lease = encodeLease(record, { name: 'n', namespace: 'lg', pendingTimeoutSeconds: 30, resourceVersion: '17' });
  t.is(lease.metadata?.resourceVersion, '17');
});

test('a cluster-scoped holder and no pod round-trip', (t) => {
  const r: LockRecord = { ...record, object: { ...record.object, namespace: '' }, requester: { username: 'u' }, state: 'bound' };
  t.deepEqual(decodeRecord(JSON.parse(JSON.stringify(encodeLease(r, { name: 'n', namespace: 'lg', pendingTimeoutSeconds: 30 })))), r);
});

const broken: Array<[string, (l: any) => void]> = [
  ['not managed by leaseguard', (l) => delete l.metadata.labels[MANAGED_BY_LABEL]],
  ['unknown state', (l) => (l.metadata.labels[Labels.state] = 'weird')],
  ['no key', (l) => delete l.metadata.annotations[Annotations.key]],
  ['no object name', (l) => delete l.metadata.annotations[Annotations.objectName]],
  ['no acquire time', (l) => delete l.spec.acquireTime],
  ['garbage acquire time', (l) => (l.spec.acquireTime = 'yesterday')],
  ['no annotations', (l) => delete l.metadata.annotations],
];
for (const [name, mutate] of broken) {
  test(`a Lease with ${name} is not a readable lock`, (t) => {
    const wire = JSON.parse(JSON.stringify(encodeLease(record, { name: 'n', namespace: 'lg', pendingTimeoutSeconds: 30 })));
    mutate(wire);
    t.is(decodeRecord(wire), undefined);
    t.is(decodeLease(wire).record, undefined);
  });
}

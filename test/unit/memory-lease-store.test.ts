import test from 'ava';
import { V1MicroTime } from '@kubernetes/client-node';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { leaseStoreContract } from '../support/lease-store-contract.js';

const store = new MemoryLeaseStore('leaseguard-system');
leaseStoreContract(test, 'memory store', () => store);

test('memory store: the object a caller writes is copied, so changing it afterwards changes nothing stored', async (t) => {
  const s = new MemoryLeaseStore('ns');
  const mine = { metadata: { name: 'a', labels: { x: '1' }, annotations: { y: '2' } }, spec: { holderIdentity: 'me' } };
  await s.create(mine);
  mine.metadata.labels.x = 'changed after create';
  mine.metadata.annotations.y = 'changed after create';
  mine.spec.holderIdentity = 'changed after create';
  const got = await s.get('a');
  t.is(got?.metadata?.labels?.x, '1');
  t.is(got?.metadata?.annotations?.y, '2');
  t.is(got?.spec?.holderIdentity, 'me');
});

test('memory store: refuses names that are not DNS-1123 and foreign namespaces', async (t) => {
  const s = new MemoryLeaseStore('ns');
  await t.throwsAsync(s.create({ metadata: { name: 'Not_Valid' } }), { message: /DNS-1123/ });
  await t.throwsAsync(s.create({ metadata: { name: 'ok', namespace: 'other' } }), { message: /does not match/ });
});

test('memory store: stores a Lease as the API server returns it, keeping fields it does not know and adding none', async (t) => {
  const s = new MemoryLeaseStore('ns');
  const acquired = new V1MicroTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
  await s.create({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'a', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: 'u-1' }] },
    spec: { holderIdentity: 'me', acquireTime: acquired, preferredHolder: 'you' },
  });
  const got = await s.get('a');
  t.like(got, {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'a', namespace: 'ns', resourceVersion: '1', ownerReferences: [{ name: 'owner' }] },
    spec: {
      holderIdentity: 'me',
      acquireTime: '2026-01-02T03:04:05.678000Z' as unknown as V1MicroTime,
      preferredHolder: 'you',
    },
  });
  t.regex(String(got?.metadata?.uid), /^[0-9a-f-]{36}$/);
  t.regex(String(got?.metadata?.creationTimestamp), /^\d{4}-\d\d-\d\dT/);
  t.false('labels' in (got?.metadata ?? {}), 'no labels were written, none are stored');
  t.false('renewTime' in (got?.spec ?? {}));
  t.deepEqual(
    JSON.parse(JSON.stringify(got)),
    got as unknown as Record<string, unknown>,
    'every stored time is already its wire string',
  );
});

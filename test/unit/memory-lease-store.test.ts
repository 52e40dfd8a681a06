import test from 'ava';
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

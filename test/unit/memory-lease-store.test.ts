import test from 'ava';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { leaseStoreContract } from '../support/lease-store-contract.js';

const store = new MemoryLeaseStore('leaseguard-system');
leaseStoreContract(test, 'memory store', () => store);

test('memory store: returned Leases are copies, not the stored objects', async (t) => {
  const s = new MemoryLeaseStore('ns');
  await s.create({ metadata: { name: 'a', labels: { x: '1' } }, spec: {} });
  const got = await s.get('a');
  got!.metadata!.labels!.x = 'changed';
  t.is((await s.get('a'))?.metadata?.labels?.x, '1');
});

test('memory store: refuses names that are not DNS-1123 and foreign namespaces', async (t) => {
  const s = new MemoryLeaseStore('ns');
  await t.throwsAsync(s.create({ metadata: { name: 'Not_Valid' } }), { message: /DNS-1123/ });
  await t.throwsAsync(s.create({ metadata: { name: 'ok', namespace: 'other' } }), { message: /does not match/ });
});

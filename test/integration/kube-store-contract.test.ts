// The Kubernetes store passes the same contract as the in-process store, against the
// real API server and with leaseguard's own (least-privilege) identity.
import test from 'ava';
import { createKubeClients, type KubeClients } from '../../src/kube/kube-client.js';
import { KubeHolderReader } from '../../src/store/holder-reader.js';
import { KubeLeaseStore, LIST_PAGE_SIZE } from '../../src/store/kube-lease-store.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { leaseName } from '../../src/core/lease-name.js';
import { MicroTime } from '../../src/core/micro-time.js';
import { leaseStoreContract } from '../support/lease-store-contract.js';
import { customObjects, kubeConfigFor } from '../harness/integration-env.js';
import { workflowExecution } from '../harness/objects.js';
import { forEachConcurrently } from '../harness/pool.js';
import { leaseNamespace, scopedNamespace } from '../harness/replicas.js';

let clients: KubeClients;
let store: KubeLeaseStore;
test.before(async () => {
  await leaseNamespace('lg-contract');
  clients = await createKubeClients(kubeConfigFor('leaseguard'));
  store = new KubeLeaseStore(clients, 'lg-contract');
});
test.after.always(() => clients?.close());

leaseStoreContract(test, 'kubernetes store', () => store);

test('kubernetes store: timestamps come back as the MicroTime strings the API server stores', async (t) => {
  // Its own Lease: the contract's tests clean up after themselves, so none may be left to read.
  await store.create({
    metadata: { name: 'timestamps', labels: { 'app.kubernetes.io/managed-by': 'leaseguard', purpose: 'timestamps' } },
    spec: { acquireTime: new MicroTime(Date.now()) },
  });
  const got = await store.list('purpose=timestamps');
  t.true(got.length > 0);
  t.regex(String(got[0]!.spec?.acquireTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
});

test('holder reader: live, terminal and gone, read live from the API server, with the key the object has by its rule', async (t) => {
  const ns = 'holder-read';
  await scopedNamespace('holder-read', ns);
  const api = customObjects('controller');
  const created = (await api.createNamespacedCustomObject({
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'workflowexecutions',
    body: workflowExecution(ns, 'we-h', `${ns}/Deployment/x`),
  })) as { metadata: { uid: string } };
  const reader = new KubeHolderReader(clients);
  const rule = DEFAULT_RULES[0]!;
  const ref = {
    group: 'kubernaut.ai',
    kind: 'WorkflowExecution',
    namespace: ns,
    name: 'we-h',
    uid: created.metadata.uid,
  };
  const key = `${ns}/Deployment/x`;
  const lease = leaseName(rule, key);
  t.deepEqual(await reader.read(rule, ref), { kind: 'live', uid: created.metadata.uid, phase: '', lease });
  await api.patchNamespacedCustomObjectStatus({
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'workflowexecutions',
    name: 'we-h',
    body: [{ op: 'add', path: '/status', value: { phase: 'Completed' } }],
  });
  t.deepEqual(await reader.read(rule, ref), { kind: 'terminal', uid: created.metadata.uid, phase: 'Completed', lease });
  t.deepEqual(await reader.read(rule, { ...ref, name: 'never-created' }), { kind: 'gone' });
});

test('kubernetes store: listPages yields LIST_PAGE_SIZE Leases a page, and together exactly what list returns', async (t) => {
  await leaseNamespace('lg-pages');
  const paged = new KubeLeaseStore(clients, 'lg-pages');
  const n = 2 * LIST_PAGE_SIZE + 50;
  await forEachConcurrently(n, 16, async (i) => {
    await paged.create({
      metadata: { name: `page-${i}`, labels: { 'app.kubernetes.io/managed-by': 'leaseguard' } },
      spec: {},
    });
  });
  const sizes: number[] = [];
  const names = new Set<string>();
  for await (const page of paged.listPages('app.kubernetes.io/managed-by=leaseguard')) {
    sizes.push(page.length);
    for (const l of page) names.add(l.metadata?.name ?? '');
  }
  t.deepEqual(sizes, [LIST_PAGE_SIZE, LIST_PAGE_SIZE, 50]);
  const all = await paged.list('app.kubernetes.io/managed-by=leaseguard');
  t.is(all.length, n);
  t.deepEqual(new Set(all.map((l) => l.metadata?.name ?? '')), names);
  // maxLeases reads the count from one list of one (the API server's remainingItemCount), not from the pages.
  t.is(await paged.count(), n);
  await paged.create({ metadata: { name: 'unmanaged' }, spec: {} });
  t.is(await paged.count(), n + 1, 'every Lease in the namespace counts');
});

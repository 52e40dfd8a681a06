// Least privilege and the webhook's absence, on a real API server.
import test from 'ava';
import { kubectl, customObjects } from '../support/integration-env.js';
import { apiError, workflowExecution } from '../support/objects.js';
import { ReplicaSet, SCOPE_LABEL, scopedNamespace } from '../support/replicas.js';

const createWe = (ns: string) =>
  customObjects('controller').createNamespacedCustomObject({
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'workflowexecutions',
    body: workflowExecution(ns, 'we-1', `${ns}/Deployment/api`),
  });

test('with the RBAC from manifests/, the webhook identity may do exactly its job', async (t) => {
  const can = async (args: string[]) => (await kubectl(['auth', 'can-i', ...args], { identity: 'leaseguard' })).stdout.trim();
  for (const verb of ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']) t.is(await can([verb, 'leases.coordination.k8s.io', '-n', 'leaseguard-system']), 'yes', verb);
  t.is(await can(['create', 'leases.coordination.k8s.io', '-n', 'default']), 'no', 'no Lease writes outside its namespace');
  t.is(await can(['get', 'workflowexecutions.kubernaut.ai', '--all-namespaces']), 'yes');
  t.is(await can(['watch', 'remediationrequests.kubernaut.ai', '--all-namespaces']), 'yes');
  t.is(await can(['create', 'workflowexecutions.kubernaut.ai', '-n', 'default']), 'no');
  t.is(await can(['get', 'secrets', '-n', 'leaseguard-system']), 'no');
});

test('without Lease permissions the webhook fails closed with 503 naming the missing permission', async (t) => {
  const scope = 'no-lease-rbac';
  const ns = 'nl-prod';
  const replicas = await ReplicaSet.start({ scope, count: 1, identity: 'restricted' });
  try {
    await scopedNamespace(scope, ns);
    const err = await t.throwsAsync(createWe(ns));
    const e = apiError(err);
    t.is(e.code, 503);
    t.is(e.reason, 'ServiceUnavailable');
    t.regex(e.message ?? '', /could not verify the lock for target "nl-prod\/Deployment\/api"/);
    t.regex(e.message ?? '', /User "system:serviceaccount:leaseguard-system:leaseguard-restricted" cannot (get|create) resource "leases" in API group "coordination.k8s.io" in the namespace "lg-no-lease-rbac"/);
    const stored = (await customObjects('admin').listNamespacedCustomObject({ group: 'kubernaut.ai', version: 'v1alpha1', namespace: ns, plural: 'workflowexecutions' })) as { items: unknown[] };
    t.is(stored.items.length, 0, 'nothing was created');
  } finally {
    await replicas.stop();
  }
});

test('with the webhook down and failurePolicy Fail, guarded creates are refused and other kinds are untouched', async (t) => {
  const scope = 'webhook-down';
  const ns = 'wd-prod';
  const replicas = await ReplicaSet.start({ scope, count: 1 });
  try {
    await scopedNamespace(scope, ns);
    await replicas.kill(0);
    const err = await t.throwsAsync(createWe(ns));
    const e = apiError(err);
    t.is(e.code, 500);
    t.regex(e.message ?? '', /failed calling webhook "(mutate|validate)\.leaseguard\.kubernaut\.ai"/);
    const cm = await kubectl(['-n', ns, 'create', 'configmap', 'untouched', '--from-literal=a=b']);
    t.is(cm.code, 0, cm.stderr);
    const labels = (await kubectl(['get', 'namespace', ns, '-o', `jsonpath={.metadata.labels.${SCOPE_LABEL}}`])).stdout;
    t.is(labels, scope);
  } finally {
    await replicas.stop();
  }
});

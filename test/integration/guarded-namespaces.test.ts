// Keys only from where they belong, through the real API server: with guardedNamespaces
// naming kubernaut's namespace, a WorkflowExecution created (or dry-run created) in a
// tenant's namespace is refused by leaseguard, naming where it may go, and takes no Lease;
// in the guarded namespace it is locked as ever.
import test from 'ava';
import { coordination, customObjects } from '../harness/integration-env.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import { ReplicaSet, scopedNamespace } from '../harness/replicas.js';

const SCOPE = 'guarded-namespaces';
const KUBERNAUT = 'gn-kubernaut';
const TENANT = 'gn-tenant';
const group = (namespace: string) => ({
  group: 'kubernaut.ai',
  version: 'v1alpha1',
  namespace,
  plural: 'workflowexecutions',
});

let replicas: ReplicaSet | undefined;
test.before(async () => {
  replicas = await ReplicaSet.start({ scope: SCOPE, count: 1, env: { LEASEGUARD_GUARDED_NAMESPACES: KUBERNAUT } });
  await scopedNamespace(SCOPE, KUBERNAUT);
  await scopedNamespace(SCOPE, TENANT);
});

test.after.always(async () => {
  await replicas?.stop();
});

const leases = async () =>
  (
    (
      await coordination().listNamespacedLease({
        namespace: replicas!.leaseNamespace,
        labelSelector: 'app.kubernetes.io/managed-by=leaseguard',
      })
    ).items ?? []
  ).length;

test("a tenant's create and dry run are refused (403, naming the allowed namespace) and take no Lease; kubernaut's namespace is locked", async (t) => {
  const api = customObjects('controller');
  const target = `${KUBERNAUT}/Deployment/api`;
  for (const dryRun of [undefined, 'All']) {
    const err = await t.throwsAsync(
      api.createNamespacedCustomObject({
        ...group(TENANT),
        body: workflowExecution(TENANT, 'we-tenant', target),
        ...(dryRun ? { dryRun } : {}),
      }),
    );
    const e = apiError(err);
    t.is(e.code, 403, `dry run: ${dryRun ?? 'no'}`);
    t.regex(
      e.message ?? '',
      /denied the request: leaseguard refuses WorkflowExecution in namespace gn-tenant: it may be created only in gn-kubernaut/,
    );
  }
  t.is(await leases(), 0, 'nothing written for the refused creates');
  await api.createNamespacedCustomObject({ ...group(KUBERNAUT), body: workflowExecution(KUBERNAUT, 'we-1', target) });
  t.is(await leases(), 1);
  const dup = apiError(
    await t.throwsAsync(
      api.createNamespacedCustomObject({ ...group(KUBERNAUT), body: workflowExecution(KUBERNAUT, 'we-2', target) }),
    ),
  );
  t.is(dup.code, 409, 'the lock holds in the guarded namespace');
});

// Lease write access in leaseguard's namespace is control of the locks. The shipped
// ValidatingAdmissionPolicy (manifests/base/lease-guard-policy.yaml, applied by the test
// control plane and bound to every test Lease namespace) lets only leaseguard's service
// account and the break-glass group write them, cluster admins included.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { controlPlane, coordination, customObjects } from '../harness/integration-env.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import { CLI } from '../harness/paths.js';
import { fastReplicasFor } from '../harness/replicas.js';
import { until } from '../harness/wait.js';
import { lockOf } from '../support/lock-of.js';

const run = promisify(execFile);
const SCOPE = 'policy';
const NS = 'policy-prod';

const replicas = fastReplicasFor(test, { scope: SCOPE, ns: NS, count: 1 });

const lease = (name: string) => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'leaseguard' } },
  spec: { holderIdentity: 'x' },
});

async function heldLease(target: string) {
  await customObjects('controller').createNamespacedCustomObject({
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    namespace: NS,
    plural: 'workflowexecutions',
    body: workflowExecution(NS, `we-${target.split('/').pop()}`, target),
  });
  return until(
    'the lock',
    async () =>
      (
        await coordination('leaseguard').listNamespacedLease({
          namespace: replicas().leaseNamespace,
          labelSelector: MANAGED_SELECTOR,
        })
      ).items.find((l) => lockOf(l)?.key === target),
    10_000,
  );
}

test.serial(
  "a cluster admin may not create, update or delete leaseguard's Leases; the message says who may",
  async (t) => {
    const ns = replicas().leaseNamespace;
    const admin = coordination('admin');
    const created = await admin.createNamespacedLease({ namespace: ns, body: lease('planted-by-admin') }).then(
      () => undefined,
      (e) => apiError(e),
    );
    t.is(created?.code, 403);
    t.regex(
      created?.message ?? '',
      /only its service account may write them, or a member of the leaseguard:break-glass group.*leaseguard-test-admin may not create them/,
    );
    // An unlabelled Lease under a lock's name would be a permanent 500 for that key: refused too.
    const unlabelled = await admin
      .createNamespacedLease({ namespace: ns, body: { ...lease('no-label'), metadata: { name: 'no-label' } } })
      .then(
        () => undefined,
        (e) => apiError(e),
      );
    t.is(unlabelled?.code, 403);

    const held = await heldLease(`${NS}/Deployment/admin`);
    const name = held.metadata!.name!;
    const patched = await admin
      .patchNamespacedLease({
        name,
        namespace: ns,
        body: [{ op: 'replace', path: '/spec/holderIdentity', value: 'mallory' }],
      })
      .then(
        () => undefined,
        (e) => apiError(e),
      );
    t.is(patched?.code, 403, 'update refused');
    const deleted = await admin.deleteNamespacedLease({ name, namespace: ns }).then(
      () => undefined,
      (e) => apiError(e),
    );
    t.is(deleted?.code, 403, 'delete refused');
    t.truthy(await coordination('leaseguard').readNamespacedLease({ name, namespace: ns }), 'the lock is still there');
  },
);

test.serial(
  'leaseguard writes its Leases; the break-glass group releases one with `locks release --force`; an admin outside it is told why not',
  async (t) => {
    const target = `${NS}/Deployment/break-glass`;
    await heldLease(target); // leaseguard's own create went through the policy
    const args = (identity: 'admin' | 'breakglass') => [
      CLI,
      'locks',
      'release',
      target,
      '--force',
      '--yes',
      '--kubeconfig',
      controlPlane().kubeconfigs[identity],
      '--namespace',
      replicas().leaseNamespace,
    ];
    const refused = await run(process.execPath, args('admin')).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    t.is(refused?.code, 1);
    t.regex(refused?.stderr ?? '', /not permitted, nothing was released.*leaseguard:break-glass/);
    const released = await run(process.execPath, args('breakglass'));
    t.regex(released.stdout, /Released "policy-prod\/Deployment\/break-glass"/);
    const left = (
      await coordination('leaseguard').listNamespacedLease({
        namespace: replicas().leaseNamespace,
        labelSelector: MANAGED_SELECTOR,
      })
    ).items.filter((l) => lockOf(l)?.key === target);
    t.is(left.length, 0);
    // The break-glass group may delete, nothing more (RBAC): no planting.
    const planted = await coordination('breakglass')
      .createNamespacedLease({ namespace: replicas().leaseNamespace, body: lease('planted-by-oncall') })
      .then(
        () => undefined,
        (e) => apiError(e),
      );
    t.is(planted?.code, 403);
  },
);

test.serial('the policy binds leaseguard-system as shipped', async (t) => {
  const created = await coordination('admin')
    .createNamespacedLease({ namespace: 'leaseguard-system', body: lease('planted-in-leaseguard-system') })
    .then(
      () => undefined,
      (e) => apiError(e),
    );
  t.is(created?.code, 403);
  t.regex(created?.message ?? '', /are leaseguard's locks/);
});

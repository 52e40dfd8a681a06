// The core guarantee on a real API server: of many concurrent CREATEs for one key through
// 3 leaseguard replicas, exactly one object is stored.
import test from 'ava';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { coordination, customObjects } from '../harness/integration-env.js';
import { apiError, fingerprint, remediationRequest, retryingThrottled, workflowExecution } from '../harness/objects.js';
import { ReplicaSet, scopedNamespace } from '../harness/replicas.js';
import { lockOf } from '../support/lock-of.js';

const SCOPE = 'single-writer';
const NS = 'sw-prod';
let replicas: ReplicaSet;

test.before(async () => {
  replicas = await ReplicaSet.start({ scope: SCOPE, count: 3 });
  await scopedNamespace(SCOPE, NS);
});
test.after.always(async () => {
  await replicas?.stop();
});

const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', namespace: NS };
// Each burst of 100 runs alone (test.serial): three at once are 300 concurrent creates, more
// than a 2-core test machine's API server and replicas answer inside the webhook timeout.

async function leasesFor(key: string) {
  const list = await coordination('admin').listNamespacedLease({
    namespace: replicas.leaseNamespace,
    labelSelector: MANAGED_SELECTOR,
  });
  return list.items.filter((l) => lockOf(l)?.key === key);
}

async function createAll(bodies: Record<string, unknown>[], plural: string) {
  const api = customObjects('controller');
  return Promise.all(
    bodies.map((body) =>
      retryingThrottled(() => api.createNamespacedCustomObject({ ...GROUP, plural, body })).then(
        (obj) => ({ ok: true as const, obj: obj as { metadata: { name: string; uid: string } } }),
        (err) => ({ ok: false as const, err: apiError(err) }),
      ),
    ),
  );
}

test.serial(
  '100 concurrent WorkflowExecution CREATEs for one target: one stored, 99 Conflicts naming the holder',
  async (t) => {
    const target = `${NS}/Deployment/checkout`;
    const results = await createAll(
      Array.from({ length: 100 }, (_, i) => workflowExecution(NS, `we-hot-${i}`, target)),
      'workflowexecutions',
    );
    const created = results.filter((r) => r.ok);
    const denied = results.filter((r) => !r.ok);
    t.is(created.length, 1);
    t.is(denied.length, 99);
    const winner = created[0]!.ok ? created[0]!.obj : undefined;
    for (const d of denied) {
      if (d.ok) continue;
      t.is(d.err.code, 409, d.err.message);
      t.is(d.err.reason, 'Conflict');
      t.regex(
        d.err.message ?? '',
        new RegExp(
          `denied the request: target "${target}" is busy: held by workflowexecution ${NS}/${winner?.metadata.name} \\(requested by system:serviceaccount:kubernaut-system:remediationorchestrator`,
        ),
      );
      t.is(d.err.details?.name, winner?.metadata.name);
      t.is(d.err.details?.kind, 'WorkflowExecution');
    }
    const stored = (await customObjects('admin').listNamespacedCustomObject({
      ...GROUP,
      plural: 'workflowexecutions',
    })) as { items: any[] };
    t.is(stored.items.filter((o) => o.spec.targetResource === target).length, 1, 'exactly one object stored');
    const leases = await leasesFor(target);
    t.is(leases.length, 1);
    const a = lockOf(leases[0])?.object;
    t.is(a?.name, winner?.metadata.name);
    t.is(a?.uid, winner?.metadata.uid, 'the Lease records the stored object UID');
    t.is(a?.namespace, NS);
    t.is(leases[0]!.spec?.holderIdentity, 'system:serviceaccount:kubernaut-system:remediationorchestrator');
    // Nothing is written after admission: the watch knows the object is stored.
    t.is(lockOf(leases[0])?.state, 'pending');
    const stamped = stored.items.find((o) => o.metadata.name === winner?.metadata.name);
    t.is(
      stamped.metadata.annotations['leaseguard.kubernaut.ai/lock-key'],
      target,
      'the mutating webhook stamped the key',
    );
    t.is(
      stamped.metadata.annotations['leaseguard.kubernaut.ai/lease'],
      `${replicas.leaseNamespace}/${leases[0]!.metadata?.name}`,
    );
  },
);

test.serial('100 concurrent RemediationRequest CREATEs sharing a fingerprint: one stored, 99 Conflicts', async (t) => {
  const fp = fingerprint('sw-alert-1');
  const results = await createAll(
    Array.from({ length: 100 }, (_, i) => remediationRequest(NS, `rr-hot-${i}`, fp)),
    'remediationrequests',
  );
  const created = results.filter((r) => r.ok);
  t.is(created.length, 1);
  const winner = created[0]!.ok ? created[0]!.obj.metadata.name : '';
  for (const r of results) {
    if (r.ok) continue;
    t.is(r.err.code, 409);
    t.regex(r.err.message ?? '', new RegExp(`fingerprint "${fp}" is busy: held by remediationrequest ${NS}/${winner}`));
  }
  const leases = await leasesFor(fp);
  t.is(leases.length, 1);
  t.is(lockOf(leases[0])?.object.name, winner);
});

test.serial('100 concurrent CREATEs for 100 different targets: all stored', async (t) => {
  const results = await createAll(
    Array.from({ length: 100 }, (_, i) => workflowExecution(NS, `we-many-${i}`, `${NS}/Deployment/app-${i}`)),
    'workflowexecutions',
  );
  const failures = results.filter((r) => !r.ok).map((r) => (r.ok ? '' : `${r.err.code} ${r.err.message}`));
  t.deepEqual(failures, []);
  for (let i = 0; i < 100; i += 33) t.is((await leasesFor(`${NS}/Deployment/app-${i}`)).length, 1);
});

test('a dry-run CREATE through the API server writes no Lease and gives the verdict', async (t) => {
  const api = customObjects('controller');
  const free = `${NS}/Deployment/dry-free`;
  await retryingThrottled(() =>
    api.createNamespacedCustomObject({
      ...GROUP,
      plural: 'workflowexecutions',
      body: workflowExecution(NS, 'we-dry', free),
      dryRun: 'All',
    }),
  );
  t.deepEqual(await leasesFor(free), [], 'no Lease for a dry run');
  const held = `${NS}/Deployment/dry-held`;
  await retryingThrottled(() =>
    api.createNamespacedCustomObject({
      ...GROUP,
      plural: 'workflowexecutions',
      body: workflowExecution(NS, 'we-dry-holder', held),
    }),
  );
  const err = await t.throwsAsync(
    retryingThrottled(() =>
      api.createNamespacedCustomObject({
        ...GROUP,
        plural: 'workflowexecutions',
        body: workflowExecution(NS, 'we-dry-2', held),
        dryRun: 'All',
      }),
    ),
  );
  t.is(apiError(err).code, 409);
  t.regex(apiError(err).message ?? '', /is busy: held by workflowexecution sw-prod\/we-dry-holder/);
});

test.serial(
  'generateName creates (the name the API server makes up): one stored, the rest refused naming it; the Lease records its name and uid',
  async (t) => {
    const target = `${NS}/Deployment/generated`;
    const bodies = Array.from({ length: 20 }, () => {
      const body = workflowExecution(NS, '', target) as { metadata: Record<string, unknown> };
      body.metadata = { generateName: 'we-gen-', namespace: NS };
      return body;
    });
    const results = await createAll(bodies, 'workflowexecutions');
    const created = results.filter((r) => r.ok);
    t.is(created.length, 1);
    const winner = created[0]!.ok ? created[0]!.obj : undefined;
    t.regex(winner?.metadata.name ?? '', /^we-gen-[a-z0-9]{5}$/);
    for (const d of results) {
      if (d.ok) continue;
      t.is(d.err.code, 409, d.err.message);
      t.is(d.err.details?.name, winner?.metadata.name, 'the holder is named by its generated name');
    }
    const [lease] = await leasesFor(target);
    t.is(lockOf(lease)?.object.name, winner?.metadata.name);
    t.is(lockOf(lease)?.object.uid, winner?.metadata.uid);
    // The holder is found by that name: a later create stays refused (not taken over as "gone").
    const again = await createAll([bodies[0]!], 'workflowexecutions');
    t.false(again[0]!.ok);
    t.is(again[0]!.ok ? 0 : again[0]!.err.code, 409);
  },
);

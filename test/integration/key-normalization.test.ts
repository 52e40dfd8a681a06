// normalize: object-ref on the real API server: kubernaut's two spellings of one target
// (`ns/Deployment/api`, `ns/deployment/api`) are one lock with it, two without it, and the
// lock is still released when its holder completes.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { coordination, customObjects, kubectl } from '../harness/integration-env.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import { FAST_RELEASE_ENV, ReplicaSet, scopedNamespace } from '../harness/replicas.js';
import { until } from '../harness/wait.js';
import { lockOf } from '../support/lock-of.js';

const ON = { scope: 'norm-on', ns: 'norm-on' };
const OFF = { scope: 'norm-off', ns: 'norm-off' };
let on: ReplicaSet;
let off: ReplicaSet;

// The shipped WorkflowExecution rule (chart, kustomize): the built-in one plus normalize.
const RULE = `rules:
  - group: kubernaut.ai
    version: v1alpha1
    kind: WorkflowExecution
    resource: workflowexecutions
    keyPath: spec.targetResource
    phasePath: status.phase
    terminalPhases: [Completed, Failed]
    maxHoldSeconds: 7200
    normalize: object-ref
`;

test.before(async () => {
  const config = join(await mkdtemp(join(tmpdir(), 'lg-norm-')), 'config.yaml');
  await writeFile(config, RULE);
  on = await ReplicaSet.start({ scope: ON.scope, count: 1, env: { ...FAST_RELEASE_ENV, LEASEGUARD_CONFIG: config } });
  off = await ReplicaSet.start({ scope: OFF.scope, count: 1, env: FAST_RELEASE_ENV }); // built-in rules: exact keys
  await scopedNamespace(ON.scope, ON.ns);
  await scopedNamespace(OFF.scope, OFF.ns);
});
test.after.always(async () => {
  await on?.stop();
  await off?.stop();
  // Without normalize the two spellings were both admitted: a duplicate under the other
  // set's rule, which other files' leaders would count.
  await kubectl(['delete', 'workflowexecutions', '--all', '-n', OFF.ns, '--wait=false']);
});

const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1' };
const create = (ns: string, name: string, target: string) =>
  customObjects('controller')
    .createNamespacedCustomObject({
      ...GROUP,
      namespace: ns,
      plural: 'workflowexecutions',
      body: workflowExecution(ns, name, target),
    })
    .then(
      (o) => ({ ok: true as const, obj: o as { metadata: { uid: string; annotations?: Record<string, string> } } }),
      (err) => ({ ok: false as const, err: apiError(err) }),
    );
const complete = (ns: string, name: string) =>
  customObjects('controller').patchNamespacedCustomObjectStatus({
    ...GROUP,
    namespace: ns,
    plural: 'workflowexecutions',
    name,
    body: [{ op: 'add', path: '/status', value: { phase: 'Completed' } }],
  });
async function leases(set: ReplicaSet, ns: string) {
  const list = await coordination('admin').listNamespacedLease({
    namespace: set.leaseNamespace,
    labelSelector: MANAGED_SELECTOR,
  });
  return list.items.filter((l) => lockOf(l)?.object.namespace === ns);
}

test.serial(
  'normalize on: ns/Deployment/api holds the lock, ns/deployment/api is refused 409; completing the holder frees it for the other spelling',
  async (t) => {
    const holder = await create(ON.ns, 'we-upper', `${ON.ns}/Deployment/api`);
    t.true(holder.ok, holder.ok ? '' : holder.err.message);
    const lower = await create(ON.ns, 'we-lower', `${ON.ns}/deployment/api`);
    t.false(lower.ok, 'the other spelling of the same Deployment is the same lock');
    if (!lower.ok) {
      t.is(lower.err.code, 409);
      t.is(lower.err.reason, 'Conflict');
      t.is(lower.err.details?.name, 'we-upper');
      t.regex(
        lower.err.message ?? '',
        new RegExp(`target "${ON.ns}/deployment/api" is busy: held by workflowexecution ${ON.ns}/we-upper`),
      );
    }
    t.is((await create(ON.ns, 'we-shout', `${ON.ns}/DEPLOYMENT/api`)).ok, false, 'any case of the Kind');
    t.true(
      (await create(ON.ns, 'we-other', `${ON.ns}/Deployment/API`)).ok,
      'names stay exact: another object, another lock',
    );

    const held = (await leases(on, ON.ns)).filter((l) => lockOf(l)?.object.name === 'we-upper');
    t.is(held.length, 1, 'one Lease for the target');
    t.is(lockOf(held[0])?.key, `${ON.ns}/deployment/api`, 'recorded as the rule compares it');
    if (holder.ok)
      t.is(
        holder.obj.metadata.annotations?.['leaseguard.kubernaut.ai/lock-key'],
        `${ON.ns}/deployment/api`,
        'the stamp agrees',
      );

    // The release watch derives the same key, so it finds the holder's Lease and frees it.
    await complete(ON.ns, 'we-upper');
    await until(
      'the Lease to be released',
      async () => (await leases(on, ON.ns)).every((l) => lockOf(l)?.object.name !== 'we-upper'),
      15_000,
    );
    const next = await create(ON.ns, 'we-lower-2', `${ON.ns}/deployment/api`);
    t.true(next.ok, next.ok ? '' : next.err.message);
  },
);

test.serial('normalize off (the built-in rules): the two spellings are two locks, both admitted', async (t) => {
  t.true((await create(OFF.ns, 'we-upper', `${OFF.ns}/Deployment/api`)).ok);
  t.true(
    (await create(OFF.ns, 'we-lower', `${OFF.ns}/deployment/api`)).ok,
    'exact keys: another spelling is another lock',
  );
  const keys = (await leases(off, OFF.ns)).map((l) => lockOf(l)?.key).sort();
  t.deepEqual(keys, [`${OFF.ns}/Deployment/api`, `${OFF.ns}/deployment/api`]);
});

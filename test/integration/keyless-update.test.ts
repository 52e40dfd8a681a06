// No path stores a keyed object without its lock: an UPDATE that gives a valid key to an
// object stored without one takes the lock as a create would, through the real API server.
// leaseguard refuses a keyless CREATE (422), so a keyless object exists only if it was
// stored while leaseguard was not registered; that is how this test makes one.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { leaseName } from '../../src/core/lease-name.js';
import { decodeLease } from '../../src/core/lock-record.js';
import type { GuardRule } from '../../src/core/rules.js';
import { coordination, kubectl } from '../harness/integration-env.js';
import { ReplicaSet, scopedNamespace } from '../harness/replicas.js';
import { until } from '../harness/wait.js';

const SCOPE = 'keyless-update';
const NS = 'ku-prod';
/** A guarded kind whose key may be absent and edited (kubernaut's CRDs require it and make spec immutable). */
const RULE: GuardRule = {
  group: 'keyless.leaseguard.test',
  version: 'v1',
  kind: 'Gadget',
  resource: 'gadgets',
  keyPath: 'spec.owner',
  phasePath: 'status.phase',
  terminalPhases: ['Done'],
  scope: 'cluster',
};
const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'gadgets.keyless.leaseguard.test' },
  spec: {
    group: RULE.group,
    scope: 'Namespaced',
    names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', properties: { owner: { type: 'string' }, size: { type: 'integer' } } },
              status: { type: 'object', properties: { phase: { type: 'string' } } },
            },
          },
        },
      },
    ],
  },
};

const gadget = (name: string, owner?: string) =>
  JSON.stringify({
    apiVersion: `${RULE.group}/v1`,
    kind: 'Gadget',
    metadata: { name, namespace: NS },
    spec: owner === undefined ? { size: 1 } : { owner, size: 1 },
  });
const create = (name: string, owner?: string) => kubectl(['create', '-f', '-'], { input: gadget(name, owner) });
const setOwner = (name: string, owner: string) =>
  kubectl(['-n', NS, 'patch', 'gadget', name, '--type=merge', '-p', JSON.stringify({ spec: { owner } })]);

let replicas: ReplicaSet | undefined;
test.before(async () => {
  if ((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(CRD) })).code !== 0)
    throw new Error('cannot apply the Gadget CRD');
  await kubectl(['wait', '--for=condition=Established', `crd/${CRD.metadata.name}`, '--timeout=30s']);
  // What an operator grants when guarding a kind: leaseguard reads its holders and watches it.
  const rbac = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'leaseguard-test-gadgets' },
        rules: [{ apiGroups: [RULE.group], resources: ['gadgets'], verbs: ['get', 'list', 'watch'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'leaseguard-test-gadgets' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'leaseguard-test-gadgets' },
        subjects: [{ kind: 'ServiceAccount', name: 'leaseguard', namespace: 'leaseguard-system' }],
      },
    ],
  };
  if ((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(rbac) })).code !== 0)
    throw new Error('cannot grant leaseguard reads of gadgets');
  const config = join(await mkdtemp(join(tmpdir(), 'lg-keyless-')), 'config.yaml');
  await writeFile(config, JSON.stringify({ rules: [RULE] }));
  replicas = await ReplicaSet.start({ scope: SCOPE, count: 1, env: { LEASEGUARD_CONFIG: config } });
  await scopedNamespace(SCOPE, NS);
});
test.after.always(async () => {
  await replicas?.stop();
});

test('an UPDATE giving a keyless object the key another live object holds is refused 409; a free key is taken, its Lease written', async (t) => {
  const r = replicas!;
  const lease = async (owner: string) => {
    const found = await coordination('admin')
      .readNamespacedLease({ name: leaseName(RULE, owner), namespace: r.leaseNamespace })
      .catch(() => undefined);
    return found ? decodeLease(found) : undefined;
  };

  // With leaseguard registered a keyless CREATE is refused, so only its absence stores one.
  const refused = await until(
    'a keyless create to be refused by leaseguard',
    async () => {
      const c = await create('g-probe');
      return c.code !== 0 && c.stderr;
    },
    10_000,
  );
  t.regex(refused, /spec\.owner is required/);
  await r.unregister();
  // Registered again at once; the teardown covers a wait that times out first.
  t.teardown(() => r.register());
  await until(
    'a keyless create to be stored with leaseguard unregistered',
    async () => (await create('g-legacy')).code === 0,
    10_000,
  );
  await r.register();
  await until(
    'leaseguard to answer again',
    async () => {
      const c = await create('g-probe-2');
      return c.code !== 0 && /spec\.owner is required/.test(c.stderr);
    },
    10_000,
  );

  const holder = await create('g-holder', 'team-held');
  t.is(holder.code, 0, holder.stderr);
  t.like((await lease('team-held'))?.record?.object, { name: 'g-holder', namespace: NS });

  const busy = await setOwner('g-legacy', 'team-held');
  t.not(busy.code, 0, 'the key another live object holds is refused');
  t.regex(busy.stderr, /busy: held by gadget ku-prod\/g-holder/);
  const stored = await kubectl(['-n', NS, 'get', 'gadget', 'g-legacy', '-o', 'jsonpath={.spec.owner}']);
  t.is(stored.stdout, '', 'still keyless');

  const free = await setOwner('g-legacy', 'team-free');
  t.is(free.code, 0, free.stderr);
  const taken = await lease('team-free');
  t.truthy(taken, 'the free key has its Lease');
  const uid = (await kubectl(['-n', NS, 'get', 'gadget', 'g-legacy', '-o', 'jsonpath={.metadata.uid}'])).stdout;
  t.like(taken?.record?.object, { name: 'g-legacy', namespace: NS, uid });

  const late = await create('g-late', 'team-free');
  t.not(late.code, 0, 'the updated object now holds its key');
  t.regex(late.stderr, /held by gadget ku-prod\/g-legacy/);
});

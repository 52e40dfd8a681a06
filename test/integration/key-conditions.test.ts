// The validating webhook's matchConditions, as leaseguard's generator renders them
// (`leaseguard webhook-config`, the chart fills the same templates), evaluated by the real
// API server on key paths that plain CEL field access cannot name: `spec.my-key` (a dash)
// and `spec.for` (a CEL reserved word). A key-changing UPDATE must reach leaseguard and be
// refused; other UPDATEs must not reach it; odd shapes (a spec that is no map, a key that
// is no string) must never make a condition fail.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { IDENTITIES } from '../harness/control-plane.js';
import { coordination, kubectl, kubectlJson } from '../harness/integration-env.js';
import { metricValue } from '../harness/metrics.js';
import { FAST, FAST_RELEASE_ENV, ReplicaSet, scopedNamespace } from '../harness/replicas.js';
import { lockOf } from '../support/lock-of.js';

const SCOPE = 'key-conditions';
const NS = 'key-conditions-prod';
/** Objects stored here before the set's webhook saw the namespace (shapes leaseguard would refuse to create). */
const LATE = 'key-conditions-late';
const GROUP = 'conditions.leaseguard.test';

const KINDS = [
  { kind: 'Dasher', resource: 'dashers', keyPath: 'spec.my-key', key: 'my-key' },
  { kind: 'Reserver', resource: 'reservers', keyPath: 'spec.for', key: 'for' },
] as const;
type Kind = (typeof KINDS)[number];

const crd = (k: Kind) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${k.resource}.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.resource, singular: k.kind.toLowerCase() },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
});

const object = (k: Kind, ns: string, name: string, spec: unknown) =>
  JSON.stringify({ apiVersion: `${GROUP}/v1`, kind: k.kind, metadata: { name, namespace: ns }, spec });

let replicas: ReplicaSet;

test.before(async () => {
  const applied = await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: KINDS.map(crd) }),
  });
  if (applied.code !== 0) throw new Error(applied.stderr);
  await kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    ...KINDS.map((k) => `crd/${k.resource}.${GROUP}`),
  ]);
  // leaseguard reads its holders (and the leader watches them), as the chart's ClusterRole grants for every rule.
  await kubectl([
    'create',
    'clusterrole',
    'leaseguard-key-conditions',
    '--verb=get,list,watch',
    `--resource=${KINDS.map((k) => `${k.resource}.${GROUP}`).join(',')}`,
  ]);
  await kubectl([
    'create',
    'clusterrolebinding',
    'leaseguard-key-conditions',
    '--clusterrole=leaseguard-key-conditions',
    `--user=${IDENTITIES.leaseguard.user}`,
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'lg-key-conditions-'));
  const config = join(dir, 'config.json');
  const rules = KINDS.map((k) => ({
    group: GROUP,
    version: 'v1',
    kind: k.kind,
    resource: k.resource,
    keyPath: k.keyPath,
    phasePath: 'status.phase',
    terminalPhases: ['Done'],
  }));
  await writeFile(config, JSON.stringify({ includeDefaultRules: false, rules }));
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 1,
    timeoutSeconds: FAST.timeoutSeconds,
    env: { ...FAST_RELEASE_ENV, LEASEGUARD_CONFIG: config },
  });
  await scopedNamespace(SCOPE, NS);
});

test.after.always(async () => {
  await replicas?.stop();
});

/** UPDATE reviews leaseguard has answered for a kind. */
const updatesSeen = async (k: Kind) =>
  metricValue((await replicas.metrics())[0] ?? '', 'leaseguard_admission_requests_total', {
    webhook: 'validate',
    kind: k.kind,
    operation: 'UPDATE',
  }) || 0;
const lockKeys = async () =>
  (
    await coordination('admin').listNamespacedLease({
      namespace: replicas.leaseNamespace,
      labelSelector: MANAGED_SELECTOR,
    })
  ).items.map((l) => lockOf(l)?.key);

for (const k of KINDS) {
  test.serial(
    `${k.kind}, keyed on ${k.keyPath}: a create takes the lock, a key-changing UPDATE reaches leaseguard and is refused, a label change never reaches it`,
    async (t) => {
      const key = `${k.resource}-1`;
      const created = await kubectl(['create', '-f', '-'], {
        input: object(k, NS, `${k.resource}-a`, { [k.key]: key }),
      });
      t.is(created.code, 0, created.stderr);
      t.true((await lockKeys()).includes(key), 'the create took the lock');
      const second = await kubectl(['create', '-f', '-'], {
        input: object(k, NS, `${k.resource}-b`, { [k.key]: key }),
      });
      t.not(second.code, 0, 'a second holder of the key is refused');
      t.regex(second.stderr, /busy/);

      const before = await updatesSeen(k);
      const changed = await kubectl([
        '-n',
        NS,
        'patch',
        k.resource,
        `${k.resource}-a`,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { [k.key]: `${k.resource}-2` } }),
      ]);
      t.not(changed.code, 0, 'the key-changing UPDATE is refused');
      t.regex(changed.stderr, new RegExp(`${k.keyPath.replace('.', '\\.')} is immutable: it is the lock key`));
      t.is(await updatesSeen(k), before + 1, 'leaseguard answered it');
      t.is(
        (await kubectlJson(['-n', NS, 'get', k.resource, `${k.resource}-a`]))?.spec[k.key],
        key,
        'the stored key is unchanged',
      );

      const labelled = await kubectl(['-n', NS, 'label', k.resource, `${k.resource}-a`, 'team=a']);
      t.is(labelled.code, 0, labelled.stderr);
      t.is(await updatesSeen(k), before + 1, 'a label change never reached leaseguard');
    },
  );
}

test.serial(
  'a spec that is no map, or a key that is no string, never makes a condition fail: label changes pass, a changed key still reaches leaseguard',
  async (t) => {
    const k = KINDS[0];
    // Stored before the webhook sees the namespace: leaseguard refuses to create keyless objects.
    t.is((await kubectl(['create', 'namespace', LATE])).code, 0);
    for (const [name, spec] of [
      ['no-map', 'just text'],
      ['number', { [k.key]: 5 }],
      ['list', [1, 2]],
    ] as const) {
      const r = await kubectl(['create', '-f', '-'], { input: object(k, LATE, name, spec) });
      t.is(r.code, 0, r.stderr);
    }
    await scopedNamespace(SCOPE, LATE);
    const before = await updatesSeen(k);
    for (const name of ['no-map', 'number', 'list']) {
      // A condition that failed would refuse these (failurePolicy Fail); one that matched would send them to leaseguard.
      const r = await kubectl(['-n', LATE, 'label', k.resource, name, 'team=b']);
      t.is(r.code, 0, `${name}: ${r.stderr}`);
    }
    t.is(await updatesSeen(k), before, 'no label change reached leaseguard');
    await kubectl([
      '-n',
      LATE,
      'patch',
      k.resource,
      'number',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { [k.key]: 6 } }),
    ]);
    await kubectl([
      '-n',
      LATE,
      'patch',
      k.resource,
      'no-map',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { [k.key]: 'given-a-key' } }),
    ]);
    t.is(
      await updatesSeen(k),
      before + 2,
      'a key that changes value, or appears where spec was no map, reaches leaseguard',
    );
  },
);

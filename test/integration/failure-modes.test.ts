// Least privilege and the webhook's absence, on a real API server.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { kubectl, customObjects } from '../harness/integration-env.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import { ReplicaSet, SCOPE_LABEL, scopedNamespace } from '../harness/replicas.js';

const createWe = (ns: string) =>
  customObjects('controller').createNamespacedCustomObject({
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'workflowexecutions',
    body: workflowExecution(ns, 'we-1', `${ns}/Deployment/api`),
  });

test('with the RBAC from manifests/, the webhook identity may do exactly its job', async (t) => {
  const can = async (args: string[]) =>
    (await kubectl(['auth', 'can-i', ...args], { identity: 'leaseguard' })).stdout.trim();
  for (const verb of ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'])
    t.is(await can([verb, 'leases.coordination.k8s.io', '-n', 'leaseguard-system']), 'yes', verb);
  t.is(
    await can(['create', 'leases.coordination.k8s.io', '-n', 'default']),
    'no',
    'no Lease writes outside its namespace',
  );
  t.is(await can(['get', 'workflowexecutions.kubernaut.ai', '--all-namespaces']), 'yes');
  t.is(await can(['watch', 'remediationrequests.kubernaut.ai', '--all-namespaces']), 'yes');
  t.is(await can(['create', 'workflowexecutions.kubernaut.ai', '-n', 'default']), 'no');
  t.is(await can(['get', 'secrets', '-n', 'leaseguard-system']), 'no');
  // Events about its Leases, in its own namespace only (docs/operations.md: Events).
  for (const verb of ['create', 'patch'])
    t.is(await can([verb, 'events', '-n', 'leaseguard-system']), 'yes', `${verb} events`);
  t.is(await can(['create', 'events', '-n', 'default']), 'no', 'no Events outside its namespace');
  t.is(await can(['delete', 'events', '-n', 'leaseguard-system']), 'no');
});

test('without Lease permissions the webhook fails closed with 503 naming the missing permission', async (t) => {
  const scope = 'no-lease-rbac';
  const ns = 'nl-prod';
  const replicas = await ReplicaSet.start({ scope, count: 1, identity: 'restricted' });
  t.teardown(() => replicas.stop());
  await scopedNamespace(scope, ns);
  const err = await t.throwsAsync(createWe(ns));
  const e = apiError(err);
  t.is(e.code, 503);
  t.is(e.reason, 'ServiceUnavailable');
  t.regex(e.message ?? '', /could not verify the lock for target "nl-prod\/Deployment\/api"/);
  t.regex(
    e.message ?? '',
    /User "system:serviceaccount:leaseguard-system:leaseguard-restricted" cannot (get|create) resource "leases" in API group "coordination.k8s.io" in the namespace "lg-no-lease-rbac"/,
  );
  const stored = (await customObjects('admin').listNamespacedCustomObject({
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'workflowexecutions',
  })) as { items: unknown[] };
  t.is(stored.items.length, 0, 'nothing was created');
});

test('fail-open, only when configured: with no Lease permissions kubectl prints the fail-open warning and the create is stored', async (t) => {
  const scope = 'fail-open';
  const ns = 'fo-prod';
  const replicas = await ReplicaSet.start({
    scope,
    count: 1,
    identity: 'restricted',
    env: { LEASEGUARD_FAIL_OPEN: 'true' },
  });
  t.teardown(() => replicas.stop());
  await scopedNamespace(scope, ns);
  const r = await kubectl(['create', '-f', '-'], {
    identity: 'controller',
    input: JSON.stringify(workflowExecution(ns, 'we-1', `${ns}/Deployment/api`)),
  });
  t.is(r.code, 0, r.stderr);
  t.regex(
    r.stderr,
    /^Warning: leaseguard fail-open: could not verify the lock for target "fo-prod\/Deployment\/api": .*cannot (get|create) resource "leases"/m,
  );
  t.regex(r.stderr, /The create was admitted unchecked \(failOpen is on\), so it may duplicate another/);
  t.notRegex(r.stderr, /refused|fails closed/, 'the warning does not say the create was refused');
  t.regex(r.stdout, /workflowexecution\.kubernaut\.ai\/we-1 created/);
});

test('with the webhook down and failurePolicy Fail, guarded creates are refused and other kinds are untouched', async (t) => {
  const scope = 'webhook-down';
  const ns = 'wd-prod';
  const replicas = await ReplicaSet.start({ scope, count: 1 });
  t.teardown(() => replicas.stop());
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
});

/** A guarded kind whose key field may be edited (kubernaut's CRDs make spec immutable). */
const WIDGET_RULE = {
  group: 'scope.leaseguard.test',
  version: 'v1',
  kind: 'Widget',
  resource: 'widgets',
  keyPath: 'spec.owner',
  phasePath: 'status.phase',
  terminalPhases: ['Done'],
  scope: 'namespace',
};
const WIDGET_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.scope.leaseguard.test' },
  spec: {
    group: 'scope.leaseguard.test',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', properties: { owner: { type: 'string' } } },
              status: { type: 'object', properties: { phase: { type: 'string' } } },
            },
          },
        },
      },
    ],
  },
};

test('with every replica down, only what leaseguard would refuse is refused: creates and key changes; label changes, finalizer removal, deletes and opted-out namespaces go on', async (t) => {
  const scope = 'all-down';
  const ns = 'ad-prod';
  const optedOut = 'ad-ignored';
  const config = join(await mkdtemp(join(tmpdir(), 'lg-scope-')), 'config.yaml');
  await writeFile(config, JSON.stringify({ rules: [WIDGET_RULE] }));
  t.is((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(WIDGET_CRD) })).code, 0);
  await kubectl(['wait', '--for=condition=Established', 'crd/widgets.scope.leaseguard.test', '--timeout=30s']);
  const replicas = await ReplicaSet.start({ scope, count: 1, env: { LEASEGUARD_CONFIG: config } });
  t.teardown(() => replicas.stop());
  await scopedNamespace(scope, ns);
  await scopedNamespace(scope, optedOut);
  const first = await kubectl(['apply', '--server-side', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'scope.leaseguard.test/v1',
      kind: 'Widget',
      metadata: { name: 'w-1', namespace: ns, labels: { l: 'a' } },
      spec: { owner: 'team-a' },
    }),
  });
  t.is(first.code, 0, first.stderr);
  t.is((await kubectl(['label', 'namespace', optedOut, 'leaseguard.kubernaut.ai/ignore=true'])).code, 0);
  const apply = (name: string, target: string, extra: Record<string, unknown> = {}) => {
    const we = workflowExecution(ns, name, target);
    return kubectl(['create', '-f', '-'], {
      identity: 'controller',
      input: JSON.stringify({ ...we, metadata: { ...(we.metadata as object), ...extra } }),
    });
  };
  const held = await apply('we-held', `${ns}/Deployment/held`, { finalizers: ['kubernaut.ai/cleanup'] });
  t.is(held.code, 0, held.stderr);
  t.is((await apply('we-other', `${ns}/Deployment/other`)).code, 0);
  await replicas.kill(0);

  const create = await apply('we-new', `${ns}/Deployment/new`);
  t.not(create.code, 0, 'a guarded create is refused');
  t.regex(create.stderr, /failed calling webhook "(mutate|validate)\.leaseguard\.kubernaut\.ai"/);
  // kubernaut's CRDs make spec immutable, so the API server refuses this before any webhook.
  const move = await kubectl(
    [
      '-n',
      ns,
      'patch',
      'workflowexecution',
      'we-other',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { targetResource: `${ns}/Deployment/elsewhere` } }),
    ],
    { identity: 'controller' },
  );
  t.not(move.code, 0, 'an UPDATE changing the key is refused');
  // A kind whose key may be edited: that UPDATE reaches leaseguard (and fails with it down); others do not.
  const widget = (owner: string, label = 'a') =>
    JSON.stringify({
      apiVersion: 'scope.leaseguard.test/v1',
      kind: 'Widget',
      metadata: { name: 'w-1', namespace: ns, labels: { l: label } },
      spec: { owner },
    });
  const rekey = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: widget('team-b') });
  t.not(rekey.code, 0, 'an UPDATE changing the key of an editable kind is refused');
  t.regex(rekey.stderr, /failed calling webhook "validate\.leaseguard\.kubernaut\.ai"/);
  const relabel = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], {
    input: widget('team-a', 'b'),
  });
  t.is(relabel.code, 0, `an UPDATE of that kind leaving the key alone goes on: ${relabel.stderr}`);

  const label = await kubectl(['-n', ns, 'label', 'workflowexecution', 'we-held', 'team=payments'], {
    identity: 'controller',
  });
  t.is(label.code, 0, `an UPDATE leaving the key alone does not call leaseguard: ${label.stderr}`);
  t.is(
    (await kubectl(['-n', ns, 'delete', 'workflowexecution', 'we-held', '--wait=false'], { identity: 'controller' }))
      .code,
    0,
  );
  const unfinalize = await kubectl(
    [
      '-n',
      ns,
      'patch',
      'workflowexecution',
      'we-held',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/metadata/finalizers"}]',
    ],
    { identity: 'controller' },
  );
  t.is(unfinalize.code, 0, `finalizer removal goes on: ${unfinalize.stderr}`);
  const gone = await kubectl(['-n', ns, 'get', 'workflowexecution', 'we-held', '--ignore-not-found', '-o', 'name']);
  t.is(gone.stdout.trim(), '', 'the delete completed');

  const we = workflowExecution(optedOut, 'we-free', `${optedOut}/Deployment/api`);
  const free = await kubectl(['create', '-f', '-'], { identity: 'controller', input: JSON.stringify(we) });
  t.is(free.code, 0, `a namespace labelled leaseguard.kubernaut.ai/ignore=true is not guarded: ${free.stderr}`);
});

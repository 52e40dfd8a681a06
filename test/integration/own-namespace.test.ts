// leaseguard never guards its own namespace: the webhook configurations it renders exclude
// it, so a guarded object created there is never locked. A replica whose namespace holds
// one says so loudly (a warning naming kind and namespace, and a gauge), and clears it
// when the objects are gone.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { CLI } from '../harness/paths.js';
import { customObjects, kubectl } from '../harness/integration-env.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import { FAST_RELEASE_ENV, ReplicaSet, SCOPE_LABEL, leaseNamespace, scopedNamespace } from '../harness/replicas.js';
import { metricValue } from '../harness/metrics.js';
import { until } from '../harness/wait.js';

const SCOPE = 'own-ns';
const OWN = `lg-${SCOPE}`; // the replicas' POD_NAMESPACE, where their Leases live
const NS = 'own-prod';
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', plural: 'workflowexecutions' };
const GAUGE = 'leaseguard_guarded_objects_in_own_namespace';

const create = (namespace: string, name: string, target: string) =>
  customObjects('controller')
    .createNamespacedCustomObject({ ...GROUP, namespace, body: workflowExecution(namespace, name, target) })
    .then(
      () => 201,
      (err) => apiError(err).code,
    );

test('a guarded object in its own namespace: a warning naming kind and namespace and the gauge at 1; creates there are never guarded; cleared when they are gone', async (t) => {
  await leaseNamespace(OWN);
  t.is(await create(OWN, 'we-stray', `${NS}/Deployment/api`), 201, 'created before leaseguard runs');
  // The service namespace is set as the chart sets it (the release namespace), so that
  // `webhook-config` renders the exclusion of this one, as the chart's template does.
  const replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 1,
    env: { ...FAST_RELEASE_ENV, LEASEGUARD_SERVICE_NAMESPACE: OWN, LEASEGUARD_SWEEP_INTERVAL_SECONDS: '1' },
  });
  t.teardown(() => replicas.stop());
  const warning = await until(
    'the warning',
    async () =>
      (await replicas.logs()).split('\n').find((l) => l.includes("GUARDED OBJECTS IN LEASEGUARD'S OWN NAMESPACE")),
    10_000,
  );
  const entry = JSON.parse(warning);
  t.is(entry.level, 40);
  t.like(entry, { kind: 'WorkflowExecution', namespace: OWN, example: `${OWN}/we-stray` });
  t.regex(entry.msg, new RegExp(`WorkflowExecution objects exist in ${OWN}, where leaseguard guards nothing`));
  const page = (await replicas.metrics())[0] ?? '';
  t.is(metricValue(page, GAUGE, { kind: 'WorkflowExecution' }), 1);
  t.is(metricValue(page, GAUGE, { kind: 'RemediationRequest' }), 0);

  // The rendered registrations exclude it...
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [CLI, 'webhook-config', '--url', 'https://127.0.0.1:1', '--ca', `${replicas.certs.dir}/ca.crt`, '-o', 'json'],
    {
      env: { ...process.env, POD_NAMESPACE: OWN },
    },
  );
  for (const item of JSON.parse(stdout).items) {
    for (const w of item.webhooks) {
      t.deepEqual(
        w.namespaceSelector.matchExpressions[0],
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', OWN] },
        `${item.kind} ${w.name}`,
      );
    }
  }
  // ...and so, through the API server, do the ones the replicas registered: with the
  // namespace labelled as guarded ones are, a create there is not locked.
  await scopedNamespace(SCOPE, NS);
  t.teardown(() => kubectl(['label', 'namespace', OWN, `${SCOPE_LABEL}-`]));
  t.is((await kubectl(['label', 'namespace', OWN, `${SCOPE_LABEL}=${SCOPE}`, '--overwrite'])).code, 0);
  t.is(await create(NS, 'we-holder', `${NS}/Deployment/held`), 201);
  t.is(await create(NS, 'we-second', `${NS}/Deployment/held`), 409, 'guarded where the webhook applies');
  t.is(
    await create(OWN, 'we-unguarded', `${NS}/Deployment/held`),
    201,
    'the same key in its own namespace is not guarded',
  );

  for (const name of ['we-stray', 'we-unguarded'])
    await customObjects('admin').deleteNamespacedCustomObject({ ...GROUP, namespace: OWN, name });
  await until(
    'the gauge to clear',
    async () => metricValue((await replicas.metrics())[0] ?? '', GAUGE, { kind: 'WorkflowExecution' }) === 0,
    10_000,
  );
  // (Log lines reach the file within a second: leaseguard flushes its log once a second.)
  await until(
    'the all-clear in the log',
    async () => /no WorkflowExecution objects remain in leaseguard's own namespace/.test(await replicas.logs()),
    5000,
  );
  t.pass();
});

// The invariant, watched: a duplicate made behind leaseguard's back (its webhooks
// unregistered) is reported by the leader within seconds (gauge, error log naming the
// objects, a Warning Event on the key's Lease), and clears when one object finishes. An
// annotation a user writes hides nothing from it.
import test from 'ava';
import { leaseName } from '../../src/core/lease-name.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { customObjects, kubectl } from '../harness/integration-env.js';
import { metricValue } from '../harness/metrics.js';
import { workflowExecution } from '../harness/objects.js';
import { annotated } from '../support/policy-webhook.js';
import { LEASE_ANNOTATION, LOCK_KEY_ANNOTATION } from '../../src/core/stamps.js';
import { fastReplicasFor } from '../harness/replicas.js';
import { until } from '../harness/wait.js';

const SCOPE = 'monitor';
const NS = 'monitor-prod';
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', namespace: NS, plural: 'workflowexecutions' };

const replicas = fastReplicasFor(test, { scope: SCOPE, ns: NS, count: 2 });

interface EventItem {
  reason: string;
  type: string;
  message: string;
  count: number;
  involvedObject: { kind: string; name: string; namespace: string };
  source?: { component?: string };
}

async function events(reason: string): Promise<EventItem[]> {
  const r = await kubectl([
    'get',
    'events',
    '-n',
    replicas().leaseNamespace,
    '--field-selector',
    `reason=${reason}`,
    '-o',
    'json',
  ]);
  return (JSON.parse(r.stdout || '{"items":[]}') as { items: EventItem[] }).items;
}

test.serial(
  'a duplicate made with leaseguard unregistered is reported at once on the gauge, in the log and as an Event, and clears',
  async (t) => {
    const leader = await replicas().leader();
    const gauge = async () =>
      metricValue((await replicas().metrics())[leader] ?? '', 'leaseguard_duplicate_keys', {
        kind: 'WorkflowExecution',
      });
    t.is(await gauge(), 0, 'healthy: 0');

    const target = `${NS}/Deployment/bypassed`;
    await replicas().unregister();
    t.teardown(() => replicas().register());
    const api = customObjects('controller');
    await api.createNamespacedCustomObject({ ...GROUP, body: workflowExecution(NS, 'we-dup-1', target) });
    await api.createNamespacedCustomObject({ ...GROUP, body: workflowExecution(NS, 'we-dup-2', target) });
    const madeAt = performance.now();
    await until('the gauge to show the duplicate', async () => (await gauge()) === 1, 10_000);
    t.log(`reported ${(performance.now() - madeAt).toFixed(0)} ms after the second create`);
    t.true(performance.now() - madeAt < 5_000, 'within seconds');

    const logs = await until(
      'the error log',
      async () => {
        const text = await replicas().logs();
        return text.split('\n').find((l) => l.includes('"msg":"duplicate lock key:'));
      },
      5_000,
    );
    const entry = JSON.parse(logs) as { level: number; key: string; objects: string[]; lease: string };
    t.is(entry.level, 50, 'logged as an error');
    t.is(entry.key, target);
    t.deepEqual([...entry.objects].sort(), [`${NS}/we-dup-1`, `${NS}/we-dup-2`]);

    const warning = await until('the Event', async () => (await events('DuplicateKey'))[0], 10_000);
    t.is(warning.type, 'Warning');
    t.like(warning.involvedObject, {
      kind: 'Lease',
      namespace: replicas().leaseNamespace,
      name: leaseName(DEFAULT_RULES[0]!, target),
    });
    t.regex(warning.message, new RegExp(`${NS}/we-dup-1, ${NS}/we-dup-2`));
    t.is(warning.source?.component, 'leaseguard');

    await api.patchNamespacedCustomObjectStatus({
      ...GROUP,
      name: 'we-dup-2',
      body: [{ op: 'add', path: '/status', value: { phase: 'Failed' } }],
    });
    await until('the gauge to clear', async () => (await gauge()) === 0, 10_000);
    const cleared = await until('the cleared Event', async () => (await events('DuplicateKeyCleared'))[0], 10_000);
    t.is(cleared.type, 'Normal');
    await until(
      'the cleared log line (logs are flushed every second)',
      async () => (await replicas().logs()).includes('"msg":"duplicate lock key cleared'),
      5_000,
    );
    t.is(
      metricValue((await replicas().metrics())[leader] ?? '', 'leaseguard_duplicate_keys_detected_total', {
        kind: 'WorkflowExecution',
      }),
      1,
    );
  },
);

test.serial('a new leader finds a duplicate that exists when it starts (from its first list)', async (t) => {
  const target = `${NS}/Deployment/found-on-start`;
  await replicas().unregister();
  // Registered again below; the teardown covers a create that throws first.
  t.teardown(() => replicas().register());
  const api = customObjects('controller');
  await api.createNamespacedCustomObject({ ...GROUP, body: workflowExecution(NS, 'we-old-1', target) });
  await api.createNamespacedCustomObject({ ...GROUP, body: workflowExecution(NS, 'we-old-2', target) });
  await replicas().register();
  const leader = await replicas().leader();
  await until(
    'the current leader to report it',
    async () =>
      metricValue((await replicas().metrics())[leader] ?? '', 'leaseguard_duplicate_keys', {
        kind: 'WorkflowExecution',
      }) === 1,
    10_000,
  );
  await replicas().kill(leader);
  const next = await until(
    'another leader',
    async () => {
      const pages = await replicas().metrics();
      const i = pages.findIndex((p) => /^leaseguard_leader 1$/m.test(p));
      return i >= 0 ? { i } : undefined;
    },
    20_000,
  );
  await until(
    'the new leader to report it',
    async () =>
      metricValue((await replicas().metrics())[next.i] ?? '', 'leaseguard_duplicate_keys', {
        kind: 'WorkflowExecution',
      }) === 1,
    10_000,
  );
  t.pass();
  await customObjects('controller').deleteNamespacedCustomObject({ ...GROUP, name: 'we-old-2' });
  await until(
    'the gauge to clear after the delete',
    async () =>
      metricValue((await replicas().metrics())[next.i] ?? '', 'leaseguard_duplicate_keys', {
        kind: 'WorkflowExecution',
      }) === 0,
    10_000,
  );
  await replicas().restart(leader);
});

test.serial(
  "a user's stamp naming another installation's Lease hides nothing: only configured installations' stamps count as theirs (none here)",
  async (t) => {
    const target = `${NS}/Deployment/forged-stamp`;
    const forged = {
      [LEASE_ANNOTATION]: `other-installation/${leaseName(DEFAULT_RULES[0]!, target)}`,
      [LOCK_KEY_ANNOTATION]: target,
    };
    await replicas().unregister();
    t.teardown(() => replicas().register());
    const api = customObjects('controller');
    await api.createNamespacedCustomObject({ ...GROUP, body: workflowExecution(NS, 'we-plain', target) });
    await api.createNamespacedCustomObject({
      ...GROUP,
      body: annotated(workflowExecution(NS, 'we-hidden', target), forged),
    });
    await replicas().register();
    const leader = await replicas().leader();
    const gauge = async () =>
      metricValue((await replicas().metrics())[leader] ?? '', 'leaseguard_duplicate_keys', {
        kind: 'WorkflowExecution',
      });
    await until('the duplicate to be reported despite the stamp', async () => (await gauge()) === 1, 10_000);
    const warning = await until(
      'its Event',
      async () => (await events('DuplicateKey')).find((e) => e.message.includes('we-hidden')),
      10_000,
    );
    t.regex(warning.message, new RegExp(`${NS}/we-hidden`));
    await customObjects('controller').deleteNamespacedCustomObject({ ...GROUP, name: 'we-hidden' });
    await until('the gauge to clear', async () => (await gauge()) === 0, 10_000);
  },
);

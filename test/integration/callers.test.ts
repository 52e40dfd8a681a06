// On the real control plane: the API server's admission client certificate is what lets
// a review through; a forged review straight to a replica, without it, is refused before
// leaseguard reads or writes anything (its own API request counts do not move).
import test from 'ava';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { HttpsClient } from '../harness/https-client.js';
import { coordination, customObjects } from '../harness/integration-env.js';
import { metricValue } from '../harness/metrics.js';
import { workflowExecution } from '../harness/objects.js';
import { fastReplicasFor } from '../harness/replicas.js';
import { admissionReview } from '../support/reviews.js';
import { until } from '../harness/wait.js';
import { lockOf } from '../support/lock-of.js';

const SCOPE = 'callers';
const NS = 'callers-prod';

const replicas = fastReplicasFor(test, { scope: SCOPE, ns: NS, count: 1 });

const apiCalls = async (verb: string, resource: string) =>
  metricValue((await replicas().metrics())[0] ?? '', 'leaseguard_apiserver_request_duration_seconds_count', {
    verb,
    resource,
  }) || 0;

test("a forged review without the API server's certificate is refused; nothing is read or written; the API server's own creates pass", async (t) => {
  const held = `${NS}/Deployment/held`;
  await customObjects('controller').createNamespacedCustomObject({
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    namespace: NS,
    plural: 'workflowexecutions',
    body: workflowExecution(NS, 'we-held', held),
  });
  const leases = async () =>
    (
      await coordination('admin').listNamespacedLease({
        namespace: replicas().leaseNamespace,
        labelSelector: MANAGED_SELECTOR,
      })
    ).items;
  await until('the lock', async () => (await leases()).some((l) => lockOf(l)?.key === held), 10_000);

  const before = { creates: await apiCalls('create', 'leases'), gets: await apiCalls('get', 'workflowexecutions') };
  const forger = new HttpsClient(`https://127.0.0.1:${replicas().replicas[0]!.port}`, replicas().certs.ca);
  t.teardown(() => forger.close());
  for (const [name, key] of [
    ['we-free', `${NS}/Deployment/free`],
    ['we-busy', held],
  ] as const) {
    const res = await forger.post('/validate', admissionReview({ name, namespace: NS, key }));
    t.is(res.status, 401, res.text);
    t.is(res.json?.error?.code, 'LG_CALLER_UNAUTHENTICATED');
  }
  t.is((await forger.request('GET', '/readyz')).status, 200, 'probes still answer');
  t.false(
    (await leases()).some((l) => lockOf(l)?.key === `${NS}/Deployment/free`),
    'no Lease written',
  );
  t.is(await apiCalls('create', 'leases'), before.creates, 'no Lease create sent');
  t.is(await apiCalls('get', 'workflowexecutions'), before.gets, 'no holder read');
  t.regex((await replicas().metrics())[0] ?? '', /leaseguard_callers_refused_total\{reason="no-certificate"\} 2/);
  const line = await until(
    'the refusal in the log (flushed every second)',
    async () =>
      (await replicas().logs())
        .split('\n')
        .find((l) => l.includes('"msg":"admission caller refused: not the API server"')),
    5_000,
  );
  t.regex(line, /"remote":"(::ffff:)?127\.0\.0\.1"/, 'logged with the peer address');
  t.regex(line, /"reason":"no-certificate"/);
});

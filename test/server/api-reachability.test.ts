// Readiness follows the API server's reachability through the HTTPS app: an admission
// refused because the API server could not be reached takes /readyz down at once and
// closes its connection; the next probe that reaches the API server brings it back.
import test from 'ava';
import { ErrorCodes, LeaseguardError } from '../../src/errors.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { faultyStore } from '../support/faulty-store.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer } from '../support/webhook-server.js';
import { until } from '../harness/wait.js';

test('a 503 for an unreachable API server fails /readyz at once and closes the connection; a probe that reaches it restores both', async (t) => {
  // Every store call fails as an unreachable API server does (the faulty store's 500).
  const store = faultyStore(new MemoryLeaseStore('leaseguard-system'), ['500'], 1);
  let reachable = true;
  const s = await startTestServer({
    store,
    apiProbe: {
      probe: () =>
        reachable
          ? Promise.resolve()
          : Promise.reject(new LeaseguardError(ErrorCodes.STORE_UNAVAILABLE, 'probe failed')),
      // Slow enough that the admission, not a probe, is what fails readiness here.
      intervalMs: 400,
      failureThreshold: 5,
    },
  });
  t.teardown(() => s.close());
  await until('the first probe', async () => (await s.client.request('GET', '/readyz')).status === 200, 5000);
  const ready = await s.client.request('GET', '/readyz');
  t.is(ready.headers.connection, 'keep-alive');
  reachable = false;
  const denied = await s.client.post('/validate', admissionReview({ key: 'prod/Deployment/api' }));
  t.is(denied.json.response.status.code, 503);
  t.is(denied.headers.connection, 'close', 'the caller is asked to reconnect (to a ready replica)');
  const down = await s.client.request('GET', '/readyz');
  t.is(down.status, 503);
  t.false(down.json.checks.apiserver.ok);
  t.regex(
    down.json.checks.apiserver.message,
    /an admission could not reach the API server: .*etcdserver: request timed out/,
  );
  reachable = true;
  await until(
    'a probe to restore readiness',
    async () => (await s.client.request('GET', '/readyz')).status === 200,
    3000,
  );
  const passed = await s.client.post('/validate', admissionReview({ kind: 'Other', key: 'x' }));
  t.is(passed.headers.connection, 'keep-alive', 'a ready replica keeps connections');
});

test('a 403 (a refusal, not an outage) leaves /readyz passing', async (t) => {
  const store = faultyStore(new MemoryLeaseStore('leaseguard-system'), ['403'], 1);
  const s = await startTestServer({
    store,
    apiProbe: { probe: () => Promise.resolve(), intervalMs: 200, failureThreshold: 2 },
  });
  t.teardown(() => s.close());
  await until('the first probe', async () => (await s.client.request('GET', '/readyz')).status === 200, 5000);
  const denied = await s.client.post('/validate', admissionReview({ key: 'prod/Deployment/api' }));
  t.is(denied.json.response.status.code, 503);
  t.is((await s.client.request('GET', '/readyz')).status, 200);
});

test('with the embedded store (no API server to reach) the condition always holds', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  const ready = await s.client.request('GET', '/readyz');
  t.is(ready.status, 200);
  t.deepEqual(ready.json.checks.apiserver, {
    ok: true,
    critical: true,
    message: 'embedded store: no API server to reach',
  });
  t.is((await s.lg.metrics.apiServerReachable.get()).values[0]?.value, 1);
});

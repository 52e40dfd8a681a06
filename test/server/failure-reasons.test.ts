// Distinct failures get distinct labels: a bug in leaseguard is `denied-internal` (never
// `denied-unavailable`, never admitted under failOpen), and the API server refusing the
// Lease leaseguard wrote is `lease-rejected`, not the `invalid` of an object's bad key.
import test from 'ava';
import { ErrorCodes, LeaseguardError } from '../../src/errors.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { delegatingStore } from '../support/delegating-store.js';
import { metricValue } from '../harness/metrics.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer } from '../support/webhook-server.js';

async function serverWhoseCreate(fails: () => Error, failOpen = false) {
  const store = delegatingStore(new MemoryLeaseStore('leaseguard-system'), {
    create: async () => Promise.reject(fails()),
  });
  return startTestServer({ store, failOpen });
}

const KIND = { kind: 'WorkflowExecution' };

for (const failOpen of [false, true]) {
  test(`a bug deciding a lock is denied-internal (500), counted as internal${failOpen ? ', even with failOpen' : ''}`, async (t) => {
    const s = await serverWhoseCreate(() => new TypeError('cannot read properties of undefined'), failOpen);
    t.teardown(() => s.close());
    const res = await s.client.post('/validate', admissionReview({ key: 'prod/Deployment/bug', name: 'we-bug' }));
    const r = res.json.response;
    t.false(r.allowed);
    t.is(r.status.code, 500);
    t.is(r.auditAnnotations.decision, 'denied-internal');
    t.regex(r.auditAnnotations.error, /TypeError: cannot read properties of undefined/);
    const text = await s.lg.metrics.registry.metrics();
    t.is(metricValue(text, 'leaseguard_admission_requests_total', { ...KIND, decision: 'denied-internal' }), 1);
    t.is(metricValue(text, 'leaseguard_admission_requests_total', { ...KIND, decision: 'denied-unavailable' }) || 0, 0);
    t.is(metricValue(text, 'leaseguard_lock_failures_total', { ...KIND, reason: 'internal' }), 1);
    t.true(
      s.logs.some((l) => l.includes('"decision":"denied-internal"') && l.includes('"level":40')),
      'logged at warn with its decision',
    );
  });
}

test('the API server refusing the Lease is lease-rejected (503); an invalid key stays invalid', async (t) => {
  const s = await serverWhoseCreate(
    () => new LeaseguardError(ErrorCodes.STORE_INVALID, 'Lease.coordination.k8s.io "x" is invalid'),
  );
  t.teardown(() => s.close());
  const rejected = (
    await s.client.post('/validate', admissionReview({ key: 'prod/Deployment/rejected', name: 'we-r' }))
  ).json.response;
  t.false(rejected.allowed);
  t.is(rejected.status.code, 503);
  t.is(rejected.auditAnnotations.decision, 'denied-unavailable');
  t.is(rejected.auditAnnotations.error, ErrorCodes.STORE_INVALID);
  const invalid = (await s.client.post('/validate', admissionReview({ key: '', name: 'we-i' }))).json.response;
  t.is(invalid.status.code, 422);
  const text = await s.lg.metrics.registry.metrics();
  t.is(metricValue(text, 'leaseguard_lock_failures_total', { ...KIND, reason: 'lease-rejected' }), 1);
  t.is(metricValue(text, 'leaseguard_lock_failures_total', { ...KIND, reason: 'invalid' }), 1);
});

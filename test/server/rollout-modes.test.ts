// Rollout modes per rule: warn admits what enforce would refuse (with a warning, an audit
// annotation and a metric) and still takes free locks; dryrun decides and writes nothing;
// a switch from warn to enforce keeps the locks taken meanwhile.
import test from 'ava';
import { DEFAULT_RULES, type RuleMode } from '../../src/core/rules.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { admissionReview } from '../support/reviews.js';
import { metricValue } from '../harness/metrics.js';
import { startTestServer, type TestServer } from '../support/webhook-server.js';

const withMode = (mode: RuleMode) => [{ ...DEFAULT_RULES[0]!, mode }, DEFAULT_RULES[1]!];
const decisions = async (s: TestServer, decision: string) =>
  metricValue(await s.lg.metrics.registry.metrics(), 'leaseguard_admission_requests_total', { decision });

test('warn: a free key is locked as in enforce; the duplicate is admitted with a warning, an audit annotation and a metric', async (t) => {
  const store = new MemoryLeaseStore('leaseguard-system');
  const s = await startTestServer({ store, rules: withMode('warn') });
  t.teardown(() => s.close());
  const first = await s.client.post('/validate', admissionReview({ key: 'warn/Deployment/api', name: 'we-1' }));
  t.true(first.json.response.allowed);
  t.is(first.json.response.warnings, undefined);
  t.is((await store.list('')).length, 1, 'the free key was locked');
  const dup = await s.client.post('/validate', admissionReview({ key: 'warn/Deployment/api', name: 'we-2' }));
  t.true(dup.json.response.allowed, 'admitted in warn mode');
  t.regex(
    dup.json.response.warnings[0],
    /^leaseguard \(warn mode for WorkflowExecution\): enforce would refuse this: target "warn\/Deployment\/api" is busy: held by workflowexecution prod\/we-1/,
  );
  t.is(dup.json.response.auditAnnotations.decision, 'warned-busy');
  t.is(dup.json.response.auditAnnotations.holder, 'prod/we-1');
  t.is(await decisions(s, 'warned-busy'), 1);
  // A key change that enforce refuses is admitted too, with its warning.
  const update = await s.client.post(
    '/validate',
    admissionReview({ operation: 'UPDATE', key: 'warn/Deployment/other', oldKey: 'warn/Deployment/api' }),
  );
  t.true(update.json.response.allowed);
  t.regex(update.json.response.warnings[0], /spec\.targetResource is immutable/);
  // Other rules stay enforced.
  await s.client.post('/validate', admissionReview({ kind: 'RemediationRequest', key: 'f'.repeat(64), name: 'rr-1' }));
  const rr = await s.client.post(
    '/validate',
    admissionReview({ kind: 'RemediationRequest', key: 'f'.repeat(64), name: 'rr-2' }),
  );
  t.false(rr.json.response.allowed);
});

test('dryrun: every create is admitted and no Lease is written; the would-be refusal is a warning', async (t) => {
  const store = new MemoryLeaseStore('leaseguard-system');
  // A lock taken while the rule was enforced: dryrun reports what enforce would do about it.
  const enforced = await startTestServer({ store });
  t.teardown(() => enforced.close());
  await enforced.client.post('/validate', admissionReview({ key: 'dry/Deployment/held', name: 'we-held' }));
  await enforced.close();
  const s = await startTestServer({ store, rules: withMode('dryrun') });
  t.teardown(() => s.close());
  const free = await s.client.post('/validate', admissionReview({ key: 'dry/Deployment/free', name: 'we-a' }));
  t.true(free.json.response.allowed);
  t.is(free.json.response.warnings, undefined);
  const again = await s.client.post('/validate', admissionReview({ key: 'dry/Deployment/free', name: 'we-b' }));
  t.true(again.json.response.allowed);
  t.is(again.json.response.warnings, undefined, 'nothing was taken, so nothing is busy');
  const held = await s.client.post('/validate', admissionReview({ key: 'dry/Deployment/held', name: 'we-c' }));
  t.true(held.json.response.allowed);
  t.regex(held.json.response.warnings[0], /dryrun mode .* is busy: held by workflowexecution prod\/we-held/);
  t.deepEqual(
    (await store.list('')).map((l) => l.metadata?.name).length,
    1,
    'only the lock taken under enforce exists',
  );
  t.is(await decisions(s, 'warned-busy'), 1);
});

test('warn to enforce: the locks taken in warn mode hold when the rule is enforced', async (t) => {
  const store = new MemoryLeaseStore('leaseguard-system');
  const warn = await startTestServer({ store, rules: withMode('warn') });
  t.teardown(() => warn.close());
  await warn.client.post('/validate', admissionReview({ key: 'switch/Deployment/api', name: 'we-1' }));
  await warn.close();
  const enforce = await startTestServer({ store, rules: withMode('enforce') });
  t.teardown(() => enforce.close());
  const dup = await enforce.client.post('/validate', admissionReview({ key: 'switch/Deployment/api', name: 'we-2' }));
  t.false(dup.json.response.allowed);
  t.is(dup.json.response.status.code, 409);
  t.is(dup.json.response.warnings, undefined);
});

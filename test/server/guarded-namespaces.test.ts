// Keys only from where they belong: a guarded kind may be created, or given a key, only in
// the namespaces its rule allows; elsewhere leaseguard refuses before any Lease is read or
// written. Updates that take no lock pass, so objects made before the restriction finish.
import test from 'ava';
import { DEFAULT_RULES, type GuardRule } from '../../src/core/rules.js';
import { MemoryLeaseStore } from '../../src/store/memory-lease-store.js';
import { metricValue } from '../harness/metrics.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer } from '../support/webhook-server.js';

const only = (namespaces: string[], over: Partial<GuardRule> = {}): GuardRule[] =>
  DEFAULT_RULES.map((r) => ({ ...r, namespaces, ...over }));

test('outside the allowed namespaces: 403 naming where it may go, no Lease touched; inside: locked as ever', async (t) => {
  const store = new MemoryLeaseStore('leaseguard-system');
  const s = await startTestServer({ store, rules: only(['kubernaut-system']) });
  t.teardown(() => s.close());
  const cases: Array<{ what: string; review: object; allowed: boolean; decision: string }> = [
    {
      what: 'create elsewhere',
      review: admissionReview({ namespace: 'tenant-a', key: 'prod/Deployment/api', name: 'we-x' }),
      allowed: false,
      decision: 'denied-namespace',
    },
    {
      what: 'dry run elsewhere',
      review: admissionReview({ namespace: 'tenant-a', key: 'prod/Deployment/api', dryRun: true }),
      allowed: false,
      decision: 'denied-namespace',
    },
    {
      what: 'keyless object given a key elsewhere',
      review: admissionReview({
        namespace: 'tenant-a',
        operation: 'UPDATE',
        oldKey: undefined,
        key: 'prod/Deployment/api',
      }),
      allowed: false,
      decision: 'denied-namespace',
    },
    {
      what: 'status update elsewhere (no lock)',
      review: admissionReview({ namespace: 'tenant-a', operation: 'UPDATE' }),
      allowed: true,
      decision: 'passed',
    },
    {
      what: 'delete elsewhere',
      review: admissionReview({ namespace: 'tenant-a', operation: 'DELETE' }),
      allowed: true,
      decision: 'passed',
    },
    {
      what: 'create in kubernaut-system',
      review: admissionReview({ namespace: 'kubernaut-system', key: 'prod/Deployment/api', name: 'we-1' }),
      allowed: true,
      decision: 'allowed',
    },
  ];
  for (const c of cases) {
    const before = (await store.list('')).length;
    const r = await s.client.post('/validate', c.review);
    t.is(r.json.response.allowed, c.allowed, c.what);
    t.is(r.json.response.auditAnnotations?.decision ?? (c.allowed ? c.decision : undefined), c.decision, c.what);
    if (!c.allowed) {
      const status = r.json.response.status;
      t.is(status.code, 403, c.what);
      t.is(status.reason, 'Forbidden', c.what);
      t.regex(
        status.message,
        /leaseguard refuses WorkflowExecution in namespace tenant-a: it may be created only in kubernaut-system/,
        c.what,
      );
      t.deepEqual(
        status.details.causes.map((x: { field: string }) => x.field),
        ['metadata.namespace'],
        c.what,
      );
      t.is((await store.list('')).length, before, `${c.what}: no Lease written`);
    }
  }
  t.is((await store.list('')).length, 1, 'only the create in kubernaut-system took a lock');
  const page = await s.lg.metrics.registry.metrics();
  t.is(metricValue(page, 'leaseguard_admission_requests_total', { decision: 'denied-namespace' }), 3);
  t.is(metricValue(page, 'leaseguard_namespaces_unrestricted', { kind: 'WorkflowExecution' }), 0);
});

test('* opens every namespace, and says so (gauge 1, a warning at start); warn mode admits with a warning', async (t) => {
  const open = await startTestServer({ rules: only(['*']) });
  t.teardown(() => open.close());
  const r = await open.client.post('/validate', admissionReview({ namespace: 'tenant-a', key: 'open/Deployment/api' }));
  t.true(r.json.response.allowed);
  t.is(
    metricValue(await open.lg.metrics.registry.metrics(), 'leaseguard_namespaces_unrestricted', {
      kind: 'WorkflowExecution',
    }),
    1,
  );
  t.true(
    open.logs.some((l) => /WorkflowExecution may be created in every namespace/.test(l) && /"level":40/.test(l)),
    'a warning at start',
  );
  const warn = await startTestServer({ rules: only(['kubernaut-system'], { mode: 'warn' }) });
  t.teardown(() => warn.close());
  const w = await warn.client.post('/validate', admissionReview({ namespace: 'tenant-a', key: 'warn/Deployment/api' }));
  t.true(w.json.response.allowed);
  t.regex(
    w.json.response.warnings[0],
    /enforce would refuse this: leaseguard refuses WorkflowExecution in namespace tenant-a/,
  );
  t.is(w.json.response.auditAnnotations.decision, 'warned-namespace');
});

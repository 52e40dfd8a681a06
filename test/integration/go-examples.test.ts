// The Go client examples (examples/go) against the real API server with leaseguard
// replicas in front: storms of Gateway processes on one fingerprint leave one
// RemediationRequest counting every alert; Orchestrator processes over several targets
// leave one WorkflowExecution per target and requeue the rest as each denial says. The
// examples read the denial strictly, so these tests fail when it loses a field they use.
import test from 'ava';
import { controlPlane, customObjects } from '../harness/integration-env.js';
import { buildGoExamples, goTestExamples, runExample, type ExampleRun } from '../support/go-examples.js';
import { fingerprint } from '../harness/objects.js';
import { DELAY_ANNOTATION, startPolicyWebhook, type PolicyWebhook } from '../support/policy-webhook.js';
import { FAST, FAST_RELEASE_ENV, ReplicaSet, SCOPE_LABEL, scopedNamespace } from '../harness/replicas.js';
import { sleep } from '../harness/wait.js';

const SCOPE = 'go-examples';
const NS = 'goex-prod';
let replicas: ReplicaSet;
let policy: PolicyWebhook;
let bins: { gateway: string; orchestrator: string };

test.before(async (t) => {
  t.timeout(15 * 60_000, 'building the Go examples (client-go) the first time takes minutes');
  bins = await buildGoExamples();
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 3,
    timeoutSeconds: FAST.timeoutSeconds,
    env: FAST_RELEASE_ENV,
  });
  await scopedNamespace(SCOPE, NS);
  // Holds a create carrying the delay annotation after leaseguard admitted it: a pending holder.
  policy = await startPolicyWebhook({
    name: `${SCOPE}-policy`,
    namespaceLabels: { [SCOPE_LABEL]: SCOPE },
    timeoutSeconds: 30,
  });
});
test.after.always(async () => {
  await policy?.stop();
  await replicas?.stop();
});

const kubeconfig = () => controlPlane().kubeconfigs.controller;

interface GatewayReport {
  result: 'created' | 'counted';
  name: string;
  uid: string;
  count: number;
  attempts: number;
  pendingNotFound: number;
}

interface OrchestratorReport {
  created: Record<string, string>;
  requeues: Array<{
    target: string;
    pending: boolean;
    retryAfterSeconds: number;
    delayMs: number;
    waitedMs: number;
  }> | null;
  stillBusy: string[] | null;
}

const failed = (runs: ExampleRun<unknown>[]) =>
  runs.filter((r) => r.code !== 0 || !r.report).map((r) => `exit ${r.code}: ${r.stderr.trim()}`);

async function remediationRequestsFor(fp: string) {
  const list = (await customObjects('admin').listNamespacedCustomObject({
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    plural: 'remediationrequests',
    namespace: NS,
  })) as {
    items: Array<{
      metadata: { name: string; uid: string };
      spec: { signalFingerprint: string };
      status?: { deduplication?: { occurrenceCount?: number } };
    }>;
  };
  return list.items.filter((o) => o.spec.signalFingerprint === fp);
}

async function workflowExecutionsFor(targets: string[]) {
  const list = (await customObjects('admin').listNamespacedCustomObject({
    group: 'kubernaut.ai',
    version: 'v1alpha1',
    plural: 'workflowexecutions',
    namespace: NS,
  })) as {
    items: Array<{ metadata: { name: string }; spec: { targetResource: string } }>;
  };
  return list.items.filter((o) => targets.includes(o.spec.targetResource));
}

test('the denial parser the examples share passes its own Go tests', async (t) => {
  t.regex(await goTestExamples(), /^ok\s+\S+\/denial/m);
});

const gateway = (fp: string, extra: string[] = []) =>
  runExample<GatewayReport>(bins.gateway, [
    '-kubeconfig',
    kubeconfig(),
    '-namespace',
    NS,
    '-fingerprint',
    fp,
    ...extra,
  ]);

test('Gateway storm: 12 concurrent processes, one fingerprint: one RemediationRequest, counted 12 times (1 creation + 11 duplicates)', async (t) => {
  const N = 12;
  const fp = fingerprint('goex-gateway-storm');
  const runs = await Promise.all(Array.from({ length: N }, () => gateway(fp)));
  t.deepEqual(failed(runs), []);
  const reports = runs.map((r) => r.report!);
  const rrs = await remediationRequestsFor(fp);
  t.is(rrs.length, 1, 'exactly one RemediationRequest for the fingerprint');
  const rr = rrs[0]!;
  t.is(reports.filter((r) => r.result === 'created').length, 1);
  t.is(reports.filter((r) => r.result === 'counted').length, N - 1);
  t.is(rr.status?.deduplication?.occurrenceCount, N, 'every alert counted once on the one object');
  for (const r of reports) t.like(r, { name: rr.metadata.name, uid: rr.metadata.uid });
  // Each increment wrote a distinct count: none was lost to a concurrent update.
  t.deepEqual(
    reports.map((r) => r.count).sort((a, b) => a - b),
    Array.from({ length: N }, (_, i) => i + 1),
  );
  t.log(
    `occurrenceCount ${rr.status?.deduplication?.occurrenceCount}; ${reports.filter((r) => r.pendingNotFound > 0).length} duplicates read the holder before it was stored`,
  );
});

test('Gateway, pending holder: duplicates read 404 while the holder is held by a later webhook, wait as the denial says, then count on it', async (t) => {
  const N = 6;
  const fp = fingerprint('goex-gateway-pending');
  const first = gateway(fp, ['-annotation', `${DELAY_ANNOTATION}=4000`]);
  await sleep(1_000);
  const rest = await Promise.all(Array.from({ length: N - 1 }, () => gateway(fp)));
  const runs = [await first, ...rest];
  t.deepEqual(failed(runs), []);
  t.is(runs[0]!.report!.result, 'created');
  for (const r of rest) {
    t.is(r.report!.result, 'counted');
    t.true(r.report!.pendingNotFound > 0, 'it read the pending holder and got 404 before counting');
    t.is(r.report!.attempts, 1, 'no second create: it waited for the holder instead');
  }
  const rrs = await remediationRequestsFor(fp);
  t.is(rrs.length, 1);
  t.is(rrs[0]!.status?.deduplication?.occurrenceCount, N);
});

const orchestrator = (replica: string, targets: string[], extra: string[] = []) =>
  runExample<OrchestratorReport>(bins.orchestrator, [
    '-kubeconfig',
    kubeconfig(),
    '-namespace',
    NS,
    '-replica',
    replica,
    '-targets',
    targets.join(','),
    '-requeue-after',
    '1s',
    '-max-requeues',
    '1',
    '-workers',
    '3',
    ...extra,
  ]);

/** No hot loop: each requeue waited what it asked for (the denial's retryAfterSeconds when pending, else 1 s). */
function assertRequeuesWaited(t: import('ava').ExecutionContext, reports: OrchestratorReport[]) {
  for (const r of reports.flatMap((x) => x.requeues ?? [])) {
    t.is(r.delayMs, r.pending ? r.retryAfterSeconds * 1000 : 1000, JSON.stringify(r));
    t.true(r.waitedMs >= r.delayMs - 20, `waited ${r.waitedMs} ms of ${r.delayMs}`);
  }
}

test('Orchestrator storm: 4 processes over 6 targets: one WorkflowExecution per target, every other attempt requeued', async (t) => {
  const M = 4;
  const targets = Array.from({ length: 6 }, (_, i) => `${NS}/Deployment/storm-${i}`);
  const runs = await Promise.all(Array.from({ length: M }, (_, i) => orchestrator(`s${i}`, targets)));
  t.deepEqual(failed(runs), []);
  const reports = runs.map((r) => r.report!);
  const wes = await workflowExecutionsFor(targets);
  t.deepEqual(
    wes.map((w) => w.spec.targetResource).sort(),
    [...targets].sort(),
    'exactly one WorkflowExecution per target',
  );
  for (const target of targets) {
    const creators = reports.filter((r) => target in r.created);
    t.is(creators.length, 1, `${target} created once`);
    t.is(creators[0]!.created[target], wes.find((w) => w.spec.targetResource === target)?.metadata.name);
    // Each other process was refused, requeued once, refused again (-max-requeues 1).
    const requeuers = reports.filter((r) => (r.requeues ?? []).some((q) => q.target === target));
    t.is(requeuers.length, M - 1, `${target}: requeued by every other process`);
  }
  const requeues = reports.flatMap((r) => r.requeues ?? []);
  t.is(requeues.length, (M - 1) * targets.length);
  assertRequeuesWaited(t, reports);
  t.log(
    `${wes.length} WorkflowExecutions, ${requeues.length} requeues (${requeues.filter((r) => r.pending).length} after a pending holder's retryAfterSeconds)`,
  );
});

test("Orchestrator, pending holders: a requeue waits the denial's retryAfterSeconds, not less", async (t) => {
  const targets = [`${NS}/Deployment/pending-0`, `${NS}/Deployment/pending-1`];
  const first = orchestrator('p0', targets, ['-annotation', `${DELAY_ANNOTATION}=3000`]);
  await sleep(1_000);
  const rest = await Promise.all(['p1', 'p2'].map((r) => orchestrator(r, targets)));
  const runs = [await first, ...rest];
  t.deepEqual(failed(runs), []);
  t.deepEqual(Object.keys(runs[0]!.report!.created).sort(), targets);
  const requeues = rest.flatMap((r) => r.report!.requeues ?? []);
  t.is(requeues.length, 4);
  for (const q of requeues) {
    t.true(q.pending, 'refused while the holder was held by the later webhook');
    t.true(
      q.retryAfterSeconds > 10 && q.retryAfterSeconds <= FAST.pendingSeconds,
      `retryAfterSeconds ${q.retryAfterSeconds}`,
    );
  }
  assertRequeuesWaited(
    t,
    rest.map((r) => r.report!),
  );
  t.is((await workflowExecutionsFor(targets)).length, 2);
});

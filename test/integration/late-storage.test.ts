// Storage can come well after leaseguard's answer: another validating webhook (a policy
// engine) answers late, and the object is stored only then. What bounds that is the API
// server's request timeout (20 s on the test API server), so the pending timeout must
// outlast it: with the short test timings (12 s over 10 s) and with the defaults (90 s
// over 60 s), a competitor inside that time is refused and one object is stored.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { REQUEST_TIMEOUT_SECONDS } from '../harness/control-plane.js';
import { controlPlane, customObjects } from '../harness/integration-env.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import { CLI } from '../harness/paths.js';
import { annotated, DELAY_ANNOTATION, startPolicyWebhook, type PolicyWebhook } from '../support/policy-webhook.js';
import { FAST, FAST_RELEASE_ENV, ReplicaSet, SCOPE_LABEL, scopedNamespace } from '../harness/replicas.js';
import { sleep } from '../harness/wait.js';

const run = promisify(execFile);
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1' };

interface Setup {
  scope: string;
  ns: string;
  replicas: ReplicaSet;
  policy: PolicyWebhook;
}
const setups: Record<'fast' | 'defaults', Setup> = {} as never;

test.before(async () => {
  const start = async (scope: string, env: Record<string, string>, timeoutSeconds: number): Promise<Setup> => {
    const replicas = await ReplicaSet.start({ scope, count: 2, timeoutSeconds, env });
    const ns = `${scope}-prod`;
    await scopedNamespace(scope, ns);
    // Its own timeoutSeconds is 30: only the API server's request timeout caps it.
    const policy = await startPolicyWebhook({
      name: `${scope}-policy`,
      namespaceLabels: { [SCOPE_LABEL]: scope },
      timeoutSeconds: 30,
    });
    return { scope, ns, replicas, policy };
  };
  [setups.fast, setups.defaults] = await Promise.all([
    start('late-fast', FAST_RELEASE_ENV, FAST.timeoutSeconds),
    start('late-defaults', {}, 5),
  ]);
});
test.after.always(async () => {
  for (const s of Object.values(setups)) {
    await s?.policy.stop();
    await s?.replicas.stop();
  }
});

const create = (s: Setup, name: string, target: string, delayMs?: number) =>
  customObjects('controller')
    .createNamespacedCustomObject({
      ...GROUP,
      namespace: s.ns,
      plural: 'workflowexecutions',
      body: delayMs
        ? annotated(workflowExecution(s.ns, name, target), { [DELAY_ANNOTATION]: String(delayMs) })
        : workflowExecution(s.ns, name, target),
    })
    .then(
      () => ({ ok: true as const, at: performance.now() }),
      (err) => ({ ok: false as const, at: performance.now(), err: apiError(err) }),
    );

async function storedFor(s: Setup, target: string): Promise<string[]> {
  const list = (await customObjects('admin').listNamespacedCustomObject({
    ...GROUP,
    namespace: s.ns,
    plural: 'workflowexecutions',
  })) as { items: Array<{ metadata: { name: string }; spec: { targetResource: string } }> };
  return list.items.filter((o) => o.spec.targetResource === target).map((o) => o.metadata.name);
}

for (const which of ['fast', 'defaults'] as const) {
  test(`${which} timings: a create held 9.5 s by another webhook keeps its key; a competitor at +7 s is refused; one object stored`, async (t) => {
    const s = setups[which];
    const target = `${s.ns}/Deployment/late`;
    const started = performance.now();
    const slow = create(s, 'we-slow', target, 9_500);
    await sleep(7_000);
    const competitor = await create(s, 'we-competitor', target);
    t.false(competitor.ok, 'the competitor is refused while the first create waits on the other webhook');
    t.is(competitor.ok ? 0 : competitor.err.code, 409);
    const first = await slow;
    t.true(first.ok, `the slow create is stored (${first.ok ? '' : JSON.stringify(first.err)})`);
    t.log(
      `stored after ${((first.at - started) / 1000).toFixed(1)} s; competitor answered at ${((competitor.at - started) / 1000).toFixed(1)} s`,
    );
    t.deepEqual(await storedFor(s, target), ['we-slow']);
  });
}

test('a create held past the API server request timeout is never stored, and its key frees once the pending timeout has passed', async (t) => {
  const s = setups.fast;
  const target = `${s.ns}/Deployment/cut-off`;
  const started = performance.now();
  const held = await create(s, 'we-cut-off', target, (REQUEST_TIMEOUT_SECONDS + 5) * 1000);
  t.false(held.ok, 'the API server gives up at its request timeout');
  const gaveUp = (held.at - started) / 1000;
  t.log(
    `the API server answered after ${gaveUp.toFixed(1)} s: ${held.ok ? '' : `${held.err.code} ${held.err.message}`}`,
  );
  t.true(gaveUp < REQUEST_TIMEOUT_SECONDS + 2, 'within its request timeout');
  // Retry as a controller would; the pending lock holds until its timeout.
  let admittedAt = 0;
  for (let i = 0; !admittedAt; i++) {
    const r = await create(s, `we-retry-${i}`, target);
    if (r.ok) admittedAt = r.at;
    else t.is(r.err.code, 409);
    if (performance.now() - started > (FAST.pendingSeconds + FAST.sweepSeconds + 6) * 1000)
      return t.fail('the key never freed');
    if (!r.ok) await sleep(500);
  }
  t.true(admittedAt - started >= FAST.pendingSeconds * 1000 - 500, 'not before the pending timeout');
  // The held create's webhook has answered by now; the object it would have made was never stored.
  await sleep(Math.max(0, started + (REQUEST_TIMEOUT_SECONDS + 6) * 1000 - performance.now()));
  const stored = await storedFor(s, target);
  t.is(stored.length, 1);
  t.regex(stored[0] ?? '', /^we-retry-/);
});

test('leaseguard refuses to start with a pending timeout that does not exceed the API server request timeout', async (t) => {
  const env = {
    PATH: process.env.PATH,
    LEASEGUARD_STORE: 'kubernetes',
    LEASEGUARD_KUBECONFIG: controlPlane().kubeconfigs.leaseguard,
    LEASEGUARD_ADMISSION_PORT: '0',
    LEASEGUARD_METRICS_PORT: '0',
    LEASEGUARD_PENDING_TIMEOUT_SECONDS: '6',
    LEASEGUARD_APISERVER_REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_SECONDS),
  };
  const err = await t.throwsAsync(run(process.execPath, [CLI, 'serve'], { env, timeout: 15_000 }));
  const { code, stderr } = err as unknown as { code: number; stderr: string };
  t.is(code, 1);
  t.regex(
    stderr,
    new RegExp(
      `pendingTimeoutSeconds \\(6\\) must exceed apiServerRequestTimeoutSeconds \\(${REQUEST_TIMEOUT_SECONDS}\\)`,
    ),
  );
  t.regex(stderr, /--request-timeout/);
});

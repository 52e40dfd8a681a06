// leaseguard's own namespace is never guarded: guarded objects found there are reported
// (a loud warning naming kind and namespace, and a gauge), and cleared when they go.
import test from 'ava';
import { Registry } from 'prom-client';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { ApiException } from '@kubernetes/client-node';
import { OwnNamespaceCheck } from '../../src/kube/own-namespace-check.js';
import { createMetrics } from '../../src/metrics.js';
import { capturingLogger } from '../support/webhook-server.js';

function setup(answer: (path: string) => unknown) {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const logs: string[] = [];
  const paths: string[] = [];
  const check = new OwnNamespaceCheck({
    clients: {
      json: async (_method, path) => {
        paths.push(path);
        const a = answer(path);
        if (a instanceof Error) throw a;
        return a;
      },
    },
    namespace: 'leaseguard-system',
    rules: DEFAULT_RULES,
    metrics,
    logger: capturingLogger(logs),
    observe: () => {},
    intervalMs: 60_000,
  });
  const gauge = async (kind: string) =>
    (await metrics.guardedObjectsInOwnNamespace.get()).values.find((v) => v.labels.kind === kind)?.value;
  return { check, logs, paths, gauge };
}

test('one list of one object per guarded kind, in its own namespace', async (t) => {
  const { check, paths } = setup(() => ({ items: [] }));
  t.deepEqual(await check.check(), []);
  t.deepEqual(paths.sort(), [
    '/apis/kubernaut.ai/v1alpha1/namespaces/leaseguard-system/remediationrequests?limit=1',
    '/apis/kubernaut.ai/v1alpha1/namespaces/leaseguard-system/workflowexecutions?limit=1',
  ]);
});

test('a guarded object there: a warning naming the kind, the namespace and an example, and the gauge at 1; once, not at every check', async (t) => {
  let items = [{ metadata: { name: 'we-1' } }];
  const { check, logs, gauge } = setup((path) => ({ items: path.includes('workflowexecutions') ? items : [] }));
  t.deepEqual(await check.check(), ['WorkflowExecution']);
  t.is(await gauge('WorkflowExecution'), 1);
  t.is(await gauge('RemediationRequest'), 0);
  const warnings = logs.map((l) => JSON.parse(l)).filter((l) => l.level === 40);
  t.is(warnings.length, 1);
  t.like(warnings[0], { kind: 'WorkflowExecution', namespace: 'leaseguard-system', example: 'leaseguard-system/we-1' });
  t.regex(
    warnings[0].msg,
    /GUARDED OBJECTS IN LEASEGUARD'S OWN NAMESPACE: WorkflowExecution objects exist in leaseguard-system, where leaseguard guards nothing/,
  );
  await check.check();
  t.is(logs.map((l) => JSON.parse(l)).filter((l) => l.level === 40).length, 1, 'said once while it lasts');
  items = [];
  t.deepEqual(await check.check(), []);
  t.is(await gauge('WorkflowExecution'), 0, 'cleared when they are gone');
  t.regex(logs.at(-1) ?? '', /no WorkflowExecution objects remain in leaseguard's own namespace/);
});

test('a kind not served there (404) counts as none; a failed check keeps what was known and says so', async (t) => {
  let fail = false;
  const { check, logs, gauge } = setup((path) => {
    if (path.includes('remediationrequests')) return new ApiException(404, 'not found', '{"reason":"NotFound"}', {});
    return fail
      ? new ApiException(500, 'boom', '{"message":"etcd down"}', {})
      : { items: [{ metadata: { name: 'we-1' } }] };
  });
  t.deepEqual(await check.check(), ['WorkflowExecution']);
  t.is(await gauge('RemediationRequest'), 0);
  fail = true;
  t.deepEqual(await check.check(), ['WorkflowExecution']);
  t.is(await gauge('WorkflowExecution'), 1);
  t.like(JSON.parse(logs.at(-1) ?? '{}'), {
    level: 40,
    kind: 'WorkflowExecution',
    msg: "cannot check leaseguard's own namespace for guarded objects; will try again",
  });
  t.regex(logs.at(-1) ?? '', /etcd down/);
});

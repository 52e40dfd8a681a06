// kube-apiserver killed and restarted mid-run, then etcd: no duplicate, no stuck lock
// after recovery, and the release watches resume.
import test from 'ava';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { controlPlane, coordination, customObjects } from '../harness/integration-env.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import { FAST_RELEASE_ENV, ReplicaSet, scopedNamespace } from '../harness/replicas.js';
import { sleep, until } from '../harness/wait.js';
import { lockOf } from '../support/lock-of.js';

const SCOPE = 'cp-restart';
const NS = 'cpr-prod';
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', namespace: NS, plural: 'workflowexecutions' };
let replicas: ReplicaSet;

test.before(async () => {
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 2,
    timeoutSeconds: 3,
    env: FAST_RELEASE_ENV,
  });
  await scopedNamespace(SCOPE, NS);
});
test.after.always(async () => {
  await replicas?.stop();
});

async function restart(name: 'etcd' | 'kube-apiserver', downMs: number): Promise<void> {
  const url = controlPlane().controlUrl;
  if (!url) throw new Error('run through npm test: the control plane is restarted by the test runner');
  const res = await fetch(`${url}/restart?name=${name}&downMs=${downMs}`, { method: 'POST' });
  if (res.status !== 200) throw new Error(`restart ${name}: ${res.status} ${await res.text()}`);
}

/** Creates for a few hot targets, as fast as they come back, until `stop` is set. */
async function hammer(tag: string, stop: { done: boolean }): Promise<Record<string, number>> {
  const outcomes: Record<string, number> = {};
  let n = 0;
  await Promise.all(
    Array.from({ length: 6 }, async (_, w) => {
      while (!stop.done) {
        const i = n++;
        const code = await customObjects('controller')
          .createNamespacedCustomObject({
            ...GROUP,
            body: workflowExecution(NS, `we-${tag}-${i}`, `${NS}/Deployment/${tag}-${i % 3}`),
          })
          .then(
            () => 201,
            (err) => apiError(err).code || -1,
          );
        outcomes[code] = (outcomes[code] ?? 0) + 1;
        if (code !== 201 && code !== 409) await sleep(100 + w * 10);
      }
    }),
  );
  return outcomes;
}

async function perTarget(prefix: string): Promise<Map<string, Array<{ name: string }>>> {
  const list = (await customObjects('admin').listNamespacedCustomObject(GROUP)) as {
    items: Array<{ metadata: { name: string }; spec: { targetResource: string } }>;
  };
  const m = new Map<string, Array<{ name: string }>>();
  for (const o of list.items)
    if (o.spec.targetResource.includes(`/${prefix}-`))
      m.set(o.spec.targetResource, [...(m.get(o.spec.targetResource) ?? []), { name: o.metadata.name }]);
  return m;
}

for (const [component, downMs] of [
  ['kube-apiserver', 3000],
  ['etcd', 3000],
] as const) {
  test.serial(`${component} killed and restarted mid-run: no duplicate, no stuck lock, watches resume`, async (t) => {
    const tag = component === 'etcd' ? 'etcd' : 'api';
    const stop = { done: false };
    const load = hammer(tag, stop);
    await sleep(1500);
    await restart(component, downMs);
    await sleep(2000);
    stop.done = true;
    const outcomes = await load;
    t.log(`${component} restart: outcomes ${JSON.stringify(outcomes)}`);
    t.true((outcomes[201] ?? 0) > 0);
    // Exactly one live object per target.
    const stored = await perTarget(tag);
    for (const [target, objs] of stored) t.is(objs.length, 1, `${target}: ${objs.map((o) => o.name).join(', ')}`);
    // The release work recovered: finishing each holder frees its Lease, then the target takes a new create.
    for (const [target, objs] of stored) {
      await customObjects('controller').patchNamespacedCustomObjectStatus({
        ...GROUP,
        name: objs[0]!.name,
        body: [{ op: 'add', path: '/status', value: { phase: 'Completed' } }],
      });
      await until(
        `the Lease of ${target} to be released`,
        // The API server may still be settling after its restart: an error is a "not yet".
        () =>
          coordination('admin')
            .listNamespacedLease({ namespace: replicas.leaseNamespace, labelSelector: MANAGED_SELECTOR })
            .then(
              (l) => !l.items.some((x) => lockOf(x)?.key === target),
              () => false,
            ),
        20_000,
      );
      await customObjects('controller').createNamespacedCustomObject({
        ...GROUP,
        body: workflowExecution(NS, `we-${tag}-next-${target.slice(-1)}`, target),
      });
    }
  });
}

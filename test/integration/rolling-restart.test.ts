// A rollout under load: with the shutdown delay, a replica fails /readyz and keeps
// answering (closing each connection after its answer) until endpoints have dropped it,
// so no guarded create fails while the Deployment replaces its Pods one by one.
import test from 'ava';
import { customObjects } from '../support/integration-env.js';
import { apiError, workflowExecution } from '../support/objects.js';
import { ReplicaSet, scopedNamespace } from '../support/replicas.js';

/** Creates with distinct keys from `clients` concurrent clients until `done()`; the failures' messages. */
async function steadyCreates(ns: string, clients: number, done: () => boolean): Promise<{ created: number; failures: string[] }> {
  const api = customObjects('controller');
  let created = 0;
  let seq = 0;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!done()) {
        const n = seq++;
        try {
          await api.createNamespacedCustomObject({ group: 'kubernaut.ai', version: 'v1alpha1', namespace: ns, plural: 'workflowexecutions', body: workflowExecution(ns, `we-${n}`, `${ns}/Deployment/d-${n}`) });
          created++;
        } catch (err) {
          failures.push(apiError(err).message ?? String(err));
        }
      }
    }),
  );
  return { created, failures };
}

test('a rolling restart under a steady create load: no create fails calling the webhook', async (t) => {
  const scope = 'rolling';
  const ns = 'roll-prod';
  const replicas = await ReplicaSet.start({ scope, count: 2, env: { LEASEGUARD_SHUTDOWN_DELAY_SECONDS: '2' } });
  const unfollow = replicas.followReadiness(200);
  try {
    await scopedNamespace(scope, ns);
    let rolling = true;
    const load = steadyCreates(ns, 6, () => !rolling);
    const started = performance.now();
    await replicas.rollingRestart();
    await replicas.rollingRestart();
    rolling = false;
    const { created, failures } = await load;
    t.log(`${created} creates during two rollouts (${((performance.now() - started) / 1000).toFixed(1)} s); failures: ${failures.length}`);
    t.true(created > 50, `the load ran (${created} creates)`);
    t.deepEqual(failures, [], 'every create was answered by a replica');
    const logs = await replicas.logs();
    t.regex(logs, /\/readyz fails; still serving until endpoints drop this replica/);
  } finally {
    unfollow();
    await replicas.stop();
  }
});

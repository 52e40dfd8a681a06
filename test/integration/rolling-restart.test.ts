// A rollout under load: with the shutdown delay, a replica fails /readyz and keeps
// answering (closing each connection after its answer) until endpoints have dropped it,
// so no guarded create fails while the Deployment replaces its Pods one by one.
import test from 'ava';
import { steadyCreates } from '../harness/objects.js';
import { ReplicaSet, scopedNamespace } from '../harness/replicas.js';

test('a rolling restart under a steady create load: no create fails calling the webhook', async (t) => {
  const scope = 'rolling';
  const ns = 'roll-prod';
  const replicas = await ReplicaSet.start({ scope, count: 2, env: { LEASEGUARD_SHUTDOWN_DELAY_SECONDS: '2' } });
  t.teardown(() => replicas.stop());
  const unfollow = replicas.followReadiness(200);
  t.teardown(unfollow);
  await scopedNamespace(scope, ns);
  let rolling = true;
  const load = steadyCreates(ns, 6, () => !rolling);
  const started = performance.now();
  await replicas.rollingRestart();
  await replicas.rollingRestart();
  rolling = false;
  const { created, failures } = await load;
  t.log(
    `${created} creates during two rollouts (${((performance.now() - started) / 1000).toFixed(1)} s); failures: ${failures.length}`,
  );
  t.true(created > 50, `the load ran (${created} creates)`);
  t.deepEqual(failures, [], 'every create was answered by a replica');
  const logs = await replicas.logs();
  t.regex(logs, /\/readyz fails; still serving until endpoints drop this replica/);
});

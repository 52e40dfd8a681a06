// One of three replicas cut off from the API server (its connections stay open, nothing
// flows), under a steady create load through the real API server, with routing that
// follows /readyz as endpoints do: the cut-off replica fails its readiness within a few
// seconds, so it costs no refused create once it is out, and it is ready again soon after
// it is reconnected.
import test from 'ava';
import { customObjects } from '../harness/integration-env.js';
import { apiServerBehindProxy, type FaultProxy } from '../support/fault-proxy.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import { FAST_RELEASE_ENV, ReplicaSet, scopedNamespace } from '../harness/replicas.js';
import { metricValue } from '../harness/metrics.js';
import { sleep } from '../harness/wait.js';

const SCOPE = 'cutoff';
const NS = 'cut-prod';
const TIMEOUT_S = 3;
const DEADLINE_MS = 2400; // the default for timeoutSeconds 3
const CUT = 2; // the replica whose API server connection goes through the fault proxy
const ROUTING_MS = 200; // how often the router reads /readyz (endpoints follow readiness)
let proxy: FaultProxy;
let replicas: ReplicaSet;

test.before(async () => {
  const behind = await apiServerBehindProxy('kubeconfig-leaseguard-cutoff.json');
  proxy = behind.proxy;
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 3,
    timeoutSeconds: TIMEOUT_S,
    env: FAST_RELEASE_ENV,
    replicaEnv: (i): Record<string, string> => (i === CUT ? { LEASEGUARD_KUBECONFIG: behind.kubeconfig } : {}),
  });
  await scopedNamespace(SCOPE, NS);
});
test.after.always(async () => {
  proxy?.set({ kind: 'pass' });
  await replicas?.stop();
  await proxy?.close();
});

/** Polls replica i's /readyz until it answers `ready`; the time that took, in ms. */
async function readyBecomes(i: number, ready: boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if ((await replicas.ready(replicas.replicas[i]!)) === ready) return performance.now() - started;
    await sleep(50);
  }
  return Infinity;
}

test.serial(
  'a replica cut off from the API server leaves readiness within seconds, costs no refused create once out, and returns when reconnected',
  async (t) => {
    const stopRouting = replicas.followReadiness(ROUTING_MS);
    const outcomes: Array<{ at: number; code: number; message: string }> = [];
    const inflight: Array<Promise<void>> = [];
    let n = 0;
    let loading = true;
    const t0 = performance.now();
    const create = (i: number) => {
      const at = performance.now() - t0;
      const body = workflowExecution(NS, `we-${i}`, `${NS}/Deployment/k${i}`);
      return customObjects('controller')
        .createNamespacedCustomObject({
          group: 'kubernaut.ai',
          version: 'v1alpha1',
          namespace: NS,
          plural: 'workflowexecutions',
          body,
        })
        .then(
          () => void outcomes.push({ at, code: 201, message: '' }),
          (err) => {
            const e = apiError(err);
            outcomes.push({ at, code: e.code, message: e.message ?? '' });
          },
        );
    };
    // Three creates at once every second, each for a new key (every one should be
    // admitted): the API server keeps several connections, so every replica gets calls.
    const load = (async () => {
      while (loading) {
        for (let k = 0; k < 3; k++) inflight.push(create(n++));
        await sleep(1000);
      }
    })();
    t.teardown(() => {
      loading = false;
      stopRouting();
      proxy.set({ kind: 'pass' });
    });
    await sleep(3000);
    t.true(await replicas.ready(replicas.replicas[CUT]!), 'ready before the cut');
    const cutAt = performance.now() - t0;
    proxy.set({ kind: 'blackhole' });
    const leftMs = await readyBecomes(CUT, false, 15_000);
    const outAt = cutAt + leftMs + ROUTING_MS;
    t.log(`cut off at ${(cutAt / 1000).toFixed(1)} s: /readyz failed ${(leftMs / 1000).toFixed(2)} s later`);
    t.true(leftMs < 5000, `readiness failed within 5 s of the cut (took ${leftMs.toFixed(0)} ms)`);
    const ready = await replicas.ready(replicas.replicas[CUT]!);
    t.false(ready, 'and stays failed while cut off');
    const page = await fetch(`http://127.0.0.1:${replicas.replicas[CUT]!.metricsPort}/metrics`).then((r) => r.text());
    t.is(metricValue(page, 'leaseguard_apiserver_reachable'), 0);
    await sleep(20_000);
    for (const i of [0, 1])
      t.true(await replicas.ready(replicas.replicas[i]!), `replica ${i}, which reaches the API server, stayed ready`);
    t.false(await replicas.ready(replicas.replicas[CUT]!), 'the cut-off replica stayed out for the whole cut');

    proxy.set({ kind: 'pass' });
    const backMs = await readyBecomes(CUT, true, 15_000);
    t.log(`reconnected: /readyz passed ${(backMs / 1000).toFixed(2)} s later`);
    t.true(backMs < 5000, `ready again within 5 s of reconnecting (took ${backMs.toFixed(0)} ms)`);
    const again = await fetch(`http://127.0.0.1:${replicas.replicas[CUT]!.metricsPort}/metrics`).then((r) => r.text());
    t.is(metricValue(again, 'leaseguard_apiserver_reachable'), 1);
    await sleep(3000);
    loading = false;
    await load;
    await Promise.all(inflight);

    // Once out of the routing, a call can still reach it on a connection opened before:
    // one busy then (answered at the deadline, and closed), or one idle (closed at the
    // next failed check, a second at most). After that, nothing reaches it.
    const graceMs = DEADLINE_MS + 1000 + 1000;
    const refused = outcomes.filter((o) => o.code !== 201);
    const late = refused.filter((o) => o.at > outAt + graceMs);
    const byCode = outcomes.reduce<Record<number, number>>((a, o) => ((a[o.code] = (a[o.code] ?? 0) + 1), a), {});
    t.log(
      `${outcomes.length} creates: ${JSON.stringify(byCode)}; refused at ${refused.map((o) => `${(o.at / 1000).toFixed(1)}s`).join(', ') || 'none'}; ` +
        `out of the routing at ${(outAt / 1000).toFixed(1)} s`,
    );
    for (const o of refused) t.is(o.code, 503, `a refusal other than leaseguard's own 503: ${o.code} ${o.message}`);
    t.deepEqual(late, [], `refused creates more than ${graceMs} ms after the replica left the routing`);
  },
);

// Faults between leaseguard and the API server, injected by a TCP proxy of our own:
// every admission answers correctly or fails closed within the deadline, no duplicate is
// ever admitted, and service resumes when the fault clears, with no restart.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { Annotations, MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { controlPlane, coordination, customObjects } from '../support/integration-env.js';
import { FaultProxy, type Fault } from '../support/fault-proxy.js';
import { apiError, workflowExecution } from '../support/objects.js';
import { FAST, FAST_RELEASE_ENV, ReplicaSet, scopedNamespace } from '../support/replicas.js';
import { admissionReview } from '../support/reviews.js';
import { sleep } from '../support/wait.js';

const SCOPE = 'faults';
const NS = 'flt-prod';
const TIMEOUT_S = 3;
const DEADLINE_MS = 2400; // the default: timeoutSeconds − 0.6 s
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', namespace: NS, plural: 'workflowexecutions' };
let proxy: FaultProxy;
let replicas: ReplicaSet;

test.before(async () => {
  const cp = controlPlane();
  proxy = await FaultProxy.start(Number(new URL(cp.server).port));
  const kc = JSON.parse(await readFile(cp.kubeconfigs.leaseguard, 'utf8'));
  kc.clusters[0].cluster.server = `https://127.0.0.1:${proxy.port}`;
  const kubeconfig = join(cp.dir, 'kubeconfig-leaseguard-via-proxy.json');
  await writeFile(kubeconfig, JSON.stringify(kc), { mode: 0o600 });
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 2,
    kubeconfig,
    timeoutSeconds: TIMEOUT_S,
    env: FAST_RELEASE_ENV,
  });
  await scopedNamespace(SCOPE, NS);
});
test.after.always(async () => {
  proxy?.set({ kind: 'pass' });
  await replicas?.stop();
  await proxy?.close();
});

const create = (name: string, target: string) => customObjects('controller').createNamespacedCustomObject({ ...GROUP, body: workflowExecution(NS, name, target) });

async function storedPerTarget(): Promise<Map<string, number>> {
  const list = (await customObjects('admin').listNamespacedCustomObject(GROUP)) as { items: Array<{ spec: { targetResource: string } }> };
  const m = new Map<string, number>();
  for (const o of list.items) m.set(o.spec.targetResource, (m.get(o.spec.targetResource) ?? 0) + 1);
  return m;
}

const faults: Array<[string, Fault]> = [
  ['200 ms of added latency', { kind: 'latency', ms: 200 }],
  ['responses slowed to just past the deadline', { kind: 'latency', ms: DEADLINE_MS - 300, direction: 'responses' }],
  ['dropped connections', { kind: 'drop' }],
  ['black-holed traffic', { kind: 'blackhole' }],
];

for (const [i, [name, fault]] of faults.entries()) {
  test.serial(`fault: ${name} — correct answers or 503 within the deadline, no duplicate, recovery without restart`, async (t) => {
    proxy.set(fault);
    const keys = [0, 1, 2].map((k) => `${NS}/Deployment/f${i}-k${k}`);
    const outcomes = await Promise.all(
      Array.from({ length: 24 }, async (_, n) => {
        const started = performance.now();
        try {
          await create(`we-f${i}-${n}`, keys[n % 3] as string);
          return { code: 201, ms: performance.now() - started, message: '' };
        } catch (err) {
          const e = apiError(err);
          return { code: e.code, ms: performance.now() - started, message: e.message ?? '' };
        }
      }),
    );
    const codes = outcomes.reduce<Record<number, number>>((a, o) => ((a[o.code] = (a[o.code] ?? 0) + 1), a), {});
    t.log(`${name}: ${JSON.stringify(codes)}, slowest ${Math.max(...outcomes.map((o) => o.ms)).toFixed(0)} ms`);
    for (const o of outcomes) {
      t.true([201, 409, 503].includes(o.code), `unexpected ${o.code}: ${o.message}`);
      if (o.code === 503) t.regex(o.message, /could not verify the lock for target "flt-prod\/Deployment\/f\d-k\d": .*leaseguard fails closed/);
      // leaseguard answered before the API server's webhook timeout would have fired.
      t.true(o.ms < TIMEOUT_S * 1000 + 1500, `answered after ${o.ms.toFixed(0)} ms`);
    }
    const stored = await storedPerTarget();
    for (const k of keys) t.true((stored.get(k) ?? 0) <= 1, `duplicates for ${k}`);
    if (fault.kind !== 'latency' || fault.ms >= DEADLINE_MS - 300) t.true((codes[503] ?? 0) > 0, 'the fault surfaced as 503s');

    proxy.set({ kind: 'pass' });
    const fresh = `${NS}/Deployment/f${i}-after`;
    let recovered = false;
    for (let attempt = 0; attempt < 20 && !recovered; attempt++) {
      recovered = await create(`we-f${i}-after-${attempt}`, fresh).then(() => true, (err) => (apiError(err).code === 409 ? true : (sleep(250), false)));
    }
    t.true(recovered, 'service resumed once the fault cleared');
  });
}

test.serial('a replica killed between taking a Lease and answering: the pending Lease is reclaimed within the pending timeout', async (t) => {
  // Hold the API server's answers so the Lease is written but the webhook cannot reply yet.
  const target = `${NS}/Deployment/killed`;
  const review = admissionReview({ key: target, name: 'we-killed', namespace: NS });
  const client = await replicas.asApiServer(0);
  proxy.set({ kind: 'latency', ms: 1000, direction: 'responses' });
  const reply = client.post('/validate', review).then((r) => r.status, () => -1);
  const leases = async () =>
    (await coordination('admin').listNamespacedLease({ namespace: replicas.leaseNamespace, labelSelector: MANAGED_SELECTOR })).items.filter((l) => l.metadata?.annotations?.[Annotations.key] === target);
  const deadline = Date.now() + 5000;
  while ((await leases()).length === 0 && Date.now() < deadline) await sleep(50);
  t.is((await leases()).length, 1, 'the Lease was written');
  const killedAt = performance.now();
  await replicas.kill(0);
  t.is(await reply, -1, 'the webhook never answered');
  client.close();
  proxy.set({ kind: 'pass' });
  const held = await create('we-other', target).then(() => 201, (err) => apiError(err).code);
  t.is(held, 409, 'the orphaned pending Lease blocks the key at first');
  const PENDING_MS = FAST.pendingSeconds * 1000;
  while ((await leases()).length > 0 && performance.now() - killedAt < PENDING_MS + 10_000) await sleep(200);
  const reclaimed = performance.now() - killedAt;
  t.log(`pending Lease reclaimed ${reclaimed.toFixed(0)} ms after the kill (pending timeout ${FAST.pendingSeconds} s, sweep every ${FAST.sweepSeconds} s)`);
  // The leader first saw the Lease at a sweep after it was written, and reclaims one pending timeout after that.
  t.true(reclaimed >= PENDING_MS - 1500, `not before the pending timeout (${reclaimed.toFixed(0)} ms)`);
  t.true(reclaimed < PENDING_MS + (FAST.sweepSeconds + 3) * 1000, `reclaimed after ${reclaimed.toFixed(0)} ms`);
  await create('we-after-kill', target);
  await replicas.restart(0);
});

test.serial('SIGTERM drains in-flight admissions before the replica exits', async (t) => {
  const victim = replicas.replicas[1]!;
  // Slow enough that the admissions are still in flight at SIGTERM, fast enough to finish well inside the deadline.
  proxy.set({ kind: 'latency', ms: 150 });
  const client = await replicas.asApiServer(1);
  const send = (n: number) =>
    client.post('/validate', admissionReview({ key: `${NS}/Deployment/drain-${n}`, name: `we-drain-${n}`, namespace: NS })).then(
      (r) => ({ status: r.status, body: r.text }),
      (err: Error) => ({ status: -1, body: err.message }),
    );
  const inflight = Array.from({ length: 10 }, (_, n) => send(n));
  await sleep(100);
  const exited = new Promise<number | null>((resolve) => victim.process.once('exit', (code) => resolve(code)));
  victim.process.kill('SIGTERM');
  const results = await Promise.all(inflight);
  for (const r of results) {
    t.is(r.status, 200, r.body);
    t.is(JSON.parse(r.body).response.allowed, true, r.body);
  }
  t.is(await exited, 0, 'exited cleanly after draining');
  proxy.set({ kind: 'pass' });
  await replicas.restart(1);
});

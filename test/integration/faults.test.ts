// Faults between leaseguard and the API server, injected by a TCP proxy of our own:
// every admission answers correctly or fails closed within the deadline, no duplicate is
// ever admitted, and service resumes when the fault clears, with no restart.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { LEADER_LEASE_NAME } from '../../src/release/release-work.js';
import type { HttpsClient } from '../harness/https-client.js';
import { coordination, customObjects } from '../harness/integration-env.js';
import { apiServerBehindProxy, type FaultProxy, type Fault } from '../support/fault-proxy.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import { FAST, FAST_RELEASE_ENV, ReplicaSet, scopedNamespace } from '../harness/replicas.js';
import { admissionReview } from '../support/reviews.js';
import { sleep, until } from '../harness/wait.js';
import { lockOf } from '../support/lock-of.js';

const SCOPE = 'faults';
const NS = 'flt-prod';
const TIMEOUT_S = 3;
const DEADLINE_MS = 2400; // the default: timeoutSeconds − 0.6 s
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', namespace: NS, plural: 'workflowexecutions' };
let proxy: FaultProxy;
let replicas: ReplicaSet;

test.before(async () => {
  const behind = await apiServerBehindProxy('kubeconfig-leaseguard-via-proxy.json');
  proxy = behind.proxy;
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 2,
    kubeconfig: behind.kubeconfig,
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

const create = (name: string, target: string) =>
  customObjects('controller').createNamespacedCustomObject({ ...GROUP, body: workflowExecution(NS, name, target) });

async function storedPerTarget(): Promise<Map<string, number>> {
  const list = (await customObjects('admin').listNamespacedCustomObject(GROUP)) as {
    items: Array<{ spec: { targetResource: string } }>;
  };
  const m = new Map<string, number>();
  for (const o of list.items) m.set(o.spec.targetResource, (m.get(o.spec.targetResource) ?? 0) + 1);
  return m;
}

// 'correct': every answer must be right (the fault stays below the deadline); 'refused': the fault must surface as 503s.
const faults: Array<[string, Fault, 'correct' | 'refused']> = [
  ['200 ms of added latency', { kind: 'latency', ms: 200 }, 'correct'],
  [
    'responses slowed to just past the deadline',
    { kind: 'latency', ms: DEADLINE_MS - 300, direction: 'responses' },
    'refused',
  ],
  ['dropped connections', { kind: 'drop' }, 'refused'],
  ['black-holed traffic', { kind: 'blackhole' }, 'refused'],
];
// What a create's round trip through the API server may add to leaseguard's deadline on
// a busy machine (client queueing, the API server's own work). That leaseguard answered
// before the API server's webhook timeout is shown by the 503 and its message (the API
// server's own timeout is a 500); this bound only catches an answer far past the deadline.
const ROUND_TRIP_SLACK_MS = 1500;

for (const [i, [name, fault, expect]] of faults.entries()) {
  test.serial(
    `fault: ${name} — ${expect === 'correct' ? 'every answer correct' : '503 within the deadline'}, no duplicate, recovery without restart`,
    async (t) => {
      const pids = replicas.replicas.map((r) => r.process.pid);
      proxy.set(fault);
      // A test that fails with its fault on must not leave it to the next.
      t.teardown(() => proxy.set({ kind: 'pass' }));
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
        if (o.code === 503) {
          // leaseguard's own refusal (not the API server's webhook timeout, which would be a 500)...
          t.regex(
            o.message,
            /could not verify the lock for target "flt-prod\/Deployment\/f\d-k\d": .*leaseguard fails closed/,
          );
          // ...at its deadline: the create's whole round trip is the deadline plus the API server's own work.
          t.true(
            o.ms < DEADLINE_MS + ROUND_TRIP_SLACK_MS,
            `503 after ${o.ms.toFixed(0)} ms (deadline ${DEADLINE_MS} ms)`,
          );
        }
      }
      const stored = await storedPerTarget();
      for (const k of keys) t.true((stored.get(k) ?? 0) <= 1, `duplicates for ${k}`);
      if (expect === 'correct') {
        // Latency below the deadline slows answers without failing them: one create per key, the rest busy.
        t.deepEqual(
          codes,
          { 201: keys.length, 409: outcomes.length - keys.length },
          'every answer correct, none failed',
        );
        for (const k of keys) t.is(stored.get(k), 1, `one object for ${k}`);
      } else {
        t.true((codes[503] ?? 0) > 0, 'the fault surfaced as 503s');
      }

      proxy.set({ kind: 'pass' });
      const fresh = `${NS}/Deployment/f${i}-after`;
      const attempts: number[] = [];
      for (let attempt = 0; attempt < 20; attempt++) {
        const code = await create(`we-f${i}-after-${attempt}`, fresh).then(
          () => 201,
          (err) => apiError(err).code,
        );
        attempts.push(code);
        if (code === 201) break;
        await sleep(250);
      }
      t.log(`after the fault cleared: ${attempts.join(', ')}`);
      // Resumed in the same processes (a restart would show in the replicas' restart count below).
      t.is(attempts.at(-1), 201, `service resumed once the fault cleared: ${attempts.join(', ')}`);
      t.true(attempts.length <= 12, `resumed within 3 s of the fault clearing: ${attempts.join(', ')}`);
      t.deepEqual(
        replicas.replicas.map((r) => r.process.pid),
        pids,
        'no replica was restarted',
      );
    },
  );
}

test.serial(
  'a replica killed between taking a Lease and answering: the pending Lease is reclaimed within the pending timeout',
  async (t) => {
    // Hold the API server's answers so the Lease is written but the webhook cannot reply yet.
    const target = `${NS}/Deployment/killed`;
    const review = admissionReview({ key: target, name: 'we-killed', namespace: NS });
    const client = await replicas.asApiServer(0);
    t.teardown(() => client.close());
    proxy.set({ kind: 'latency', ms: 1000, direction: 'responses' });
    t.teardown(() => proxy.set({ kind: 'pass' }));
    const reply = client.post('/validate', review).then(
      (r) => r.status,
      () => -1,
    );
    const leases = async () =>
      (
        await coordination('admin').listNamespacedLease({
          namespace: replicas.leaseNamespace,
          labelSelector: MANAGED_SELECTOR,
        })
      ).items.filter((l) => lockOf(l)?.key === target);
    const deadline = Date.now() + 5000;
    while ((await leases()).length === 0 && Date.now() < deadline) await sleep(50);
    t.is((await leases()).length, 1, 'the Lease was written');
    const killedAt = performance.now();
    await replicas.kill(0);
    t.is(await reply, -1, 'the webhook never answered');
    client.close();
    proxy.set({ kind: 'pass' });
    const held = await create('we-other', target).then(
      () => 201,
      (err) => apiError(err).code,
    );
    t.is(held, 409, 'the orphaned pending Lease blocks the key at first');
    const PENDING_MS = FAST.pendingSeconds * 1000;
    while ((await leases()).length > 0 && performance.now() - killedAt < PENDING_MS + 10_000) await sleep(200);
    const reclaimed = performance.now() - killedAt;
    t.log(
      `pending Lease reclaimed ${reclaimed.toFixed(0)} ms after the kill (pending timeout ${FAST.pendingSeconds} s, sweep every ${FAST.sweepSeconds} s)`,
    );
    // The leader first saw the Lease at a sweep after it was written, and reclaims one pending timeout after that.
    t.true(reclaimed >= PENDING_MS - 1500, `not before the pending timeout (${reclaimed.toFixed(0)} ms)`);
    t.true(reclaimed < PENDING_MS + (FAST.sweepSeconds + 3) * 1000, `reclaimed after ${reclaimed.toFixed(0)} ms`);
    await create('we-after-kill', target);
    await replicas.restart(0);
  },
);

test.serial(
  'SIGTERM: the leader stops accepting, drains in-flight admissions, gives up leadership and exits 0',
  async (t) => {
    const leader = await replicas.leader();
    const victim = replicas.replicas[leader]!;
    const other = 1 - leader;
    // Slow enough that the admissions are still in flight at SIGTERM, fast enough to finish well inside the deadline.
    proxy.set({ kind: 'latency', ms: 150 });
    t.teardown(() => proxy.set({ kind: 'pass' }));
    const client = await replicas.asApiServer(leader);
    t.teardown(() => client.close());
    const send = (c: HttpsClient, n: number) =>
      c
        .post(
          '/validate',
          admissionReview({ key: `${NS}/Deployment/drain-${n}`, name: `we-drain-${n}`, namespace: NS }),
        )
        .then(
          (r) => ({ status: r.status, body: r.text }),
          (err: Error) => ({ status: -1, body: err.message }),
        );
    const inflight = Array.from({ length: 10 }, (_, n) => send(client, n));
    await sleep(100);
    const exited = new Promise<number | null>((resolve) => victim.process.once('exit', (code) => resolve(code)));
    victim.process.kill('SIGTERM');
    await until(
      'the replica to begin its drain',
      async () => (await readFile(victim.logFile, 'utf8')).includes('stopping: draining in-flight admissions'),
      5000,
    );
    // A new connection while it drains is not accepted.
    const late = await replicas.asApiServer(leader);
    t.teardown(() => late.close());
    const refused = await send(late, 99);
    t.is(refused.status, -1, `a new connection during the drain was answered: ${refused.body}`);
    const results = await Promise.all(inflight);
    for (const r of results) {
      t.is(r.status, 200, r.body);
      t.is(JSON.parse(r.body).response.allowed, true, r.body);
    }
    client.close();
    t.is(await exited, 0, 'exited cleanly after draining');
    // Leadership was handed back, not left to expire: the election Lease names no one (or already the other replica).
    const election = await coordination('admin').readNamespacedLease({
      name: LEADER_LEASE_NAME,
      namespace: replicas.leaseNamespace,
    });
    t.not(election.spec?.holderIdentity, victim.identity, 'the leader Lease still names the stopped replica');
    t.regex(await readFile(victim.logFile, 'utf8'), /released leadership/);
    proxy.set({ kind: 'pass' });
    t.is(await replicas.leader(), other, 'the other replica leads');
    await replicas.restart(leader);
  },
);

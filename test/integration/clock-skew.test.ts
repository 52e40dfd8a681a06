// No decision depends on clocks agreeing: replicas whose wall clocks run +10 min, +90 s
// and -90 s (libfaketime) beside a correct one, the +10 min one leading with a 1 s sweep.
// Pending locks are never taken over or reclaimed inside their window, storms store one
// object per key, and a never-stored create's lock is still reclaimed within the bound:
// the pending timeout after the leader first saw it, so at most one sweep interval more.
import test from 'ava';
import { MANAGED_SELECTOR } from '../../src/core/lock-record.js';
import { FAKETIME_MISSING, skewedClock } from '../support/faketime.js';
import { coordination, customObjects } from '../harness/integration-env.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import {
  annotated,
  DELAY_ANNOTATION,
  REFUSE_ANNOTATION,
  startPolicyWebhook,
  type PolicyWebhook,
} from '../support/policy-webhook.js';
import { FAST, FAST_RELEASE_ENV, ReplicaSet, SCOPE_LABEL, scopedNamespace } from '../harness/replicas.js';
import { admissionReview } from '../support/reviews.js';
import { sleep } from '../harness/wait.js';
import { lockOf } from '../support/lock-of.js';

const SCOPE = 'skew';
const NS = 'skew-prod';
const PENDING_MS = FAST.pendingSeconds * 1000;
const SWEEP_S = 1;
/** Replica i's clock: the leader first, then a correct one, then +90 s and -90 s. */
const OFFSETS = ['+10m', '', '+90s', '-90s'] as const;
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', namespace: NS };

let replicas: ReplicaSet;
let policy: PolicyWebhook;
const serial = FAKETIME_MISSING ? test.serial.skip : test.serial;
if (FAKETIME_MISSING) test('clock-skew tests skipped', (t) => t.log(`SKIPPED: ${FAKETIME_MISSING}`));

test.before(async () => {
  if (FAKETIME_MISSING) return;
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: OFFSETS.length,
    timeoutSeconds: FAST.timeoutSeconds,
    env: { ...FAST_RELEASE_ENV, LEASEGUARD_SWEEP_INTERVAL_SECONDS: String(SWEEP_S) },
    replicaEnv: (i) => (OFFSETS[i] ? skewedClock(OFFSETS[i]) : {}),
  });
  await scopedNamespace(SCOPE, NS);
  policy = await startPolicyWebhook({ name: 'skew-policy', namespaceLabels: { [SCOPE_LABEL]: SCOPE } });
});
test.after.always(async () => {
  await policy?.stop();
  await replicas?.stop();
});

async function leaseFor(key: string) {
  const list = await coordination('admin').listNamespacedLease({
    namespace: replicas.leaseNamespace,
    labelSelector: MANAGED_SELECTOR,
  });
  return list.items.find((l) => lockOf(l)?.key === key);
}

async function review(replica: number, name: string, key: string) {
  const client = await replicas.asApiServer(replica);
  try {
    const res = await client.post('/validate', admissionReview({ name, namespace: NS, key }));
    return res.json.response as { allowed: boolean; status?: { code: number; message: string } };
  } finally {
    client.close();
  }
}

const counters = (name: string, labels: Record<string, string>) => replicas.metricSum(name, labels);

serial('the skewed replica leads (the setup this file relies on)', async (t) => {
  t.is(await replicas.leader(), 0, 'replica 0 (+10 min) leads, so its sweeps decide the reclaims below');
});

serial(
  'a pending lock taken on any replica is busy on every other, whatever their clocks; reclaimed only after the pending timeout',
  async (t) => {
    const takenAt: number[] = [];
    for (let w = 0; w < OFFSETS.length; w++) {
      const key = `${NS}/Deployment/direct-${w}`;
      const first = await review(w, `we-${w}-a`, key);
      takenAt[w] = performance.now();
      t.true(first.allowed, `replica ${w} (${OFFSETS[w] || 'correct'}) takes the free lock`);
      await sleep(100);
      for (let r = 0; r < OFFSETS.length; r++) {
        if (r === w) continue;
        const other = await review(r, `we-${w}-b${r}`, key);
        t.false(
          other.allowed,
          `taken on replica ${w} (${OFFSETS[w] || 'correct'}), asked on replica ${r} (${OFFSETS[r] || 'correct'})`,
        );
        t.is(other.status?.code, 409);
      }
    }
    // Nothing was ever stored: each Lease is pending and reclaimable after the pending timeout.
    const reclaimedAfter: number[] = [];
    await Promise.all(
      takenAt.map(async (at, w) => {
        const key = `${NS}/Deployment/direct-${w}`;
        for (;;) {
          const l = await leaseFor(key);
          if (!l || lockOf(l)?.object.name !== `we-${w}-a`) break;
          if (performance.now() - at > PENDING_MS + (SWEEP_S + 6) * 1000) break;
          await sleep(100);
        }
        reclaimedAfter[w] = performance.now() - at;
      }),
    );
    t.log(
      `reclaimed after (ms, pending timeout ${PENDING_MS}): ${reclaimedAfter.map((ms, w) => `${OFFSETS[w] || 'correct'} writer ${ms.toFixed(0)}`).join(', ')}`,
    );
    for (const [w, ms] of reclaimedAfter.entries()) {
      t.true(ms >= PENDING_MS - 500, `writer ${w}: not reclaimed before the pending timeout (${ms.toFixed(0)} ms)`);
      t.true(
        ms <= PENDING_MS + (SWEEP_S + 3) * 1000,
        `writer ${w}: reclaimed within the pending timeout and one sweep (${ms.toFixed(0)} ms)`,
      );
    }
  },
);

serial(
  'storms through the API server, each create held 0.5 s by another webhook: one stored object per key, no early reclaim',
  async (t) => {
    const before = {
      pendingTakeovers: await counters('leaseguard_lock_takeovers_total', { reason: 'pending-expired' }),
      expired: await counters('leaseguard_lock_releases_total', { reason: 'expired' }),
    };
    const api = customObjects('controller');
    const ROUNDS = 8;
    const PER_ROUND = 20;
    for (let round = 0; round < ROUNDS; round++) {
      const target = `${NS}/Deployment/storm-${round}`;
      const results = await Promise.all(
        Array.from({ length: PER_ROUND }, (_, i) =>
          api
            .createNamespacedCustomObject({
              ...GROUP,
              plural: 'workflowexecutions',
              body: annotated(workflowExecution(NS, `we-storm-${round}-${i}`, target), { [DELAY_ANNOTATION]: '500' }),
            })
            .then(
              () => 'created',
              (err) => String(apiError(err).code),
            ),
        ),
      );
      t.is(
        results.filter((r) => r === 'created').length,
        1,
        `round ${round}: exactly one admitted (${results.join(',')})`,
      );
      t.true(
        results.every((r) => r === 'created' || r === '409'),
        `round ${round}: the rest are 409`,
      );
    }
    await sleep((SWEEP_S + 1) * 1000); // a skewed leader's sweep would reclaim now
    const stored = (await customObjects('admin').listNamespacedCustomObject({
      ...GROUP,
      plural: 'workflowexecutions',
    })) as { items: Array<{ spec: { targetResource: string } }> };
    for (let round = 0; round < ROUNDS; round++) {
      const target = `${NS}/Deployment/storm-${round}`;
      t.is(stored.items.filter((o) => o.spec.targetResource === target).length, 1, `round ${round}: one stored object`);
      t.truthy(await leaseFor(target), `round ${round}: its lock is still held`);
    }
    t.is(
      await counters('leaseguard_lock_takeovers_total', { reason: 'pending-expired' }),
      before.pendingTakeovers,
      'no pending lock taken over',
    );
    t.is(
      await counters('leaseguard_lock_releases_total', { reason: 'expired' }),
      before.expired,
      'no pending lock reclaimed',
    );
    // (Other test files may make duplicates elsewhere on purpose; only this namespace's count here.)
    t.notRegex(
      await replicas.logs(),
      new RegExp(`"msg":"duplicate lock key:[^\n]*${NS}/`),
      'the monitor saw no duplicate here',
    );
  },
);

serial(
  'a create refused after leaseguard admitted it: competitors through the API server are refused for the pending window, then the key frees',
  async (t) => {
    const target = `${NS}/Deployment/refused`;
    const api = customObjects('controller');
    const err = await api
      .createNamespacedCustomObject({
        ...GROUP,
        plural: 'workflowexecutions',
        body: annotated(workflowExecution(NS, 'we-refused', target), { [REFUSE_ANNOTATION]: 'yes' }),
      })
      .then(
        () => undefined,
        (e) => apiError(e),
      );
    const refusedAt = performance.now();
    t.regex(err?.message ?? '', /refused by policy/);
    t.truthy(await leaseFor(target), 'leaseguard took the lock before the policy refused');
    // Every replica in turn (round robin), inside the window.
    for (let i = 0; i < 2 * OFFSETS.length; i++) {
      const e = await api
        .createNamespacedCustomObject({
          ...GROUP,
          plural: 'workflowexecutions',
          body: workflowExecution(NS, `we-wait-${i}`, target),
        })
        .then(
          () => undefined,
          (x) => apiError(x),
        );
      t.is(e?.code, 409, `competitor ${i} inside the pending window`);
      await sleep(300);
    }
    // Retry as a controller would until admitted.
    for (;;) {
      const ok = await api
        .createNamespacedCustomObject({
          ...GROUP,
          plural: 'workflowexecutions',
          body: workflowExecution(NS, 'we-after', target),
        })
        .then(
          () => true,
          () => false,
        );
      if (ok) break;
      if (performance.now() - refusedAt > PENDING_MS + (SWEEP_S + 5) * 1000) return t.fail('the key never freed');
      await sleep(250);
    }
    const freedAfter = performance.now() - refusedAt;
    t.log(
      `the refused create's key freed ${freedAfter.toFixed(0)} ms after the refusal (pending timeout ${PENDING_MS} ms)`,
    );
    t.true(freedAfter >= PENDING_MS - 500, 'not before the pending timeout');
  },
);

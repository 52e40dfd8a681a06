// A holder is the object with the Lease's key and, where recorded, its UID. A Lease or a
// review naming any other object (forged, edited) never pins a key past the pending
// timeout, and the release work never binds a Lease to such an object; a real holder
// still holds. What tampering leaves behind (two live objects for one key) the duplicate
// monitor reports.
import test from 'ava';
import { leaseName } from '../../src/core/lease-name.js';
import { decodeLease, encodeLease, MANAGED_SELECTOR, type ReadonlyLease } from '../../src/core/lock-record.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { coordination, customObjects } from '../harness/integration-env.js';
import { metricValue } from '../harness/metrics.js';
import { apiError, workflowExecution } from '../harness/objects.js';
import { FAST, fastReplicasFor } from '../harness/replicas.js';
import { admissionReview } from '../support/reviews.js';
import { sleep, until } from '../harness/wait.js';
import { lockOf } from '../support/lock-of.js';

/** The annotations `lease` would carry, in its own format, if it recorded `uid` for its object. */
function edited(lease: ReadonlyLease, uid: string): Record<string, string> | undefined {
  const { record, format, name, namespace } = decodeLease(lease);
  return encodeLease(
    { ...record!, object: { ...record!.object, uid } },
    { name, namespace, pendingTimeoutSeconds: 1, format },
  ).metadata?.annotations;
}

const SCOPE = 'forged';
const NS = 'forged-prod';
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', namespace: NS };
const rule = DEFAULT_RULES[0]!;

const replicas = fastReplicasFor(test, { scope: SCOPE, ns: NS, count: 2 });

const create = (name: string, target: string) =>
  customObjects('controller')
    .createNamespacedCustomObject({ ...GROUP, plural: 'workflowexecutions', body: workflowExecution(NS, name, target) })
    .then(
      (o) => ({ ok: true as const, uid: (o as { metadata: { uid: string } }).metadata.uid }),
      (err) => ({ ok: false as const, err: apiError(err) }),
    );

async function leaseFor(key: string) {
  const list = await coordination('admin').listNamespacedLease({
    namespace: replicas().leaseNamespace,
    labelSelector: MANAGED_SELECTOR,
  });
  return list.items.find((l) => lockOf(l)?.key === key);
}

/** Creates `name` for `target` until admitted; returns ms from `from`, and fails the test if a Lease for it was ever bound to `notBoundTo`. */
async function admittedAfter(
  t: import('ava').ExecutionContext,
  name: string,
  target: string,
  from: number,
  notBoundTo?: string,
): Promise<number> {
  for (;;) {
    const r = await create(name, target);
    if (r.ok) return performance.now() - from;
    t.is(r.err.code, 409, `refused as busy meanwhile (${r.err.message})`);
    if (notBoundTo) {
      const l = await leaseFor(target);
      if (lockOf(l)?.state === 'bound' && lockOf(l)?.object.uid === notBoundTo)
        t.fail('the release work bound the Lease to an object that is not its holder');
    }
    if (performance.now() - from > (FAST.pendingSeconds + FAST.sweepSeconds + 6) * 1000) {
      t.fail(`${target} never freed`);
      return Infinity;
    }
    await sleep(300);
  }
}

test.serial(
  'a Lease or a review naming a live object of another key: busy for the pending window, then the key frees; a real holder still holds',
  async (t) => {
    const realKey = `${NS}/Deployment/real`;
    const x = await create('we-x', realKey);
    if (!x.ok) return t.fail(`creating the real holder failed: ${JSON.stringify(x.err)}`);

    // A Lease planted by hand under the predictable name for another key, naming we-x.
    const plantedKey = `${NS}/Deployment/planted`;
    const now = new Date();
    const planted = encodeLease(
      {
        key: plantedKey,
        object: { group: rule.group, kind: rule.kind, namespace: NS, name: 'we-x', uid: x.uid },
        requester: { username: 'mallory' },
        state: 'pending',
        acquiredAt: now,
        renewedAt: now,
        transitions: 0,
      },
      {
        name: leaseName(rule, plantedKey),
        namespace: replicas().leaseNamespace,
        pendingTimeoutSeconds: FAST.pendingSeconds,
      },
    );
    // (Lease writes there are leaseguard's alone, by lease-guard-policy.yaml: planted with its credentials, as a bug or a stolen token would.)
    await coordination('leaseguard').createNamespacedLease({ namespace: replicas().leaseNamespace, body: planted });
    const plantedAt = performance.now();

    // A review sent straight to a replica with the API server's own client certificate
    // (a stolen one, or a bug upstream), claiming we-x for a third key.
    const forgedKey = `${NS}/Deployment/forged-review`;
    const client = await replicas().asApiServer(0);
    t.teardown(() => client.close());
    const forged = await client.post(
      '/validate',
      admissionReview({ name: 'we-x', namespace: NS, key: forgedKey, objectUid: 'forged-uid' }),
    );
    t.true(
      forged.json.response.allowed,
      'the forged review took the free key (its caller is authenticated; its content cannot be)',
    );
    const forgedAt = performance.now();

    const [plantedFreed, forgedFreed] = await Promise.all([
      admittedAfter(t, 'we-planted', plantedKey, plantedAt, x.uid),
      admittedAfter(t, 'we-forged', forgedKey, forgedAt, x.uid),
    ]);
    t.log(
      `freed after: planted Lease ${plantedFreed.toFixed(0)} ms, forged review ${forgedFreed.toFixed(0)} ms (pending timeout ${FAST.pendingSeconds} s)`,
    );
    for (const ms of [plantedFreed, forgedFreed]) {
      t.true(
        ms >= FAST.pendingSeconds * 1000 - 500,
        'busy for the pending window: the named object proves nothing, its create may be in flight',
      );
      t.true(ms <= (FAST.pendingSeconds + FAST.sweepSeconds + 3) * 1000, 'never pinned past it');
    }
    // The real holder, well past the pending timeout, still holds its key.
    const contender = await create('we-contender', realKey);
    t.false(contender.ok);
    t.is(contender.ok ? 0 : contender.err.code, 409);
    t.regex(contender.ok ? '' : (contender.err.message ?? ''), new RegExp(`held by workflowexecution ${NS}/we-x`));
  },
);

test.serial(
  'a Lease edited to record another UID no longer pins its key; the duplicate that follows is reported',
  async (t) => {
    const key = `${NS}/Deployment/edited`;
    const z = await create('we-z', key);
    if (!z.ok) return t.fail(JSON.stringify(z.err));
    const l = (await leaseFor(key))!;
    t.is(lockOf(l)?.object.uid, z.uid, 'the Lease recorded the stored UID at admission');
    await coordination('leaseguard').patchNamespacedLease({
      name: l.metadata!.name!,
      namespace: replicas().leaseNamespace,
      // In the format it was written in: the Lease's own annotations, recording another UID.
      body: [{ op: 'replace', path: '/metadata/annotations', value: edited(l, 'edited-uid') }],
    });
    const editedAt = performance.now();
    const freed = await admittedAfter(t, 'we-w', key, editedAt);
    t.log(`the edited Lease's key freed after ${freed.toFixed(0)} ms`);
    t.true(freed <= (FAST.pendingSeconds + FAST.sweepSeconds + 3) * 1000);
    // we-z and we-w are both live for one key now: the leader reports it.
    const leader = await replicas().leader();
    await until(
      'the monitor to report the duplicate',
      async () => {
        const page = (await replicas().metrics())[leader] ?? '';
        return metricValue(page, 'leaseguard_duplicate_keys', { kind: 'WorkflowExecution' }) === 1;
      },
      10_000,
    );
    t.pass();
    // Clean up: one finishes, the duplicate clears.
    await customObjects('controller').patchNamespacedCustomObjectStatus({
      ...GROUP,
      plural: 'workflowexecutions',
      name: 'we-z',
      body: [{ op: 'add', path: '/status', value: { phase: 'Completed' } }],
    });
    await until(
      'the duplicate to clear',
      async () =>
        metricValue((await replicas().metrics())[leader] ?? '', 'leaseguard_duplicate_keys', {
          kind: 'WorkflowExecution',
        }) === 0,
      10_000,
    );
  },
);

// The busy denial as a client receives it from the real API server (docs/denials.md): in
// the holder's namespace it names the holder (details.uid is the stored object's UID, the
// namespace a cause of its own); from another namespace it names nothing of the holder;
// server-side dry runs answer alike; a holder admitted but not yet stored says so.
import test from 'ava';
import { customObjects } from '../harness/integration-env.js';
import { apiError, fingerprint, remediationRequest } from '../harness/objects.js';
import { annotated, DELAY_ANNOTATION, startPolicyWebhook, type PolicyWebhook } from '../support/policy-webhook.js';
import { FAST, FAST_RELEASE_ENV, ReplicaSet, SCOPE_LABEL, scopedNamespace } from '../harness/replicas.js';
import { sleep } from '../harness/wait.js';

const SCOPE = 'denial';
const A = 'denial-a';
const B = 'denial-b';
const GROUP = { group: 'kubernaut.ai', version: 'v1alpha1', plural: 'remediationrequests' };
let replicas: ReplicaSet;
let policy: PolicyWebhook;

test.before(async () => {
  replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 2,
    timeoutSeconds: FAST.timeoutSeconds,
    env: FAST_RELEASE_ENV,
  });
  await scopedNamespace(SCOPE, A);
  await scopedNamespace(SCOPE, B);
  // A later admission step that can hold a create after leaseguard's answer: a pending holder.
  policy = await startPolicyWebhook({
    name: `${SCOPE}-policy`,
    namespaceLabels: { [SCOPE_LABEL]: SCOPE },
    timeoutSeconds: 30,
  });
});
test.after.always(async () => {
  await policy?.stop();
  await replicas?.stop();
});

type Cause = { reason: string; field?: string; message?: string };
type Denial = Omit<ReturnType<typeof apiError>, 'details'> & {
  details?: { causes?: Cause[]; uid?: string; retryAfterSeconds?: number };
};

/** Creates an RR; the denial when refused (undefined when stored). */
async function create(
  namespace: string,
  name: string,
  fp: string,
  o: { dryRun?: boolean; delayMs?: number } = {},
): Promise<Denial | undefined> {
  const plain = remediationRequest(namespace, name, fp);
  const body = o.delayMs ? annotated(plain, { [DELAY_ANNOTATION]: String(o.delayMs) }) : plain;
  try {
    await customObjects('controller').createNamespacedCustomObject({
      ...GROUP,
      namespace,
      body,
      ...(o.dryRun ? { dryRun: 'All' } : {}),
    });
    return undefined;
  } catch (err) {
    return apiError(err);
  }
}

const cause = (d: Denial | undefined, type: string) => d?.details?.causes?.find((c) => c.reason === type);
/** Ages and times masked: two answers a moment apart compare equal. */
const masked = (d: Denial | undefined) =>
  JSON.parse(
    JSON.stringify(d ?? {})
      .replace(/\d+s ago/g, 'Ns ago')
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, 'T')
      .replace(/"retryAfterSeconds":\d+/, '"retryAfterSeconds":0'),
  );

async function uidOf(namespace: string, name: string): Promise<string> {
  const o = (await customObjects('admin').getNamespacedCustomObject({ ...GROUP, namespace, name })) as {
    metadata: { uid: string };
  };
  return o.metadata.uid;
}

test('a stored holder: the same namespace reads its name, uid and namespace; another namespace reads none of it; dry runs alike', async (t) => {
  const fp = fingerprint('denial-stored');
  t.is(await create(A, 'rr-holder', fp), undefined, 'the first create is stored');
  const uid = await uidOf(A, 'rr-holder');

  const same = await create(A, 'rr-dup', fp);
  t.is(same?.code, 409);
  t.is(same?.reason, 'Conflict');
  t.like(same?.details, { group: 'kubernaut.ai', kind: 'RemediationRequest', name: 'rr-holder', uid });
  t.deepEqual(cause(same, 'LockHolderNamespace'), {
    reason: 'LockHolderNamespace',
    field: 'metadata.namespace',
    message: A,
  });
  t.regex(
    same?.message ?? '',
    new RegExp(
      `held by remediationrequest ${A}/rr-holder \\(requested by system:serviceaccount:kubernaut-system:remediationorchestrator`,
    ),
  );
  // Read live and found, it is stored: nothing pending, no retry hint.
  t.is(cause(same, 'LockPending'), undefined);
  t.is(same?.details?.retryAfterSeconds, undefined);
  t.deepEqual(
    masked(await create(A, 'rr-dup-dry', fp, { dryRun: true })),
    masked(same),
    'a server-side dry run is refused alike',
  );

  const other = await create(B, 'rr-other', fp);
  t.is(other?.code, 409);
  t.regex(other?.message ?? '', /is busy: held by an object in another namespace; retry after it completes$/);
  t.like(other?.details, { group: 'kubernaut.ai', kind: 'RemediationRequest' });
  t.truthy(cause(other, 'LockHolderHidden'));
  for (const secret of ['rr-holder', uid, A, 'remediationorchestrator', 'LockHolderNamespace'])
    t.false(JSON.stringify(other).includes(secret), `${secret} leaks to ${B}`);
  t.deepEqual(
    masked(await create(B, 'rr-other-dry', fp, { dryRun: true })),
    masked(other),
    'a server-side dry run from the other namespace is refused alike',
  );
});

test('a pending holder (admitted, held by a later webhook): LockPending with when its key frees and retryAfterSeconds; its uid is the one stored', async (t) => {
  const fp = fingerprint('denial-pending');
  const slow = create(A, 'rr-slow', fp, { delayMs: 5_000 });
  await sleep(1_500);
  const [same, sameDry, other, otherDry] = [
    await create(A, 'rr-dup-p', fp),
    await create(A, 'rr-dup-p', fp, { dryRun: true }),
    await create(B, 'rr-other-p', fp),
    await create(B, 'rr-other-p', fp, { dryRun: true }),
  ];
  const read = await customObjects('admin')
    .getNamespacedCustomObject({ ...GROUP, namespace: A, name: 'rr-slow' })
    .then(
      () => 200,
      (err) => apiError(err).code,
    );
  t.is(read, 404, 'the holder is not stored yet: a client reading it gets 404');

  for (const d of [same, sameDry, other, otherDry]) {
    t.is(d?.code, 409);
    const until = cause(d, 'LockPending')?.message ?? '';
    t.regex(until, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const retry = d?.details?.retryAfterSeconds ?? 0;
    t.true(retry > 0 && retry <= FAST.pendingSeconds, `retryAfterSeconds ${retry}`);
    // Both say when the pending window ends, by the same clock within a second or two.
    t.true(Math.abs(Date.parse(until) - (Date.now() + retry * 1000)) < 3_000, `${until} vs ${retry}s from now`);
  }
  t.deepEqual(masked(sameDry), masked(same));
  t.deepEqual(masked(otherDry), masked(other));
  t.truthy(cause(other, 'LockHolderHidden'));
  t.false(JSON.stringify(other).includes('rr-slow'));

  t.is(await slow, undefined, 'the held create is stored once the other webhook answers');
  t.is(same?.details?.uid, await uidOf(A, 'rr-slow'), 'the pending denial named the UID the holder was stored with');
});

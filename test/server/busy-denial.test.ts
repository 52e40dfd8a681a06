// The busy denial through the webhook: a dry run answers as the real create does, a
// holder read live is not "pending", and a requester in another namespace learns nothing
// of the holder (denials and take-over warnings alike).
import test from 'ava';
import type { HolderState } from '../../src/core/holder.js';
import { leaseName } from '../../src/core/lease-name.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import type { HolderReader } from '../../src/store/holder-reader.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer, type TestServer } from '../support/webhook-server.js';

const HOLDER_UID = 'uid-holder-1';
/** Holder states by object name; unknown names read as gone (not stored yet). */
const states = new Map<string, HolderState>();
const holders: HolderReader = { read: async (_rule, ref) => states.get(ref.name) ?? { kind: 'gone' } };

let s: TestServer;
test.before(async () => {
  s = await startTestServer({ holders });
});
test.after.always(async () => {
  await s?.close();
});

async function send(o: Parameters<typeof admissionReview>[0]) {
  const res = await s.client.post(
    '/validate',
    admissionReview({ username: 'system:serviceaccount:kubernaut-system:ro', ...o }),
  );
  return res.json.response;
}

/** Takes the lock for `key` with an object `name` in namespace prod by user ro on pod ro-7d9f. */
async function hold(key: string, name: string) {
  const r = await send({ key, name, namespace: 'prod', objectUid: HOLDER_UID, pod: 'ro-7d9f' });
  if (!r.allowed) throw new Error(`could not take ${key}: ${JSON.stringify(r)}`);
}

type Cause = { reason: string; message: string };
/**
 * The message and the pending cause with their ages and times masked: two answers a moment
 * apart compare equal (the pending window's end is in both, to the second).
 */
const masked = (status: { message: string; details?: { causes?: Cause[] } }) => ({
  ...status,
  message: status.message.replace(/\d+s ago/, 'Ns ago').replace(/until \S+/, 'until T'),
  details: {
    ...status.details,
    causes: status.details?.causes?.map((c) => (c.reason === 'LockPending' ? { ...c, message: 'T' } : c)),
  },
});

for (const [where, namespace] of [
  ['same namespace', 'prod'],
  ['another namespace', 'staging'],
] as const) {
  test(`a dry run is refused exactly as the create (${where})`, async (t) => {
    const key = `prod/Deployment/dry-${namespace}`;
    await hold(key, 'we-holder');
    const real = await send({ key, name: 'we-real', namespace });
    const dry = await send({ key, name: 'we-dry', namespace, dryRun: true });
    t.false(real.allowed);
    t.false(dry.allowed);
    t.is(real.status.code, 409);
    t.deepEqual(masked(dry.status), masked(real.status));
    t.truthy(
      real.status.details.causes.find((c: { reason: string }) => c.reason === 'LockPending'),
      'the holder read as gone: pending',
    );
  });
}

test('same namespace: the denial names the holder with its uid and namespace', async (t) => {
  await hold('prod/Deployment/named', 'we-holder');
  const r = await send({ key: 'prod/Deployment/named', name: 'we-2', namespace: 'prod' });
  t.like(r.status.details, { group: 'kubernaut.ai', kind: 'WorkflowExecution', name: 'we-holder', uid: HOLDER_UID });
  t.deepEqual(
    r.status.details.causes.find((c: { reason: string }) => c.reason === 'LockHolderNamespace'),
    { reason: 'LockHolderNamespace', field: 'metadata.namespace', message: 'prod' },
  );
  t.regex(r.status.message, /requested by system:serviceaccount:kubernaut-system:ro on pod ro-7d9f/);
});

test('another namespace: neither message nor details name the holder, its namespace, user or pod; the timing stays', async (t) => {
  await hold('prod/Deployment/hidden', 'we-secret-holder');
  for (const dryRun of [false, true]) {
    const r = await send({
      key: 'prod/Deployment/hidden',
      name: 'we-other',
      namespace: 'staging',
      username: 'tenant-b',
      dryRun,
    });
    const text = JSON.stringify(r.status);
    // (The key itself, which names prod, is the requester's own.)
    for (const secret of [
      'we-secret-holder',
      HOLDER_UID,
      '"prod"',
      'kubernaut-system',
      'ro-7d9f',
      'LockHolderNamespace',
    ])
      t.false(text.includes(secret), `${secret} leaks (dryRun ${dryRun}): ${text}`);
    t.is(r.status.code, 409);
    t.regex(
      r.status.message,
      /is busy: held by an object in another namespace; it may not be stored yet, so the lock is pending until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/,
    );
    t.true(r.status.details.retryAfterSeconds > 0);
    t.truthy(
      r.status.details.causes.find(
        (c: { reason: string; field: string }) => c.reason === 'LockHolderHidden' && c.field === 'metadata.namespace',
      ),
    );
  }
});

test('a holder read live with the lock key and uid is stored: no LockPending, no retryAfterSeconds', async (t) => {
  const key = 'prod/Deployment/stored';
  await hold(key, 'we-stored');
  states.set('we-stored', {
    kind: 'live',
    uid: HOLDER_UID,
    phase: 'Running',
    lease: leaseName(DEFAULT_RULES[0]!, key),
  });
  const r = await send({ key, name: 'we-2', namespace: 'prod' });
  t.is(r.status.code, 409);
  t.is(r.status.details.retryAfterSeconds, undefined);
  t.falsy(r.status.details.causes.find((c: { reason: string }) => c.reason === 'LockPending'));
  t.notRegex(r.status.message, /pending/);
});

for (const [where, namespace, shows] of [
  ['same namespace', 'prod', true],
  ['another namespace', 'staging', false],
] as const) {
  test(`a take-over from a finished holder warns ${shows ? 'naming' : 'without naming'} it (${where})`, async (t) => {
    const key = `prod/Deployment/takeover-${namespace}`;
    await hold(key, `we-done-${namespace}`);
    states.set(`we-done-${namespace}`, {
      kind: 'terminal',
      uid: HOLDER_UID,
      phase: 'Completed',
      lease: leaseName(DEFAULT_RULES[0]!, key),
    });
    const r = await send({ key, name: 'we-next', namespace });
    t.true(r.allowed);
    const warning = r.warnings?.[0] ?? '';
    t.regex(
      warning,
      /^leaseguard: took over the lock on target "prod\/Deployment\/takeover-\w+" from finished workflowexecution/,
    );
    t.is(warning.includes(`we-done-${namespace}`), shows, warning);
    if (!shows) t.regex(warning, /in another namespace$/);
  });
}

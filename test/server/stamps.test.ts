// leaseguard's annotations are its own: a CREATE carries only the stamp its mutating
// webhook writes (mutating webhooks run before validating ones), or a configured other
// installation's; an UPDATE may not add, change or remove one. Otherwise a user could name
// another installation's Lease and hide an object from the duplicate monitor.
import test from 'ava';
import { LEASE_ANNOTATION, LOCK_KEY_ANNOTATION } from '../../src/core/stamps.js';
import { applyJsonPatch, type JsonPatchOp } from '../../src/core/json-patch.js';
import { leaseName } from '../../src/core/lease-name.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer, type TestServer } from '../support/webhook-server.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer({ foreignLeaseNamespaces: ['other-system'] });
});
test.after.always(async () => {
  await s?.close();
});

const lease = (key: string) => leaseName(DEFAULT_RULES[0]!, key);
function annotated(review: any, annotations: Record<string, string>, old = false) {
  const o = old ? review.request.oldObject : review.request.object;
  o.metadata.annotations = { ...(o.metadata.annotations ?? {}), ...annotations };
  return review;
}

test("a CREATE stamped by this installation's mutating webhook is admitted", async (t) => {
  const review = admissionReview({ key: 'stamp/Deployment/mine', name: 'we-mine' });
  const mutated = await s.client.post('/mutate', review);
  const ops = JSON.parse(Buffer.from(mutated.json.response.patch, 'base64').toString()) as JsonPatchOp[];
  const patched = applyJsonPatch(review.request.object, ops);
  t.true(patched.ok);
  review.request.object = (patched as { doc: unknown }).doc;
  t.deepEqual(review.request.object.metadata.annotations, {
    [LOCK_KEY_ANNOTATION]: 'stamp/Deployment/mine',
    [LEASE_ANNOTATION]: `leaseguard-system/${lease('stamp/Deployment/mine')}`,
  });
  const res = await s.client.post('/validate', review);
  t.true(res.json.response.allowed);
});

test("a CREATE with another installation's stamp is admitted only when that installation is configured", async (t) => {
  const key = 'stamp/Deployment/trusted';
  const trusted = await s.client.post(
    '/validate',
    annotated(admissionReview({ key, name: 'we-trusted' }), { [LEASE_ANNOTATION]: `other-system/${lease(key)}` }),
  );
  t.true(trusted.json.response.allowed);
});

const forged: Array<[string, (key: string) => Record<string, string>]> = [
  [
    "a Lease stamp naming an installation that is not configured (the monitor's blind spot)",
    (key) => ({ [LEASE_ANNOTATION]: `elsewhere/${lease(key)}` }),
  ],
  [
    'a Lease stamp naming another lock',
    () => ({ [LEASE_ANNOTATION]: `leaseguard-system/${lease('stamp/Deployment/other')}` }),
  ],
  ['a lock-key stamp with another key', () => ({ [LOCK_KEY_ANNOTATION]: 'stamp/Deployment/other' })],
  ['an annotation leaseguard never writes', () => ({ 'leaseguard.kubernaut.ai/owner': 'me' })],
];
for (const [name, stamp] of forged) {
  test(`a CREATE with ${name} is refused 422 before any lock is taken`, async (t) => {
    const key = `stamp/Deployment/forged-${forged.findIndex(([n]) => n === name)}`;
    const res = await s.client.post('/validate', annotated(admissionReview({ key, name: 'we-forged' }), stamp(key)));
    t.false(res.json.response.allowed);
    t.is(res.json.response.status.code, 422);
    t.regex(res.json.response.status.message, /only leaseguard writes them/);
    t.is(res.json.response.status.details.causes[0].reason, 'FieldValueForbidden');
    t.regex(res.json.response.status.details.causes[0].field, /^metadata\.annotations\[leaseguard\.kubernaut\.ai\//);
    t.is(res.json.response.auditAnnotations.decision, 'denied-annotation');
    t.is(await s.store.get(lease(key)), null, 'no Lease written');
  });
}

test("an UPDATE that adds, changes or removes leaseguard's annotations is refused; one that keeps them passes", async (t) => {
  const key = 'stamp/Deployment/updated';
  const stamp = { [LOCK_KEY_ANNOTATION]: key, [LEASE_ANNOTATION]: `leaseguard-system/${lease(key)}` };
  const update = (before: Record<string, string>, after: Record<string, string>) =>
    s.client.post(
      '/validate',
      annotated(
        annotated(admissionReview({ operation: 'UPDATE', key, oldKey: key, name: 'we-upd' }), before, true),
        after,
      ),
    );
  for (const [what, before, after] of [
    ['added', {}, { [LEASE_ANNOTATION]: `other-system/${lease(key)}` }],
    ['changed', stamp, { ...stamp, [LEASE_ANNOTATION]: `elsewhere/${lease(key)}` }],
    ['removed', stamp, { [LOCK_KEY_ANNOTATION]: key }],
  ] as const) {
    const res = await update(before, after);
    t.false(res.json.response.allowed, what);
    t.is(res.json.response.status.code, 422, what);
    t.regex(res.json.response.status.message, /cannot be set, changed or removed/, what);
  }
  const kept = await update(stamp, { ...stamp, 'team.example.com/owner': 'b' });
  t.true(kept.json.response.allowed, 'other annotations are free');
});

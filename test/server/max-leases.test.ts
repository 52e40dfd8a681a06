// maxLeases: every distinct key a client sends costs a Lease, so their number is bounded.
// Past the bound a new key fails closed with a 503 that says why; held keys are still
// decided as ever (busy, retried), and room made by releases shows again.
import test from 'ava';
import { leaseName } from '../../src/core/lease-name.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer } from '../support/webhook-server.js';

test('past maxLeases a new key is refused 503 naming the bound; held keys are busy or retried as ever; a release makes room', async (t) => {
  const s = await startTestServer({ maxLeases: 3 });
  t.teardown(() => s.close());
  const validate = (key: string, name: string, dryRun = false) =>
    s.client.post('/validate', admissionReview({ key, name, dryRun })).then((r) => r.json.response);
  for (const k of ['a', 'b', 'c']) t.true((await validate(`max/Deployment/${k}`, `we-${k}`)).allowed, k);
  const refused = await validate('max/Deployment/d', 'we-d');
  t.false(refused.allowed);
  t.is(refused.status.code, 503);
  t.is(refused.status.reason, 'ServiceUnavailable');
  t.regex(
    refused.status.message,
    /could not take a lock for target "max\/Deployment\/d": leaseguard already holds about 3 Leases, its maximum \(maxLeases 3\)/,
  );
  t.regex(refused.status.message, /retry once locks are released/);
  t.is(await s.store.get(leaseName(DEFAULT_RULES[0]!, 'max/Deployment/d')), null, 'no Lease written');
  t.is((await validate('max/Deployment/e', 'we-e', true)).status.code, 503, 'a dry run meets the bound too');

  t.is((await validate('max/Deployment/a', 'we-other')).status.code, 409, 'a held key is still busy, not full');
  t.true((await validate('max/Deployment/a', 'we-a')).allowed, 'and its own retry still admitted');
  t.regex(await s.lg.metrics.registry.getSingleMetricAsString('leaseguard_lock_failures_total'), /reason="full"\} 2/);

  const held = (await s.store.get(leaseName(DEFAULT_RULES[0]!, 'max/Deployment/b')))!;
  await s.store.delete(held.metadata!.name!, { uid: held.metadata!.uid! });
  await s.budget!.refresh();
  t.true((await validate('max/Deployment/d', 'we-d')).allowed, 'room again after a release');
});

// A key whose Lease a later leaseguard wrote (a format this one cannot read) is refused
// with a message that says so, even with failOpen: what that Lease says is unknown.
import test from 'ava';
import { pointerSegment } from '../../src/core/json-patch.js';
import { leaseName } from '../../src/core/lease-name.js';
import { LOCK_ANNOTATION, decodeLease } from '../../src/core/lock-record.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { admissionReview } from '../support/reviews.js';
import { startTestServer } from '../support/webhook-server.js';

for (const failOpen of [false, true]) {
  test(`a Lease in a later format refuses its key (failOpen ${failOpen})`, async (t) => {
    const s = await startTestServer({ failOpen });
    t.teardown(() => s.close());
    const key = `format/Deployment/later-${failOpen}`;
    const first = await s.client.post('/validate', admissionReview({ key, name: 'we-1' }));
    t.true(first.json.response.allowed);
    const name = leaseName(DEFAULT_RULES[0]!, key);
    t.is(decodeLease((await s.store.get(name))!).format, 2, 'written in format 2');
    await s.store.patch(name, [
      { op: 'replace', path: `/metadata/annotations/${pointerSegment(LOCK_ANNOTATION)}`, value: '{"v":3,"key":"x"}' },
    ]);
    const next = await s.client.post('/validate', admissionReview({ key, name: 'we-2' }));
    t.false(next.json.response.allowed);
    t.is(next.json.response.status.code, 500);
    t.regex(next.json.response.status.message, /is in format 3, written by a later leaseguard/);
    t.is(next.json.response.auditAnnotations.decision, 'denied-unavailable');
    t.is(next.json.response.warnings, undefined, 'no fail-open warning: it was refused');
  });
}

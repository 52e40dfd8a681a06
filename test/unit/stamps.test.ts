// leaseguard's annotations: which a CREATE may carry, that an UPDATE may not change them,
// and which stamps mark an object as another installation's.
import test from 'ava';
import {
  LEASE_ANNOTATION,
  LOCK_KEY_ANNOTATION,
  createStampProblem,
  isForeign,
  stampNamespace,
  stampsOf,
  updateStampProblem,
} from '../../src/core/stamps.js';

const LEASE = 'workflowexecution-prod-deployment-api-0123456789abcdef';
const expected = { lockKey: 'prod/Deployment/api', leaseName: LEASE };
const stamps = (o: Record<string, unknown>) => stampsOf({ metadata: { annotations: o } });

test("stampsOf: only leaseguard's annotations, whatever the object's shape", (t) => {
  t.deepEqual(
    [...stamps({ [LEASE_ANNOTATION]: 'a', other: 'b', 'leaseguard.kubernaut.ai/x': 1 })],
    [
      [LEASE_ANNOTATION, 'a'],
      ['leaseguard.kubernaut.ai/x', 1],
    ],
  );
  for (const o of [
    null,
    undefined,
    'x',
    {},
    { metadata: null },
    { metadata: { annotations: null } },
    { metadata: { annotations: ['a'] } },
    { metadata: { annotations: 'abc' } },
    { metadata: 'x' },
  ]) {
    t.is(stampsOf(o).size, 0, JSON.stringify(o));
  }
});

test("stampNamespace: the namespace of `<ns>/<this lock>` only, else ''", (t) => {
  t.is(stampNamespace(`lg/${LEASE}`, LEASE), 'lg');
  t.is(stampNamespace(`lg/${LEASE}x`, LEASE), '', 'another Lease');
  t.is(stampNamespace(`lg${LEASE}`, LEASE), '', 'no separator');
  t.is(stampNamespace(`/${LEASE}`, LEASE), '', 'no namespace');
  t.is(stampNamespace(`a/b/${LEASE}`, LEASE), '', 'not a namespace');
  t.is(stampNamespace(7, LEASE), '');
});

test('a CREATE may carry exactly the stamp an installation writes for its lock', (t) => {
  const mine = ['lg'];
  t.is(createStampProblem(stamps({}), expected, mine), undefined, 'none');
  t.is(
    createStampProblem(
      stamps({ [LOCK_KEY_ANNOTATION]: expected.lockKey, [LEASE_ANNOTATION]: `lg/${LEASE}` }),
      expected,
      mine,
    ),
    undefined,
    'this installation’s',
  );
  t.is(
    createStampProblem(stamps({ [LEASE_ANNOTATION]: `other/${LEASE}` }), expected, ['lg', 'other']),
    undefined,
    'a trusted one’s',
  );
  t.is(
    createStampProblem(stamps({ [LEASE_ANNOTATION]: `other/${LEASE}` }), expected, mine),
    LEASE_ANNOTATION,
    'an untrusted namespace',
  );
  t.is(
    createStampProblem(stamps({ [LEASE_ANNOTATION]: `lg/${LEASE}-x` }), expected, mine),
    LEASE_ANNOTATION,
    'another lock',
  );
  t.is(
    createStampProblem(stamps({ [LOCK_KEY_ANNOTATION]: 'prod/Deployment/other' }), expected, mine),
    LOCK_KEY_ANNOTATION,
    'another key',
  );
  t.is(
    createStampProblem(stamps({ 'leaseguard.kubernaut.ai/owner': 'me' }), expected, mine),
    'leaseguard.kubernaut.ai/owner',
    'an annotation leaseguard never writes',
  );
  // Values that would pass under the other name do not pass under this one.
  t.is(
    createStampProblem(stamps({ 'leaseguard.kubernaut.ai/owner': expected.lockKey }), expected, mine),
    'leaseguard.kubernaut.ai/owner',
  );
  t.is(
    createStampProblem(stamps({ 'leaseguard.kubernaut.ai/owner': `lg/${LEASE}` }), expected, mine),
    'leaseguard.kubernaut.ai/owner',
  );
  t.is(createStampProblem(stamps({ [LOCK_KEY_ANNOTATION]: `lg/${LEASE}` }), expected, mine), LOCK_KEY_ANNOTATION);
  t.is(createStampProblem(stamps({ [LEASE_ANNOTATION]: expected.lockKey }), expected, mine), LEASE_ANNOTATION);
});

test('an UPDATE may not add, change or remove any of them', (t) => {
  const a = stamps({ [LOCK_KEY_ANNOTATION]: 'k', [LEASE_ANNOTATION]: 'lg/l', other: 'x' });
  t.is(
    updateStampProblem(a, stamps({ [LOCK_KEY_ANNOTATION]: 'k', [LEASE_ANNOTATION]: 'lg/l', other: 'y' })),
    undefined,
    'other annotations are free',
  );
  t.is(
    updateStampProblem(a, stamps({ [LOCK_KEY_ANNOTATION]: 'k', [LEASE_ANNOTATION]: 'other/l' })),
    LEASE_ANNOTATION,
    'changed',
  );
  t.is(updateStampProblem(a, stamps({ [LOCK_KEY_ANNOTATION]: 'k' })), LEASE_ANNOTATION, 'removed');
  t.is(updateStampProblem(stamps({}), stamps({ [LEASE_ANNOTATION]: 'other/l' })), LEASE_ANNOTATION, 'added');
  t.is(updateStampProblem(stamps({}), stamps({})), undefined);
});

test('only a configured installation’s stamp for the object’s own lock makes it foreign', (t) => {
  t.true(isForeign(`other/${LEASE}`, LEASE, ['other']));
  t.false(isForeign(`other/${LEASE}`, LEASE, []), 'nothing is foreign by default');
  t.false(isForeign(`mallory/${LEASE}`, LEASE, ['other']));
  t.false(isForeign('other/another-lease', LEASE, ['other']));
  t.false(isForeign(undefined, LEASE, ['other']));
});

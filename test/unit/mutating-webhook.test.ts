import test from 'ava';
import {
  LEASE_ANNOTATION,
  LOCK_KEY_ANNOTATION,
  MutatingWebhook,
  lockAnnotationsPatch,
} from '../../src/admission/mutating-webhook.js';
import type { AdmissionRequest } from '../../src/admission/review.js';
import { leaseName } from '../../src/core/lease-name.js';
import { DEFAULT_RULES, indexRules } from '../../src/core/rules.js';

const hook = new MutatingWebhook({ rules: indexRules(DEFAULT_RULES), leaseNamespace: 'lg' });
const req = (over: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'u',
  kind: { group: 'kubernaut.ai', version: 'v1alpha1', kind: 'WorkflowExecution' },
  operation: 'CREATE',
  name: 'we-1',
  namespace: 'prod',
  userInfo: { username: 'a' },
  object: { metadata: { name: 'we-1' }, spec: { targetResource: 'prod/Deployment/api' } },
  oldObject: null,
  dryRun: false,
  ...over,
});
const decode = (patch?: string) => JSON.parse(Buffer.from(patch ?? '', 'base64').toString('utf8'));

test('stamps lock key and Lease on a guarded CREATE', (t) => {
  const r = hook.review(req());
  t.is(r.response.patchType, 'JSONPatch');
  t.deepEqual(decode(r.response.patch), [
    {
      op: 'add',
      path: '/metadata/annotations',
      value: {
        [LOCK_KEY_ANNOTATION]: 'prod/Deployment/api',
        [LEASE_ANNOTATION]: `lg/${leaseName(DEFAULT_RULES[0]!, 'prod/Deployment/api')}`,
      },
    },
  ]);
});

test('adds to existing annotations with escaped JSON pointers, replacing a forged stamp', (t) => {
  const object = {
    metadata: { annotations: { keep: 'x', [LOCK_KEY_ANNOTATION]: 'forged' } },
    spec: { targetResource: 't' },
  };
  const ops = decode(hook.review(req({ object })).response.patch);
  t.deepEqual(
    ops.map((o: { op: string; path: string }) => `${o.op} ${o.path}`),
    [
      'replace /metadata/annotations/leaseguard.kubernaut.ai~1lock-key',
      'add /metadata/annotations/leaseguard.kubernaut.ai~1lease',
    ],
  );
});

test('no patch when the stamps are already right', (t) => {
  const stamps = { [LOCK_KEY_ANNOTATION]: 't', [LEASE_ANNOTATION]: `lg/${leaseName(DEFAULT_RULES[0]!, 't')}` };
  const r = hook.review(req({ object: { metadata: { annotations: stamps }, spec: { targetResource: 't' } } }));
  t.is(r.response.patch, undefined);
  t.true(r.response.allowed);
});

const untouched: Array<[string, Partial<AdmissionRequest>]> = [
  ['other kinds', { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }],
  ['UPDATE', { operation: 'UPDATE' }],
  ['DELETE', { operation: 'DELETE', object: null }],
  ['an invalid key (the validating webhook denies it)', { object: { metadata: {}, spec: {} } }],
];
for (const [name, over] of untouched) {
  test(`passes ${name} untouched`, (t) => {
    const r = hook.review(req(over));
    t.true(r.response.allowed);
    t.is(r.response.patch, undefined);
  });
}

test('a patch for an object without metadata creates it', (t) => {
  t.deepEqual(lockAnnotationsPatch({}, { a: 'b' }), [
    { op: 'add', path: '/metadata', value: { annotations: { a: 'b' } } },
  ]);
});

import test from 'ava';
import { parseAdmissionReview } from '../../src/admission/review.js';
import { ErrorCodes } from '../../src/errors.js';

const good = () => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'abc',
    kind: { group: 'kubernaut.ai', version: 'v1alpha1', kind: 'WorkflowExecution' },
    operation: 'CREATE',
    name: 'we-1',
    namespace: 'prod',
    userInfo: { username: 'alice', extra: { 'authentication.kubernetes.io/pod-name': ['ro-1'] } },
    object: { metadata: { name: 'we-1' } },
    dryRun: false,
  },
});

test('parses a well-formed review', (t) => {
  const r = parseAdmissionReview(good());
  t.is(r.uid, 'abc');
  t.is(r.operation, 'CREATE');
  t.deepEqual(r.kind, { group: 'kubernaut.ai', version: 'v1alpha1', kind: 'WorkflowExecution' });
  t.deepEqual(r.userInfo.extra, { 'authentication.kubernetes.io/pod-name': ['ro-1'] });
  t.false(r.dryRun);
});

test('core group (empty) and missing optional fields parse', (t) => {
  const body = good() as any;
  body.request.kind = { version: 'v1', kind: 'ConfigMap' };
  delete body.request.name;
  delete body.request.namespace;
  delete body.request.userInfo;
  delete body.request.dryRun;
  const r = parseAdmissionReview(body);
  t.is(r.kind.group, '');
  t.is(r.name, '');
  t.is(r.userInfo.username, '');
  t.false(r.dryRun);
});

const bad: Array<[string, (b: any) => unknown, RegExp]> = [
  ['not an object', () => [1, 2], /JSON object/],
  ['null', () => null, /JSON object/],
  ['v1beta1', (b) => ((b.apiVersion = 'admission.k8s.io/v1beta1'), b), /apiVersion must be "admission.k8s.io\/v1"/],
  ['wrong kind', (b) => ((b.kind = 'Pod'), b), /kind must be "AdmissionReview"/],
  ['no request', (b) => (delete b.request, b), /request is missing/],
  ['no uid', (b) => (delete b.request.uid, b), /request.uid/],
  ['empty uid', (b) => ((b.request.uid = ''), b), /request.uid/],
  ['numeric uid', (b) => ((b.request.uid = 5), b), /request.uid/],
  ['no request.kind', (b) => (delete b.request.kind, b), /request.kind/],
  ['request.kind.kind not a string', (b) => ((b.request.kind.kind = 1), b), /request.kind/],
  ['unknown operation', (b) => ((b.request.operation = 'PATCH'), b), /request.operation/],
  ['dryRun not boolean', (b) => ((b.request.dryRun = 'true'), b), /dryRun must be a boolean/],
  ['object not an object', (b) => ((b.request.object = 'x'), b), /request.object must be an object/],
  ['name not a string', (b) => ((b.request.name = 1), b), /request.name must be a string/],
  ['username not a string', (b) => ((b.request.userInfo.username = {}), b), /userInfo.username/],
  ['extra values not strings', (b) => ((b.request.userInfo.extra = { a: [1] }), b), /extra\["a"\]/],
];
for (const [name, mutate, message] of bad) {
  test(`refuses a review with ${name}`, (t) => {
    const err = t.throws(() => parseAdmissionReview(mutate(good())));
    t.is((err as { code?: string }).code, ErrorCodes.BAD_REQUEST);
    t.is((err as { statusCode?: number }).statusCode, 400);
    t.regex(err.message, message);
  });
}

// `why` explains what the lock decision itself would decide, in words, one verdict per case.
import test from 'ava';
import type { HolderState } from '../../src/core/holder.js';
import type { LockLease, LockRecord, ObjectRef } from '../../src/core/lock-record.js';
import { DEFAULT_RULES, deriveKey } from '../../src/core/rules.js';
import { explain, type WhyInput, type WhyVerdict } from '../../src/cli/why.js';

const rule = DEFAULT_RULES[0]!;
const T0 = new Date('2026-12-04T10:00:00.000Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const ref = (name: string, uid = ''): ObjectRef => ({
  group: 'kubernaut.ai',
  kind: 'WorkflowExecution',
  namespace: 'prod',
  name,
  uid,
});
const object = (name: string, target = 'prod/Deployment/api') => ({
  metadata: { name, namespace: 'prod' },
  spec: { targetResource: target },
});
const record = (over: Partial<LockRecord> = {}): LockRecord => ({
  key: 'prod/Deployment/api',
  object: ref('we-1', 'u1'),
  requester: { username: 'system:serviceaccount:kubernaut-system:ro', pod: 'ro-7d9f' },
  state: 'pending',
  acquiredAt: T0,
  renewedAt: T0,
  transitions: 0,
  ...over,
});
const lease = (r: LockRecord | undefined): LockLease => ({
  name: LEASE,
  namespace: 'leaseguard-system',
  resourceVersion: '1',
  uid: 'l',
  record: r,
  format: 2,
});
const LEASE = 'workflowexecution-prod-deployment-api-0123';
const live = (phase = 'Running', uid = 'u1', lease = LEASE): HolderState => ({ kind: 'live', uid, phase, lease });

function input(over: Partial<WhyInput> & { name?: string; target?: string } = {}): WhyInput {
  const { name = 'we-2', target, ...rest } = over;
  return {
    rule,
    object: ref(name),
    stored: false,
    key: deriveKey(rule, object(name, target), 'prod'),
    leaseRef: 'leaseguard-system/workflowexecution-prod-deployment-api-0123',
    lease: lease(record()),
    holder: live(),
    now: at(41),
    pendingTimeoutSeconds: 90,
    ...rest,
  };
}

const cases: Array<[string, Partial<WhyInput> & { name?: string; target?: string }, WhyVerdict, RegExp[]]> = [
  [
    'no Lease: free',
    { lease: null },
    'free',
    [/^No lock is held for target "prod\/Deployment\/api"/, /A create of it would take the lock and be admitted/],
  ],
  [
    'a live holder blocks, and says what frees it',
    {},
    'blocked',
    [
      /^workflowexecution prod\/we-2 is blocked: Lease leaseguard-system\/workflowexecution-prod-deployment-api-0123 holds target "prod\/Deployment\/api" for workflowexecution prod\/we-1 \(requested by system:serviceaccount:kubernaut-system:ro on pod ro-7d9f\), since 2026-12-04T10:00:00.000Z \(41s ago by this machine's clock\); holder phase Running\.$/,
      /frees when prod\/we-1 reaches status\.phase Completed or Failed, or is deleted\. It is taken over once held longer than maxHoldSeconds \(7200s\)\. Creates meanwhile get 409 Conflict\.$/,
    ],
  ],
  [
    'a holder not stored yet: pending, reclaimed after the pending timeout',
    { holder: { kind: 'gone' } },
    'pending',
    [
      /not stored: its create may still be in flight/,
      /reclaimed once pendingTimeoutSeconds \(90s\).*about 49s from now/,
    ],
  ],
  [
    'a pending holder past the timeout: stale',
    { holder: { kind: 'gone' }, now: at(120) },
    'stale',
    [/never stored within the pending timeout.*next create for this key takes it over/],
  ],
  [
    'a finished holder: stale',
    { holder: { kind: 'terminal', uid: 'u1', phase: 'Completed', lease: LEASE } },
    'stale',
    [/holder phase Completed\./, /its holder has finished/],
  ],
  [
    'a deleted bound holder: stale',
    { lease: lease(record({ state: 'bound' })), holder: { kind: 'gone' } },
    'stale',
    [/its holder was deleted/],
  ],
  [
    "an object of another key at the holder's name holds nothing",
    {
      lease: lease(record({ state: 'bound' })),
      holder: live('Running', 'u1', 'workflowexecution-prod-deployment-other-4567'),
    },
    'stale',
    [/has another key or UID/],
  ],
  [
    'the object holds the lock itself',
    { name: 'we-1', holder: undefined, stored: true, object: ref('we-1', 'u1') },
    'holds',
    [/^workflowexecution prod\/we-1 holds the lock on target/],
  ],
  [
    'a stored object that does not hold the lock was admitted without it',
    { stored: true },
    'blocked',
    [/is stored without holding the lock.*duplicate monitor counts it/],
  ],
  [
    'a Lease recording another key',
    { lease: lease(record({ key: 'prod/Deployment/other' })) },
    'foreign',
    [
      /records key "prod\/Deployment\/other": it is not this lock/,
      /kubectl -n leaseguard-system get lease workflowexecution-prod-deployment-api-0123 -o yaml/,
    ],
  ],
  [
    'a Lease in a later format',
    { lease: { ...lease(undefined), unsupportedFormat: 3 } },
    'foreign',
    [/is in format 3, written by a later leaseguard: this version cannot read it/],
  ],
  ['an invalid key', { target: '' }, 'invalid', [/has no valid lock key/, /refused with 422 Invalid/]],
  [
    'a namespace where the kind may not be created',
    { rule: { ...rule, namespaces: ['kubernaut-system'] } },
    'namespace',
    [
      /^A create of workflowexecution prod\/we-2 is refused with 403 Forbidden: leaseguard refuses WorkflowExecution in namespace prod: it may be created only in kubernaut-system/,
    ],
  ],
  ['a namespace where it may', { rule: { ...rule, namespaces: ['prod'] } }, 'blocked', [/is blocked/]],
];
for (const [name, over, verdict, patterns] of cases) {
  test(`explain: ${name}`, (t) => {
    const a = explain(input(over));
    t.is(a.verdict, verdict, a.lines.join('\n'));
    for (const p of patterns)
      t.true(
        a.lines.some((l) => p.test(l)),
        `${p} in:\n${a.lines.join('\n')}`,
      );
  });
}

test('explain: a rule with maxHoldSeconds says when the hold ends', (t) => {
  const a = explain(input({ rule: { ...rule, maxHoldSeconds: 3600 }, lease: lease(record({ state: 'bound' })) }));
  t.is(a.verdict, 'blocked');
  t.regex(a.lines.join('\n'), /taken over once held longer than maxHoldSeconds \(3600s\)/);
});

test('explain: names from objects are escaped', (t) => {
  const a = explain(input({ lease: lease(record({ object: ref('we\u001b[31m', 'u1') })), holder: live() }));
  t.false(a.lines.join('\n').includes('\u001b'));
});

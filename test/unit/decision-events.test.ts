// Which decisions become Events, and that a storm's Events are one aggregate: nothing in
// a message changes from one denial of the same lock to the next.
import test from 'ava';
import { decisionEvent, leaseSubject, type DecisionFacts } from '../../src/admission/decision-events.js';
import type { LockRecord } from '../../src/core/lock-record.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { EventReasons } from '../../src/kube/event-recorder.js';

const rule = DEFAULT_RULES[0]!;
const holder: LockRecord = {
  key: 'prod/Deployment/api',
  object: { group: 'kubernaut.ai', kind: 'WorkflowExecution', namespace: 'prod', name: 'we-1', uid: 'u1' },
  requester: { username: 'system:serviceaccount:kubernaut-system:ro', pod: 'ro-7d9f' },
  state: 'bound',
  acquiredAt: new Date(0),
  renewedAt: new Date(0),
  transitions: 0,
};
const base: DecisionFacts = {
  decision: 'denied-busy',
  rule,
  key: 'prod/Deployment/api',
  lease: 'leaseguard-system/workflowexecution-prod-deployment-api-0123456789abcdef',
  detail: { kind: 'busy', holder, pending: false },
  object: () => 'prod/we-2',
  dryRun: false,
};
const lease = {
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  namespace: 'leaseguard-system',
  name: 'workflowexecution-prod-deployment-api-0123456789abcdef',
};

const cases: Array<
  [string, Partial<DecisionFacts>, { reason: string; type: 'Normal' | 'Warning'; message: RegExp } | undefined]
> = [
  [
    'a busy denial',
    {},
    {
      reason: EventReasons.busy,
      type: 'Normal',
      message:
        /^refused creates of workflowexecution: target "prod\/Deployment\/api" is held by workflowexecution prod\/we-1 \(requested by system:serviceaccount:kubernaut-system:ro on pod ro-7d9f\)$/,
    },
  ],
  ['a busy denial in a server-side dry run: nothing may be written', { dryRun: true }, undefined],
  ['a rule in dryrun mode writes nothing', { decision: 'warned-busy', rule: { ...rule, mode: 'dryrun' } }, undefined],
  [
    'warn mode admitting a busy key: a duplicate',
    { decision: 'warned-busy', rule: { ...rule, mode: 'warn' } },
    {
      reason: EventReasons.busyAdmitted,
      type: 'Warning',
      message:
        /^admitted creates of workflowexecution that enforce would refuse \(warn mode\): target "prod\/Deployment\/api" is held by workflowexecution prod\/we-1, so the key has more than one object$/,
    },
  ],
  [
    'a take-over from a finished holder',
    { decision: 'allowed-takeover', detail: { kind: 'takeover', previous: holder, reason: 'holder-terminal' } },
    {
      reason: EventReasons.takenOver,
      type: 'Normal',
      message:
        /^workflowexecution prod\/we-2 took over the lock on target "prod\/Deployment\/api" from finished workflowexecution prod\/we-1$/,
    },
  ],
  [
    'a take-over past maxHoldSeconds leaves a live holder: Warning',
    { decision: 'allowed-takeover', detail: { kind: 'takeover', previous: holder, reason: 'max-hold-exceeded' } },
    {
      reason: EventReasons.takenOver,
      type: 'Warning',
      message: /from held past maxHoldSeconds workflowexecution prod\/we-1$/,
    },
  ],
  [
    'a take-over from a Lease naming no real holder: Warning',
    { decision: 'allowed-takeover', detail: { kind: 'takeover', previous: holder, reason: 'holder-mismatch' } },
    { reason: EventReasons.takenOver, type: 'Warning', message: /from no longer holding it/ },
  ],
  ['a plain admit', { decision: 'allowed', detail: undefined }, undefined],
  ['a retry', { decision: 'allowed-retry', detail: undefined }, undefined],
  [
    'an unverifiable lock (the API server is failing: no Event to add to its load)',
    { decision: 'denied-unavailable', detail: undefined },
    undefined,
  ],
  ['an invalid key', { decision: 'denied-invalid', key: undefined, lease: undefined, detail: undefined }, undefined],
  ['a busy denial that names no holder', { detail: undefined }, undefined],
  ['a Lease reference without a namespace', { lease: 'no-slash' }, undefined],
];
for (const [name, facts, expected] of cases) {
  test(`decisionEvent: ${name}`, (t) => {
    const event = decisionEvent({ ...base, ...facts });
    if (!expected) {
      t.is(event, undefined);
      return;
    }
    t.deepEqual(event?.regarding, lease);
    t.is(event?.reason, expected.reason);
    t.is(event?.type, expected.type);
    t.regex(event?.message ?? '', expected.message);
  });
}

test('decisionEvent: busy denials of other objects at other times are one Event (the recorder aggregates equal ones)', (t) => {
  const a = decisionEvent({ ...base, object: () => 'prod/we-2' });
  const b = decisionEvent({
    ...base,
    object: () => 'prod/we-3',
    detail: { kind: 'busy', holder: { ...holder, renewedAt: new Date(60_000) }, pending: false },
  });
  t.deepEqual(a, b);
});

test('decisionEvent: names from objects are escaped', (t) => {
  const e = decisionEvent({
    ...base,
    decision: 'allowed-takeover',
    detail: { kind: 'takeover', previous: holder, reason: 'holder-gone' },
    object: () => 'prod/we\u001b[2J',
  });
  t.false(e?.message.includes('\u001b') ?? true);
});

test('decisionEvent: the Lease as read names its uid, so kubectl describe lease finds the Event', (t) => {
  t.deepEqual(decisionEvent({ ...base, leaseUid: 'lease-uid-1' })?.regarding, { ...lease, uid: 'lease-uid-1' });
});

test('leaseSubject: namespace/name, and nothing for a malformed reference', (t) => {
  t.deepEqual(leaseSubject('ns/l'), {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    namespace: 'ns',
    name: 'l',
  });
  t.deepEqual(leaseSubject('ns/l', 'u'), {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    namespace: 'ns',
    name: 'l',
    uid: 'u',
  });
  t.is(leaseSubject('/l'), undefined);
  t.is(leaseSubject('ns/'), undefined);
});

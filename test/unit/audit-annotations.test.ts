import test from 'ava';
import { auditAnnotations } from '../../src/admission/audit-annotations.js';
import type { LockRecord } from '../../src/core/lock-record.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';

const rule = DEFAULT_RULES[0]!;
const holder = (name: string): LockRecord => ({
  key: 'prod/Deployment/api',
  object: { group: rule.group, kind: rule.kind, namespace: 'prod', name, uid: 'u' },
  requester: { username: 'ro' },
  state: 'bound',
  acquiredAt: new Date(0),
  renewedAt: new Date(0),
  transitions: 0,
});
const base = {
  rule,
  key: 'prod/Deployment/api',
  lease: 'leaseguard-system/workflowexecution-prod-deployment-api-0123456789abcdef',
};

const cases: Array<[string, Parameters<typeof auditAnnotations>[0], Record<string, string> | undefined]> = [
  ['an unguarded kind: none', { decision: 'passed' }, undefined],
  ['a guarded UPDATE that keeps its key: none', { decision: 'passed', rule, key: 'k' }, undefined],
  ['an admit', { decision: 'allowed', ...base }, { decision: 'allowed', key: base.key, lease: base.lease }],
  [
    'a busy denial names the holder',
    { decision: 'denied-busy', ...base, detail: { kind: 'busy', holder: holder('we-1'), pending: false } },
    { decision: 'denied-busy', key: base.key, lease: base.lease, holder: 'prod/we-1' },
  ],
  [
    'a take-over names why and whom',
    {
      decision: 'allowed-takeover',
      ...base,
      detail: { kind: 'takeover', reason: 'holder-terminal', previous: holder('we-0') },
    },
    {
      decision: 'allowed-takeover',
      key: base.key,
      lease: base.lease,
      takeover: 'holder-terminal',
      'previous-holder': 'prod/we-0',
    },
  ],
  [
    'a failure names its code',
    { decision: 'denied-unavailable', ...base, detail: { kind: 'unverifiable', code: 'LG_STORE_TIMEOUT', cause: 'x' } },
    { decision: 'denied-unavailable', key: base.key, lease: base.lease, error: 'LG_STORE_TIMEOUT' },
  ],
  [
    'a bug names what was thrown',
    { decision: 'denied-internal', ...base, detail: { kind: 'internal', error: 'TypeError: x' } },
    { decision: 'denied-internal', key: base.key, lease: base.lease, error: 'TypeError: x' },
  ],
  ['an invalid key: the decision alone', { decision: 'denied-invalid', rule }, { decision: 'denied-invalid' }],
  [
    'empty values are left out',
    { decision: 'denied-internal', rule, key: '', lease: base.lease, detail: { kind: 'internal', error: '' } },
    { decision: 'denied-internal', lease: base.lease },
  ],
];
for (const [name, result, expected] of cases) {
  test(`auditAnnotations: ${name}`, (t) => {
    t.deepEqual(auditAnnotations(result), expected);
  });
}

test('auditAnnotations: values are clipped to 2 KiB', (t) => {
  const key = 'k'.repeat(5000);
  const a = auditAnnotations({ decision: 'allowed', rule, key })!;
  t.is(a.key, `${'k'.repeat(2048)}…`);
  t.is(auditAnnotations({ decision: 'allowed', rule, key: 'k'.repeat(2048) })!.key, 'k'.repeat(2048));
});

// The busy denial's shape (docs/denials.md): what a client reads, and what a requester in
// another namespace must not learn.
import test from 'ava';
import { BusyCauses, busyStatus, rfc3339Seconds, type BusyFacts } from '../../src/admission/busy-denial.js';
import type { LockRecord } from '../../src/core/lock-record.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';

const RR = DEFAULT_RULES.find((r) => r.kind === 'RemediationRequest')!;
const FP = 'a'.repeat(64);
const T0 = new Date('2026-11-22T12:00:00.000Z');

const holder = (over: Partial<LockRecord['object']> = {}): LockRecord => ({
  key: FP,
  object: {
    group: 'kubernaut.ai',
    kind: 'RemediationRequest',
    namespace: 'kubernaut-system',
    name: 'rr-aaaa-1',
    uid: 'uid-holder-1',
    ...over,
  },
  requester: { username: 'system:serviceaccount:kubernaut-system:gateway', pod: 'gateway-7d9f' },
  state: 'pending',
  acquiredAt: T0,
  renewedAt: T0,
  transitions: 0,
});

const facts = (over: Partial<BusyFacts> = {}): BusyFacts => ({
  rule: RR,
  key: FP,
  holder: holder(),
  ageMs: 3_000,
  lease: 'leaseguard-system/remediationrequest-aaaa-0123',
  requestNamespace: 'kubernaut-system',
  ...over,
});

const pending = { retryAfterSeconds: 18, until: new Date(T0.getTime() + 17_400) };
const causeTypes = (s: ReturnType<typeof busyStatus>) =>
  (s.details?.causes ?? []).map((c) => `${c.reason}@${c.field ?? ''}`);
const cause = (s: ReturnType<typeof busyStatus>, type: string) => s.details?.causes?.find((c) => c.reason === type);

interface Case {
  name: string;
  facts: BusyFacts;
  causes: string[];
  details: Record<string, unknown>;
  message: RegExp;
  /** Text that must appear nowhere in the status (message, details, causes). */
  hidden?: string[];
  pendingUntil?: string;
}

const cases: Case[] = [
  {
    name: 'same namespace, holder stored: names it (group, kind, name, uid) and its namespace',
    facts: facts(),
    causes: [
      'FieldValueDuplicate@spec.signalFingerprint',
      'LockHolder@metadata.name',
      'LockLease@metadata.annotations',
      'LockHolderNamespace@metadata.namespace',
    ],
    details: { group: 'kubernaut.ai', kind: 'RemediationRequest', name: 'rr-aaaa-1', uid: 'uid-holder-1' },
    message:
      /^fingerprint "a{64}" is busy: held by remediationrequest kubernaut-system\/rr-aaaa-1 \(requested by system:serviceaccount:kubernaut-system:gateway on pod gateway-7d9f, 3s ago\); retry after it completes$/,
  },
  {
    name: 'same namespace, holder pending: a LockPending cause with when its window ends, and retryAfterSeconds',
    facts: facts({ pending }),
    causes: [
      'FieldValueDuplicate@spec.signalFingerprint',
      'LockHolder@metadata.name',
      'LockLease@metadata.annotations',
      'LockHolderNamespace@metadata.namespace',
      'LockPending@',
    ],
    details: { name: 'rr-aaaa-1', uid: 'uid-holder-1', retryAfterSeconds: 18 },
    message:
      /held by remediationrequest kubernaut-system\/rr-aaaa-1 .*; it may not be stored yet, so the lock is pending until 2026-11-22T12:00:18Z \(by then it is stored or the key is free\); retry after it completes$/,
    pendingUntil: '2026-11-22T12:00:18Z',
  },
  {
    name: 'another namespace, holder stored: no name, uid, namespace, user or pod anywhere',
    facts: facts({ requestNamespace: 'tenant-b' }),
    causes: [
      'FieldValueDuplicate@spec.signalFingerprint',
      'LockHolderHidden@metadata.namespace',
      'LockLease@metadata.annotations',
    ],
    details: { group: 'kubernaut.ai', kind: 'RemediationRequest' },
    message: /^fingerprint "a{64}" is busy: held by an object in another namespace; retry after it completes$/,
    hidden: ['rr-aaaa-1', 'uid-holder-1', 'kubernaut-system', 'gateway', '3s ago'],
  },
  {
    name: 'another namespace, holder pending: the timing stays, the holder does not',
    facts: facts({ requestNamespace: 'tenant-b', pending }),
    causes: [
      'FieldValueDuplicate@spec.signalFingerprint',
      'LockHolderHidden@metadata.namespace',
      'LockLease@metadata.annotations',
      'LockPending@',
    ],
    details: { retryAfterSeconds: 18 },
    message:
      /^fingerprint "a{64}" is busy: held by an object in another namespace; it may not be stored yet, so the lock is pending until 2026-11-22T12:00:18Z/,
    hidden: ['rr-aaaa-1', 'uid-holder-1', 'kubernaut-system', 'gateway'],
    pendingUntil: '2026-11-22T12:00:18Z',
  },
  {
    name: 'a cluster-scoped holder asked for by a cluster-scoped object: named, with no namespace cause',
    facts: facts({ holder: holder({ namespace: '' }), requestNamespace: '' }),
    causes: [
      'FieldValueDuplicate@spec.signalFingerprint',
      'LockHolder@metadata.name',
      'LockLease@metadata.annotations',
    ],
    details: { name: 'rr-aaaa-1', uid: 'uid-holder-1' },
    message: /held by remediationrequest rr-aaaa-1 /,
  },
  {
    name: 'a lock recorded without a UID (by hand, or an older leaseguard): no details.uid rather than an empty one',
    facts: facts({ holder: holder({ uid: '' }) }),
    causes: [
      'FieldValueDuplicate@spec.signalFingerprint',
      'LockHolder@metadata.name',
      'LockLease@metadata.annotations',
      'LockHolderNamespace@metadata.namespace',
    ],
    details: { name: 'rr-aaaa-1' },
    message: /held by remediationrequest kubernaut-system\/rr-aaaa-1 /,
  },
];

for (const c of cases) {
  test(`busy denial: ${c.name}`, (t) => {
    const s = busyStatus(c.facts);
    t.is(s.code, 409);
    t.is(s.reason, 'Conflict');
    t.deepEqual(causeTypes(s), c.causes);
    t.like(s.details, c.details);
    t.regex(s.message, c.message);
    t.is(cause(s, BusyCauses.pending)?.message, c.pendingUntil);
    t.is(s.details?.retryAfterSeconds, c.facts.pending?.retryAfterSeconds);
    if (!c.facts.holder.object.uid || c.hidden) t.false('uid' in (s.details ?? {}), 'no details.uid');
    for (const text of c.hidden ?? []) t.false(JSON.stringify(s).includes(text), `${text} leaks`);
  });
}

test('busy denial: the namespace cause carries the holder namespace alone, the holder cause namespace/name', (t) => {
  const s = busyStatus(facts());
  t.is(cause(s, BusyCauses.holderNamespace)?.message, 'kubernaut-system');
  t.is(cause(s, BusyCauses.holder)?.message, 'kubernaut-system/rr-aaaa-1');
  t.is(cause(s, BusyCauses.lease)?.message, 'leaseguard-system/remediationrequest-aaaa-0123');
});

test('busy denial: a holder name with control characters is escaped in causes and message', (t) => {
  const s = busyStatus(facts({ holder: holder({ name: 'rr\u001b[31m' }) }));
  t.notRegex(JSON.stringify(s.details?.causes) + s.message, /\u001b/);
});

const times: Array<[string, string]> = [
  ['2026-11-22T12:00:18.000Z', '2026-11-22T12:00:18Z'],
  ['2026-11-22T12:00:17.001Z', '2026-11-22T12:00:18Z'],
  ['2026-11-22T23:59:59.500Z', '2026-11-23T00:00:00Z'],
];
for (const [at, want] of times) {
  test(`rfc3339Seconds: ${at} is ${want} (whole seconds, rounded up)`, (t) => {
    t.is(rfc3339Seconds(new Date(at)), want);
  });
}

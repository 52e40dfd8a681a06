import test from 'ava';
import { decide, type DecisionInput } from '../../src/core/decide.js';
import type { HolderState } from '../../src/core/holder.js';
import type { LockLease, LockRecord, ObjectRef } from '../../src/core/lock-record.js';

const T0 = new Date('2026-11-22T12:00:00.000Z');
const PENDING_MS = 30_000;
const at = (ms: number) => new Date(T0.getTime() + ms);

const ref = (name: string, uid: string, namespace = 'prod'): ObjectRef => ({
  group: 'kubernaut.ai',
  kind: 'WorkflowExecution',
  namespace,
  name,
  uid,
});

function held(over: Partial<LockRecord> = {}): LockRecord {
  return {
    key: 'prod/Deployment/api',
    object: ref('we-1', 'uid-1'),
    requester: { username: 'system:serviceaccount:kubernaut-system:ro', pod: 'ro-7d9f' },
    state: 'bound',
    acquiredAt: T0,
    renewedAt: T0,
    transitions: 0,
    ...over,
  };
}

/** The Lease's name; a holder is the one whose key maps to it. */
const LEASE = 'workflowexecution-prod-deployment-api-0123456789abcdef';

function lease(record: LockRecord | undefined): LockLease {
  return { name: LEASE, namespace: 'leaseguard-system', resourceVersion: '42', uid: 'lease-uid', record, format: 2 };
}

/**
 * By this table's convention the lock was first seen at T0, so `now: at(x)` means this
 * replica has known it for x ms; `ageMs` alone sets that age whatever the wall clock says.
 */
function input(over: Partial<DecisionInput> = {}): DecisionInput {
  const now = over.now ?? at(0);
  return {
    request: { key: 'prod/Deployment/api', object: ref('we-2', 'uid-2'), requester: { username: 'alice' } },
    lease: null,
    now,
    ageMs: now.getTime() - T0.getTime(),
    pendingTimeoutMs: PENDING_MS,
    ...over,
  };
}

const KEY = 'prod/Deployment/api';
const live: HolderState = { kind: 'live', uid: 'uid-1', phase: 'Running', lease: LEASE };
const terminal: HolderState = { kind: 'terminal', uid: 'uid-1', phase: 'Completed', lease: LEASE };
/** An object at the holder's name that is not the holder: another key, another UID, no key. */
const liveOtherKey: HolderState = { ...live, lease: 'workflowexecution-prod-deployment-other-fedcba9876543210' };
const liveOtherUid: HolderState = { ...live, uid: 'uid-forged' };
const liveNoKey: HolderState = { ...live, lease: undefined };
const terminalOtherKey: HolderState = {
  ...terminal,
  lease: 'workflowexecution-prod-deployment-other-fedcba9876543210',
};
const terminalOtherUid: HolderState = { ...terminal, uid: 'uid-forged' };
const gone: HolderState = { kind: 'gone' };
const unverifiable: HolderState = { kind: 'unverifiable' };

interface Case {
  name: string;
  in: DecisionInput;
  action: ReturnType<typeof decide>['action'];
  reason?: import('../../src/core/decide.js').TakeoverReason;
  check?: (t: import('ava').ExecutionContext, d: ReturnType<typeof decide>) => void;
}

const cases: Case[] = [
  { name: 'no Lease: create', in: input(), action: 'create' },
  {
    name: 'Lease records another key: never shared',
    in: input({ lease: lease(held({ key: 'prod/Deployment/api-other' })) }),
    action: 'deny-foreign',
  },
  {
    name: 'Lease records another kind with the same key: never shared',
    in: input({ lease: lease(held({ object: { ...ref('rr-1', 'uid-1'), kind: 'RemediationRequest' } })) }),
    action: 'deny-foreign',
  },
  { name: 'unreadable Lease: never shared', in: input({ lease: lease(undefined) }), action: 'deny-foreign' },
  {
    name: 'same object, same uid (webhook call retried): allowed without a write',
    in: input({
      request: { key: 'prod/Deployment/api', object: ref('we-1', 'uid-1'), requester: { username: 'x' } },
      lease: lease(held()),
    }),
    action: 'retry',
    check: (t, d) => t.is(d.action === 'retry' && d.record, null),
  },
  {
    name: 'same object, new uid, not read yet: read it',
    in: input({
      request: { key: 'prod/Deployment/api', object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held()),
    }),
    action: 'read-holder',
  },
  {
    name: 'same object retried while stored: keeps the stored uid',
    in: input({
      request: { key: 'prod/Deployment/api', object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held()),
      holder: live,
    }),
    action: 'retry',
    check: (t, d) => t.is(d.action === 'retry' && d.record, null),
  },
  {
    name: 'same object retried, stored under another uid than recorded: learns the stored uid',
    in: input({
      request: { key: 'prod/Deployment/api', object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held({ object: ref('we-1', 'uid-0'), state: 'pending' })),
      holder: live,
    }),
    action: 'retry',
    check: (t, d) => t.is(d.action === 'retry' ? d.record?.object.uid : 'x', 'uid-1'),
  },
  {
    name: 'same object retried, nothing stored: records the new attempt',
    in: input({
      request: { key: 'prod/Deployment/api', object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held({ state: 'pending' })),
      holder: gone,
      now: at(5_000),
    }),
    action: 'retry',
    check: (t, d) => {
      if (d.action !== 'retry' || !d.record) return t.fail('expected a record');
      t.is(d.record.object.uid, 'uid-9');
      t.is(d.record.state, 'pending');
      t.deepEqual(d.record.acquiredAt, at(5_000));
      t.is(d.record.requester.username, 'x');
    },
  },
  {
    name: 'same name in another namespace is not the same object',
    in: input({
      request: { key: 'prod/Deployment/api', object: ref('we-1', 'uid-1', 'staging'), requester: { username: 'x' } },
      lease: lease(held()),
      holder: live,
    }),
    action: 'deny-busy',
  },
  {
    name: 'young pending Lease, not read yet: read the holder',
    in: input({ lease: lease(held({ state: 'pending' })), now: at(PENDING_MS - 1) }),
    action: 'read-holder',
  },
  {
    // Read live with the lock's key and UID, it is stored: not pending, whatever the label says.
    name: 'young pending Lease, holder stored and live: busy, not pending',
    in: input({ lease: lease(held({ state: 'pending' })), holder: live, now: at(PENDING_MS - 1) }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending : 'none', undefined),
  },
  {
    name: 'young pending Lease, holder stored and already finished: taken over',
    in: input({ lease: lease(held({ state: 'pending' })), holder: terminal, now: at(1_000) }),
    action: 'take-over',
    reason: 'holder-terminal',
  },
  {
    name: 'young pending Lease: busy even when the holder reads as gone',
    in: input({ lease: lease(held({ state: 'pending' })), holder: gone, now: at(1_000) }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending?.retryAfterSeconds : -1, 29),
  },
  {
    name: 'pending Lease exactly at the pending timeout: the holder is read',
    in: input({ lease: lease(held({ state: 'pending' })), now: at(PENDING_MS) }),
    action: 'read-holder',
  },
  {
    name: 'pending Lease at the timeout, holder never stored: reclaimed',
    in: input({ lease: lease(held({ state: 'pending' })), holder: gone, now: at(PENDING_MS) }),
    action: 'take-over',
    reason: 'pending-expired',
  },
  {
    name: 'pending Lease past the timeout, holder stored and live: busy',
    in: input({ lease: lease(held({ state: 'pending' })), holder: live, now: at(PENDING_MS + 1) }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending?.retryAfterSeconds : -1, undefined),
  },
  { name: 'bound Lease, not read yet: read the holder', in: input({ lease: lease(held()) }), action: 'read-holder' },
  { name: 'bound Lease, holder live: busy', in: input({ lease: lease(held()), holder: live }), action: 'deny-busy' },
  {
    name: 'bound Lease, holder terminal: taken over',
    in: input({ lease: lease(held()), holder: terminal }),
    action: 'take-over',
    reason: 'holder-terminal',
  },
  {
    name: 'bound Lease, holder deleted: taken over',
    in: input({ lease: lease(held()), holder: gone }),
    action: 'take-over',
    reason: 'holder-gone',
  },
  {
    name: 'embedded store: holder counts as live before the pending timeout',
    in: input({ lease: lease(held({ state: 'pending' })), holder: unverifiable, now: at(PENDING_MS - 1) }),
    action: 'deny-busy',
  },
  {
    name: 'embedded store: bound Lease younger than the timeout stays busy, not pending',
    in: input({ lease: lease(held()), holder: unverifiable, now: at(PENDING_MS - 1) }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending : 'none', undefined),
  },
  {
    name: 'embedded store: exactly at the pending timeout the Lease expires',
    in: input({ lease: lease(held({ state: 'pending' })), holder: unverifiable, now: at(PENDING_MS) }),
    action: 'take-over',
    reason: 'expired',
  },
  {
    name: 'max hold reached: taken over without reading the holder',
    in: input({ lease: lease(held()), maxHoldMs: 600_000, now: at(600_000) }),
    action: 'take-over',
    reason: 'max-hold-exceeded',
  },
  {
    name: 'max hold not yet reached: holder decides',
    in: input({ lease: lease(held()), maxHoldMs: 600_000, now: at(599_999), holder: live }),
    action: 'deny-busy',
  },
  {
    name: 'Lease written by a clock ahead of ours, first seen now: busy, never expired',
    in: input({
      lease: lease(held({ state: 'pending', acquiredAt: at(60_000) })),
      holder: unverifiable,
      now: at(0),
      ageMs: 0,
    }),
    action: 'deny-busy',
  },
  // Ages are this replica's own: a Lease whose wall-clock time says it is old proves nothing.
  {
    name: 'pending Lease whose recorded time is 10 minutes old, first seen 1 s ago: busy even when the holder reads as gone',
    in: input({
      lease: lease(held({ state: 'pending', acquiredAt: at(-600_000) })),
      holder: gone,
      now: at(0),
      ageMs: 1_000,
    }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending?.retryAfterSeconds : -1, 29),
  },
  {
    name: 'embedded store: a Lease whose recorded time is old but first seen 1 s ago stays busy',
    in: input({ lease: lease(held({ acquiredAt: at(-600_000) })), holder: unverifiable, now: at(0), ageMs: 1_000 }),
    action: 'deny-busy',
  },
  {
    name: 'max hold counts from first sight, not from the recorded time',
    in: input({
      lease: lease(held({ acquiredAt: at(-6_000_000) })),
      maxHoldMs: 600_000,
      now: at(0),
      ageMs: 599_999,
      holder: live,
    }),
    action: 'deny-busy',
  },
  {
    name: 'pending Lease older than max hold by the recorded time but young by first sight: busy',
    in: input({
      lease: lease(held({ state: 'pending', acquiredAt: at(-6_000_000) })),
      maxHoldMs: 600_000,
      holder: gone,
      ageMs: 10,
    }),
    action: 'deny-busy',
  },
  {
    name: 'pending Lease within its timeout and past max hold: max hold does not cut the pending window',
    in: input({ lease: lease(held({ state: 'pending' })), maxHoldMs: 20_000, holder: gone, ageMs: 25_000 }),
    action: 'deny-busy',
  },
  // A holder is the object with the Lease's key and, where recorded, UID.
  {
    name: 'young pending Lease, a finished object of another key at the holder name: busy (the holder may be in flight)',
    in: input({ lease: lease(held({ state: 'pending' })), holder: terminalOtherKey, now: at(1_000) }),
    action: 'deny-busy',
  },
  {
    name: 'young pending Lease, a finished object with another UID at the holder name: busy',
    in: input({ lease: lease(held({ state: 'pending' })), holder: terminalOtherUid, now: at(1_000) }),
    action: 'deny-busy',
  },
  {
    name: 'young pending Lease naming a live object of another key: busy until the pending timeout',
    in: input({ lease: lease(held({ state: 'pending' })), holder: liveOtherKey, now: at(PENDING_MS - 1) }),
    action: 'deny-busy',
  },
  {
    name: 'pending Lease at the timeout naming a live object of another key: taken over',
    in: input({ lease: lease(held({ state: 'pending' })), holder: liveOtherKey, now: at(PENDING_MS) }),
    action: 'take-over',
    reason: 'holder-mismatch',
  },
  {
    name: 'pending Lease at the timeout naming a live object with another UID: taken over',
    in: input({ lease: lease(held({ state: 'pending' })), holder: liveOtherUid, now: at(PENDING_MS) }),
    action: 'take-over',
    reason: 'holder-mismatch',
  },
  {
    name: 'bound Lease naming a live object of another key: taken over',
    in: input({ lease: lease(held()), holder: liveOtherKey }),
    action: 'take-over',
    reason: 'holder-mismatch',
  },
  {
    name: 'bound Lease naming a live object with another UID: taken over',
    in: input({ lease: lease(held()), holder: liveOtherUid }),
    action: 'take-over',
    reason: 'holder-mismatch',
  },
  {
    name: 'bound Lease naming a live object with no valid key: taken over',
    in: input({ lease: lease(held()), holder: liveNoKey }),
    action: 'take-over',
    reason: 'holder-mismatch',
  },
  {
    name: 'bound Lease naming a finished object of another key: taken over as a mismatch',
    in: input({ lease: lease(held()), holder: terminalOtherKey }),
    action: 'take-over',
    reason: 'holder-mismatch',
  },
  {
    name: 'Lease recording no UID: a live object with the key holds it, whatever its UID',
    in: input({ lease: lease(held({ object: ref('we-1', '') })), holder: liveOtherUid }),
    action: 'deny-busy',
  },
  {
    name: 'Lease records the same kind in another group: never shared',
    in: input({ lease: lease(held({ object: { ...ref('we-1', 'uid-1'), group: 'other.example.io' } })) }),
    action: 'deny-foreign',
  },
  {
    name: 'same object retried while an object of another key is stored under its name: allowed, the Lease left to its timeout',
    in: input({
      request: { key: KEY, object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held({ state: 'pending' })),
      holder: liveOtherKey,
    }),
    action: 'retry',
    check: (t, d) => t.is(d.action === 'retry' && d.record, null),
  },
  {
    name: 'same object retried while stored and finished: keeps the stored uid (AlreadyExists follows)',
    in: input({
      request: { key: KEY, object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held()),
      holder: terminal,
    }),
    action: 'retry',
    check: (t, d) => t.is(d.action === 'retry' && d.record, null),
  },
  {
    name: 'same object retried, stored holder reports no UID: allowed without a write',
    in: input({
      request: { key: KEY, object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held()),
      holder: { ...live, uid: '' },
    }),
    action: 'retry',
    check: (t, d) => t.is(d.action === 'retry' && d.record, null),
  },
  {
    name: 'same object retried on the embedded store: records the new attempt',
    in: input({
      request: { key: KEY, object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held({ state: 'pending' })),
      holder: unverifiable,
    }),
    action: 'retry',
    check: (t, d) => t.is(d.action === 'retry' ? d.record?.object.uid : 'none', 'uid-9'),
  },
  {
    name: 'same name in another namespace: another object, so busy (not a retry)',
    in: input({
      request: { key: KEY, object: ref('we-1', 'uid-9', 'staging'), requester: { username: 'x' } },
      lease: lease(held()),
      holder: live,
    }),
    action: 'deny-busy',
  },
  {
    name: 'retry, the stored object at that name has another key: allowed, the Lease left as it is',
    in: input({
      request: { key: KEY, object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held({ state: 'pending' })),
      holder: liveOtherKey,
    }),
    action: 'retry',
    check: (t, d) => t.is(d.action === 'retry' ? d.record : 'none', null),
  },
  {
    name: 'retry, the stored object at that name has another key and another UID: allowed, the Lease left as it is',
    in: input({
      request: { key: KEY, object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held({ state: 'pending' })),
      holder: { ...liveOtherKey, uid: 'uid-7' },
    }),
    action: 'retry',
    check: (t, d) => t.is(d.action === 'retry' ? d.record : 'none', null),
  },
  {
    name: 'bound, its holder live: busy, with no retry hint (it ends when the holder does)',
    in: input({ lease: lease(held()), holder: live, now: at(1000) }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending?.retryAfterSeconds : 'none', undefined),
  },
  {
    name: 'retry, the stored object shows no UID: allowed, nothing to learn',
    in: input({
      request: { key: KEY, object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held({ state: 'pending' })),
      holder: { ...live, uid: '' },
    }),
    action: 'retry',
    check: (t, d) => t.is(d.action === 'retry' ? d.record : 'none', null),
  },
  {
    name: 'retry, the stored object is the recorded one: allowed, nothing to write',
    in: input({
      request: { key: KEY, object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held({ state: 'pending' })),
      holder: live,
    }),
    action: 'retry',
    check: (t, d) => t.is(d.action === 'retry' ? d.record : 'none', null),
  },
  {
    name: 'retry, the stored object is terminal with the key and a new UID: the Lease learns it',
    in: input({
      request: { key: KEY, object: ref('we-1', 'uid-9'), requester: { username: 'x' } },
      lease: lease(held({ state: 'pending', object: ref('we-1', '') })),
      holder: { ...terminal, uid: 'uid-5' },
      now: at(7),
    }),
    action: 'retry',
    check: (t, d) => {
      t.is(d.action === 'retry' ? d.record?.object.uid : 'none', 'uid-5');
      t.deepEqual(d.action === 'retry' ? d.record?.renewedAt : 'none', at(7));
    },
  },
  {
    name: 'pending past the timeout, its holder stored and live: busy, with no retry hint',
    in: input({ lease: lease(held({ state: 'pending' })), holder: live, now: at(PENDING_MS + 5000) }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending?.retryAfterSeconds : 'none', undefined),
  },
  {
    name: 'pending exactly at the timeout, its holder live: busy, with no retry hint',
    in: input({ lease: lease(held({ state: 'pending' })), holder: live, now: at(PENDING_MS) }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending?.retryAfterSeconds : 'none', undefined),
  },
  {
    name: 'pending 1 ms before the timeout, not yet read: a holder read',
    in: input({ lease: lease(held({ state: 'pending' })), now: at(PENDING_MS - 1) }),
    action: 'read-holder',
  },
  {
    name: 'pending 1 ms before the timeout, its holder not stored: busy, retry in 1 s',
    in: input({ lease: lease(held({ state: 'pending' })), holder: gone, now: at(PENDING_MS - 1) }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending?.retryAfterSeconds : 'none', 1),
  },
  {
    name: 'pending, an object of another key at the holder name: still pending (the holder may be in flight)',
    in: input({ lease: lease(held({ state: 'pending' })), holder: liveOtherKey, now: at(1_000) }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending?.retryAfterSeconds : 'none', 29),
  },
  {
    name: 'pending, a live object with another UID at the holder name: still pending',
    in: input({ lease: lease(held({ state: 'pending' })), holder: liveOtherUid, now: at(1_000) }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending?.retryAfterSeconds : 'none', 29),
  },
  {
    name: 'embedded store, young pending Lease: pending (nothing can be read), retry when it expires',
    in: input({ lease: lease(held({ state: 'pending' })), holder: unverifiable, now: at(10_000) }),
    action: 'deny-busy',
    check: (t, d) => t.is(d.action === 'deny-busy' ? d.pending?.retryAfterSeconds : 'none', 20),
  },
  {
    name: 'max hold reached exactly: taken over',
    in: input({ lease: lease(held()), holder: live, maxHoldMs: 60_000, ageMs: 60_000 }),
    action: 'take-over',
    reason: 'max-hold-exceeded',
  },
  {
    name: 'max hold 1 ms short: busy',
    in: input({ lease: lease(held()), holder: live, maxHoldMs: 60_000, ageMs: 59_999 }),
    action: 'deny-busy',
  },
  {
    name: 'max hold 0 means none',
    in: input({ lease: lease(held()), holder: live, maxHoldMs: 0, ageMs: 10_000_000 }),
    action: 'deny-busy',
  },
  {
    name: 'max hold reached, not yet read: taken over without a holder read',
    in: input({ lease: lease(held()), maxHoldMs: 60_000, ageMs: 60_000 }),
    action: 'take-over',
    reason: 'max-hold-exceeded',
  },
  {
    name: 'max hold against a young pending Lease: the pending window comes first',
    in: input({ lease: lease(held({ state: 'pending' })), holder: live, maxHoldMs: 1000, ageMs: 5000 }),
    action: 'deny-busy',
  },
];

for (const c of cases) {
  test(`decide: ${c.name}`, (t) => {
    const d = decide(c.in);
    t.is(d.action, c.action);
    if (c.reason) t.is(d.action === 'take-over' ? d.reason : undefined, c.reason);
    c.check?.(t, d);
  });
}

test('decide: a take-over records the new holder as pending and counts the transition', (t) => {
  const d = decide(input({ lease: lease(held({ transitions: 3 })), holder: terminal, now: at(90_000) }));
  if (d.action !== 'take-over') return t.fail(`expected take-over, got ${d.action}`);
  t.deepEqual(d.record.object, ref('we-2', 'uid-2'));
  t.is(d.record.state, 'pending');
  t.is(d.record.transitions, 4);
  t.deepEqual(d.record.acquiredAt, at(90_000));
  t.is(d.previous.object.name, 'we-1');
});

test('decide: a busy denial reports the holder and, for people, the time since its recorded request', (t) => {
  const d = decide(input({ lease: lease(held()), holder: live, now: at(41_000), ageMs: 3_000 }));
  if (d.action !== 'deny-busy') return t.fail(`expected deny-busy, got ${d.action}`);
  t.is(d.holder.object.name, 'we-1');
  t.is(d.ageMs, 41_000);
});

test('decide: a pending holder frees its key by `until`: now plus the whole seconds left, by this replica', (t) => {
  const d = decide(input({ lease: lease(held({ state: 'pending' })), holder: gone, now: at(60_000), ageMs: 12_700 }));
  if (d.action !== 'deny-busy' || !d.pending) return t.fail(`expected a pending busy, got ${JSON.stringify(d)}`);
  t.is(d.pending.retryAfterSeconds, 18); // 17.3 s left, rounded up
  t.deepEqual(d.pending.until, at(60_000 + 18_000));
});

test('decide: a shown age is never negative (a holder whose clock runs ahead)', (t) => {
  const d = decide(input({ lease: lease(held({ acquiredAt: at(60_000) })), holder: live, now: at(0), ageMs: 0 }));
  t.is(d.action === 'deny-busy' ? d.ageMs : -1, 0);
});

test('decide: a new Lease records requester, object and key', (t) => {
  const d = decide(input({ now: at(7) }));
  if (d.action !== 'create') return t.fail();
  t.deepEqual(d.record, {
    key: 'prod/Deployment/api',
    object: ref('we-2', 'uid-2'),
    requester: { username: 'alice' },
    state: 'pending',
    acquiredAt: at(7),
    renewedAt: at(7),
    transitions: 0,
  });
});

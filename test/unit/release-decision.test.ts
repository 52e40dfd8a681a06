import test from 'ava';
import type { LockRecord } from '../../src/core/lock-record.js';
import { isHolder, type HolderState } from '../../src/core/holder.js';
import { decideRelease, needsAge, type ReleaseInput, type ReleaseReason } from '../../src/core/release-decision.js';

const T0 = new Date('2026-11-22T12:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const record = (over: Partial<LockRecord> = {}): LockRecord => ({
  key: 'k',
  object: { group: 'kubernaut.ai', kind: 'WorkflowExecution', namespace: 'prod', name: 'we-1', uid: 'uid-1' },
  requester: { username: 'u' },
  state: 'bound',
  acquiredAt: T0,
  renewedAt: T0,
  transitions: 0,
  ...over,
});
const LEASE = 'workflowexecution-k-0123456789abcdef';
/** An object at the holder's name: by default the holder itself, running. */
const present = (
  o: { uid?: string; lease?: string | undefined; terminal?: boolean; phase?: string } = {},
): HolderState => {
  const { terminal, ...rest } = o;
  return { kind: terminal ? 'terminal' : 'live', uid: 'uid-1', lease: LEASE, phase: 'Running', ...rest };
};
/** By this table's convention the lock was first seen at T0: `now: at(x)` means an age of x ms unless `ageMs` says otherwise. */
const input = (over: Partial<ReleaseInput>): ReleaseInput => {
  const now = over.now ?? at(1000);
  return {
    leaseName: LEASE,
    record: record(),
    holder: present(),
    source: 'cache',
    trigger: 'watch',
    now,
    ageMs: now.getTime() - T0.getTime(),
    pendingTimeoutMs: 30_000,
    ...over,
  };
};

type D = ReturnType<typeof decideRelease>;
const cases: Array<[string, Partial<ReleaseInput>, D['action'], ReleaseReason?]> = [
  ['bound and live: keep', {}, 'keep'],
  [
    'pending and seen stored: keep, nothing written (its Lease recorded the UID at admission)',
    { record: record({ state: 'pending' }) },
    'keep',
  ],
  [
    'pending and seen stored, read live: keep',
    { record: record({ state: 'pending' }), holder: present(), source: 'live' },
    'keep',
  ],
  [
    'bound, same name, another uid (recreated behind the lock): not the holder, confirm live',
    { holder: present({ uid: 'uid-2' }) },
    'confirm-absent',
  ],
  [
    'bound, same name, another uid, read live: released',
    { holder: present({ uid: 'uid-2' }), source: 'live' },
    'release',
    'deleted',
  ],
  [
    'pending, an object of another key at the holder name (cache): confirm live, never bind',
    { record: record({ state: 'pending' }), holder: present({ lease: 'workflowexecution-other-fedcba9876543210' }) },
    'confirm-absent',
  ],
  [
    'pending, an object of another key at the holder name (live), young: keep, never bind',
    {
      record: record({ state: 'pending' }),
      holder: present({ lease: 'workflowexecution-other-fedcba9876543210' }),
      source: 'live',
      now: at(29_999),
    },
    'keep',
  ],
  [
    'pending, an object of another key (live), at the timeout: expired',
    {
      record: record({ state: 'pending' }),
      holder: present({ lease: 'workflowexecution-other-fedcba9876543210' }),
      source: 'live',
      now: at(30_000),
    },
    'release',
    'expired',
  ],
  [
    'pending, an object with another uid (live), young: keep',
    { record: record({ state: 'pending' }), holder: present({ uid: 'uid-2' }), source: 'live', now: at(500) },
    'keep',
  ],
  [
    'pending, an object with no valid key (live), young: keep',
    { record: record({ state: 'pending' }), holder: present({ lease: undefined }), source: 'live', now: at(500) },
    'keep',
  ],
  [
    'pending, a finished object of another key (live): not completed, keep while young',
    {
      record: record({ state: 'pending' }),
      holder: present({ lease: 'x', terminal: true }),
      source: 'live',
      now: at(500),
    },
    'keep',
  ],
  [
    'a Lease recording no uid: the stored object with its key binds it',
    { record: record({ object: { ...record().object, uid: '' } }), holder: present({ uid: 'uid-7' }) },
    'bind',
  ],
  [
    'pending, recorded 10 minutes ago but first seen just now: keep',
    {
      record: record({ state: 'pending', acquiredAt: at(-600_000) }),
      holder: { kind: 'gone' },
      source: 'live',
      now: at(0),
      ageMs: 10,
    },
    'keep',
  ],
  [
    'max hold: counts from first sight, not the recorded time',
    { record: record({ acquiredAt: at(-6_000_000) }), maxHoldMs: 60_000, ageMs: 59_999 },
    'keep',
  ],
  ['max hold 0 means none', { maxHoldMs: 0, ageMs: 10_000_000 }, 'keep'],
  [
    'pending, seen deleted by a sweep: swept',
    {
      record: record({ state: 'pending' }),
      holder: { kind: 'gone', deletedUid: 'uid-1' },
      source: 'live',
      trigger: 'sweep',
      now: at(500),
    },
    'release',
    'swept',
  ],
  [
    'pending, seen deleted with an empty uid: keep while young',
    {
      record: record({ state: 'pending', object: { ...record().object, uid: '' } }),
      holder: { kind: 'gone', deletedUid: '' },
      source: 'live',
      now: at(500),
    },
    'keep',
  ],
  [
    'terminal, seen by the watch: completed',
    { holder: present({ terminal: true, phase: 'Completed' }) },
    'release',
    'completed',
  ],
  ['terminal, found by a sweep: swept', { holder: present({ terminal: true }), trigger: 'sweep' }, 'release', 'swept'],
  [
    'terminal while still pending: released',
    { record: record({ state: 'pending' }), holder: present({ terminal: true }) },
    'release',
    'completed',
  ],
  ['absent in the cache: confirm with a live read', { holder: { kind: 'gone' } }, 'confirm-absent'],
  ['bound, absent live: deleted', { holder: { kind: 'gone' }, source: 'live' }, 'release', 'deleted'],
  [
    'bound, absent live, found by a sweep: swept',
    { holder: { kind: 'gone' }, source: 'live', trigger: 'sweep' },
    'release',
    'swept',
  ],
  [
    'pending, absent live, young: keep',
    { record: record({ state: 'pending' }), holder: { kind: 'gone' }, source: 'live', now: at(29_999) },
    'keep',
  ],
  [
    'pending, seen deleted with the recorded uid: released at once',
    {
      record: record({ state: 'pending' }),
      holder: { kind: 'gone', deletedUid: 'uid-1' },
      source: 'live',
      now: at(500),
    },
    'release',
    'deleted',
  ],
  [
    'pending, a deleted object with another uid: keep',
    {
      record: record({ state: 'pending' }),
      holder: { kind: 'gone', deletedUid: 'uid-other' },
      source: 'live',
      now: at(500),
    },
    'keep',
  ],
  [
    'pending, absent live, at the timeout: expired',
    { record: record({ state: 'pending' }), holder: { kind: 'gone' }, source: 'live', now: at(30_000) },
    'release',
    'expired',
  ],
  ['max hold reached, live holder: expired', { maxHoldMs: 60_000, now: at(60_000) }, 'release', 'expired'],
  ['max hold not reached: keep', { maxHoldMs: 60_000, now: at(59_999) }, 'keep'],
];

for (const [name, over, action, reason] of cases) {
  test(`decideRelease: ${name}`, (t) => {
    const d = decideRelease(input(over));
    t.is(d.action, action);
    if (reason) t.is(d.action === 'release' ? d.reason : undefined, reason);
  });
}

test('decideRelease: a young pending Lease is looked at again when its timeout passes', (t) => {
  const d = decideRelease(
    input({ record: record({ state: 'pending' }), holder: { kind: 'gone' }, source: 'live', now: at(10_000) }),
  );
  t.deepEqual(d, { action: 'keep', recheckAfterMs: 20_000 });
});

test('decideRelease: binding a Lease that recorded no uid records the state and does not restart the hold', (t) => {
  const d = decideRelease(
    input({ record: record({ state: 'pending', object: { ...record().object, uid: '' } }), holder: present() }),
  );
  if (d.action !== 'bind') return t.fail();
  t.is(d.record.state, 'bound');
  t.is(d.record.object.uid, 'uid-1');
  t.deepEqual(d.record.acquiredAt, T0, 'binding does not restart the hold');
});

test('decideRelease: a Lease recording no uid learns the stored one', (t) => {
  const d = decideRelease(
    input({
      record: record({ state: 'pending', object: { ...record().object, uid: '' } }),
      holder: present({ uid: 'stored' }),
    }),
  );
  t.is(d.action === 'bind' ? d.record.object.uid : undefined, 'stored');
});

test('decideRelease: a bound live holder under a max hold is looked at again when the hold ends', (t) => {
  t.deepEqual(decideRelease(input({ maxHoldMs: 60_000, ageMs: 45_000 })), { action: 'keep', recheckAfterMs: 15_000 });
  t.deepEqual(decideRelease(input({})), { action: 'keep' }, 'without a max hold, no recheck');
});

test('decideRelease: a bind renews the record at now and keeps everything else', (t) => {
  const noUid = { ...record().object, uid: '' };
  const d = decideRelease(
    input({ record: record({ state: 'pending', transitions: 3, object: noUid }), holder: present(), now: at(4321) }),
  );
  t.deepEqual(d, { action: 'bind', record: { ...record({ transitions: 3 }), state: 'bound', renewedAt: at(4321) } });
});

test('decideRelease: a holder of another UID read from the cache is checked live, whatever the trigger', (t) => {
  t.deepEqual(decideRelease(input({ holder: present({ uid: 'uid-2' }), trigger: 'sweep' })), {
    action: 'confirm-absent',
  });
});

test('decideRelease: a pending Lease whose object was seen deleted under another UID waits out its timeout', (t) => {
  const d = decideRelease(
    input({
      record: record({ state: 'pending' }),
      holder: { kind: 'gone', deletedUid: 'uid-other' },
      source: 'live',
      ageMs: 10_000,
    }),
  );
  t.deepEqual(d, { action: 'keep', recheckAfterMs: 20_000 });
});

const holderCases: Array<[string, HolderState, Partial<LockRecord>, boolean]> = [
  ['the object of the key, with the recorded UID', present(), {}, true],
  [
    'the object of the key, the Lease recording no UID',
    present({ uid: 'any' }),
    { object: { ...record().object, uid: '' } },
    true,
  ],
  ['the object of the key with another UID', present({ uid: 'uid-2' }), {}, false],
  [
    'an object of another key (another Lease)',
    present({ lease: 'workflowexecution-other-0000000000000000' }),
    {},
    false,
  ],
  ['an object with no valid key', present({ lease: undefined }), {}, false],
  ['no object', { kind: 'gone' }, {}, false],
  ['nothing could be read', { kind: 'unverifiable' }, {}, false],
];
for (const [name, holder, over, holds] of holderCases) {
  test(`isHolder: ${name}: ${holds}`, (t) => {
    t.is(isHolder(LEASE, record(over), holder), holds);
  });
}

const ageCases: Array<[string, HolderState, number | undefined, boolean]> = [
  ['a stored holder: no age, so a healthy lock is never remembered', present(), undefined, false],
  ['a stored holder under a max hold', present(), 60_000, true],
  ['a max hold of 0 is none', present(), 0, false],
  ['no holder', { kind: 'gone' }, undefined, true],
  ['an object that is not the holder', present({ uid: 'uid-2' }), undefined, true],
];
for (const [name, holder, maxHoldMs, needed] of ageCases) {
  test(`needsAge: ${name}: ${needed}`, (t) => {
    t.is(needsAge(LEASE, record({ state: 'pending' }), holder, maxHoldMs), needed);
  });
}

test('needsAge: every decision it spares the age of is the same at any age', (t) => {
  // What needsAge promises decideRelease: where it says false, ageMs changes nothing.
  for (const holder of [present(), present({ terminal: true })]) {
    for (const source of ['cache', 'live'] as const) {
      for (const state of ['pending', 'bound'] as const) {
        const over = { record: record({ state }), holder, source };
        t.false(needsAge(LEASE, over.record, holder, undefined));
        t.deepEqual(decideRelease(input({ ...over, ageMs: 0 })), decideRelease(input({ ...over, ageMs: 10_000_000 })));
      }
    }
  }
});

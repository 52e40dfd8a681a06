import test from 'ava';
import type { LockRecord } from '../../src/core/lock-record.js';
import { decideRelease, type HolderObservation, type ReleaseInput, type ReleaseReason } from '../../src/core/release-decision.js';

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
const present = (o: Partial<Extract<HolderObservation, { kind: 'present' }>> = {}): HolderObservation => ({
  kind: 'present',
  uid: 'uid-1',
  terminal: false,
  phase: 'Running',
  source: 'cache',
  ...o,
});
const input = (over: Partial<ReleaseInput>): ReleaseInput => ({
  record: record(),
  holder: present(),
  trigger: 'watch',
  now: at(1000),
  pendingTimeoutMs: 30_000,
  ...over,
});

type D = ReturnType<typeof decideRelease>;
const cases: Array<[string, Partial<ReleaseInput>, D['action'], ReleaseReason?]> = [
  ['bound and live: keep', {}, 'keep'],
  ['pending and now stored: bind', { record: record({ state: 'pending' }) }, 'bind'],
  ['bound, same name, new uid (recreated): rebind to the stored uid', { holder: present({ uid: 'uid-2' }) }, 'bind'],
  ['terminal, seen by the watch: completed', { holder: present({ terminal: true, phase: 'Completed' }) }, 'release', 'completed'],
  ['terminal, found by a sweep: swept', { holder: present({ terminal: true }), trigger: 'sweep' }, 'release', 'swept'],
  ['terminal while still pending: released', { record: record({ state: 'pending' }), holder: present({ terminal: true }) }, 'release', 'completed'],
  ['absent in the cache: confirm with a live read', { holder: { kind: 'absent', source: 'cache' } }, 'confirm-absent'],
  ['bound, absent live: deleted', { holder: { kind: 'absent', source: 'live' } }, 'release', 'deleted'],
  ['bound, absent live, found by a sweep: swept', { holder: { kind: 'absent', source: 'live' }, trigger: 'sweep' }, 'release', 'swept'],
  ['pending, absent live, young: keep', { record: record({ state: 'pending' }), holder: { kind: 'absent', source: 'live' }, now: at(29_999) }, 'keep'],
  ['pending, seen deleted with the recorded uid: released at once', { record: record({ state: 'pending' }), holder: { kind: 'absent', source: 'live', deletedUid: 'uid-1' }, now: at(500) }, 'release', 'deleted'],
  ['pending, a deleted object with another uid: keep', { record: record({ state: 'pending' }), holder: { kind: 'absent', source: 'live', deletedUid: 'uid-other' }, now: at(500) }, 'keep'],
  ['pending, absent live, at the timeout: expired', { record: record({ state: 'pending' }), holder: { kind: 'absent', source: 'live' }, now: at(30_000) }, 'release', 'expired'],
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
  const d = decideRelease(input({ record: record({ state: 'pending' }), holder: { kind: 'absent', source: 'live' }, now: at(10_000) }));
  t.deepEqual(d, { action: 'keep', recheckAfterMs: 20_000 });
});

test('decideRelease: binding records the stored uid and state', (t) => {
  const d = decideRelease(input({ record: record({ state: 'pending', object: { ...record().object, uid: 'attempt' } }), holder: present({ uid: 'stored' }) }));
  if (d.action !== 'bind') return t.fail();
  t.is(d.record.state, 'bound');
  t.is(d.record.object.uid, 'stored');
  t.deepEqual(d.record.acquiredAt, T0, 'binding does not restart the hold');
});

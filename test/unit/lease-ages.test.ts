// Lock ages from this process's own monotonic clock, from first sight of a holder's term.
import test from 'ava';
import type { LockLease, LockRecord } from '../../src/core/lock-record.js';
import { LeaseAges, termOf } from '../../src/lock/lease-ages.js';

const record = (over: Partial<LockRecord> = {}): LockRecord => ({
  key: 'k',
  object: { group: 'kubernaut.ai', kind: 'WorkflowExecution', namespace: 'prod', name: 'we-1', uid: 'uid-1' },
  requester: { username: 'u' },
  state: 'pending',
  acquiredAt: new Date('2026-01-01T00:00:00Z'),
  renewedAt: new Date('2026-01-01T00:00:00Z'),
  transitions: 0,
  ...over,
});
const lease = (rv: string, over: Partial<LockRecord> = {}, uid = 'lease-1'): LockLease => ({
  name: 'l',
  namespace: 'ns',
  resourceVersion: rv,
  uid,
  record: record(over),
  format: 2,
});

function setup() {
  const clock = { now: 1_000 };
  return { clock, ages: new LeaseAges({ monotonic: () => clock.now }) };
}

test('a term is aged from its first sight, whatever its recorded time says', (t) => {
  const { clock, ages } = setup();
  t.is(ages.ageOf(lease('1', { acquiredAt: new Date(0) })), 0, 'recorded in 1970, first seen now');
  clock.now += 2_500;
  t.is(ages.ageOf(lease('1', { acquiredAt: new Date(0) })), 2_500);
});

test('a bind (new version, same term) keeps the age; a take-over, a fresh retry or a recreated Lease starts anew', (t) => {
  const { clock, ages } = setup();
  ages.ageOf(lease('1'));
  clock.now += 5_000;
  t.is(ages.ageOf(lease('2', { state: 'bound', renewedAt: new Date() })), 5_000, 'bound: same term');
  t.is(ages.ageOf(lease('3', { transitions: 1, acquiredAt: new Date('2026-01-01T00:00:01Z') })), 0, 'taken over');
  clock.now += 1_000;
  t.is(
    ages.ageOf(
      lease('4', {
        transitions: 1,
        acquiredAt: new Date('2026-01-01T00:00:01Z'),
        object: { ...record().object, uid: 'uid-2' },
      }),
    ),
    0,
    'a new attempt of the same name',
  );
  clock.now += 1_000;
  t.is(
    ages.ageOf(
      lease(
        '1',
        { transitions: 1, acquiredAt: new Date('2026-01-01T00:00:01Z'), object: { ...record().object, uid: 'uid-2' } },
        'lease-2',
      ),
    ),
    0,
    'deleted and created again',
  );
});

test('the writer ages its own write from just before it was sent', (t) => {
  const { clock, ages } = setup();
  ages.wrote(lease('7'), 400);
  t.is(ages.ageOf(lease('7')), 600);
  clock.now += 100;
  t.is(ages.knownAge(lease('7')), 700);
});

test('an age at a moment before the first sight is 0, never negative', (t) => {
  const { ages } = setup();
  t.is(ages.ageOf(lease('1'), 0), 0);
});

test('knownAge records nothing: a Lease never seen has no age', (t) => {
  const { clock, ages } = setup();
  t.is(ages.knownAge(lease('1')), undefined);
  clock.now += 10_000;
  t.is(ages.ageOf(lease('1')), 0, 'knownAge did not count as a sighting');
});

test('a forgotten term is seen anew: later, never sooner', (t) => {
  const clock = { now: 0 };
  const ages = new LeaseAges({ monotonic: () => clock.now, generationSize: 2 });
  ages.ageOf(lease('1'));
  clock.now += 10_000;
  for (const name of ['a', 'b', 'c', 'd', 'e']) ages.ageOf({ ...lease('1'), name });
  t.is(ages.ageOf(lease('1')), 0);
});

test('a Lease that records no lock has no term', (t) => {
  t.is(termOf({ name: 'x', namespace: 'ns', resourceVersion: '1', uid: 'u', record: undefined, format: 2 }), undefined);
  t.is(
    setup().ages.ageOf({ name: 'x', namespace: 'ns', resourceVersion: '1', uid: 'u', record: undefined, format: 2 }),
    0,
  );
});

test('a term is a fixed 24 characters, and changes with each of its parts (the pieces joined cannot run into each other)', (t) => {
  const base = lease('1');
  const term = termOf(base)!;
  t.is(term.length, 24, 'a 128-bit digest, however long the names and UIDs');
  t.is(
    termOf(lease('2', { state: 'bound', renewedAt: new Date(5) })),
    term,
    'version, state and renewal are not the term',
  );
  const parts: Array<[string, LockLease]> = [
    ['Lease UID', lease('1', {}, 'lease-2')],
    ['acquired at', lease('1', { acquiredAt: new Date('2026-01-01T00:00:00.001Z') })],
    ['transitions', lease('1', { transitions: 1 })],
    ['object UID', lease('1', { object: { ...record().object, uid: 'uid-2' } })],
    ['object namespace', lease('1', { object: { ...record().object, namespace: 'prod2' } })],
    ['object name', lease('1', { object: { ...record().object, name: 'we-2' } })],
    [
      'where one part ends and the next begins',
      lease('1', { object: { ...record().object, namespace: 'prod/we', name: '1' } }),
    ],
  ];
  for (const [part, changed] of parts) t.not(termOf(changed), term, part);
});

// The bound on Leases (maxLeases): counted from a cheap read plus this replica's own
// creates since; an unknown count refuses nothing; a full budget reads again soon.
import test from 'ava';
import { pino } from 'pino';
import { ErrorCodes, hasCode } from '../../src/errors.js';
import { LeaseBudget } from '../../src/lock/lease-budget.js';

function budget(max: number, answers: Array<number | undefined | Error>) {
  const clock = { now: 0 };
  let reads = 0;
  const b = new LeaseBudget({
    max,
    logger: pino({ level: 'silent' }),
    now: () => clock.now,
    count: async () => {
      const a = answers[Math.min(reads++, answers.length - 1)];
      if (a instanceof Error) throw a;
      return a;
    },
  });
  return { b, clock, reads: () => reads };
}

test('before the count is known, and when the store cannot say, nothing is refused', async (t) => {
  const { b } = budget(1, [undefined]);
  t.false(b.full());
  t.notThrows(() => b.checkRoom());
  await b.refresh();
  t.is(b.count, undefined);
  t.false(b.full());
});

test('the count read plus the creates since: at the bound a new Lease is refused with STORE_FULL', async (t) => {
  const { b } = budget(3, [1]);
  await b.refresh();
  t.is(b.count, 1);
  b.created();
  t.false(b.full());
  b.created();
  t.is(b.count, 3);
  t.true(b.full());
  const err = t.throws(() => b.checkRoom());
  t.true(hasCode(err, ErrorCodes.STORE_FULL));
  t.regex(err.message, /about 3 Leases, its maximum \(maxLeases 3\)/);
});

test('a new read replaces the creates counted since; a failed read keeps the last count', async (t) => {
  const { b } = budget(10, [5, new Error('unavailable'), 2]);
  await b.refresh();
  b.created();
  t.is(b.count, 6);
  await b.refresh();
  t.is(b.count, 6, 'kept');
  await b.refresh();
  t.is(b.count, 2, 'releases show');
});

test('a full budget reads the count again, at most once a second', async (t) => {
  const { b, clock, reads } = budget(2, [2, 2, 1]);
  await b.refresh();
  t.is(reads(), 1);
  clock.now = 500;
  t.true(b.full());
  t.is(reads(), 1, 'read less than a second ago');
  clock.now = 1000;
  t.true(b.full());
  await b.refresh();
  t.is(reads(), 2, 'read again when full');
  clock.now = 2500;
  b.full();
  await b.refresh();
  t.false(b.full(), 'room made by a release shows');
});

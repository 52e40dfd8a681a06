import test from 'ava';
import { WorkQueue } from '../../src/release/work-queue.js';
import { sleep } from '../harness/wait.js';

test('a key added while waiting is merged, not doubled', async (t) => {
  const seen: Array<[string, string]> = [];
  const q = new WorkQueue<string>({
    workers: 1,
    handle: async (k, m) => void seen.push([k, m]),
    merge: (a, b) => `${a}+${b}`,
  });
  q.add('a', 'x');
  q.add('b', 'y');
  q.add('b', 'z');
  await q.drained();
  t.deepEqual(seen, [
    ['a', 'x'],
    ['b', 'y+z'],
  ]);
});

test('a key is never worked on twice at once; an add during work redoes it after', async (t) => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const q = new WorkQueue<number>({
    workers: 4,
    merge: (a, b) => a + b,
    handle: async () => {
      active++;
      runs++;
      maxActive = Math.max(maxActive, active);
      await sleep(20);
      active--;
    },
  });
  q.add('k', 1);
  await sleep(5);
  q.add('k', 1);
  q.add('k', 1);
  await sleep(60);
  await q.drained();
  t.is(maxActive, 1);
  t.is(runs, 2);
});

test('failures are retried with backoff', async (t) => {
  let attempts = 0;
  const errors: number[] = [];
  const q = new WorkQueue<null>({
    workers: 1,
    minBackoffMs: 5,
    merge: () => null,
    onError: (_k, _e, attempt) => errors.push(attempt),
    handle: async () => {
      attempts++;
      if (attempts < 3) throw new Error('boom');
    },
  });
  q.add('k', null);
  for (let i = 0; i < 50 && attempts < 3; i++) await sleep(10);
  t.is(attempts, 3);
  t.deepEqual(errors, [1, 2]);
});

test('stop drops waiting and scheduled work', async (t) => {
  let runs = 0;
  const q = new WorkQueue<null>({ workers: 1, merge: () => null, handle: async () => void runs++ });
  q.addAfter('later', 20, null);
  q.stop();
  q.add('now', null);
  await sleep(40);
  t.is(runs, 0);
});

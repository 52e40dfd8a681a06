import test from 'ava';
import { RepeatLimiter } from '../../src/admission/repeat-limiter.js';

// Each step: [key, time in ms, expected answer: undefined = left out, n = log it, n were left out before].
const cases: Array<{ title: string; steps: Array<[string, number, number | undefined]>; maxKeys?: number }> = [
  { title: 'the first occurrence is logged', steps: [['a', 0, 0]] },
  {
    title: 'repeats within the window are left out',
    steps: [
      ['a', 0, 0],
      ['a', 10, undefined],
      ['a', 999, undefined],
    ],
  },
  {
    title: 'the first after the window is logged with the count left out',
    steps: [
      ['a', 0, 0],
      ['a', 10, undefined],
      ['a', 20, undefined],
      ['a', 1000, 2],
      ['a', 1001, undefined],
    ],
  },
  {
    title: 'keys have their own windows',
    steps: [
      ['a', 0, 0],
      ['b', 1, 0],
      ['a', 2, undefined],
      ['b', 3, undefined],
    ],
  },
  {
    title: 'a quiet key starts afresh',
    steps: [
      ['a', 0, 0],
      ['a', 5000, 0],
    ],
  },
  {
    title: 'over maxKeys, closed windows are dropped first',
    maxKeys: 2,
    steps: [
      ['a', 0, 0],
      ['b', 500, 0],
      ['c', 1200, 0],
      ['b', 1300, undefined],
    ],
  },
  {
    title: 'over maxKeys with every window open, it starts afresh (logs more, never grows)',
    maxKeys: 2,
    steps: [
      ['a', 0, 0],
      ['b', 1, 0],
      ['c', 2, 0],
      ['a', 3, 0],
    ],
  },
];

for (const c of cases) {
  test(`repeat limiter: ${c.title}`, (t) => {
    const limiter = new RepeatLimiter({ windowMs: 1000, ...(c.maxKeys ? { maxKeys: c.maxKeys } : {}) });
    t.deepEqual(
      c.steps.map(([key, now]) => limiter.take(key, now)),
      c.steps.map(([, , expected]) => expected),
    );
  });
}

// The bench's event-loop P99 comes from a histogram's buckets read at a cell's start and
// end; these cases hold it to PromQL's histogram_quantile on the difference.
import test from 'ava';
import { bucketQuantile, bucketsOf } from '../../bench/stats.js';

const page = (counts: number[]) =>
  [0.001, 0.01, 0.1, Infinity]
    .map((le, i) => `m_bucket{le="${le === Infinity ? '+Inf' : le}"} ${counts[i]}`)
    .concat(`m_count ${counts.at(-1)}`)
    .join('\n');

test('bucketsOf reads a histogram from a metrics page, +Inf last', (t) => {
  t.deepEqual(bucketsOf(page([1, 2, 3, 4]), 'm'), [
    { le: 0.001, count: 1 },
    { le: 0.01, count: 2 },
    { le: 0.1, count: 3 },
    { le: Infinity, count: 4 },
  ]);
  t.deepEqual(bucketsOf(page([1, 2, 3, 4]), 'other'), []);
});

const cases: Array<[string, number[], number[], number, number]> = [
  // name, before, after, q, expected
  ['all in the first bucket: interpolated inside it', [0, 0, 0, 0], [100, 100, 100, 100], 0.5, 0.0005],
  ['only the window counts: earlier slow samples are left out', [0, 0, 50, 50], [100, 100, 150, 150], 0.99, 0.00099],
  ['the slow 2 of 100 set the P99', [0, 0, 0, 0], [98, 98, 100, 100], 0.99, 0.01 + 0.09 * 0.5],
  ['beyond the last finite bound: that bound', [0, 0, 0, 0], [0, 0, 0, 10], 0.99, 0.1],
];
for (const [name, before, after, q, expected] of cases)
  test(`bucketQuantile: ${name}`, (t) => {
    const v = bucketQuantile(bucketsOf(page(before), 'm'), bucketsOf(page(after), 'm'), q);
    t.true(Math.abs(v - expected) < 1e-9, `${v} ≠ ${expected}`);
  });

test('bucketQuantile: no observations in the window is NaN, not 0', (t) => {
  t.true(Number.isNaN(bucketQuantile(bucketsOf(page([5, 5, 5, 5]), 'm'), bucketsOf(page([5, 5, 5, 5]), 'm'), 0.99)));
});

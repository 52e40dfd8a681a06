import test from 'ava';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../src/core/json-depth.js';

const bytes = (s: string) => Buffer.from(s);
const nested = (n: number, open = '[', close = ']') => `${open.repeat(n)}${close.repeat(n)}`;

const cases: Array<[string, string, number, boolean]> = [
  ['a scalar', '1', 0, false],
  ['an empty object at depth 1, max 1', '{}', 1, false],
  ['an empty object at depth 1, max 0', '{}', 0, true],
  ['arrays exactly at the limit', nested(5), 5, false],
  ['arrays one past the limit', nested(6), 5, true],
  ['objects one past the limit', `${'{"a":'.repeat(6)}1${'}'.repeat(6)}`, 5, true],
  ['mixed objects and arrays at the limit', '{"a":[{"b":[1]}]}', 4, false],
  ['mixed objects and arrays past the limit', '{"a":[{"b":[1]}]}', 3, true],
  ['sibling arrays do not add up', '[[1],[2],[3],[4],[5],[6]]', 2, false],
  ['sibling objects do not add up', '{"a":{},"b":{},"c":{},"d":{}}', 2, false],
  ['brackets inside strings do not count', `["${'[{'.repeat(50)}"]`, 1, false],
  ['an escaped quote keeps the string open', `["\\"[[[[[["]`, 1, false],
  ['an escaped backslash closes the string at the next quote', `["\\\\",[[1]]]`, 2, true],
  ['a string after a closed one is a string again', `["a","[[[["]`, 1, false],
];
for (const [name, json, max, deeper] of cases) {
  test(`${name}: ${deeper ? 'deeper' : 'within'}`, (t) => {
    t.is(nestsDeeperThan(bytes(json), max), deeper);
  });
}

test("the API server's own limit: 10,000 levels pass, 10,001 do not", (t) => {
  t.is(MAX_JSON_DEPTH, 10_000);
  t.false(nestsDeeperThan(bytes(nested(10_000)), MAX_JSON_DEPTH));
  t.true(nestsDeeperThan(bytes(nested(10_001)), MAX_JSON_DEPTH));
});

// Text from objects and requests is escaped before a person reads it: every control
// character and every reordering or hiding Unicode control, at both ends of each range.
import test from 'ava';
import { printable, quoted, safeJson } from '../../src/core/printable.js';

const escaped: Array<[string, string]> = [
  ['\u0000', '\\x00'],
  ['\u001b', '\\x1b'],
  ['\u001f', '\\x1f'],
  ['\u007f', '\\x7f'],
  ['\u0085', '\\x85'],
  ['\u009f', '\\x9f'],
  ['\u200b', '\\u200b'],
  ['\u200f', '\\u200f'],
  ['\u2028', '\\u2028'],
  ['\u202e', '\\u202e'],
  ['\u2066', '\\u2066'],
  ['\u2069', '\\u2069'],
  ['\ufeff', '\\ufeff'],
];
const kept = [' ', '~', '\u00a0', 'é', '\u200a', '\u2010', '\u2027', '\u202f', '\u2065', '\u206a', '日本', '\ufefe'];

for (const [raw, out] of escaped) {
  test(`printable escapes U+${raw.charCodeAt(0).toString(16).padStart(4, '0')} as ${out}`, (t) => {
    t.is(printable(`a${raw}b${raw}`), `a${out}b${out}`);
  });
}

test('printable leaves ordinary text, including the neighbours of each escaped range, alone', (t) => {
  for (const c of kept) t.is(printable(`x${c}y`), `x${c}y`, `U+${c.charCodeAt(0).toString(16)}`);
  t.is(printable('prod/Deployment/api é 日本'), 'prod/Deployment/api é 日本');
});

test('quoted is JSON-quoted and escapes the controls JSON leaves alone', (t) => {
  t.is(quoted('k"\u001b\u0085'), '"k\\"\\u001b\\u0085"');
  t.is(quoted('a\u202eb\u2066c\ufeff\u009fd\u007f'), '"a\\u202eb\\u2066c\\ufeff\\u009fd\\u007f"');
  t.is(quoted('plain é'), '"plain é"');
  t.is(JSON.parse(quoted('x\u0085\u202ey')), 'x\u0085\u202ey');
});

test('safeJson is JSON.stringify with the controls JSON leaves alone escaped, and parses back to the same value', (t) => {
  const value = { 'k\u202e': ['a\u0085b', 'c\u001bd', 'plain é'], n: 1 };
  const text = safeJson(value, 2);
  t.notRegex(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
  t.true(text.includes('"k\\u202e"') && text.includes('a\\u0085b'));
  t.deepEqual(JSON.parse(text), value);
  t.is(safeJson({ a: 'x' }), '{"a":"x"}');
  t.is(safeJson({ a: 'x' }, 2), '{\n  "a": "x"\n}');
});

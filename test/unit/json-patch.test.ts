import test from 'ava';
import { applyJsonPatch, pointerSegment, type JsonPatchOp } from '../../src/core/json-patch.js';

const doc = () => ({ metadata: { labels: { 'a/b': 'x', 'c~d': 'y' }, annotations: { k: 'v' } }, spec: { n: 1 } });

const cases: Array<{ title: string; ops: JsonPatchOp[]; expect: unknown }> = [
  { title: 'a passing test and a replace', ops: [{ op: 'test', path: '/metadata/annotations/k', value: 'v' }, { op: 'replace', path: '/metadata/annotations/k', value: 'w' }], expect: { ...doc(), metadata: { ...doc().metadata, annotations: { k: 'w' } } } },
  { title: 'escaped segments (~1 is /, ~0 is ~)', ops: [{ op: 'test', path: `/metadata/labels/${pointerSegment('a/b')}`, value: 'x' }, { op: 'replace', path: `/metadata/labels/${pointerSegment('c~d')}`, value: 'z' }], expect: { ...doc(), metadata: { ...doc().metadata, labels: { 'a/b': 'x', 'c~d': 'z' } } } },
  { title: 'add sets a new key', ops: [{ op: 'add', path: '/spec/m', value: 2 }], expect: { ...doc(), spec: { n: 1, m: 2 } } },
  { title: 'a failed test applies nothing, even ops before it', ops: [{ op: 'replace', path: '/spec/n', value: 9 }, { op: 'test', path: '/metadata/annotations/k', value: 'other' }], expect: 'fails' },
  { title: 'a test of a missing key fails', ops: [{ op: 'test', path: '/metadata/annotations/missing', value: 'v' }], expect: 'fails' },
  { title: 'replace of a missing key fails', ops: [{ op: 'replace', path: '/metadata/annotations/missing', value: 'v' }], expect: 'fails' },
  { title: 'a path through a missing object fails', ops: [{ op: 'add', path: '/status/phase', value: 'x' }], expect: 'fails' },
];

for (const c of cases) {
  test(`json patch: ${c.title}`, (t) => {
    const original = doc();
    const out = applyJsonPatch(original, c.ops);
    t.deepEqual(original, doc(), 'the input is never changed');
    if (c.expect === 'fails') t.false(out.ok);
    else t.deepEqual(out.ok ? out.doc : out, c.expect);
  });
}

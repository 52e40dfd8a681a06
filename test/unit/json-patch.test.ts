import test from 'ava';
import { applyJsonPatch, pointerSegment, type JsonPatchOp } from '../../src/core/json-patch.js';

const doc = () => ({ metadata: { labels: { 'a/b': 'x', 'c~d': 'y' }, annotations: { k: 'v' } }, spec: { n: 1 } });

// `expect`: the patched document, or the message of the failure (as the API server words it).
const cases: Array<{ title: string; ops: JsonPatchOp[]; expect: unknown }> = [
  {
    title: 'a passing test and a replace',
    ops: [
      { op: 'test', path: '/metadata/annotations/k', value: 'v' },
      { op: 'replace', path: '/metadata/annotations/k', value: 'w' },
    ],
    expect: { ...doc(), metadata: { ...doc().metadata, annotations: { k: 'w' } } },
  },
  {
    title: 'escaped segments (~1 is /, ~0 is ~)',
    ops: [
      { op: 'test', path: `/metadata/labels/${pointerSegment('a/b')}`, value: 'x' },
      { op: 'replace', path: `/metadata/labels/${pointerSegment('c~d')}`, value: 'z' },
    ],
    expect: { ...doc(), metadata: { ...doc().metadata, labels: { 'a/b': 'x', 'c~d': 'z' } } },
  },
  {
    title: 'add sets a new key',
    ops: [{ op: 'add', path: '/spec/m', value: 2 }],
    expect: { ...doc(), spec: { n: 1, m: 2 } },
  },
  {
    title: 'add replaces an existing key',
    ops: [{ op: 'add', path: '/spec/n', value: 3 }],
    expect: { ...doc(), spec: { n: 3 } },
  },
  {
    title: 'a test compares whole values',
    ops: [
      { op: 'test', path: '/metadata/annotations', value: { k: 'v' } },
      { op: 'add', path: '/spec/ok', value: true },
    ],
    expect: { ...doc(), spec: { n: 1, ok: true } },
  },
  {
    title: 'a failed test applies nothing, even ops before it',
    ops: [
      { op: 'replace', path: '/spec/n', value: 9 },
      { op: 'test', path: '/metadata/annotations/k', value: 'other' },
    ],
    expect: { message: 'testing value /metadata/annotations/k failed' },
  },
  {
    title: 'a test of a missing key fails',
    ops: [{ op: 'test', path: '/metadata/annotations/missing', value: 'v' }],
    expect: { message: 'testing value /metadata/annotations/missing failed' },
  },
  {
    title: 'replace of a missing key fails',
    ops: [{ op: 'replace', path: '/metadata/annotations/missing', value: 'v' }],
    expect: { message: 'replace operation does not apply: doc is missing key: /metadata/annotations/missing' },
  },
  {
    title: 'a path through a missing object fails',
    ops: [{ op: 'add', path: '/status/phase', value: 'x' }],
    expect: { message: 'add operation does not apply: doc is missing path: "/status/phase"' },
  },
  {
    title: 'a path through a scalar fails',
    ops: [{ op: 'add', path: '/spec/n/deeper', value: 'x' }],
    expect: { message: 'add operation does not apply: doc is missing path: "/spec/n/deeper"' },
  },
  {
    title: 'a path through a string fails (strings have no keys here)',
    ops: [{ op: 'add', path: '/metadata/annotations/k/length', value: 1 }],
    expect: { message: 'add operation does not apply: doc is missing path: "/metadata/annotations/k/length"' },
  },
  {
    title: 'a path through null fails',
    ops: [{ op: 'add', path: '/spec/none/x', value: 1 }],
    expect: { message: 'add operation does not apply: doc is missing path: "/spec/none/x"' },
  },
  {
    title: 'a path through null and beyond fails',
    ops: [{ op: 'add', path: '/spec/none/x/y', value: 1 }],
    expect: { message: 'add operation does not apply: doc is missing path: "/spec/none/x/y"' },
  },
  {
    title: 'a path into an array fails (a Lease has none)',
    ops: [{ op: 'add', path: '/spec/list/0', value: 1 }],
    expect: { message: 'add operation does not apply: doc is missing path: "/spec/list/0"' },
  },
  { title: 'the whole document cannot be replaced', ops: [{ op: 'replace', path: '', value: {} }], expect: 'throws' },
  {
    title: 'the root pointer "/" names the key "" (and the document has none)',
    ops: [{ op: 'replace', path: '/', value: 1 }],
    expect: { message: 'replace operation does not apply: doc is missing key: /' },
  },
];

// Every document here also carries a null and an array, which the paths above walk into.
const withExtras = (d: unknown) => ({
  ...(d as Record<string, unknown>),
  spec: { none: null, list: [], ...(d as { spec: object }).spec },
});

test('pointerSegment escapes ~ before /, so each decodes back', (t) => {
  t.is(pointerSegment('a/b~c'), 'a~1b~0c');
  t.is(pointerSegment('~1'), '~01');
});

for (const c of cases) {
  test(`json patch: ${c.title}`, (t) => {
    const original = { ...doc(), spec: { ...doc().spec, none: null, list: [] } } as Record<string, unknown>;
    const pristine = structuredClone(original);
    if (c.expect === 'throws') {
      t.throws(() => applyJsonPatch(original, c.ops), { message: 'JSON pointer "" must start with "/"' });
      return;
    }
    const out = applyJsonPatch(original, c.ops);
    t.deepEqual(original, pristine, 'the input is never changed');
    const expected =
      (c.expect as { message?: string }).message !== undefined
        ? { ok: false, ...(c.expect as object) }
        : { ok: true, doc: withExtras(c.expect) };
    t.deepEqual(out, expected);
  });
}

import test from 'ava';
import { LeaseNames, isDns1123Label, leaseName } from '../../src/core/lease-name.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';

const [we, rr] = DEFAULT_RULES as [(typeof DEFAULT_RULES)[0], (typeof DEFAULT_RULES)[0]];

const keys = [
  'prod/Deployment/api',
  'Node/worker-1',
  'a'.repeat(64),
  'x',
  '---',
  '////',
  'ÜNICÖDE/ключ/键',
  'UPPER/Case/Name',
  `${'long-namespace-'.repeat(10)}/Deployment/api`,
  'k'.repeat(1024),
  ' leading and trailing ',
  'tab\tnew\nline',
];

for (const key of keys) {
  test(`leaseName is a DNS-1123 label of at most 63 characters: ${JSON.stringify(key.slice(0, 30))}`, (t) => {
    for (const rule of [we, rr]) {
      const name = leaseName(rule, key);
      t.true(name.length <= 63, name);
      t.true(isDns1123Label(name), name);
      t.is(leaseName(rule, key), name, 'stable');
    }
  });
}

test('leaseName keeps a readable part of the key', (t) => {
  t.regex(leaseName(we, 'prod/Deployment/api'), /^workflowexecution-prod-deployment-api-[0-9a-f]{16}$/);
  t.regex(leaseName(rr, 'ab'.repeat(32)), /^remediationrequest-(ab)+a?-[0-9a-f]{16}$/);
});

test('keys that share a long prefix never share a Lease', (t) => {
  const prefix = `prod/Deployment/${'very-long-deployment-name-'.repeat(5)}`;
  const names = new Set<string>();
  for (let i = 0; i < 1000; i++) names.add(leaseName(we, `${prefix}${i}`));
  t.is(names.size, 1000);
});

test('keys that differ only in what the readable part drops never share a Lease', (t) => {
  const variants = [
    'prod/Deployment/api',
    'prod/deployment/api',
    'prod-Deployment-api',
    'prod/Deployment/api/',
    'prod//Deployment/api',
  ];
  const names = variants.map((k) => leaseName(we, k));
  t.is(new Set(names).size, variants.length, names.join('\n'));
});

test('the same key under two kinds gets two Leases', (t) => {
  t.not(leaseName(we, 'shared-key'), leaseName(rr, 'shared-key'));
});

test('the memo answers as leaseName does, per kind, across its generations', (t) => {
  const memo = new LeaseNames();
  // 10,000 keys span both generations (4,096 each) and the dropping of the oldest.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 10_000; i += round === 0 ? 1 : 7) {
      const key = `prod/Deployment/app-${i}`;
      t.is(memo.of(we, key), leaseName(we, key));
      t.is(memo.of(rr, key), leaseName(rr, key));
    }
  }
});

// Lease names are persistent: a change would orphan every Lease a running installation
// holds across an upgrade. Pinned here, hash and all.
const pinned: Array<[string, { group: string; kind: string }, string, string]> = [
  ['a plain key', we, 'prod/Deployment/api', 'workflowexecution-prod-deployment-api-aca77fc59b009626'],
  [
    'runs of separators become one dash',
    we,
    'prod//Deployment/api',
    'workflowexecution-prod-deployment-api-6a2eac75a3ccb5b7',
  ],
  ['leading separators are dropped', we, '--lead/x', 'workflowexecution-lead-x-5cba30c9d29bce0f'],
  [
    'the readable part is cut to fit, without a trailing dash',
    we,
    `${'a'.repeat(27)}/${'b'.repeat(30)}`,
    'workflowexecution-aaaaaaaaaaaaaaaaaaaaaaaaaaa-b996bf6ebc1246d8',
  ],
  ['a kind with no letters or digits is "lock"', { group: 'x.io', kind: '---' }, 'k', 'lock-k-6eeb4786aeb47ece'],
  ['a key with no letters or digits keeps the kind and hash alone', we, '////', 'workflowexecution-e974ab6061ce1928'],
];
for (const [name, rule, key, expected] of pinned) {
  test(`leaseName, pinned: ${name}`, (t) => {
    t.is(leaseName(rule, key), expected);
  });
}

const labels: Array<[string, boolean]> = [
  ['a', true],
  ['a1', true],
  ['a-b', true],
  ['1a', true],
  ['a'.repeat(63), true],
  ['a'.repeat(64), false],
  ['', false],
  ['-a', false],
  ['a-', false],
  ['A', false],
  ['a.b', false],
  ['a_b', false],
  ['a\n', false],
  ['xa-', false],
  ['-ax', false],
];
for (const [name, ok] of labels) {
  test(`isDns1123Label(${JSON.stringify(name.length > 20 ? `${name.slice(0, 3)}…(${name.length})` : name)}) is ${ok}`, (t) => {
    t.is(isDns1123Label(name), ok);
  });
}

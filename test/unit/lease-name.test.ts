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
  const variants = ['prod/Deployment/api', 'prod/deployment/api', 'prod-Deployment-api', 'prod/Deployment/api/', 'prod//Deployment/api'];
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

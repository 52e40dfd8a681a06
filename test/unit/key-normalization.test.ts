// normalize: object-ref. A target named `namespace/Kind/name` (or `Kind/name`) compares the
// way Kubernetes resolves it: the Kind case-insensitively, namespace and name exactly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml, loadYaml } from '@kubernetes/client-node';
import test from 'ava';
import { decide } from '../../src/core/decide.js';
import { normalizeKey, type KeyNormalization } from '../../src/core/key-normalization.js';
import { decideRelease } from '../../src/core/release-decision.js';
import { leaseName } from '../../src/core/lease-name.js';
import { DEFAULT_RULES, deriveKey, keyNamesLock, lockKeyOf, type GuardRule } from '../../src/core/rules.js';

const cases: Array<[string, KeyNormalization | undefined, string, string]> = [
  ['Kind lower-cased', 'object-ref', 'prod/Deployment/api', 'prod/deployment/api'],
  ['already canonical: unchanged', 'object-ref', 'prod/deployment/api', 'prod/deployment/api'],
  ['upper-case Kind', 'object-ref', 'prod/DEPLOYMENT/api', 'prod/deployment/api'],
  ['cluster-scoped Kind/name', 'object-ref', 'Node/worker-1', 'node/worker-1'],
  ['namespace exact', 'object-ref', 'Prod/Deployment/api', 'Prod/deployment/api'],
  ['name exact', 'object-ref', 'prod/Deployment/API', 'prod/deployment/API'],
  ['Kind.group lower-cased whole, group kept', 'object-ref', 'prod/Deployment.Apps/api', 'prod/deployment.apps/api'],
  ['one segment: not an object reference', 'object-ref', 'JustAName', 'JustAName'],
  ['four segments: not an object reference', 'object-ref', 'a/Deployment/c/D', 'a/Deployment/c/D'],
  ['empty namespace segment: the Kind still', 'object-ref', '/Deployment/api', '/deployment/api'],
  ['ASCII only: the Kelvin sign is not a K', 'object-ref', 'prod/\u212Aind/x', 'prod/\u212Aind/x'],
  [
    'ASCII only: a dotted capital I is kept (Unicode folding would lengthen the key)',
    'object-ref',
    'prod/\u0130ngress/x',
    'prod/\u0130ngress/x',
  ],
  ['ASCII letters around others', 'object-ref', 'prod/ÉTAT/x', 'prod/État/x'],
  ['none: exact', 'none', 'prod/Deployment/api', 'prod/Deployment/api'],
  ['absent: exact', undefined, 'Node/worker-1', 'Node/worker-1'],
];
for (const [name, normalization, key, expected] of cases) {
  test(`normalizeKey ${String(normalization)}: ${name}`, (t) => {
    t.is(normalizeKey(normalization, key), expected);
  });
}

const we: GuardRule = { ...DEFAULT_RULES[0]!, normalize: 'object-ref' };
const exact: GuardRule = { ...we, normalize: 'none' };
const perNamespace: GuardRule = { ...we, scope: 'namespace' };
const key = (rule: GuardRule, target: string, namespace = 'kubernaut-system') => {
  const k = deriveKey(rule, { spec: { targetResource: target } }, namespace);
  if (!k.ok) throw new Error(k.message);
  return k;
};

// Two spellings are one lock exactly when they share a scoped key, and so a Lease name.
const pairs: Array<[string, GuardRule, string, string, boolean]> = [
  ['the two kubernaut spellings of one Deployment', we, 'prod/Deployment/api', 'prod/deployment/api', true],
  ['a cluster-scoped Node', we, 'Node/worker-1', 'node/worker-1', true],
  ['names differing in case', we, 'prod/Deployment/api', 'prod/Deployment/API', false],
  ['namespaces differing in case', we, 'prod/Deployment/api', 'Prod/Deployment/api', false],
  ['a Kind with and without its group', we, 'prod/Deployment.apps/api', 'prod/Deployment/api', false],
  ['namespaced and cluster-scoped', we, 'prod/Deployment/api', 'Deployment/api', false],
  ['normalize none keeps spellings apart', exact, 'prod/Deployment/api', 'prod/deployment/api', false],
  ['namespace scope: normalized after the prefix', perNamespace, 'prod/Deployment/api', 'prod/deployment/api', true],
];
for (const [name, rule, a, b, same] of pairs) {
  test(`one lock or two: ${name}`, (t) => {
    const ka = key(rule, a);
    const kb = key(rule, b);
    t.is(ka.scopedKey === kb.scopedKey, same);
    t.is(leaseName(rule, ka.scopedKey) === leaseName(rule, kb.scopedKey), same);
    t.is(ka.key, a, 'the key as the object spells it is kept for people');
  });
}

test('lockKeyOf is the scoped key deriveKey gives, prefix and all', (t) => {
  t.is(key(perNamespace, 'prod/Deployment/api', 'team-a').scopedKey, 'team-a/prod/deployment/api');
  t.is(lockKeyOf(perNamespace, 'prod/Deployment/api', 'team-a'), 'team-a/prod/deployment/api');
  t.is(lockKeyOf(we, 'prod/Deployment/api'), key(we, 'prod/Deployment/api').scopedKey);
  t.is(lockKeyOf(exact, 'prod/Deployment/api'), 'prod/Deployment/api');
});

// Built in (no rules configured), keys are exact: normalize is opt-in. The shipped installs
// opt kubernaut's WorkflowExecution in; RemediationRequest fingerprints are hex, exact.
test('built-in rules compare exactly; the chart and the kustomize ConfigMap normalize WorkflowExecution targets only', (t) => {
  t.deepEqual(
    DEFAULT_RULES.map((r) => r.normalize),
    [undefined, undefined],
  );
  const values = loadYaml<{ config: { rules: GuardRule[] } }>(
    readFileSync(join(process.cwd(), 'charts/leaseguard/values.yaml'), 'utf8'),
  );
  const configMap = loadAllYaml(readFileSync(join(process.cwd(), 'manifests/base/configmap.yaml'), 'utf8'))[0] as {
    data: Record<string, string>;
  };
  const kustomized = loadYaml<{ includeDefaultRules: boolean; rules: GuardRule[] }>(configMap.data['config.yaml']!);
  t.false(kustomized.includeDefaultRules, 'the listed rules replace the built-in ones');
  for (const [name, rules] of [
    ['chart', values.config.rules],
    ['kustomize', kustomized.rules],
  ] as const) {
    t.deepEqual(
      rules.map((r) => [r.kind, r.normalize]),
      [
        ['WorkflowExecution', 'object-ref'],
        ['RemediationRequest', undefined],
      ],
      name,
    );
  }
});

// `leaseguard locks release KEY`: a person may type either spelling.
const typed: Array<[string, GuardRule | undefined, string, string, boolean]> = [
  ['the recorded key itself', we, 'prod/deployment/api', 'prod/deployment/api', true],
  ['another spelling of the Kind', we, 'prod/Deployment/api', 'prod/deployment/api', true],
  ['another name', we, 'prod/Deployment/web', 'prod/deployment/api', false],
  ['no rule for the kind: exact only', undefined, 'prod/Deployment/api', 'prod/deployment/api', false],
  ['an exact rule: exact only', exact, 'prod/Deployment/api', 'prod/deployment/api', false],
  [
    'namespace scope: the namespace typed first',
    perNamespace,
    'team-a/prod/Deployment/api',
    'team-a/prod/deployment/api',
    true,
  ],
  [
    'namespace scope: the namespace is exact',
    perNamespace,
    'Team-a/prod/Deployment/api',
    'team-a/prod/deployment/api',
    false,
  ],
  ['namespace scope: no namespace typed', perNamespace, 'Deployment', 'team-a/deployment', false],
];
for (const [name, rule, key, recorded, names] of typed) {
  test(`keyNamesLock: ${name}`, (t) => {
    t.is(keyNamesLock(rule, key, recorded), names);
  });
}

// Switching normalize on with locks held: a Lease written under the old spelling is never
// mistaken for the normalized lock, and is reclaimed once its pending window has passed.
const legacy = {
  key: 'prod/Deployment/api',
  object: { group: 'kubernaut.ai', kind: 'WorkflowExecution', namespace: 'prod', name: 'we-1', uid: 'uid-1' },
  requester: { username: 'ro' },
  state: 'pending' as const,
  acquiredAt: new Date(0),
  renewedAt: new Date(0),
  transitions: 0,
};
const normalized = lockKeyOf(we, 'prod/Deployment/api');

test('mixed versions: a Lease recording the un-normalized key, read under the normalized name, is not this lock', (t) => {
  const request = {
    key: normalized,
    object: { ...legacy.object, name: 'we-2', uid: 'uid-2' },
    requester: { username: 'ro' },
  };
  const lease = {
    name: leaseName(we, normalized),
    namespace: 'lg',
    resourceVersion: '1',
    uid: 'l',
    record: legacy,
    format: 2 as const,
  };
  const d = decide({ request, lease, now: new Date(1000), ageMs: 1000, pendingTimeoutMs: 30_000 });
  t.deepEqual(d, { action: 'deny-foreign', recordedKey: 'prod/Deployment/api' });
  t.not(
    leaseName(we, normalized),
    leaseName(we, 'prod/Deployment/api'),
    'and a non-canonical spelling names another Lease',
  );
});

test("mixed versions: the old spelling's Lease is not its live holder's lock any more; the sweep reclaims it after the pending timeout", (t) => {
  const oldName = leaseName(we, 'prod/Deployment/api');
  // The holder, read live, is running; its key by the rule now maps to the normalized Lease.
  const holder = { kind: 'live' as const, uid: 'uid-1', lease: leaseName(we, normalized), phase: 'Running' };
  const base = {
    leaseName: oldName,
    record: legacy,
    holder,
    source: 'live' as const,
    trigger: 'sweep' as const,
    now: new Date(0),
    pendingTimeoutMs: 30_000,
  };
  t.is(decideRelease({ ...base, ageMs: 1000 }).action, 'keep', 'inside the pending window: kept');
  t.deepEqual(decideRelease({ ...base, ageMs: 30_000 }), { action: 'release', reason: 'expired' });
  t.deepEqual(
    decideRelease({
      ...base,
      leaseName: leaseName(we, normalized),
      record: { ...legacy, key: normalized },
      ageMs: 30_000,
    }),
    { action: 'keep' },
    'the normalized Lease holds',
  );
});

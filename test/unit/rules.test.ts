import test from 'ava';
import {
  namespaceAllowed,
  DEFAULT_RULES,
  MAX_KEY_BYTES,
  deriveKey,
  indexRules,
  LiveRules,
  phaseOf,
  readPath,
  updateEffect,
  type GuardRule,
} from '../../src/core/rules.js';

const rules = indexRules(DEFAULT_RULES);
const we = rules.find('kubernaut.ai', 'WorkflowExecution') as GuardRule;
const rr = rules.find('kubernaut.ai', 'RemediationRequest') as GuardRule;
const fp = 'a'.repeat(64);

test('the default rules, whole: what leaseguard guards out of the box', (t) => {
  t.deepEqual(JSON.parse(JSON.stringify(DEFAULT_RULES)), [
    {
      group: 'kubernaut.ai',
      version: 'v1alpha1',
      kind: 'WorkflowExecution',
      resource: 'workflowexecutions',
      keyPath: 'spec.targetResource',
      phasePath: 'status.phase',
      terminalPhases: ['Completed', 'Failed'],
      scope: 'cluster',
      maxHoldSeconds: 7200,
    },
    {
      group: 'kubernaut.ai',
      version: 'v1alpha1',
      kind: 'RemediationRequest',
      resource: 'remediationrequests',
      keyPath: 'spec.signalFingerprint',
      phasePath: 'status.overallPhase',
      terminalPhases: ['Completed', 'Failed', 'TimedOut', 'Skipped', 'Cancelled'],
      scope: 'cluster',
      maxHoldSeconds: 7200,
    },
  ]);
});

test('phaseOf: a phase that is not a string is no phase, and live', (t) => {
  for (const phase of [5, true, { a: 1 }, ['Completed'], null])
    t.deepEqual(phaseOf(we, { status: { phase } }), { phase: '', terminal: false }, JSON.stringify(phase));
  t.deepEqual(phaseOf(we, { status: { phase: 'Completed' } }), { phase: 'Completed', terminal: true });
  t.deepEqual(phaseOf(we, {}), { phase: '', terminal: false });
});

test('readPath never reads into arrays or strings, even by index or length', (t) => {
  t.is(readPath({ a: ['x'] }, 'a.0'), undefined);
  t.is(readPath({ a: ['x'] }, 'a.length'), undefined);
  t.is(readPath({ a: 'xyz' }, 'a.0'), undefined);
  t.is(readPath({ a: 'xyz' }, 'a.length'), undefined);
  t.is(readPath({ a: { b: 'x' } }, 'a.b'), 'x');
});

test('phaseOf: a missing phase is live even where a rule lists "" as terminal', (t) => {
  const odd = { ...we, terminalPhases: ['', 'Completed'] };
  t.deepEqual(phaseOf(odd, {}), { phase: '', terminal: false });
  t.deepEqual(phaseOf(odd, { status: { phase: 'Completed' } }), { phase: 'Completed', terminal: true });
});

test('default rules guard exactly the two kubernaut kinds', (t) => {
  t.deepEqual(
    DEFAULT_RULES.map((r) => `${r.resource}.${r.group}/${r.version}:${r.keyPath}`),
    [
      'workflowexecutions.kubernaut.ai/v1alpha1:spec.targetResource',
      'remediationrequests.kubernaut.ai/v1alpha1:spec.signalFingerprint',
    ],
  );
  t.is(rules.find('kubernaut.ai', 'AIAnalysis'), undefined);
  t.is(rules.find('other.io', 'WorkflowExecution'), undefined);
});

const keyCases: Array<
  [
    string,
    GuardRule,
    unknown,
    string | undefined,
    { ok: boolean; scopedKey?: string; field?: string; message?: RegExp },
  ]
> = [
  [
    'target string',
    we,
    { spec: { targetResource: 'prod/Deployment/api' } },
    'prod',
    { ok: true, scopedKey: 'prod/Deployment/api' },
  ],
  [
    'cluster-scoped target',
    we,
    { spec: { targetResource: 'Node/worker-1' } },
    'prod',
    { ok: true, scopedKey: 'Node/worker-1' },
  ],
  ['fingerprint', rr, { spec: { signalFingerprint: fp } }, 'prod', { ok: true, scopedKey: fp }],
  ['missing spec', we, {}, 'prod', { ok: false, field: 'spec.targetResource', message: /is required/ }],
  ['missing key', we, { spec: {} }, 'prod', { ok: false, field: 'spec.targetResource', message: /is required/ }],
  [
    'null key',
    rr,
    { spec: { signalFingerprint: null } },
    'prod',
    { ok: false, field: 'spec.signalFingerprint', message: /is required/ },
  ],
  [
    'empty key',
    we,
    { spec: { targetResource: '' } },
    'prod',
    { ok: false, field: 'spec.targetResource', message: /must not be empty/ },
  ],
  [
    'number key',
    we,
    { spec: { targetResource: 7 } },
    'prod',
    { ok: false, field: 'spec.targetResource', message: /must be a string, got number/ },
  ],
  [
    'object key',
    we,
    { spec: { targetResource: { a: 1 } } },
    'prod',
    { ok: false, field: 'spec.targetResource', message: /got object/ },
  ],
  [
    'array key',
    we,
    { spec: { targetResource: ['a'] } },
    'prod',
    { ok: false, field: 'spec.targetResource', message: /got array/ },
  ],
  ['spec is a string', we, { spec: 'x' }, 'prod', { ok: false, field: 'spec.targetResource', message: /is required/ }],
  [
    'key of exactly 1 KiB',
    we,
    { spec: { targetResource: 'k'.repeat(MAX_KEY_BYTES) } },
    'prod',
    { ok: true, scopedKey: 'k'.repeat(MAX_KEY_BYTES) },
  ],
  [
    'key one byte over 1 KiB',
    we,
    { spec: { targetResource: 'k'.repeat(MAX_KEY_BYTES + 1) } },
    'prod',
    { ok: false, message: /1025 bytes; a lock key may be at most 1024/ },
  ],
  [
    'multi-byte key over 1 KiB in bytes',
    we,
    { spec: { targetResource: 'é'.repeat(513) } },
    'prod',
    { ok: false, message: /1026 bytes/ },
  ],
  [
    'namespace scope prefixes the key',
    { ...we, scope: 'namespace' },
    { spec: { targetResource: 'x' } },
    'team-a',
    { ok: true, scopedKey: 'team-a/x' },
  ],
  [
    'normalize object-ref: the Kind compares lower-cased',
    { ...we, normalize: 'object-ref' },
    { spec: { targetResource: 'prod/Deployment/api' } },
    'prod',
    { ok: true, scopedKey: 'prod/deployment/api' },
  ],
  [
    'normalize object-ref under namespace scope: after the prefix',
    { ...we, normalize: 'object-ref', scope: 'namespace' },
    { spec: { targetResource: 'Node/w' } },
    'Team',
    { ok: true, scopedKey: 'Team/node/w' },
  ],
  [
    'namespace scope without a namespace',
    { ...we, scope: 'namespace' },
    { spec: { targetResource: 'x' } },
    '',
    {
      ok: false,
      field: 'metadata.namespace',
      message: /^WorkflowExecution keys are scoped per namespace, but the object has no namespace$/,
    },
  ],
  [
    'spec is an array',
    we,
    { spec: [{ targetResource: 'x' }] },
    'prod',
    { ok: false, field: 'spec.targetResource', message: /is required/ },
  ],
  ['spec is null', we, { spec: null }, 'prod', { ok: false, field: 'spec.targetResource', message: /is required/ }],
  [
    'a key inherited, not own',
    we,
    { spec: Object.create({ targetResource: 'x' }) },
    'prod',
    { ok: false, field: 'spec.targetResource', message: /is required/ },
  ],
];

for (const [name, rule, obj, ns, want] of keyCases) {
  test(`deriveKey: ${name}`, (t) => {
    const got = deriveKey(rule, obj, ns);
    t.is(got.ok, want.ok);
    if (got.ok) t.is(got.scopedKey, want.scopedKey ?? '');
    else {
      if (want.field) t.is(got.field, want.field);
      if (want.message) t.regex(got.message, want.message);
    }
  });
}

test('readPath does not walk into prototypes or arrays', (t) => {
  t.is(readPath({ spec: {} }, 'spec.constructor'), undefined);
  t.is(readPath({ spec: ['a'] }, 'spec.0'), undefined);
  t.is(readPath(null, 'spec'), undefined);
});

const phaseCases: Array<[GuardRule, unknown, boolean]> = [
  [we, {}, false],
  [we, { status: { phase: '' } }, false],
  [we, { status: { phase: 'Running' } }, false],
  [we, { status: { phase: 'Completed' } }, true],
  [we, { status: { phase: 'Failed' } }, true],
  [rr, { status: { overallPhase: 'Blocked' } }, false],
  [rr, { status: { overallPhase: 'Processing' } }, false],
  [rr, { status: { overallPhase: 'TimedOut' } }, true],
  [rr, { status: { overallPhase: 'Skipped' } }, true],
  [rr, { status: { overallPhase: 'Cancelled' } }, true],
  [rr, { status: { phase: 'Completed' } }, false],
];
for (const [rule, obj, terminal] of phaseCases) {
  test(`phaseOf ${rule.kind} ${JSON.stringify(obj)} → ${terminal ? 'terminal' : 'live'}`, (t) => {
    t.is(phaseOf(rule, obj).terminal, terminal);
  });
}

test('updateEffect: a keyless object gaining a valid key takes the lock; a keyed one may not change or lose it', (t) => {
  const key = (v: unknown) => deriveKey(we, { spec: { targetResource: v } }, 'prod');
  t.is(updateEffect(key(undefined), key('ns/D/a')), 'take-lock');
  t.is(updateEffect(key(''), key('ns/D/a')), 'take-lock');
  t.is(updateEffect(key(7), key('ns/D/a')), 'take-lock');
  t.is(updateEffect(key(undefined), key(undefined)), 'none');
  t.is(updateEffect(key(''), key(7)), 'none', 'still keyless');
  t.is(updateEffect(key('ns/D/a'), key('ns/D/a')), 'none');
  t.is(updateEffect(key('ns/D/a'), key('ns/D/b')), 'key-changed');
  t.is(updateEffect(key('ns/D/a'), key(undefined)), 'key-changed');
  const scoped = { ...we, scope: 'namespace' as const };
  t.is(
    updateEffect(
      deriveKey(scoped, { spec: { targetResource: 'k' } }, 'a'),
      deriveKey(scoped, { spec: { targetResource: 'k' } }, 'b'),
    ),
    'key-changed',
    'the scoped key is the identity',
  );
});

test('namespaceAllowed: only the listed namespaces, all with *, and cluster-scoped objects (no namespace) always', (t) => {
  const cases: Array<[readonly string[] | undefined, string, boolean]> = [
    [['kubernaut-system'], 'kubernaut-system', true],
    [['kubernaut-system'], 'tenant-a', false],
    [['kubernaut-system'], 'kubernaut-system-2', false],
    [['a', 'b'], 'b', true],
    [['*'], 'tenant-a', true],
    [undefined, 'tenant-a', true],
    [['kubernaut-system'], '', true],
    [[], 'tenant-a', false],
  ];
  for (const [namespaces, ns, allowed] of cases) {
    t.is(
      namespaceAllowed(namespaces === undefined ? {} : { namespaces }, ns),
      allowed,
      `${JSON.stringify(namespaces)} ${ns}`,
    );
  }
});

test('LiveRules answers from the rules it was given, then from the rules that replace them', (t) => {
  const live = new LiveRules([we]);
  t.deepEqual(live.rules, [we]);
  t.is(live.find(we.group, we.kind), we);
  t.is(live.find(rr.group, rr.kind), undefined);
  const held = { ...we, maxHoldSeconds: 60 };
  live.replace([held, rr]);
  t.deepEqual(live.rules, [held, rr]);
  t.is(live.find(we.group, we.kind), held);
  t.is(live.find(rr.group, rr.kind), rr);
  t.is(live.find('other.example.com', we.kind), undefined);
});

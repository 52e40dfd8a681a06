import test from 'ava';
import { DEFAULT_RULES, MAX_KEY_BYTES, deriveKey, indexRules, phaseOf, readPath, type GuardRule } from '../../src/core/rules.js';

const rules = indexRules(DEFAULT_RULES);
const we = rules.find('kubernaut.ai', 'WorkflowExecution') as GuardRule;
const rr = rules.find('kubernaut.ai', 'RemediationRequest') as GuardRule;
const fp = 'a'.repeat(64);

test('default rules guard exactly the two kubernaut kinds', (t) => {
  t.deepEqual(
    DEFAULT_RULES.map((r) => `${r.resource}.${r.group}/${r.version}:${r.keyPath}`),
    ['workflowexecutions.kubernaut.ai/v1alpha1:spec.targetResource', 'remediationrequests.kubernaut.ai/v1alpha1:spec.signalFingerprint'],
  );
  t.is(rules.find('kubernaut.ai', 'AIAnalysis'), undefined);
  t.is(rules.find('other.io', 'WorkflowExecution'), undefined);
});

const keyCases: Array<[string, GuardRule, unknown, string | undefined, { ok: boolean; scopedKey?: string; field?: string; message?: RegExp }]> = [
  ['target string', we, { spec: { targetResource: 'prod/Deployment/api' } }, 'prod', { ok: true, scopedKey: 'prod/Deployment/api' }],
  ['cluster-scoped target', we, { spec: { targetResource: 'Node/worker-1' } }, 'prod', { ok: true, scopedKey: 'Node/worker-1' }],
  ['fingerprint', rr, { spec: { signalFingerprint: fp } }, 'prod', { ok: true, scopedKey: fp }],
  ['missing spec', we, {}, 'prod', { ok: false, field: 'spec.targetResource', message: /is required/ }],
  ['missing key', we, { spec: {} }, 'prod', { ok: false, field: 'spec.targetResource', message: /is required/ }],
  ['null key', rr, { spec: { signalFingerprint: null } }, 'prod', { ok: false, field: 'spec.signalFingerprint', message: /is required/ }],
  ['empty key', we, { spec: { targetResource: '' } }, 'prod', { ok: false, field: 'spec.targetResource', message: /must not be empty/ }],
  ['number key', we, { spec: { targetResource: 7 } }, 'prod', { ok: false, field: 'spec.targetResource', message: /must be a string, got number/ }],
  ['object key', we, { spec: { targetResource: { a: 1 } } }, 'prod', { ok: false, field: 'spec.targetResource', message: /got object/ }],
  ['array key', we, { spec: { targetResource: ['a'] } }, 'prod', { ok: false, field: 'spec.targetResource', message: /got array/ }],
  ['spec is a string', we, { spec: 'x' }, 'prod', { ok: false, field: 'spec.targetResource', message: /is required/ }],
  ['key of exactly 1 KiB', we, { spec: { targetResource: 'k'.repeat(MAX_KEY_BYTES) } }, 'prod', { ok: true, scopedKey: 'k'.repeat(MAX_KEY_BYTES) }],
  ['key one byte over 1 KiB', we, { spec: { targetResource: 'k'.repeat(MAX_KEY_BYTES + 1) } }, 'prod', { ok: false, message: /1025 bytes; a lock key may be at most 1024/ }],
  ['multi-byte key over 1 KiB in bytes', we, { spec: { targetResource: 'é'.repeat(513) } }, 'prod', { ok: false, message: /1026 bytes/ }],
  ['namespace scope prefixes the key', { ...we, scope: 'namespace' }, { spec: { targetResource: 'x' } }, 'team-a', { ok: true, scopedKey: 'team-a/x' }],
  ['namespace scope without a namespace', { ...we, scope: 'namespace' }, { spec: { targetResource: 'x' } }, '', { ok: false, field: 'metadata.namespace' }],
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

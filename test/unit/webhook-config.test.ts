import test from 'ava';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CHART_CONDITION_DEPTH,
  celLiteral,
  chartConditionsFile,
  fillKeyChangeTemplate,
  keyChangeConditions,
  keyChangeTemplate,
  webhookRegistrations,
} from '../../src/webhook-config.js';
import { ROOT } from '../harness/paths.js';

const base = {
  rules: DEFAULT_RULES,
  caBundlePem: 'PEM',
  endpoint: { url: 'https://127.0.0.1:8443' },
  timeoutSeconds: 5,
};
const kinds = (items: Array<Record<string, unknown>>) => items.map((i) => i.kind);

test('without stamping, one webhook call per guarded create: only the validating webhook is registered', (t) => {
  const items = webhookRegistrations({ ...base, stamp: false });
  t.deepEqual(kinds(items), ['ValidatingWebhookConfiguration']);
  const hooks = items[0]!.webhooks as Array<{
    clientConfig: { url: string };
    sideEffects: string;
    rules: Array<{ operations: string[] }>;
  }>;
  t.is(hooks[0]!.clientConfig.url, 'https://127.0.0.1:8443/validate');
  t.is(hooks[0]!.sideEffects, 'NoneOnDryRun');
  t.deepEqual(hooks[0]!.rules[0]!.operations, ['CREATE', 'UPDATE']);
});

test('with stamping, the mutating webhook too, for CREATE only', (t) => {
  const items = webhookRegistrations({ ...base, stamp: true });
  t.deepEqual(kinds(items), ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']);
  const hooks = items[1]!.webhooks as Array<{ clientConfig: { url: string }; rules: Array<{ operations: string[] }> }>;
  t.is(hooks[0]!.clientConfig.url, 'https://127.0.0.1:8443/mutate');
  t.deepEqual(hooks[0]!.rules[0]!.operations, ['CREATE']);
});

test('stampAnnotations is off unless configured, from a file key or the environment', (t) => {
  t.false(loadConfig({ env: {} }).stampAnnotations);
  t.true(loadConfig({ env: { LEASEGUARD_STAMP_ANNOTATIONS: 'true' } }).stampAnnotations);
  t.true(loadConfig({ env: {}, overrides: { stampAnnotations: true } }).stampAnnotations);
  t.throws(() => loadConfig({ env: { LEASEGUARD_STAMP_ANNOTATIONS: 'sometimes' } }), { message: /stampAnnotations/ });
});

test("never from kube-system or leaseguard's own namespace, nor from a namespace labelled to opt out", (t) => {
  const [validating] = webhookRegistrations({ ...base, stamp: false, ownNamespace: 'locks' });
  const hook = (validating!.webhooks as Array<{ namespaceSelector: unknown }>)[0]!;
  t.deepEqual(hook.namespaceSelector, {
    matchExpressions: [
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'locks'] },
      { key: 'leaseguard.kubernaut.ai/ignore', operator: 'NotIn', values: ['true'] },
    ],
  });
});

test('UPDATEs reach the validating webhook only when they change a key: one condition per kind, any key path (behaviour: test/integration/key-conditions.test.ts)', (t) => {
  const conditions = keyChangeConditions([...DEFAULT_RULES, { ...DEFAULT_RULES[0]!, keyPath: 'spec.9lives.for' }]);
  t.deepEqual(
    conditions.map((c) => c.name),
    ['key-changed-0-workflowexecutions', 'key-changed-1-remediationrequests', 'key-changed-2-workflowexecutions'],
  );
  for (const c of conditions)
    t.notRegex(c.expression, /<<|__dash__|__dot__/, 'every placeholder filled; no escaped property names');
  const [mutating] = webhookRegistrations({ ...base, stamp: true }).slice(1);
  t.false('matchConditions' in (mutating!.webhooks as object[])[0]!, 'the mutating webhook takes CREATEs only');
});

test("a literal in a condition is JSON's quoting, as Helm's toJson writes it", (t) => {
  t.is(celLiteral("o'dd.example.io"), `"o'dd.example.io"`);
  t.is(celLiteral('a"b\\c'), String.raw`"a\"b\\c"`);
  t.is(celLiteral('<&>\u2028'), String.raw`"\u003c\u0026\u003e\u2028"`);
});

test('the chart fills the same templates: charts/leaseguard/files/key-change-conditions.json is what the generator writes (node scripts/chart-key-conditions.mjs)', (t) => {
  const committed = readFileSync(join(ROOT, 'charts/leaseguard/files/key-change-conditions.json'), 'utf8');
  t.is(committed, chartConditionsFile());
  const { expressions } = JSON.parse(committed) as { expressions: string[] };
  t.is(expressions.length, CHART_CONDITION_DEPTH);
  expressions.forEach((e, i) => t.is(e, keyChangeTemplate(i + 1)));
  // A rule filled from the chart's file (as the chart does, toJson = celLiteral) is the CLI's condition.
  const rule = { ...DEFAULT_RULES[0]!, keyPath: 'spec.my-key.for' };
  t.is(fillKeyChangeTemplate(expressions[2]!, rule), keyChangeConditions([rule])[0]!.expression);
});

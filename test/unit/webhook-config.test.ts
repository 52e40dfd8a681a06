import test from 'ava';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { keyChangeConditions, webhookRegistrations } from '../../src/webhook-config.js';

const base = { rules: DEFAULT_RULES, caBundlePem: 'PEM', endpoint: { url: 'https://127.0.0.1:8443' }, timeoutSeconds: 5 };
const kinds = (items: Array<Record<string, unknown>>) => items.map((i) => i.kind);

test('without stamping, one webhook call per guarded create: only the validating webhook is registered', (t) => {
  const items = webhookRegistrations({ ...base, stamp: false });
  t.deepEqual(kinds(items), ['ValidatingWebhookConfiguration']);
  const hooks = items[0]!.webhooks as Array<{ clientConfig: { url: string }; sideEffects: string; rules: Array<{ operations: string[] }> }>;
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

test('never from kube-system or leaseguard\'s own namespace, nor from a namespace labelled to opt out', (t) => {
  const [validating] = webhookRegistrations({ ...base, stamp: false, ownNamespace: 'locks' });
  const hook = (validating!.webhooks as Array<{ namespaceSelector: unknown }>)[0]!;
  t.deepEqual(hook.namespaceSelector, {
    matchExpressions: [
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'locks'] },
      { key: 'leaseguard.kubernaut.ai/ignore', operator: 'NotIn', values: ['true'] },
    ],
  });
});

test('UPDATEs reach the validating webhook only when they change a key: one CEL condition per kind, spelled as Kubernetes escapes names', (t) => {
  const conditions = keyChangeConditions(DEFAULT_RULES);
  t.is(conditions.length, 2);
  t.is(conditions[0]!.name, 'key-changed-0-workflowexecutions');
  t.is(
    conditions[0]!.expression,
    "request.operation != 'UPDATE' || request.resource.group != 'kubernaut.ai' || request.resource.resource != 'workflowexecutions' || " +
      '(has(object.spec) && has(object.spec.targetResource)) != (has(oldObject.spec) && has(oldObject.spec.targetResource)) || ' +
      '((has(object.spec) && has(object.spec.targetResource)) && object.spec.targetResource != oldObject.spec.targetResource)',
  );
  const odd = keyChangeConditions([{ ...DEFAULT_RULES[0]!, keyPath: 'spec.namespace.target-ref' }, { ...DEFAULT_RULES[1]!, keyPath: 'spec.9lives' }]);
  t.is(odd.length, 1, 'a path CEL cannot spell sends every UPDATE (no condition)');
  t.regex(odd[0]!.expression, /object\.spec\.__namespace__\.target__dash__ref != oldObject\.spec\.__namespace__\.target__dash__ref/);
  const [mutating] = webhookRegistrations({ ...base, stamp: true }).slice(1);
  t.false('matchConditions' in (mutating!.webhooks as object[])[0]!, 'the mutating webhook takes CREATEs only');
});

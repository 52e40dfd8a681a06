import test from 'ava';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { webhookRegistrations } from '../../src/webhook-config.js';

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

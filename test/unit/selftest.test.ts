// `leaseguard selftest` passes only on leaseguard's own verdict: the probe it sends, and
// every other answer (the CRD's schema, an unreachable webhook, nobody) read as a failure.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { loadAllYaml } from '@kubernetes/client-node';
import { DEFAULT_RULES, deriveKey, type GuardRule } from '../../src/core/rules.js';
import {
  PROBE_NAME_PREFIX,
  VALIDATING_WEBHOOK,
  probeObject,
  readVerdict,
  type ProbeResponse,
} from '../../src/cli/selftest.js';
import { ROOT } from '../harness/paths.js';

const rule = DEFAULT_RULES[0]!; // WorkflowExecution, spec.targetResource
const NS = 'default';

/** A Status as the API server answers a refused create. */
const status = (
  code: number,
  reason: string,
  message: string,
  causes: Array<Record<string, string>> = [],
): ProbeResponse => ({
  status: code,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    message,
    reason,
    code,
    details: { group: 'kubernaut.ai', kind: 'WorkflowExecution', causes },
  }),
});
const leaseguardRefusal = (field = rule.keyPath, code = 422, reason = 'Invalid') =>
  status(
    code,
    reason,
    `admission webhook "${VALIDATING_WEBHOOK}" denied the request: WorkflowExecution "leaseguard-selftest-x7k2p" is invalid: ${field} must not be empty: it is the lock key for WorkflowExecution`,
    [{ reason: 'FieldValueRequired', message: `${field} must not be empty`, field }],
  );
const created = (warning?: string): ProbeResponse => ({
  status: 201,
  headers: { 'content-type': 'application/json', ...(warning ? { warning } : {}) },
  body: '{"kind":"WorkflowExecution"}',
});

test('the probe is the kind with an empty key, a generated name, and the fields given kept', (t) => {
  const base = {
    metadata: { name: 'ignored', labels: { a: 'b' } },
    spec: { targetResource: 'prod/Deployment/api', workflowRef: { workflowId: 'w' } },
  };
  const probe = probeObject(rule, 'team-a', base);
  t.deepEqual(probe, {
    apiVersion: 'kubernaut.ai/v1alpha1',
    kind: 'WorkflowExecution',
    metadata: { labels: { a: 'b' }, generateName: PROBE_NAME_PREFIX, namespace: 'team-a' },
    spec: { targetResource: '', workflowRef: { workflowId: 'w' } },
  });
  t.is(base.spec.targetResource, 'prod/Deployment/api', 'the base is not changed');
  const verdict = deriveKey(rule, probe, 'team-a');
  t.false(verdict.ok, 'leaseguard refuses it');
  if (!verdict.ok) t.regex(verdict.message, /must not be empty/, 'with the message readVerdict looks for in a warning');
});

test('the probe builds the path to a key nested where the base has nothing', (t) => {
  const nested: GuardRule = { ...rule, keyPath: 'spec.lock.key' };
  t.deepEqual(probeObject(nested, NS, { spec: { lock: 'not an object' } }).spec, { lock: { key: '' } });
});

test("leaseguard's refusal, naming the key's field, is the verdict", (t) => {
  const v = readVerdict(leaseguardRefusal(), rule, NS);
  t.true(v.ok);
  if (v.ok) {
    t.is(v.how, 'refused');
    t.regex(v.message, /denied the request: WorkflowExecution .* spec\.targetResource must not be empty/);
  }
});

test("a rule in warn or dryrun mode admits the probe with leaseguard's warning: the verdict too", (t) => {
  const warning = `299 - "leaseguard (warn mode for WorkflowExecution): enforce would refuse this: WorkflowExecution is invalid: spec.targetResource must not be empty: it is the lock key for WorkflowExecution"`;
  const v = readVerdict(created(warning), rule, NS);
  t.true(v.ok);
  if (v.ok) t.is(v.how, 'warned');
});

const failures: Array<[string, ProbeResponse, RegExp]> = [
  [
    'admitted with no word from leaseguard (webhook not registered, or its namespaceSelector leaves the namespace out)',
    created(),
    /was admitted: leaseguard never saw it.*namespaceSelector reach default/,
  ],
  ['admitted with some other warning', created('299 - "something else"'), /leaseguard never saw it/],
  [
    "refused by the CRD's schema before leaseguard ran",
    status(
      422,
      'Invalid',
      'WorkflowExecution.kubernaut.ai "leaseguard-selftest-abc" is invalid: spec.workflowRef: Required value',
      [{ reason: 'FieldValueRequired', field: 'spec.workflowRef' }],
    ),
    /refused before leaseguard saw it.*spec\.workflowRef: Required value.*--object/,
  ],
  [
    'a 422 naming the key, but not from leaseguard',
    status(422, 'Invalid', 'WorkflowExecution "x" is invalid: spec.targetResource: Invalid value', [
      { field: 'spec.targetResource' },
    ]),
    /refused before leaseguard saw it/,
  ],
  [
    'the API server failed to call leaseguard',
    status(
      500,
      'InternalError',
      `Internal error occurred: failed calling webhook "${VALIDATING_WEBHOOK}": failed to call webhook: Post "https://leaseguard.leaseguard-system.svc:443/validate?timeout=5s": no endpoints available for service "leaseguard"`,
    ),
    /could not get an answer from leaseguard.*no endpoints available/,
  ],
  [
    'leaseguard answered something else (fail closed)',
    leaseguardRefusal(rule.keyPath, 503, 'ServiceUnavailable'),
    /leaseguard answered, but not with the refusal of an empty key \(HTTP 503 ServiceUnavailable\)/,
  ],
  ["leaseguard's refusal naming another field", leaseguardRefusal('spec.other'), /leaseguard answered, but not/],
  [
    'another webhook with a similar name refused',
    status(422, 'Invalid', 'admission webhook "validate.leaseguard.kubernaut.ai.evil" denied the request: no', [
      { field: 'spec.targetResource' },
    ]),
    /refused before leaseguard saw it/,
  ],
  [
    'RBAC refused the create',
    status(
      403,
      'Forbidden',
      'workflowexecutions.kubernaut.ai is forbidden: User "system:serviceaccount:leaseguard-system:leaseguard-test" cannot create resource',
    ),
    /not allowed to create WorkflowExecution.*cannot create resource/,
  ],
  [
    'the kind is not served',
    status(404, 'NotFound', 'the server could not find the requested resource'),
    /is not served: is its CRD installed\?/,
  ],
  [
    'an answer that is no Status',
    { status: 502, headers: {}, body: '<html>bad gateway</html>' },
    /unexpected answer.*HTTP 502.*bad gateway/,
  ],
];
for (const [name, res, message] of failures) {
  test(`no verdict: ${name}`, (t) => {
    const v = readVerdict(res, rule, NS);
    t.false(v.ok);
    t.regex(v.message, message);
  });
}

test('the webhook name the verdict is read from is the one webhook-config registers', (t) => {
  const hook = loadAllYaml(readFileSync(join(ROOT, 'webhook/validating-webhook.yaml'), 'utf8'))[0] as {
    webhooks: Array<{ name: string }>;
  };
  t.is(hook.webhooks[0]!.name, VALIDATING_WEBHOOK);
});

// Which configuration changes a running replica applies, and which it refuses.
import test from 'ava';
import { loadConfig, type Config } from '../../src/config.js';
import { configChange } from '../../src/core/config-change.js';

const base = loadConfig({ env: {} });
const withRule = (i: number, over: Record<string, unknown>): Config => ({
  ...base,
  rules: base.rules.map((r, j) => (j === i ? { ...r, ...over } : r)),
});

const cases: Array<[string, Config, { ok: true; changes: string[] } | { ok: false; problem: RegExp }]> = [
  ['nothing', { ...base }, { ok: true, changes: [] }],
  [
    'a mode',
    withRule(0, { mode: 'warn' }),
    { ok: true, changes: ['rule kubernaut.ai/WorkflowExecution: mode null → "warn"'] },
  ],
  [
    'a hold limit',
    withRule(1, { maxHoldSeconds: 3600 }),
    { ok: true, changes: ['rule kubernaut.ai/RemediationRequest: maxHoldSeconds 7200 → 3600'] },
  ],
  [
    'namespaces',
    withRule(0, { namespaces: ['a', 'b'] }),
    { ok: true, changes: ['rule kubernaut.ai/WorkflowExecution: namespaces ["kubernaut-system"] → ["a","b"]'] },
  ],
  ['the log level', { ...base, logLevel: 'debug' }, { ok: true, changes: ['logLevel info → debug'] }],
  [
    'guardedNamespaces (as the rules it fills)',
    { ...base, guardedNamespaces: ['a'], rules: base.rules.map((r) => ({ ...r, namespaces: ['a'] })) },
    {
      ok: true,
      changes: [
        'rule kubernaut.ai/WorkflowExecution: namespaces ["kubernaut-system"] → ["a"]',
        'rule kubernaut.ai/RemediationRequest: namespaces ["kubernaut-system"] → ["a"]',
      ],
    },
  ],
  [
    'a port',
    { ...base, admissionPort: 9443 },
    { ok: false, problem: /admissionPort changed \(8443 → 9443\): it applies only at start/ },
  ],
  ['failOpen', { ...base, failOpen: true }, { ok: false, problem: /failOpen changed/ }],
  [
    'a key path',
    withRule(0, { keyPath: 'spec.other' }),
    { ok: false, problem: /rule kubernaut\.ai\/WorkflowExecution: only mode, maxHoldSeconds, namespaces apply live/ },
  ],
  [
    'terminal phases',
    withRule(0, { terminalPhases: ['Done'] }),
    { ok: false, problem: /only mode, maxHoldSeconds, namespaces apply live/ },
  ],
  // It renames the Lease of every key it respells: only at start, with docs/configuration.md's steps.
  [
    'key normalisation',
    withRule(0, { normalize: 'object-ref' }),
    { ok: false, problem: /only mode, maxHoldSeconds, namespaces apply live/ },
  ],
  [
    'a rule removed',
    { ...base, rules: base.rules.slice(1) },
    { ok: false, problem: /rule kubernaut\.ai\/WorkflowExecution removed/ },
  ],
  [
    'a rule added',
    { ...base, rules: [...base.rules, { ...base.rules[0]!, kind: 'Job' }] },
    { ok: false, problem: /rule kubernaut\.ai\/Job added/ },
  ],
];

for (const [what, next, expected] of cases) {
  test(`configChange: ${what}`, (t) => {
    const got = configChange(base, next);
    if (expected.ok) t.deepEqual(got, expected);
    else {
      t.false(got.ok);
      t.regex(got.ok ? '' : got.problems.join('\n'), expected.problem);
    }
  });
}

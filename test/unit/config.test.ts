import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { embeddedConfig, loadConfig } from '../../src/config.js';
import { ErrorCodes } from '../../src/errors.js';

const file = (text: string) => {
  const dir = mkdtempSync(join(tmpdir(), 'lg-config-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, text);
  return path;
};

test('defaults are safe: fail closed, deadline below timeoutSeconds, pending timeout above it', (t) => {
  const c = loadConfig({ env: {} });
  t.false(c.failOpen);
  t.is(c.timeoutSeconds, 5);
  t.true(c.deadlineMs < c.timeoutSeconds * 1000);
  t.true(c.pendingTimeoutSeconds > c.timeoutSeconds);
  t.is(c.apiServerRequestTimeoutSeconds, 60, "kube-apiserver's default --request-timeout");
  t.true(
    c.pendingTimeoutSeconds >= c.apiServerRequestTimeoutSeconds * 1.5,
    'the pending timeout outlasts the request timeout with margin',
  );
  t.false(c.pendingTimeoutSet);
  t.is(c.admissionPort, 8443);
  t.is(c.metricsPort, 9090);
  t.is(c.rules.length, 2);
  t.is(c.store, 'auto');
});

test('readiness follows the API server within a few seconds by default: a 1 s check, failing after 2 in a row', (t) => {
  const c = loadConfig({ env: {} });
  t.is(c.apiServerProbeSeconds, 1);
  t.is(c.apiServerProbeFailures, 2);
  const set = loadConfig({
    env: { LEASEGUARD_APISERVER_PROBE_SECONDS: '0.5', LEASEGUARD_APISERVER_PROBE_FAILURES: '3' },
  });
  t.is(set.apiServerProbeSeconds, 0.5);
  t.is(set.apiServerProbeFailures, 3);
  t.throws(() => loadConfig({ env: { LEASEGUARD_APISERVER_PROBE_FAILURES: '0' } }), {
    message: /apiServerProbeFailures must be an integer from 1 to 60/,
  });
  t.throws(() => loadConfig({ env: { LEASEGUARD_APISERVER_PROBE_SECONDS: '0' } }), {
    message: /apiServerProbeSeconds must be a number from 0.1 to 60/,
  });
});

test('the Lease namespace defaults to the pod namespace', (t) => {
  t.is(loadConfig({ env: { POD_NAMESPACE: 'guard' } }).leaseNamespace, 'guard');
  t.is(loadConfig({ env: { POD_NAMESPACE: 'guard', LEASEGUARD_LEASE_NAMESPACE: 'locks' } }).leaseNamespace, 'locks');
});

test('environment overrides the file', (t) => {
  const path = file('admissionPort: 9443\nfailOpen: true\n');
  const c = loadConfig({ file: path, env: { LEASEGUARD_ADMISSION_PORT: '10443' } });
  t.is(c.admissionPort, 10443);
  t.true(c.failOpen);
});

const refusals: Array<[string, Record<string, string>, string | undefined, RegExp]> = [
  [
    'pending timeout equal to timeoutSeconds',
    { LEASEGUARD_PENDING_TIMEOUT_SECONDS: '5', LEASEGUARD_APISERVER_REQUEST_TIMEOUT_SECONDS: '2' },
    undefined,
    /pendingTimeoutSeconds \(5\) must exceed timeoutSeconds \(5\)/,
  ],
  [
    'pending timeout not above the API server request timeout',
    { LEASEGUARD_PENDING_TIMEOUT_SECONDS: '60' },
    undefined,
    /pendingTimeoutSeconds \(60\) must exceed apiServerRequestTimeoutSeconds \(60\).*--request-timeout/,
  ],
  [
    'pending timeout below a configured request timeout',
    { LEASEGUARD_PENDING_TIMEOUT_SECONDS: '6', LEASEGUARD_APISERVER_REQUEST_TIMEOUT_SECONDS: '10' },
    undefined,
    /pendingTimeoutSeconds \(6\) must exceed apiServerRequestTimeoutSeconds \(10\)/,
  ],
  [
    'pending timeout from a file below the default request timeout',
    {},
    'pendingTimeoutSeconds: 30\n',
    /pendingTimeoutSeconds \(30\) must exceed apiServerRequestTimeoutSeconds \(60\)/,
  ],
  [
    'request timeout not a whole number',
    { LEASEGUARD_APISERVER_REQUEST_TIMEOUT_SECONDS: '1.5' },
    undefined,
    /apiServerRequestTimeoutSeconds must be an integer/,
  ],
  [
    'pending timeout below timeoutSeconds',
    {
      LEASEGUARD_TIMEOUT_SECONDS: '10',
      LEASEGUARD_PENDING_TIMEOUT_SECONDS: '8',
      LEASEGUARD_APISERVER_REQUEST_TIMEOUT_SECONDS: '2',
    },
    undefined,
    /must exceed timeoutSeconds/,
  ],
  [
    'deadline not below timeoutSeconds',
    { LEASEGUARD_DEADLINE_MS: '5000' },
    undefined,
    /deadlineMs \(5000\) must be below timeoutSeconds/,
  ],
  [
    'timeoutSeconds over the API limit',
    { LEASEGUARD_TIMEOUT_SECONDS: '31' },
    undefined,
    /timeoutSeconds must be an integer from 1 to 30/,
  ],
  ['bad port', { LEASEGUARD_ADMISSION_PORT: 'http' }, undefined, /admissionPort must be an integer/],
  ['bad boolean', { LEASEGUARD_FAIL_OPEN: 'yes please' }, undefined, /failOpen must be true or false/],
  ['bad store', { LEASEGUARD_STORE: 'redis' }, undefined, /store must be auto, kubernetes or memory/],
  ['unknown file key', {}, 'pendingTimeout: 40\n', /unknown setting "pendingTimeout"/],
  ['rule missing fields', {}, 'rules:\n  - kind: Foo\n', /rules\[0\]\.keyPath must be a non-empty string/],
  [
    'rule with a bad scope',
    {},
    'rules:\n  - {group: a.io, version: v1, kind: Foo, resource: foos, keyPath: spec.k, phasePath: status.phase, terminalPhases: [Done], scope: galaxy}\n',
    /scope must be cluster or namespace, got "galaxy"/,
  ],
  [
    'rule with an unknown mode',
    {},
    'rules:\n  - {group: a.io, version: v1, kind: Foo, resource: foos, keyPath: spec.k, phasePath: status.phase, terminalPhases: [Done], mode: audit}\n',
    /rules\[0\]\.mode must be enforce, warn or dryrun, got "audit"/,
  ],
  [
    'rule with an unknown normalize',
    {},
    'rules:\n  - {group: a.io, version: v1, kind: Foo, resource: foos, keyPath: spec.k, phasePath: status.phase, terminalPhases: [Done], normalize: lowercase}\n',
    /rules\[0\]\.normalize must be none or object-ref, got "lowercase"/,
  ],
  [
    'rule maxHold below pending timeout',
    {},
    'rules:\n  - {group: a.io, version: v1, kind: Foo, resource: foos, keyPath: spec.k, phasePath: status.phase, terminalPhases: [Done], maxHoldSeconds: 10}\n',
    /maxHoldSeconds \(10\) must exceed pendingTimeoutSeconds/,
  ],
  ['file is not a mapping', {}, '- a\n- b\n', /must hold a mapping/],
  ['file is not YAML', {}, 'a: [\n', /not valid YAML/],
];
for (const [name, env, text, message] of refusals) {
  test(`refuses to start: ${name}`, (t) => {
    const err = t.throws(() => loadConfig({ env, ...(text ? { file: file(text) } : {}) }));
    t.is((err as { code?: string }).code, ErrorCodes.CONFIG_INVALID);
    t.regex(err.message, message);
  });
}

test('all problems are reported at once', (t) => {
  const err = t.throws(() => loadConfig({ env: { LEASEGUARD_ADMISSION_PORT: 'x', LEASEGUARD_STORE: 'y' } }));
  t.regex(err.message, /admissionPort/);
  t.regex(err.message, /store must be/);
});

test('a rule from the file is added to the defaults; includeDefaultRules: false replaces them', (t) => {
  const rule =
    '{group: batch.example.io, version: v1, kind: Job, resource: jobs, keyPath: spec.target, phasePath: status.phase, terminalPhases: [Done], scope: namespace}';
  const added = loadConfig({ env: {}, file: file(`rules:\n  - ${rule}\n`) });
  t.deepEqual(
    added.rules.map((r) => r.kind),
    ['WorkflowExecution', 'RemediationRequest', 'Job'],
  );
  const only = loadConfig({ env: {}, file: file(`includeDefaultRules: false\nrules:\n  - ${rule}\n`) });
  t.deepEqual(
    only.rules.map((r) => r.kind),
    ['Job'],
  );
  t.is(only.rules[0]?.scope, 'namespace');
});

test('a rule may set normalize; absent, its keys are exact', (t) => {
  const rule = (extra: string) =>
    `includeDefaultRules: false\nrules:\n  - {group: a.io, version: v1, kind: Foo, resource: foos, keyPath: spec.k, phasePath: status.phase, terminalPhases: [Done]${extra}}\n`;
  t.is(loadConfig({ env: {}, file: file(rule(', normalize: object-ref')) }).rules[0]?.normalize, 'object-ref');
  t.is(loadConfig({ env: {}, file: file(rule(', normalize: none')) }).rules[0]?.normalize, 'none');
  t.is(loadConfig({ env: {}, file: file(rule('')) }).rules[0]?.normalize, undefined);
});

test('a pending timeout above a shorter request timeout is accepted, and marked as set', (t) => {
  const c = loadConfig({
    env: { LEASEGUARD_PENDING_TIMEOUT_SECONDS: '12', LEASEGUARD_APISERVER_REQUEST_TIMEOUT_SECONDS: '10' },
  });
  t.is(c.pendingTimeoutSeconds, 12);
  t.true(c.pendingTimeoutSet);
});

test('the embedded store has no request timeout to outlast: any pending timeout above timeoutSeconds', (t) => {
  t.is(
    loadConfig({ env: { LEASEGUARD_STORE: 'memory', LEASEGUARD_PENDING_TIMEOUT_SECONDS: '10' } }).pendingTimeoutSeconds,
    10,
  );
  t.throws(() => loadConfig({ env: { LEASEGUARD_STORE: 'auto', LEASEGUARD_PENDING_TIMEOUT_SECONDS: '10' } }), {
    message: /apiServerRequestTimeoutSeconds/,
  });
});

test('the embedded store keeps a plain 30 s lock unless the pending timeout was set', (t) => {
  t.is(embeddedConfig(loadConfig({ env: {} })).pendingTimeoutSeconds, 30);
  t.is(embeddedConfig(loadConfig({ env: { LEASEGUARD_PENDING_TIMEOUT_SECONDS: '120' } })).pendingTimeoutSeconds, 120);
});

test('the shipped ConfigMap (manifests/base/configmap.yaml) is a valid configuration', async (t) => {
  const { loadAllYaml } = await import('@kubernetes/client-node');
  const { readFileSync } = await import('node:fs');
  const docs = loadAllYaml(readFileSync(join(process.cwd(), 'manifests/base/configmap.yaml'), 'utf8')) as Array<{
    data: Record<string, string>;
  }>;
  const c = loadConfig({ env: {}, file: file(docs[0]!.data['config.yaml']!) });
  t.true(c.pendingTimeoutSeconds > c.apiServerRequestTimeoutSeconds);
  t.is(c.store, 'kubernetes');
  t.is(c.clientCaFile, '/client-ca/ca.crt', 'only the API server may call');
  t.deepEqual(c.clientSubjects, ['kube-apiserver']);
  t.false(c.allowUnauthenticatedCallers);
});

test('the embedded store listens on 127.0.0.1 unless host is set, and is bounded in locks', (t) => {
  t.is(embeddedConfig(loadConfig({ env: {} })).host, '127.0.0.1');
  t.is(embeddedConfig(loadConfig({ env: { LEASEGUARD_HOST: '0.0.0.0' } })).host, '0.0.0.0');
  t.is(loadConfig({ env: {} }).host, '0.0.0.0', 'with a cluster the API server must reach it');
  t.is(loadConfig({ env: {} }).embeddedMaxLocks, 100_000);
  t.throws(() => loadConfig({ env: { LEASEGUARD_EMBEDDED_MAX_LOCKS: '0' } }), {
    message: /embeddedMaxLocks must be an integer from 1/,
  });
});

test('clientSubjects: a comma-separated list from the environment; it needs clientCaFile', (t) => {
  const c = loadConfig({
    env: { LEASEGUARD_CLIENT_CA_FILE: '/ca.crt', LEASEGUARD_CLIENT_SUBJECTS: 'kube-apiserver, apiserver-2' },
  });
  t.deepEqual(c.clientSubjects, ['kube-apiserver', 'apiserver-2']);
  t.throws(() => loadConfig({ env: { LEASEGUARD_CLIENT_SUBJECTS: 'kube-apiserver' } }), {
    message: /clientSubjects needs clientCaFile/,
  });
  t.throws(() => loadConfig({ env: {}, file: file('clientCaFile: /ca.crt\nclientSubjects: [1]\n') }), {
    message: /clientSubjects must be a list of non-empty strings/,
  });
  t.false(c.clientSubjectsMatchSans, 'DNS SANs do not count unless asked');
  t.true(
    loadConfig({
      env: {
        LEASEGUARD_CLIENT_CA_FILE: '/ca.crt',
        LEASEGUARD_CLIENT_SUBJECTS: 'kube-apiserver',
        LEASEGUARD_CLIENT_SUBJECTS_MATCH_SANS: 'true',
      },
    }).clientSubjectsMatchSans,
  );
  t.throws(
    () => loadConfig({ env: { LEASEGUARD_CLIENT_CA_FILE: '/ca.crt', LEASEGUARD_CLIENT_SUBJECTS_MATCH_SANS: 'true' } }),
    { message: /clientSubjectsMatchSans needs clientSubjects/ },
  );
});

test('shutdownDelaySeconds: 5 by default, from the environment, and bounded', (t) => {
  t.is(loadConfig({ env: {} }).shutdownDelaySeconds, 5);
  t.is(loadConfig({ env: { LEASEGUARD_SHUTDOWN_DELAY_SECONDS: '0' } }).shutdownDelaySeconds, 0);
  t.throws(() => loadConfig({ env: { LEASEGUARD_SHUTDOWN_DELAY_SECONDS: '-1' } }), { message: /shutdownDelaySeconds/ });
});

test('foreignLeaseNamespaces: none by default; namespace names other than leaseNamespace', (t) => {
  t.deepEqual(loadConfig({ env: {} }).foreignLeaseNamespaces, [], 'nothing is foreign unless configured');
  t.deepEqual(
    loadConfig({ env: { LEASEGUARD_FOREIGN_LEASE_NAMESPACES: 'team-a-lg, team-b-lg' } }).foreignLeaseNamespaces,
    ['team-a-lg', 'team-b-lg'],
  );
  t.throws(() => loadConfig({ env: { LEASEGUARD_FOREIGN_LEASE_NAMESPACES: 'Not_A_Namespace' } }), {
    message: /foreignLeaseNamespaces must hold namespace names/,
  });
  t.throws(() => loadConfig({ env: { LEASEGUARD_LEASE_NAMESPACE: 'lg', LEASEGUARD_FOREIGN_LEASE_NAMESPACES: 'lg' } }), {
    message: /names leaseNamespace \(lg\) itself/,
  });
});

test('maxLeases: 100,000 by default (the scale the benchmark measured), at least 1', (t) => {
  t.is(loadConfig({ env: {} }).maxLeases, 100_000);
  t.is(loadConfig({ env: { LEASEGUARD_MAX_LEASES: '500' } }).maxLeases, 500);
  t.throws(() => loadConfig({ env: { LEASEGUARD_MAX_LEASES: '0' } }), {
    message: /maxLeases must be an integer from 1/,
  });
});

test("guardedNamespaces: kubernaut's controller namespace by default, for every rule without its own; * alone opens all; nonsense refused", (t) => {
  const rule =
    '{group: batch.example.io, version: v1, kind: Job, resource: jobs, keyPath: spec.target, phasePath: status.phase, terminalPhases: [Done]}';
  const byDefault = loadConfig({
    env: {},
    file: file(
      `rules:\n  - ${rule}\n  - ${rule.replace('Job,', 'Cron,').replace('jobs', 'crons').replace('}', ', namespaces: [batch]}')}\n`,
    ),
  });
  t.deepEqual(
    byDefault.rules.map((r) => [r.kind, r.namespaces]),
    [
      ['WorkflowExecution', ['kubernaut-system']],
      ['RemediationRequest', ['kubernaut-system']],
      ['Job', ['kubernaut-system']],
      ['Cron', ['batch']],
    ],
  );
  const env = loadConfig({ env: { LEASEGUARD_GUARDED_NAMESPACES: 'team-a, team-b' } });
  t.deepEqual(
    env.rules.map((r) => r.namespaces),
    [
      ['team-a', 'team-b'],
      ['team-a', 'team-b'],
    ],
  );
  t.deepEqual(loadConfig({ env: { LEASEGUARD_GUARDED_NAMESPACES: '*' } }).rules[0]?.namespaces, ['*']);
  const refused: Array<[string, RegExp]> = [
    ['*,team-a', /\* allows every namespace; list it alone/],
    ['Team_A', /namespaces must be namespace names or \*, got "Team_A"/],
    ['leaseguard-system', /leaseguard-system is leaseguard's own namespace/],
  ];
  for (const [value, message] of refused)
    t.throws(() => loadConfig({ env: { LEASEGUARD_GUARDED_NAMESPACES: value } }), { message }, value);
  t.throws(() => loadConfig({ env: {}, file: file('guardedNamespaces: []\n') }), {
    message: /no namespace may create it/,
  });
});

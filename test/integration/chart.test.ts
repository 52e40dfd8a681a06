// The Helm chart, with a helm built from its Go module (scripts/ensure-helm.sh): lint,
// agreement with the kustomize base and `webhook-config`, the API server's own
// validation of what it renders (cert-manager's CRDs included), its values schema, and a
// real install, upgrade and uninstall against the test API server. Then what makes it
// safe by default: no CRDs (and those rendered on request kept and never taken over),
// the Lease policy letting a namespace be deleted, also when moved by kustomize, a quota
// for its critical Pods, a budget that never blocks a drain, the versions it claims, its
// notes and its test hook.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cp, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { dumpYaml, loadAllYaml, loadYaml } from '@kubernetes/client-node';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { DEFAULT_CLIENT_NAME } from '../../src/tls/certificates.js';
import { cliCerts } from '../harness/certs.js';
import { helm, CHART } from '../support/helm.js';
import { controlPlane, kubectl, kubectlJson } from '../harness/integration-env.js';
import { workflowExecution } from '../harness/objects.js';
import { CLI, ROOT } from '../harness/paths.js';
import { until } from '../harness/wait.js';

const run = promisify(execFile);
type Obj = Record<string, any>;

let dir: string;
let caPem: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lg-chart-'));
  caPem = (await cliCerts()).ca;
});

/** The Secret with the CA of the API server's client certificate, as docs/install.md has users create it. */
const CLIENT_CA = { secretName: 'leaseguard-client-ca' };
/** Values as every install gives them: the client CA, unless a test names its own or opts out. */
const withCallers = (values: Obj): Obj =>
  values.clientCA || values.config?.allowUnauthenticatedCallers ? values : { ...values, clientCA: CLIENT_CA };

/** Before a live install: the release namespace and the client CA Secret in it (the test API server's own admission client CA). */
async function clientCaSecret(ns: string): Promise<void> {
  if ((await kubectl(['get', 'namespace', ns])).code !== 0) await kubectl(['create', 'namespace', ns]);
  const r = await kubectl([
    '-n',
    ns,
    'create',
    'secret',
    'generic',
    CLIENT_CA.secretName,
    `--from-file=ca.crt=${controlPlane().admissionClient.caFile}`,
  ]);
  if (r.code !== 0) throw new Error(r.stderr);
}

let n = 0;
async function valuesFile(values: Obj, opts: { raw?: boolean } = {}): Promise<string> {
  const file = join(dir, `values-${n++}.yaml`);
  await writeFile(file, dumpYaml(opts.raw ? values : withCallers(values)));
  return file;
}

/** What the chart renders; the `helm test` hooks only when asked (kustomize has none). */
async function template(
  values: Obj,
  opts: { namespace?: string; release?: string; chart?: string; hooks?: boolean } = {},
): Promise<Obj[]> {
  const r = await helm([
    'template',
    opts.release ?? 'leaseguard',
    opts.chart ?? CHART,
    '-n',
    opts.namespace ?? 'leaseguard-system',
    '-f',
    await valuesFile(values),
  ]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return docs(r.stdout).filter((o) => opts.hooks || !isHook(o));
}

const docs = (text: string) =>
  (loadAllYaml(text) as Array<Obj | null>).filter((d): d is Obj => !!d && typeof d === 'object');
const isHook = (o: Obj) => o.metadata?.annotations?.['helm.sh/hook'] !== undefined;
/** A part of a parsed object as plain JSON (loadAllYaml gives client-node's model classes). */
const plain = (o: unknown) => JSON.parse(JSON.stringify(o)) as unknown;
const id = (o: Obj) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
const provided = (extra: Obj = {}) => ({
  certificates: { source: 'provided', caBundle: Buffer.from(caPem).toString('base64') },
  ...extra,
});

/** An object as the comparison sees it: no labels, no chart-only annotation, the config as leaseguard loads it. */
async function normal(o: Obj): Promise<Obj> {
  const c = structuredClone(o);
  delete c.metadata?.labels;
  if (c.metadata?.annotations && Object.keys(c.metadata.annotations).length === 0) delete c.metadata.annotations;
  const pod = c.spec?.template?.metadata;
  if (pod) {
    delete pod.labels;
    delete pod.annotations?.['checksum/config'];
  }
  if (c.kind === 'ConfigMap' && c.data?.['config.yaml']) {
    const file = join(dir, `config-${n++}.yaml`);
    await writeFile(file, c.data['config.yaml']);
    c.data['config.yaml'] = loadConfig({ file, env: { POD_NAMESPACE: c.metadata.namespace, POD_NAME: 'p' } });
  }
  return c;
}

/** A kustomization built by the real kubectl, plus the webhook registrations `webhook-config` renders. */
async function kustomizeAndWebhookConfig(
  extraArgs: string[] = [],
  config?: string,
  kustomization = 'manifests',
): Promise<Obj[]> {
  const base = await kubectl(['kustomize', join(ROOT, kustomization)]);
  if (base.code !== 0) throw new Error(base.stderr);
  const caFile = join(dir, 'ca.crt');
  await writeFile(caFile, caPem);
  const hooks = await run(
    process.execPath,
    [CLI, 'webhook-config', '--ca', caFile, ...extraArgs, ...(config ? ['--config', config] : [])],
    {
      env: { PATH: process.env.PATH ?? '' },
    },
  );
  return [...docs(base.stdout), ...docs(hooks.stdout)];
}

async function byId(objects: Obj[]): Promise<Map<string, Obj>> {
  return new Map(await Promise.all(objects.map(async (o) => [id(o), await normal(o)] as const)));
}

test('helm lint passes with the default values (and a client CA) and with non-default ones', async (t) => {
  for (const values of [
    {},
    {
      certificates: { source: 'cert-manager' },
      config: { stampAnnotations: true, logLevel: 'debug' },
      replicas: 2,
      namespace: { create: true },
    },
  ]) {
    const r = await helm(['lint', '--strict', CHART, '-f', await valuesFile(values)]);
    t.is(r.code, 0, `${JSON.stringify(values)}: ${r.stdout}${r.stderr}`);
  }
});

// Each way of getting certificates, as the chart renders it and as the kustomize base or
// its overlay with webhook-config gives it.
const installs: Array<[string, () => Obj, string, string[]]> = [
  ['your own CA (source provided; the base)', () => provided(), 'manifests', []],
  [
    'cert-manager (source cert-manager; overlays/cert-manager)',
    () => ({ certificates: { source: 'cert-manager' } }),
    'manifests/overlays/cert-manager',
    ['--cert-manager', 'leaseguard'],
  ],
  [
    'self-managed (source self, the default; overlays/self-managed-certificates)',
    () => ({}),
    'manifests/overlays/self-managed-certificates',
    ['--self-managed'],
  ],
];
for (const [name, values, kustomization, args] of installs) {
  test(`certificates from ${name}: the chart and kustomize with webhook-config agree on every object but labels`, async (t) => {
    const chart = await byId(await template({ ...values(), namespace: { create: true } }));
    const base = await byId(await kustomizeAndWebhookConfig(args, undefined, kustomization));
    t.deepEqual([...chart.keys()].sort(), [...base.keys()].sort());
    for (const [key, o] of base) t.deepEqual(chart.get(key), o, key);
  });
}

test('the monitoring bundle: the chart renders what manifests/monitoring gives, but labels; off by default', async (t) => {
  const on = { enabled: true };
  const chart = (
    await template(provided({ monitoring: { podMonitor: on, prometheusRule: on, dashboard: on } }))
  ).filter((o) => ['PodMonitor', 'PrometheusRule'].includes(o.kind) || o.metadata?.name === 'leaseguard-dashboard');
  const built = await kubectl(['kustomize', join(ROOT, 'manifests/monitoring')]);
  t.is(built.code, 0, built.stderr);
  const base = await byId(docs(built.stdout));
  const rendered = await byId(chart);
  t.deepEqual([...rendered.keys()].sort(), [...base.keys()].sort());
  for (const [key, o] of base) t.deepEqual(rendered.get(key), o, key);
  t.is(
    JSON.parse(base.get('ConfigMap/leaseguard-system/leaseguard-dashboard')!.data['leaseguard.json']).uid,
    'leaseguard',
  );
  t.deepEqual(
    chart.find((o) => o.kind === 'ConfigMap')?.metadata.labels.grafana_dashboard,
    '1',
    'the label the Grafana sidecar looks for',
  );
  const off = (await template(provided())).filter(
    (o) => ['PodMonitor', 'PrometheusRule'].includes(o.kind) || o.metadata?.name === 'leaseguard-dashboard',
  );
  t.deepEqual(off, []);
});

test("monitoring.prometheusRule.runbookBaseUrl prefixes every alert's runbook_url (its page under docs/runbooks/); unset, the path stays", async (t) => {
  const base = 'https://git.example.org/leaseguard/blob/v0.1.0/';
  const urls = async (prometheusRule: Obj) => {
    const rule = (await template(provided({ monitoring: { prometheusRule } }))).find(
      (o) => o.kind === 'PrometheusRule',
    )!;
    return (rule.spec.groups as Obj[]).flatMap((g) =>
      (g.rules as Obj[])
        .filter((r) => r.alert)
        .map((r) => [r.alert as string, r.annotations.runbook_url as string] as const),
    );
  };
  const prefixed = await urls({ enabled: true, runbookBaseUrl: base });
  t.true(prefixed.length >= 9);
  for (const [alert, url] of prefixed) t.is(url, `${base}docs/runbooks/${alert}.md`);
  for (const [alert, url] of await urls({ enabled: true })) t.is(url, `docs/runbooks/${alert}.md`);
});

test("the chart's default rules are leaseguard's defaults, with WorkflowExecution targets normalized", async (t) => {
  const values = loadYaml<Obj>(await readFile(join(CHART, 'values.yaml'), 'utf8'));
  // Built in, keys are exact (normalize is opt-in); the shipped installs opt kubernaut's targets in.
  t.deepEqual(
    values.config.rules,
    DEFAULT_RULES.map((r) => (r.kind === 'WorkflowExecution' ? { ...r, normalize: 'object-ref' } : r)),
  );
});

test('for rules whose key paths CEL must escape, the chart renders the webhooks, RBAC and FlowSchema webhook-config and the rules call for', async (t) => {
  const rules = [
    {
      group: 'batch.example.io',
      version: 'v1',
      kind: 'Migration',
      resource: 'migrations',
      keyPath: 'spec.for',
      phasePath: 'status.phase',
      terminalPhases: ['Done'],
      scope: 'namespace',
    },
    {
      group: 'batch.example.io',
      version: 'v1',
      kind: 'Backup',
      resource: 'backups',
      keyPath: 'spec.my-key.a__b',
      phasePath: 'status.phase',
      terminalPhases: ['Done'],
      scope: 'cluster',
    },
    {
      group: 'batch.example.io',
      version: 'v2',
      kind: 'Restore',
      resource: 'restores',
      keyPath: 'spec.9lives',
      phasePath: 'status.phase',
      terminalPhases: ['Done'],
      scope: 'cluster',
    },
    {
      group: "o'dd.example.io",
      version: 'v1',
      kind: 'Odd',
      resource: 'odds',
      keyPath: 'spec.in.x_y',
      phasePath: 'status.phase',
      terminalPhases: ['Done'],
      scope: 'cluster',
    },
  ];
  const config = { includeDefaultRules: false, rules, stampAnnotations: true };
  const configFile = join(dir, 'rules-config.yaml');
  await writeFile(configFile, dumpYaml(config));
  const chart = await byId(
    await template(provided({ config: { ...config, store: 'kubernetes' } }), { namespace: 'guard-ns' }),
  );
  const cli = await byId(await kustomizeAndWebhookConfig(['--namespace', 'guard-ns'], configFile));
  for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
    t.deepEqual(chart.get(`${kind}//leaseguard`), cli.get(`${kind}//leaseguard`), kind);
  }
  const validating = chart.get('ValidatingWebhookConfiguration//leaseguard')!;
  // One condition per kind, each from leaseguard's generator (the comparison above); what they let through: key-conditions.test.ts.
  t.deepEqual(
    validating.webhooks[0].matchConditions.map((c: Obj) => c.name),
    ['key-changed-0-migrations', 'key-changed-1-backups', 'key-changed-2-restores', 'key-changed-3-odds'],
  );
  t.deepEqual(chart.get('ClusterRole//leaseguard-guarded-kinds-reader')!.rules, [
    {
      apiGroups: ['batch.example.io'],
      resources: ['migrations', 'backups', 'restores'],
      verbs: ['get', 'list', 'watch'],
    },
    { apiGroups: ["o'dd.example.io"], resources: ['odds'], verbs: ['get', 'list', 'watch'] },
  ]);
  t.deepEqual(chart.get('FlowSchema//leaseguard')!.spec.rules[0].resourceRules[1].apiGroups, [
    'batch.example.io',
    "o'dd.example.io",
  ]);
  t.is(chart.get('ConfigMap/guard-ns/leaseguard-config')!.data['config.yaml'].serviceNamespace, 'guard-ns');
  t.deepEqual(validating.webhooks[0].namespaceSelector.matchExpressions[0].values, ['kube-system', 'guard-ns']);
});

test("the API server accepts everything the chart renders (server-side dry run), cert-manager's Certificate and Issuers and the monitoring bundle against their own CRDs", async (t) => {
  const crds = (await run('bash', [join(ROOT, 'scripts/ensure-cert-manager-crds.sh')], { cwd: ROOT })).stdout.trim();
  for (const crd of ['certificates', 'issuers', 'clusterissuers']) {
    const r = await kubectl(['apply', '--server-side', '-f', join(crds, `cert-manager.io_${crd}.yaml`)]);
    t.is(r.code, 0, r.stderr);
  }
  const monitoring = (
    await run('bash', [join(ROOT, 'scripts/ensure-prometheus-operator-crds.sh')], { cwd: ROOT })
  ).stdout.trim();
  for (const crd of ['podmonitors', 'prometheusrules']) {
    const r = await kubectl(['apply', '--server-side', '-f', join(monitoring, `monitoring.coreos.com_${crd}.yaml`)]);
    t.is(r.code, 0, r.stderr);
  }
  t.is(
    (
      await kubectl([
        'wait',
        '--for=condition=Established',
        '--timeout=60s',
        'crd/certificates.cert-manager.io',
        'crd/issuers.cert-manager.io',
        'crd/podmonitors.monitoring.coreos.com',
        'crd/prometheusrules.monitoring.coreos.com',
      ])
    ).code,
    0,
  );
  t.is((await kubectl(['create', 'namespace', 'chart-dry'])).code, 0);
  const on = { enabled: true };
  // (The `helm test` hooks are left out: selftest.test.ts creates them for real.)
  const variants: Obj[] = [
    {},
    {
      certificates: { source: 'cert-manager' },
      config: { stampAnnotations: true },
      monitoring: { podMonitor: on, prometheusRule: on, dashboard: on },
    },
    {
      certificates: { source: 'cert-manager', certManager: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } },
    },
  ];
  for (const values of variants) {
    const objects = await template(values, { namespace: 'chart-dry', release: 'chart-dry' });
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], {
      input: objects.map((o) => dumpYaml(o)).join('---\n'),
    });
    t.is(r.code, 0, `${JSON.stringify(values)}: ${r.stderr}`);
    const kinds = objects.map((o) => o.kind);
    if (values.monitoring)
      t.true(
        kinds.includes('PodMonitor') && kinds.includes('PrometheusRule'),
        "the monitoring bundle, against the Prometheus Operator's CRDs",
      );
    if (values.certificates?.source === 'cert-manager') {
      t.true(kinds.includes('Certificate'));
      for (const hook of objects.filter((o) => /WebhookConfiguration$/.test(o.kind))) {
        t.is(hook.metadata.annotations['cert-manager.io/inject-ca-from'], 'chart-dry/leaseguard');
        t.is(hook.webhooks[0].clientConfig.caBundle, undefined, 'cainjector fills it');
      }
      const serving = objects.find((o) => o.kind === 'Certificate' && o.metadata.name === 'leaseguard')!;
      t.deepEqual(serving.spec.dnsNames, ['leaseguard.chart-dry.svc', 'leaseguard.chart-dry.svc.cluster.local']);
      t.is(serving.spec.secretName, 'leaseguard-tls');
    } else {
      t.true(
        kinds.includes('Role') &&
          objects.some((o) => o.kind === 'ClusterRole' && o.metadata.name === 'leaseguard-certificates'),
        'source self: its RBAC',
      );
      for (const hook of objects.filter((o) => /WebhookConfiguration$/.test(o.kind)))
        t.is(hook.webhooks[0].clientConfig.caBundle, undefined, 'the leader fills it');
    }
    t.true(
      r.stdout.includes(
        'validatingwebhookconfiguration.admissionregistration.k8s.io/leaseguard created (server dry run)',
      ),
      r.stdout,
    );
  }
  // The dry run wrote nothing.
  t.is((await kubectl(['-n', 'chart-dry', 'get', 'deployments,certificates', '-o', 'name'])).stdout.trim(), '');
});

const refusals: Array<[string, Obj, RegExp]> = [
  [
    'a timeout above the API server limit',
    { config: { timeoutSeconds: 99 } },
    /'\/config\/timeoutSeconds': maximum: got 99, want 30/,
  ],
  [
    'a misspelt setting',
    { config: { tiemoutSeconds: 5 } },
    /'\/config': additional properties 'tiemoutSeconds' not allowed/,
  ],
  [
    'an unknown certificate source',
    { certificates: { source: 'vault' } },
    /'\/certificates\/source': value must be one of 'self', 'helm', 'cert-manager', 'provided'/,
  ],
  [
    'a key path that is no path',
    { config: { rules: [{ ...DEFAULT_RULES[0], keyPath: 'spec..x' }] } },
    /'\/config\/rules\/0\/keyPath': 'spec\.\.x' does not match pattern/,
  ],
  [
    'a rule without its key path',
    { config: { rules: [{ ...DEFAULT_RULES[0], keyPath: undefined }] } },
    /'\/config\/rules\/0': missing property 'keyPath'/,
  ],
];
for (const [name, values, message] of refusals) {
  test(`the values schema refuses ${name}, as leaseguard itself would`, async (t) => {
    const r = await helm(['template', 'leaseguard', CHART, '-f', await valuesFile(values)]);
    t.not(r.code, 0);
    t.regex(r.stderr, message);
    if (values.config) {
      const file = join(dir, `refused-${n++}.yaml`);
      await writeFile(file, dumpYaml(values.config));
      t.throws(() => loadConfig({ file, env: {} }), undefined, 'leaseguard refuses it at start too');
    }
  });
}

test('values.schema.json is the one scripts/chart-values-schema.mjs generates from the configuration schema', async (t) => {
  const r = await run(process.execPath, [join(ROOT, 'scripts/chart-values-schema.mjs'), '--check'], { cwd: ROOT }).then(
    () => 0,
    (e: { code: number }) => e.code,
  );
  t.is(r, 0);
});

test('helm install generates a certificate the webhooks trust, upgrade keeps it, uninstall removes the webhook configurations', async (t) => {
  const ns = 'chart-live';
  const values = {
    name: 'lg-chart',
    crds: { install: false },
    certificates: { source: 'helm' },
    config: { rules: [{ ...DEFAULT_RULES[0], group: 'chart.leaseguard.test', resource: 'gadgets', kind: 'Gadget' }] },
  };
  const file = await valuesFile(values);
  await clientCaSecret(ns);
  const install = await helm(['install', 'lg-chart', CHART, '-n', ns, '--create-namespace', '-f', file]);
  t.is(install.code, 0, install.stderr);
  const state = async () => {
    const secret = await kubectlJson(['-n', ns, 'get', 'secret', 'lg-chart-tls']);
    const hook = await kubectlJson(['get', 'validatingwebhookconfiguration', 'lg-chart']);
    return {
      secret: secret?.data as Record<string, string>,
      caBundle: hook?.webhooks[0].clientConfig.caBundle as string,
    };
  };
  const first = await state();
  t.is(first.caBundle, first.secret['ca.crt'] ?? '', 'the webhooks trust the CA in the Secret');
  const ca = new X509Certificate(Buffer.from(first.secret['ca.crt']!, 'base64'));
  const cert = new X509Certificate(Buffer.from(first.secret['tls.crt']!, 'base64'));
  t.true(cert.verify(ca.publicKey), 'the serving certificate is signed by that CA');
  t.true(cert.subjectAltName?.includes('DNS:lg-chart.chart-live.svc'), cert.subjectAltName);
  t.true(
    cert.checkPrivateKey(
      (await import('node:crypto')).createPrivateKey(Buffer.from(first.secret['tls.key']!, 'base64')),
    ),
  );

  const upgrade = await helm(['upgrade', 'lg-chart', CHART, '-n', ns, '-f', file, '--set', 'replicas=2']);
  t.is(upgrade.code, 0, upgrade.stderr);
  t.deepEqual(await state(), first, 'upgrade keeps the certificate and the caBundle');
  const cm = await kubectlJson(['-n', ns, 'get', 'configmap', 'lg-chart-config']);
  const configFile = join(dir, 'live-config.yaml');
  await writeFile(configFile, cm?.data['config.yaml']);
  t.deepEqual(
    loadConfig({ file: configFile, env: {} }).rules.map((r) => r.kind),
    ['Gadget'],
  );

  const uninstall = await helm(['uninstall', 'lg-chart', '-n', ns, '--wait']);
  t.is(uninstall.code, 0, uninstall.stderr);
  t.regex((await kubectl(['get', 'validatingwebhookconfiguration', 'lg-chart'])).stderr, /NotFound/);
  t.regex((await kubectl(['-n', ns, 'get', 'deployment', 'lg-chart'])).stderr, /NotFound/);
});

// --- Safe by default -------------------------------------------------------------------

/** A kind no other test creates: a live release's webhook (no Pod of it ever answers here) refuses nobody's creates. */
const GADGET = { ...DEFAULT_RULES[0], group: 'chart.leaseguard.test', resource: 'gadgets', kind: 'Gadget' };
const liveValues = (name: string, extra: Obj = {}): Obj => ({
  name,
  certificates: { source: 'helm' },
  config: { rules: [GADGET] },
  ...extra,
});

const crd = (group: string, kind: string): Obj => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${kind.toLowerCase()}s.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { kind, listKind: `${kind}List`, plural: `${kind.toLowerCase()}s`, singular: kind.toLowerCase() },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
});

/** The chart as a packager ships it with CRDs in files/crds/: the fixtures standing in for kubernaut's, and `extra`. */
async function chartWithCrds(extra: Obj[] = []): Promise<string> {
  const copy = join(await mkdtemp(join(tmpdir(), 'lg-chart-crds-')), 'leaseguard');
  await cp(CHART, copy, { recursive: true, dereference: true });
  for (const f of ['workflowexecutions.kubernaut.ai.yaml', 'remediationrequests.kubernaut.ai.yaml'])
    await cp(join(ROOT, 'test/fixtures/crds', f), join(copy, 'files/crds', f));
  // controller-gen's files open with a document separator.
  for (const c of extra) await writeFile(join(copy, 'files/crds', `${c.metadata.name}.yaml`), `---\n${dumpYaml(c)}`);
  return copy;
}

test('at default values neither the chart nor the kustomize base (or its overlays) holds a CRD, and the chart ships none', async (t) => {
  t.deepEqual((await template({}, { hooks: true })).filter((o) => o.kind === 'CustomResourceDefinition').map(id), []);
  t.false(loadYaml<Obj>(await readFile(join(CHART, 'values.yaml'), 'utf8')).crds.install);
  for (const k of ['manifests', 'manifests/overlays/cert-manager', 'manifests/overlays/self-managed-certificates']) {
    const built = await kubectl(['kustomize', join(ROOT, k)]);
    t.is(built.code, 0, built.stderr);
    t.deepEqual(
      docs(built.stdout)
        .filter((o) => o.kind === 'CustomResourceDefinition')
        .map(id),
      [],
      k,
    );
  }
  t.deepEqual(await readdir(join(CHART, 'files/crds')), ['README.md']);
});

test('crds.install: every CRD the chart renders is kept on uninstall; with no CRD in files/crds it refuses to render', async (t) => {
  const copy = await chartWithCrds([crd('render.chart.leaseguard.test', 'Widget')]);
  const crds = (await template({ crds: { install: true } }, { chart: copy })).filter(
    (o) => o.kind === 'CustomResourceDefinition',
  );
  t.deepEqual(crds.map((o) => o.metadata.name).sort(), [
    'remediationrequests.kubernaut.ai',
    'widgets.render.chart.leaseguard.test',
    'workflowexecutions.kubernaut.ai',
  ]);
  for (const c of crds) t.is(c.metadata.annotations?.['helm.sh/resource-policy'], 'keep', c.metadata.name);
  const lint = await helm([
    'lint',
    '--strict',
    copy,
    '--set',
    'crds.install=true',
    '--set',
    'clientCA.secretName=leaseguard-client-ca',
  ]);
  t.is(lint.code, 0, lint.stdout + lint.stderr);
  const refused = await helm([
    'template',
    'leaseguard',
    CHART,
    '-n',
    'leaseguard-system',
    '--set',
    'crds.install=true',
    '--set',
    'clientCA.secretName=leaseguard-client-ca',
  ]);
  t.not(refused.code, 0);
  t.regex(
    refused.stderr,
    /crds\.install is true but the chart holds no CRDs: put kubernaut's own CRD files in the chart's files\/crds\//,
  );
});

test("crds.install beside kubernaut's own CRDs and objects: the chart adopts and changes none; a CRD it creates outlives uninstall, and another release does not take it over", async (t) => {
  const group = 'crds.chart.leaseguard.test';
  const copy = await chartWithCrds([crd(group, 'Gizmo')]);
  // kubernaut's CRDs as kubernaut installed them (the control plane applied the fixtures), and one of its objects.
  const kubernautCrds = ['workflowexecutions.kubernaut.ai', 'remediationrequests.kubernaut.ai'];
  const versions = async () =>
    Promise.all(kubernautCrds.map(async (name) => (await kubectlJson(['get', 'crd', name]))?.metadata as Obj));
  const before = await versions();
  t.is((await kubectl(['create', 'namespace', 'chart-crds-objects'])).code, 0);
  const object = await kubectl(['create', '-f', '-'], {
    identity: 'controller',
    input: JSON.stringify(
      workflowExecution('chart-crds-objects', 'we-before-chart', 'chart-crds-objects/Deployment/api'),
    ),
  });
  t.is(object.code, 0, object.stderr);

  const releases = [
    ['lg-crds-a', 'chart-crds-a'],
    ['lg-crds-b', 'chart-crds-b'],
  ] as const;
  const install = async ([release, ns]: readonly [string, string], verb: 'install' | 'upgrade') => {
    if (verb === 'install') await clientCaSecret(ns);
    return helm([
      verb,
      release,
      copy,
      '-n',
      ns,
      ...(verb === 'install' ? ['--create-namespace'] : []),
      '-f',
      await valuesFile(liveValues(release, { crds: { install: true } })),
    ]);
  };
  const a = await install(releases[0], 'install');
  t.is(a.code, 0, a.stderr);
  const gizmo = async () => (await kubectlJson(['get', 'crd', `gizmos.${group}`]))?.metadata as Obj | undefined;
  t.like((await gizmo())?.annotations, {
    'helm.sh/resource-policy': 'keep',
    'meta.helm.sh/release-name': 'lg-crds-a',
    'meta.helm.sh/release-namespace': 'chart-crds-a',
  });
  const upgraded = await install(releases[0], 'upgrade');
  t.is(upgraded.code, 0, upgraded.stderr);
  t.regex(
    (await helm(['get', 'manifest', releases[0][0], '-n', releases[0][1]])).stdout,
    new RegExp(`name: gizmos\\.${group.replaceAll('.', '\\.')}`),
    'an upgrade keeps the CRD its release owns',
  );
  const b = await install(releases[1], 'install');
  t.is(b.code, 0, b.stderr);
  t.notRegex(
    (await helm(['get', 'manifest', releases[1][0], '-n', releases[1][1]])).stdout,
    /kind: CustomResourceDefinition/,
    'the second release renders none: each exists and is not its own',
  );
  t.is((await gizmo())?.annotations['meta.helm.sh/release-name'], 'lg-crds-a', 'not taken over');
  t.deepEqual(
    await versions(),
    before,
    "kubernaut's CRDs: neither adopted (no Helm annotations added) nor changed (same resourceVersion)",
  );

  for (const [release, ns] of releases) {
    const u = await helm(['uninstall', release, '-n', ns, '--wait']);
    t.is(u.code, 0, u.stderr);
  }
  t.truthy(await gizmo(), 'kept on uninstall');
  t.deepEqual(await versions(), before);
  t.truthy(
    await kubectlJson(['-n', 'chart-crds-objects', 'get', 'workflowexecution', 'we-before-chart']),
    "kubernaut's object is still there",
  );
  await kubectl(['delete', 'crd', `gizmos.${group}`]);
});

test('deleting the namespace of an installed leaseguard completes: the namespace controller may delete its Leases once the namespace is being deleted, nobody else may', async (t) => {
  const [release, ns] = ['lg-ns-delete', 'chart-ns-delete'];
  await clientCaSecret(ns);
  const install = await helm([
    'install',
    release,
    CHART,
    '-n',
    ns,
    '--create-namespace',
    '-f',
    await valuesFile(liveValues(release)),
  ]);
  t.is(install.code, 0, install.stderr);
  const NAMESPACE_CONTROLLER = 'system:serviceaccount:kube-system:namespace-controller';
  const CONTROLLER_MANAGER = 'system:kube-controller-manager';
  // Leases as leaseguard leaves them (written as its service account): locks, and its leader-election Lease.
  const managed = { 'app.kubernetes.io/managed-by': 'leaseguard' };
  const leases: Array<[string, Record<string, string>]> = [
    ['workflowexecution-lock-1', managed],
    ['workflowexecution-lock-2', managed],
    ['leaseguard-leader', { 'app.kubernetes.io/name': 'leaseguard', 'app.kubernetes.io/component': 'leader-election' }],
  ];
  for (const [name, labels] of leases) {
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: ns, labels },
      spec: { holderIdentity: 'x' },
    };
    const r = await kubectl(['create', '--as', `system:serviceaccount:${ns}:${release}`, '-f', '-'], {
      input: JSON.stringify(lease),
    });
    t.is(r.code, 0, r.stderr);
  }
  // Controllers that run without service account credentials share kube-controller-manager's
  // identity, which RBAC lets delete no Leases by itself: this test grants it, to see the policy's answer.
  for (const grant of [
    ['create', 'role', 'kcm-leases', '--verb=get,list,update,patch,delete', '--resource=leases.coordination.k8s.io'],
    ['create', 'rolebinding', 'kcm-leases', '--role=kcm-leases', `--user=${CONTROLLER_MANAGER}`],
  ]) {
    const r = await kubectl(['-n', ns, ...grant]);
    t.is(r.code, 0, r.stderr);
  }
  const del = (name: string, as?: string) => kubectl(['-n', ns, 'delete', 'lease', name, ...(as ? ['--as', as] : [])]);

  // While the namespace lives, not even the namespace controller may delete them.
  t.regex(
    (await del('workflowexecution-lock-1', NAMESPACE_CONTROLLER)).stderr,
    /are leaseguard's locks.*system:serviceaccount:kube-system:namespace-controller may not delete them/,
  );
  t.regex((await del('workflowexecution-lock-1')).stderr, /leaseguard-test-admin may not delete them/);

  t.is((await kubectl(['delete', 'namespace', ns, '--wait=false'])).code, 0);
  // Terminating. The test control plane runs no namespace controller: the test does its work, as its identity.
  t.regex(
    (await del('workflowexecution-lock-1')).stderr,
    /leaseguard-test-admin may not delete them/,
    'an admin still may not',
  );
  t.regex((await del('workflowexecution-lock-1', `system:serviceaccount:${ns}:someone-else`)).stderr, /forbidden/i);
  t.regex(
    (await kubectl(['-n', ns, 'annotate', 'lease', 'workflowexecution-lock-1', 'x=y', '--as', CONTROLLER_MANAGER]))
      .stderr,
    /system:kube-controller-manager may not update them/,
    'deletes only',
  );
  const kcm = await until(
    'kube-controller-manager deletes a Lease',
    async () => (await del('workflowexecution-lock-2', CONTROLLER_MANAGER)).code === 0 || undefined,
    10_000,
  );
  t.true(kcm);
  // As the namespace controller does: a deletecollection per resource, then the finalizer.
  const collection = await kubectl([
    'delete',
    '--raw',
    `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
    '--as',
    NAMESPACE_CONTROLLER,
  ]);
  t.is(collection.code, 0, collection.stderr);
  t.is(
    (await kubectl(['-n', ns, 'get', 'leases', '-o', 'name'])).stdout.trim(),
    '',
    'every Lease, the leader-election one included',
  );
  const types = (await kubectl(['api-resources', '--namespaced', '--verbs=delete', '-o', 'name'])).stdout
    .split('\n')
    .filter(Boolean);
  const rest = await kubectl([
    '-n',
    ns,
    'delete',
    types.join(','),
    '--all',
    '--wait=false',
    '--as',
    NAMESPACE_CONTROLLER,
  ]);
  t.is(rest.code, 0, rest.stderr);
  const finalized = await kubectl(
    ['replace', '--raw', `/api/v1/namespaces/${ns}/finalize`, '-f', '-', '--as', NAMESPACE_CONTROLLER],
    {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns }, spec: { finalizers: [] } }),
    },
  );
  t.is(finalized.code, 0, finalized.stderr);
  await until(
    'the namespace is gone',
    async () => (await kubectl(['get', 'namespace', ns])).code !== 0 || undefined,
    15_000,
  );
  // Helm's record of the release went with the namespace: its cluster-scoped objects by label.
  await kubectl([
    'delete',
    'validatingwebhookconfigurations,validatingadmissionpolicies,validatingadmissionpolicybindings,clusterroles,clusterrolebindings,flowschemas',
    '-l',
    `app.kubernetes.io/instance=${release}`,
  ]);
});

test("the kustomize base moved to another namespace (kustomize's namespace:) moves its Lease policy and FlowSchema along", async (t) => {
  const moved = 'lg-moved';
  const overlay = await mkdtemp(join(tmpdir(), 'lg-overlay-'));
  await writeFile(
    join(overlay, 'kustomization.yaml'),
    dumpYaml({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      namespace: moved,
      resources: [relative(overlay, join(ROOT, 'manifests/base'))],
    }),
  );
  const built = await kubectl(['kustomize', overlay]);
  t.is(built.code, 0, built.stderr);
  t.notRegex(built.stdout, /leaseguard-system/, 'nothing names the old namespace');
  const objects = docs(built.stdout);
  const one = (kind: string, name?: string) =>
    objects.find((o) => o.kind === kind && (!name || o.metadata.name === name))!;
  const binding = one('ValidatingAdmissionPolicyBinding');
  t.is(binding.spec.paramRef.name, moved);
  t.deepEqual(plain(binding.spec.matchResources.namespaceSelector), {
    matchLabels: { 'kubernetes.io/metadata.name': moved },
  });
  t.deepEqual(plain(one('FlowSchema').spec.rules[0].subjects[0].serviceAccount), {
    name: 'leaseguard',
    namespace: moved,
  });

  // Through the API server, as `kubectl apply -k` gives them (the policy renamed beside the control plane's own).
  const policy = one('ValidatingAdmissionPolicy');
  policy.metadata.name = binding.metadata.name = binding.spec.policyName = 'leaseguard-locks-moved';
  const applied = await kubectl(['apply', '-f', '-'], {
    input: [
      one('Namespace'),
      one('ServiceAccount'),
      one('Role', 'leaseguard-leases'),
      one('RoleBinding', 'leaseguard-leases'),
      policy,
      binding,
    ]
      .map((o) => dumpYaml(o))
      .join('---\n'),
  });
  t.is(applied.code, 0, applied.stderr);
  const lease = (name: string) =>
    JSON.stringify({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: moved },
      spec: {},
    });
  const refused = await until(
    'the moved policy guards the moved namespace',
    async () => {
      const r = await kubectl(['create', '-f', '-'], { input: lease(`planted-${Date.now()}`) });
      return r.code !== 0 ? r : undefined;
    },
    15_000,
  );
  t.regex(refused.stderr, /Leases in lg-moved are leaseguard's locks.*leaseguard-test-admin may not create them/);
  const own = await kubectl(['create', '--as', `system:serviceaccount:${moved}:leaseguard`, '-f', '-'], {
    input: lease('lock'),
  });
  t.is(own.code, 0, `leaseguard's service account in the moved namespace writes its Leases: ${own.stderr}`);
  await kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', 'leaseguard-locks-moved']);
});

/** Pods a node drain may evict at once with every replica healthy, as the disruption controller counts. */
function disruptionsAllowed(spec: Obj, replicas: number): number {
  const scaled = (v: number | string, roundUp: boolean) =>
    typeof v === 'number' ? v : (roundUp ? Math.ceil : Math.floor)((Number.parseInt(v, 10) / 100) * replicas);
  if (spec.maxUnavailable !== undefined) return Math.min(replicas, scaled(spec.maxUnavailable, true));
  return Math.max(0, replicas - scaled(spec.minAvailable, true));
}

test('the PodDisruptionBudget lets a node drain evict a Pod at every replica count from 1 to 5, the kustomize base too; the schema refuses minAvailable', async (t) => {
  for (let replicas = 1; replicas <= 5; replicas++) {
    const pdb = (await template({ replicas })).find((o) => o.kind === 'PodDisruptionBudget')!;
    t.true(disruptionsAllowed(pdb.spec, replicas) >= 1, `replicas ${replicas}: ${JSON.stringify(pdb.spec)}`);
  }
  const built = await kubectl(['kustomize', join(ROOT, 'manifests')]);
  const base = docs(built.stdout).find((o) => o.kind === 'PodDisruptionBudget')!;
  for (let replicas = 1; replicas <= 5; replicas++)
    t.true(
      disruptionsAllowed(base.spec, replicas) >= 1,
      `the base scaled to ${replicas}: ${JSON.stringify(base.spec)}`,
    );
  for (const pdb of [{ minAvailable: 2 }, { maxUnavailable: 0 }]) {
    const r = await helm([
      'template',
      'leaseguard',
      CHART,
      '-n',
      'leaseguard-system',
      '-f',
      await valuesFile({ podDisruptionBudget: pdb }),
    ]);
    t.not(r.code, 0, JSON.stringify(pdb));
    t.regex(
      r.stderr,
      /'\/podDisruptionBudget(\/maxUnavailable)?': (additional properties 'minAvailable' not allowed|minimum: got 0, want 1)/,
    );
  }
});

test("a ResourceQuota scoped to the Pods' critical priority class lets the namespace run them (GKE, Gatekeeper); priorityClassQuota.enabled turns it off", async (t) => {
  const quota = async (values: Obj) => (await template(values)).filter((o) => o.kind === 'ResourceQuota');
  const objects = await template({});
  const pod = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec;
  t.is(pod.priorityClassName, 'system-cluster-critical');
  const [q] = await quota({});
  t.is(q?.metadata.namespace, 'leaseguard-system');
  t.deepEqual(plain(q?.spec.scopeSelector), {
    matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In', values: ['system-cluster-critical'] }],
  });
  // A rolling update runs the replicas, a surge Pod and one still terminating.
  for (const replicas of [1, 3, 7, 20])
    t.true(Number((await quota({ replicas }))[0]?.spec.hard.pods) >= replicas + 2, `replicas ${replicas}`);
  t.deepEqual(
    plain((await quota({ priorityClassName: 'leaseguard-high' }))[0]?.spec.scopeSelector.matchExpressions[0].values),
    ['leaseguard-high'],
  );
  t.deepEqual(await quota({ priorityClassQuota: { enabled: false } }), []);
  t.deepEqual(await quota({ priorityClassName: '' }), []);
  // The kustomize base ships the same quota (the comparison above checks every field).
  t.truthy(
    docs((await kubectl(['kustomize', join(ROOT, 'manifests')])).stdout).find(
      (o) => o.kind === 'ResourceQuota' && o.metadata.name === 'leaseguard-critical-pods',
    ),
  );
});

test('the chart claims the Kubernetes versions the tests run, and no older one', async (t) => {
  const chart = loadYaml<Obj>(await readFile(join(CHART, 'Chart.yaml'), 'utf8'));
  const [major, minor] = controlPlane().version.replace(/^v/, '').split('.').map(Number);
  t.is(chart.kubeVersion, `>=${major}.${minor}.0-0`);
  const render = (kubeVersion: string) =>
    helm([
      'template',
      'leaseguard',
      CHART,
      '-n',
      'leaseguard-system',
      '--kube-version',
      kubeVersion,
      '--set',
      'clientCA.secretName=leaseguard-client-ca',
    ]);
  t.is((await render(controlPlane().version)).code, 0, 'the tested version');
  const older = await render(`v${major}.${minor! - 1}.9`);
  t.not(older.code, 0);
  t.regex(older.stderr, /chart requires kubeVersion: >=1\.\d+\.0-0 which is incompatible with Kubernetes v1\.\d+\.9/);
});

test("the helm test hook: leaseguard selftest in the Deployment's image and security context, with its own ServiceAccount and a Role to create the guarded kind where the webhook sees it, deleted afterwards", async (t) => {
  const values = loadYaml<Obj>(await readFile(join(CHART, 'values.yaml'), 'utf8'));
  const objects = await template({}, { hooks: true });
  const hooks = objects.filter(isHook);
  t.deepEqual(hooks.map(id).sort(), [
    'Pod/leaseguard-system/leaseguard-test',
    'Role/kubernaut-system/leaseguard-test',
    'RoleBinding/kubernaut-system/leaseguard-test',
    'ServiceAccount/leaseguard-system/leaseguard-test',
  ]);
  const hook = (kind: string) => hooks.find((o) => o.kind === kind)!;
  for (const h of hooks) {
    t.is(h.metadata.annotations['helm.sh/hook'], 'test', id(h));
    const policy = h.metadata.annotations['helm.sh/hook-delete-policy'].split(',');
    t.true(policy.includes('before-hook-creation') && policy.includes('hook-succeeded'), id(h));
    // A failed test leaves its Pod for `kubectl logs`, never its create rights.
    t.is(policy.includes('hook-failed'), h.kind !== 'Pod', id(h));
    if (h.kind !== 'Pod')
      t.true(
        Number(h.metadata.annotations['helm.sh/hook-weight']) <
          Number(hook('Pod').metadata.annotations['helm.sh/hook-weight']),
        `${id(h)} before the Pod`,
      );
  }
  const pod = hook('Pod').spec;
  const server = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec;
  const [selftest] = pod.containers;
  t.is(selftest.image, server.containers[0].image, "the release's own image");
  t.is(selftest.imagePullPolicy, server.containers[0].imagePullPolicy);
  t.deepEqual(pod.securityContext, server.securityContext);
  t.deepEqual(selftest.securityContext, server.containers[0].securityContext);
  t.like(pod.securityContext, { runAsNonRoot: true, runAsUser: 65532 });
  t.like(selftest.securityContext, {
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
  });
  // Where the kind may be created: the first of config.guardedNamespaces.
  t.deepEqual(selftest.args.slice(0, 5), [
    'selftest',
    '--kind',
    'WorkflowExecution',
    '--namespace',
    'kubernaut-system',
  ]);
  t.deepEqual(JSON.parse(selftest.args[selftest.args.indexOf('--object') + 1]), values.test.object);
  t.is(selftest.args[selftest.args.indexOf('--config') + 1], '/config/config.yaml');
  t.is(pod.volumes.find((v: Obj) => v.name === 'config').configMap.name, 'leaseguard-config', "the release's rules");
  t.is(pod.serviceAccountName, 'leaseguard-test');
  t.is(pod.restartPolicy, 'Never');
  t.is(pod.priorityClassName, undefined, 'not critical, nor counted by the quota');
  const service = objects.find((o) => o.kind === 'Service')!;
  t.false(
    Object.entries(service.spec.selector).every(([k, v]) => hook('Pod').metadata.labels[k] === v),
    'neither an endpoint of the Service nor counted by the budget',
  );
  t.deepEqual(plain(hook('Role').rules), [
    { apiGroups: ['kubernaut.ai'], resources: ['workflowexecutions'], verbs: ['create'] },
  ]);
  t.deepEqual(plain(hook('RoleBinding').subjects), [
    { kind: 'ServiceAccount', name: 'leaseguard-test', namespace: 'leaseguard-system' },
  ]);
  t.deepEqual(plain(hook('RoleBinding').roleRef), {
    apiGroup: 'rbac.authorization.k8s.io',
    kind: 'Role',
    name: 'leaseguard-test',
  });

  const other = (
    await template({ test: { kind: 'RemediationRequest', namespace: 'kubernaut-system' } }, { hooks: true })
  ).filter(isHook);
  t.deepEqual(other.find((o) => o.kind === 'Role')?.metadata.namespace, 'kubernaut-system');
  t.deepEqual(plain(other.find((o) => o.kind === 'Role')?.rules[0].resources), ['remediationrequests']);
  const unknown = await helm([
    'template',
    'leaseguard',
    CHART,
    '-n',
    'leaseguard-system',
    '--set',
    'test.kind=Deployment',
    '--set',
    'clientCA.secretName=leaseguard-client-ca',
  ]);
  t.not(unknown.code, 0);
  t.regex(unknown.stderr, /test\.kind Deployment is not a kind in config\.rules/);
  // Installed into the test's namespace, the hook still renders (installing never fails for
  // it); selftest then says that leaseguard never saw its probe (selftest.test.ts).
  t.is((await template({}, { namespace: 'default', hooks: true })).filter(isHook).length, 4);
});

test('the NOTES say how to see the Pods Ready, try helm test or a server-side dry run, where the docs are, who may call, and warn loudly while callers are not authenticated', async (t) => {
  const notes = async (values: Obj) => {
    const r = await helm([
      'install',
      'lg-notes',
      CHART,
      '-n',
      'chart-notes',
      '--dry-run=client',
      '-f',
      await valuesFile(values),
    ]);
    t.is(r.code, 0, r.stderr);
    return r.stdout.slice(r.stdout.indexOf('NOTES:'));
  };
  const closed = await notes({});
  t.regex(
    closed,
    /Only the API server may call: a client certificate signed by the CA in\nSecret leaseguard-client-ca \(key ca\.crt\), subject kube-apiserver/,
  );
  t.notRegex(closed, /NOT authenticated/);
  t.regex(closed, /kubectl -n chart-notes rollout status deployment\/leaseguard/);
  t.regex(closed, /helm test lg-notes -n chart-notes/);
  t.regex(closed, /kubectl create --dry-run=server -f /);
  t.regex(
    closed,
    /Docs: docs\/ in the source this chart comes from \(install\.md, security\.md, troubleshooting\.md, runbooks\/\n\s+for each alert\)/,
  );
  t.regex(
    await notes({ clientCA: { configMapName: 'apiserver-ca', key: 'root.pem', subjects: [] } }),
    /CA in\nConfigMap apiserver-ca \(key root\.pem\)\. Until that ConfigMap exists/,
  );
  const open = await notes({
    config: { allowUnauthenticatedCallers: true },
    admissionFrom: [{ ipBlock: { cidr: '10.0.0.1/32' } }],
  });
  t.regex(
    open,
    /WARNING: callers of the admission endpoints are NOT authenticated\n#\s+\(config\.allowUnauthenticatedCallers\)/,
  );
  t.regex(open, /admits only the sources in admissionFrom/);
  t.regex(open, /LeaseguardCallersUnauthenticated/);
});

// --- Who may call -----------------------------------------------------------------------

test('without a client CA the chart refuses to render, and says what to run, create and set; the kustomize base demands its Secret too', async (t) => {
  const r = await helm(['template', 'leaseguard', CHART, '-n', 'lg-auth', '-f', await valuesFile({}, { raw: true })]);
  t.not(r.code, 0);
  t.regex(
    r.stderr,
    /clientCA is not set: leaseguard takes locks only for the API server, known by its client certificate/,
  );
  t.regex(
    r.stderr,
    /leaseguard certs --dir certs, then leaseguard apiserver-config --certs certs --service leaseguard --namespace lg-auth --out apiserver/,
  );
  t.regex(r.stderr, /--admission-control-config-file=apiserver\/admission-config\.yaml/);
  t.regex(r.stderr, /kubectl -n lg-auth create secret generic leaseguard-client-ca --from-file=ca\.crt=certs\/ca\.crt/);
  t.regex(r.stderr, /set clientCA\.secretName=leaseguard-client-ca/);
  t.regex(r.stderr, /config\.allowUnauthenticatedCallers=true and admissionFrom/);
  // The values shipped with the chart, as `helm install` reads them: the same refusal.
  const install = await helm(['install', 'lg-auth', CHART, '-n', 'lg-auth', '--dry-run=client']);
  t.not(install.code, 0);
  t.regex(install.stderr, /clientCA is not set/);
  for (const [values, message] of [
    [{ clientCA: { secretName: 'a', configMapName: 'b' } }, /clientCA: set secretName or configMapName, not both/],
    [{ config: { allowUnauthenticatedCallers: true } }, /config\.allowUnauthenticatedCallers needs admissionFrom/],
    [
      {
        config: { allowUnauthenticatedCallers: true },
        admissionFrom: [{ ipBlock: { cidr: '10.0.0.1/32' } }],
        clientCA: CLIENT_CA,
      },
      /contradicts clientCA/,
    ],
    [
      { config: { clientCaFile: '/elsewhere/ca.crt' } },
      /set clientCA\.secretName \(or clientCA\.configMapName\) and clientCA\.subjects, not config\.clientCaFile/,
    ],
  ] as Array<[Obj, RegExp]>) {
    const refused = await helm(['template', 'leaseguard', CHART, '-f', await valuesFile(values)]);
    t.not(refused.code, 0, JSON.stringify(values));
    t.regex(refused.stderr, message);
  }
  // The base names its Secret in the config leaseguard reads.
  const base = docs((await kubectl(['kustomize', join(ROOT, 'manifests')])).stdout);
  const config = loadYaml<Obj>(base.find((o) => o.kind === 'ConfigMap')!.data['config.yaml']);
  t.like(config, { clientCaFile: '/client-ca/ca.crt', clientSubjects: [DEFAULT_CLIENT_NAME] });
});

test('a client CA from a Secret or a ConfigMap is mounted read-only where clientCaFile points, with the subject leaseguard certs issues', async (t) => {
  for (const [clientCA, volume] of [
    [CLIENT_CA, { name: 'client-ca', secret: { secretName: 'leaseguard-client-ca', optional: true } }],
    [
      { configMapName: 'apiserver-ca', key: 'root.pem' },
      { name: 'client-ca', configMap: { name: 'apiserver-ca', optional: true } },
    ],
  ] as Array<[Obj, Obj]>) {
    const objects = await template({ clientCA });
    const pod = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec;
    const config = await normal(
      objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'leaseguard-config')!,
    );
    const file: string = config.data['config.yaml'].clientCaFile;
    const mount = pod.containers[0].volumeMounts.find((m: Obj) => file.startsWith(`${m.mountPath}/`));
    t.truthy(mount, `a volume holds ${file}`);
    t.true(mount.readOnly);
    t.is(file, `${mount.mountPath}/${clientCA.key ?? 'ca.crt'}`);
    t.deepEqual(plain(pod.volumes.find((v: Obj) => v.name === mount.name)), volume);
    t.deepEqual(
      config.data['config.yaml'].clientSubjects,
      [DEFAULT_CLIENT_NAME],
      'what leaseguard certs and apiserver-config issue',
    );
    t.false(config.data['config.yaml'].allowUnauthenticatedCallers);
  }
  const anySubject = await normal(
    (await template({ clientCA: { ...CLIENT_CA, subjects: [] } })).find((o) => o.kind === 'ConfigMap')!,
  );
  t.deepEqual(anySubject.data['config.yaml'].clientSubjects, [], 'empty: any certificate the CA signed');
});

test('allowUnauthenticatedCallers: no client CA mounted, and the NetworkPolicy admits only admissionFrom to the admission port', async (t) => {
  const from = [{ ipBlock: { cidr: '172.20.0.0/16' } }];
  const objects = await template({ config: { allowUnauthenticatedCallers: true }, admissionFrom: from });
  const pod = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec;
  t.false(pod.volumes.some((v: Obj) => v.name === 'client-ca'));
  const config = await normal(objects.find((o) => o.kind === 'ConfigMap')!);
  t.is(config.data['config.yaml'].clientCaFile, undefined);
  t.true(config.data['config.yaml'].allowUnauthenticatedCallers);
  const policy = plain(objects.find((o) => o.kind === 'NetworkPolicy')) as Obj;
  const admission = policy.spec.ingress.find((r: Obj) => r.ports[0].port === 8443);
  t.deepEqual(admission._from, from); // (client-node's model class names the field _from)
});

test("the kustomize base's Deployment, before its client CA Secret exists: leaseguard refuses to start and says what to provide", async (t) => {
  const base = docs((await kubectl(['kustomize', join(ROOT, 'manifests')])).stdout);
  const deployment = base.find((o) => o.kind === 'Deployment')!;
  const volume = deployment.spec.template.spec.volumes.find((v: Obj) => v.name === 'client-ca');
  t.deepEqual(
    plain(volume.secret),
    { secretName: 'leaseguard-client-ca', optional: true },
    'the Pod starts without it, and leaseguard says what is missing',
  );
  // leaseguard as that Pod runs it, the optional Secret's directory empty.
  const work = await mkdtemp(join(tmpdir(), 'lg-base-'));
  const config = loadYaml<Obj>(base.find((o) => o.kind === 'ConfigMap')!.data['config.yaml']);
  config.clientCaFile = join(work, 'client-ca', 'ca.crt');
  await writeFile(join(work, 'config.yaml'), dumpYaml(config));
  const certs = await cliCerts(join(work, 'certs'));
  const env = {
    PATH: process.env.PATH ?? '',
    POD_NAMESPACE: 'lg-base-start',
    LEASEGUARD_KUBECONFIG: controlPlane().kubeconfigs.leaseguard,
    LEASEGUARD_CERT_DIR: certs.dir,
    LEASEGUARD_ADMISSION_PORT: '0',
    LEASEGUARD_METRICS_PORT: '0',
    LEASEGUARD_HOST: '127.0.0.1',
  };
  const failed = await run(process.execPath, [CLI, 'serve', '--config', join(work, 'config.yaml')], {
    env,
    timeout: 30_000,
  }).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  );
  t.truthy(failed, 'it does not serve');
  t.is(failed?.code, 1);
  t.regex(failed?.stderr ?? '', /cannot read the client CA .*client-ca\/ca\.crt \(clientCaFile\)/);
  t.regex(
    failed?.stderr ?? '',
    /kubectl -n NAMESPACE create secret generic leaseguard-client-ca --from-file=ca\.crt=certs\/ca\.crt/,
  );
});

test('a config change a replica applies live (a rule mode, hold limit or namespaces, guardedNamespaces, the log level) keeps the Pods; any other rolls them', async (t) => {
  const values = loadYaml<Obj>(await readFile(join(CHART, 'values.yaml'), 'utf8'));
  const checksum = async (config: Obj) =>
    (
      await template({ clientCA: { secretName: 'leaseguard-client-ca' }, config: { ...values.config, ...config } })
    ).find((o) => o.kind === 'Deployment')!.spec.template.metadata.annotations['checksum/config'];
  const base = await checksum({});
  const rules = values.config.rules as Obj[];
  const live: Array<[string, Obj]> = [
    ['logLevel', { logLevel: 'debug' }],
    ['a rule mode', { rules: rules.map((r, i) => (i === 0 ? { ...r, mode: 'warn' } : r)) }],
    ['a hold limit', { rules: rules.map((r, i) => (i === 1 ? { ...r, maxHoldSeconds: 3600 } : r)) }],
    ['namespaces', { rules: rules.map((r, i) => (i === 0 ? { ...r, namespaces: ['kubernaut-system', 'other'] } : r)) }],
    ['guardedNamespaces', { guardedNamespaces: ['other'] }],
  ];
  for (const [what, config] of live) t.is(await checksum(config), base, `${what}: reloaded in place`);
  const startOnly: Array<[string, Obj]> = [
    ['timeoutSeconds', { timeoutSeconds: 6 }],
    ['a key path', { rules: rules.map((r, i) => (i === 0 ? { ...r, keyPath: 'spec.other' } : r)) }],
  ];
  for (const [what, config] of startOnly) t.not(await checksum(config), base, `${what}: the Pods roll`);
});

// The Helm chart, with a helm built from its Go module (scripts/ensure-helm.sh): lint,
// agreement with the kustomize base and `webhook-config`, the API server's own
// validation of what it renders (cert-manager's CRDs included), its values schema, and a
// real install, upgrade and uninstall against the test API server.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { dumpYaml, loadAllYaml, loadYaml } from '@kubernetes/client-node';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_RULES } from '../../src/core/rules.js';
import { cliCerts } from '../support/certs.js';
import { helm, CHART } from '../support/helm.js';
import { kubectl, kubectlJson } from '../support/integration-env.js';
import { CLI, ROOT } from '../support/paths.js';

const run = promisify(execFile);
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let dir: string;
let caPem: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lg-chart-'));
  caPem = (await cliCerts()).ca;
});

let n = 0;
async function valuesFile(values: Obj): Promise<string> {
  const file = join(dir, `values-${n++}.yaml`);
  await writeFile(file, dumpYaml(values));
  return file;
}

async function template(values: Obj, opts: { namespace?: string; release?: string } = {}): Promise<Obj[]> {
  const r = await helm(['template', opts.release ?? 'leaseguard', CHART, '-n', opts.namespace ?? 'leaseguard-system', '-f', await valuesFile(values)]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return docs(r.stdout);
}

const docs = (text: string) => (loadAllYaml(text) as Array<Obj | null>).filter((d): d is Obj => !!d && typeof d === 'object');
const id = (o: Obj) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
const provided = (extra: Obj = {}) => ({ certificates: { source: 'provided', caBundle: Buffer.from(caPem).toString('base64') }, ...extra });

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
async function kustomizeAndWebhookConfig(extraArgs: string[] = [], config?: string, kustomization = 'manifests'): Promise<Obj[]> {
  const base = await kubectl(['kustomize', join(ROOT, kustomization)]);
  if (base.code !== 0) throw new Error(base.stderr);
  const caFile = join(dir, 'ca.crt');
  await writeFile(caFile, caPem);
  const hooks = await run(process.execPath, [CLI, 'webhook-config', '--ca', caFile, ...extraArgs, ...(config ? ['--config', config] : [])], {
    env: { PATH: process.env.PATH ?? '' },
  });
  return [...docs(base.stdout), ...docs(hooks.stdout)];
}

async function byId(objects: Obj[]): Promise<Map<string, Obj>> {
  return new Map(await Promise.all(objects.map(async (o) => [id(o), await normal(o)] as const)));
}

test('helm lint passes with the default values and with non-default ones', async (t) => {
  for (const values of [{}, { certificates: { source: 'cert-manager' }, config: { stampAnnotations: true, logLevel: 'debug' }, replicas: 2, namespace: { create: true } }]) {
    const r = await helm(['lint', '--strict', CHART, '-f', await valuesFile(values)]);
    t.is(r.code, 0, `${JSON.stringify(values)}: ${r.stdout}${r.stderr}`);
  }
});

// Each way of getting certificates, as the chart renders it and as the kustomize base or
// its overlay with webhook-config gives it.
const installs: Array<[string, () => Obj, string, string[]]> = [
  ['your own CA (source provided; the base)', () => provided(), 'manifests', []],
  ['cert-manager (source cert-manager; overlays/cert-manager)', () => ({ certificates: { source: 'cert-manager' } }), 'manifests/overlays/cert-manager', ['--cert-manager', 'leaseguard']],
  ['self-managed (source self, the default; overlays/self-managed-certificates)', () => ({}), 'manifests/overlays/self-managed-certificates', ['--self-managed']],
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
  const chart = (await template(provided({ monitoring: { podMonitor: on, prometheusRule: on, dashboard: on } }))).filter((o) => ['PodMonitor', 'PrometheusRule'].includes(o.kind) || o.metadata?.name === 'leaseguard-dashboard');
  const built = await kubectl(['kustomize', join(ROOT, 'manifests/monitoring')]);
  t.is(built.code, 0, built.stderr);
  const base = await byId(docs(built.stdout));
  const rendered = await byId(chart);
  t.deepEqual([...rendered.keys()].sort(), [...base.keys()].sort());
  for (const [key, o] of base) t.deepEqual(rendered.get(key), o, key);
  t.is(JSON.parse(base.get('ConfigMap/leaseguard-system/leaseguard-dashboard')!.data['leaseguard.json']).uid, 'leaseguard');
  t.deepEqual(chart.find((o) => o.kind === 'ConfigMap')?.metadata.labels.grafana_dashboard, '1', 'the label the Grafana sidecar looks for');
  const off = (await template(provided())).filter((o) => ['PodMonitor', 'PrometheusRule'].includes(o.kind) || o.metadata?.name === 'leaseguard-dashboard');
  t.deepEqual(off, []);
});

test("the chart's default rules are leaseguard's defaults", async (t) => {
  const values = loadYaml(await readFile(join(CHART, 'values.yaml'), 'utf8')) as Obj;
  t.deepEqual(values.config.rules, [...DEFAULT_RULES]);
});

test('for rules whose key paths CEL must escape, the chart renders the webhooks, RBAC and FlowSchema webhook-config and the rules call for', async (t) => {
  const rules = [
    { group: 'batch.example.io', version: 'v1', kind: 'Migration', resource: 'migrations', keyPath: 'spec.for', phasePath: 'status.phase', terminalPhases: ['Done'], scope: 'namespace' },
    { group: 'batch.example.io', version: 'v1', kind: 'Backup', resource: 'backups', keyPath: 'spec.my-key.a__b', phasePath: 'status.phase', terminalPhases: ['Done'], scope: 'cluster' },
    { group: 'batch.example.io', version: 'v2', kind: 'Restore', resource: 'restores', keyPath: 'spec.9lives', phasePath: 'status.phase', terminalPhases: ['Done'], scope: 'cluster' },
    { group: "o'dd.example.io", version: 'v1', kind: 'Odd', resource: 'odds', keyPath: 'spec.in.x_y', phasePath: 'status.phase', terminalPhases: ['Done'], scope: 'cluster' },
  ];
  const config = { includeDefaultRules: false, rules, stampAnnotations: true };
  const configFile = join(dir, 'rules-config.yaml');
  await writeFile(configFile, dumpYaml(config));
  const chart = await byId(await template(provided({ config: { ...config, store: 'kubernetes' } }), { namespace: 'guard-ns' }));
  const cli = await byId(await kustomizeAndWebhookConfig(['--namespace', 'guard-ns'], configFile));
  for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
    t.deepEqual(chart.get(`${kind}//leaseguard`), cli.get(`${kind}//leaseguard`), kind);
  }
  const validating = chart.get('ValidatingWebhookConfiguration//leaseguard')!;
  // spec.9lives has no CEL spelling: that kind's UPDATEs are all sent, so three conditions.
  t.deepEqual(validating.webhooks[0].matchConditions.map((c: Obj) => c.name), ['key-changed-0-migrations', 'key-changed-1-backups', 'key-changed-3-odds']);
  t.regex(validating.webhooks[0].matchConditions[0].expression, /object\.spec\.__for__ != oldObject\.spec\.__for__/);
  t.regex(validating.webhooks[0].matchConditions[1].expression, /object\.spec\.my__dash__key\.a__underscores__b/);
  t.regex(validating.webhooks[0].matchConditions[2].expression, /request\.resource\.group != 'o\\'dd\.example\.io'/);
  t.deepEqual(chart.get('ClusterRole//leaseguard-guarded-kinds-reader')!.rules, [
    { apiGroups: ['batch.example.io'], resources: ['migrations', 'backups', 'restores'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ["o'dd.example.io"], resources: ['odds'], verbs: ['get', 'list', 'watch'] },
  ]);
  t.deepEqual(chart.get('FlowSchema//leaseguard')!.spec.rules[0].resourceRules[1].apiGroups, ['batch.example.io', "o'dd.example.io"]);
  t.is(chart.get('ConfigMap/guard-ns/leaseguard-config')!.data['config.yaml'].serviceNamespace, 'guard-ns');
  t.deepEqual(validating.webhooks[0].namespaceSelector.matchExpressions[0].values, ['kube-system', 'guard-ns']);
});

test("the API server accepts everything the chart renders (server-side dry run), cert-manager's Certificate and Issuers and the monitoring bundle against their own CRDs", async (t) => {
  const crds = (await run('bash', [join(ROOT, 'scripts/ensure-cert-manager-crds.sh')], { cwd: ROOT })).stdout.trim();
  for (const crd of ['certificates', 'issuers', 'clusterissuers']) {
    const r = await kubectl(['apply', '--server-side', '-f', join(crds, `cert-manager.io_${crd}.yaml`)]);
    t.is(r.code, 0, r.stderr);
  }
  const monitoring = (await run('bash', [join(ROOT, 'scripts/ensure-prometheus-operator-crds.sh')], { cwd: ROOT })).stdout.trim();
  for (const crd of ['podmonitors', 'prometheusrules']) {
    const r = await kubectl(['apply', '--server-side', '-f', join(monitoring, `monitoring.coreos.com_${crd}.yaml`)]);
    t.is(r.code, 0, r.stderr);
  }
  t.is((await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/certificates.cert-manager.io', 'crd/issuers.cert-manager.io', 'crd/podmonitors.monitoring.coreos.com', 'crd/prometheusrules.monitoring.coreos.com'])).code, 0);
  t.is((await kubectl(['create', 'namespace', 'chart-dry'])).code, 0);
  const on = { enabled: true };
  const variants: Obj[] = [{}, { certificates: { source: 'cert-manager' }, config: { stampAnnotations: true }, monitoring: { podMonitor: on, prometheusRule: on, dashboard: on } }, { certificates: { source: 'cert-manager', certManager: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } }];
  for (const values of variants) {
    const objects = await template(values, { namespace: 'chart-dry', release: 'chart-dry' });
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: objects.map((o) => dumpYaml(o)).join('---\n') });
    t.is(r.code, 0, `${JSON.stringify(values)}: ${r.stderr}`);
    const kinds = objects.map((o) => o.kind);
    if (values.monitoring) t.true(kinds.includes('PodMonitor') && kinds.includes('PrometheusRule'), 'the monitoring bundle, against the Prometheus Operator\'s CRDs');
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
      t.true(kinds.includes('Role') && objects.some((o) => o.kind === 'ClusterRole' && o.metadata.name === 'leaseguard-certificates'), 'source self: its RBAC');
      for (const hook of objects.filter((o) => /WebhookConfiguration$/.test(o.kind))) t.is(hook.webhooks[0].clientConfig.caBundle, undefined, 'the leader fills it');
    }
    t.true(r.stdout.includes('validatingwebhookconfiguration.admissionregistration.k8s.io/leaseguard created (server dry run)'), r.stdout);
  }
  // The dry run wrote nothing.
  t.is((await kubectl(['-n', 'chart-dry', 'get', 'deployments,certificates', '-o', 'name'])).stdout.trim(), '');
});

const refusals: Array<[string, Obj, RegExp]> = [
  ['a timeout above the API server limit', { config: { timeoutSeconds: 99 } }, /'\/config\/timeoutSeconds': maximum: got 99, want 30/],
  ['a misspelt setting', { config: { tiemoutSeconds: 5 } }, /'\/config': additional properties 'tiemoutSeconds' not allowed/],
  ['an unknown certificate source', { certificates: { source: 'vault' } }, /'\/certificates\/source': value must be one of 'self', 'helm', 'cert-manager', 'provided'/],
  ['a key path that is no path', { config: { rules: [{ ...DEFAULT_RULES[0], keyPath: 'spec..x' }] } }, /'\/config\/rules\/0\/keyPath': 'spec\.\.x' does not match pattern/],
  ['a rule without its key path', { config: { rules: [{ ...DEFAULT_RULES[0], keyPath: undefined }] } }, /'\/config\/rules\/0': missing property 'keyPath'/],
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
  const r = await run(process.execPath, [join(ROOT, 'scripts/chart-values-schema.mjs'), '--check'], { cwd: ROOT }).then(() => 0, (e: { code: number }) => e.code);
  t.is(r, 0);
});

test('helm install generates a certificate the webhooks trust, upgrade keeps it, uninstall removes the webhook configurations', async (t) => {
  const ns = 'chart-live';
  const values = { name: 'lg-chart', crds: { install: false }, certificates: { source: 'helm' }, config: { rules: [{ ...DEFAULT_RULES[0], group: 'chart.leaseguard.test', resource: 'gadgets', kind: 'Gadget' }] } };
  const file = await valuesFile(values);
  const install = await helm(['install', 'lg-chart', CHART, '-n', ns, '--create-namespace', '-f', file]);
  t.is(install.code, 0, install.stderr);
  const state = async () => {
    const secret = await kubectlJson(['-n', ns, 'get', 'secret', 'lg-chart-tls']);
    const hook = await kubectlJson(['get', 'validatingwebhookconfiguration', 'lg-chart']);
    return { secret: secret?.data as Record<string, string>, caBundle: hook?.webhooks[0].clientConfig.caBundle as string };
  };
  const first = await state();
  t.is(first.caBundle, first.secret['ca.crt'] ?? '', 'the webhooks trust the CA in the Secret');
  const ca = new X509Certificate(Buffer.from(first.secret['ca.crt']!, 'base64'));
  const cert = new X509Certificate(Buffer.from(first.secret['tls.crt']!, 'base64'));
  t.true(cert.verify(ca.publicKey), 'the serving certificate is signed by that CA');
  t.true(cert.subjectAltName?.includes('DNS:lg-chart.chart-live.svc'), cert.subjectAltName);
  t.true(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(Buffer.from(first.secret['tls.key']!, 'base64'))));

  const upgrade = await helm(['upgrade', 'lg-chart', CHART, '-n', ns, '-f', file, '--set', 'replicas=2']);
  t.is(upgrade.code, 0, upgrade.stderr);
  t.deepEqual(await state(), first, 'upgrade keeps the certificate and the caBundle');
  const cm = await kubectlJson(['-n', ns, 'get', 'configmap', 'lg-chart-config']);
  const configFile = join(dir, 'live-config.yaml');
  await writeFile(configFile, cm?.data['config.yaml']);
  t.deepEqual(loadConfig({ file: configFile, env: {} }).rules.map((r) => r.kind), ['Gadget']);

  const uninstall = await helm(['uninstall', 'lg-chart', '-n', ns, '--wait']);
  t.is(uninstall.code, 0, uninstall.stderr);
  t.regex((await kubectl(['get', 'validatingwebhookconfiguration', 'lg-chart'])).stderr, /NotFound/);
  t.regex((await kubectl(['-n', ns, 'get', 'deployment', 'lg-chart'])).stderr, /NotFound/);
});

// The chart's policies for self-managed certificates (templates/certificate-policy.yaml;
// the self-managed overlay ships the same, chart.test.ts compares them), enforced by the
// real API server: only leaseguard's service account writes its certificate Secret (and
// the break-glass group), and that service account changes nothing but caBundle in its
// two webhook configurations. leaseguard's own certificate manager, as that service
// account, still issues the Secret and keeps caBundle current through them.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { KubeConfig, dumpYaml, loadAllYaml } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createKubeClients } from '../../src/kube/kube-client.js';
import { createMetrics } from '../../src/metrics.js';
import { CertificateManager, splitBundle } from '../../src/tls/certificate-manager.js';
import { CHART, helm } from '../support/helm.js';
import { controlPlane, kubectl, kubectlJson } from '../harness/integration-env.js';
import { CLI } from '../harness/paths.js';
import { until } from '../harness/wait.js';

const run = promisify(execFile);
type Obj = Record<string, any>;

const NAME = 'lg-certpol';
const NS = 'lg-certpol-ns';
const SECRET = `${NAME}-tls`;
const SA = `system:serviceaccount:${NS}:${NAME}`;
const BREAK_GLASS = ['--as', 'oncall@example.com', '--as-group', 'leaseguard:break-glass'];

let manager: CertificateManager;

test.before(async () => {
  const r = await helm([
    'template',
    NAME,
    CHART,
    '-n',
    NS,
    '--set',
    `name=${NAME}`,
    '--set',
    'clientCA.secretName=leaseguard-client-ca',
    '--show-only',
    'templates/certificate-policy.yaml',
    '--show-only',
    'templates/certificate-rbac.yaml',
  ]);
  if (r.code !== 0) throw new Error(r.stderr);
  const objects = (loadAllYaml(r.stdout) as Obj[]).filter(Boolean);
  for (const args of [
    ['create', 'namespace', NS],
    ['-n', NS, 'create', 'serviceaccount', NAME],
  ])
    await kubectl(args);
  const applied = await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  });
  if (applied.code !== 0) throw new Error(applied.stderr);
  // The break-glass group's RBAC to write Secrets there (the chart grants it none): to see the policy's answer.
  for (const grant of [
    ['-n', NS, 'create', 'role', 'certpol-break-glass', '--verb=get,update,delete', '--resource=secrets'],
    [
      '-n',
      NS,
      'create',
      'rolebinding',
      'certpol-break-glass',
      '--role=certpol-break-glass',
      '--group=leaseguard:break-glass',
    ],
    [
      'create',
      'clusterrole',
      'certpol-delete',
      '--verb=delete',
      '--resource=validatingwebhookconfigurations,mutatingwebhookconfigurations',
      `--resource-name=${NAME}`,
    ],
    [
      'create',
      'clusterrolebinding',
      'certpol-delete',
      '--clusterrole=certpol-delete',
      `--serviceaccount=${NS}:${NAME}`,
    ],
  ]) {
    const g = await kubectl(grant);
    if (g.code !== 0) throw new Error(g.stderr);
  }
  // Both webhook configurations as `leaseguard webhook-config --self-managed` renders them, seeing no namespace.
  const hooks = JSON.parse(
    (
      await run(process.execPath, [
        CLI,
        'webhook-config',
        '--self-managed',
        '--stamp',
        '--name',
        NAME,
        '--namespace',
        NS,
        '-o',
        'json',
      ])
    ).stdout,
  );
  for (const item of hooks.items)
    for (const w of item.webhooks) w.namespaceSelector = { matchLabels: { 'leaseguard-test': 'nowhere' } };
  const registered = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(hooks) });
  if (registered.code !== 0) throw new Error(registered.stderr);
  // leaseguard's certificate manager with the service account's own credentials.
  const token = (await kubectl(['-n', NS, 'create', 'token', NAME])).stdout.trim();
  const cp = controlPlane();
  const dir = await mkdtemp(join(tmpdir(), 'lg-certpol-'));
  const kubeconfig = join(dir, 'kubeconfig.yaml');
  await writeFile(
    kubeconfig,
    dumpYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: cp.server, 'certificate-authority': cp.caFile } }],
      users: [{ name: 'sa', user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa' } }],
      'current-context': 'sa',
    }),
  );
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  manager = new CertificateManager({
    kube: await createKubeClients(kc),
    namespace: NS,
    secretName: SECRET,
    names: [`${NAME}.${NS}.svc`],
    lifetimeMs: 3_600_000,
    webhookName: NAME,
    certDir: join(dir, 'certs'),
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    logger: pino({ level: 'silent' }),
  });
});

/** Retries while the API server has not loaded the policies yet (they apply asynchronously). */
const refused = (what: string, attempt: () => Promise<{ code: number; stderr: string }>) =>
  until(
    what,
    async () => {
      const r = await attempt();
      return r.code !== 0 && /ValidatingAdmissionPolicy/.test(r.stderr) ? r : undefined;
    },
    15_000,
  );

test.serial(
  "leaseguard's service account issues its certificate Secret and keeps caBundle current through the policies",
  async (t) => {
    await until(
      'the policies are loaded',
      async () =>
        (await kubectl(['-n', NS, 'create', 'secret', 'generic', SECRET])).stderr.includes(
          'ValidatingAdmissionPolicy',
        ) || undefined,
      15_000,
    );
    t.true(await manager.reconcile(true));
    const secret = await kubectlJson(['-n', NS, 'get', 'secret', SECRET]);
    const cas = splitBundle(Buffer.from(secret?.data['ca.crt'], 'base64').toString()).map((c) => c.fingerprint256);
    t.is(cas.length, 1);
    for (const kind of ['validatingwebhookconfiguration', 'mutatingwebhookconfiguration']) {
      const hook = await kubectlJson(['get', kind, NAME]);
      t.deepEqual(
        splitBundle(Buffer.from(hook?.webhooks[0].clientConfig.caBundle, 'base64').toString()).map(
          (c) => c.fingerprint256,
        ),
        cas,
        kind,
      );
    }
  },
);

test.serial(
  'nobody else writes the certificate Secret, cluster admins included; the break-glass group may',
  async (t) => {
    const admin = await refused('an admin annotating it', () =>
      kubectl(['-n', NS, 'annotate', 'secret', SECRET, 'x=y']),
    );
    t.regex(
      admin.stderr,
      new RegExp(
        `Secret ${NS}/${SECRET} holds leaseguard's CA and serving certificate: only its service account may write it.*leaseguard-test-admin may not update it`,
      ),
    );
    t.regex((await kubectl(['-n', NS, 'delete', 'secret', SECRET])).stderr, /leaseguard-test-admin may not delete it/);
    t.regex(
      (
        await kubectl([
          '-n',
          NS,
          'annotate',
          'secret',
          SECRET,
          'x=y',
          '--as',
          `system:serviceaccount:${NS}:someone-else`,
        ])
      ).stderr,
      /forbidden/i,
    );
    // Another Secret in the namespace is not guarded.
    t.is((await kubectl(['-n', NS, 'create', 'secret', 'generic', 'unrelated', '--from-literal=a=b'])).code, 0);
    // leaseguard's own service account, impersonated (RBAC: get and update of that Secret), and the break-glass group.
    for (const [who, as] of [
      ['leaseguard', ['--as', SA]],
      ['break glass', BREAK_GLASS],
    ] as const) {
      const secret = await kubectlJson(['-n', NS, 'get', 'secret', SECRET]);
      secret!.metadata.annotations = { ...secret!.metadata.annotations, checked: who };
      const own = await kubectl(['-n', NS, 'replace', '-f', '-', ...as], { input: JSON.stringify(secret) });
      t.is(own.code, 0, `${who}: ${own.stderr}`);
    }
  },
);

test.serial(
  "leaseguard's service account changes only caBundle of its webhook configurations: not rules, endpoint, selectors, conditions, labels, nor deletes them",
  async (t) => {
    const patch = (kind: string, ops: unknown[], as = SA) =>
      kubectl(['patch', kind, NAME, '--type=json', '-p', JSON.stringify(ops), '--as', as]);
    for (const kind of ['validatingwebhookconfiguration', 'mutatingwebhookconfiguration']) {
      const hook = await kubectlJson(['get', kind, NAME]);
      const ok = await patch(kind, [
        { op: 'test', path: '/metadata/resourceVersion', value: hook?.metadata.resourceVersion },
        { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: hook?.webhooks[0].clientConfig.caBundle },
      ]);
      t.is(ok.code, 0, `${kind}: caBundle as leaseguard patches it: ${ok.stderr}`);
      const changes: Array<[string, unknown[]]> = [
        ['a rule', [{ op: 'replace', path: '/webhooks/0/rules/0/operations', value: ['DELETE'] }]],
        ['the endpoint', [{ op: 'replace', path: '/webhooks/0/clientConfig/service/name', value: 'elsewhere' }]],
        ['the namespaceSelector', [{ op: 'replace', path: '/webhooks/0/namespaceSelector', value: {} }]],
        ['the failurePolicy', [{ op: 'replace', path: '/webhooks/0/failurePolicy', value: 'Ignore' }]],
        ['a label', [{ op: 'add', path: '/metadata/labels/extra', value: 'x' }]],
        [
          'an annotation',
          [{ op: 'add', path: '/metadata/annotations', value: { 'cert-manager.io/inject-ca-from': 'x/y' } }],
        ],
        [
          'caBundle and a rule at once',
          [
            { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: hook?.webhooks[0].clientConfig.caBundle },
            { op: 'replace', path: '/webhooks/0/timeoutSeconds', value: 30 },
          ],
        ],
      ];
      if (kind === 'validatingwebhookconfiguration')
        changes.push(['a matchCondition', [{ op: 'remove', path: '/webhooks/0/matchConditions' }]]);
      else
        changes.push([
          'the reinvocationPolicy',
          [{ op: 'replace', path: '/webhooks/0/reinvocationPolicy', value: 'IfNeeded' }],
        ]);
      for (const [what, ops] of changes) {
        const r = await refused(`${kind}: ${what}`, () => patch(kind, ops));
        t.regex(
          r.stderr,
          new RegExp(`${SA} may change only the caBundle of \\w+WebhookConfiguration ${NAME}`),
          `${kind}: ${what}`,
        );
      }
      t.regex(
        (await kubectl(['delete', kind, NAME, '--as', SA, '--dry-run=server'])).stderr,
        /may change only the caBundle/,
        `${kind}: delete`,
      );
      // The installer (an admin) still changes what it likes.
      const admin = await kubectl([
        'patch',
        kind,
        NAME,
        '--type=json',
        '-p',
        JSON.stringify([{ op: 'replace', path: '/webhooks/0/timeoutSeconds', value: 7 }]),
      ]);
      t.is(admin.code, 0, admin.stderr);
    }
  },
);

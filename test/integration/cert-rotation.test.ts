// Self-managed certificates with a lifetime of seconds: under a steady create load the
// leader renews the serving certificate and replaces the CA several times, each replica
// serves every renewal from the Secret, and both webhook configurations' caBundle follows,
// so the API server never fails a call to the webhook. The replicas run with exactly the
// RBAC the chart grants for it (source self), bound to their identity here.
import { X509Certificate } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadAllYaml } from '@kubernetes/client-node';
import { splitBundle } from '../../src/tls/certificate-manager.js';
import { CHART, helm } from '../support/helm.js';
import { kubectl, kubectlJson } from '../harness/integration-env.js';
import { metricValue } from '../harness/metrics.js';
import { steadyCreates } from '../harness/objects.js';
import { FAST_RELEASE_ENV, ReplicaSet, leaseNamespace, scopedNamespace } from '../harness/replicas.js';
import { until, sleep } from '../harness/wait.js';

const SCOPE = 'rotation';
const NS = 'rot-prod';
const LIFETIME_SECONDS = 12;
const SECRET = 'leaseguard-rotation-tls';
type Obj = Record<string, any>;

/** The chart's RBAC for source self, rendered for this set's names and bound to the replicas' identity. */
async function grantChartCertificateRbac(webhookName: string, namespace: string): Promise<void> {
  const { code, stdout, stderr } = await helm([
    'template',
    webhookName,
    CHART,
    '-n',
    namespace,
    '--set',
    `name=${webhookName}`,
    '--set',
    `certificates.secretName=${SECRET}`,
    '--set',
    'clientCA.secretName=leaseguard-client-ca',
    '--show-only',
    'templates/certificate-rbac.yaml',
  ]);
  if (code !== 0) throw new Error(`helm template failed: ${stderr}`);
  const objects = (loadAllYaml(stdout) as Obj[]).filter(Boolean);
  for (const o of objects) {
    if (o.subjects) o.subjects = [{ kind: 'ServiceAccount', name: 'leaseguard', namespace: 'leaseguard-system' }];
  }
  const r = await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  });
  if (r.code !== 0) throw new Error(r.stderr);
}

test('certificates that live 12 s: renewed and re-trusted under load, no create fails calling the webhook', async (t) => {
  const certDirs = await mkdtemp(join(tmpdir(), 'lg-rotation-'));
  const webhookName = `leaseguard-${SCOPE}`;
  const leaseNs = `lg-${SCOPE}`;
  await leaseNamespace(leaseNs);
  await grantChartCertificateRbac(webhookName, leaseNs);
  const replicas = await ReplicaSet.start({
    scope: SCOPE,
    count: 2,
    env: {
      ...FAST_RELEASE_ENV,
      LEASEGUARD_CERTIFICATE_SECRET: SECRET,
      LEASEGUARD_CERTIFICATE_LIFETIME_SECONDS: String(LIFETIME_SECONDS),
    },
    // Each replica writes what it serves into a directory of its own, as each Pod has.
    replicaEnv: (i) => ({ LEASEGUARD_CERT_DIR: join(certDirs, `replica-${i}`) }),
  });
  t.teardown(() => replicas.stop());
  await scopedNamespace(SCOPE, NS);
  const secret = async () =>
    (await kubectlJson(['-n', leaseNs, 'get', 'secret', SECRET]))?.data as Record<string, string> | undefined;
  const bundles = async () =>
    Promise.all(
      ['validatingwebhookconfiguration', 'mutatingwebhookconfiguration'].map(
        async (k) =>
          (await kubectlJson(['get', k, webhookName]))?.webhooks?.[0]?.clientConfig?.caBundle as string | undefined,
      ),
    );
  // The CAs of a bundle, by fingerprint (the PEM text of one CA may differ in line endings).
  const pems = (b64: string | undefined): string[] =>
    splitBundle(b64 ? Buffer.from(b64, 'base64').toString() : '').map((c) => c.fingerprint256);
  // The registration carried the test CA; the leader adds the Secret's.
  await until(
    "both caBundles hold the Secret's CAs",
    async () => {
      const [s, b] = [await secret(), await bundles()];
      return !!s && b.every((x) => pems(s['ca.crt']).every((ca) => pems(x).includes(ca)));
    },
    15_000,
  );

  const servingSeen = new Set<string>();
  const casSeen = new Set<string>();
  const mismatches: string[] = [];
  let loading = true;
  const watch = (async () => {
    while (loading) {
      const s = await secret();
      const [v, m] = await bundles();
      if (s) {
        servingSeen.add(new X509Certificate(Buffer.from(s['tls.crt']!, 'base64')).fingerprint256);
        const cas = pems(s['ca.crt']);
        for (const ca of cas) casSeen.add(ca);
        // Whatever a replica may serve must be trusted: the Secret's signer is in both bundles.
        const signer = cas[0]!;
        for (const b of [v, m])
          if (b && !pems(b).includes(signer))
            mismatches.push(`at ${new Date().toISOString()} a caBundle lacked the signing CA`);
      }
      await sleep(500);
    }
  })();
  const started = Date.now();
  const load = steadyCreates(NS, 4, () => Date.now() - started > 40_000);
  const { created, failures } = await load;
  loading = false;
  await watch;
  t.log(
    `${created} creates in 40 s; ${servingSeen.size} serving certificates and ${casSeen.size} CAs seen; failures: ${failures.length}`,
  );
  // A replica that died under the load explains every failure after it: say so first.
  t.deepEqual(replicas.unexpectedExits, [], 'every replica served until the test stopped it');
  t.true(created > 50, `the load ran (${created} creates)`);
  t.deepEqual(failures, [], 'every create was answered by a replica the API server trusted');
  t.true(servingSeen.size >= 4, `the serving certificate was renewed (${servingSeen.size} seen)`);
  t.true(casSeen.size >= 2, `the CA was replaced (${casSeen.size} seen)`);
  // The Secret is read before the bundles, and a new CA enters the bundles before the
  // Secret names it: a signer missing from a bundle read after it is a real gap.
  t.deepEqual(mismatches, []);

  const pages = await replicas.metrics();
  const now = Date.now() / 1000;
  for (const page of pages) {
    const expiry = metricValue(page, 'leaseguard_certificate_expiry_timestamp_seconds');
    t.true(
      expiry > now && expiry <= now + LIFETIME_SECONDS + 1,
      `each replica serves a current certificate (expires in ${(expiry - now).toFixed(1)} s)`,
    );
  }
  const renewals = await replicas.metricSum('leaseguard_certificate_renewals_total');
  t.true(renewals >= 3, `renewals counted (${renewals})`);
  t.regex(await replicas.logs(), /caBundle updated/);
});

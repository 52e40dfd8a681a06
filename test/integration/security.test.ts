// What the manifests promise, checked by the API server itself.
import test from 'ava';
import { loadAllYaml } from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kubectl } from '../harness/integration-env.js';
import { ROOT } from '../harness/paths.js';

test('the Deployment passes the restricted Pod Security Standard (PodSecurity admission, enforce: restricted)', async (t) => {
  const ns = 'pss-restricted';
  await kubectl(['create', 'namespace', ns]);
  await kubectl([
    'label',
    'namespace',
    ns,
    'pod-security.kubernetes.io/enforce=restricted',
    'pod-security.kubernetes.io/enforce-version=latest',
    '--overwrite',
  ]);
  await kubectl(['-n', ns, 'create', 'serviceaccount', 'leaseguard']);
  const docs = loadAllYaml(await readFile(join(ROOT, 'manifests/base/deployment.yaml'), 'utf8'));
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'leaseguard-pss', namespace: ns, labels: deployment.spec.template.metadata.labels },
    spec: deployment.spec.template.spec,
  };
  const ok = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(pod) });
  t.is(ok.code, 0, ok.stderr);
  t.notRegex(ok.stderr, /would violate PodSecurity/);
  // The check bites: the same Pod without its security context is refused.
  const weakened = structuredClone(pod);
  delete weakened.spec.securityContext;
  delete weakened.spec.containers[0].securityContext;
  const refused = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(weakened) });
  t.not(refused.code, 0);
  t.regex(refused.stderr, /violates PodSecurity "restricted:latest"/);
});

test('the kustomization applies to the API server as written (server-side dry run)', async (t) => {
  const r = await kubectl(['apply', '--dry-run=server', '-k', join(ROOT, 'manifests')]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /networkpolicy.networking.k8s.io\/leaseguard (created|configured|unchanged) \(server dry run\)/);
  t.regex(r.stdout, /deployment.apps\/leaseguard (created|configured|unchanged) \(server dry run\)/);
});

test('kubectl auth can-i as the webhook service account: exactly what it needs, nothing else', async (t) => {
  const can = async (...args: string[]) =>
    (await kubectl(['auth', 'can-i', ...args], { identity: 'leaseguard' })).stdout.trim();
  const allowed: string[][] = [
    ['create', 'leases.coordination.k8s.io', '-n', 'leaseguard-system'],
    ['update', 'leases.coordination.k8s.io', '-n', 'leaseguard-system'],
    ['delete', 'leases.coordination.k8s.io', '-n', 'leaseguard-system'],
    ['patch', 'leases.coordination.k8s.io', '-n', 'leaseguard-system'],
    ['create', 'events', '-n', 'leaseguard-system'],
    ['patch', 'events', '-n', 'leaseguard-system'],
    ['watch', 'workflowexecutions.kubernaut.ai', '-A'],
    ['get', 'remediationrequests.kubernaut.ai', '-A'],
  ];
  const denied: string[][] = [
    ['create', 'leases.coordination.k8s.io', '-A'],
    ['create', 'leases.coordination.k8s.io', '-n', 'kube-system'],
    ['patch', 'leases.coordination.k8s.io', '-n', 'kube-system'],
    ['create', 'events', '-n', 'kube-system'],
    ['create', 'events', '-A'],
    ['delete', 'events', '-n', 'leaseguard-system'],
    ['get', 'secrets', '-n', 'leaseguard-system'],
    ['list', 'secrets', '-A'],
    ['create', 'workflowexecutions.kubernaut.ai', '-A'],
    ['update', 'workflowexecutions.kubernaut.ai/status', '-A'],
    ['delete', 'remediationrequests.kubernaut.ai', '-A'],
    ['get', 'configmaps', '-n', 'leaseguard-system'],
    ['create', 'pods', '-n', 'leaseguard-system'],
    ['update', 'validatingwebhookconfigurations.admissionregistration.k8s.io'],
  ];
  for (const a of allowed) t.is(await can(...a), 'yes', a.join(' '));
  for (const d of denied) t.is(await can(...d), 'no', d.join(' '));
  const list = (await kubectl(['auth', 'can-i', '--list', '-n', 'leaseguard-system'], { identity: 'leaseguard' }))
    .stdout;
  t.notRegex(list, /^\*\.\*/m, 'no wildcard grants');
});

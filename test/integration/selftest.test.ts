// `leaseguard selftest`, and the chart's `helm test` hook as it would run in its Pod: its
// own ServiceAccount, Role and arguments, against the real API server and a leaseguard
// replica. It passes on leaseguard's refusal of the probe, and on nothing else.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { dumpYaml, loadAllYaml } from '@kubernetes/client-node';
import { CHART, helm } from '../support/helm.js';
import { controlPlane, kubectl } from '../harness/integration-env.js';
import { CLI } from '../harness/paths.js';
import { fastReplicasFor } from '../harness/replicas.js';

const run = promisify(execFile);
type Obj = Record<string, any>;

const SCOPE = 'selftest';
const NS = 'selftest-prod'; // the replica set's webhook sees it
const RELEASE_NS = 'selftest-release';
fastReplicasFor(test, { scope: SCOPE, ns: NS, count: 1 });

let dir: string;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lg-selftest-'));
});

/** The CLI as a Pod runs it: no LEASEGUARD_* settings but what the arguments give. */
async function selftest(args: string[], kubeconfig = controlPlane().kubeconfigs.controller) {
  return run(process.execPath, [CLI, 'selftest', ...args, '--kubeconfig', kubeconfig], {
    env: { PATH: process.env.PATH ?? '' },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

const probeObject = JSON.stringify({
  spec: {
    remediationRequestRef: { name: 'selftest' },
    workflowRef: { workflowId: 'w', version: '1', executionBundle: 'b' },
  },
});

test.serial(
  "the chart's hook, with its ServiceAccount, Role and arguments: leaseguard refuses the probe, selftest passes, nothing is stored",
  async (t) => {
    const r = await helm([
      'template',
      'selftest',
      CHART,
      '-n',
      RELEASE_NS,
      '--set',
      `test.namespace=${NS}`,
      '--set',
      'clientCA.secretName=leaseguard-client-ca',
      '--show-only',
      'templates/tests/selftest.yaml',
      '--show-only',
      'templates/configmap.yaml',
    ]);
    t.is(r.code, 0, r.stderr);
    const objects = (loadAllYaml(r.stdout) as Obj[]).filter(Boolean);
    const [sa, role, binding, pod, configMap] = ['ServiceAccount', 'Role', 'RoleBinding', 'Pod', 'ConfigMap'].map((k) =>
      objects.find((o) => o.kind === k)!,
    );
    t.is((await kubectl(['create', 'namespace', RELEASE_NS])).code, 0);
    // What `helm test` creates before the Pod.
    const applied = await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [sa, role, binding] }),
    });
    t.is(applied.code, 0, applied.stderr);
    // The Pod's credentials: a token of the hook's ServiceAccount, as the kubelet mounts it.
    const token = await kubectl(['-n', RELEASE_NS, 'create', 'token', sa!.metadata.name]);
    t.is(token.code, 0, token.stderr);
    const cp = controlPlane();
    const kubeconfig = join(dir, 'hook-kubeconfig.yaml');
    await writeFile(
      kubeconfig,
      dumpYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server: cp.server, 'certificate-authority': cp.caFile } }],
        users: [{ name: 'hook', user: { token: token.stdout.trim() } }],
        contexts: [{ name: 'hook', context: { cluster: 'test', user: 'hook' } }],
        'current-context': 'hook',
      }),
    );
    // The Pod's arguments, with the ConfigMap it mounts as a file here.
    const configFile = join(dir, 'config.yaml');
    await writeFile(configFile, configMap!.data['config.yaml']);
    const args: string[] = [...pod!.spec.containers[0].args];
    t.is(args.shift(), 'selftest');
    args[args.indexOf('--config') + 1] = configFile;
    const result = await selftest(args, kubeconfig);
    t.is(result.code, 0, result.stderr);
    t.regex(
      result.stdout,
      new RegExp(
        `^leaseguard answers for WorkflowExecution in namespace ${NS}: it refused a dry-run create with an empty spec\\.targetResource`,
      ),
    );
    t.regex(
      result.stdout,
      /admission webhook "validate\.leaseguard\.kubernaut\.ai" denied the request: WorkflowExecution "leaseguard-selftest-\w+" is invalid: spec\.targetResource must not be empty/,
    );
    t.is(
      (await kubectl(['-n', NS, 'get', 'workflowexecutions', '-o', 'name'])).stdout.trim(),
      '',
      'a dry run stores nothing',
    );

    // The Role lets the hook create that kind there, and nothing else.
    const can = async (...a: string[]) =>
      (
        await kubectl(['auth', 'can-i', ...a, '--as', `system:serviceaccount:${RELEASE_NS}:${sa!.metadata.name}`])
      ).stdout.trim();
    t.is(await can('create', 'workflowexecutions.kubernaut.ai', '-n', NS), 'yes');
    t.is(await can('get', 'workflowexecutions.kubernaut.ai', '-n', NS), 'no');
    t.is(await can('delete', 'workflowexecutions.kubernaut.ai', '-n', NS), 'no');
    t.is(await can('create', 'workflowexecutions.kubernaut.ai', '-n', 'default'), 'no');
    t.is(await can('create', 'remediationrequests.kubernaut.ai', '-n', NS), 'no');
  },
);

test('where leaseguard never looks, the probe is admitted unseen: selftest fails and says where to look', async (t) => {
  t.is((await kubectl(['create', 'namespace', 'selftest-unwatched'])).code, 0);
  const r = await selftest([
    '--kind',
    'WorkflowExecution',
    '--namespace',
    'selftest-unwatched',
    '--object',
    probeObject,
  ]);
  t.is(r.code, 1);
  t.regex(
    r.stderr,
    /^leaseguard: selftest failed for WorkflowExecution in namespace selftest-unwatched: the dry-run create .* was admitted: leaseguard never saw it\..*namespaceSelector reach selftest-unwatched\?/,
  );
});

test("a probe the CRD's schema refuses never reaches leaseguard: selftest fails and names the missing fields", async (t) => {
  const r = await selftest(['--kind', 'workflowexecutions', '--namespace', NS]);
  t.is(r.code, 1);
  t.regex(
    r.stderr,
    /refused before leaseguard saw it \(the CRD's schema\?\): .*spec\.workflowRef: Required value.*--object/,
  );
});

test('a kind leaseguard does not guard is a usage error', async (t) => {
  const r = await selftest(['--kind', 'Deployment', '--namespace', NS]);
  t.is(r.code, 2);
  t.regex(
    r.stderr,
    /"Deployment" is not a kind leaseguard guards \(rules from the defaults: WorkflowExecution, RemediationRequest\)/,
  );
});

// What a person sees with the real kubectl against a real API server.
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { dumpYaml } from '@kubernetes/client-node';
import { lockOf } from '../support/lock-of.js';
import { kubectl } from '../harness/integration-env.js';
import { workflowExecution } from '../harness/objects.js';
import { ReplicaSet, scopedNamespace } from '../harness/replicas.js';

const SCOPE = 'kubectl';
const NS = 'kc-prod';
let replicas: ReplicaSet;
let dir: string;

test.before(async () => {
  replicas = await ReplicaSet.start({ scope: SCOPE, count: 2 });
  await scopedNamespace(SCOPE, NS);
  dir = await mkdtemp(join(tmpdir(), 'lg-kubectl-'));
});
test.after.always(async () => {
  await replicas?.stop();
});

async function manifest(name: string, target: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, dumpYaml(workflowExecution(NS, name, target)));
  return file;
}

async function leaseNames(): Promise<string> {
  return (
    await kubectl([
      '-n',
      replicas.leaseNamespace,
      'get',
      'leases',
      '-l',
      'app.kubernetes.io/managed-by=leaseguard',
      '-o',
      `jsonpath={range .items[*]}{.metadata.annotations.leaseguard\\.kubernaut\\.ai/key}{"\\n"}{end}`,
    ])
  ).stdout;
}

test('kubectl create --dry-run=server: a free target is admitted and no Lease is written', async (t) => {
  const target = `${NS}/Deployment/free`;
  const r = await kubectl(['create', '--dry-run=server', '-f', await manifest('we-free', target)], {
    identity: 'controller',
  });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /workflowexecution.kubernaut.ai\/we-free created \(server dry run\)/);
  t.false((await leaseNames()).split('\n').includes(target));
});

test('kubectl create --dry-run=server: a held target shows the busy verdict', async (t) => {
  const target = `${NS}/Deployment/held`;
  const first = await kubectl(['create', '-f', await manifest('we-holder', target)], { identity: 'controller' });
  t.is(first.code, 0, first.stderr);
  const r = await kubectl(['create', '--dry-run=server', '-f', await manifest('we-dry', target)], {
    identity: 'controller',
  });
  t.not(r.code, 0);
  t.regex(
    r.stderr,
    /admission webhook "validate\.leaseguard\.kubernaut\.ai" denied the request: target "kc-prod\/Deployment\/held" is busy: held by workflowexecution kc-prod\/we-holder \(requested by system:serviceaccount:kubernaut-system:remediationorchestrator, \d+s ago\)/,
  );
});

test('kubectl create shows the denial as a person reads it, and kubectl get leases shows the lock', async (t) => {
  const target = `${NS}/Deployment/api`;
  t.is((await kubectl(['create', '-f', await manifest('we-rr-1', target)], { identity: 'controller' })).code, 0);
  const r = await kubectl(['create', '-f', await manifest('we-rr-2', target)], { identity: 'controller' });
  t.is(r.code, 1);
  t.regex(
    r.stderr,
    /^Error from server \(Conflict\): error when creating ".*we-rr-2\.yaml": admission webhook "validate\.leaseguard\.kubernaut\.ai" denied the request: target "kc-prod\/Deployment\/api" is busy: held by workflowexecution kc-prod\/we-rr-1 .*retry after it completes/m,
  );

  const leases = await kubectl([
    '-n',
    replicas.leaseNamespace,
    'get',
    'leases',
    '-l',
    'leaseguard.kubernaut.ai/kind=workflowexecution',
    '-o',
    'json',
  ]);
  const lease = JSON.parse(leases.stdout).items.find((l: any) => lockOf(l)?.key === target);
  t.truthy(lease, 'kubectl get leases shows the lock');
  t.is(lease.spec.holderIdentity, 'system:serviceaccount:kubernaut-system:remediationorchestrator');
  t.is(lockOf(lease)?.object.name, 'we-rr-1');
  const wide = await kubectl(['-n', replicas.leaseNamespace, 'get', 'lease', lease.metadata.name]);
  t.regex(
    wide.stdout,
    new RegExp(`${lease.metadata.name}\\s+system:serviceaccount:kubernaut-system:remediationorchestrator`),
  );
  // The lock points at its object by UID; with stampAnnotations (on for test sets) the object points at its lock.
  const we = JSON.parse((await kubectl(['-n', NS, 'get', 'workflowexecution', 'we-rr-1', '-o', 'json'])).stdout);
  t.is(lockOf(lease)?.object.uid, we.metadata.uid);
  t.is(we.metadata.annotations['leaseguard.kubernaut.ai/lease'], `${replicas.leaseNamespace}/${lease.metadata.name}`);
});

test('kubectl: an UPDATE that changes nothing in the key is allowed, other kinds are untouched', async (t) => {
  const target = `${NS}/Deployment/labels`;
  t.is((await kubectl(['create', '-f', await manifest('we-labels', target)], { identity: 'controller' })).code, 0);
  const r = await kubectl(['-n', NS, 'label', 'workflowexecution', 'we-labels', 'team=payments'], {
    identity: 'controller',
  });
  t.is(r.code, 0, r.stderr);
  const cm = await kubectl(['-n', NS, 'create', 'configmap', 'plain', '--from-literal=a=b']);
  t.is(cm.code, 0, cm.stderr);
});

test('kubectl apply, client-side and server-side: a create through apply is guarded like any other; re-applying the holder is an update and passes', async (t) => {
  const target = `${NS}/Deployment/applied`;
  const ssa = (file: string) =>
    kubectl(['apply', '--server-side', '--field-manager=ro', '-f', file], { identity: 'controller' });
  const first = await ssa(await manifest('we-apply-1', target));
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /we-apply-1 serverside-applied/);

  const second = await ssa(await manifest('we-apply-2', target));
  t.not(second.code, 0);
  t.regex(second.stderr, new RegExp(`target "${target}" is busy: held by workflowexecution ${NS}/we-apply-1`));
  const client = await kubectl(['apply', '-f', await manifest('we-apply-3', target)], { identity: 'controller' });
  t.not(client.code, 0);
  t.regex(client.stderr, new RegExp(`target "${target}" is busy: held by workflowexecution ${NS}/we-apply-1`));

  const reapplied = await ssa(await manifest('we-apply-1', target));
  t.is(reapplied.code, 0, reapplied.stderr);
  const stored = await kubectl(['-n', NS, 'get', 'workflowexecutions', '-o', 'name'], { identity: 'admin' });
  t.regex(stored.stdout, /we-apply-1/);
  t.notRegex(stored.stdout, /we-apply-[23]/);
});
